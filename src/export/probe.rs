//! How the export-slot limiter asks the server about a held export: the export layer's side of
//! [`ExportProbe`], kept here so that `slots` never depends on `export`.

use futures::future::BoxFuture;
use futures::FutureExt as _;

use super::{poller, Export, ExportSnapshot};
use crate::error::ExportError;
use crate::open_enum::ExportStatus;
use crate::saved_export::SavedExport;
use crate::slots::{ExportProbe, Probe};
use crate::Client;

impl ExportProbe for Client {
    fn probe(&self, saved: SavedExport) -> BoxFuture<'_, Probe> {
        async move {
            // Attached: the probe takes no slot of its own and polls once, now.
            let export = Export::attach(self, saved);
            match poller::fetch_status(&export).await {
                Ok(raw) => match ExportSnapshot::from(raw).status {
                    ExportStatus::Completed | ExportStatus::Failed => Probe::Ended,
                    _ => Probe::Running,
                },
                // 404: cleaned up by the server, so no longer counted.
                Err(poller::PollFailure::Permanent(ExportError::Expired { .. })) => Probe::Ended,
                Err(_) => Probe::Unknown,
            }
        }
        .boxed()
    }
}
