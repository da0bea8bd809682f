//! Exports: start one, await it, follow its progress, resume it after a restart (the
//! [crate docs](crate)' quick start shows the whole flow).
//!
//! [`StartExport`] starts one, [`Export`] is the handle (one [`status`](Export::status), a
//! stream of [`statuses`](Export::statuses), `.await` until done, [`Export::attach`] after a
//! restart), [`CompletedExport`] the finished file, [`PollPolicy`] the pace. Several exports at
//! once: see [`Export`].
//!
//! ```no_run
//! use mangrove::prelude::*;
//!
//! # async fn run(client: Client) -> Result<(), ExportError> {
//! let (summary, export) = client.list_projects().summary_with_export().send().await?;
//! let saved = export.saved(); // store it to `Export::attach` after a restart
//! let file = export
//!     .on_status(|s| eprintln!("{} after {:?}", s.status, s.elapsed))
//!     .await?;
//! file.download_to("projects.csv").await?;
//! # Ok(()) }
//! ```
//!
//! **Credentials stay home.** The `status_url` the server gives is followed only when it has the
//! API base URL's origin (scheme, host, port). Otherwise the status is read by id from the base
//! URL (`GET /exports/{id}`) and a warning is logged: the token is never sent to another origin.

mod builder;
mod poller;
mod probe;

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;

pub(crate) use builder::start;
pub use builder::{StartExport, StartFuture};
// Re-exported here too: first published at `mangrove::export::PollPolicy`.
pub use crate::settings::PollPolicy;

use crate::error::ExportError;
use crate::open_enum::{ExportFormat, ExportStatus};
use crate::redact::redact_query;
use crate::slots::Slot;
use crate::{types, Client};
// Re-exported here too: first published at `mangrove::export::SavedExport`.
pub use crate::saved_export::SavedExport;

/// A started export: await it for the [`CompletedExport`]. `Send + 'static` and cheap to clone;
/// dropping every clone (and every future made from it) stops polling and frees its limiter slot
/// (the export itself keeps running on the server).
///
/// Made by [`StartExport::send`] (from `.summary_with_export()` or [`Client::export_resource`])
/// or by [`Export::attach`] with the id of an export started earlier.
///
/// # `IntoFuture`, not `Future`
///
/// An `Export` is a handle, not a running future: it can be cloned, stored
/// ([`saved`](Export::saved)), asked for one [`status`](Export::status) or a stream of
/// [`statuses`](Export::statuses), and awaited. It implements [`IntoFuture`] so that `.await`
/// starts the polling loop (an [`ExportFuture`]) while the handle itself stays a plain value with
/// those methods. `.await`, `tokio::join!` and `tokio::try_join!` (tokio 1.39 or later) take it
/// as it is; `futures` combinators (`futures::try_join!`, `try_join_all`, `FuturesUnordered`)
/// take futures: call [`.into_future()`](IntoFuture::into_future) first.
///
/// # Several exports at once
///
/// ```no_run
/// use std::future::IntoFuture;
///
/// use mangrove::prelude::*;
/// use mangrove::CompletedExport;
///
/// # async fn run(client: Client) -> Result<(), ExportError> {
/// // Two exports, started together and awaited together.
/// let ((_, batches), (_, projects)) = tokio::try_join!(
///     client.list_batches().summary_with_export().send(),
///     client.list_projects().summary_with_export().send(),
/// )?;
/// let (batches, projects) = tokio::try_join!(batches, projects)?;
/// tokio::try_join!(
///     batches.download_to("batches.csv"),
///     projects.download_to("projects.csv"),
/// )?;
///
/// // Any number: `try_join_all` takes futures, so convert each export first.
/// let mut exports = Vec::new();
/// for project in [1, 2, 3] {
///     let request = client.list_events().project_id(project);
///     let (_, export) = request.summary_with_export().send().await?;
///     exports.push(export.into_future());
/// }
/// let files: Vec<CompletedExport> = futures::future::try_join_all(exports).await?;
/// # Ok(()) }
/// ```
///
/// The client keeps at most 5 exports in flight (the account's limit,
/// [`ClientBuilder::export_concurrency`](crate::ClientBuilder::export_concurrency)): a sixth
/// `send()` waits until one of them has ended. With more than 5, start and await each in its
/// own task (`tokio::spawn`) rather than starting all of them before awaiting any.
#[derive(Clone)]
#[must_use = "an export does nothing until awaited or polled"]
pub struct Export {
    pub(crate) client: Client,
    saved: SavedExport,
    policy: PollPolicy,
    slot: Option<Arc<Slot>>,
    observer: Option<StatusObserver>,
    /// Started by this handle (first poll after the policy's initial delay) or attached (poll now).
    fresh: bool,
}

impl std::fmt::Debug for Export {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Export")
            .field("id", &self.saved.id)
            .field("observed", &self.observer.is_some())
            .field("status_url", &self.saved.status_url)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A callback that sees every status while an export is awaited.
pub(crate) type StatusObserver = Arc<dyn Fn(&ExportSnapshot) + Send + Sync>;

impl Export {
    pub(crate) fn started(
        client: Client,
        saved: SavedExport,
        policy: PollPolicy,
        slot: Arc<Slot>,
    ) -> Self {
        Export {
            client,
            saved,
            policy,
            slot: Some(slot),
            observer: None,
            fresh: true,
        }
    }

    /// Resumes an export started earlier (by this or another process) from its id or a
    /// [`SavedExport`]. Uses the client's poll policy; it takes no slot in the client's limiter.
    pub fn attach(client: &Client, saved: impl Into<SavedExport>) -> Export {
        let saved = saved.into();
        Export {
            client: client.clone(),
            saved,
            policy: client.state().poll_policy.clone(),
            slot: None,
            observer: None,
            fresh: false,
        }
    }

    /// The export's id.
    pub fn id(&self) -> &str {
        &self.saved.id
    }

    /// The status URL the server gave.
    pub fn status_url(&self) -> Option<&str> {
        self.saved.status_url.as_deref()
    }

    /// The id and status URL, to store and [`attach`](Export::attach) to later.
    pub fn saved(&self) -> SavedExport {
        self.saved.clone()
    }

    /// Uses another polling policy for this export.
    pub fn with_policy(mut self, policy: PollPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Calls `f` with every status seen while this export is awaited (for a progress bar).
    ///
    /// ```no_run
    /// # async fn run(export: mangrove::Export) -> Result<(), mangrove::ExportError> {
    /// let file = export
    ///     .on_status(|s| eprintln!("{} after {} polls", s.status, s.polls))
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn on_status(mut self, f: impl Fn(&ExportSnapshot) + Send + Sync + 'static) -> Self {
        self.observer = Some(Arc::new(f));
        self
    }

    /// Asks for the export's status once (no waiting, no polling loop).
    pub async fn status(&self) -> Result<ExportSnapshot, ExportError> {
        let raw = poller::fetch_status(self)
            .await
            .map_err(poller::PollFailure::into_error)?;
        Ok(ExportSnapshot::new(raw, 1, Duration::ZERO))
    }

    /// Every status seen while polling with this export's policy; the last item is the `completed`
    /// snapshot or an error ([`ExportError::Failed`], [`ExportError::TimedOut`], …).
    pub fn statuses(
        &self,
    ) -> impl Stream<Item = Result<ExportSnapshot, ExportError>> + Send + Unpin + 'static {
        poller::Poller::new(self.clone()).into_stream()
    }
}

/// The future returned by awaiting an [`Export`].
pub type ExportFuture =
    Pin<Box<dyn Future<Output = Result<CompletedExport, ExportError>> + Send + 'static>>;

impl IntoFuture for Export {
    type Output = Result<CompletedExport, ExportError>;
    type IntoFuture = ExportFuture;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(poller::Poller::new(self).until_done())
    }
}

/// One status answer of an export, with how far polling has got. `Debug` hides the query of
/// `raw.download_url` (the pre-signed URL's credential).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ExportSnapshot {
    /// The status. When the server leaves it out it is inferred: `completed` if there is a
    /// `download_url`, `failed` if there is an `error`, else `pending`.
    pub status: ExportStatus,
    /// The server's answer as it came.
    pub raw: types::ExportJob,
    /// Status requests made so far by this poller (this one included).
    pub polls: u32,
    /// Time since polling started.
    pub elapsed: Duration,
}

impl ExportSnapshot {
    pub(crate) fn new(raw: types::ExportJob, polls: u32, elapsed: Duration) -> Self {
        let status = match &raw.status {
            Some(s) => s.clone(),
            None if raw.download_url.is_some() => ExportStatus::Completed,
            None if raw.error.is_some() => ExportStatus::Failed,
            None => ExportStatus::Pending,
        };
        ExportSnapshot {
            status,
            raw,
            polls,
            elapsed,
        }
    }
}

impl From<types::ExportJob> for ExportSnapshot {
    /// Interprets a raw status answer (for example one fetched with `client.get_export()`).
    fn from(raw: types::ExportJob) -> Self {
        ExportSnapshot::new(raw, 0, Duration::ZERO)
    }
}

/// A finished export: where its file is and what it is. Download it with
/// [`download_to`](CompletedExport::download_to) or stream it
/// ([`bytes_stream`](CompletedExport::bytes_stream), [`records`](CompletedExport::records)).
#[derive(Clone)]
pub struct CompletedExport {
    /// The export, attached without a limiter slot.
    pub(crate) handle: Export,
    pub(crate) download_url: String,
    pub(crate) file_size_bytes: Option<u64>,
    pub(crate) format: Option<ExportFormat>,
    pub(crate) created_at: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) completed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub(crate) polls: u32,
    pub(crate) elapsed: Duration,
}

impl std::fmt::Debug for CompletedExport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompletedExport")
            .field("id", &self.handle.saved.id)
            .field("download_url", &redact_query(&self.download_url))
            .field("file_size_bytes", &self.file_size_bytes)
            .field("format", &self.format)
            .field("polls", &self.polls)
            .field("elapsed", &self.elapsed)
            .finish_non_exhaustive()
    }
}

impl CompletedExport {
    pub(crate) fn from_snapshot(export: &Export, s: ExportSnapshot) -> Result<Self, ExportError> {
        let raw = s.raw;
        let download_url = raw
            .download_url
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| ExportError::InvalidResponse {
                id: raw.id.clone(),
                message: "status is completed but there is no download_url".into(),
            })?;
        let file_size_bytes = match raw.file_size_bytes {
            Some(n) if n < 0 => {
                return Err(ExportError::InvalidResponse {
                    id: raw.id.clone(),
                    message: format!("negative file_size_bytes {n}"),
                })
            }
            Some(n) => u64::try_from(n).ok(),
            None => None,
        };
        Ok(CompletedExport {
            handle: Export::attach(&export.client, export.saved()),
            download_url,
            file_size_bytes,
            format: raw.format,
            created_at: raw.created_at,
            completed_at: raw.completed_at,
            polls: s.polls,
            elapsed: s.elapsed,
        })
    }

    /// The export's id.
    pub fn id(&self) -> &str {
        self.handle.id()
    }

    /// The temporary download URL (valid 24 hours; a credential — do not log it).
    pub fn download_url(&self) -> &str {
        &self.download_url
    }

    /// The file's size as the server reported it.
    pub fn file_size_bytes(&self) -> Option<u64> {
        self.file_size_bytes
    }

    /// The file's format as the server reported it.
    pub fn format(&self) -> Option<&ExportFormat> {
        self.format.as_ref()
    }

    /// When the export was created.
    pub fn created_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.created_at
    }

    /// When the export completed.
    pub fn completed_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.completed_at
    }

    /// Status requests it took.
    pub fn polls(&self) -> u32 {
        self.polls
    }

    /// Time from the start of polling to completion.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// The export handle again (e.g. to fetch a fresh download URL).
    pub fn export(&self) -> Export {
        self.handle.clone()
    }
}
