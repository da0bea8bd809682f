//! The API side of the fake: one `wiremock` responder that routes every request.
//!
//! Each request goes through the same steps: retention cleanup, the rate limit (`429` past the
//! limit), armed faults, authentication (`401`), routing (`404`/`405`), then the operation. Every
//! answer gets the `RateLimit-*` headers and a `Date` from the fake's clock, and is written to the
//! journal.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use serde_json::{json, Value};
use wiremock::{Request, Respond, ResponseTemplate};

use super::data::Collection;
use super::journal::ApiRequest;
use super::{exports, faults, lists, objects, request_schema, Shared, State, TokenKind};

/// The path every API route lives under.
const API_PREFIX: &str = "/api/v1";

/// The catch-all responder mounted on the fake's `MockServer`.
pub(crate) struct Router {
    shared: Arc<Shared>,
}

impl Router {
    pub(crate) fn new(shared: Arc<Shared>) -> Router {
        Router { shared }
    }
}

impl Respond for Router {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        handle(&self.shared, request).into_template()
    }
}

// ---------------------------------------------------------------------------------------------
// Answers.

/// An answer before it becomes a `ResponseTemplate`.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) body: Vec<u8>,
    pub(crate) content_type: Option<&'static str>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) delay: Option<Duration>,
}

impl Reply {
    /// `status` with `value` as a JSON body.
    pub(crate) fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            body: serde_json::to_vec(value).unwrap_or_default(),
            content_type: Some("application/json"),
            headers: Vec::new(),
            delay: None,
        }
    }

    /// `status` with `{"message": message}`.
    pub(crate) fn message(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, &json!({ "message": message.into() }))
    }

    /// `404 {"message":"Record not found."}`.
    pub(crate) fn not_found() -> Reply {
        Reply::message(404, "Record not found.")
    }

    /// `status` with a raw body.
    pub(crate) fn raw(status: u16, body: Vec<u8>, content_type: Option<&'static str>) -> Reply {
        Reply {
            status,
            body,
            content_type,
            headers: Vec::new(),
            delay: None,
        }
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn into_template(self) -> ResponseTemplate {
        // Statuses come from the fake itself or from `Fault::status`, which only keeps valid ones.
        let status = http::StatusCode::from_u16(self.status)
            .unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
        let mut template = ResponseTemplate::new(status);
        for (name, value) in self.headers {
            // Fault headers come from test code; skip any that are not valid HTTP.
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::from_bytes(name.as_bytes()),
                http::HeaderValue::from_str(&value),
            ) {
                template = template.append_header(name, value);
            }
        }
        template = match self.content_type {
            Some(mime) => template.set_body_raw(self.body, mime),
            None => template.set_body_bytes(self.body),
        };
        if let Some(delay) = self.delay {
            template = template.set_delay(delay);
        }
        template
    }
}

// ---------------------------------------------------------------------------------------------
// Routes.

macro_rules! operations {
    ($($op:ident = $id:literal, $method:literal $pattern:literal $(=> $resource:ident)?;)+) => {
        /// One operation of `openapi.yaml`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(crate) enum Op {
            $($op,)+
        }

        impl Op {
            /// The `operationId` in `openapi.yaml`.
            pub(crate) fn id(self) -> &'static str {
                match self {
                    $(Op::$op => $id,)+
                }
            }

            /// The resource a list operation serves.
            pub(crate) fn list_resource(self) -> Option<Collection> {
                match self {
                    $($(Op::$op => Some(Collection::$resource),)?)+
                    #[allow(unreachable_patterns)]
                    _ => None,
                }
            }
        }

        /// `(method, path pattern under /api/v1, operation)`; `{}` is one path parameter, `{int}` one
/// that the spec types as an `int64` (anything else is answered `400`).
        pub(crate) const ROUTES: &[(&str, &str, Op)] = &[
            $(($method, $pattern, Op::$op),)+
        ];
    };
}

operations! {
    ListProjects = "list_projects", "GET" "projects" => Projects;
    GetProject = "get_project", "GET" "projects/{int}";
    ListEvents = "list_events", "GET" "projects/{int}/events" => Events;
    CreateEvent = "create_event", "POST" "projects/{int}/events";
    GetEvent = "get_event", "GET" "projects/{int}/events/{}";
    UpdateEvent = "update_event", "PATCH" "projects/{int}/events/{}";
    ListEventTypes = "list_event_types", "GET" "projects/{int}/event_types" => EventTypes;
    CreateEventType = "create_event_type", "POST" "projects/{int}/event_types";
    ListDataPoints = "list_data_points", "GET" "projects/{int}/data_points" => DataPoints;
    GetDataPoint = "get_data_point", "GET" "projects/{int}/events/{}/data_points/{}";
    BulkDismissRuleResults = "bulk_dismiss_rule_results", "POST" "projects/{int}/rule_results/bulk_dismiss";
    ListLocations = "list_locations", "GET" "locations" => Locations;
    ListBatches = "list_batches", "GET" "batches" => Batches;
    GetBatch = "get_batch", "GET" "batches/{}";
    ListBatchEvidences = "list_batch_evidences", "GET" "batches/{}/evidences" => BatchEvidences;
    ListLedgers = "list_ledgers", "GET" "ledgers" => Ledgers;
    GetLedger = "get_ledger", "GET" "ledgers/{}";
    UpdateLedger = "update_ledger", "PATCH" "ledgers/{}";
    ListLedgerBatches = "list_ledger_batches", "GET" "ledgers/{}/batches" => LedgerBatches;
    UpdateBatchInputs = "update_batch_inputs", "PATCH" "ledgers/{}/batches/{}/update_inputs";
    GetLedgerRequiredInputs = "get_ledger_required_inputs", "GET" "ledgers/{}/required_inputs";
    GeneratePreview = "generate_preview", "POST" "ledgers/{}/generate_preview";
    CreateBatchGeneration = "create_batch_generation", "POST" "ledgers/{}/batch_generations";
    ListModels = "list_models", "GET" "models" => Models;
    GetModel = "get_model", "GET" "models/{}";
    UpdateModel = "update_model", "PATCH" "models/{}";
    CreateModelVersion = "create_model_version", "POST" "models/{}/versions";
    GetModelSchema = "get_model_schema", "GET" "models/{}/schema";
    SimulateModel = "simulate_model", "POST" "models/{}/simulate";
    ListModelRuns = "list_model_runs", "GET" "models/{}/model_runs" => ModelRuns;
    CreateModelRun = "create_model_run", "POST" "models/{}/model_runs";
    GetModelRun = "get_model_run", "GET" "model_runs/{int}";
    ListFeedstocks = "list_feedstocks", "GET" "feedstocks" => Feedstocks;
    ListTrackingUnits = "list_tracking_units", "GET" "tracking_units" => TrackingUnits;
    ListReports = "list_reports", "GET" "reports" => Reports;
    GetReport = "get_report", "GET" "reports/{}";
    UpdateReport = "update_report", "PATCH" "reports/{}";
    ListOrders = "list_orders", "GET" "orders" => Orders;
    GetOrder = "get_order", "GET" "orders/{int}";
    CreateExport = "create_export", "POST" "exports";
    GetExport = "get_export", "GET" "exports/{}";
}

/// Why no route matched.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Miss {
    NotFound,
    /// The path exists for these methods only (sent back in `Allow`).
    MethodNotAllowed(Vec<&'static str>),
    /// A path parameter the spec types as `int64` is not one.
    NotAnInteger(String),
}

/// The operation for `method` on `rel` (the path under `/api/v1`) and its path parameters.
fn route<'a>(method: &str, rel: &'a str) -> Result<(Op, Vec<&'a str>), Miss> {
    let rel = rel.strip_prefix('/').unwrap_or(rel);
    let rel = rel.strip_suffix('/').unwrap_or(rel);
    let segments: Vec<&str> = rel.split('/').collect();
    let mut allowed = Vec::new();
    for (m, pattern, op) in ROUTES {
        let parts: Vec<&str> = pattern.split('/').collect();
        if parts.len() != segments.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = parts.iter().zip(&segments).all(|(part, seg)| {
            if part.starts_with('{') {
                params.push(*seg);
                !seg.is_empty()
            } else {
                part == seg
            }
        });
        if !matched {
            continue;
        }
        if *m != method {
            allowed.push(*m);
            continue;
        }
        let not_int = parts
            .iter()
            .zip(&segments)
            .find(|(part, seg)| **part == "{int}" && seg.parse::<i64>().is_err());
        if let Some((_, seg)) = not_int {
            return Err(Miss::NotAnInteger((*seg).to_string()));
        }
        return Ok((*op, params));
    }
    if allowed.is_empty() {
        Err(Miss::NotFound)
    } else {
        Err(Miss::MethodNotAllowed(allowed))
    }
}

// ---------------------------------------------------------------------------------------------
// One request.

/// What an operation handler gets.
pub(crate) struct Ctx<'a> {
    pub(crate) shared: &'a Shared,
    pub(crate) op: Op,
    pub(crate) params: Vec<&'a str>,
    pub(crate) query: Vec<(String, String)>,
    pub(crate) body: &'a [u8],
    pub(crate) token: TokenKind,
    /// Arrival time on the fake's clock.
    pub(crate) at: Duration,
}

impl Ctx<'_> {
    /// The first query parameter called `name`.
    pub(crate) fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Path parameter number `i` (0-based), or `""`.
    pub(crate) fn param(&self, i: usize) -> &str {
        self.params.get(i).copied().unwrap_or("")
    }

    /// The request body as JSON, or a `400`.
    pub(crate) fn json_body(&self) -> Result<Value, Reply> {
        serde_json::from_slice(self.body)
            .map_err(|e| Reply::message(400, format!("The request body is not valid JSON: {e}")))
    }
}

fn handle(shared: &Shared, request: &Request) -> Reply {
    let at = shared.clock.now();
    let method = request.method.as_str();
    let path = request.url.path();
    let authorization = request
        .headers
        .get(http::header::AUTHORIZATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let token = authorization.as_deref().map(strip_bearer).unwrap_or("");
    let rel = path
        .strip_prefix(API_PREFIX)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'));
    let routed = match rel {
        Some(rel) => route(method, rel),
        None => Err(Miss::NotFound),
    };
    let op = routed.as_ref().ok().map(|(op, _)| *op);
    let fault_path = rel.unwrap_or(path);

    let (reading, fault) = {
        let mut state = shared.lock();
        exports::sweep(shared, &mut state, at);
        let reading = rate_limit(shared, &mut state, token);
        let fault = if reading.exceeded {
            None
        } else {
            state.faults.take_api(method, fault_path, op)
        };
        (reading, fault)
    };

    let mut reply = if reading.exceeded {
        Reply::message(429, "Too Many Requests")
            .header("retry-after", reading.retry_after.to_string())
    } else {
        let delay = fault.as_ref().and_then(|f| f.delay);
        let edits = fault
            .as_ref()
            .map(faults::ApiFault::edits)
            .unwrap_or_default();
        let mut reply = match fault.and_then(faults::ApiFault::into_reply) {
            Some(reply) => reply,
            None => match TokenKind::from_token(token) {
                None => Reply::message(401, "Unauthorized"),
                Some(kind) => match routed {
                    Err(Miss::NotFound) => Reply::message(404, "Not Found"),
                    Err(Miss::MethodNotAllowed(allowed)) => {
                        Reply::message(405, "Method Not Allowed")
                            .header("allow", allowed.join(", "))
                    }
                    Err(Miss::NotAnInteger(segment)) => Reply::message(
                        400,
                        format!("The path parameter {segment:?} must be a 64-bit integer."),
                    ),
                    Ok((op, params)) => {
                        let ctx = Ctx {
                            shared,
                            op,
                            params,
                            query: request
                                .url
                                .query_pairs()
                                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                                .collect(),
                            body: &request.body,
                            token: kind,
                            at,
                        };
                        dispatch(&ctx)
                    }
                },
            },
        };
        reply.delay = reply.delay.or(delay);
        edits.apply(&mut reply);
        reply
    };

    reply
        .headers
        .push(("ratelimit-limit".into(), reading.limit.to_string()));
    reply
        .headers
        .push(("ratelimit-remaining".into(), reading.remaining.to_string()));
    reply
        .headers
        .push(("ratelimit-reset".into(), reading.reset.to_string()));
    reply
        .headers
        .push(("date".into(), http_date(shared.clock.system_now())));

    let entry = ApiRequest {
        method: method.to_string(),
        path: path.to_string(),
        query: request.url.query().map(str::to_string),
        headers: request
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        status: reply.status,
        at,
        operation: op.map(Op::id),
    };
    shared.lock().journal.push(entry);
    reply
}

fn dispatch(ctx: &Ctx<'_>) -> Reply {
    if let Some(resource) = ctx.op.list_resource() {
        return lists::list(ctx, resource);
    }
    if let Err(reply) = request_schema::check_body(ctx) {
        return reply;
    }
    match ctx.op {
        Op::CreateExport => exports::create(ctx),
        Op::GetExport => exports::status(ctx),
        _ => objects::handle(ctx),
    }
}

/// The token in an `Authorization` value: without a `Bearer ` prefix (any case), trimmed.
fn strip_bearer(value: &str) -> &str {
    let value = value.trim();
    match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("bearer ") => value[7..].trim(),
        _ => value,
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(at: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(at)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Rate limiting.

/// A token's current window.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Window {
    /// Unix minute of the window.
    minute: u64,
    /// Requests seen in it.
    count: u64,
}

/// The rate-limit state after counting one request.
struct Reading {
    limit: u64,
    remaining: u64,
    /// Unix seconds of the window's end.
    reset: u64,
    /// Whole seconds until the reset (at least 1).
    retry_after: u64,
    exceeded: bool,
}

/// Counts one request of `token` in its fixed 60-second window (aligned to Unix minutes of the
/// fake's clock, so `RateLimit-Reset` minus `Date` never undershoots the real wait).
fn rate_limit(shared: &Shared, state: &mut State, token: &str) -> Reading {
    let now = shared
        .clock
        .system_now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let minute = now.as_secs() / 60;
    let window = state.windows.entry(token.to_string()).or_default();
    if window.minute != minute {
        *window = Window { minute, count: 0 };
    }
    window.count += 1;
    let limit = u64::from(shared.config.rate_limit);
    let reset = (minute + 1) * 60;
    let until = Duration::from_secs(reset).saturating_sub(now);
    let retry_after = (until.as_secs() + u64::from(until.subsec_nanos() > 0)).max(1);
    Reading {
        limit,
        remaining: limit.saturating_sub(window.count),
        reset,
        retry_after,
        exceeded: window.count > limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_match_patterns_and_methods() {
        assert_eq!(route("GET", "/projects"), Ok((Op::ListProjects, vec![])));
        assert_eq!(route("GET", "/projects/"), Ok((Op::ListProjects, vec![])));
        assert_eq!(
            route("GET", "/projects/7/events"),
            Ok((Op::ListEvents, vec!["7"]))
        );
        assert_eq!(
            route("GET", "/projects/7/events/evt_x/data_points/in_y"),
            Ok((Op::GetDataPoint, vec!["7", "evt_x", "in_y"]))
        );
        assert_eq!(
            route("DELETE", "/projects"),
            Err(Miss::MethodNotAllowed(vec!["GET"]))
        );
        assert_eq!(
            route("PUT", "/models/mdl_x/model_runs"),
            Err(Miss::MethodNotAllowed(vec!["GET", "POST"]))
        );
        assert_eq!(
            route("GET", "/projects/x/events"),
            Err(Miss::NotAnInteger("x".into()))
        );
        assert_eq!(
            route("GET", "/orders/9223372036854775808"),
            Err(Miss::NotAnInteger("9223372036854775808".into()))
        );
        assert_eq!(route("GET", "/nothing"), Err(Miss::NotFound));
        assert_eq!(route("GET", "/projects//events"), Err(Miss::NotFound));
        assert_eq!(route("POST", "/exports"), Ok((Op::CreateExport, vec![])));
    }

    #[test]
    fn bearer_prefix_is_optional() {
        assert_eq!(strip_bearer("Bearer abc"), "abc");
        assert_eq!(strip_bearer("bearer  abc "), "abc");
        assert_eq!(strip_bearer("abc"), "abc");
        assert_eq!(strip_bearer("Bear"), "Bear");
    }

    #[test]
    fn every_list_operation_has_a_resource() {
        let lists = ROUTES
            .iter()
            .filter(|(_, _, op)| op.list_resource().is_some())
            .count();
        assert_eq!(lists, 15);
    }
}
