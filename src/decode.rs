//! Decoding response bodies (also in generated calls, as [`crate::Error::Decode`]): a failed
//! `serde_json` pass is repeated with `serde_path_to_error` to find the path of the misfit.
//!
//! ```
//! let err = mangrove::decode::decode::<Vec<i64>>("list_ids", br#"[1, "two"]"#).unwrap_err();
//! assert_eq!(err.path(), "[1]");
//! assert_eq!(
//!     err.to_string(),
//!     "list_ids: the response body does not match the spec at `[1]`: \
//!      invalid type: string \"two\", expected i64 (body: 10 bytes)"
//! );
//! ```

use std::fmt;

use bytes::Bytes;
use progenitor_client::ResponseValue;
use serde::de::DeserializeOwned;

use crate::redact::redact_urls;

/// How many bytes of a body that did not decode a [`DecodeError`] keeps (64 KiB).
pub const BODY_PREFIX_LIMIT: usize = 64 * 1024;

const ROOT: &str = ".";

/// A response body that does not decode into the type the spec documents.
#[derive(Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{operation}: the response body does not match the spec at `{path}`: {message} \
     (body: {body_len} bytes)"
)]
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

    /// The JSON path of the value that did not fit, e.g. `data[3].id`; `.` for the whole body.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the decoder said, e.g. `missing field `id``.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The length of the whole body, in bytes.
    pub fn body_len(&self) -> usize {
        self.body_len
    }

    /// The first bytes of the body as the server sent them (at most [`BODY_PREFIX_LIMIT`]).
    pub fn body_prefix(&self) -> &[u8] {
        &self.body_prefix
    }

    /// This error as a generated call's `InvalidResponsePayload` (URL queries cut off the prefix).
    pub(crate) fn into_generated<E>(self) -> progenitor_client::Error<E> {
        let error = <serde_json::Error as serde::de::Error>::custom(self.to_string());
        let text = String::from_utf8_lossy(&self.body_prefix);
        let shown = if text.contains("://") {
            Bytes::from(redact_urls(&text))
        } else {
            self.body_prefix.clone()
        };
        progenitor_client::Error::InvalidResponsePayload(shown, error)
    }

    /// The inverse of [`into_generated`](Self::into_generated); `None` for another error.
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

/// The middle of the text (see `#[error]` above), where [`DecodeError::from_generated`] splits it.
const MIDDLE: &str = ": the response body does not match the spec at `";

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

/// Decodes a response body of `operation` as `T`.
pub fn decode<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|first| {
        let (path, message) = find::<T>(body, first);
        DecodeError {
            operation: operation.to_string(),
            path,
            message,
            body_len: body.len(),
            body_prefix: Bytes::copy_from_slice(&body[..body.len().min(BODY_PREFIX_LIMIT)]),
        }
    })
}

/// `ResponseValue::from_response` with [`decode`]'s error and a bounded read (for build.rs).
pub(crate) async fn from_response<T: DeserializeOwned, E>(
    response: reqwest::Response,
    operation: &str,
) -> Result<ResponseValue<T>, progenitor_client::Error<E>> {
    use progenitor_client::Error::{InvalidResponsePayload, ResponseBodyError};
    let status = response.status();
    let headers = response.headers().clone();
    let cap = if operation == "get_export" {
        crate::wire::MAX_STATUS_BODY
    } else {
        crate::wire::MAX_API_BODY
    };
    let (body, more) = crate::wire::read_prefix(response, cap)
        .await
        .map_err(ResponseBodyError)?;
    if more {
        let message = format!("{operation}: the answer is larger than {cap} bytes; not read");
        let error = <serde_json::Error as serde::de::Error>::custom(message);
        return Err(InvalidResponsePayload(Bytes::new(), error));
    }
    let inner = decode(operation, &body).map_err(DecodeError::into_generated)?;
    Ok(ResponseValue::new(inner, status, headers))
}

/// The path and message of why `body` does not decode as `T`, `first` being the plain pass's error.
pub(crate) fn find<T: DeserializeOwned>(body: &[u8], first: serde_json::Error) -> (String, String) {
    let mut de = serde_json::Deserializer::from_slice(body);
    let (path, error) = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        // Never with a backtick: the generated error's text is parsed back.
        Err(e) => (e.path().to_string().replace('`', "'"), e.into_inner()),
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

/// `serde_json`'s message, without the position where the path says where a value did not fit.
fn message_of(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let position = format!(" at line {} column {}", error.line(), error.column());
    match full.strip_suffix(&position) {
        Some(message) if error.is_data() => message.to_owned(),
        _ => full,
    }
}
