//! What every list builder can do beyond `.send()`: the sealed traits [`ListRequest`] (every
//! list builder: `client.list_projects()`, …) and [`Exportable`] (the 12 exportable ones). Their
//! methods are provided by the traits: `use mangrove::prelude::*;` brings them into scope.
//!
//! | method | on | yields |
//! |---|---|---|
//! | [`.summary()`](ListRequest::summary) | every list | [`Summary<Item>`](crate::Summary): count + up to 10 typed samples |
//! | [`.items()`](ListRequest::items) | every list | [`Items`]: a stream of every item, page after page |
//! | [`.pages()`](ListRequest::pages) | every list | [`Pages`]: a stream of [`Page<Item>`](crate::Page)s |
//! | [`.summary_with_export()`](Exportable::summary_with_export) | exportable lists | [`StartExport`] |
//!
//! Generic code calls them by the same names:
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
//! Their futures and streams are `Send`. To spawn a future of your own that is generic over `R`,
//! box it inside the generic function (`-> BoxFuture<'a, …>`): an `async fn` generic over a
//! lifetime-carrying builder is not provably `Send` ([rust-lang/rust#100013](https://github.com/rust-lang/rust/issues/100013)).
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

use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};

use crate::builder;
use crate::error::GeneratedError;
use crate::export::StartExport;
use crate::open_enum::{ExportFormat, ResourceType};
use crate::pagination::{Items, Pages};
use crate::summary::{ListBody, SummaryFuture};
use crate::types::{self, ResponseMode};
use crate::Client;

mod sealed {
    /// Seals [`ListRequest`](super::ListRequest): only the generated builders implement it.
    pub trait Sealed {}

    /// The argument of the hidden plumbing methods: it cannot be named, so it cannot be made,
    /// outside the crate, and not even generic code over `R: ListRequest` can call them.
    #[derive(Clone, Copy, Debug)]
    pub struct Internal(pub(super) ());

    /// What the crate's own calls set on a list request before sending it.
    #[derive(Clone, Debug)]
    pub struct Query {
        pub(crate) mode: super::ResponseMode,
        pub(crate) page: Option<i64>,
        pub(crate) format: Option<super::ExportFormat>,
    }
}

pub(crate) use sealed::Query;

/// The client `request` was made from.
pub(crate) fn client_of<'a, R: ListRequest<'a>>(request: &R) -> &'a Client {
    request.client_internal(sealed::Internal(()))
}

/// Sends `request` with `query` set and returns the decoded body.
pub(crate) fn fetch<'a, R: ListRequest<'a>>(
    request: R,
    query: Query,
) -> BoxFuture<'a, Result<ListBody<R::Item>, GeneratedError>> {
    request.fetch_internal(query, sealed::Internal(()))
}

/// A generated list builder: `.summary()`, `.items()` and `.pages()` after its filters and sort.
/// See the [module docs](self).
pub trait ListRequest<'a>: sealed::Sealed + Clone + Send + Sync + Sized + 'a {
    /// The item type of the list, e.g. [`types::Project`].
    type Item: DeserializeOwned + Serialize + Clone + Send + Sync + 'static;
    /// The resource's plural name, e.g. `"projects"`.
    const RESOURCE: &'static str;

    /// Plumbing, callable inside the crate only.
    #[doc(hidden)]
    fn client_internal(&self, _: sealed::Internal) -> &'a Client;

    /// Plumbing, callable inside the crate only.
    #[doc(hidden)]
    fn fetch_internal(
        self,
        query: Query,
        _: sealed::Internal,
    ) -> BoxFuture<'a, Result<ListBody<Self::Item>, GeneratedError>>;

    /// Asks for a `summary` (`response_mode=summary`): the total count and up to 10 typed
    /// samples.
    fn summary(self) -> SummaryFuture<'a, Self::Item> {
        crate::summary::fetch_summary(self)
    }

    /// Every item of the list, page after page, as one stream (see [`Items`]).
    fn items(self) -> Items<'a, Self::Item> {
        crate::pagination::items(self)
    }

    /// The pages of the list, one [`Page`](crate::Page) at a time (see [`Pages`]).
    fn pages(self) -> Pages<'a, Self::Item> {
        crate::pagination::pages(self)
    }
}

/// A list endpoint that can produce an export file: `.summary_with_export()`.
pub trait Exportable<'a>: ListRequest<'a> {
    /// The resource type as `POST /exports` takes it, e.g. [`ResourceType::Project`].
    const RESOURCE_TYPE: ResourceType;

    /// Asks for a summary and starts an export of every item (with this request's filters and
    /// sort); see [`StartExport`].
    fn summary_with_export(self) -> StartExport<Self> {
        StartExport::new(client_of(&self).clone(), self)
    }
}

/// Maps each generated list builder to its item type and resource (and, for the exportable
/// ones, its [`ResourceType`]).
macro_rules! list_endpoints {
    ($($builder:ident => $item:ident, $resource:literal $(, export $rtype:ident)?;)+) => {$(
        impl sealed::Sealed for builder::$builder<'_> {}

        impl<'a> ListRequest<'a> for builder::$builder<'a> {
            type Item = types::$item;
            const RESOURCE: &'static str = $resource;

            fn client_internal(&self, _: sealed::Internal) -> &'a Client {
                self.client_ref()
            }

            fn fetch_internal(
                self,
                query: Query,
                _: sealed::Internal,
            ) -> BoxFuture<'a, Result<ListBody<types::$item>, GeneratedError>> {
                let mut request = self.response_mode(query.mode);
                if let Some(page) = query.page {
                    request = request.page(page);
                }
                if let Some(format) = query.format {
                    request = request.export_format(format);
                }
                Box::pin(async move {
                    request.send().await.map(progenitor_client::ResponseValue::into_inner)
                })
            }
        }

        $(
            impl<'a> Exportable<'a> for builder::$builder<'a> {
                const RESOURCE_TYPE: ResourceType = ResourceType::$rtype;
            }
        )?
    )+};
}

// One row per list endpoint of `openapi.yaml`: builder => item type, resource, and the resource
// type of its export (`x-export-resource-type`), written by `build.rs`.
include!(concat!(env!("OUT_DIR"), "/list_endpoints.rs"));
