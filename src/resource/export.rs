//! `summary_with_export` on a list request: the list way of starting an export. The builder
//! ([`StartExport`]) and what every start shares (the slot, the refusals, the handle) belong to
//! `export`; this file adds the list request's side, so `export` never depends on this module.

use super::{fetch, Exportable, Query};
use crate::error::ExportError;
use crate::export::{start, Export, SavedExport, StartExport, StartFuture};
use crate::summary::Summary;
use crate::types::{self, ResponseMode};

impl<'a, R: Exportable<'a>> StartExport<R> {
    /// Starts the export: answers the summary (count and typed samples) and the [`Export`].
    pub fn send(self) -> StartFuture<'a, (Summary<R::Item>, Export)> {
        let query = Query {
            mode: ResponseMode::SummaryWithExport,
            page: None,
            format: Some(self.format.clone()),
        };
        let request = self.source.clone();
        let send = move || fetch(request.clone(), query.clone());
        Box::pin(async move {
            let (body, export) = start(self, R::RESOURCE, send, |body| match &body.export {
                Some(types::ExportRef {
                    id: Some(id),
                    status_url,
                    ..
                }) => Ok(SavedExport {
                    id: id.clone(),
                    status_url: status_url.clone(),
                }),
                Some(export) => Err(ExportError::ExportWithoutId {
                    resource: R::RESOURCE,
                    summary: body.raw_summary()?,
                    export: Box::new(export.clone()),
                }),
                None => Err(ExportError::NotSupported {
                    resource: R::RESOURCE,
                    summary: body.raw_summary()?,
                }),
            })
            .await?;
            Ok((body.into_summary()?.0, export))
        })
    }
}
