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
use std::io;

use bytes::Bytes;
use progenitor_client::ResponseValue;
use serde::de::DeserializeOwned;

use crate::redact::redact_urls;

/// How many bytes of a body that did not decode a [`DecodeError`] keeps (64 KiB).
pub const BODY_PREFIX_LIMIT: usize = 64 * 1024;

const ROOT: &str = ".";

/// A response body that does not decode into the type the spec documents.
///
/// A generated call (`client.get_project()…send()`) reports it as
/// `progenitor_client::Error::InvalidResponsePayload(prefix, json_error)`: `json_error`'s text
/// is this error's text and its [`source`](std::error::Error::source) is this error, as a value;
/// [`mangrove::Error::from`](crate::Error) makes it [`Error::Decode`](crate::Error::Decode).
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

    /// This error as a generated call's `InvalidResponsePayload`: the bytes are the body's
    /// prefix and the `serde_json::Error` carries this error as a value ([`carry`]), which
    /// [`carried_by`](Self::carried_by) hands back. Queries of URLs in the prefix are cut off,
    /// in both (a body may hold a pre-signed `download_url`).
    pub(crate) fn into_generated<E>(mut self) -> progenitor_client::Error<E> {
        let text = String::from_utf8_lossy(&self.body_prefix);
        if text.contains("://") {
            self.body_prefix = Bytes::from(redact_urls(&text));
        }
        let shown = self.body_prefix.clone();
        progenitor_client::Error::InvalidResponsePayload(shown, carry(self))
    }

    /// The `DecodeError` that a generated call's `InvalidResponsePayload` carries (see
    /// [`into_generated`](Self::into_generated)); `None` for a plain `serde_json` error.
    ///
    /// It is found on the error's [`source`](std::error::Error::source) chain, so code holding
    /// the generated error can find it the same way without this crate.
    pub(crate) fn carried_by(error: &serde_json::Error) -> Option<&DecodeError> {
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(e) = next {
            if let Some(decode) = e.downcast_ref::<DecodeError>() {
                return Some(decode);
            }
            if let Some(Carried(decode)) = e.downcast_ref::<Carried>() {
                return Some(decode);
            }
            next = e.source();
        }
        None
    }
}

/// A `serde_json::Error` that carries `error` as a value, for the generated calls, whose error
/// type (`progenitor_client::Error::InvalidResponsePayload(Bytes, serde_json::Error)`) has no
/// room for ours.
///
/// `serde_json` keeps an I/O error of the reader it reads from as it is, so a reader whose
/// first read fails with an `io::Error` holding [`Carried`] gives a `serde_json::Error` whose
/// text is `error`'s text (line and column 0, so nothing is added) and whose
/// [`source`](std::error::Error::source) is `error` itself. Before, the text was parsed back
/// into a `DecodeError`, which broke on a path or message that looked like the text's
/// separators (a map key with a backtick); now nothing is parsed.
fn carry(error: DecodeError) -> serde_json::Error {
    /// A reader whose first read fails with the error it holds.
    struct Failing(Option<io::Error>);
    impl io::Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(self
                .0
                .take()
                .unwrap_or_else(|| io::ErrorKind::InvalidData.into()))
        }
    }
    let text = error.to_string();
    let io = io::Error::new(io::ErrorKind::InvalidData, Carried(error));
    match serde_json::from_reader::<_, serde::de::IgnoredAny>(Failing(Some(io))) {
        Err(e) => e,
        // Cannot happen (the reader fails at once); the text at least is kept.
        Ok(_) => <serde_json::Error as serde::de::Error>::custom(text),
    }
}

/// The payload of the `io::Error` that [`carry`] hands to `serde_json`: displayed as the
/// `DecodeError`, whose [`source`](std::error::Error::source) it is (`io::Error::source` skips
/// to its payload's source, so the `DecodeError` is the next link of the chain).
#[derive(Debug)]
struct Carried(DecodeError);

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Carried {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
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
        Err(e) => (e.path().to_string(), e.into_inner()),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DecodeError {
        decode::<Vec<i64>>("list_ids", br#"[1, "two"]"#).unwrap_err()
    }

    // The generated error carries the DecodeError itself: same text, found on the source chain
    // and by `carried_by`, with every field as it was.
    #[test]
    fn generated_error_carries_the_value() {
        let original = sample();
        let progenitor_client::Error::<()>::InvalidResponsePayload(prefix, json) =
            original.clone().into_generated()
        else {
            panic!("InvalidResponsePayload expected");
        };
        assert_eq!(&prefix[..], br#"[1, "two"]"#);
        assert_eq!(json.to_string(), original.to_string());
        assert_eq!(DecodeError::carried_by(&json), Some(&original));
        let source = std::error::Error::source(&json).expect("a source");
        assert_eq!(source.downcast_ref::<DecodeError>(), Some(&original));
    }

    // A plain serde_json error carries nothing, even when its text is a DecodeError's text
    // (the old way parsed the text back and would have made one up).
    #[test]
    fn plain_errors_carry_nothing() {
        let plain = serde_json::from_slice::<i64>(b"x").unwrap_err();
        assert_eq!(DecodeError::carried_by(&plain), None);
        let lookalike = <serde_json::Error as serde::de::Error>::custom(sample().to_string());
        assert_eq!(DecodeError::carried_by(&lookalike), None);
    }

    // Queries of URLs in the kept prefix are cut off, in the bytes and in the carried error.
    #[test]
    fn url_queries_are_cut_from_the_prefix() {
        let body = br#"{"download_url": "https://s.example/f.csv?X-Sig=secret", "n": "x"}"#;
        let error =
            decode::<std::collections::HashMap<String, i64>>("get_export", body).unwrap_err();
        let progenitor_client::Error::<()>::InvalidResponsePayload(prefix, json) =
            error.into_generated()
        else {
            panic!("InvalidResponsePayload expected");
        };
        assert!(!String::from_utf8_lossy(&prefix).contains("secret"));
        let carried = DecodeError::carried_by(&json).unwrap();
        assert!(!String::from_utf8_lossy(carried.body_prefix()).contains("secret"));
        assert!(!json.to_string().contains("secret"));
    }
}
