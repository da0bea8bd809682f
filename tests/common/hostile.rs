//! A tiny hostile server on 127.0.0.1 for download tests, included with
//! `#[path = "common/hostile.rs"] mod hostile;`.
//!
//! It plays both sides: `GET /api/v1/exports/{id}` answers a `completed` export status whose
//! `download_url` points back at this server (`/files/export.{ext}?expires=…&signature=SIGNATURE`),
//! and every other request gets the next scripted [`Answer`], written as raw bytes (so headers can
//! lie, contradict each other or be garbage), after which the connection is closed, reset or left
//! hanging. `@URL@` in a header value or body is replaced by the download URL (a storage host
//! echoing the URL back).
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The signature in the download URL: it must never appear in an error or a log line.
pub const SIGNATURE: &str = "S1GhostileSecret0123456789abcdef";

/// How a scripted answer ends once written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// Close the connection (FIN).
    Close,
    /// Reset the connection (RST).
    Reset,
    /// Send nothing more and keep the connection open (until the client gives up, at most 10 s).
    Hang,
    /// Send one more byte (`x`) every 20 ms, for at most 10 s.
    Trickle,
}

/// One scripted storage answer.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Status code written in the status line (anything, even nonsense).
    pub status: u16,
    /// Headers as written (name, value).
    pub headers: Vec<(String, String)>,
    /// Body bytes as written.
    pub body: Vec<u8>,
    /// What happens after the body.
    pub end: End,
}

/// What the server answers.
#[derive(Clone, Debug)]
pub struct Script {
    /// Storage answers, in order; the last one repeats.
    pub answers: Vec<Answer>,
    /// `file_size_bytes` in the export status (absent when `None`).
    pub file_size: Option<i64>,
    /// `format` in the export status (absent when `None`).
    pub format: Option<&'static str>,
    /// Extension of the download URL's file name (`csv`, `json`, `bin`).
    pub ext: &'static str,
}

/// A running hostile server; dropping it stops it.
pub struct HostileServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    base: String,
    script: Mutex<Arc<Script>>,
    storage_requests: AtomicUsize,
}

impl Shared {
    fn download_url(&self, ext: &str) -> String {
        format!(
            "{}/files/export.{ext}?expires=4102444800&signature={SIGNATURE}",
            self.base
        )
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HostileServer {
    /// The API base URL (`…/api/v1`).
    pub fn api(&self) -> String {
        format!("{}/api/v1", self.base)
    }

    /// Requests that were not export status polls (i.e. reached "storage") since the script was
    /// set.
    pub fn storage_requests(&self) -> usize {
        self.shared.storage_requests.load(Ordering::SeqCst)
    }

    /// The download URL the status answers carry now.
    pub fn download_url(&self) -> String {
        let ext = self.shared.script.lock().unwrap().ext;
        self.shared.download_url(ext)
    }

    /// Answers with `script` from now on (the storage answers start again at the first).
    pub fn set_script(&self, script: Script) {
        *self.shared.script.lock().unwrap() = Arc::new(script);
        self.shared.storage_requests.store(0, Ordering::SeqCst);
    }
}

/// Starts a server for `script` on the current runtime.
pub async fn start(script: Script) -> HostileServer {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let base = format!("http://{addr}");
    let shared = Arc::new(Shared {
        base: base.clone(),
        script: Mutex::new(Arc::new(script)),
        storage_requests: AtomicUsize::new(0),
    });
    let task_shared = Arc::clone(&shared);
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, Arc::clone(&task_shared)));
        }
    });
    HostileServer { base, shared, task }
}

async fn serve(mut stream: TcpStream, shared: Arc<Shared>) {
    let script = Arc::clone(&shared.script.lock().unwrap());
    let url = &shared.download_url(script.ext);
    let Some(path) = read_request(&mut stream).await else {
        return;
    };
    if path.starts_with("/api/v1/exports/") {
        let mut status = serde_json::json!({
            "id": "exp_1",
            "status": "completed",
            "download_url": url,
        });
        if let Some(size) = script.file_size {
            status["file_size_bytes"] = size.into();
        }
        if let Some(format) = script.format {
            status["format"] = format.into();
        }
        let body = status.to_string();
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(body.as_bytes()).await;
        let _ = stream.shutdown().await;
        return;
    }
    let n = shared.storage_requests.fetch_add(1, Ordering::SeqCst);
    let Some(answer) = script
        .answers
        .get(n.min(script.answers.len().saturating_sub(1)))
    else {
        return;
    };
    let mut head = format!(
        "HTTP/1.1 {} Hostile\r\nconnection: close\r\n",
        answer.status
    );
    for (name, value) in &answer.headers {
        head.push_str(&format!("{name}: {}\r\n", value.replace("@URL@", url)));
    }
    head.push_str("\r\n");
    if stream.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    // Small bodies may echo the URL; large ones are written as they are.
    let echoes = answer.body.len() < 64 * 1024 && answer.body.windows(5).any(|w| w == b"@URL@");
    let written = if echoes {
        let body = String::from_utf8_lossy(&answer.body).replace("@URL@", url);
        stream.write_all(body.as_bytes()).await
    } else {
        stream.write_all(&answer.body).await
    };
    if written.is_err() {
        return;
    }
    let _ = stream.flush().await;
    match answer.end {
        End::Close => {
            let _ = stream.shutdown().await;
        }
        End::Reset => {
            let _ = stream.set_zero_linger();
        }
        End::Trickle => {
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while stream.write_all(b"x").await.is_ok() {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
            .await;
        }
        End::Hang => {
            let mut sink = [0u8; 1024];
            let _ = tokio::time::timeout(Duration::from_secs(10), async {
                while let Ok(n) = stream.read(&mut sink).await {
                    if n == 0 {
                        break;
                    }
                }
            })
            .await;
        }
    }
}

/// Reads one request head (at most 64 KiB, 5 s) and returns its path.
async fn read_request(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            let n = stream.read(&mut buf).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()??;
    let text = String::from_utf8_lossy(&head);
    let line = text.lines().next()?;
    line.split_whitespace().nth(1).map(str::to_owned)
}
