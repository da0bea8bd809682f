//! Faults a test arms with [`FakeMangrove::inject`](super::FakeMangrove::inject).

use std::collections::VecDeque;
use std::time::Duration;

use serde_json::{json, Value};

use super::api::{Op, Reply};
use super::storage::StorageFault;
use super::Shared;

/// A fault for the next matching requests, armed with
/// [`FakeMangrove::inject`](super::FakeMangrove::inject).
///
/// **API faults** start with [`Fault::on`] (or [`Fault::any`]) and apply to the next
/// [`times`](Self::times) (default 1) API requests that match the target, before authentication:
///
/// ```
/// # use std::time::Duration;
/// use mangrove::testing::Fault;
/// Fault::on("GET /exports").times(2).status(503);          // JSON body {"message": "Service Unavailable"}
/// Fault::on("list_projects").status(502).html_body();       // an HTML page from a "proxy"
/// Fault::on("/exports").status(500).empty_body();           // any method, no body
/// Fault::on("POST /exports").status(429).header("retry-after", "7");
/// Fault::on("get_export").delay(Duration::from_millis(300)); // the real answer, late
/// Fault::on("GET /projects").malformed_json();              // 200 with broken JSON
/// Fault::on("list_batches").set_json("data[0].feedstocks", serde_json::Value::Null); // drift
/// ```
///
/// A target is `"*"` (every request), an `operationId` of the API (the generated client's
/// method name, `"get_export"`), a path prefix (`"/exports"`, any method) or a method and a path prefix (`"GET /exports"`). Paths are
/// relative to `/api/v1` (a leading `/api/v1` is ignored) and match whole segments: `"/exports"`
/// matches `/exports` and `/exports/exp_…`, not `/exportsx`. Without
/// [`status`](Self::status) or [`malformed_json`](Self::malformed_json), a fault with a
/// [`delay`](Self::delay) delays the real answer and one without is a `500`.
/// [`set_json`](Self::set_json) edits the real answer's JSON body instead (drift from the spec).
///
/// **Answer faults** change one part of the next answer of their kind:
/// [`Fault::export_status`] (the `status` of the next `200` export status answer) and
/// [`Fault::foreign_status_url`] (the `status_url` of the next export start).
///
/// **Storage faults** ([`Fault::storage`]) are handed to
/// [`StorageOrigin::inject`](super::StorageOrigin::inject) and apply to the next file `GET`s.
/// Stalls, truncated or reset bodies and wrong `Content-Length`s exist only there: the API server
/// (wiremock) always writes whole bodies.
///
/// Delays on the API side are real time (they run on wiremock's own thread), even under a paused
/// tokio clock.
#[derive(Clone, Debug)]
#[must_use]
pub struct Fault {
    kind: Kind,
    times: u32,
}

#[derive(Clone, Debug)]
enum Kind {
    Api(ApiSpec),
    ExportStatus(String),
    ForeignStatusUrl(String),
    FileSize(u64),
    Storage(StorageFault),
    LostStart(u16, Option<Duration>),
}

#[derive(Clone, Debug)]
pub(crate) struct ApiSpec {
    target: Target,
    action: Option<Action>,
    body: Body,
    headers: Vec<(String, String)>,
    delay: Option<Duration>,
    /// `(path, value)` edits of the real answer's JSON body ([`Fault::set_json`]).
    edits: Vec<(String, Value)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Target {
    Any,
    Operation(String),
    Path {
        method: Option<String>,
        prefix: String,
    },
}

#[derive(Clone, Copy, Debug)]
enum Action {
    Status(u16),
    MalformedJson,
}

#[derive(Clone, Debug)]
enum Body {
    /// `{"message": <reason phrase>}`.
    Message,
    Json(Value),
    Html,
    Empty,
}

impl Fault {
    /// An API fault for requests matching `target` (see the type's docs for the syntax).
    pub fn on(target: &str) -> Fault {
        Fault::api(parse_target(target))
    }

    /// An API fault for every API request.
    pub fn any() -> Fault {
        Fault::api(Target::Any)
    }

    fn api(target: Target) -> Fault {
        Fault {
            kind: Kind::Api(ApiSpec {
                target,
                action: None,
                body: Body::Message,
                headers: Vec::new(),
                delay: None,
                edits: Vec::new(),
            }),
            times: 1,
        }
    }

    /// The `status` of the next export status answer (`GET /exports/{id}` with `200`) is `value`
    /// instead of the real one, e.g. `"expired"`; the rest of the answer is unchanged.
    pub fn export_status(value: &str) -> Fault {
        Fault {
            kind: Kind::ExportStatus(value.to_string()),
            times: 1,
        }
    }

    /// The `file_size_bytes` of the next `completed` export status answer is `bytes` instead of
    /// the file's real size (e.g. `u64::MAX / 2` for a giant claimed size, or `0`); the file
    /// itself is unchanged.
    pub fn file_size(bytes: u64) -> Fault {
        Fault {
            kind: Kind::FileSize(bytes),
            times: 1,
        }
    }

    /// The `status_url` of the next export start (`summary_with_export` or `POST /exports`) is
    /// `{origin}/api/v1/exports/{id}` on this foreign origin, e.g. `"http://127.0.0.2:9"`.
    pub fn foreign_status_url(origin: &str) -> Fault {
        Fault {
            kind: Kind::ForeignStatusUrl(origin.trim_end_matches('/').to_string()),
            times: 1,
        }
    }

    /// The next export start (`summary_with_export` or `POST /exports`) **creates the export**
    /// and then answers as if a gateway lost the answer: `504` with an HTML page, or the status
    /// set with [`status`](Self::status), or that answer only after [`delay`](Self::delay) (real
    /// time: a client whose time-out is shorter gets no answer at all, like a connection lost
    /// after the request was sent). The export exists and runs (it holds one of the account's
    /// export slots until it ends), but the client never learns its id.
    ///
    /// Use it to test how your code handles an uncertain start: the SDK does not repeat the
    /// request and reports [`ExportError::StartUncertain`](crate::ExportError::StartUncertain).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use mangrove::testing::Fault;
    /// Fault::start_lost();                                      // export created, then 504
    /// Fault::start_lost().status(502);                          // export created, then 502
    /// Fault::start_lost().delay(Duration::from_secs(5));        // export created, answer late
    /// ```
    pub fn start_lost() -> Fault {
        Fault {
            kind: Kind::LostStart(504, None),
            times: 1,
        }
    }

    /// A fault of the storage origin, for the next file `GET`s.
    pub fn storage(fault: StorageFault) -> Fault {
        Fault {
            kind: Kind::Storage(fault),
            times: 1,
        }
    }

    /// Applies to the next `n` matching requests or answers (default 1).
    pub fn times(mut self, n: u32) -> Fault {
        self.times = n;
        self
    }

    /// Answer with this status (an invalid code becomes `500`) and, unless changed, a JSON body
    /// `{"message": "<reason phrase>"}`. API faults only.
    pub fn status(mut self, status: u16) -> Fault {
        let status = if (100..=999).contains(&status) && http::StatusCode::from_u16(status).is_ok()
        {
            status
        } else {
            500
        };
        match &mut self.kind {
            Kind::Api(spec) => spec.action = Some(Action::Status(status)),
            Kind::LostStart(s, _) => *s = status,
            _ => {}
        }
        self
    }

    /// The body of a [`status`](Self::status) fault is this JSON. API faults only.
    pub fn json_body(mut self, body: Value) -> Fault {
        if let Kind::Api(spec) = &mut self.kind {
            spec.body = Body::Json(body);
        }
        self
    }

    /// The body of a [`status`](Self::status) fault is a small HTML error page (`text/html`), as a
    /// proxy or load balancer sends. API faults only.
    pub fn html_body(mut self) -> Fault {
        if let Kind::Api(spec) = &mut self.kind {
            spec.body = Body::Html;
        }
        self
    }

    /// A [`status`](Self::status) fault has no body at all. API faults only.
    pub fn empty_body(mut self) -> Fault {
        if let Kind::Api(spec) = &mut self.kind {
            spec.body = Body::Empty;
        }
        self
    }

    /// Adds a header to a [`status`](Self::status) or
    /// [`malformed_json`](Self::malformed_json) answer (e.g. `Retry-After`); a name or value
    /// that is not valid in HTTP is left out. API faults only.
    pub fn header(mut self, name: &str, value: &str) -> Fault {
        if let Kind::Api(spec) = &mut self.kind {
            spec.headers
                .push((name.to_ascii_lowercase(), value.to_string()));
        }
        self
    }

    /// Delays the answer by `delay` (real time). API faults and [`start_lost`](Self::start_lost).
    pub fn delay(mut self, delay: Duration) -> Fault {
        match &mut self.kind {
            Kind::Api(spec) => spec.delay = Some(delay),
            Kind::LostStart(_, d) => *d = Some(delay),
            _ => {}
        }
        self
    }

    /// The real answer, with the value at `path` of its JSON body replaced by `value`: a way to
    /// serve bodies that drift from the API spec (an unknown field, a `null` array, a string
    /// id, an unknown enum value). `path` is dotted keys and `[index]`es, e.g.
    /// `data[0].feedstocks`, `id` or `info.filter`; a missing last key is added to its object,
    /// any other miss (an index past the end, a non-object parent, a body that is not JSON)
    /// leaves the body unchanged. Call it again to edit more paths of the same answer. Without a
    /// [`status`](Self::status) the answer's status stays the real one. API faults only.
    ///
    /// ```
    /// use mangrove::testing::Fault;
    /// use serde_json::json;
    /// Fault::on("get_batch")
    ///     .set_json("surprise", json!({"new": true}))      // a field the spec does not know
    ///     .set_json("allocations", json!(null))            // null where an array is expected
    ///     .set_json("state", json!("archived"));           // outside the documented enum
    /// ```
    pub fn set_json(mut self, path: &str, value: Value) -> Fault {
        if let Kind::Api(spec) = &mut self.kind {
            spec.edits.push((path.to_string(), value));
        }
        self
    }

    /// Answer `200` with a `Content-Type: application/json` body that is not valid JSON.
    /// API faults only.
    pub fn malformed_json(mut self) -> Fault {
        if let Kind::Api(spec) = &mut self.kind {
            spec.action = Some(Action::MalformedJson);
        }
        self
    }
}

/// A path-prefix, operation or method-and-path target.
fn parse_target(target: &str) -> Target {
    let target = target.trim();
    if target.is_empty() || target == "*" {
        return Target::Any;
    }
    let (method, path) = match target.split_once(char::is_whitespace) {
        Some((method, path)) => (Some(method.to_ascii_uppercase()), path.trim()),
        None => (None, target),
    };
    if method.is_none() && !path.starts_with('/') {
        return Target::Operation(path.to_string());
    }
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let prefix = path.trim_end_matches('/');
    let prefix = if prefix.starts_with('/') {
        prefix.to_string()
    } else {
        format!("/{prefix}")
    };
    Target::Path { method, prefix }
}

impl Target {
    fn matches(&self, method: &str, path: &str, op: Option<Op>) -> bool {
        match self {
            Target::Any => true,
            Target::Operation(id) => op.is_some_and(|op| op.id() == id),
            Target::Path { method: m, prefix } => {
                m.as_deref().is_none_or(|m| m == method)
                    && (prefix == "/"
                        || path == prefix
                        || path
                            .strip_prefix(prefix.as_str())
                            .is_some_and(|rest| rest.starts_with('/')))
            }
        }
    }
}

/// An API fault taken for one request.
pub(crate) struct ApiFault {
    pub(crate) delay: Option<Duration>,
    reply: Option<Reply>,
    edits: Vec<(String, Value)>,
}

impl ApiFault {
    /// The JSON edits ([`Fault::set_json`]) to apply to the answer, whichever it is.
    pub(crate) fn edits(&self) -> JsonEdits {
        JsonEdits(self.edits.clone())
    }

    /// The answer that replaces the real one, if the fault has one.
    pub(crate) fn into_reply(self) -> Option<Reply> {
        self.reply
    }
}

impl ApiSpec {
    fn take(&self) -> ApiFault {
        let reply = match self.action {
            Some(Action::Status(status)) => Some(status_reply(status, &self.body)),
            Some(Action::MalformedJson) => Some(Reply::raw(
                200,
                br#"{"data": [{"id": 1, "name": "Truncated proj"#.to_vec(),
                Some("application/json"),
            )),
            None if self.delay.is_some() || !self.edits.is_empty() => None,
            None => Some(status_reply(500, &self.body)),
        };
        let reply = reply.map(|mut reply| {
            reply.headers.extend(self.headers.iter().cloned());
            reply
        });
        ApiFault {
            delay: self.delay,
            reply,
            edits: self.edits.clone(),
        }
    }
}

/// Edits of an answer's JSON body, taken from a fault ([`Fault::set_json`]).
#[derive(Debug, Default)]
pub(crate) struct JsonEdits(Vec<(String, Value)>);

impl JsonEdits {
    /// Applies the edits to `reply`'s body when it is JSON; anything else is left unchanged.
    pub(crate) fn apply(self, reply: &mut Reply) {
        if self.0.is_empty() {
            return;
        }
        let Ok(mut body) = serde_json::from_slice::<Value>(&reply.body) else {
            return;
        };
        for (path, value) in self.0 {
            set_at(&mut body, &path, value);
        }
        if let Ok(bytes) = serde_json::to_vec(&body) {
            reply.body = bytes;
        }
    }
}

/// One step of a [`Fault::set_json`] path.
#[derive(Debug, PartialEq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// `data[0].feedstocks[1].id` as steps; `None` when it is not such a path.
fn parse_path(path: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            steps.push(Step::Key(key));
        } else if rest.is_empty() {
            return None;
        }
        while let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            steps.push(Step::Index(inner[..end].parse().ok()?));
            rest = &inner[end + 1..];
        }
        if !rest.is_empty() {
            return None;
        }
    }
    Some(steps)
}

/// Sets the value at `path` of `body` (adding a missing last key of an object).
fn set_at(body: &mut Value, path: &str, value: Value) {
    let Some(steps) = parse_path(path) else {
        return;
    };
    let Some((last, parents)) = steps.split_last() else {
        return;
    };
    let mut at = body;
    for step in parents {
        let next = match step {
            Step::Key(key) => at.get_mut(*key),
            Step::Index(i) => at.get_mut(*i),
        };
        match next {
            Some(next) => at = next,
            None => return,
        }
    }
    match (last, at) {
        (Step::Key(key), Value::Object(map)) => {
            map.insert((*key).to_string(), value);
        }
        (Step::Index(i), Value::Array(items)) => {
            if let Some(slot) = items.get_mut(*i) {
                *slot = value;
            }
        }
        _ => {}
    }
}

fn status_reply(status: u16, body: &Body) -> Reply {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    match body {
        Body::Message => Reply::json(status, &json!({ "message": reason })),
        Body::Json(value) => Reply::json(status, value),
        Body::Html => Reply::raw(
            status,
            format!(
                "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} \
                 {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            )
            .into_bytes(),
            Some("text/html"),
        ),
        Body::Empty => Reply::raw(status, Vec::new(), None),
    }
}

/// Armed faults of the API side.
#[derive(Debug, Default)]
pub(crate) struct Armed {
    api: Vec<(ApiSpec, u32)>,
    export_status: VecDeque<String>,
    status_url: VecDeque<String>,
    file_size: VecDeque<u64>,
    lost_start: VecDeque<(u16, Option<Duration>)>,
}

impl Armed {
    /// Takes one use of the first armed API fault matching the request.
    pub(crate) fn take_api(
        &mut self,
        method: &str,
        path: &str,
        op: Option<Op>,
    ) -> Option<ApiFault> {
        let i = self
            .api
            .iter()
            .position(|(spec, _)| spec.target.matches(method, path, op))?;
        let fault = self.api[i].0.take();
        self.api[i].1 -= 1;
        if self.api[i].1 == 0 {
            self.api.remove(i);
        }
        Some(fault)
    }

    /// The next armed export status value.
    pub(crate) fn take_export_status(&mut self) -> Option<String> {
        self.export_status.pop_front()
    }

    /// The next armed `file_size_bytes` override.
    pub(crate) fn take_file_size(&mut self) -> Option<u64> {
        self.file_size.pop_front()
    }

    /// The answer that replaces the next export start's, after the export was created.
    pub(crate) fn take_lost_start(&mut self) -> Option<Reply> {
        let (status, delay) = self.lost_start.pop_front()?;
        let mut reply = status_reply(status, &Body::Html);
        reply.delay = delay;
        Some(reply)
    }

    /// The next armed foreign origin for a `status_url`.
    pub(crate) fn take_status_url(&mut self) -> Option<String> {
        self.status_url.pop_front()
    }
}

fn repeat_into<T: Clone>(queue: &mut VecDeque<T>, value: T, times: u32) {
    queue.extend(std::iter::repeat_n(value, times as usize));
}

/// Arms `fault` on the fake.
pub(crate) fn arm(shared: &Shared, fault: Fault) {
    if fault.times == 0 {
        return;
    }
    match fault.kind {
        Kind::Storage(storage) => shared.storage.inject(storage, fault.times),
        Kind::Api(spec) => shared.lock().faults.api.push((spec, fault.times)),
        Kind::ExportStatus(value) => {
            repeat_into(&mut shared.lock().faults.export_status, value, fault.times)
        }
        Kind::FileSize(bytes) => {
            repeat_into(&mut shared.lock().faults.file_size, bytes, fault.times)
        }
        Kind::LostStart(status, delay) => repeat_into(
            &mut shared.lock().faults.lost_start,
            (status, delay),
            fault.times,
        ),
        Kind::ForeignStatusUrl(origin) => {
            repeat_into(&mut shared.lock().faults.status_url, origin, fault.times)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_match() {
        let t = parse_target("GET /exports");
        assert!(t.matches("GET", "/exports/exp_1", Some(Op::GetExport)));
        assert!(t.matches("GET", "/exports", None));
        assert!(!t.matches("POST", "/exports", Some(Op::CreateExport)));
        assert!(!t.matches("GET", "/exportsx", None));
        let t = parse_target("/api/v1/projects/");
        assert!(t.matches("GET", "/projects/1/events", Some(Op::ListEvents)));
        assert!(t.matches("POST", "/projects/1/events", Some(Op::CreateEvent)));
        let t = parse_target("get_export");
        assert!(t.matches("GET", "/exports/x", Some(Op::GetExport)));
        assert!(!t.matches("GET", "/exports/x", None));
        assert_eq!(parse_target("*"), Target::Any);
        assert!(parse_target("get /").matches("GET", "/anything", None));
    }

    #[test]
    fn json_edits_follow_paths() {
        let mut reply = Reply::json(200, &json!({"data": [{"id": 1, "xs": [1, 2]}], "info": {}}));
        JsonEdits(vec![
            ("data[0].id".into(), json!("1")),
            ("data[0].xs[1]".into(), json!(null)),
            ("data[0].new".into(), json!(true)),
            ("data[5].id".into(), json!(0)),
            ("info.a.b".into(), json!(0)),
            ("bad[x".into(), json!(0)),
        ])
        .apply(&mut reply);
        let body: Value = serde_json::from_slice(&reply.body).unwrap();
        assert_eq!(
            body,
            json!({"data": [{"id": "1", "xs": [1, null], "new": true}], "info": {}})
        );
        assert_eq!(parse_path("[2]"), Some(vec![Step::Index(2)]));
        assert_eq!(parse_path("a..b"), None);
    }
}
