//! What the doctor found: a table for the terminal and a JSON report for a bug report.
//!
//! The report holds operation ids, path templates, statuses, JSON paths, drift kinds and JSON
//! types only: never the token, the base URL, a query string, an id or any other value of the
//! account's data.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::drift::{generalise, Drift, Kind};

/// Version of the JSON report's layout.
pub const REPORT_VERSION: u32 = 1;

/// Everything one run found.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    /// Layout version of this report.
    pub report_version: u32,
    /// `mangrove` crate version.
    pub sdk_version: String,
    /// `info.version` of the embedded `openapi.yaml`.
    pub spec_version: String,
    /// `embedded_fake`, `default` (the documented production URL) or `custom`
    /// (`MANGROVE_BASE_URL`); never the URL itself.
    pub target: String,
    /// Connection, authentication and rate-limit checks.
    pub checks: Checks,
    /// One entry per call.
    pub calls: Vec<Call>,
    /// Totals.
    pub summary: Summary,
}

/// The checks made before the tour.
#[derive(Debug, Default, Serialize)]
pub struct Checks {
    /// Some HTTP answer came back from the base URL.
    pub reachable: bool,
    /// Why not, when not reachable (`connect`, `timeout`, `tls or request`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreachable_reason: Option<String>,
    /// Status of `GET /projects` with `Authorization: Bearer <token>` (absent if not tried).
    pub bearer_status: Option<u16>,
    /// Status of `GET /projects` with `Authorization: <token>` (absent if not tried).
    pub bare_status: Option<u16>,
    /// The style the tour used: `bearer` or `bare` (absent when neither was accepted).
    pub auth_scheme: Option<String>,
    /// Rate-limit headers on an accepted answer: name → whether its value is a whole number.
    pub rate_limit_headers: BTreeMap<String, bool>,
    /// All of `RateLimit-Limit`, `-Remaining` and `-Reset` (what the SDK waits out a 429 with, and `Client::rate_limit()` reads).
    pub sdk_rate_limit_headers_present: bool,
}

/// One call of the tour.
#[derive(Clone, Debug, Serialize)]
pub struct Call {
    /// `operationId`.
    pub operation: String,
    /// The path template (`/projects/{project_id}/events`), never the concrete path.
    pub path: String,
    /// `page` (page 1, small page size), `summary` (`response_mode=summary`) or `item`.
    pub mode: String,
    /// What happened.
    pub outcome: Outcome,
    /// HTTP status, when a request was made.
    pub status: Option<u16>,
    /// The SDK's generated type decoded the body (`None`: not tried).
    pub decoded: Option<bool>,
    /// Where and why decoding failed (values redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decode_error: Option<DecodeError>,
    /// Differences between the body and the spec, grouped over the items of a page.
    pub drift: Vec<DriftGroup>,
    /// Why the call was skipped or failed, without values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How one call went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A success status whose body was checked.
    Checked,
    /// An error status (its body checked against the spec's error schema when JSON).
    HttpError,
    /// No answer (connection failure, timeout, body too large).
    Failed,
    /// Not made: no id to use (an empty list) or an operation the doctor never calls.
    Skipped,
}

/// A body the SDK's type did not decode.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DecodeError {
    /// The JSON path (`data[3].feedstocks[0].id`).
    pub path: String,
    /// serde's message with every quoted or back-ticked value replaced by `…`.
    pub message: String,
}

/// One drift, counted over the places it occurs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DriftGroup {
    /// The path with indexes generalised (`data[*].feedstocks`).
    pub schema_path: String,
    /// The first concrete path (`data[0].feedstocks`).
    pub first_path: String,
    /// What kind of drift.
    pub kind: Kind,
    /// What the spec declares.
    pub expected: String,
    /// The JSON type found.
    pub found: String,
    /// How many places of this body.
    pub count: usize,
}

/// Totals of a run.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    /// Calls made.
    pub calls: usize,
    /// Bodies the SDK decoded.
    pub decoded: usize,
    /// Bodies the SDK did not decode.
    pub decode_failures: usize,
    /// Drift groups over all calls.
    pub drift: usize,
    /// Calls answered with an error status.
    pub http_errors: usize,
    /// Calls that got no answer.
    pub failed: usize,
    /// Calls not made.
    pub skipped: usize,
}

/// Groups findings by (generalised path, kind, expected, found), keeping the first path.
pub fn group(drifts: Vec<Drift>) -> Vec<DriftGroup> {
    let mut groups: Vec<DriftGroup> = Vec::new();
    for d in drifts {
        let schema_path = generalise(&d.path);
        match groups.iter_mut().find(|g| {
            g.schema_path == schema_path
                && g.kind == d.kind
                && g.expected == d.expected
                && g.found == d.found
        }) {
            Some(g) => g.count += 1,
            None => groups.push(DriftGroup {
                schema_path,
                first_path: d.path,
                kind: d.kind,
                expected: d.expected,
                found: d.found,
                count: 1,
            }),
        }
    }
    groups
}

/// serde's message with values hidden: `invalid type: string "abc", expected i64` becomes
/// `invalid type: string "…", expected i64`; back-ticked values (numbers, variants) likewise.
/// The field name of `missing field `id`` is kept: it is the spec's, not the account's.
pub fn redact(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut open: Option<char> = None;
    let mut escaped = false;
    for c in message.chars() {
        match open {
            Some('k') => {
                out.push(c);
                if c == '`' {
                    open = None;
                }
            }
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' && q == '"' {
                    escaped = true;
                } else if c == q {
                    out.push('…');
                    out.push(c);
                    open = None;
                }
            }
            None => {
                out.push(c);
                if c == '`' && out.ends_with("missing field `") {
                    open = Some('k');
                } else if c == '"' || c == '`' {
                    open = Some(c);
                }
            }
        }
    }
    if open.is_some() {
        out.push('…');
    }
    out
}

impl Report {
    /// Fills in [`Report::summary`] from the calls.
    pub fn finish(&mut self) {
        let mut s = Summary::default();
        for call in &self.calls {
            match call.outcome {
                Outcome::Skipped => s.skipped += 1,
                Outcome::Failed => {
                    s.calls += 1;
                    s.failed += 1
                }
                Outcome::HttpError => {
                    s.calls += 1;
                    s.http_errors += 1
                }
                Outcome::Checked => s.calls += 1,
            }
            match call.decoded {
                Some(true) => s.decoded += 1,
                Some(false) => s.decode_failures += 1,
                None => {}
            }
            s.drift += call.drift.len();
        }
        self.summary = s;
    }

    /// No drift and every body decoded.
    pub fn is_clean(&self) -> bool {
        self.summary.drift == 0 && self.summary.decode_failures == 0
    }

    /// The terminal view: checks, one row per call, the drift found, a summary line.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let c = &self.checks;
        let status = |s: Option<u16>| s.map_or_else(|| "-".to_string(), |s| s.to_string());
        let _ = writeln!(
            out,
            "mangrove doctor (sdk {}, spec {}, target {})",
            self.sdk_version, self.spec_version, self.target
        );
        let _ = writeln!(
            out,
            "reachable: {}{}",
            if c.reachable { "yes" } else { "NO" },
            c.unreachable_reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
        let _ = writeln!(
            out,
            "authorization: Bearer -> {}, bare token -> {}; using {}",
            status(c.bearer_status),
            status(c.bare_status),
            c.auth_scheme.as_deref().unwrap_or("none")
        );
        let headers: Vec<&str> = c.rate_limit_headers.keys().map(String::as_str).collect();
        let _ = writeln!(
            out,
            "rate-limit headers: {}{}",
            if headers.is_empty() {
                "none".to_string()
            } else {
                headers.join(", ")
            },
            if c.sdk_rate_limit_headers_present {
                ""
            } else {
                " (the SDK reads RateLimit-Limit/-Remaining/-Reset: not all present)"
            }
        );
        if !self.calls.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(
                out,
                "{:<28} {:<8} {:>6}  {:<8} {:>5}  note",
                "operation", "mode", "status", "decode", "drift"
            );
            for call in &self.calls {
                let decode = match call.decoded {
                    Some(true) => "ok",
                    Some(false) => "FAILED",
                    None => "-",
                };
                let row = format!(
                    "{:<28} {:<8} {:>6}  {:<8} {:>5}  {}",
                    call.operation,
                    call.mode,
                    status(call.status),
                    decode,
                    call.drift.len(),
                    call.note.as_deref().unwrap_or("")
                );
                let _ = writeln!(out, "{}", row.trim_end());
            }
        }
        let problems: Vec<&Call> = self
            .calls
            .iter()
            .filter(|c| !c.drift.is_empty() || c.decode_error.is_some())
            .collect();
        if !problems.is_empty() {
            let _ = writeln!(out);
            for call in problems {
                let _ = writeln!(out, "{} ({}):", call.operation, call.mode);
                if let Some(e) = &call.decode_error {
                    let _ = writeln!(out, "  decode failed at {}: {}", e.path, e.message);
                }
                for g in &call.drift {
                    let times = if g.count > 1 {
                        format!(" (x{}, first at {})", g.count, g.first_path)
                    } else {
                        String::new()
                    };
                    let _ = writeln!(
                        out,
                        "  {}: {}; spec: {}; found: {}{}",
                        g.schema_path, g.kind, g.expected, g.found, times
                    );
                }
            }
        }
        let s = &self.summary;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} calls: {} decoded, {} decode failures, {} drift, {} http errors, {} failed, {} skipped -> {}",
            s.calls,
            s.decoded,
            s.decode_failures,
            s.drift,
            s.http_errors,
            s.failed,
            s.skipped,
            if self.is_clean() {
                "no drift"
            } else {
                "DRIFT: attach `--json report.json` to a bug report"
            }
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_values() {
        assert_eq!(
            redact(r#"invalid type: string "evt_\"x", expected i64 at line 1 column 9"#),
            r#"invalid type: string "…", expected i64 at line 1 column 9"#
        );
        assert_eq!(
            redact("invalid type: integer `42`, expected a string"),
            "invalid type: integer `…`, expected a string"
        );
        assert_eq!(redact("unterminated \"abc"), "unterminated \"…");
        assert_eq!(
            redact("missing field `id` at line 1 column 2, unknown variant `x`"),
            "missing field `id` at line 1 column 2, unknown variant `…`"
        );
    }

    #[test]
    fn groups_count_items() {
        let d = |path: &str| Drift {
            path: path.into(),
            kind: Kind::NullNotAllowed,
            expected: "array".into(),
            found: "null".into(),
        };
        let groups = group(vec![d("data[0].x"), d("data[7].x"), d("info")]);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].schema_path, "data[*].x");
        assert_eq!(groups[0].first_path, "data[0].x");
        assert_eq!(groups[0].count, 2);
        assert_eq!(groups[1].schema_path, "info");
    }
}
