//! Building a [`Client`](crate::Client): token, base URL, auth style, timeouts, policies.

/// Client-wide state carried inside the generated client (progenitor's "inner type").
#[derive(Clone, Debug, Default)]
pub struct Inner {}
