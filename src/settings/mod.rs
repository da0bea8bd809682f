//! Settings: the policies a [`ClientBuilder`](crate::ClientBuilder) takes, their defaults, and the
//! constants every layer reads (base URL, environment variable names, the user agent).
//!
//! This module is the bottom layer of the hand-written code: it depends on nothing else of this
//! crate, so the client, the retry hook, exports, downloads and the export-slot limiter can all
//! read it without reaching back into each other (see the README's architecture section).

mod backoff;
mod download;
mod poll;
mod retry;

pub(crate) use backoff::{within, Backoff};
pub use download::DownloadPolicy;
pub use poll::PollPolicy;
pub use retry::RetryPolicy;

/// The documented production base URL.
pub const DEFAULT_BASE_URL: &str = "https://app.gomangrove.com/api/v1";

/// Environment variable read by [`Client::from_env`](crate::Client::from_env) for the API token.
pub const TOKEN_ENV: &str = "MANGROVE_API_TOKEN";

/// Environment variable read by [`Client::from_env`](crate::Client::from_env) for the base URL.
pub const BASE_URL_ENV: &str = "MANGROVE_BASE_URL";

/// Default number of exports one client keeps in flight (the documented per-account limit).
pub const DEFAULT_EXPORT_CONCURRENCY: usize = 5;

/// The `User-Agent` sent with every request: `mangrove-rust/<version>`.
pub fn user_agent() -> String {
    format!("mangrove-rust/{}", env!("CARGO_PKG_VERSION"))
}
