//! Real TLS handshakes with the crate's crypto provider (`aws-lc-rs` by default, `ring` with
//! `--no-default-features --features ring,testing`): every other test speaks plain HTTP on
//! loopback, so this is where the provider and the verifier are exercised.
//!
//! A small HTTPS server on 127.0.0.1 (rustls, the same provider, the certificate of
//! `tests/fixtures/tls/`) answers an export's status (the API client) and its file (the download
//! client); the client trusts the fixture CA through `ClientBuilder::add_root_certificate`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mangrove::tls::Certificate;
use mangrove::{Client, Export, PollPolicy, RetryPolicy};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

const CA: &[u8] = include_bytes!("fixtures/tls/ca.pem");
const SERVER_CERT: &[u8] = include_bytes!("fixtures/tls/server.pem");
const SERVER_KEY: &[u8] = include_bytes!("fixtures/tls/server.key");
const FILE: &[u8] = b"id,name\n1,Mangrove Bay\n2,Blue Lagoon\n";

/// The provider the crate features select, for the server side too.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    #[cfg(feature = "ring")]
    return Arc::new(rustls::crypto::ring::default_provider());
    #[cfg(not(feature = "ring"))]
    return Arc::new(rustls::crypto::aws_lc_rs::default_provider());
}

/// What the server saw of one request: its request line and the connection's TLS parameters.
#[derive(Clone, Debug)]
struct Seen {
    request: String,
    alpn: Option<Vec<u8>>,
    version: Option<rustls::ProtocolVersion>,
}

/// An HTTPS server on 127.0.0.1 (one thread per connection, HTTP/1.1, one request each).
struct Server {
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Connections that failed (handshake or I/O), as the server saw it.
    failures: Receiver<String>,
}

impl Server {
    fn start() -> Server {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(SERVER_CERT)
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY).unwrap();
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        // The client offers h2 then http/1.1; this server speaks the latter only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // `localhost`: the certificate names both it and 127.0.0.1; a name also exercises SNI.
        let base = format!("https://localhost:{port}");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (failed, failures) = mpsc::channel();
        let (s, b) = (seen.clone(), base.clone());
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let Ok(tcp) = tcp else { return };
                let (config, s, b, failed) = (config.clone(), s.clone(), b.clone(), failed.clone());
                std::thread::spawn(move || {
                    if let Err(err) = serve(tcp, config, &s, &b) {
                        let _ = failed.send(err.to_string());
                    }
                });
            }
        });
        Server {
            base,
            seen,
            failures,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// One connection: the handshake, one request, one answer, then `Connection: close`.
fn serve(
    tcp: TcpStream,
    config: Arc<rustls::ServerConfig>,
    seen: &Mutex<Vec<Seen>>,
    base: &str,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    let mut reader = BufReader::new(&mut tls);
    let mut request = String::new();
    reader.read_line(&mut request)?; // the handshake happens on this first read
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" {
            break;
        }
    }
    let request = request.trim_end().to_string();
    seen.lock().unwrap().push(Seen {
        request: request.clone(),
        alpn: tls.conn.alpn_protocol().map(<[u8]>::to_vec),
        version: tls.conn.protocol_version(),
    });
    let path = request.split(' ').nth(1).unwrap_or("");
    let (content_type, body) = if path.starts_with("/api/v1/exports/exp_tls") {
        let status = format!(
            r#"{{"id":"exp_tls","status":"completed","format":"csv","file_size_bytes":{},"download_url":"{base}/files/exp_tls.csv?signature=s3cr3t"}}"#,
            FILE.len()
        );
        ("application/json", status.into_bytes())
    } else if path.starts_with("/files/exp_tls.csv") {
        ("text/csv", FILE.to_vec())
    } else {
        let head = "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";
        tls.write_all(head.as_bytes())?;
        return tls.flush();
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n\
         etag: \"v1\"\r\nconnection: close\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes())?;
    tls.write_all(&body)?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// A client of `server` that fails at once (no retries, quick polls).
fn client(server: &Server, trust_ca: bool) -> Client {
    let mut builder = Client::builder()
        .token("tls-test-token")
        .base_url(format!("{}/api/v1", server.base))
        .retry_policy(RetryPolicy::none())
        .poll_policy(PollPolicy::default().initial_delay(Duration::from_millis(1)));
    if trust_ca {
        builder = builder.add_root_certificate(Certificate::from_pem(CA).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn the_api_and_the_download_client_both_handshake_with_the_trusted_root() {
    let server = Server::start();
    let client = client(&server, true);

    // The API client: the export's status over TLS.
    let completed = Export::attach(&client, "exp_tls").await.unwrap();
    assert!(completed.download_url().starts_with(&server.base));

    // The download client (the storage host's): the file over TLS.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("projects.csv");
    let downloaded = completed.download_to(&path).await.unwrap();
    assert_eq!(downloaded.bytes, FILE.len() as u64);
    assert_eq!(std::fs::read(&path).unwrap(), FILE);

    let seen = server.seen();
    let requests: Vec<&str> = seen.iter().map(|s| s.request.as_str()).collect();
    assert_eq!(
        requests,
        [
            "GET /api/v1/exports/exp_tls HTTP/1.1",
            "GET /files/exp_tls.csv?signature=s3cr3t HTTP/1.1"
        ]
    );
    for s in &seen {
        // ALPN: the client offered http/1.1 (next to h2), and TLS 1.3 was agreed.
        assert_eq!(s.alpn.as_deref(), Some(&b"http/1.1"[..]), "{s:?}");
        assert_eq!(s.version, Some(rustls::ProtocolVersion::TLSv1_3), "{s:?}");
    }
    assert_eq!(server.failures.try_recv().ok(), None);
}

#[tokio::test]
async fn without_the_root_the_certificate_is_refused() {
    let server = Server::start();
    let client = client(&server, false);

    let err = Export::attach(&client, "exp_tls")
        .status()
        .await
        .unwrap_err();
    // The handshake failed, so no request reached the server; reqwest names the cause in the
    // error's source chain.
    assert!(server.seen().is_empty());
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = source {
        chain += &format!("{e} / ");
        source = e.source();
    }
    assert!(
        chain.contains("certificate") || chain.contains("UnknownIssuer"),
        "{chain}"
    );
    // The server saw the client abort the handshake for that reason (its alert).
    let failure = server
        .failures
        .recv_timeout(Duration::from_secs(10))
        .unwrap();
    assert!(failure.contains("UnknownCA"), "{failure}");
}
