//! How export files are downloaded from the storage host ([`DownloadPolicy`]).
//!
//! A settings module: it depends on nothing else of this crate, so every layer may read it.

use std::time::Duration;

/// How export files are downloaded; set it with
/// [`ClientBuilder::download_policy`](crate::ClientBuilder::download_policy).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DownloadPolicy {
    /// Time limit for connecting to the storage host (default 10 s).
    pub connect_timeout: Duration,
    /// Longest time without a byte before the download counts as stalled (default 30 s).
    pub read_timeout: Duration,
    /// Resumes per download (default 5), then [`ExportError::Interrupted`](crate::ExportError::Interrupted); fresh URLs do not count.
    pub max_resumes: u32,
    /// Wait before the first resume (default 500 ms), doubling up to 60 s.
    pub resume_backoff: Duration,
}

impl Default for DownloadPolicy {
    fn default() -> Self {
        DownloadPolicy {
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(30),
            max_resumes: 5,
            resume_backoff: Duration::from_millis(500),
        }
    }
}

impl DownloadPolicy {
    setters! {
        /// Sets the connect time-out.
        connect_timeout: Duration;
        /// Sets the read-idle (stall) time-out.
        read_timeout: Duration;
        /// Sets how many times an interrupted download is resumed.
        max_resumes: u32;
        /// Sets the wait before the first resume.
        resume_backoff: Duration;
    }
}
