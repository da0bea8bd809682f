//! A stateful fake of the Mangrove API for your tests (feature `testing`).
//!
//! [`FakeMangrove`] runs two local HTTP servers on `127.0.0.1`:
//!
//! * the **API** (`{base_url}` = `http://127.0.0.1:PORT/api/v1`), a `wiremock` server whose one
//!   catch-all mock is a stateful router: every operation of the SDK's API spec, paginated lists
//!   of seeded rows, summaries, exports with a lifecycle, token kinds, rate limits and
//!   injectable faults;
//! * the **storage origin** ([`StorageOrigin`]) that serves export files behind pre-signed,
//!   expiring URLs (`Range`, `ETag`, `Content-Length`), like S3 does for the real API.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use mangrove::testing::{FakeMangrove, TokenKind};
//! let fake = FakeMangrove::start().await;
//! let client = fake.client(TokenKind::Account);
//! let page = client.list_projects().page_size(5).send().await.unwrap().into_inner();
//! assert_eq!(page.data.len(), 5);
//! # }
//! ```
//!
//! # Data: a store
//!
//! The fake behaves like a small store of the account's data, the way moto or the Firebase
//! emulators do for their APIs: what you write is what you read back.
//!
//! * **Seeded rows.** Every list endpoint starts with rows `0..n` of its [`Collection`] (default
//!   42 each, see [`FakeMangroveBuilder::rows`]). Rows are generated on demand, deterministically
//!   (see [`data`]): a page or a summary builds only the rows it returns, so a collection of
//!   millions of rows costs nothing until it is exported. [`FakeMangrove::row`] returns any row
//!   as the fake holds it, so a test can compute the expected value of any item, sample or file
//!   line.
//! * **Writes are kept.** `create_event`, `create_event_type`, `create_model_run` and
//!   `create_model_version` add a row; `update_event`, `update_ledger`, `update_model`,
//!   `update_report` and `update_batch_inputs` change one. They are validated as before (ids,
//!   timestamps, `422` for the documented business rules) and answered with the object as kept,
//!   which is what later single `GET`s, pages, summaries and exports return. Created rows come
//!   after the seeded ones; integer ids continue the seeded ones (`43`, `44`, …), string ids are
//!   new (`evt_…`). [`FakeMangrove::reset`] forgets every write; a fake per test is the other way
//!   to keep tests independent.
//! * **Filters and `sort` are honoured** in pages, summaries (`count` is the filtered count,
//!   `samples` the first ten filtered rows) and export files (exactly the filtered rows, in
//!   order). Every `filter[...]` parameter the spec declares works:
//!
//!   | operation | filters |
//!   |---|---|
//!   | `list_events` | `id`, `status`, `tracking_id` (`eq`) |
//!   | `list_batches` | `project_id`, `id`, `state` (`eq`) |
//!   | `list_ledger_batches` | `id`, `state`, `tracking_id`, `friendly_id` (`eq`) |
//!   | `list_models` | `project_id` (`eq`) |
//!   | `list_feedstocks` | `project_id`, `feedstock_type_id`, `name` (`eq`); `created_at` (`geq`, `leq`) |
//!   | `list_reports` | `project_id`, `status` (`eq`) |
//!
//!   `sort` (`-start_time,created_at`) works on every list, on any top-level field of its rows.
//!   `info.sort` and `info.filter` echo what was applied (see the GAP list below).
//! * **Nested lists serve their parent's rows**: `/projects/{id}/events` only that project's
//!   events, `/ledgers/{id}/batches` that ledger's batches, and so on; an unknown parent is
//!   `404 {"message":"Record not found."}`. A nested single object (`get_event`,
//!   `update_event`, `get_data_point`) is found only under its own project.
//!
//! ## How resources relate
//!
//! Every row that belongs to something links to a row that exists:
//!
//! * **batch → feedstock → project**: a batch's `feedstocks` holds its feedstock (the whole
//!   object), whose `project_id` is the batch's project; `filter[project_id][eq]` on
//!   `list_batches` follows that link. `types::Batch` has no other project field.
//! * **event → event type**: an event's `slug` (and `event_type`, the type's name) is one of its
//!   project's event types (`list_event_types` of the same project).
//! * **under a project**: events, event types, data points, models, feedstocks (`project_id`),
//!   tracking units (`project_id`) and reports (`project_id`);
//! * ledger batches under a ledger, evidences under a batch, model runs under a model;
//! * projects, ledgers, orders, locations and deliveries belong to the account.
//!
//! Seeded row `i` of a collection belongs to parent row `i % n` (`n` parents; see
//! [`data::parent`]), so with the default counts each project owns one feedstock, one event
//! type, and so on. A per-project join computed from two exports (batches and feedstocks) gives
//! what `list_batches` with `filter[project_id][eq]` answers, row for row.
//!
//! # Exports
//!
//! `summary_with_export` on the twelve exportable list endpoints and `POST /exports` (any
//! exportable `resource_type`, including `"Delivery"`) start an export. The file holds the rows
//! as they were when the export started: the rows the list's filters select, in its `sort`
//! order (all rows for `POST /exports`), with the writes made until then. Filters are evaluated
//! as each row is written, so a filtered export of millions of rows holds no more in memory
//! than an unfiltered one (a sorted one holds the sort keys). An export can also be started
//! from outside the API ([`FakeMangrove::start_external_export`], "in the web app") and
//! finished at once ([`FakeMangrove::finish_export`]). Its status follows the
//! [`Schedule`] (default [`Schedule::AfterPolls`]`(2)`: `pending` when started, `processing` on the
//! first poll, `completed` from the second poll on). When an export completes, the fake writes the
//! file (CSV with a header row, or one JSON array; see [`data`]) and registers it on the storage
//! origin; every status answer of a completed export carries a freshly pre-signed `download_url`
//! valid [`url_ttl`](FakeMangroveBuilder::url_ttl) from that answer, and the real
//! `file_size_bytes`. The file is written on a thread of the fake's own, started by the first
//! poll; the poll that first answers `completed` waits for it (and the API server answers nothing
//! else meanwhile), so exporting millions of rows takes as long as writing that file.
//!
//! # Time
//!
//! Everything time-related (schedules by duration, URL expiry, retention, rate-limit windows,
//! `Date` headers) reads the [`FakeClock`]: the clock of the tokio runtime that started the fake
//! (virtual under `#[tokio::test(start_paused = true)]`) plus whatever
//! [`FakeMangrove::advance`] added. `advance` is the cheap way to jump past the 24 h URL expiry
//! or the 7-day retention.
//!
//! The API server runs on a thread of its own (wiremock's), the storage origin on your runtime,
//! and the fake never runs `spawn_blocking` work on your runtime (which would stop a paused clock
//! from auto-advancing). Use [`FakeMangrove::client`] (or
//! [`client_builder`](FakeMangrove::client_builder)): its clients have no request, connect or
//! idle timeouts, which a paused clock would fire while waiting for the other thread.
//!
//! # Faults
//!
//! [`FakeMangrove::inject`] arms a [`Fault`] for the next matching requests: an error status with
//! a JSON, HTML or empty body, a delay, a malformed JSON body, an unknown export status value, a
//! `status_url` on a foreign origin, or a storage fault ([`StorageFault`]: stall, truncate, reset,
//! wrong `Content-Length`, expired URL, redirect, status). Faults that need control over the bytes
//! on the wire live on the storage origin only: the API server (wiremock) always writes whole
//! bodies with a correct `Content-Length`.
//!
//! # Journal
//!
//! [`FakeMangrove::journal`] returns every API request (method, path, query, headers with
//! `Authorization` exactly as received, status, time), every storage request, the number of
//! status polls of each export and the largest number of exports that were in flight at once.
//!
//! # Choices where the Mangrove documentation is silent (GAP)
//!
//! * Tokens: three fixed tokens, one per [`TokenKind`]; both `Authorization: <token>` and
//!   `Authorization: Bearer <token>` are accepted; anything else is `401 {"message":"Unauthorized"}`.
//! * Pagination: `page` defaults to 1, `page_size` to 10; a `page_size` above
//!   [`page_size_max`](FakeMangroveBuilder::page_size_max) (default 100) is clamped to it (and
//!   `info.page_size` shows the clamped value); `page` or `page_size` below 1 or not an integer is
//!   `400`. A page past the end has empty `data` and `next_page: null`; `total_pages` is at least
//!   1; `previous_page` is `page - 1` (or `null` on page 1).
//! * `info.sort` lists the applied sort keys (`[{"field":"start_time","direction":"desc"}]`) and
//!   `info.filter` the applied filters (`[{"field":"state","operator":"eq","value":"complete"}]`,
//!   the value as sent); both are `[]` when nothing was applied.
//! * `sort` fields that are not fields of the rows are ignored (and not echoed); a `filter[...]`
//!   parameter the spec does not declare for that list is `400`, so a filter is never silently
//!   dropped. `eq` compares with the field's JSON value (numbers numerically, strings exactly);
//!   `geq`/`leq` compare date-times as instants. Sorting orders `null` first, then booleans,
//!   numbers, strings, and keeps the seeded order among equal values.
//! * Writes: `update_batch_inputs` leaves the batch `processing`; `create_model_version` adds a
//!   model row with a new `mdl_` id and clears `is_latest` on the one it replaces;
//!   `create_event` accepts any `event_type` slug (named after the project's event type with
//!   that slug when there is one). `bulk_dismiss_rule_results` and `create_batch_generation`
//!   change nothing that can be read back (there is no rule-result list or task status).
//! * `simulate_model`: inputs whose result is not a finite number (a sum past `f64::MAX`) are
//!   `422`, since JSON cannot carry infinity and `results` holds numbers.
//! * `summary` and `summary_with_export` ignore `page`/`page_size` and return the first ten
//!   selected rows as `samples`. `summary_with_export` on a list endpoint that cannot export answers a plain
//!   summary (`response_mode: "summary"`, no `export`). Unknown `response_mode` or
//!   `export_format` values are `400`.
//! * Customer and partner tokens get `403` on `summary_with_export` (on any list endpoint) and on
//!   `POST /exports`; they may read everything else, including export statuses.
//! * `POST /exports` answers `201` with the export status object; an unknown `resource_type` or
//!   `format` is `422`.
//! * Export limit: at most [`export_limit`](FakeMangroveBuilder::export_limit) (default 5)
//!   exports not yet `completed`/`failed` per account (all three tokens share one account). The
//!   next start is `429` with `Retry-After: 5` and
//!   `{"message":"Export limit reached: at most 5 concurrent exports per account. Retry when one completes."}`;
//!   its `RateLimit-Remaining` still shows what is left, which is how a client tells it from
//!   rate limiting.
//! * Export status object: `id`, `status`, `status_url`, `format`, `resource_type`, `created_at`,
//!   plus `completed_at`, `download_url` and `file_size_bytes` when completed and `error` when
//!   failed (absent keys are omitted, not `null`). `download_url` is pre-signed anew on every
//!   status answer, valid [`url_ttl`](FakeMangroveBuilder::url_ttl) (default 24 h) from that
//!   answer.
//! * Retention: an export older than [`retention`](FakeMangroveBuilder::retention) (default 7
//!   days, counted from its creation) is gone: its status is `404 {"message":"Record not found."}`
//!   and its file is removed from the storage origin. Cleanup happens on the next API request or
//!   [`FakeMangrove::advance`].
//! * Rate limiting: fixed windows of 60 s aligned to Unix minutes on the fake's clock, per token
//!   (per `Authorization` value, so unknown tokens are counted too). Every answer carries
//!   `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (Unix seconds of the window's
//!   end) and a `Date` from the fake's clock; past the limit the answer is
//!   `429 {"message":"Too Many Requests"}` with `Retry-After` (seconds until the reset). The
//!   limit is checked before faults, authentication and routing.
//! * Unknown paths are `404 {"message":"Not Found"}`; a known path with another method is `405`.

mod api;
pub mod clock;
pub mod data;
mod exports;
mod faults;
mod journal;
mod lists;
mod lookup;
mod objects;
mod query;
mod request_schema;
pub mod storage;
mod store;

use std::collections::HashMap;
use std::fmt;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use clock::FakeClock;
pub use data::Collection;
pub use exports::ExternalExportError;

/// The former name of [`Collection`] (renamed because it read like [`ResourceType`](crate::ResourceType),
/// which names the `resource_type` of an export; a `Collection` is what a list endpoint serves).
#[deprecated(since = "0.3.0", note = "renamed to `Collection`")]
pub type Resource = Collection;
pub use faults::Fault;
pub use journal::{ApiRequest, Journal};
pub use storage::{FaultBody, StorageFault, StorageOrigin, StorageRequest, StoredObject};

use api::Router;

/// Which kind of token a request carries. Each kind has one fixed token ([`FakeMangrove::token`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenKind {
    /// An account-level token: may do everything, including starting exports.
    Account,
    /// A customer-scoped token: may read, gets `403` when starting an export.
    Customer,
    /// A partner-scoped token: may read, gets `403` when starting an export.
    Partner,
}

impl TokenKind {
    /// Every token kind.
    pub const ALL: [TokenKind; 3] = [TokenKind::Account, TokenKind::Customer, TokenKind::Partner];

    /// The fixed token of this kind.
    pub fn token(self) -> &'static str {
        match self {
            TokenKind::Account => "fake-mangrove-account-token",
            TokenKind::Customer => "fake-mangrove-customer-token",
            TokenKind::Partner => "fake-mangrove-partner-token",
        }
    }

    /// The kind whose token is `token` (without any `Bearer ` prefix).
    pub fn from_token(token: &str) -> Option<TokenKind> {
        TokenKind::ALL.into_iter().find(|k| k.token() == token)
    }
}

/// When an export finishes.
///
/// A poll is one `GET /exports/{id}` of that export. Before finishing, an export is `pending`
/// until its first poll and `processing` from then on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// `completed` from the n-th poll on (`0` behaves like `1`). The default is `AfterPolls(2)`.
    AfterPolls(u32),
    /// `completed` once this much time has passed on the fake's clock since the export started
    /// (whether or not it is polled).
    After(Duration),
    /// `failed` with this `error` message from the `polls`-th poll on (`0` behaves like `1`).
    FailAfterPolls {
        /// The poll from which the export is `failed`.
        polls: u32,
        /// The export's `error` message.
        message: String,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::AfterPolls(2)
    }
}

/// Settings of a fake, fixed when it starts.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) default_rows: u64,
    pub(crate) rows: HashMap<Collection, u64>,
    pub(crate) schedule: Schedule,
    pub(crate) schedules: HashMap<Collection, Schedule>,
    pub(crate) export_limit: Option<usize>,
    pub(crate) url_ttl: Duration,
    pub(crate) retention: Duration,
    pub(crate) rate_limit: u32,
    pub(crate) page_size_max: u64,
}

impl Config {
    pub(crate) fn rows(&self, resource: Collection) -> u64 {
        self.rows
            .get(&resource)
            .copied()
            .unwrap_or(self.default_rows)
    }

    pub(crate) fn schedule(&self, resource: Collection) -> &Schedule {
        self.schedules.get(&resource).unwrap_or(&self.schedule)
    }
}

/// Configures a [`FakeMangrove`]. Start with [`FakeMangrove::builder`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::time::Duration;
/// use mangrove::testing::{FakeMangrove, Collection, Schedule};
/// let fake = FakeMangrove::builder()
///     .rows(Collection::Projects, 1_000_000)
///     .schedule(Schedule::After(Duration::from_secs(30)))
///     .export_limit(Some(2))
///     .start()
///     .await;
/// assert_eq!(fake.rows(Collection::Projects), 1_000_000);
/// # }
/// ```
#[derive(Clone, Debug)]
#[must_use]
pub struct FakeMangroveBuilder {
    config: Config,
    faults: Vec<Fault>,
}

impl Default for FakeMangroveBuilder {
    fn default() -> Self {
        FakeMangroveBuilder {
            config: Config {
                default_rows: 42,
                rows: HashMap::new(),
                schedule: Schedule::default(),
                schedules: HashMap::new(),
                export_limit: Some(5),
                url_ttl: Duration::from_secs(24 * 60 * 60),
                retention: Duration::from_secs(7 * 24 * 60 * 60),
                rate_limit: 1000,
                page_size_max: 100,
            },
            faults: Vec::new(),
        }
    }
}

impl FakeMangroveBuilder {
    /// Serve `n` rows of `resource` (its list, summary, exports and single-object `GET`s).
    /// Millions are fine: rows are generated only when returned or exported.
    pub fn rows(mut self, resource: Collection, n: u64) -> Self {
        self.config.rows.insert(resource, n);
        self
    }

    /// Rows of every resource not set with [`rows`](Self::rows) (default 42).
    pub fn default_rows(mut self, n: u64) -> Self {
        self.config.default_rows = n;
        self
    }

    /// When exports finish (default [`Schedule::AfterPolls`]`(2)`).
    pub fn schedule(mut self, schedule: Schedule) -> Self {
        self.config.schedule = schedule;
        self
    }

    /// When exports of `resource` finish, overriding [`schedule`](Self::schedule).
    pub fn schedule_for(mut self, resource: Collection, schedule: Schedule) -> Self {
        self.config.schedules.insert(resource, schedule);
        self
    }

    /// At most this many exports not yet `completed`/`failed` at once (default `Some(5)`, the
    /// documented per-account limit); `None`: no limit.
    pub fn export_limit(mut self, limit: Option<usize>) -> Self {
        self.config.export_limit = limit;
        self
    }

    /// How long a `download_url` stays valid after the status answer that carried it
    /// (default 24 h).
    pub fn url_ttl(mut self, ttl: Duration) -> Self {
        self.config.url_ttl = ttl;
        self
    }

    /// How long an export exists after it started (default 7 days); then its status is `404`
    /// and its file is gone.
    pub fn retention(mut self, retention: Duration) -> Self {
        self.config.retention = retention;
        self
    }

    /// Requests per 60-second window per token (default 1000, the documented default).
    pub fn rate_limit(mut self, per_minute: u32) -> Self {
        self.config.rate_limit = per_minute;
        self
    }

    /// Largest `page_size` served (default 100); larger requests are clamped to it (GAP choice:
    /// the maximum is not documented).
    pub fn page_size_max(mut self, max: u64) -> Self {
        self.config.page_size_max = max.max(1);
        self
    }

    /// Arms `fault` as soon as the fake starts (as [`FakeMangrove::inject`] would), e.g. a
    /// [`Fault::start_lost`] for the first export start.
    pub fn inject(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// Starts the fake on the current tokio runtime.
    ///
    /// # Panics
    ///
    /// If a local port cannot be bound or the temporary directory for export files cannot be
    /// created (see [`try_start`](Self::try_start)).
    pub async fn start(self) -> FakeMangrove {
        match self.try_start().await {
            Ok(fake) => fake,
            Err(e) => panic!("cannot start the fake Mangrove: {e}"),
        }
    }

    /// Starts the fake on the current tokio runtime, reporting I/O failures.
    pub async fn try_start(self) -> io::Result<FakeMangrove> {
        let clock = FakeClock::new();
        let storage = storage::start(clock.clone()).await?;
        let files = tempfile::Builder::new()
            .prefix("mangrove-fake-")
            .tempdir()?;
        // Bind the port here so a failure is an error, not a panic inside wiremock.
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        let server = wiremock::MockServer::builder()
            .listener(listener)
            .disable_request_recording()
            .start()
            .await;
        let base_url = format!("{}/api/v1", server.uri());
        let links = data::Links::new(|c| self.config.rows(c));
        let shared = Arc::new(Shared {
            config: self.config,
            clock,
            storage,
            base_url,
            files,
            state: Mutex::new(State {
                store: store::Store::new(links),
                exports: Default::default(),
                faults: Default::default(),
                journal: Vec::new(),
                windows: HashMap::new(),
                polls: Default::default(),
                max_in_flight: 0,
            }),
        });
        wiremock::Mock::given(wiremock::matchers::any())
            .respond_with(Router::new(Arc::clone(&shared)))
            .mount(&server)
            .await;
        for fault in self.faults {
            faults::arm(&shared, fault);
        }
        Ok(FakeMangrove { server, shared })
    }
}

/// A running fake of the Mangrove API and its storage origin. See the [module docs](self).
///
/// Dropping it stops both servers and deletes the export files.
pub struct FakeMangrove {
    /// Kept for its lifetime: dropping it stops the API server.
    #[allow(dead_code)]
    server: wiremock::MockServer,
    shared: Arc<Shared>,
}

impl fmt::Debug for FakeMangrove {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeMangrove")
            .field("base_url", &self.shared.base_url)
            .field("storage", &self.shared.storage.base_url())
            .field("config", &self.shared.config)
            .finish()
    }
}

impl FakeMangrove {
    /// Starts a fake with the default settings (see [`FakeMangroveBuilder`]).
    ///
    /// # Panics
    ///
    /// As [`FakeMangroveBuilder::start`].
    pub async fn start() -> FakeMangrove {
        FakeMangrove::builder().start().await
    }

    /// Configures a fake.
    pub fn builder() -> FakeMangroveBuilder {
        FakeMangroveBuilder::default()
    }

    /// The API base URL, `http://127.0.0.1:PORT/api/v1` (no trailing slash).
    pub fn base_url(&self) -> &str {
        &self.shared.base_url
    }

    /// The fixed token of `kind` (send it as `Authorization: <token>` or `Bearer <token>`).
    pub fn token(&self, kind: TokenKind) -> &'static str {
        kind.token()
    }

    /// A client builder for this fake with the token of `kind`, already set up for tests:
    /// no connect or request timeout and no idle-connection timeout.
    ///
    /// Why no timeouts: under `#[tokio::test(start_paused = true)]` the test's runtime jumps its
    /// paused clock to the next pending timer whenever it has nothing to do — including while it
    /// waits for the fake, whose API runs on another thread. A pending timeout (or the connection
    /// pool's idle timer) would then fire in virtual time before the answer arrives.
    pub fn client_builder(&self, kind: TokenKind) -> crate::client::ClientBuilder {
        crate::Client::builder()
            .base_url(self.base_url())
            .token(kind.token())
            .timeout(None)
            .connect_timeout(None)
            .pool_idle_timeout(None)
    }

    /// A client for this fake with the token of `kind` (see
    /// [`client_builder`](Self::client_builder) for its settings).
    ///
    /// # Panics
    ///
    /// Never for the fake's own URL and tokens (building the client only fails on bad settings).
    pub fn client(&self, kind: TokenKind) -> crate::Client {
        match self.client_builder(kind).build() {
            Ok(client) => client,
            Err(e) => panic!("cannot build a client for the fake Mangrove: {e}"),
        }
    }

    /// The fake's clock.
    pub fn clock(&self) -> &FakeClock {
        &self.shared.clock
    }

    /// Moves the fake's clock forward by `by` (schedules, URL expiry, retention, rate-limit
    /// windows) and applies retention at once.
    pub fn advance(&self, by: Duration) {
        self.shared.clock.advance(by);
        let now = self.shared.clock.now();
        exports::sweep(&self.shared, &mut self.shared.lock(), now);
    }

    /// The storage origin serving export files.
    pub fn storage(&self) -> &StorageOrigin {
        &self.shared.storage
    }

    /// Number of rows `resource` has now: the seeded ones
    /// ([`FakeMangroveBuilder::rows`]) plus the ones created since.
    pub fn rows(&self, resource: Collection) -> u64 {
        self.shared.lock().store.table(resource).len()
    }

    /// Row `index` (0-based, in the list's unsorted order) of `collection` as the fake holds it
    /// now: the seeded row, or what a write made of it, or a created row (created rows come after
    /// the seeded ones). `None` past the end. This is what a read, a page, a summary or an
    /// export answers for that row.
    pub fn row(
        &self,
        collection: Collection,
        index: u64,
    ) -> Option<serde_json::Map<String, serde_json::Value>> {
        let table = self.shared.lock().store.table(collection);
        table.row(index)
    }

    /// Forgets every write: the data is back to the seeded rows, as when the fake started.
    /// Exports, their files, the journal, armed faults and the clock are left as they are.
    ///
    /// A fake per test is the other way to keep tests independent (starting one is cheap:
    /// rows are generated, not loaded); `reset` suits a fake shared by several tests that run
    /// one after the other.
    pub fn reset(&self) {
        self.shared.lock().store.reset();
    }

    /// Arms `fault` (see [`Fault`]). Faults are matched in the order they were injected.
    pub fn inject(&self, fault: Fault) {
        faults::arm(&self.shared, fault);
    }

    /// Starts an export that the SDK did not start: **an export started in the web app or by a
    /// script** on the same account. It takes one of the account's export slots exactly as an
    /// export started through the API does (the limit of
    /// [`export_limit`](FakeMangroveBuilder::export_limit) counts it, and so does
    /// [`Journal::max_exports_in_flight`]), so the next start through the API can get the `429`
    /// "Export limit reached". It is a CSV export of `collection`; no API request is journaled
    /// for starting it.
    ///
    /// It finishes like any other export: by the fake's [`Schedule`] for `collection` (a
    /// [`Schedule::After`] runs on the fake's clock by itself; a [`Schedule::AfterPolls`] needs
    /// polls of `GET /exports/{id}`, which anyone holding the id may send), or at once with
    /// [`finish_export`](Self::finish_export). Returns the export id (`exp_…`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use mangrove::testing::{Collection, ExternalExportError, FakeMangrove};
    /// let fake = FakeMangrove::builder().export_limit(Some(1)).start().await;
    /// let id = fake.start_external_export(Collection::Projects).unwrap();
    /// assert_eq!(
    ///     fake.start_external_export(Collection::Batches),
    ///     Err(ExternalExportError::LimitReached { limit: 1 })
    /// );
    /// assert!(fake.finish_export(&id)); // the slot is free again
    /// assert!(fake.start_external_export(Collection::Batches).is_ok());
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`ExternalExportError::LimitReached`] when the account's slots are all taken (nothing is
    /// started, as a `POST /exports` would be refused); [`ExternalExportError::NotExportable`]
    /// for a collection without exports.
    pub fn start_external_export(
        &self,
        collection: Collection,
    ) -> Result<String, ExternalExportError> {
        exports::start_external(&self.shared, collection)
    }

    /// Makes export `id` (started through the API or with
    /// [`start_external_export`](Self::start_external_export)) `completed` now, whatever its
    /// schedule: its slot is free at once, and its file is written when it is next polled.
    /// Returns `false` when there is no such export or it had already ended.
    pub fn finish_export(&self, id: &str) -> bool {
        exports::finish(&self.shared, id)
    }

    /// A snapshot of everything the fake has seen so far.
    pub fn journal(&self) -> Journal {
        let storage = self.shared.storage.journal();
        let state = self.shared.lock();
        Journal {
            requests: state.journal.clone(),
            storage,
            polls: state.polls.clone(),
            max_exports_in_flight: state.max_in_flight,
        }
    }
}

/// Everything the router and the handle share.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) clock: FakeClock,
    pub(crate) storage: StorageOrigin,
    pub(crate) base_url: String,
    pub(crate) files: tempfile::TempDir,
    pub(crate) state: Mutex<State>,
}

impl Shared {
    /// Locks the mutable state; a poisoned lock is recovered (the state stays usable).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The fake's mutable state.
pub(crate) struct State {
    /// The data: seeded rows and kept writes.
    pub(crate) store: store::Store,
    pub(crate) exports: exports::Exports,
    pub(crate) faults: faults::Armed,
    pub(crate) journal: Vec<ApiRequest>,
    pub(crate) windows: HashMap<String, api::Window>,
    pub(crate) polls: std::collections::BTreeMap<String, u32>,
    pub(crate) max_in_flight: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_can_be_shared_across_tasks() {
        fn check<T: Send + Sync>() {}
        check::<FakeMangrove>();
        check::<Journal>();
        check::<Fault>();
        check::<Schedule>();
    }

    #[test]
    fn tokens_round_trip() {
        for kind in TokenKind::ALL {
            assert_eq!(TokenKind::from_token(kind.token()), Some(kind));
        }
        assert_eq!(
            TokenKind::from_token("Bearer fake-mangrove-account-token"),
            None
        );
    }
}
