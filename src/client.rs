//! Building a [`Client`] (generated from `openapi.yaml`, one method per operation):
//! [`Client::builder`] or [`Client::from_env`].
//!
//! ```
//! # fn main() -> Result<(), mangrove::Error> {
//! let client = mangrove::Client::builder()
//!     .token("my-token")
//!     .connect_timeout(std::time::Duration::from_secs(5))
//!     .build()?;
//! assert_eq!(client.base_url(), "https://app.gomangrove.com/api/v1");
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use progenitor_client::ClientInfo;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};

use crate::error::Error;
use crate::retry::RateLimit;
// Re-exported here too: they were first published at `mangrove::client::*`.
pub use crate::settings::{
    user_agent, BASE_URL_ENV, DEFAULT_BASE_URL, DEFAULT_EXPORT_CONCURRENCY, TOKEN_ENV,
};

/// The Redis URL whose store [`ClientBuilder::from_env`] shares the export slots through
/// (`redis://` or `rediss://`; feature `redis`).
pub const REDIS_URL_ENV: &str = "MANGROVE_REDIS_URL";

/// The key namespace in that Redis (required with [`REDIS_URL_ENV`]): one per account, e.g.
/// `acme-prod`. Processes with the same namespace share 5 slots.
pub const REDIS_NAMESPACE_ENV: &str = "MANGROVE_REDIS_NAMESPACE";

/// Set to `local` to let a process count its exports alone while Redis is unreachable
/// ([`FallbackSlotStore`](crate::slots::FallbackSlotStore)); unset, an unreachable Redis ends a
/// start's wait with [`ExportError::SlotStoreUnavailable`](crate::ExportError::SlotStoreUnavailable).
pub const REDIS_FALLBACK_ENV: &str = "MANGROVE_REDIS_FALLBACK";
use crate::settings::{DownloadPolicy, PollPolicy, RetryPolicy};
use crate::slots::{Limiter, LocalSlotStore, SlotSnapshot, SlotStore, SlotStoreError};
use crate::Client;

/// How the token is written in the `Authorization` header (the Mangrove docs show both forms).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthScheme {
    /// `Authorization: Bearer <token>` (default).
    #[default]
    Bearer,
    /// `Authorization: <token>`.
    Bare,
}

/// Builds a [`Client`]. Start with [`Client::builder`].
#[derive(Clone)]
#[must_use]
pub struct ClientBuilder {
    token: Option<String>,
    base_url: Option<String>,
    auth_scheme: AuthScheme,
    connect_timeout: Option<Duration>,
    timeout: Option<Duration>,
    poll_policy: PollPolicy,
    retry_policy: RetryPolicy,
    download_policy: DownloadPolicy,
    export_concurrency: Option<usize>,
    export_slot_wait: Option<Duration>,
    slot_store: Option<Arc<dyn SlotStore>>,
    /// `MANGROVE_REDIS_URL`, `MANGROVE_REDIS_NAMESPACE` and `MANGROVE_REDIS_FALLBACK`, read by
    /// `from_env`.
    redis_from_env: Option<(String, Option<String>, Option<String>)>,
    allow_insecure_http: bool,
    pool_idle_timeout: Option<Duration>,
    tls: crate::tls::Tls,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            token: None,
            base_url: None,
            auth_scheme: AuthScheme::default(),
            connect_timeout: Some(Duration::from_secs(10)),
            timeout: Some(Duration::from_secs(60)),
            poll_policy: PollPolicy::default(),
            retry_policy: RetryPolicy::default(),
            download_policy: DownloadPolicy::default(),
            export_concurrency: Some(DEFAULT_EXPORT_CONCURRENCY),
            export_slot_wait: None,
            slot_store: None,
            redis_from_env: None,
            allow_insecure_http: false,
            pool_idle_timeout: Some(Duration::from_secs(90)),
            tls: crate::tls::Tls::default(),
        }
    }
}

/// Never shows the token.
impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("base_url", &self.base_url)
            .field("auth_scheme", &self.auth_scheme)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    setters! {
        /// How the token is written in `Authorization` (default `Bearer <token>`).
        auth_scheme: AuthScheme;
        /// Default polling policy for exports started with this client.
        poll_policy: PollPolicy;
        /// Retry policy for every API request (rate limits, transient failures).
        retry_policy: RetryPolicy;
        /// Policy for downloading export files (timeouts, resume attempts).
        download_policy: DownloadPolicy;
        /// Allows an `http://` base URL on a non-loopback host (the token then travels unencrypted).
        allow_insecure_http: bool;
        /// Time limit for opening a connection (default 10 s; `None`: no limit).
        connect_timeout: impl Into<Option<Duration>>;
        /// Time limit for one API request, downloads excepted (default 60 s; `None`: no limit).
        ///
        /// Tests that run on tokio's paused clock (`#[tokio::test(start_paused = true)]`) should
        /// set all three time-outs (`connect_timeout`, `timeout`, `pool_idle_timeout`) to `None`:
        /// these timers run on tokio's clock, and a paused clock jumps to the next timer whenever
        /// the runtime has nothing else to do, which includes waiting for a real server's bytes.
        /// A time-out would then fire at once, in the middle of an answer that was on its way.
        timeout: impl Into<Option<Duration>>;
        /// How long idle pooled connections are kept (default 90 s; `None`: forever).
        pool_idle_timeout: impl Into<Option<Duration>>;
    }

    /// The API token (required; surrounding whitespace is dropped). Never logged.
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }

    /// The API base URL (default [`DEFAULT_BASE_URL`]; `http://` only on loopback by default).
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Reads [`TOKEN_ENV`] and [`BASE_URL_ENV`] into this builder, unless blank. When
    /// [`REDIS_URL_ENV`] (`MANGROVE_REDIS_URL`) is set, the export slots are shared through that
    /// Redis under the namespace [`REDIS_NAMESPACE_ENV`] (`MANGROVE_REDIS_NAMESPACE`, required):
    /// see [`ClientBuilder::slot_store`]. That needs the `redis` feature; without it, `build()`
    /// refuses rather than silently limiting this process alone.
    pub fn from_env(mut self) -> Self {
        let var = |name| {
            std::env::var(name)
                .ok()
                .filter(|v: &String| !v.trim().is_empty())
        };
        self.token = var(TOKEN_ENV).or(self.token);
        self.base_url = var(BASE_URL_ENV)
            .map(|url| url.trim().into())
            .or(self.base_url);
        if let Some(url) = var(REDIS_URL_ENV) {
            let namespace = var(REDIS_NAMESPACE_ENV).map(|n| n.trim().to_string());
            let fallback = var(REDIS_FALLBACK_ENV).map(|f| f.trim().to_string());
            self.redis_from_env = Some((url.trim().to_string(), namespace, fallback));
        }
        self
    }

    /// Most exports in flight from this client (default 5; `None`: no client-side limiter).
    pub fn export_concurrency(mut self, limit: impl Into<Option<usize>>) -> Self {
        self.export_concurrency = limit.into().map(|n| n.max(1));
        self
    }

    /// Longest wait of an export start for a limiter slot (default: the poll policy's time limit).
    /// The bound restarts whenever the queue moves; a slot store that fails for this long ends
    /// the wait with [`ExportError::SlotStoreUnavailable`](crate::ExportError::SlotStoreUnavailable).
    pub fn export_slot_wait(mut self, wait: Duration) -> Self {
        self.export_slot_wait = Some(wait);
        self
    }

    /// Where the export limiter counts the account's slots (default: a
    /// [`LocalSlotStore`] of this client alone). Pass one
    /// `Arc<LocalSlotStore>` to several clients of a process to share the slots among them, or a
    /// [`RedisSlotStore`](crate::slots::SlotStore) (feature `redis`) to share them with other
    /// processes. Takes precedence over [`REDIS_URL_ENV`] read by [`from_env`](Self::from_env).
    ///
    /// ```
    /// # fn main() -> Result<(), mangrove::Error> {
    /// use std::sync::Arc;
    /// use mangrove::slots::LocalSlotStore;
    /// let slots = Arc::new(LocalSlotStore::new());
    /// let nightly = mangrove::Client::builder().token("t").slot_store(slots.clone()).build()?;
    /// let backfill = mangrove::Client::builder().token("t").slot_store(slots).build()?;
    /// # let _ = (nightly, backfill); Ok(()) }
    /// ```
    pub fn slot_store(mut self, store: Arc<dyn SlotStore>) -> Self {
        self.slot_store = Some(store);
        self
    }

    /// The slot store: the one given, else Redis from the environment, else a local one.
    fn resolve_slot_store(&mut self) -> Result<Arc<dyn SlotStore>, Error> {
        if let Some(store) = self.slot_store.take() {
            return Ok(store);
        }
        let Some((url, namespace, fallback)) = self.redis_from_env.take() else {
            return Ok(Arc::new(LocalSlotStore::new()));
        };
        #[cfg(feature = "redis")]
        {
            let namespace = namespace.ok_or_else(|| {
                Error::Config(format!(
                    "{REDIS_URL_ENV} is set but {REDIS_NAMESPACE_ENV} is not: name the account \
                     whose export slots the processes share (e.g. acme-prod)"
                ))
            })?;
            let store = crate::slots::RedisSlotStore::builder(&url)
                .namespace(namespace)
                .build()
                .map_err(|e| Error::Config(format!("{REDIS_URL_ENV}: {e}")))?;
            match fallback.as_deref() {
                None => Ok(Arc::new(store)),
                Some("local") => Ok(Arc::new(crate::slots::FallbackSlotStore::new(Arc::new(
                    store,
                )))),
                Some(other) => Err(Error::Config(format!(
                    "{REDIS_FALLBACK_ENV}={other:?}: the only fallback is `local`"
                ))),
            }
        }
        #[cfg(not(feature = "redis"))]
        {
            let _ = (url, namespace, fallback);
            Err(Error::Config(format!(
                "{REDIS_URL_ENV} is set but mangrove was built without its `redis` feature: \
                 turn the feature on, or unset the variable to limit exports per process"
            )))
        }
    }

    /// Trusts `cert` as a root for the API and the storage host, on top of the platform's roots
    /// (a corporate proxy's CA, a test server's certificate; see [`crate::tls`]).
    pub fn add_root_certificate(mut self, cert: crate::tls::Certificate) -> Self {
        self.tls.extra_roots.push(cert);
        self
    }

    /// Builds the client.
    pub fn build(mut self) -> Result<Client, Error> {
        let export_limiter = match self.export_concurrency {
            Some(n) => Some(Arc::new(Limiter::new(n, self.resolve_slot_store()?))),
            None => None,
        };
        let token = self
            .token
            .as_deref()
            .map(str::trim)
            .filter(|token| !token.is_empty())
            .ok_or_else(|| {
                Error::Config(format!(
                    "no API token: call .token(..) with a non-blank token or set {TOKEN_ENV}"
                ))
            })?;
        let base = self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL);
        let base = base.trim_end_matches('/');
        let parsed = url::Url::parse(base)
            .map_err(|e| Error::Config(format!("base URL {base:?} is not a URL: {e}")))?;
        let loopback = match parsed.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        let plain_ok = self.allow_insecure_http || loopback;
        if !(parsed.scheme() == "https" || parsed.scheme() == "http" && plain_ok) {
            return Err(Error::Config(format!(
                "base URL {base:?} must use https:// (http:// only on a loopback host or with \
                 .allow_insecure_http(true): the token would travel unencrypted)"
            )));
        }
        let value = match self.auth_scheme {
            AuthScheme::Bearer => format!("Bearer {token}"),
            AuthScheme::Bare => token.to_string(),
        };
        let mut value = HeaderValue::from_str(&value).map_err(|_| {
            Error::Config("the API token contains characters not allowed in an HTTP header".into())
        })?;
        value.set_sensitive(true);
        // A followed 307/308 would send an export start a second time; the API documents none.
        let mut api = crate::tls::configure(reqwest::Client::builder(), &self.tls)?
            .user_agent(user_agent())
            .redirect(reqwest::redirect::Policy::none())
            .default_headers(HeaderMap::from_iter([(AUTHORIZATION, value)]))
            .pool_idle_timeout(self.pool_idle_timeout);
        if let Some(t) = self.connect_timeout {
            api = api.connect_timeout(t);
        }
        if let Some(t) = self.timeout {
            api = api.timeout(t);
        }
        let api = api
            .build()
            .map_err(|e| Error::Config(format!("cannot build the HTTP client: {e}")))?;
        let download = download_client(&self.download_policy, self.pool_idle_timeout, &self.tls)?;

        let state = State {
            origin: parsed.origin(),
            poll_policy: self.poll_policy,
            retry_policy: self.retry_policy,
            download_policy: self.download_policy,
            download,
            export_limiter,
            export_slot_wait: self.export_slot_wait,
            rate_limit: Mutex::new(None),
        };
        Ok(Client::new_with_client(base, api, Inner(Arc::new(state))))
    }
}

/// The storage-side HTTP client: no auth headers (the pre-signed URL carries its own
/// credentials, and the token must never reach the storage host), no total time-out (a 500 MB
/// file may take long; the policy's read time-out catches a stall instead), and redirects
/// followed (storage hosts redirect to regional endpoints; nothing is started by a GET there).
fn download_client(
    policy: &DownloadPolicy,
    idle: Option<Duration>,
    tls: &crate::tls::Tls,
) -> Result<reqwest::Client, Error> {
    crate::tls::configure(reqwest::Client::builder(), tls)?
        .user_agent(user_agent())
        .connect_timeout(policy.connect_timeout)
        .read_timeout(policy.read_timeout)
        .pool_idle_timeout(idle)
        .redirect(reqwest::redirect::Policy::limited(10))
        .build()
        .map_err(|e| Error::Config(format!("cannot build the download HTTP client: {e}")))
}

/// Client-wide state inside the generated [`Client`] (public because the generated code names it).
#[doc(hidden)]
#[derive(Clone)]
pub struct Inner(pub(crate) Arc<State>);

pub(crate) struct State {
    pub(crate) origin: url::Origin,
    pub(crate) poll_policy: PollPolicy,
    pub(crate) retry_policy: RetryPolicy,
    pub(crate) download_policy: DownloadPolicy,
    pub(crate) download: reqwest::Client,
    pub(crate) export_limiter: Option<Arc<Limiter>>,
    pub(crate) export_slot_wait: Option<Duration>,
    pub(crate) rate_limit: Mutex<Option<RateLimit>>,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let held = self.0.export_limiter.as_ref().map(|l| l.held_here());
        f.debug_struct("Inner")
            .field("origin", &self.0.origin.ascii_serialization())
            .field("poll_policy", &self.0.poll_policy)
            .field("retry_policy", &self.0.retry_policy)
            .field("download_policy", &self.0.download_policy)
            .field("export_slots_held_here", &held)
            .finish()
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from [`TOKEN_ENV`] (required) and [`BASE_URL_ENV`].
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::default().from_env().build()
    }

    /// The base URL every generated call is made against.
    pub fn base_url(&self) -> &str {
        self.baseurl()
    }

    /// The last rate-limit reading (`RateLimit-*` headers), if any response carried one.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        let reading = self.state().rate_limit.lock();
        *reading.unwrap_or_else(|e| e.into_inner())
    }

    /// Who holds the account's export slots and how many starts wait, as the client's slot store
    /// sees them (with a shared store: every process's); `None` when the client has no limiter.
    pub async fn export_slots(&self) -> Result<Option<SlotSnapshot>, SlotStoreError> {
        match &self.state().export_limiter {
            Some(limiter) => limiter.store().snapshot().await.map(Some),
            None => Ok(None),
        }
    }

    pub(crate) fn state(&self) -> &State {
        &self.inner.0
    }
}
