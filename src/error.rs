//! [`Error`] for API calls and configuration, [`ExportError`] for exports; both answer `status()`
//! and the same `is_*` predicates. An [`ExportError`] holds an [`Error`], so one `?` takes all:
//!
//! ```no_run
//! # async fn run(client: mangrove::Client) -> Result<(), mangrove::ExportError> {
//! use mangrove::prelude::*;
//! let project = client.get_project().project_id(1).send().await?;
//! let summary = client.list_batches().summary().await?;
//! let (_, export) = client.list_batches().summary_with_export().send().await?;
//! # let _ = (project, summary, export); Ok(()) }
//! ```

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
    /// An API call failed (the generated client's error, boxed).
    #[error("{}", describe(.0))]
    Api(#[source] Box<GeneratedError>),
    /// The server answered 2xx with a body that is not what the API documents.
    #[error("unexpected response from Mangrove: {0}")]
    Unexpected(String),
    /// A response body did not decode into the type the spec documents.
    #[error("Mangrove answered with a body this SDK cannot decode: {0}")]
    Decode(Box<DecodeError>),
}

impl From<GeneratedError> for Error {
    fn from(e: GeneratedError) -> Self {
        if let progenitor_client::Error::InvalidResponsePayload(_, error) = &e {
            if let Some(decode) = DecodeError::carried_by(error) {
                return Error::Decode(Box::new(decode.clone()));
            }
        }
        Error::Api(Box::new(e))
    }
}

impl Error {
    fn generated(&self) -> Option<&GeneratedError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// The HTTP status of the failed response (also when its body was an HTML page or empty).
    pub fn status(&self) -> Option<StatusCode> {
        self.generated()?.status()
    }

    /// A request or the reading of its answer ran out of time (the client's time-out).
    pub fn is_timeout(&self) -> bool {
        use progenitor_client::Error as E;
        matches!(self.generated(), Some(E::CommunicationError(e) | E::ResponseBodyError(e)) if e.is_timeout())
    }

    /// A response body did not decode into the documented type ([`Error::Decode`]).
    pub fn is_decode(&self) -> bool {
        self.decode_error().is_some()
    }

    /// The server's `message`, if it sent one.
    pub fn message(&self) -> Option<&str> {
        match self.generated()? {
            progenitor_client::Error::ErrorResponse(rv) => Some(&rv.message),
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

/// A generated-client error in one line, with a hint; never the URL or body that progenitor shows.
fn describe(e: &GeneratedError) -> String {
    use progenitor_client::Error as E;
    match e {
        E::ErrorResponse(rv) => {
            let hint = match rv.status().as_u16() {
                401 => " (check the API token)",
                403 => " (the token lacks the permission for this call)",
                404 => " (check the id)",
                429 => " (rate limited; slow down or retry after the reset)",
                500..=599 => " (server-side failure; retry later)",
                _ => "",
            };
            let message = &rv.message;
            format!("Mangrove API error (HTTP {}): {message}{hint}", rv.status())
        }
        E::CommunicationError(err) => format!("could not reach Mangrove: {err}"),
        E::InvalidResponsePayload(_, err) => {
            format!("Mangrove answered with a body this SDK cannot decode: {err}")
        }
        E::ResponseBodyError(err) => format!("reading the response body failed: {err}"),
        E::UnexpectedResponse(r) => format!("unexpected HTTP status {} from Mangrove", r.status()),
        other => other.to_string(),
    }
}

/// Why an export (or the download of its file) did not produce a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// 403 on starting an export: the token is not allowed to export.
    #[error("export refused (HTTP 403): exports need an account-level API token: {message}")]
    Forbidden {
        /// The server's message.
        message: String,
    },
    /// The endpoint answered a summary without an `export` object.
    #[error("the server answered a summary of {} {resource} without an export", summary.count)]
    NotSupported {
        /// The resource that was asked for, e.g. `"projects"`.
        resource: &'static str,
        /// What the server answered, samples as sent (JSON values).
        summary: Summary<serde_json::Value>,
    },
    /// The endpoint answered a summary with an `export` object that has no `id`.
    #[error("the server's summary of {} {resource} has an export with no id", summary.count)]
    ExportWithoutId {
        /// The resource that was asked for, e.g. `"projects"`.
        resource: &'static str,
        /// What the server answered, samples as sent (JSON values).
        summary: Summary<serde_json::Value>,
        /// The `export` object as decoded.
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
    #[error("export {id} not completed after {elapsed:?} ({polls} polls); it may still finish")]
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
    /// The account already runs its maximum of concurrent exports (5).
    #[error("the account already runs its maximum of concurrent exports: {message}")]
    ConcurrencyLimit {
        /// The server's message.
        message: String,
        /// How long the server asked to wait, if it said.
        retry_after: Option<Duration>,
    },
    /// Starting an export failed after the request may have reached the server; not repeated.
    #[error(
        "starting an export of {resource} failed after the request was sent ({detail}); an export \
         MAY have been started, with no export id to attach to, counting against the limit of 5 \
         concurrent exports until it ends: start again only if a duplicate is acceptable"
    )]
    StartUncertain {
        /// What was being exported, e.g. `"projects"` or `"Delivery"`.
        resource: String,
        /// The HTTP status of the answer, if one came.
        status: Option<StatusCode>,
        /// What went wrong, without credentials.
        detail: String,
    },
    /// No slot of the export limiter came free in time; no request was sent.
    #[error(
        "{held} unfinished exports hold the export slots (limit {limit}; holders: {}) and no slot \
         came free in {waited:?}; await or drop those exports, or raise \
         ClientBuilder::export_slot_wait",
        crate::slot_snapshot::HolderList(holders)
    )]
    NoFreeSlot {
        /// Exports holding a slot (started, not yet seen to end): this client's, or with a
        /// shared slot store every process's.
        held: usize,
        /// The limiter's size (`ClientBuilder::export_concurrency`).
        limit: usize,
        /// How long the start waited in all.
        waited: Duration,
        /// Who holds the slots (holder label, export id, age), as the slot store last saw them.
        holders: Vec<crate::slot_snapshot::SlotHolder>,
    },
    /// The shared slot store (e.g. Redis) could not be reached for as long as the start may wait
    /// for a slot; no request was sent. The SDK does not fall back to its in-process limiter
    /// unless told to.
    #[error("the export slot store is unreachable ({message}); gave up after {waited:?}")]
    SlotStoreUnavailable {
        /// What went wrong (no credentials).
        message: String,
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
    /// The storage host answered an error status that resuming or a fresh URL cannot fix.
    #[error("the storage host answered HTTP {status}: {message}")]
    DownloadStatus {
        /// HTTP status.
        status: StatusCode,
        /// The storage host's message and what to do.
        message: String,
    },
    /// The downloaded file's size differs from the export's `file_size_bytes`.
    #[error("downloaded {actual} bytes but the export reported {expected}; the file was not kept")]
    SizeMismatch {
        /// Size the server reported.
        expected: u64,
        /// Bytes received (when more arrived: when the download stopped).
        actual: u64,
    },
    /// The download broke more often than [`DownloadPolicy`](crate::DownloadPolicy) allows.
    #[error("the download broke after {received} bytes ({attempts} attempts): {source}")]
    Interrupted {
        /// Bytes received in all.
        received: u64,
        /// Requests made.
        attempts: u32,
        /// The last failure (a transport error or an error status).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The file changed on the storage host (new `ETag`) while it was being streamed.
    #[error("the export file changed on the storage host after {received} bytes were streamed")]
    Changed {
        /// Bytes handed out before the change was seen.
        received: u64,
    },
    /// Neither `format`, the URL's extension nor the `Content-Type` says CSV or JSON.
    #[error(
        "cannot tell whether the export file is CSV or JSON (format: {}, URL extension: {}, \
         Content-Type: {}); read it with records::from_reader",
        .format.as_deref().unwrap_or("none"),
        .extension.as_deref().unwrap_or("none"),
        .content_type.as_deref().unwrap_or("none")
    )]
    UnknownFormat {
        /// The export's `format`, if the server sent one.
        format: Option<String>,
        /// The extension of the download URL's path, if any.
        extension: Option<String>,
        /// The storage host's `Content-Type`, if any.
        content_type: Option<String>,
    },
    /// The storage host's answer breaks HTTP's rules for ranges.
    #[error("the storage host's answer cannot be used: {message}; try again later")]
    InvalidDownload {
        /// What was wrong.
        message: String,
    },
    /// Creating, writing or renaming the downloaded file failed.
    #[error("writing the export file {} failed: {source}", .path.display())]
    Io {
        /// The file asked for.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// An API call failed.
    #[error(transparent)]
    Api(#[from] Error),
}

impl From<GeneratedError> for ExportError {
    fn from(e: GeneratedError) -> Self {
        ExportError::Api(Error::from(e))
    }
}

impl ExportError {
    /// The HTTP status behind this error (the API's or the storage host's), if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ExportError::Api(e) => e.status(),
            ExportError::Forbidden { .. } => Some(StatusCode::FORBIDDEN),
            ExportError::Expired { .. } => Some(StatusCode::NOT_FOUND),
            ExportError::ConcurrencyLimit { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            ExportError::StartUncertain { status, .. } => *status,
            ExportError::DownloadStatus { status, .. } => Some(*status),
            ExportError::Interrupted { source, .. } => {
                source.downcast_ref::<ExportError>()?.status()
            }
            _ => None,
        }
    }

    /// A time limit ran out: the poll policy's, a request's or the download's.
    pub fn is_timeout(&self) -> bool {
        match self {
            ExportError::TimedOut { .. } => true,
            ExportError::Api(e) => e.is_timeout(),
            ExportError::Interrupted { source, .. } => source
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_timeout),
            _ => false,
        }
    }

    /// An API answer did not decode into the documented type.
    pub fn is_decode(&self) -> bool {
        matches!(self, ExportError::Api(e) if e.is_decode())
    }
}

/// The predicates every error type of the crate answers the same way, from its `status()`.
macro_rules! status_predicates {
    ($($ty:ty),*) => {$(
        impl $ty {
            /// HTTP 403: the token (or, for a download, the signed URL) is not allowed.
            pub fn is_forbidden(&self) -> bool {
                self.status() == Some(StatusCode::FORBIDDEN)
            }

            /// HTTP 404: the id does not exist (or the export was cleaned up).
            pub fn is_not_found(&self) -> bool {
                self.status() == Some(StatusCode::NOT_FOUND)
            }

            /// HTTP 429: a rate limit or the account's concurrent-export limit, after the
            /// retry policy gave up waiting.
            pub fn is_rate_limited(&self) -> bool {
                self.status() == Some(StatusCode::TOO_MANY_REQUESTS)
            }

            /// HTTP 5xx: a failure on the server's side; retrying later may help.
            pub fn is_server_error(&self) -> bool {
                self.status().is_some_and(|s| s.is_server_error())
            }
        }
    )*};
}

status_predicates!(Error, ExportError);
