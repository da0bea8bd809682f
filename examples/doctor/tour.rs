//! The read-only tour: which `Authorization` style works, rate-limit headers, then every `GET`
//! operation of the spec (lists on page 1 and in `summary` mode, single items with the ids the
//! lists returned), each answer decoded with the SDK's type and compared with the spec.
//!
//! Only `GET`s are sent, and never `response_mode=summary_with_export`: the tour starts no export
//! and writes nothing.

use std::collections::HashMap;
use std::time::Duration;

use mangrove::types;
use mangrove::{AuthScheme, ClientBuilder, ListBody};
use progenitor_client::ClientInfo;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::drift::{Checker, Segment};
use crate::report::{self, Call, Checks, DecodeError, Outcome, Report};
use crate::spec::{Operation, ResponseSchema, Spec};

/// Largest body read (a page of `page_size` items is far smaller).
const MAX_BODY: usize = 32 * 1024 * 1024;
/// Retries of a `429`/`503` answer, each after its `Retry-After` (at most [`MAX_WAIT`]).
const RETRIES: u32 = 2;
const MAX_WAIT: Duration = Duration::from_secs(60);
const DEFAULT_WAIT: Duration = Duration::from_secs(5);
/// Ids tried for an item whose first id answered `404`.
const MAX_ATTEMPTS: usize = 3;

/// Where the value of a path parameter comes from: `(parameter, operation, path in its body)`,
/// in order of preference. An id that answers `404` is followed by the next one.
const SOURCES: &[(&str, &str, &str)] = &[
    ("project_id", "list_projects", "data[0].id"),
    ("event_id", "list_events", "data[0].id"),
    // A data point of the event itself first; any data point of the project next.
    ("data_point_id", "get_event", "data_points[0].id"),
    ("data_point_id", "list_data_points", "data[0].id"),
    ("batch_id", "list_batches", "data[0].id"),
    ("ledger_id", "list_ledgers", "data[0].id"),
    ("model_id", "list_models", "data[0].id"),
    ("model_run_id", "list_model_runs", "data[0].id"),
    ("report_id", "list_reports", "data[0].id"),
    ("order_id", "list_orders", "data[0].id"),
];

/// Operations the tour never calls, and why.
const NEVER: &[(&str, &str)] = &[(
    "get_export",
    "needs an export id; the doctor never starts an export",
)];

/// Rate-limit headers looked for (lower case).
const RATE_HEADERS: &[&str] = &[
    "ratelimit-limit",
    "ratelimit-remaining",
    "ratelimit-reset",
    "x-ratelimit-limit",
    "x-ratelimit-remaining",
    "x-ratelimit-reset",
    "retry-after",
];

/// What the generated type of each answer schema is, to decode bodies as the SDK does.
macro_rules! decoders {
    ($($name:literal => $ty:ty,)+) => {
        /// Decodes `bytes` as the SDK's type for the spec schema `name`; `None` for a schema
        /// without one.
        fn decode(name: &str, bytes: &[u8]) -> Option<Result<(), DecodeFailure>> {
            match name {
                $($name => Some(decode_into::<$ty>(bytes)),)+
                _ => None,
            }
        }

        /// Every schema [`decode`] knows.
        #[cfg(test)]
        pub const DECODED_SCHEMAS: &[&str] = &[$($name,)+];
    };
}

decoders! {
    "ProjectList" => ListBody<types::Project>,
    "EventList" => ListBody<types::Event>,
    "EventTypeList" => ListBody<types::EventType>,
    "DataPointList" => ListBody<types::DataPoint>,
    "BatchList" => ListBody<types::Batch>,
    "LedgerList" => ListBody<types::Ledger>,
    "OrderList" => ListBody<types::Order>,
    "FeedstockList" => ListBody<types::Feedstock>,
    "TrackingUnitList" => ListBody<types::TrackingUnit>,
    "ModelList" => ListBody<types::Model>,
    "ReportList" => ListBody<types::Report>,
    "LocationList" => ListBody<types::Location>,
    "EvidenceList" => ListBody<types::Evidence>,
    "ModelRunList" => ListBody<types::ModelRun>,
    "Project" => types::Project,
    "Event" => types::Event,
    "DataPoint" => types::DataPoint,
    "Batch" => types::Batch,
    "Ledger" => types::Ledger,
    "RequiredInputList" => types::RequiredInputList,
    "Model" => types::Model,
    "ModelSchema" => types::ModelSchema,
    "ModelRun" => types::ModelRun,
    "Report" => types::Report,
    "Order" => types::Order,
    "ExportJob" => types::ExportJob,
}

/// Where a body failed to decode (path segments, message).
struct DecodeFailure {
    path: Vec<Segment>,
    message: String,
}

fn decode_into<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), DecodeFailure> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let result: Result<T, _> = serde_path_to_error::deserialize(&mut de);
    let failure = |path: Vec<Segment>, e: &serde_json::Error| DecodeFailure {
        path,
        message: e.to_string(),
    };
    match result {
        Ok(_) => de.end().map_err(|e| failure(Vec::new(), &e)),
        Err(e) => {
            let path = e
                .path()
                .iter()
                .map(|s| match s {
                    serde_path_to_error::Segment::Seq { index } => Segment::Index(*index),
                    serde_path_to_error::Segment::Map { key } => Segment::Key(key.clone()),
                    serde_path_to_error::Segment::Enum { variant } => Segment::Key(variant.clone()),
                    _ => Segment::Key("?".into()),
                })
                .collect();
            Err(failure(path, e.inner()))
        }
    }
}

/// An answer: status, headers, body.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// Runs the checks and the tour with clients built from `builder` (token and base URL set).
/// `Err` only when no client can be built (bad settings).
pub async fn run(
    spec: &Spec,
    builder: ClientBuilder,
    target: &str,
    page_size: u32,
) -> Result<Report, String> {
    let mut report = Report {
        report_version: report::REPORT_VERSION,
        sdk_version: env!("CARGO_PKG_VERSION").to_string(),
        spec_version: spec.version().to_string(),
        target: target.to_string(),
        ..Report::default()
    };
    let build = |scheme| {
        builder
            .clone()
            .auth_scheme(scheme)
            .build()
            .map_err(|e| format!("cannot build a client: {e}"))
    };
    let bearer = build(AuthScheme::Bearer)?;
    let bare = build(AuthScheme::Bare)?;

    // Reachable, and which Authorization style is accepted.
    let probe = [("page", "1"), ("page_size", "1")];
    let first = match fetch(&bearer, "/projects", &[], &probe).await {
        Ok(answer) => answer,
        Err(reason) => {
            report.checks.unreachable_reason = Some(reason);
            report.finish();
            return Ok(report);
        }
    };
    report.checks.reachable = true;
    report.checks.bearer_status = Some(first.status);
    let second = fetch(&bare, "/projects", &[], &probe).await.ok();
    report.checks.bare_status = second.as_ref().map(|a| a.status);
    let (client, accepted, scheme) = if is_success(first.status) {
        (bearer, first, "bearer")
    } else {
        match second {
            Some(answer) if is_success(answer.status) => (bare, answer, "bare"),
            _ => {
                report.finish();
                return Ok(report);
            }
        }
    };
    report.checks.auth_scheme = Some(scheme.to_string());
    rate_limit_headers(&accepted.headers, &mut report.checks);

    Tour {
        spec,
        checker: Checker::new(spec),
        client: &client,
        page_size,
        ids: HashMap::new(),
        calls: Vec::new(),
    }
    .walk()
    .await
    .into_iter()
    .for_each(|call| report.calls.push(call));
    report.finish();
    Ok(report)
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

fn rate_limit_headers(headers: &HeaderMap, checks: &mut Checks) {
    for name in RATE_HEADERS {
        if let Some(value) = headers.get(*name) {
            let numeric = value
                .to_str()
                .ok()
                .is_some_and(|v| v.trim().parse::<u64>().is_ok());
            checks
                .rate_limit_headers
                .insert((*name).to_string(), numeric);
        }
    }
    checks.sdk_rate_limit_headers_present =
        ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]
            .iter()
            .all(|h| checks.rate_limit_headers.contains_key(*h));
}

struct Tour<'s, 'c> {
    spec: &'s Spec,
    checker: Checker<'s>,
    client: &'c mangrove::Client,
    page_size: u32,
    /// Candidate values of each path parameter with the rank of their source in [`SOURCES`],
    /// best first.
    ids: HashMap<&'static str, Vec<(usize, String)>>,
    calls: Vec<Call>,
}

impl Tour<'_, '_> {
    async fn walk(mut self) -> Vec<Call> {
        let mut pending = self.spec.get_operations();
        // Rounds: an operation runs once every path parameter it needs has a value and no
        // operation still to run could give a better one; when a round runs nothing, the next
        // one takes the values there are.
        let mut relaxed = false;
        loop {
            let mut progressed = false;
            let mut i = 0;
            while i < pending.len() {
                let op = &pending[i];
                if let Some((_, why)) = NEVER.iter().find(|(id, _)| *id == op.id) {
                    let op = pending.remove(i);
                    self.calls.push(skipped(&op, "item", why));
                    progressed = true;
                } else if self.ready(op, &pending, relaxed) {
                    let op = pending.remove(i);
                    self.call(&op).await;
                    progressed = true;
                } else {
                    i += 1;
                }
            }
            if pending.is_empty() || (!progressed && relaxed) {
                break;
            }
            relaxed = !progressed;
        }
        for op in pending {
            let missing: Vec<&str> = op
                .path_params
                .iter()
                .map(String::as_str)
                .filter(|p| !self.ids.contains_key(p))
                .collect();
            let why = if missing
                .iter()
                .all(|p| SOURCES.iter().any(|(param, _, _)| param == p))
            {
                format!("no {} (its list is empty)", missing.join(", "))
            } else {
                format!("the doctor has no source for {}", missing.join(", "))
            };
            let mode = if op.is_list { "page" } else { "item" };
            self.calls.push(skipped(&op, mode, &why));
        }
        self.calls
    }

    /// Every path parameter of `op` has a value and (unless `relaxed`) no operation in
    /// `pending` is a source of it.
    fn ready(&self, op: &Operation, pending: &[Operation], relaxed: bool) -> bool {
        op.path_params.iter().all(|p| {
            self.ids.get(p.as_str()).is_some_and(|v| !v.is_empty())
                && (relaxed
                    || !SOURCES.iter().any(|(param, from, _)| {
                        param == p && pending.iter().any(|o| o.id != op.id && o.id == *from)
                    }))
        })
    }

    async fn call(&mut self, op: &Operation) {
        if op.is_list {
            let page_size = self.page_size.to_string();
            let page = [("page", "1"), ("page_size", page_size.as_str())];
            self.call_mode(op, "page", &page).await;
            self.call_mode(op, "summary", &[("response_mode", "summary")])
                .await;
        } else {
            self.call_mode(op, "item", &[]).await;
        }
    }

    async fn call_mode(&mut self, op: &Operation, mode: &str, query: &[(&str, &str)]) {
        let attempts = op
            .path_params
            .iter()
            .map(|p| self.ids.get(p.as_str()).map_or(0, Vec::len))
            .max()
            .unwrap_or(1)
            .clamp(1, MAX_ATTEMPTS);
        let mut answer = Err(String::new());
        let mut tried = 0;
        for attempt in 0..attempts {
            let params: Vec<String> = op
                .path_params
                .iter()
                .map(|p| {
                    let candidates = self.ids.get(p.as_str()).map(Vec::as_slice).unwrap_or(&[]);
                    candidates
                        .get(attempt.min(candidates.len().saturating_sub(1)))
                        .map(|(_, id)| id.clone())
                        .unwrap_or_default()
                })
                .collect();
            answer = fetch(self.client, &op.path, &params, query).await;
            tried += 1;
            if !matches!(&answer, Ok(a) if a.status == 404) {
                break;
            }
        }
        let mut call = Call {
            operation: op.id.clone(),
            path: op.path.clone(),
            mode: mode.to_string(),
            outcome: Outcome::Failed,
            status: None,
            decoded: None,
            decode_error: None,
            drift: Vec::new(),
            note: (tried > 1).then(|| format!("{tried} ids tried")),
        };
        let answer = match answer {
            Ok(answer) => answer,
            Err(reason) => {
                call.note = Some(reason);
                self.calls.push(call);
                return;
            }
        };
        call.status = Some(answer.status);
        call.outcome = if is_success(answer.status) {
            Outcome::Checked
        } else {
            Outcome::HttpError
        };
        let value = self.check(&op.path, &answer, &mut call);
        if let (Some(value), true) = (value, is_success(answer.status)) {
            self.collect_ids(&op.id, mode, &value);
        }
        self.calls.push(call);
    }

    /// Checks a body against the spec and the SDK's type; the body as JSON when it is JSON.
    fn check(&self, path: &str, answer: &Answer, call: &mut Call) -> Option<Value> {
        let schema = match self.spec.response_schema(path, answer.status) {
            ResponseSchema::Json(schema) => schema,
            ResponseSchema::NoJsonBody => return None,
            ResponseSchema::NotListed => {
                append_note(call, "status not listed in the spec");
                return serde_json::from_slice(&answer.body).ok();
            }
        };
        let success = is_success(answer.status);
        let value: Value = match serde_json::from_slice(&answer.body) {
            Ok(value) => value,
            Err(e) => {
                append_note(call, "body is not JSON");
                if success {
                    call.decoded = Some(false);
                    call.decode_error = Some(DecodeError {
                        path: ".".into(),
                        message: report::redact(&e.to_string()),
                    });
                }
                return None;
            }
        };
        call.drift = report::group(self.checker.check(schema, &value));
        if success {
            if let Some(result) = Spec::ref_name(schema).and_then(|n| decode(n, &answer.body)) {
                call.decoded = Some(result.is_ok());
                if let Err(failure) = result {
                    call.decode_error = Some(DecodeError {
                        path: self.checker.schema_path(schema, &failure.path),
                        message: report::redact(&failure.message),
                    });
                }
            }
        }
        Some(value)
    }

    fn collect_ids(&mut self, op: &str, mode: &str, body: &Value) {
        if mode == "summary" {
            return;
        }
        for (rank, (param, from, at)) in SOURCES.iter().enumerate() {
            if *from != op {
                continue;
            }
            let id = match value_at(body, at) {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => continue,
            };
            let candidates = self.ids.entry(param).or_default();
            if !candidates.iter().any(|(_, known)| *known == id) {
                candidates.push((rank, id));
                candidates.sort_by_key(|(rank, _)| *rank);
            }
        }
    }
}

fn append_note(call: &mut Call, note: &str) {
    call.note = Some(match call.note.take() {
        Some(before) => format!("{before}; {note}"),
        None => note.to_string(),
    });
}

fn skipped(op: &Operation, mode: &str, why: &str) -> Call {
    Call {
        operation: op.id.clone(),
        path: op.path.clone(),
        mode: mode.to_string(),
        outcome: Outcome::Skipped,
        status: None,
        decoded: None,
        decode_error: None,
        drift: Vec::new(),
        note: Some(why.to_string()),
    }
}

/// The value at `data[0].id` of `body`.
fn value_at<'v>(body: &'v Value, path: &str) -> Option<&'v Value> {
    let mut at = body;
    for part in path.split('.') {
        let (key, rest) = part.split_once('[').unwrap_or((part, ""));
        if !key.is_empty() {
            at = at.get(key)?;
        }
        for index in rest.split('[') {
            let index = index.trim_end_matches(']');
            if !index.is_empty() {
                at = at.get(index.parse::<usize>().ok()?)?;
            }
        }
    }
    Some(at)
}

/// `GET {base}{template with params}?{query}`, retrying `429`/`503` after `Retry-After`.
/// The error is a reason without the URL (`connect`, `timeout`, …).
async fn fetch(
    client: &mangrove::Client,
    template: &str,
    params: &[String],
    query: &[(&str, &str)],
) -> Result<Answer, String> {
    debug_assert!(
        !query
            .iter()
            .any(|(k, v)| *k == "response_mode" && *v == "summary_with_export"),
        "the doctor never starts an export"
    );
    let mut url = url::Url::parse(client.baseurl()).map_err(|_| "bad base URL".to_string())?;
    {
        let mut segments = url
            .path_segments_mut()
            .map_err(|_| "bad base URL".to_string())?;
        segments.pop_if_empty();
        let mut params = params.iter();
        for part in template.split('/').filter(|s| !s.is_empty()) {
            if part.starts_with('{') {
                segments.push(params.next().map(String::as_str).unwrap_or(""));
            } else {
                segments.push(part);
            }
        }
    }
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let mut retries = 0;
    loop {
        let response = client
            .client()
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(reason)?;
        let status = response.status().as_u16();
        if (status == 429 || status == 503) && retries < RETRIES {
            retries += 1;
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(DEFAULT_WAIT, Duration::from_secs)
                .min(MAX_WAIT);
            tokio::time::sleep(wait).await;
            continue;
        }
        let headers = response.headers().clone();
        let body = read_bounded(response).await?;
        return Ok(Answer {
            status,
            headers,
            body,
        });
    }
}

async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(reason)? {
        if body.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(format!("body larger than {} MiB", MAX_BODY / (1024 * 1024)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// What went wrong, without the URL (which may hold a query string).
fn reason(e: reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "cannot connect".into()
    } else if e.is_body() || e.is_decode() {
        "body cut off".into()
    } else {
        "request failed (TLS, redirect or protocol)".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_at_paths() {
        let body = serde_json::json!({"data": [{"id": 7, "xs": [[1, 2]]}]});
        assert_eq!(value_at(&body, "data[0].id"), Some(&serde_json::json!(7)));
        assert_eq!(
            value_at(&body, "data[0].xs[0][1]"),
            Some(&serde_json::json!(2))
        );
        assert_eq!(value_at(&body, "data[1].id"), None);
    }

    #[test]
    fn every_answer_schema_of_a_get_has_a_decoder() {
        let spec = Spec::embedded().unwrap();
        for op in spec.get_operations() {
            let ResponseSchema::Json(schema) = spec.response_schema(&op.path, 200) else {
                panic!("{} has no JSON 200", op.id);
            };
            let name = Spec::ref_name(schema).unwrap_or("(inline)");
            assert!(
                DECODED_SCHEMAS.contains(&name),
                "{}: no decoder for {name}",
                op.id
            );
        }
    }
}
