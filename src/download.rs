//! Downloading an export's file: a separate HTTP client, streams instead of buffers.
//!
//! The file lives on a storage host behind a pre-signed `download_url`. It is fetched with a
//! second HTTP client that carries **no `Authorization` header** (pre-signed URLs reject it, and
//! the API token must not leave the API), has a connect time-out and a read-idle (stall)
//! time-out but **no total time-out** (a 500 MB file may take minutes), and follows redirects.

use std::time::Duration;

use crate::error::Error;

/// How export files are downloaded.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DownloadPolicy {
    /// Time limit for opening a connection to the storage host (default 10 s).
    pub connect_timeout: Duration,
    /// Longest time without receiving a byte before the download counts as stalled (default 30 s).
    pub read_timeout: Duration,
    /// How many times an interrupted download is resumed (default 5).
    pub max_resumes: u32,
    /// Wait before a resume (default 500 ms, doubling).
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
    /// Sets the connect time-out.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets the read-idle (stall) time-out.
    pub fn read_timeout(mut self, d: Duration) -> Self {
        self.read_timeout = d;
        self
    }

    /// Sets how many times an interrupted download is resumed.
    pub fn max_resumes(mut self, n: u32) -> Self {
        self.max_resumes = n;
        self
    }

    /// Sets the wait before a resume.
    pub fn resume_backoff(mut self, d: Duration) -> Self {
        self.resume_backoff = d;
        self
    }

    /// The storage-side HTTP client: no auth headers, no total time-out.
    pub(crate) fn http_client(&self, pool_idle: Option<Duration>) -> Result<reqwest::Client, Error> {
        reqwest::Client::builder()
            .user_agent(crate::client::user_agent())
            .connect_timeout(self.connect_timeout)
            .read_timeout(self.read_timeout)
            .pool_idle_timeout(pool_idle)
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .map_err(|e| Error::Config(format!("cannot build the download HTTP client: {e}")))
    }
}

/// Why downloading an export file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadError {
    /// The storage host answered an error status.
    #[error("the storage host answered HTTP {status}: {message}")]
    Status {
        /// HTTP status.
        status: reqwest::StatusCode,
        /// The start of the body.
        message: String,
    },
    /// The file's size differs from `file_size_bytes`.
    #[error("downloaded {actual} bytes but the export reported {expected}; the file was not kept")]
    SizeMismatch {
        /// Size the server reported.
        expected: u64,
        /// Bytes received.
        actual: u64,
    },
    /// The connection broke and could not be resumed.
    #[error("the download broke after {received} bytes and could not be resumed ({attempts} attempts): {source}")]
    Interrupted {
        /// Bytes received in all.
        received: u64,
        /// Attempts made.
        attempts: u32,
        /// The last transport error.
        #[source]
        source: reqwest::Error,
    },
    /// Writing the file failed.
    #[error("writing the export file failed: {0}")]
    Io(#[from] std::io::Error),
}
