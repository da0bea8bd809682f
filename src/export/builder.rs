//! Starting exports: `summary_with_export` on a list endpoint, or `POST /exports` by type.

use std::time::Duration;

use tokio::time::Instant;

use super::{Export, PollPolicy, SavedExport};
use crate::error::{ExportError, GeneratedError};
use crate::open_enum::{ExportFormat, ResourceType};
use crate::slots::Slot;
use crate::types;
use crate::Client;

/// The boxed `Send` future that starts an export; boxed so it can be spawned from generic code.
pub type StartFuture<'a, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, ExportError>> + Send + 'a>>;

/// An export about to start, from a list request (`S` is the request: made by
/// [`.summary_with_export()`](crate::Exportable::summary_with_export) after its filters and sort) or
/// from a resource type (`S` is [`ResourceType`]: made by [`Client::export_resource`]).
///
/// ```no_run
/// use mangrove::prelude::*;
/// # async fn run(client: mangrove::Client) -> Result<(), mangrove::ExportError> {
/// let (summary, export) = client
///     .list_events()
///     .project_id(123)
///     .sort("-start_time")
///     .summary_with_export()
///     .format(ExportFormat::Json)
///     .send()
///     .await?;
/// let deliveries = client.export_resource(ResourceType::Delivery).send().await?;
/// # Ok(()) }
/// ```
///
/// `send()` waits first for a free slot in the client's export limiter (at most
/// [`ClientBuilder::export_slot_wait`](crate::ClientBuilder::export_slot_wait), then
/// [`ExportError::NoFreeSlot`]). A 403 is [`ExportError::Forbidden`]; the server's
/// concurrent-export limit (429) is waited out within the poll policy's time limit, then
/// [`ExportError::ConcurrencyLimit`]. A summary without an `export` object is
/// [`ExportError::NotSupported`] (it keeps the summary), one without an export `id`
/// [`ExportError::ExportWithoutId`].
///
/// **The start is never repeated blindly**: it is sent again only when it cannot have reached
/// the server (the connection could not be opened) or the server refused it with a 429. Any
/// other failure (5xx, time-out, connection lost after sending, unreadable answer) is
/// [`ExportError::StartUncertain`]: an export may have been started.
#[must_use = "call .send() to start the export"]
#[derive(Clone, Debug)]
pub struct StartExport<S> {
    pub(crate) source: S,
    client: Client,
    pub(crate) format: ExportFormat,
    policy: Option<PollPolicy>,
}

impl<S> StartExport<S> {
    pub(crate) fn new(client: Client, source: S) -> Self {
        StartExport {
            source,
            client,
            format: ExportFormat::Csv,
            policy: None,
        }
    }

    /// The file format (default CSV).
    pub fn format(mut self, format: ExportFormat) -> Self {
        self.format = format;
        self
    }

    /// The polling policy of the export (default: the client's).
    pub fn poll_policy(mut self, policy: PollPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

impl StartExport<ResourceType> {
    /// Starts the export (`POST /exports`).
    pub fn send(self) -> StartFuture<'static, Export> {
        let body = types::CreateExportRequest {
            resource_type: self.source.clone(),
            format: Some(self.format.clone()),
        };
        let client = self.client.clone();
        let send = move || {
            let (client, body) = (client.clone(), body.clone());
            async move { Ok(client.create_export().body(body).send().await?.into_inner()) }
        };
        Box::pin(async move {
            let resource = self.source.to_string();
            let saved = |c: &types::ExportJob| {
                Ok(SavedExport {
                    id: c.id.clone(),
                    status_url: c.status_url.clone(),
                })
            };
            Ok(start(self, &resource, send, saved).await?.1)
        })
    }
}

impl Client {
    /// Starts an export of a whole resource type (`POST /exports`), e.g.
    /// [`ResourceType::Delivery`], which has no list endpoint. See [`StartExport`].
    pub fn export_resource(&self, resource_type: ResourceType) -> StartExport<ResourceType> {
        StartExport::new(self.clone(), resource_type)
    }
}

/// What both ways of starting share: a limiter slot, the request, the export's id, the handle.
///
/// The start is sent again only after a 429 (nothing started), within the policy's time limit
/// and at its pace at least. A 429 means the server counts the account's exports as running
/// although the limiter granted a slot: exports started outside the SDK (the web app, a script)
/// or by a process that shares no slot store. The slot is given back before the wait (it is not
/// ours to hold while the server refuses) and the start queues again, so the waiting starts of
/// every process keep their order; the mismatch is logged as drift.
/// (The list way, `summary_with_export`, is implemented in `resource`, above this layer.)
pub(crate) async fn start<S, T, F, Fut>(
    builder: StartExport<S>,
    resource: &str,
    mut send: F,
    export_of: impl FnOnce(&T) -> Result<SavedExport, ExportError>,
) -> Result<(T, Export), ExportError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, GeneratedError>>,
{
    use tracing::Instrument;
    let StartExport {
        client,
        format,
        policy,
        ..
    } = builder;
    let policy = policy.unwrap_or_else(|| client.state().poll_policy.clone());
    let bound = client.state().export_slot_wait.unwrap_or(policy.time_limit);
    let limiter = client.state().export_limiter.clone();
    let span = tracing::info_span!("mangrove.export.start", resource, format = %format);
    let started = Instant::now();
    let mut attempt = 0u32;
    loop {
        let slot = Slot::acquire(limiter.clone(), &client, &policy, bound).await?;
        attempt += 1;
        let err = match send().instrument(span.clone()).await {
            Ok(answer) => {
                let saved = export_of(&answer)?;
                slot.started(saved.clone()).await;
                return Ok((answer, Export::started(client, saved, policy, slot)));
            }
            Err(e) => e,
        };
        let rv = limit_refusal(err, resource)?;
        // Given back now: holding it through the wait would keep another process's start out.
        slot.released().await;
        drop(slot);
        let retry_after = crate::wire::retry_after(rv.headers());
        // At the policy's pace at least: a `Retry-After: 0` is not a reason to burst.
        let wait = policy.schedule().wait(attempt, retry_after);
        if !crate::settings::within(started.elapsed(), wait, policy.time_limit) {
            return Err(ExportError::ConcurrencyLimit {
                message: rv.message.clone(),
                retry_after,
            });
        }
        span.in_scope(|| {
            if limiter.is_some() {
                tracing::warn!(
                    drift = 1,
                    wait_ms = wait.as_millis() as u64,
                    message = %rv.message,
                    "export limit reached although the limiter granted a slot (exports started \
                     outside the SDK?); slot given back, waiting, then queueing again"
                );
            } else {
                tracing::info!(wait_ms = wait.as_millis() as u64, message = %rv.message, "export limit reached; waiting");
            }
        });
        tokio::time::sleep(wait.max(Duration::from_millis(1))).await;
    }
}

/// What a failed start means: `Ok` for a 429 (nothing started; it may be waited out), else the
/// final error. Only a 429 and a connection never opened prove that nothing started; other 4xx
/// are refusals; anything else may have started an export ([`ExportError::StartUncertain`]).
#[allow(clippy::result_large_err)]
fn limit_refusal(
    err: GeneratedError,
    resource: &str,
) -> Result<progenitor_client::ResponseValue<types::ApiError>, ExportError> {
    use progenitor_client::Error as E;
    let uncertain = |status: Option<reqwest::StatusCode>, detail: String| {
        Err(ExportError::StartUncertain {
            resource: resource.to_string(),
            status,
            detail,
        })
    };
    match err {
        E::ErrorResponse(rv) => match rv.status().as_u16() {
            403 => Err(ExportError::Forbidden {
                message: rv.message.clone(),
            }),
            429 => Ok(rv),
            400..=499 => Err(E::ErrorResponse(rv).into()),
            _ => {
                let status = rv.status();
                uncertain(Some(status), format!("HTTP {status}: {}", rv.message))
            }
        },
        E::CommunicationError(e) if e.is_connect() => Err(E::CommunicationError(e).into()),
        E::CommunicationError(e) => {
            let what = if e.is_timeout() {
                "no answer within the time limit"
            } else {
                "the connection failed after the request was sent"
            };
            uncertain(e.status(), format!("{what}: {}", e.without_url()))
        }
        E::ResponseBodyError(e) => uncertain(
            e.status(),
            format!("the answer could not be read: {}", e.without_url()),
        ),
        E::InvalidResponsePayload(_, e) => {
            uncertain(None, format!("the answer could not be decoded: {e}"))
        }
        E::UnexpectedResponse(r) => {
            let status = r.status();
            if status.is_client_error() {
                Err(E::UnexpectedResponse(r).into())
            } else {
                uncertain(Some(status), format!("unexpected HTTP status {status}"))
            }
        }
        other => Err(other.into()),
    }
}
