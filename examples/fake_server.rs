//! Runs the fake Mangrove API until Ctrl-C (SIGINT) or SIGTERM, for trying the SDK (or curl)
//! against it. Either signal stops it at once: the fake's servers stop when it is dropped.
//!
//! ```text
//! cargo run --example fake_server               # 42 rows of every resource
//! cargo run --example fake_server -- --rows 100000
//! cargo run --example fake_server -- --rate-limit 1000000   # e.g. for schemathesis (.ci/run)
//! ```

use mangrove::testing::{FakeMangrove, TokenKind};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rows: Option<u64> = None;
    let mut rate_limit: Option<u32> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--rows" => {
                let value = args.next().ok_or("--rows needs a number")?;
                rows = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--rows {value:?}: {e}"))?,
                );
            }
            "--rate-limit" => {
                let value = args.next().ok_or("--rate-limit needs a number")?;
                rate_limit = Some(
                    value
                        .parse()
                        .map_err(|e| format!("--rate-limit {value:?}: {e}"))?,
                );
            }
            "-h" | "--help" => {
                println!("usage: fake_server [--rows N] [--rate-limit PER_MINUTE]");
                return Ok(());
            }
            other => {
                return Err(
                    format!("unknown argument {other:?} (usage: fake_server [--rows N] [--rate-limit PER_MINUTE])").into(),
                )
            }
        }
    }

    let mut builder = FakeMangrove::builder();
    if let Some(rows) = rows {
        builder = builder.default_rows(rows);
    }
    if let Some(per_minute) = rate_limit {
        builder = builder.rate_limit(per_minute);
    }
    let fake = builder.try_start().await?;
    // Listen for the signals before saying we serve: a signal sent as soon as the banner
    // appears must stop the server, not kill it with the default action.
    let signal = shutdown_signal()?;

    println!("Fake Mangrove API: {}", fake.base_url());
    println!("Storage origin:    {}", fake.storage().base_url());
    for kind in TokenKind::ALL {
        println!("{:<9} token:   {}", format!("{kind:?}"), fake.token(kind));
    }
    println!();
    println!("Try:");
    println!(
        "  curl -s -H 'Authorization: Bearer {}' '{}/projects?response_mode=summary_with_export&export_format=json'",
        fake.token(TokenKind::Account),
        fake.base_url()
    );
    println!(
        "  curl -s -H 'Authorization: Bearer {}' '{}/exports/<id from above>'   # twice: pending -> processing -> completed",
        fake.token(TokenKind::Account),
        fake.base_url()
    );
    println!();
    println!("Serving until Ctrl-C or SIGTERM.");
    let signal = signal.await;
    // Drop the fake before printing: its servers and temporary files are gone when this
    // line appears.
    drop(fake);
    println!("Stopped ({signal}).");
    Ok(())
}

/// Installs the handlers for Ctrl-C (SIGINT) and, on Unix, SIGTERM (what `kill`, systemd and
/// container runtimes send) now, and returns a future that names the first that comes.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = &'static str>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        // Both handlers are installed before waiting, so neither signal kills the process
        // with its default action while the other is awaited.
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            }
        })
    }
    #[cfg(not(unix))]
    {
        // `ctrl_c` installs its handler on the first poll: poll it once now.
        let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
        let _ = futures::FutureExt::now_or_never(&mut ctrl_c);
        Ok(async move {
            let _ = ctrl_c.await;
            "Ctrl-C"
        })
    }
}
