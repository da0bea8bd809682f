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

mod body;
mod endpoints;
mod export;

use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};

pub use body::SummaryFuture;
pub(crate) use endpoints::{client_of, fetch, Query};
use endpoints::{sealed, Internal};

use crate::error::GeneratedError;
use crate::export::StartExport;
use crate::open_enum::ResourceType;
use crate::pagination::{Items, Pages};
use crate::summary::ListBody;
use crate::types::ResponseMode;
use crate::Client;

/// A generated list builder: `.summary()`, `.items()` and `.pages()` after its filters and sort.
/// See the [module docs](self).
pub trait ListRequest<'a>: sealed::Sealed + Clone + Send + Sync + Sized + 'a {
    /// The item type of the list, e.g. [`types::Project`](crate::types::Project).
    type Item: DeserializeOwned + Serialize + Clone + Send + Sync + 'static;
    /// The resource's plural name, e.g. `"projects"`.
    const RESOURCE: &'static str;

    /// Plumbing, callable inside the crate only.
    #[doc(hidden)]
    fn client_internal(&self, _: Internal) -> &'a Client;

    /// Plumbing, callable inside the crate only.
    #[doc(hidden)]
    fn fetch_internal(
        self,
        query: Query,
        _: Internal,
    ) -> BoxFuture<'a, Result<ListBody<Self::Item>, GeneratedError>>;

    /// Asks for a `summary` (`response_mode=summary`): the total count and up to 10 typed
    /// samples.
    fn summary(self) -> SummaryFuture<'a, Self::Item> {
        body::fetch_summary(self)
    }

    /// Every item of the list, page after page, as one stream (see [`Items`]).
    fn items(self) -> Items<'a, Self::Item> {
        crate::pagination::items(page_fetcher(self))
    }

    /// The pages of the list, one [`Page`](crate::Page) at a time (see [`Pages`]).
    fn pages(self) -> Pages<'a, Self::Item> {
        crate::pagination::pages(page_fetcher(self))
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

/// How the pagination streams fetch page `n` of `request` (`response_mode=default`): a closure,
/// so that `pagination` knows nothing of the list traits and sits below this module.
fn page_fetcher<'a, R: ListRequest<'a>>(
    request: R,
) -> impl Fn(i64) -> BoxFuture<'a, Result<ListBody<R::Item>, crate::Error>> + Send + Sync + 'a {
    move |page| {
        let query = Query {
            mode: ResponseMode::Default,
            page: Some(page),
            format: None,
        };
        let request = request.clone();
        Box::pin(async move { Ok(fetch(request, query).await?) })
    }
}
