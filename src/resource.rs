//! The table of list endpoints: which generated builder lists which item type, and which of them
//! can export.
//!
//! Every list builder implements [`ListRequest`], and the 12 exportable ones also implement
//! [`Exportable`]. The hand-written features are written once, generically, over these traits:
//! `.summary()`, `.stream()` and — on exportable builders only, so calling it elsewhere does not
//! compile — `.summary_with_export()`.
//!
//! ```compile_fail
//! # async fn f(client: mangrove::Client) {
//! // A ledger's batches cannot be exported: this does not compile.
//! client.list_ledger_batches().ledger_id("lgr_1").summary_with_export();
//! # }
//! ```

use futures::future::BoxFuture;
use serde::{de::DeserializeOwned, Serialize};

use crate::builder;
use crate::error::GeneratedError;
use crate::summary::ListBody;
use crate::types::{self, ExportFormat, ResponseMode};
use crate::Client;

/// A generated list builder (`client.list_projects()`, `client.list_events()`, …).
///
/// Implemented for every list endpoint; not meant to be implemented outside this crate.
pub trait ListRequest<'a>: Clone + Send + Sync + Sized + 'a {
    /// The item type of the list.
    type Item: DeserializeOwned + Serialize + Clone + Send + Sync + 'static;
    /// The resource's plural name, e.g. `"projects"`.
    const RESOURCE: &'static str;
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

/// A list endpoint that can produce an export file with `summary_with_export` (the 12 endpoints
/// of the exports table).
pub trait Exportable<'a>: ListRequest<'a> {
    /// The resource's class name as `POST /exports` takes it, e.g. `"Project"`.
    const RESOURCE_TYPE: &'static str;
}

macro_rules! list_endpoints {
    ($($builder:ident => $item:ident, $resource:literal $(, export $rtype:literal)?;)+) => {$(
        impl<'a> ListRequest<'a> for builder::$builder<'a> {
            type Item = types::$item;
            const RESOURCE: &'static str = $resource;
            fn client(&self) -> &'a Client {
                self.client_ref()
            }
            fn with_mode(self, mode: ResponseMode) -> Self {
                self.response_mode(mode)
            }
            fn with_format(self, format: ExportFormat) -> Self {
                self.export_format(format)
            }
            fn with_page(self, page: i64) -> Self {
                self.page(page)
            }
            fn fetch(self) -> BoxFuture<'a, Result<ListBody<Self::Item>, GeneratedError>> {
                Box::pin(async move { self.send().await.map(progenitor_client::ResponseValue::into_inner) })
            }
        }

        impl<'a> builder::$builder<'a> {
            #[doc = concat!("Asks for a `summary` of the ", $resource, ": the total count and up to 10 typed samples.")]
            pub fn summary(self) -> crate::summary::SummaryFuture<'a, types::$item> {
                crate::summary::fetch_summary(self)
            }

            #[doc = concat!("Walks every page of the ", $resource, " as a stream of items (see [`Pages`](crate::Pages)).")]
            pub fn stream(self) -> crate::Pages<'a, Self> {
                crate::Pages::new(self)
            }
        }

        $(
            impl<'a> Exportable<'a> for builder::$builder<'a> {
                const RESOURCE_TYPE: &'static str = $rtype;
            }

            impl<'a> builder::$builder<'a> {
                #[doc = concat!("Asks for a summary of the ", $resource, " and starts an export of all of them (with this request's filters and sort); see [`SummaryWithExport`](crate::export::SummaryWithExport).")]
                pub fn summary_with_export(self) -> crate::export::SummaryWithExport<'a, Self> {
                    crate::export::SummaryWithExport::new(self)
                }
            }
        )?
    )+};
}

list_endpoints! {
    ListProjects => Project, "projects", export "Project";
    ListEvents => Event, "events", export "Event";
    ListEventTypes => EventType, "event_types", export "EventType";
    ListDataPoints => DataPoint, "data_points", export "DataPoint";
    ListBatches => Batch, "batches", export "Batch";
    ListLedgers => Ledger, "ledgers", export "Ledger";
    ListOrders => Order, "orders", export "Order";
    ListFeedstocks => Feedstock, "feedstocks", export "Feedstock";
    ListTrackingUnits => TrackingUnit, "tracking_units", export "TrackingUnit";
    ListModels => Model, "models", export "Model";
    ListReports => Report, "reports", export "Report";
    ListLocations => Location, "locations", export "Location";
    ListLedgerBatches => Batch, "ledger_batches";
    ListBatchEvidences => Evidence, "evidences";
    ListModelRuns => ModelRun, "model_runs";
}
