//! What a list body means in the `summary` modes, with the crate's [`Error`]: the count that
//! must be there, the samples as the server sent them, and `.summary()` itself.
//!
//! These methods of [`ListBody`] live here rather than beside the type in `summary` because they
//! return [`Error`], and `error` (whose `ExportError::NotSupported` carries a [`Summary`]) sits
//! above `summary` in the module layers. Rustdoc shows them on `ListBody` all the same.

use super::{fetch, ListRequest, Query};
use crate::error::Error;
use crate::summary::{ListBody, Summary};
use crate::types;

/// The boxed `Send` future of [`.summary()`](crate::ListRequest::summary) on a list builder.
pub type SummaryFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Summary<T>, Error>> + Send + 'a>>;

/// `response_mode=summary`; boxed here so the `Send` proof is made generically (rust#100013).
pub(crate) fn fetch_summary<'a, R: ListRequest<'a>>(request: R) -> SummaryFuture<'a, R::Item> {
    let query = Query {
        mode: types::ResponseMode::Summary,
        page: None,
        format: None,
    };
    Box::pin(async move {
        let body = fetch(request, query).await?;
        Ok(body.into_summary()?.0)
    })
}

impl<T> ListBody<T> {
    /// The body as a summary, and the export object if there is one.
    pub fn into_summary(self) -> Result<(Summary<T>, Option<types::ExportRef>), Error> {
        let count = self.summary_count()?;
        Ok((
            Summary {
                count,
                samples: self.samples,
                unfit_samples: self.unfit_samples,
            },
            self.export,
        ))
    }

    /// The summary exactly as the server sent it (unknown fields and explicit `null`s kept).
    pub fn raw_summary(&self) -> Result<Summary<serde_json::Value>, Error> {
        let count = self.summary_count()?;
        let samples = self
            .raw_samples()
            .iter()
            .map(|raw| serde_json::from_str(raw.get()));
        let samples = samples
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Unexpected(format!("a summary sample is not JSON: {e}")))?;
        Ok(Summary {
            count,
            samples,
            unfit_samples: Vec::new(),
        })
    }

    fn summary_count(&self) -> Result<u64, Error> {
        self.count.ok_or_else(|| {
            Error::Unexpected(
                "a summary response without `count` (was response_mode ignored?)".into(),
            )
        })
    }
}
