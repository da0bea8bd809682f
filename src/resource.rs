//! What every list builder can do beyond `.send()`: the traits [`ListRequest`] and
//! [`Exportable`], and the table of which generated builder lists which item type.
//!
//! Every list builder (`client.list_projects()`, `client.list_events()`, …) implements
//! [`ListRequest`]; the 12 exportable ones also implement [`Exportable`]. Their methods are
//! provided by the traits, so bring them into scope with the prelude:
//!
//! ```no_run
//! use mangrove::prelude::*;
//! # async fn run(client: mangrove::Client) -> Result<(), mangrove::Error> {
//! let summary = client.list_projects().summary().await?; // ListRequest::summary
//! # Ok(()) }
//! ```
//!
//! | method | on | yields |
//! |---|---|---|
//! | [`.summary()`](ListRequest::summary) | every list | [`Summary<Item>`](crate::Summary): count + up to 10 typed samples |
//! | [`.items()`](ListRequest::items) | every list | [`Items`]: a stream of every item, page after page |
//! | [`.pages()`](ListRequest::pages) | every list | [`Pages`]: a stream of [`Page<Item>`](crate::Page)s |
//! | [`.summary_with_export()`](Exportable::summary_with_export) | exportable lists | [`SummaryWithExport`] |
//!
//! Code generic over lists calls them by the same names:
//!
//! ```no_run
//! use futures::TryStreamExt;
//! use mangrove::prelude::*;
//!
//! async fn count_all<'a, R: ListRequest<'a>>(request: R) -> Result<usize, mangrove::Error> {
//!     let items: Vec<R::Item> = request.items().try_collect().await?;
//!     Ok(items.len())
//! }
//! ```
//!
//! The futures and streams these methods answer are `Send` and can be spawned. A future of your
//! own that is generic over `R` and should be spawned is best boxed inside the generic function
//! (`fn f<'a, R: ListRequest<'a>>(r: R) -> BoxFuture<'a, …> { Box::pin(async move { … }) }`):
//! an `async fn` generic over a lifetime-carrying builder is not provably `Send` at a concrete
//! call site ([rust-lang/rust#100013](https://github.com/rust-lang/rust/issues/100013)).
//!
//! `.summary_with_export()` exists only where the server can export, so calling it elsewhere
//! does not compile:
//!
//! ```compile_fail
//! use mangrove::prelude::*;
//! # async fn f(client: mangrove::Client) {
//! // A ledger's batches cannot be exported: this does not compile.
//! client.list_ledger_batches().ledger_id("lgr_1").summary_with_export();
//! # }
//! ```
//!
//! Both traits are sealed: they are implemented for the generated builders only.

use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};

use crate::builder;
use crate::error::GeneratedError;
use crate::export::SummaryWithExport;
use crate::open_enum::{ExportFormat, ResourceType};
use crate::pagination::{Items, Pages};
use crate::summary::{ListBody, SummaryFuture};
use crate::types::{self, ResponseMode};
use crate::Client;

mod sealed {
    use super::*;

    /// The plumbing the provided methods of [`ListRequest`] are written with: a private
    /// supertrait (it seals the traits), each method taking an [`Internal`] that only this crate
    /// can make, so that not even generic code over `R: ListRequest` outside the crate can call
    /// it. Crate code calls it through [`Request`](super::Request).
    pub trait Plumbing<'a>: Clone + Send + Sync + Sized + 'a {
        /// The client the builder was made from.
        fn sealed_client(&self, _: Internal) -> &'a Client;
        /// Sets `response_mode`.
        fn sealed_mode(self, mode: ResponseMode, _: Internal) -> Self;
        /// Sets `export_format`.
        fn sealed_format(self, format: ExportFormat, _: Internal) -> Self;
        /// Sets `page`.
        fn sealed_page(self, page: i64, _: Internal) -> Self;
    }

    /// The argument that keeps the plumbing crate-private: it cannot be named, so it cannot be
    /// made, outside the crate.
    #[derive(Clone, Copy, Debug)]
    pub struct Internal(pub(super) ());
}

/// The plumbing of every list request, for the crate's own code (`use crate::resource::Request
/// as _`): not reachable from outside.
pub(crate) trait Request<'a>: ListRequest<'a> {
    /// The client the builder was made from.
    fn client(&self) -> &'a Client;
    /// Sets `response_mode`.
    fn with_mode(self, mode: ResponseMode) -> Self;
    /// Sets `export_format`.
    fn with_format(self, format: ExportFormat) -> Self;
    /// Sets `page`.
    fn with_page(self, page: i64) -> Self;
    /// Sends the request and returns the decoded body.
    fn fetch(self) -> BoxFuture<'a, Result<ListBody<Self::Item>, GeneratedError>>;
}

impl<'a, R: ListRequest<'a>> Request<'a> for R {
    fn client(&self) -> &'a Client {
        self.sealed_client(sealed::Internal(()))
    }
    fn with_mode(self, mode: ResponseMode) -> Self {
        self.sealed_mode(mode, sealed::Internal(()))
    }
    fn with_format(self, format: ExportFormat) -> Self {
        self.sealed_format(format, sealed::Internal(()))
    }
    fn with_page(self, page: i64) -> Self {
        self.sealed_page(page, sealed::Internal(()))
    }
    fn fetch(self) -> BoxFuture<'a, Result<ListBody<Self::Item>, GeneratedError>> {
        self.sealed_fetch(sealed::Internal(()))
    }
}

/// A generated list builder (`client.list_projects()`, `client.list_events()`, …): `.summary()`,
/// `.items()` and `.pages()` on any of them, after its filters and sort. See the
/// [module docs](self). Sealed: implemented for the generated builders only.
pub trait ListRequest<'a>: sealed::Plumbing<'a> {
    /// The item type of the list, e.g. [`types::Project`].
    type Item: DeserializeOwned + Serialize + Clone + Send + Sync + 'static;
    /// The resource's plural name, e.g. `"projects"`.
    const RESOURCE: &'static str;

    /// Sends the request and returns the decoded body (plumbing: callable inside the crate only;
    /// on this trait because the body's type is `Self::Item`).
    #[doc(hidden)]
    fn sealed_fetch(
        self,
        _: sealed::Internal,
    ) -> BoxFuture<'a, Result<ListBody<Self::Item>, GeneratedError>>;

    /// Asks for a `summary` (`response_mode=summary`): the total count and up to 10 typed
    /// samples. The future is `Send` and can be spawned.
    fn summary(self) -> SummaryFuture<'a, Self::Item> {
        crate::summary::fetch_summary(self)
    }

    /// Every item of the list, page after page, as one stream (see [`Items`]).
    fn items(self) -> Items<'a, Self::Item> {
        Items::new(self)
    }

    /// The pages of the list, one [`Page`](crate::Page) (items + pagination info) at a time
    /// (see [`Pages`]).
    fn pages(self) -> Pages<'a, Self::Item> {
        Pages::new(self)
    }
}

/// A list endpoint that can produce an export file (the 12 endpoints of the exports table):
/// `.summary_with_export()`. Sealed: implemented for the generated builders only.
pub trait Exportable<'a>: ListRequest<'a> {
    /// The resource type as `POST /exports` takes it, e.g. [`ResourceType::Project`].
    const RESOURCE_TYPE: ResourceType;

    /// Asks for a summary and starts an export of every item (with this request's filters and
    /// sort); see [`SummaryWithExport`].
    fn summary_with_export(self) -> SummaryWithExport<'a, Self> {
        SummaryWithExport::new(self)
    }
}

/// Maps each generated list builder to its item type and resource (and, for the exportable
/// ones, its [`ResourceType`]).
macro_rules! list_endpoints {
    ($($builder:ident => $item:ident, $resource:literal $(, export $rtype:ident)?;)+) => {$(
        impl<'a> sealed::Plumbing<'a> for builder::$builder<'a> {
            fn sealed_client(&self, _: sealed::Internal) -> &'a Client {
                self.client_ref()
            }
            fn sealed_mode(self, mode: ResponseMode, _: sealed::Internal) -> Self {
                self.response_mode(mode)
            }
            fn sealed_format(self, format: ExportFormat, _: sealed::Internal) -> Self {
                self.export_format(format)
            }
            fn sealed_page(self, page: i64, _: sealed::Internal) -> Self {
                self.page(page)
            }
        }

        impl<'a> ListRequest<'a> for builder::$builder<'a> {
            type Item = types::$item;
            const RESOURCE: &'static str = $resource;
            fn sealed_fetch(self, _: sealed::Internal) -> BoxFuture<'a, Result<ListBody<types::$item>, GeneratedError>> {
                Box::pin(async move { self.send().await.map(progenitor_client::ResponseValue::into_inner) })
            }
        }

        $(
            impl<'a> Exportable<'a> for builder::$builder<'a> {
                const RESOURCE_TYPE: ResourceType = ResourceType::$rtype;
            }
        )?
    )+};
}

list_endpoints! {
    ListProjects => Project, "projects", export Project;
    ListEvents => Event, "events", export Event;
    ListEventTypes => EventType, "event_types", export EventType;
    ListDataPoints => DataPoint, "data_points", export DataPoint;
    ListBatches => Batch, "batches", export Batch;
    ListLedgers => Ledger, "ledgers", export Ledger;
    ListOrders => Order, "orders", export Order;
    ListFeedstocks => Feedstock, "feedstocks", export Feedstock;
    ListTrackingUnits => TrackingUnit, "tracking_units", export TrackingUnit;
    ListModels => Model, "models", export Model;
    ListReports => Report, "reports", export Report;
    ListLocations => Location, "locations", export Location;
    ListLedgerBatches => Batch, "ledger_batches";
    ListBatchEvidences => Evidence, "evidences";
    ListModelRuns => ModelRun, "model_runs";
}
