//! What every example does first: the real API when `MANGROVE_API_TOKEN` is set, else the
//! embedded fake server.

use mangrove::testing::{FakeMangrove, TokenKind};
use mangrove::Client;

/// A client for `MANGROVE_BASE_URL` (default the real API) when `MANGROVE_API_TOKEN` is set;
/// otherwise a fake server with `rows` rows per resource (keep the returned fake alive) and a
/// client for its account token.
pub async fn connect(rows: u64) -> Result<(Client, Option<FakeMangrove>), mangrove::Error> {
    match std::env::var("MANGROVE_API_TOKEN") {
        Ok(token) if !token.trim().is_empty() => Ok((Client::from_env()?, None)),
        _ => {
            let fake = FakeMangrove::builder().default_rows(rows).start().await;
            eprintln!(
                "MANGROVE_API_TOKEN is not set: using the embedded fake server at {}",
                fake.base_url()
            );
            Ok((fake.client(TokenKind::Account), Some(fake)))
        }
    }
}
