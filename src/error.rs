//! Errors: [`Error`] for API calls and configuration, [`ExportError`] for exports and downloads.
//!
//! Both are `#[non_exhaustive]`; match the variants you handle and keep a fallback arm.
//! Every API failure keeps its HTTP status ([`Error::status`]), including when the server
//! answered with an HTML page or an empty body.

use std::time::Duration;

use reqwest::StatusCode;

use crate::decode::DecodeError;
use crate::summary::Summary;
use crate::types;

/// The error type of every generated call (`client.get_project()…send()`).
pub type GeneratedError = progenitor_client::Error<types::ApiError>;

/// An error from the Mangrove API or from building a client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client could not be built (missing token, bad base URL, …).
    #[error("invalid client configuration: {0}")]
    Config(String),
    /// An API call failed; the generated client's error is kept as the source (boxed, so
    /// that `Result<_, Error>` stays small).
    #[error("{}", describe(.0))]
    Api(#[source] Box<GeneratedError>),
    /// The server answered 2xx with a body that is not what the API documents.
    #[error("unexpected response from Mangrove: {0}")]
    Unexpected(String),
    /// A response body did not decode into the type the spec documents. The error names the
    /// operation, the JSON path, what was expected and found, and keeps the body's first bytes
    /// (see [`DecodeError`]).
    #[error("Mangrove answered with a body this SDK cannot decode: {0}")]
    Decode(Box<DecodeError>),
}

impl From<GeneratedError> for Error {
    fn from(e: GeneratedError) -> Self {
        if let progenitor_client::Error::InvalidResponsePayload(prefix, error) = &e {
            if let Some(decode) = DecodeError::from_generated(prefix, error) {
                return Error::Decode(Box::new(decode));
            }
        }
        Error::Api(Box::new(e))
    }
}

impl From<DecodeError> for Error {
    fn from(e: DecodeError) -> Self {
        Error::Decode(Box::new(e))
    }
}

impl Error {
    /// The HTTP status of the failed response, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api(e) => e.status(),
            _ => None,
        }
    }

    /// The server's `message`, if it sent one.
    pub fn message(&self) -> Option<&str> {
        match self {
            Error::Api(e) => match e.as_ref() {
                progenitor_client::Error::ErrorResponse(rv) => Some(rv.message.as_str()),
                _ => None,
            },
            _ => None,
        }
    }

    /// Where and why a response body did not decode, if that is what failed.
    pub fn decode_error(&self) -> Option<&DecodeError> {
        match self {
            Error::Decode(e) => Some(e),
            _ => None,
        }
    }
}

/// A one-line description of a generated-client error, with what to do about it.
pub(crate) fn describe(e: &GeneratedError) -> String {
    use progenitor_client::Error as E;
    match e {
        E::ErrorResponse(rv) => {
            let status = rv.status();
            let hint = match status.as_u16() {
                401 => " (check the API token)",
                403 => " (the token lacks the permission for this call)",
                404 => " (check the id)",
                429 => " (rate limited: the retry policy gave up waiting; slow down or retry after the reset)",
                500..=599 => " (server-side failure; retry later)",
                _ => "",
            };
            format!("Mangrove API error (HTTP {status}): {}{hint}", rv.message)
        }
        E::CommunicationError(err) => format!("could not reach Mangrove: {err}"),
        E::InvalidRequest(msg) => format!("invalid request: {msg}"),
        E::InvalidResponsePayload(_, err) => {
            format!("Mangrove answered with a body this SDK cannot decode: {err}")
        }
        E::ResponseBodyError(err) => format!("reading the response body failed: {err}"),
        E::UnexpectedResponse(resp) => {
            format!("unexpected HTTP status {} from Mangrove", resp.status())
        }
        other => other.to_string(),
    }
}

/// Why an export (or the download of its file) did not produce a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// 403 on starting an export: the token is not allowed to export.
    #[error(
        "export refused (HTTP 403): exports need an account-level API token; customer- and \
         partner-scoped tokens cannot create exports. Server said: {message}"
    )]
    Forbidden {
        /// The server's message.
        message: String,
    },
    /// The endpoint answered a summary without an `export` object. The summary is kept.
    #[error(
        "the server did not start an export for {resource} (it answered a summary of {} items \
         without an export); the summary is in this error",
        summary.count
    )]
    NotSupported {
        /// The resource that was asked for, e.g. `"projects"`.
        resource: &'static str,
        /// What the server did answer: count and samples exactly as sent (as JSON values:
        /// unknown fields and explicit `null`s kept).
        summary: Summary<serde_json::Value>,
    },
    /// The endpoint answered a summary with an `export` object that has no `id`, so the export
    /// cannot be followed. The summary (as the server sent it) and the export object are kept.
    #[error(
        "the server answered a summary of {} {resource} with an export object that has no id, so \
         the export cannot be followed; the summary is in this error",
        summary.count
    )]
    ExportWithoutId {
        /// The resource that was asked for, e.g. `"projects"`.
        resource: &'static str,
        /// What the server did answer: count and samples, exactly as sent (as JSON values).
        summary: Summary<serde_json::Value>,
        /// The `export` object as decoded (its `status` and `status_url`, if sent); boxed, so
        /// that `Result<_, ExportError>` stays small.
        export: Box<types::ExportRef>,
    },
    /// The export ended with status `failed`.
    #[error("export {id} failed on the server: {message}")]
    Failed {
        /// Export id.
        id: String,
        /// The server's `error` text.
        message: String,
    },
    /// The polling policy's time limit ran out before the export completed.
    #[error(
        "export {id} did not complete within {elapsed:?} ({polls} polls); it may still finish: \
         attach to it again later or raise the poll policy's time limit"
    )]
    TimedOut {
        /// Export id.
        id: String,
        /// Time spent waiting.
        elapsed: Duration,
        /// Status requests made.
        polls: u32,
    },
    /// The export no longer exists (404: exports are cleaned up after 7 days).
    #[error("export {id} no longer exists (exports are cleaned up after 7 days); start a new one")]
    Expired {
        /// Export id.
        id: String,
    },
    /// The account already runs the maximum number of concurrent exports (5).
    #[error(
        "the account already runs the maximum number of concurrent exports: {message}; wait for \
         one to finish"
    )]
    ConcurrencyLimit {
        /// The server's message.
        message: String,
        /// How long the server asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Starting an export failed after the request may have reached the server (a 5xx, a time-out,
    /// a connection lost after sending, a body that could not be read): an export **may** have
    /// been started. The request is not repeated, because a repeat could start a second export.
    #[error(
        "starting an export of {resource} failed after the request was sent ({detail}); an export \
         MAY have been started on the server, and there is no export id to attach to. If it was, \
         it counts against the account's limit of 5 concurrent exports until it ends (the API \
         has no call to list running exports; the server answers 429 while the limit is \
         reached). Start it again only if a duplicate export is acceptable"
    )]
    StartUncertain {
        /// The resource or resource type that was being exported, e.g. `"projects"` or
        /// `"Delivery"`.
        resource: String,
        /// The HTTP status of the answer, if one came (`None`: time-out or lost connection).
        status: Option<StatusCode>,
        /// What went wrong, without credentials.
        detail: String,
    },
    /// No slot of this client's export limiter came free in time. A client-side refusal: no
    /// request was sent, so there is no HTTP status.
    #[error(
        "this client holds {held} unfinished exports (its export limit is {limit}) and no slot \
         came free in time (waited {waited:?}); await or drop those exports (or see them end \
         with status()) to free slots, or raise ClientBuilder::export_slot_wait or \
         export_concurrency"
    )]
    NoFreeSlot {
        /// Exports of this client holding a slot (started, not yet seen to end).
        held: usize,
        /// The limiter's size (`ClientBuilder::export_concurrency`).
        limit: usize,
        /// How long the start waited in all.
        waited: Duration,
    },
    /// The server's answer about the export is not usable (e.g. completed without a URL).
    #[error("unusable answer about export {id}: {message}")]
    InvalidResponse {
        /// Export id.
        id: String,
        /// What was wrong.
        message: String,
    },
    /// Downloading the file failed.
    #[error(transparent)]
    Download(#[from] crate::download::DownloadError),
    /// An API call failed (status kept; see [`Error::status`]).
    #[error(transparent)]
    Api(#[from] Error),
}

impl From<GeneratedError> for ExportError {
    fn from(e: GeneratedError) -> Self {
        ExportError::Api(Error::from(e))
    }
}

impl ExportError {
    /// The HTTP status behind this error, if it came from an HTTP answer.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ExportError::Api(e) => e.status(),
            ExportError::Forbidden { .. } => Some(StatusCode::FORBIDDEN),
            ExportError::Expired { .. } => Some(StatusCode::NOT_FOUND),
            ExportError::ConcurrencyLimit { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            ExportError::StartUncertain { status, .. } => *status,
            _ => None,
        }
    }
}
