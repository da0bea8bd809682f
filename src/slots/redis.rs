//! [`RedisSlotStore`]: the account's export slots shared by every process that uses one Redis
//! and one namespace (feature `redis`).
//!
//! Each change is one Lua script (`lua/*.lua`, each prefixed with `lua/common.lua`) that reads
//! Redis's own clock (`TIME`): no clock skew between hosts, no race between steps. The keys of a
//! namespace share one hash tag, `{mgv:NAMESPACE}`, so Redis Cluster keeps them on one shard.
//! Waiters are woken by `PUBLISH` on `{mgv:NAMESPACE}:freed` when a slot is given back.

use std::fmt;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use futures::future::{BoxFuture, FutureExt as _};
use futures::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::Script;
use tokio::sync::{watch, OnceCell};
use tokio::task::AbortHandle;

use super::store::{
    default_holder_label, Admission, LeaseRecord, Reclaim, Renewal, SlotRequest, SlotStore,
    SlotStoreError,
};
use crate::slot_snapshot::{SlotHolder, SlotSnapshot};

macro_rules! script {
    ($file:literal) => {
        LazyLock::new(|| {
            Script::new(concat!(
                include_str!("lua/common.lua"),
                include_str!(concat!("lua/", $file))
            ))
        })
    };
}

static ADMIT: LazyLock<Script> = script!("admit.lua");
static RENEW: LazyLock<Script> = script!("renew.lua");
static RELEASE: LazyLock<Script> = script!("release.lua");
static RECLAIM: LazyLock<Script> = script!("reclaim.lua");
static SNAPSHOT: LazyLock<Script> = script!("snapshot.lua");

/// Export slots shared through Redis (feature `redis`): every process whose client uses the same
/// Redis and namespace shares the account's 5 slots.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::sync::Arc;
/// use mangrove::slots::RedisSlotStore;
/// let slots = RedisSlotStore::builder("redis://127.0.0.1:6379")
///     .namespace("acme-prod")
///     .holder("nightly-sync")
///     .build()?;
/// let client = mangrove::Client::builder()
///     .from_env()
///     .slot_store(Arc::new(slots))
///     .build()?;
/// # let _ = client; Ok(()) }
/// ```
///
/// - A held slot carries a lease that its process renews every third of
///   [`lease`](RedisSlotStoreBuilder::lease) (default 6 s). A lapsed lease (the process died or
///   hung) frees nothing by itself: a waiting process asks the server about the slot's export
///   (`GET /exports/{id}`) and frees the slot when it is completed, failed or gone. A lapsed
///   slot whose start was never answered (no export id) is freed after
///   [`start_grace`](RedisSlotStoreBuilder::start_grace) (default 60 s, the API request
///   time-out).
/// - After Redis lost its data (a restart without persistence), and on first use of a
///   namespace, admissions wait one renewal interval and a half (3 s by default), so that live
///   holders re-add their slots first.
/// - Redis unreachable: starts wait up to the client's slot wait, then fail with
///   [`ExportError::SlotStoreUnavailable`](crate::ExportError::SlotStoreUnavailable); there is no
///   silent fallback to per-process limits.
///
/// The connection is opened on first use (with `rediss://`, over rustls) and re-opened after a
/// failure. The URL (which may hold a password) is never logged.
#[derive(Clone)]
pub struct RedisSlotStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: redis::Client,
    config: ConnectionManagerConfig,
    connection: OnceCell<ConnectionManager>,
    /// Keys of the namespace, in the scripts' `KEYS` order.
    keys: [String; 8],
    channel: String,
    namespace: String,
    holder: String,
    lease: Duration,
    grace: Duration,
    freed: watch::Sender<u64>,
    subscriber: Mutex<Option<AbortHandle>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = self
            .subscriber
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            task.abort();
        }
    }
}

impl fmt::Debug for RedisSlotStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No URL: it may hold a password.
        f.debug_struct("RedisSlotStore")
            .field("namespace", &self.inner.namespace)
            .field("holder", &self.inner.holder)
            .field("lease", &self.inner.lease)
            .field("start_grace", &self.inner.grace)
            .finish_non_exhaustive()
    }
}

/// Builds a [`RedisSlotStore`]: [`RedisSlotStore::builder`].
#[must_use]
pub struct RedisSlotStoreBuilder {
    url: String,
    namespace: Option<String>,
    holder: Option<String>,
    lease: Duration,
    grace: Duration,
    timeout: Duration,
}

impl fmt::Debug for RedisSlotStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisSlotStoreBuilder")
            .field("namespace", &self.namespace)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

impl RedisSlotStore {
    /// Starts building a store on `url` (`redis://host:port/db` or `rediss://…`; a password goes
    /// in the URL: `redis://:secret@host`).
    pub fn builder(url: impl Into<String>) -> RedisSlotStoreBuilder {
        RedisSlotStoreBuilder {
            url: url.into(),
            namespace: None,
            holder: None,
            // Short, because a lapse frees nothing by itself (only the server's word on the
            // export does): it costs one renewal every 2 s per process holding slots, and it
            // keeps the warm-up after a Redis restart at 3 s.
            lease: Duration::from_secs(6),
            grace: Duration::from_secs(60),
            timeout: Duration::from_secs(2),
        }
    }

    fn renew_every(&self) -> Duration {
        self.inner.lease / 3
    }

    /// Admissions pause this long after the data was lost: one renewal interval plus half of one.
    fn warmup(&self) -> Duration {
        self.renew_every() + self.renew_every() / 2
    }
}

impl RedisSlotStoreBuilder {
    /// The key namespace (required): one per account, e.g. `acme-prod`. Processes with the same
    /// Redis and namespace share the slots. Never derived from the token, which must not reach
    /// Redis. Letters, digits, `-`, `_`, `.` and `:` only.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// The label of this process's slots, shown to others in
    /// [`ExportError::NoFreeSlot`](crate::ExportError::NoFreeSlot) and snapshots (default
    /// `host/pid N`).
    pub fn holder(mut self, label: impl Into<String>) -> Self {
        self.holder = Some(label.into());
        self
    }

    /// How long a held slot's lease lasts without renewal (default 6 s; renewed every third of
    /// it; at least 30 ms). A lapsed lease frees nothing by itself, so a short one is safe: it
    /// only makes waiting processes ask the server about the holder's export sooner.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How long a lapsed slot without an export id (its holder died before the server answered
    /// the start) stays taken before it is freed (default 60 s: the API request time-out, so a
    /// start the server did receive has been answered by then).
    pub fn start_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Time limit for connecting to Redis and for each answer (default 2 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Checks the URL and namespace (no connection is made yet).
    pub fn build(self) -> Result<RedisSlotStore, SlotStoreError> {
        let namespace = self
            .namespace
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| SlotStoreError::new("a Redis slot store needs a namespace"))?;
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_.:".contains(c);
        if namespace.len() > 100 || !namespace.chars().all(valid) {
            return Err(SlotStoreError::new(format!(
                "namespace {namespace:?}: use letters, digits, '-', '_', '.' and ':' (at most \
                 100)"
            )));
        }
        // The parser's error could quote the URL: say only what is wrong.
        let client = redis::Client::open(self.url.as_str())
            .map_err(|e| SlotStoreError::new(format!("not a usable Redis URL ({:?})", e.kind())))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let tag = format!("{{mgv:{namespace}}}");
        let key = |name: &str| format!("{tag}:{name}");
        let keys = [
            "leases", "info", "queue", "seen", "seq", "epoch", "claims", "gone",
        ]
        .map(key);
        Ok(RedisSlotStore {
            inner: Arc::new(Inner {
                client,
                config,
                connection: OnceCell::new(),
                keys,
                channel: key("freed"),
                namespace,
                holder: self.holder.unwrap_or_else(default_holder_label),
                lease: self.lease,
                grace: self.grace,
                freed: watch::channel(0).0,
                subscriber: Mutex::new(None),
            }),
        })
    }
}

fn store_error(what: &str, e: &redis::RedisError) -> SlotStoreError {
    SlotStoreError::new(format!("Redis {what}: {e}"))
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Inner {
    async fn connection(&self) -> Result<ConnectionManager, SlotStoreError> {
        let manager = self
            .connection
            .get_or_try_init(|| {
                ConnectionManager::new_with_config(self.client.clone(), self.config.clone())
            })
            .await
            .map_err(|e| store_error("connection", &e))?;
        Ok(manager.clone())
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &str,
        script: &Script,
        args: &[String],
    ) -> Result<T, SlotStoreError> {
        let mut connection = self.connection().await?;
        let mut invocation = script.prepare_invoke();
        for key in &self.keys {
            invocation.key(key);
        }
        for arg in args {
            invocation.arg(arg);
        }
        invocation
            .invoke_async(&mut connection)
            .await
            .map_err(|e| store_error(what, &e))
    }
}

/// Forwards the namespace's `freed` messages to the store's watch channel; reconnects after a
/// failure (and then wakes the waiters once: a message may have been missed meanwhile).
async fn subscribe(client: redis::Client, channel: String, freed: watch::Sender<u64>) {
    let bump = |freed: &watch::Sender<u64>| freed.send_modify(|n| *n = n.wrapping_add(1));
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channel).await.is_ok() {
                    bump(&freed);
                    let mut messages = pubsub.on_message();
                    while messages.next().await.is_some() {
                        bump(&freed);
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "export slots: Redis pub/sub unavailable"),
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

impl SlotStore for RedisSlotStore {
    fn admit(&self, r: &SlotRequest<'_>) -> BoxFuture<'static, Result<Admission, SlotStoreError>> {
        let inner = Arc::clone(&self.inner);
        let args = [
            r.ticket.to_string(),
            r.lease.to_string(),
            r.holder.to_string(),
            r.capacity.max(1).to_string(),
            ms(self.inner.lease).to_string(),
            // A ticket lapses when not re-sent for a whole lease (it is re-sent every third).
            ms(self.inner.lease).to_string(),
            ms(self.warmup()).to_string(),
        ];
        async move {
            let (code, position, held, remaining): (i64, i64, i64, i64) =
                inner.run("admission", &ADMIT, &args).await?;
            let count = |n: i64| usize::try_from(n).unwrap_or(0);
            Ok(match code {
                1 => Admission::Granted,
                2 => Admission::WarmingUp {
                    remaining: Duration::from_millis(u64::try_from(remaining).unwrap_or(0)),
                },
                _ => Admission::Queued {
                    position: count(position),
                    held: count(held),
                },
            })
        }
        .boxed()
    }

    fn leave_queue(&self, ticket: &str) -> BoxFuture<'static, Result<(), SlotStoreError>> {
        let inner = Arc::clone(&self.inner);
        let args = ["ticket".into(), ticket.to_string(), inner.channel.clone()];
        async move {
            let _: i64 = inner.run("queue exit", &RELEASE, &args).await?;
            Ok(())
        }
        .boxed()
    }

    fn renew(&self, leases: &[LeaseRecord]) -> BoxFuture<'static, Result<Renewal, SlotStoreError>> {
        let inner = Arc::clone(&self.inner);
        let mut args = vec![
            ms(self.inner.lease).to_string(),
            ms(self.warmup()).to_string(),
        ];
        for l in leases {
            args.push(l.lease.clone());
            args.push(l.holder.clone());
            args.push(l.export_id.clone().unwrap_or_default());
        }
        async move {
            let readded: i64 = inner.run("renewal", &RENEW, &args).await?;
            Ok(Renewal::new(usize::try_from(readded).unwrap_or(0)))
        }
        .boxed()
    }

    fn release(&self, lease: &str) -> BoxFuture<'static, Result<bool, SlotStoreError>> {
        let inner = Arc::clone(&self.inner);
        let args = ["slot".into(), lease.to_string(), inner.channel.clone()];
        async move {
            let removed: i64 = inner.run("release", &RELEASE, &args).await?;
            Ok(removed == 1)
        }
        .boxed()
    }

    fn claim_lapsed(&self, claimer: &str) -> BoxFuture<'static, Result<Reclaim, SlotStoreError>> {
        let inner = Arc::clone(&self.inner);
        let args = [
            "claim".into(),
            claimer.to_string(),
            ms(self.inner.grace).to_string(),
            // One check's worth: a claimer that died lets another try after this.
            ms(self.inner.lease).to_string(),
            inner.channel.clone(),
            String::new(),
        ];
        async move {
            let (freed, flat): (i64, Vec<String>) = inner.run("reclaim", &RECLAIM, &args).await?;
            let claimed = flat
                .chunks_exact(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect();
            Ok(Reclaim::new(claimed, usize::try_from(freed).unwrap_or(0)))
        }
        .boxed()
    }

    fn free_lapsed(
        &self,
        lease: &str,
        claimer: &str,
    ) -> BoxFuture<'static, Result<bool, SlotStoreError>> {
        let inner = Arc::clone(&self.inner);
        let args = [
            "free".into(),
            claimer.to_string(),
            ms(self.inner.grace).to_string(),
            ms(self.inner.lease).to_string(),
            inner.channel.clone(),
            lease.to_string(),
        ];
        async move {
            let freed: i64 = inner.run("reclaim", &RECLAIM, &args).await?;
            Ok(freed == 1)
        }
        .boxed()
    }

    fn changed(&self) -> BoxFuture<'static, ()> {
        let mut rx = self.inner.freed.subscribe();
        {
            let mut task = self
                .inner
                .subscriber
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if task.is_none() {
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    let handle = runtime.spawn(subscribe(
                        self.inner.client.clone(),
                        self.inner.channel.clone(),
                        self.inner.freed.clone(),
                    ));
                    *task = Some(handle.abort_handle());
                }
            }
        }
        async move {
            if rx.changed().await.is_err() {
                futures::future::pending::<()>().await;
            }
        }
        .boxed()
    }

    fn renew_interval(&self) -> Option<Duration> {
        Some(self.renew_every())
    }

    fn snapshot(&self) -> BoxFuture<'static, Result<SlotSnapshot, SlotStoreError>> {
        let inner = Arc::clone(&self.inner);
        async move {
            let values: Vec<redis::Value> = inner.run("snapshot", &SNAPSHOT, &[]).await?;
            parse_snapshot(&values)
        }
        .boxed()
    }

    fn holder_label(&self) -> String {
        self.inner.holder.clone()
    }
}

/// What the snapshot script answers: `now, warm until, queued`, then `lease, deadline, info`
/// per held slot.
fn parse_snapshot(values: &[redis::Value]) -> Result<SlotSnapshot, SlotStoreError> {
    let bad = || SlotStoreError::new("Redis snapshot: unexpected answer");
    let int = |v: &redis::Value| redis::from_redis_value_ref::<i64>(v).map_err(|_| bad());
    let [now, warm, queued, rest @ ..] = values else {
        return Err(bad());
    };
    let (now, warm, queued) = (int(now)?, int(warm)?, int(queued)?);
    #[derive(serde::Deserialize)]
    struct Info {
        #[serde(default)]
        h: String,
        #[serde(default)]
        t: Option<f64>,
        #[serde(default)]
        e: Option<String>,
    }
    let mut holders = Vec::new();
    for entry in rest.chunks_exact(3) {
        let deadline = int(&entry[1])?;
        let info: String = redis::from_redis_value_ref(&entry[2]).map_err(|_| bad())?;
        let info: Info = serde_json::from_str(&info).map_err(|_| bad())?;
        let since = info.t.map_or(now, |t| t as i64);
        let age = Duration::from_millis(u64::try_from(now - since).unwrap_or(0));
        holders.push(SlotHolder::new(info.h, info.e, age).lapsed(deadline < now));
    }
    holders.sort_by_key(|h| std::cmp::Reverse(h.age));
    let warming_up = (warm > now).then(|| Duration::from_millis((warm - now) as u64));
    Ok(SlotSnapshot::new(
        holders,
        usize::try_from(queued).unwrap_or(0),
        warming_up,
    ))
}
