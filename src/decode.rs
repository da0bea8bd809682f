//! Decoding response bodies: one plain pass when a body fits the spec, and an error that says
//! exactly where it does not.
//!
//! Every generated call (`client.get_project()…send()`) and the hand-written layer decode a body
//! with [`decode`]: `serde_json::from_slice`, as fast as a plain decode. Only when that fails is the
//! body read a second time (with `serde_path_to_error`) to find the JSON path of the value that did
//! not fit. The resulting [`DecodeError`] names the operation, the path
//! (`data[3].feedstocks[0].id`), what was expected and what was found, and keeps the first
//! [`BODY_PREFIX_LIMIT`] bytes of the body.
//!
//! Generated calls keep their error type: a body that does not decode is still
//! `progenitor_client::Error::InvalidResponsePayload(body_prefix, error)`, whose text is the
//! [`DecodeError`]'s. Converted into [`crate::Error`] it becomes [`crate::Error::Decode`]:
//!
//! ```
//! let body = br#"{"data": [{"id": 1}, {"id": "two"}]}"#;
//! #[derive(Debug, serde::Deserialize)]
//! struct Item { id: i64 }
//! #[derive(Debug, serde::Deserialize)]
//! struct Page { data: Vec<Item> }
//!
//! let err = mangrove::decode::decode::<Page>("list_items", body).unwrap_err();
//! assert_eq!(err.path(), "data[1].id");
//! assert_eq!(err.expected(), Some("i64"));
//! assert_eq!(err.found(), Some("string \"two\""));
//! assert_eq!(
//!     err.to_string(),
//!     "list_items: the response body does not match the spec at `data[1].id`: \
//!      invalid type: string \"two\", expected i64 (body: 36 bytes)"
//! );
//! ```

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::download::redact_urls;

/// How many bytes of a body that did not decode a [`DecodeError`] keeps (64 KiB).
pub const BODY_PREFIX_LIMIT: usize = 64 * 1024;

/// The path of the top-level value (the whole body).
const ROOT: &str = ".";

/// A response body that does not decode into the type the spec documents.
///
/// Its text names the operation, the JSON path of the first value that did not fit, and what was
/// expected and found:
/// ``get_project: the response body does not match the spec at `data.feedstocks[0].id`: invalid
/// type: string "fs_1", expected i64 (body: 812 bytes)``.
#[derive(Clone, PartialEq, Eq)]
pub struct DecodeError {
    operation: String,
    path: String,
    message: String,
    body_len: usize,
    body_prefix: Bytes,
}

impl DecodeError {
    /// The operation whose response did not decode, e.g. `"get_project"`.
    pub fn operation(&self) -> &str {
        &self.operation
    }

    /// The JSON path of the value that did not fit, e.g. `data[3].feedstocks[0].id`; `.` for the
    /// body itself (e.g. when it is not JSON at all). A key that is not a plain name is quoted:
    /// `results["a b"]`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the decoder said, e.g. `invalid type: string "x", expected i64` or
    /// `missing field `id``.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// What the spec expected at [`path`](Self::path), e.g. `i64` or ``field `id` ``, when the
    /// decoder said.
    pub fn expected(&self) -> Option<&str> {
        let m = &self.message;
        if m.starts_with("missing field ") {
            return Some(&m["missing ".len()..]);
        }
        if !KINDS.iter().any(|p| m.starts_with(p)) {
            return None;
        }
        m.rfind(SEP).map(|i| &m[i + SEP.len()..])
    }

    /// What the body had at [`path`](Self::path) instead, e.g. `string "x"` or
    /// ``unknown variant `x` ``, when the decoder said; `nothing` for a missing field.
    pub fn found(&self) -> Option<&str> {
        let m = &self.message;
        if m.starts_with("missing field ") {
            return Some("nothing");
        }
        let kind = KINDS.iter().find(|p| m.starts_with(*p))?;
        let end = m.rfind(SEP)?;
        // `invalid type: string "x"` → `string "x"`; `invalid length 3` → `length 3`.
        let skip = match *kind {
            "invalid type: " | "invalid value: " => kind.len(),
            "invalid length " => "invalid ".len(),
            _ => 0,
        };
        m.get(skip..end)
    }

    /// The length of the whole body, in bytes.
    pub fn body_len(&self) -> usize {
        self.body_len
    }

    /// The first bytes of the body as the server sent them (at most [`BODY_PREFIX_LIMIT`]).
    pub fn body_prefix(&self) -> &[u8] {
        &self.body_prefix
    }

    /// [`body_prefix`](Self::body_prefix) as text (invalid UTF-8 replaced).
    pub fn body_prefix_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body_prefix)
    }

    /// Whether the body was longer than the kept prefix.
    pub fn is_truncated(&self) -> bool {
        self.body_prefix.len() < self.body_len
    }

    /// Finds where `body` does not fit `T`: the second pass, run only after `first` failed.
    fn locate<T: DeserializeOwned>(operation: &str, body: &[u8], first: serde_json::Error) -> Self {
        let (path, message) = find::<T>(body, first);
        DecodeError {
            operation: operation.to_string(),
            path,
            message,
            body_len: body.len(),
            body_prefix: prefix_of(body),
        }
    }

    /// This error as a generated call reports it: `InvalidResponsePayload` with the kept prefix
    /// and this error's text. progenitor's `Display` prints those bytes, so URL query strings in
    /// them (a `download_url`'s signature) are cut off first.
    pub(crate) fn into_generated<E>(self) -> progenitor_client::Error<E> {
        let error = <serde_json::Error as serde::de::Error>::custom(self.to_string());
        let shown = match std::str::from_utf8(&self.body_prefix) {
            Ok(text) if text.contains("://") => Bytes::from(redact_urls(text)),
            Ok(_) => self.body_prefix,
            Err(_) => Bytes::from(redact_urls(&String::from_utf8_lossy(&self.body_prefix))),
        };
        progenitor_client::Error::InvalidResponsePayload(shown, error)
    }

    /// Recovers the error from a generated call's `InvalidResponsePayload` made by
    /// [`into_generated`](Self::into_generated); `None` for any other payload error.
    pub(crate) fn from_generated(prefix: &Bytes, error: &serde_json::Error) -> Option<Self> {
        if error.line() != 0 {
            return None; // a plain serde_json error, not one of ours
        }
        let text = error.to_string();
        let (operation, rest) = text.split_once(MIDDLE)?;
        let (path, rest) = rest.split_once("`: ")?;
        let (message, len) = rest.rsplit_once(" (body: ")?;
        let body_len = len.strip_suffix(" bytes)")?.parse().ok()?;
        Some(DecodeError {
            operation: operation.to_string(),
            path: path.to_string(),
            message: message.to_string(),
            body_len,
            body_prefix: prefix.clone(),
        })
    }
}

/// The messages of serde's data errors that say what was found and (after [`SEP`]) what was
/// expected.
const KINDS: &[&str] = &[
    "invalid type: ",
    "invalid value: ",
    "invalid length ",
    "unknown variant ",
    "unknown field ",
];
const SEP: &str = ", expected ";

const MIDDLE: &str = ": the response body does not match the spec at `";

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}{MIDDLE}{}`: {} (body: {} bytes)",
            self.operation, self.path, self.message, self.body_len
        )
    }
}

/// Like the text, with the size of the body instead of its bytes.
impl fmt::Debug for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DecodeError")
            .field("operation", &self.operation)
            .field("path", &self.path)
            .field("message", &self.message)
            .field("body_len", &self.body_len)
            .field("body_prefix_len", &self.body_prefix.len())
            .finish()
    }
}

impl std::error::Error for DecodeError {}

/// Decodes a response body of `operation` as `T`: one `serde_json::from_slice`; on failure a second
/// pass finds the JSON path (see the [module docs](self)).
pub fn decode<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|first| DecodeError::locate::<T>(operation, body, first))
}

/// What the generated calls use instead of `ResponseValue::from_response` (build.rs rewrites
/// them): the same, with [`decode`]'s error.
pub(crate) async fn from_response<T: DeserializeOwned, E>(
    response: reqwest::Response,
    operation: &str,
) -> Result<progenitor_client::ResponseValue<T>, progenitor_client::Error<E>> {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .bytes()
        .await
        .map_err(progenitor_client::Error::ResponseBodyError)?;
    let inner = decode(operation, &body).map_err(DecodeError::into_generated)?;
    Ok(progenitor_client::ResponseValue::new(
        inner, status, headers,
    ))
}

/// The path and message of why `body` does not decode as `T`, after `first` said it does not: a
/// second pass with `serde_path_to_error`.
pub(crate) fn find<T: DeserializeOwned>(body: &[u8], first: serde_json::Error) -> (String, String) {
    #[cfg(test)]
    tests::PATH_PASSES.with(|n| n.set(n.get() + 1));
    let mut de = serde_json::Deserializer::from_slice(body);
    let (path, error) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => (render_path(e.path()), e.into_inner()),
        // Only the end of the body did not fit (trailing characters).
        Ok(_) => (ROOT.to_string(), first),
    };
    (path, redact_urls(&message_of(&error)))
}

/// `outer` + `inner` as one path: `samples[2]` + `id` → `samples[2].id`.
pub(crate) fn join_path(outer: &str, inner: &str) -> String {
    match inner {
        ROOT => outer.to_string(),
        _ if inner.starts_with('[') => format!("{outer}{inner}"),
        _ => format!("{outer}.{inner}"),
    }
}

/// A copy of the first [`BODY_PREFIX_LIMIT`] bytes (a copy, so that the rest can be freed).
fn prefix_of(body: &[u8]) -> Bytes {
    Bytes::copy_from_slice(&body[..body.len().min(BODY_PREFIX_LIMIT)])
}

/// `serde_json`'s message; the position only where it helps (syntax errors), since the path says
/// where a value did not fit.
fn message_of(error: &serde_json::Error) -> String {
    let full = error.to_string();
    if !error.is_data() {
        return full;
    }
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&suffix) {
        Some(message) => message.to_owned(),
        None => full,
    }
}

/// `data[3].feedstocks[0].id`; keys that are not plain names as `["a b"]`, never with a backtick.
fn render_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => push_key(&mut out, key),
            Segment::Unknown => push_key(&mut out, "?"),
        }
    }
    if out.is_empty() {
        out.push_str(ROOT);
    }
    out
}

fn push_key(out: &mut String, key: &str) {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'?');
    if plain {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(key);
    } else {
        let quoted = serde_json::to_string(key).unwrap_or_default();
        out.push('[');
        out.push_str(&quoted.replace('`', "\\u0060"));
        out.push(']');
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    thread_local! {
        /// Second passes (path searches) made on this thread.
        pub(super) static PATH_PASSES: Cell<u32> = const { Cell::new(0) };
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Item {
        id: i64,
        #[serde(default)]
        tags: Vec<String>,
    }

    #[derive(Debug, serde::Deserialize, PartialEq)]
    struct Page {
        data: Vec<Item>,
    }

    fn passes() -> u32 {
        PATH_PASSES.with(Cell::get)
    }

    #[test]
    fn success_is_one_pass() {
        let before = passes();
        let page: Page = decode("list", br#"{"data":[{"id":1},{"id":2,"tags":["a"]}]}"#).unwrap();
        assert_eq!(page.data.len(), 2);
        assert_eq!(passes(), before, "the path finder must not run on success");
        let err = decode::<Page>("list", br#"{"data":[{"id":1},{"id":"x"}]}"#).unwrap_err();
        assert_eq!(passes(), before + 1, "and runs once on failure");
        assert_eq!(err.path(), "data[1].id");
    }

    #[test]
    fn kinds_of_failure() {
        let err = decode::<Page>("list", br#"{"data":[{"tags":[1]}]}"#).unwrap_err();
        assert_eq!(err.path(), "data[0].tags[0]");
        assert_eq!(err.expected(), Some("a string"));
        assert_eq!(err.found(), Some("integer `1`"));

        let err = decode::<Page>("list", br#"{"data":[{"tags":[]}]}"#).unwrap_err();
        assert_eq!(err.path(), "data[0]");
        assert_eq!(err.message(), "missing field `id`");
        assert_eq!(err.expected(), Some("field `id`"));
        assert_eq!(err.found(), Some("nothing"));

        let err = decode::<Page>("list", b"<html>oops</html>").unwrap_err();
        assert_eq!(err.path(), ".");
        assert!(err.message().contains("line 1 column 1"), "{err}");
        assert_eq!(err.expected(), None);

        let err = decode::<Page>("list", br#"{"data":[]} x"#).unwrap_err();
        assert_eq!(err.path(), ".");
        assert!(err.message().contains("trailing characters"), "{err}");

        let err = decode::<Page>("list", br#"{"data":[{"id":1}"#).unwrap_err();
        assert_eq!(err.path(), "data");
        assert!(err.message().contains("EOF"), "{err}");
    }

    #[test]
    fn odd_keys_are_quoted_without_backticks() {
        let err = decode::<std::collections::HashMap<String, i64>>("m", br#"{"a `b`": "x"}"#)
            .unwrap_err();
        assert_eq!(err.path(), r#"["a \u0060b\u0060"]"#);
        let again = DecodeError::from_generated(
            &err.body_prefix,
            &match err.clone().into_generated::<()>() {
                progenitor_client::Error::InvalidResponsePayload(_, e) => e,
                _ => unreachable!(),
            },
        );
        assert_eq!(again, Some(err));
    }

    #[test]
    fn round_trip_through_the_generated_error() {
        let body = format!(
            r#"{{"data":[{{"id":"{} (body: 3 bytes) `: x"}}], "pad": "{}"}}"#,
            "q",
            "p".repeat(2 * BODY_PREFIX_LIMIT)
        );
        let err = decode::<Page>("list_things", body.as_bytes()).unwrap_err();
        assert!(err.is_truncated());
        assert_eq!(err.body_prefix().len(), BODY_PREFIX_LIMIT);
        assert_eq!(err.body_len(), body.len());
        let progenitor_client::Error::InvalidResponsePayload(prefix, e) =
            err.clone().into_generated::<()>()
        else {
            unreachable!()
        };
        assert_eq!(prefix.len(), BODY_PREFIX_LIMIT);
        assert_eq!(e.to_string(), err.to_string());
        assert_eq!(DecodeError::from_generated(&prefix, &e), Some(err));
        let plain = serde_json::from_slice::<Page>(b"{").unwrap_err();
        assert_eq!(DecodeError::from_generated(&prefix, &plain), None);
    }

    #[test]
    fn generated_errors_never_show_a_signed_url() {
        let body = br#"{"id":"exp_1","download_url":"https://s3.example/f.csv?X-Amz-Signature=sekret","file_size_bytes":"big"}"#;
        let err = decode::<crate::types::Export>("get_export", body).unwrap_err();
        let generated: progenitor_client::Error<()> = err.into_generated();
        let text = format!("{generated} {generated:?}");
        assert!(!text.contains("sekret"), "{text}");
        assert!(
            text.contains("https://s3.example/f.csv?<redacted>"),
            "{text}"
        );
    }

    #[test]
    fn urls_lose_their_query() {
        assert_eq!(
            redact_urls(r#"invalid type: string "https://s3/x.csv?X-Sig=abc&t=1", expected i64"#),
            r#"invalid type: string "https://s3/x.csv?<redacted>", expected i64"#
        );
        assert_eq!(
            redact_urls("see http://a/b and ftp://c?d"),
            "see http://a/b and ftp://c?<redacted>"
        );
        assert_eq!(redact_urls("no url"), "no url");
    }
}
