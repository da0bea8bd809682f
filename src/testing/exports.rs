//! Exports: starting them, their lifecycle, their files and their status answers.
//!
//! An export's status only changes when it is looked at: a poll (`GET /exports/{id}`) counts
//! towards [`Schedule::AfterPolls`]/[`Schedule::FailAfterPolls`], and [`Schedule::After`] is
//! compared with the fake's clock whenever the export is looked at (by a poll or by the
//! concurrency limit).
//!
//! The file is written by a background thread started at the first poll that sees the export
//! `processing` (or `completed`), so a client that polls at a realistic pace rarely waits for it;
//! the poll that first answers `completed` waits until the file is written and registered on the
//! storage origin, so a `completed` answer always has a working `download_url`.

use std::collections::BTreeMap;
use std::hash::BuildHasher;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::api::{Ctx, Reply};
use super::data::{self, Collection};
use super::lists::export_format;
use super::query::Query;
use super::storage::{StorageOrigin, StoredObject};
use super::store::Table;
use super::{Schedule, Shared, State, TokenKind};
use crate::ExportFormat;

/// Every export the fake knows, by id.
pub(crate) type Exports = BTreeMap<String, Record>;

/// One export.
pub(crate) struct Record {
    resource: Collection,
    format: ExportFormat,
    /// Start time on the fake's clock.
    created: Duration,
    schedule: Schedule,
    polls: u32,
    outcome: Option<Outcome>,
    job: Option<Arc<FileJob>>,
    /// The rows the file holds: the collection as it was when the export started, and the
    /// filters and sort of the list that started it.
    source: (Table, Query),
}

#[derive(Clone, Debug)]
enum Outcome {
    Completed { at: Duration },
    Failed { message: String },
}

#[derive(Clone, Debug)]
enum Phase {
    Pending,
    Processing,
    Completed { at: Duration },
    Failed { message: String },
}

impl Phase {
    fn terminal(&self) -> bool {
        matches!(self, Phase::Completed { .. } | Phase::Failed { .. })
    }

    fn name(&self) -> &'static str {
        match self {
            Phase::Pending => "pending",
            Phase::Processing => "processing",
            Phase::Completed { .. } => "completed",
            Phase::Failed { .. } => "failed",
        }
    }
}

impl Record {
    /// The export's phase at `now`, without counting a poll.
    fn phase(&self, now: Duration) -> Phase {
        match &self.outcome {
            Some(Outcome::Completed { at }) => return Phase::Completed { at: *at },
            Some(Outcome::Failed { message }) => {
                return Phase::Failed {
                    message: message.clone(),
                }
            }
            None => {}
        }
        if let Schedule::After(d) = &self.schedule {
            if let Some(done) = self.created.checked_add(*d) {
                if now >= done {
                    return Phase::Completed { at: done };
                }
            }
        }
        if self.polls == 0 {
            Phase::Pending
        } else {
            Phase::Processing
        }
    }

    /// Counts one poll at `now` and returns the phase it sees.
    fn poll(&mut self, now: Duration) -> Phase {
        self.polls = self.polls.saturating_add(1);
        if self.outcome.is_none() {
            self.outcome = match &self.schedule {
                Schedule::AfterPolls(n) if self.polls >= (*n).max(1) => {
                    Some(Outcome::Completed { at: now })
                }
                Schedule::FailAfterPolls { polls, message } if self.polls >= (*polls).max(1) => {
                    Some(Outcome::Failed {
                        message: message.clone(),
                    })
                }
                Schedule::After(_) => match self.phase(now) {
                    Phase::Completed { at } => Some(Outcome::Completed { at }),
                    _ => None,
                },
                _ => None,
            };
        }
        self.phase(now)
    }

    fn produces_file(&self) -> bool {
        !matches!(self.schedule, Schedule::FailAfterPolls { .. })
    }
}

/// The storage key of an export's file.
fn key(id: &str, format: &ExportFormat) -> String {
    format!("exports/{id}.{}", format.as_str())
}

/// A new export id: `exp_` and 16 alphanumerics, unique in this process.
fn new_id() -> String {
    const ALNUM: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| {
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut a = mix(seed ^ n);
    let mut b = mix(a ^ n.rotate_left(32));
    let mut id = String::from("exp_");
    for i in 0..16 {
        let word = if i < 8 { &mut a } else { &mut b };
        id.push(ALNUM[(*word % 62) as usize] as char);
        *word /= 62;
    }
    id
}

fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `403` for customer- and partner-scoped tokens.
pub(crate) fn forbidden() -> Reply {
    Reply::message(
        403,
        "Export creation is restricted to account-level tokens; customer- and partner-scoped tokens cannot create exports.",
    )
}

/// Removes exports older than the retention, with their files.
pub(crate) fn sweep(shared: &Shared, state: &mut State, now: Duration) {
    let retention = shared.config.retention;
    let expired: Vec<String> = state
        .exports
        .iter()
        .filter(|(_, r)| now.saturating_sub(r.created) >= retention)
        .map(|(id, _)| id.clone())
        .collect();
    for id in expired {
        if let Some(record) = state.exports.remove(&id) {
            if let Some(job) = &record.job {
                job.cancelled.store(true, Ordering::SeqCst);
            }
            shared.storage.remove(&key(&id, &record.format));
        }
    }
}

/// Why the account could not start an export.
pub(crate) struct LimitReached {
    limit: usize,
}

impl LimitReached {
    /// The `429` a start over the limit gets.
    fn reply(&self) -> Reply {
        let limit = self.limit;
        Reply::message(
            429,
            format!(
                "Export limit reached: at most {limit} concurrent exports per account. Retry when one completes."
            ),
        )
        .header("retry-after", "5")
    }
}

/// Takes one of the account's export slots for a new export of `collection` and records it:
/// the one admission rule for exports started through the API and from outside it
/// ([`FakeMangrove::start_external_export`](super::FakeMangrove::start_external_export)).
fn admit(
    shared: &Shared,
    state: &mut State,
    collection: Collection,
    format: ExportFormat,
    query: Query,
    now: Duration,
) -> Result<String, LimitReached> {
    let in_flight = state
        .exports
        .values()
        .filter(|r| !r.phase(now).terminal())
        .count();
    if let Some(limit) = shared.config.export_limit {
        if in_flight >= limit {
            return Err(LimitReached { limit });
        }
    }
    let id = new_id();
    let table = state.store.table(collection);
    state.exports.insert(
        id.clone(),
        Record {
            resource: collection,
            format,
            created: now,
            schedule: shared.config.schedule(collection).clone(),
            polls: 0,
            outcome: None,
            job: None,
            source: (table, query),
        },
    );
    state.max_in_flight = state.max_in_flight.max(in_flight + 1);
    Ok(id)
}

/// Starts an export of the rows `query` selects (concurrency limit permitting) and returns its
/// `export` object (`{id, status: "pending", status_url}`).
pub(crate) fn start(
    ctx: &Ctx<'_>,
    resource: Collection,
    format: ExportFormat,
    query: Query,
) -> Result<Value, Reply> {
    let shared = ctx.shared;
    let mut state = shared.lock();
    let id = admit(shared, &mut state, resource, format, query, ctx.at).map_err(|e| e.reply())?;
    let status_url = match state.faults.take_status_url() {
        Some(origin) => format!("{origin}/api/v1/exports/{id}"),
        None => format!("{}/exports/{id}", shared.base_url),
    };
    if let Some(lost) = state.faults.take_lost_start() {
        // `Fault::start_lost`: the export exists and runs; the answer that says so is lost.
        return Err(lost);
    }
    Ok(json!({ "id": id, "status": "pending", "status_url": status_url }))
}

/// Starts a CSV export of `collection` the way the web app or a script would: it takes a slot
/// like any other export, but no API request is journaled for it.
pub(crate) fn start_external(
    shared: &Shared,
    collection: Collection,
) -> Result<String, ExternalExportError> {
    if !collection.exportable() {
        return Err(ExternalExportError::NotExportable(collection));
    }
    let now = shared.clock.now();
    let mut state = shared.lock();
    sweep(shared, &mut state, now);
    admit(
        shared,
        &mut state,
        collection,
        ExportFormat::Csv,
        Query::default(),
        now,
    )
    .map_err(|e| ExternalExportError::LimitReached { limit: e.limit })
}

/// Makes export `id` `completed` now, whatever its schedule (its file is written when it is next
/// polled, as for any export). `false` if there is no such export or it already ended.
pub(crate) fn finish(shared: &Shared, id: &str) -> bool {
    let now = shared.clock.now();
    let mut state = shared.lock();
    match state.exports.get_mut(id) {
        Some(record) if !record.phase(now).terminal() => {
            record.outcome = Some(Outcome::Completed { at: now });
            if matches!(record.schedule, Schedule::FailAfterPolls { .. }) {
                // A failing schedule writes no file; a finished export needs one.
                record.schedule = Schedule::AfterPolls(1);
            }
            true
        }
        _ => false,
    }
}

/// Why [`FakeMangrove::start_external_export`](super::FakeMangrove::start_external_export)
/// started nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExternalExportError {
    /// The account already runs as many exports as its limit allows (what a `POST /exports`
    /// would answer `429` to).
    #[error("export limit reached: at most {limit} concurrent exports per account")]
    LimitReached {
        /// The account's limit ([`FakeMangroveBuilder::export_limit`](super::FakeMangroveBuilder::export_limit)).
        limit: usize,
    },
    /// The collection has no export (`LedgerBatches`, `BatchEvidences`, `ModelRuns`).
    #[error("{0:?} cannot be exported")]
    NotExportable(Collection),
}

/// `POST /exports`.
pub(crate) fn create(ctx: &Ctx<'_>) -> Reply {
    if ctx.token != TokenKind::Account {
        return forbidden();
    }
    let body = match ctx.json_body() {
        Ok(Value::Object(body)) => body,
        Ok(_) => return Reply::message(422, "The request body must be a JSON object."),
        Err(reply) => return reply,
    };
    let Some(resource_type) = body.get("resource_type").and_then(Value::as_str) else {
        return Reply::message(422, "resource_type is required.");
    };
    let Some(resource) = Collection::from_resource_type(resource_type) else {
        let known: Vec<&str> = Collection::ALL
            .iter()
            .filter(|r| r.exportable())
            .map(|r| r.resource_type())
            .collect();
        return Reply::message(
            422,
            format!(
                "Unknown resource_type {resource_type:?}: expected one of {}.",
                known.join(", ")
            ),
        );
    };
    let format = match body.get("format") {
        None | Some(Value::Null) => Ok(ExportFormat::Csv),
        Some(Value::String(s)) => export_format(Some(s)),
        Some(other) => Err(format!(
            "Invalid export format {other}: expected csv or json."
        )),
    };
    let format = match format {
        Ok(format) => format,
        Err(message) => return Reply::message(422, message),
    };
    match start(ctx, resource, format.clone(), Query::default()) {
        Ok(export) => {
            let id = export["id"].as_str().unwrap_or_default();
            let status_url = export["status_url"].as_str().unwrap_or_default();
            let body = base_body(
                ctx.shared, id, "pending", status_url, resource, format, ctx.at,
            );
            Reply::json(201, &Value::Object(body))
        }
        Err(reply) => reply,
    }
}

/// The fields every status answer has.
fn base_body(
    shared: &Shared,
    id: &str,
    status: &str,
    status_url: &str,
    resource: Collection,
    format: ExportFormat,
    created: Duration,
) -> Map<String, Value> {
    let mut body = Map::new();
    body.insert("id".into(), json!(id));
    body.insert("status".into(), json!(status));
    body.insert("status_url".into(), json!(status_url));
    body.insert("format".into(), json!(format.as_str()));
    body.insert("resource_type".into(), json!(resource.resource_type()));
    body.insert("created_at".into(), json!(shared.clock.rfc3339_at(created)));
    body
}

/// `GET /exports/{id}`: counts a poll and answers the status.
pub(crate) fn status(ctx: &Ctx<'_>) -> Reply {
    let shared = ctx.shared;
    let id = ctx.param(0);
    let now = ctx.at;
    let (phase, resource, format, created, job, status_override) = {
        let mut state = shared.lock();
        let Some(record) = state.exports.get_mut(id) else {
            return Reply::not_found();
        };
        let phase = record.poll(now);
        if matches!(phase, Phase::Processing | Phase::Completed { .. })
            && record.job.is_none()
            && record.produces_file()
        {
            let (table, query) = record.source.clone();
            record.job = Some(FileJob::spawn(
                shared.storage.clone(),
                shared.files.path().to_path_buf(),
                key(id, &record.format),
                table,
                query,
                record.format.clone(),
            ));
        }
        let (resource, format, created, job) = (
            record.resource,
            record.format.clone(),
            record.created,
            record.job.clone(),
        );
        *state.polls.entry(id.to_string()).or_default() += 1;
        (
            phase,
            resource,
            format,
            created,
            job,
            state.faults.take_export_status(),
        )
    };

    let own_url = format!("{}/exports/{id}", shared.base_url);
    let mut phase = phase;
    let mut stored = None;
    if let Phase::Completed { .. } = phase {
        // Wait for the file without holding the state lock.
        let result = match job.as_ref() {
            Some(job) => job.wait(),
            None => Err("no file was produced".to_string()),
        };
        match result {
            Ok(object) => stored = Some(object),
            Err(message) => {
                let message = format!("The export file could not be written: {message}");
                if let Some(record) = shared.lock().exports.get_mut(id) {
                    record.outcome = Some(Outcome::Failed {
                        message: message.clone(),
                    });
                }
                phase = Phase::Failed { message };
            }
        }
    }

    let mut body = base_body(
        shared,
        id,
        phase.name(),
        &own_url,
        resource,
        format.clone(),
        created,
    );
    match &phase {
        Phase::Completed { at } => {
            body.insert("completed_at".into(), json!(shared.clock.rfc3339_at(*at)));
            if let Some(object) = &stored {
                let url = shared
                    .storage
                    .presign(&key(id, &format), shared.config.url_ttl);
                body.insert("download_url".into(), json!(url));
                let size = shared.lock().faults.take_file_size().unwrap_or(object.size);
                body.insert("file_size_bytes".into(), json!(size));
            }
        }
        Phase::Failed { message, .. } => {
            body.insert("error".into(), json!(message));
        }
        Phase::Pending | Phase::Processing => {}
    }
    if let Some(value) = status_override {
        body.insert("status".into(), json!(value));
    }
    Reply::json(200, &Value::Object(body))
}

/// The background writing of one export file.
pub(crate) struct FileJob {
    result: Mutex<Option<Result<StoredObject, String>>>,
    done: Condvar,
    cancelled: AtomicBool,
}

impl FileJob {
    /// Starts writing the rows of `table` that `query` selects into `dir` (filters evaluated as
    /// each row is written) and registering the file under `key` on `storage`.
    fn spawn(
        storage: StorageOrigin,
        dir: PathBuf,
        key: String,
        table: Table,
        query: Query,
        format: ExportFormat,
    ) -> Arc<FileJob> {
        let job = Arc::new(FileJob {
            result: Mutex::new(None),
            done: Condvar::new(),
            cancelled: AtomicBool::new(false),
        });
        let worker = Arc::clone(&job);
        let run = move || {
            let resource = table.collection;
            let rows = query.rows(table);
            let result = data::materialize_rows(resource, rows, format.clone(), &dir)
                .map(|(path, _)| storage.put(&key, path, data::content_type(&format)))
                .map_err(|e| e.to_string());
            if worker.cancelled.load(Ordering::SeqCst) {
                storage.remove(&key);
            }
            *worker.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            worker.done.notify_all();
        };
        let spawned = std::thread::Builder::new()
            .name("mangrove-fake-export".into())
            .spawn(run.clone());
        if spawned.is_err() {
            run();
        }
        job
    }

    /// Blocks until the file is written.
    fn wait(&self) -> Result<StoredObject, String> {
        let mut result = self.result.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(result) = result.as_ref() {
                return result.clone();
            }
            result = self.done.wait(result).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::data::Links;
    use crate::testing::store::Store;

    #[test]
    fn ids_look_like_the_docs() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("exp_"));
        assert!(a[4..].bytes().all(|c| c.is_ascii_alphanumeric()));
    }

    fn record(schedule: Schedule) -> Record {
        Record {
            resource: Collection::Projects,
            format: ExportFormat::Csv,
            created: Duration::from_secs(10),
            schedule,
            polls: 0,
            outcome: None,
            job: None,
            source: (
                Store::new(Links::DEFAULT).table(Collection::Projects),
                Query::default(),
            ),
        }
    }

    #[test]
    fn schedules() {
        let t = Duration::from_secs(10);
        let mut r = record(Schedule::AfterPolls(2));
        assert_eq!(r.phase(t).name(), "pending");
        assert_eq!(r.poll(t).name(), "processing");
        assert_eq!(r.poll(t).name(), "completed");
        assert_eq!(r.poll(t * 100).name(), "completed");

        let mut r = record(Schedule::After(Duration::from_secs(30)));
        assert_eq!(r.poll(Duration::from_secs(39)).name(), "processing");
        assert!(r.phase(Duration::from_secs(40)).terminal());
        assert!(
            matches!(r.poll(Duration::from_secs(99)), Phase::Completed { at } if at == Duration::from_secs(40))
        );

        let mut r = record(Schedule::FailAfterPolls {
            polls: 1,
            message: "boom".into(),
        });
        assert!(matches!(r.poll(t), Phase::Failed { message, .. } if message == "boom"));
        assert!(!r.produces_file());
    }
}
