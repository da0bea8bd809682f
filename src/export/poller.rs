//! The polling loop shared by `Export::statuses()` and `export.await`.

use std::time::Duration;

use futures::Stream;
use progenitor_client::{ClientInfo, ResponseValue};
use reqwest::StatusCode;
use tokio::time::Instant;
use tracing::Instrument;

use super::{CompletedExport, Export, ExportSnapshot};
use crate::error::{ExportError, GeneratedError};
use crate::open_enum::ExportStatus;
use crate::settings::within;
use crate::types;

/// The operation id status polls are reported under (as the generated `get_export`).
const OPERATION: &str = "get_export";

/// Why one status request did not give a status.
pub(crate) enum PollFailure {
    /// Worth another poll within the policy (5xx, connection trouble, undecodable answer, 429).
    Transient(ExportError, Option<Duration>),
    /// Polling cannot help.
    Permanent(ExportError),
}

impl PollFailure {
    pub(crate) fn into_error(self) -> ExportError {
        match self {
            PollFailure::Transient(e, _) | PollFailure::Permanent(e) => e,
        }
    }
}

/// Reads the export's status once: from `status_url` when it is on the API's origin (else by
/// id, with a warning: the token never goes to another origin). Whoever holds the export's
/// limiter slot learns what was seen: a terminal status or a 404 frees the slot.
pub(crate) async fn fetch_status(export: &Export) -> Result<types::ExportJob, PollFailure> {
    let status_url = export.saved.status_url.as_deref();
    let origin = status_url
        .and_then(|u| url::Url::parse(u).ok())
        .map(|u| u.origin());
    let result = match status_url {
        Some(url) if origin.as_ref() == Some(&export.client.state().origin) => {
            get_url(export, url).await
        }
        _ => {
            if status_url.is_some() {
                let origin = origin.map(|o| o.ascii_serialization());
                tracing::warn!(
                    export_id = %export.saved.id,
                    status_origin = origin.as_deref().unwrap_or("<not a URL>"),
                    "status_url is not on the API origin; reading the status by id from the base URL instead"
                );
            }
            let call = export.client.get_export().export_id(export.saved.id.as_str());
            call.send().await.map(ResponseValue::into_inner)
        }
    }
    .map_err(|e| classify(&export.saved.id, e));
    if let Some(slot) = &export.slot {
        match &result {
            Ok(raw) => {
                let status = ExportSnapshot::new(raw.clone(), 0, Duration::ZERO).status;
                slot.observed(&status).await;
            }
            Err(PollFailure::Permanent(ExportError::Expired { .. })) => slot.released().await,
            Err(_) => {}
        }
    }
    result
}

/// GET a same-origin status URL through the client's request pipeline (which caps the body at
/// [`crate::wire::MAX_STATUS_BODY`]), decoded like a generated call.
async fn get_url(export: &Export, url: &str) -> Result<types::ExportJob, GeneratedError> {
    let client = &export.client;
    let request = client
        .client()
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .build()
        .map_err(GeneratedError::CommunicationError)?;
    let response = crate::retry::execute(client, request, OPERATION)
        .await
        .map_err(GeneratedError::CommunicationError)?;
    match response.status().as_u16() {
        200..=299 => Ok(
            crate::decode::from_response::<types::ExportJob, _>(response, OPERATION)
                .await?
                .into_inner(),
        ),
        400..=599 => Err(GeneratedError::ErrorResponse(
            ResponseValue::from_response(response).await?,
        )),
        _ => Err(GeneratedError::UnexpectedResponse(response)),
    }
}

fn classify(id: &str, e: GeneratedError) -> PollFailure {
    use progenitor_client::Error as E;
    match &e {
        E::ErrorResponse(rv) => {
            let status = rv.status();
            let retry_after = crate::wire::retry_after(rv.headers());
            match status {
                StatusCode::NOT_FOUND => {
                    PollFailure::Permanent(ExportError::Expired { id: id.to_string() })
                }
                StatusCode::TOO_MANY_REQUESTS => PollFailure::Transient(e.into(), retry_after),
                s if matches!(s.as_u16(), 500 | 502..=504) => {
                    PollFailure::Transient(e.into(), retry_after)
                }
                _ => PollFailure::Permanent(e.into()),
            }
        }
        E::CommunicationError(_) | E::ResponseBodyError(_) | E::InvalidResponsePayload(..) => {
            PollFailure::Transient(e.into(), None)
        }
        _ => PollFailure::Permanent(e.into()),
    }
}

/// The polling state machine.
pub(crate) struct Poller {
    export: Export,
    started: Option<Instant>,
    polls: u32,
    errors_in_a_row: u32,
    next_wait: Option<Duration>,
    done: bool,
    span: tracing::Span,
}

impl Poller {
    pub(crate) fn new(export: Export) -> Self {
        let span = tracing::info_span!(
            "mangrove.export",
            export_id = %export.saved.id,
            polls = tracing::field::Empty,
            elapsed_ms = tracing::field::Empty,
            final_status = tracing::field::Empty,
        );
        Poller {
            export,
            started: None,
            polls: 0,
            errors_in_a_row: 0,
            next_wait: None,
            done: false,
            span,
        }
    }

    fn finish(&mut self, status: &str) {
        self.done = true;
        // Polling ended (completed, failed, gone, timed out, error): this client no longer
        // follows the export, so its slot is given back.
        if let Some(slot) = &self.export.slot {
            slot.release();
        }
        let elapsed = self.started.map(|s| s.elapsed()).unwrap_or_default();
        self.span.record("polls", self.polls);
        self.span.record("elapsed_ms", elapsed.as_millis() as u64);
        self.span.record("final_status", status);
    }

    /// The next status seen, or the error that ends polling; `None` once finished.
    pub(crate) async fn next(&mut self) -> Option<Result<ExportSnapshot, ExportError>> {
        let span = self.span.clone();
        self.step().instrument(span).await
    }

    async fn step(&mut self) -> Option<Result<ExportSnapshot, ExportError>> {
        if self.done {
            return None;
        }
        let policy = self.export.policy.clone();
        let started = *self.started.get_or_insert_with(Instant::now);
        loop {
            // Wait before this poll (a fresh export is polled after the initial delay).
            let wait = match self.next_wait.take() {
                Some(w) => Some(w),
                None if self.polls == 0 && self.export.fresh => Some(policy.initial_delay),
                None => None,
            };
            if let Some(wait) = wait {
                let elapsed = started.elapsed();
                if elapsed >= policy.time_limit {
                    self.finish("timed_out");
                    return Some(Err(ExportError::TimedOut {
                        id: self.export.saved.id.clone(),
                        elapsed,
                        polls: self.polls,
                    }));
                }
                tokio::time::sleep(wait.min(policy.time_limit - elapsed)).await;
            }
            self.polls += 1;
            let poll = self.polls;
            let result = fetch_status(&self.export).await;
            let elapsed = started.elapsed();
            match result {
                Ok(raw) => {
                    self.errors_in_a_row = 0;
                    let snapshot = ExportSnapshot::new(raw, poll, elapsed);
                    tracing::debug!(poll, status = %snapshot.status, "export status");
                    match &snapshot.status {
                        ExportStatus::Completed => {
                            self.finish("completed");
                            return Some(Ok(snapshot));
                        }
                        ExportStatus::Failed => {
                            self.finish("failed");
                            let message = snapshot
                                .raw
                                .error
                                .clone()
                                .unwrap_or_else(|| "the server gave no reason".to_string());
                            return Some(Err(ExportError::Failed {
                                id: self.export.saved.id.clone(),
                                message,
                            }));
                        }
                        _ => {
                            self.next_wait = Some(policy.delay_after(poll + 1));
                            return Some(Ok(snapshot));
                        }
                    }
                }
                Err(PollFailure::Permanent(e)) => {
                    self.finish("error");
                    return Some(Err(e));
                }
                Err(PollFailure::Transient(e, retry_after)) => {
                    self.errors_in_a_row += 1;
                    tracing::debug!(poll, errors_in_a_row = self.errors_in_a_row, error = %e, "transient failure while polling");
                    if self.errors_in_a_row >= policy.max_consecutive_errors.max(1) {
                        self.finish("error");
                        return Some(Err(e));
                    }
                    // A server asking to wait past the time limit is not waited for: its answer
                    // is the error.
                    if retry_after.is_some_and(|r| !within(elapsed, r, policy.time_limit)) {
                        self.finish("error");
                        return Some(Err(e));
                    }
                    self.next_wait = Some(policy.schedule().wait(poll + 1, retry_after));
                }
            }
        }
    }

    pub(crate) fn into_stream(
        self,
    ) -> impl Stream<Item = Result<ExportSnapshot, ExportError>> + Send + Unpin + 'static {
        Box::pin(futures::stream::unfold(self, |mut poller| async move {
            let item = poller.next().await?;
            Some((item, poller))
        }))
    }

    pub(crate) async fn until_done(mut self) -> Result<CompletedExport, ExportError> {
        loop {
            let item = self.next().await;
            if let (Some(Ok(snapshot)), Some(observer)) = (&item, &self.export.observer) {
                observer(snapshot);
            }
            match item {
                Some(Ok(s)) if s.status == ExportStatus::Completed => {
                    return CompletedExport::from_snapshot(&self.export, s);
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e),
                None => {
                    return Err(ExportError::InvalidResponse {
                        id: self.export.saved.id.clone(),
                        message: "polling ended without a status".into(),
                    })
                }
            }
        }
    }
}
