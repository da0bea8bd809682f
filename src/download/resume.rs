//! The rules a [transfer](super::transfer) follows, as pure functions: what an answer's status
//! means, whether and when to resume, how to read `Content-Range` and `ETag`, and the size checks.

use std::time::Duration;

use reqwest::header::{HeaderMap, ETAG};
use reqwest::StatusCode;

use crate::error::ExportError;
use crate::settings::Backoff;
use crate::wire::header_str;

/// The longest wait before a resume, however often the backoff has doubled and however long the
/// storage host asks to wait (`Retry-After`). A minute lets a busy host recover; a host asking
/// for an hour (or a hostile one asking for years) must not hang the download: after a minute it
/// is asked again, and each such answer uses up one of the policy's resumes.
pub(super) const MAX_RESUME_WAIT: Duration = Duration::from_secs(60);

/// What to do after an answer that is not `200`, `206` or `416`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum OnStatus {
    /// Fetch a fresh URL from the export's status: `403` (pre-signed URLs expire after 24
    /// hours) or `404`, unless the URL is already a fresh one that has not delivered a byte (it
    /// would be refused again: the export is gone or the host is broken).
    Refresh,
    /// Wait and resume: the host is busy or failing for now (`408`, `429`, `5xx`).
    Resume,
    /// Give up with [`ExportError::DownloadStatus`]: another request would be refused too.
    Fail,
}

/// What to do after `status` (`refreshed`: the URL is a fresh one that has not delivered a byte).
pub(super) fn on_status(status: StatusCode, refreshed: bool) -> OnStatus {
    match status.as_u16() {
        403 | 404 if !refreshed => OnStatus::Refresh,
        408 | 429 | 500..=599 => OnStatus::Resume,
        _ => OnStatus::Fail,
    }
}

/// Whether an interrupted transfer may go on, with `received` bytes handed out so far.
///
/// A file (`restartable`) always may: at worst it starts again from byte 0. A stream may before
/// its first byte, and later only with a strong `ETag`: without one, a `Range` request could get
/// the rest of another version of the file, spliced onto the bytes already handed out.
pub(super) fn may_resume(restartable: bool, has_etag: bool, received: u64) -> bool {
    restartable || has_etag || received == 0
}

/// Whether a transfer that has handed out `received` bytes must start again from byte 0 before
/// its next request: without a validator (`ETag`) for `If-Range`, the rest of the bytes could come
/// from another version of the file, so only the whole file can be trusted.
pub(super) fn must_restart(received: u64, has_etag: bool) -> bool {
    received > 0 && !has_etag
}

/// The wait before resume number `resume` (from 1): the policy's backoff doubling from
/// `first`, or what the storage host asked for (`asked`, from `Retry-After`) if that is longer,
/// and never more than [`MAX_RESUME_WAIT`].
///
/// No jitter, unlike API retries: jitter spreads many clients' retries against one API's rate
/// limit, while a storage host serves pre-signed files at scale and asks for a pause by
/// `Retry-After` when it needs one; the policy documents plain doubling.
pub(super) fn resume_wait(first: Duration, resume: u32, asked: Option<Duration>) -> Duration {
    let backoff = Backoff {
        initial: first,
        factor: 2.0,
        max: MAX_RESUME_WAIT,
        jitter: false,
    };
    backoff.wait(resume, asked).min(MAX_RESUME_WAIT)
}

/// The `ETag` if it is strong: `If-Range` needs a strong validator (RFC 9110 §13.1.5); a weak
/// one (`W/"…"`) only says the content is equivalent, not byte for byte the same.
pub(super) fn strong_etag(headers: &HeaderMap) -> Option<String> {
    header_str(headers, ETAG)
        .filter(|etag| etag.starts_with('"') && etag.len() >= 2)
        .map(str::to_owned)
}

/// A `Content-Range` value `bytes first-last/size`: the first byte and the size (`None` for `*`).
/// `None` for anything else, and for a range that is empty or ends past the size.
pub(super) fn content_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (range, size) = value.strip_prefix("bytes ")?.split_once('/')?;
    let size = (size != "*").then(|| size.parse()).transpose().ok()?;
    let (first, last) = range.split_once('-')?;
    let (first, last): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
    let fits = first <= last && size.is_none_or(|size| last < size);
    fits.then_some((first, size))
}

/// [`ExportError::SizeMismatch`] if more bytes arrived (`received`) than the export's
/// `file_size_bytes` says, or, at the `end`, fewer.
pub(super) fn check_size(
    received: u64,
    expected: Option<u64>,
    end: bool,
) -> Result<(), ExportError> {
    match expected {
        Some(expected) if received > expected || (end && received < expected) => {
            Err(ExportError::SizeMismatch {
                expected,
                actual: received,
            })
        }
        _ => Ok(()),
    }
}

/// [`ExportError::FileTooLarge`] if a file of `size` bytes (received, or declared by the export
/// or the storage host) is over the policy's `limit`.
pub(super) fn check_limit(size: u64, limit: u64) -> Result<(), ExportError> {
    if size > limit {
        return Err(ExportError::FileTooLarge { limit, size });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn content_ranges() {
        assert_eq!(content_range("bytes 0-9/10"), Some((0, Some(10))));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(content_range("bytes 7-7/8"), Some((7, Some(8))));
        for bad in [
            "bytes 9-5/10",                   // last before first
            "bytes 0-10/10",                  // past the size
            "bytes */10",                     // the form of a 416
            "bytes 0-9",                      // no size
            "items 0-9/10",                   // another unit
            "bytes -1-9/10",                  // not a number
            "bytes 0-9/ten",                  // not a number
            "bytes 0-99999999999999999999/*", // too large for u64
            "",
        ] {
            assert_eq!(content_range(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_strong_etags_validate_a_range() {
        let etag = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(ETAG, HeaderValue::from_str(value).expect("a header value"));
            strong_etag(&headers)
        };
        assert_eq!(etag("\"abc\"").as_deref(), Some("\"abc\""));
        assert_eq!(etag(" \"abc\" ").as_deref(), Some("\"abc\""));
        assert_eq!(etag("W/\"abc\""), None);
        assert_eq!(etag("abc"), None);
        assert_eq!(etag("\""), None);
        assert_eq!(strong_etag(&HeaderMap::new()), None);
    }

    #[test]
    fn statuses() {
        let on = |code: u16, refreshed| {
            on_status(StatusCode::from_u16(code).expect("a status"), refreshed)
        };
        assert_eq!(on(403, false), OnStatus::Refresh);
        assert_eq!(on(404, false), OnStatus::Refresh);
        assert_eq!(on(403, true), OnStatus::Fail);
        assert_eq!(on(404, true), OnStatus::Fail);
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert_eq!(on(code, false), OnStatus::Resume, "{code}");
            assert_eq!(on(code, true), OnStatus::Resume, "{code}");
        }
        for code in [400, 401, 405, 410, 418, 451, 300, 304, 100] {
            assert_eq!(on(code, false), OnStatus::Fail, "{code}");
        }
    }

    #[test]
    fn streams_resume_only_with_a_validator_once_bytes_are_out() {
        assert!(may_resume(true, false, 100), "a file can start over");
        assert!(may_resume(false, true, 100), "If-Range keeps the version");
        assert!(may_resume(false, false, 0), "nothing handed out yet");
        assert!(
            !may_resume(false, false, 100),
            "a range could splice two versions"
        );
        assert!(must_restart(100, false));
        assert!(!must_restart(100, true));
        assert!(!must_restart(0, false));
    }

    #[test]
    fn resume_waits_double_and_honour_retry_after_up_to_a_minute() {
        let ms = Duration::from_millis;
        let s = Duration::from_secs;
        assert_eq!(resume_wait(ms(500), 1, None), ms(500));
        assert_eq!(resume_wait(ms(500), 2, None), s(1));
        assert_eq!(resume_wait(ms(500), 4, None), s(4));
        assert_eq!(resume_wait(ms(500), 30, None), MAX_RESUME_WAIT);
        // `Retry-After` longer than the backoff wins; shorter does not shorten it.
        assert_eq!(resume_wait(ms(1), 1, Some(s(2))), s(2));
        assert_eq!(resume_wait(s(4), 1, Some(s(2))), s(4));
        // Capped, however long the host asks.
        assert_eq!(resume_wait(ms(1), 1, Some(s(3600))), MAX_RESUME_WAIT);
        assert_eq!(resume_wait(ms(1), 1, Some(Duration::MAX)), MAX_RESUME_WAIT);
        assert_eq!(resume_wait(s(3600), 1, None), MAX_RESUME_WAIT);
    }

    #[test]
    fn sizes() {
        assert!(check_size(10, Some(10), true).is_ok());
        assert!(check_size(5, Some(10), false).is_ok(), "more may come");
        assert!(
            check_size(5, None, true).is_ok(),
            "nothing to check against"
        );
        let short = check_size(5, Some(10), true).expect_err("short");
        assert!(matches!(
            short,
            ExportError::SizeMismatch {
                expected: 10,
                actual: 5
            }
        ));
        let long = check_size(11, Some(10), false).expect_err("long");
        assert!(matches!(
            long,
            ExportError::SizeMismatch {
                expected: 10,
                actual: 11
            }
        ));
        assert!(check_limit(100, 100).is_ok());
        let over = check_limit(101, 100).expect_err("over");
        assert!(matches!(
            over,
            ExportError::FileTooLarge {
                limit: 100,
                size: 101
            }
        ));
    }
}
