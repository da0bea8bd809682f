//! The fake's storage origin: a small HTTP/1.1 server standing in for S3 pre-signed URLs.
//!
//! Export files are registered with [`StorageOrigin::put`] and handed out as
//! [`presign`](StorageOrigin::presign)ed URLs of the form
//! `http://127.0.0.1:PORT/files/{key}?expires={unix seconds}&signature={hex}`.
//! `GET` and `HEAD` on such a URL behave like S3 (checks in this order):
//!
//! 1. an `Authorization` header → `400` `InvalidArgument` ("Only one auth mechanism allowed…");
//! 2. a missing or wrong `signature` (or `expires`) → `403` `SignatureDoesNotMatch`;
//! 3. `clock.unix_now() > expires` → `403` `AccessDenied` "Request has expired";
//! 4. an unknown (or removed) key → `404` `NoSuchKey`;
//! 5. otherwise `200` with `Content-Length`, `ETag`, `Accept-Ranges: bytes`, `Content-Type` and
//!    `Last-Modified`, the body streamed from the file in 256 KiB blocks (never the whole file
//!    in memory). `Range: bytes=N-`, `bytes=N-M` and `bytes=-S` give `206` with
//!    `Content-Range: bytes N-M/size`; a start at or past the end gives `416` with
//!    `Content-Range: bytes */size`; an `If-Range` that is not the current ETag, a multi-range
//!    or a malformed `Range` give the full `200`.
//!
//! Errors carry an S3-style XML body (`Content-Type: application/xml`):
//! `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>…</Code><Message>…</Message></Error>`.
//! Other methods get `405` `MethodNotAllowed`, other paths `404` `NoSuchKey`.
//!
//! Faults ([`StorageFault`]) queued with [`StorageOrigin::inject`] are consumed one per `GET` of a
//! file path (`/files/…` or `/redirected/files/…`), in order, before any of the checks above;
//! `HEAD` requests never consume one. Every request that reaches the server as a parsable HTTP
//! request is recorded in the [`journal`](StorageOrigin::journal).
//!
//! The server runs on the runtime that called [`start`] (one task per connection), so under
//! `#[tokio::test(start_paused = true)]` delays, stalls and client timeouts use virtual time.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::hash::BuildHasher;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures::Stream;
use http::header::{
    ACCEPT_RANGES, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE,
    LAST_MODIFIED, LOCATION, RANGE,
};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use super::clock::FakeClock;

/// Size of the blocks the body is read from disk and sent in.
const CHUNK: usize = 256 * 1024;

/// At most this many extra bytes are sent after a too-small `Content-Length`
/// ([`StorageFault::WrongContentLength`] with a negative delta).
const MAX_TAIL: u64 = 16 * 1024 * 1024;

/// The body of a [`StorageFault::Status`] answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultBody {
    /// This text, as `Content-Type: application/json`.
    Json(String),
    /// A small HTML error page (as a proxy or load balancer would send), `text/html`.
    Html,
    /// No body at all (`Content-Length: 0`, no `Content-Type`).
    Empty,
    /// This text (a whole XML document), as `Content-Type: application/xml`.
    Xml(String),
}

/// A fault to inject into the next `GET` of a file (see [`StorageOrigin::inject`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageFault {
    /// Answer with this status and body instead of serving the request (a status outside
    /// `200..=599` gives `500`).
    Status {
        /// HTTP status code.
        status: u16,
        /// Response body.
        body: FaultBody,
    },
    /// Answer `403` `AccessDenied` "Request has expired", as if the URL had expired, even when it
    /// has not.
    Expired,
    /// Sleep this long (`tokio::time::sleep`, so virtual time under a paused clock) before
    /// handling the request normally.
    Delay(Duration),
    /// Send the normal headers (with the correct `Content-Length`), then only this many body
    /// bytes, then close the connection (FIN): the client sees an incomplete body.
    TruncateAfter(u64),
    /// Like [`TruncateAfter`](Self::TruncateAfter) but the connection is reset (RST, zero linger)
    /// instead of closed. The reset may discard bytes still in flight, so the client can see
    /// fewer than this many bytes.
    DropAfter(u64),
    /// Send the normal headers and this many body bytes, then keep the connection open and send
    /// nothing more, forever (until the client gives up or the origin is dropped).
    Stall {
        /// Body bytes sent before stalling.
        after: u64,
    },
    /// Declare `Content-Length` as the real length plus this delta (at least 0) and send the real
    /// bytes. With a positive delta the connection is closed after the real bytes (the client
    /// sees an incomplete body); with a negative delta the declared bytes form a complete-looking
    /// response, the remaining real bytes (at most 16 MiB) follow on the wire as garbage and the
    /// connection is then closed.
    WrongContentLength(i64),
    /// Ignore any `Range` header: answer `200` with the full body.
    IgnoreRange,
    /// Answer `302 Found` with `Location: {base}/redirected/files/{key}?{same query}`, which
    /// serves the object exactly like `/files/{key}`.
    Redirect,
}

/// What [`StorageOrigin::put`] registered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    /// File size in bytes.
    pub size: u64,
    /// Quoted strong ETag (`"…"`); putting the same key again gives a new one.
    pub etag: String,
}

/// One request as the origin saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageRequest {
    /// Request method (`GET`, `HEAD`, …).
    pub method: String,
    /// Path and query as sent (`/files/exports/x.csv?expires=…&signature=…`).
    pub path_and_query: String,
    /// Request headers in order (lower-case names; non-UTF-8 values converted lossily).
    pub headers: Vec<(String, String)>,
    /// Status code of the answer.
    pub status: u16,
    /// Arrival time on the fake's clock ([`FakeClock::now`]).
    pub at: Duration,
}

impl StorageRequest {
    /// The value of the first header called `name` (case-insensitive), if any.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Handle to a running storage origin. Clones share the server; dropping the last clone stops
/// it (accept loop and open connections) and deletes the registered files.
#[derive(Clone, Debug)]
pub struct StorageOrigin {
    inner: Arc<Handle>,
}

#[derive(Debug)]
struct Handle {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.task.abort();
        let mut state = self.shared.lock();
        for (_, object) in state.objects.drain() {
            let _ = std::fs::remove_file(&object.path);
        }
    }
}

#[derive(Debug)]
struct Shared {
    base: String,
    clock: FakeClock,
    secret: u64,
    state: Mutex<State>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
struct State {
    objects: HashMap<String, Object>,
    faults: VecDeque<StorageFault>,
    journal: Vec<StorageRequest>,
    puts: u64,
}

#[derive(Clone, Debug)]
struct Object {
    path: PathBuf,
    size: u64,
    etag: String,
    content_type: &'static str,
    last_modified: String,
}

/// Starts a storage origin on `127.0.0.1` (random port), serving on the current tokio runtime.
pub async fn start(clock: FakeClock) -> io::Result<StorageOrigin> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let addr: SocketAddr = listener.local_addr()?;
    let secret = std::collections::hash_map::RandomState::new().hash_one(addr.port());
    let shared = Arc::new(Shared {
        base: format!("http://{addr}"),
        clock,
        secret,
        state: Mutex::new(State::default()),
    });
    let task = tokio::spawn(accept_loop(listener, Arc::clone(&shared)));
    Ok(StorageOrigin {
        inner: Arc::new(Handle { shared, task }),
    })
}

impl StorageOrigin {
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.inner.shared.base.clone()
    }

    /// Registers the existing file at `path` under `key`, taking it over: the file is deleted on
    /// [`remove`](Self::remove), when the key is put again with another file, or when the origin
    /// is dropped. A file that cannot be read is registered with size 0 and `GET` answers `500`.
    pub fn put(&self, key: &str, path: PathBuf, content_type: &'static str) -> StoredObject {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let shared = &self.inner.shared;
        let last_modified = http_date(shared.clock.system_now());
        let mut state = shared.lock();
        state.puts += 1;
        let counter = state.puts;
        let etag = {
            let mut a = Fnv::new(shared.secret);
            a.write(key.as_bytes());
            a.write(&size.to_le_bytes());
            a.write(&counter.to_le_bytes());
            let mut b = Fnv::new(a.0 ^ 0x5bd1_e995);
            b.write(&counter.to_le_bytes());
            b.write(key.as_bytes());
            format!("\"{:016x}{:016x}\"", a.0, b.0)
        };
        let object = Object {
            path,
            size,
            etag: etag.clone(),
            content_type,
            last_modified,
        };
        if let Some(old) = state.objects.insert(key.to_string(), object) {
            if state.objects.get(key).map(|o| &o.path) != Some(&old.path) {
                let _ = std::fs::remove_file(&old.path);
            }
        }
        StoredObject { size, etag }
    }

    /// A pre-signed URL for `key`, valid for `ttl` (rounded up to whole seconds) on the fake's
    /// clock: `{base}/files/{key}?expires={unix}&signature={hex}`. The key is percent-encoded
    /// (except `/`); the URL is valid whether or not the key exists.
    pub fn presign(&self, key: &str, ttl: Duration) -> String {
        let shared = &self.inner.shared;
        let ttl_secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
        let expires = shared.clock.unix_now().saturating_add(ttl_secs);
        format!(
            "{}/files/{}?expires={expires}&signature={}",
            shared.base,
            encode_key(key),
            sign(shared.secret, key, expires)
        )
    }

    /// Forgets `key` and deletes its file; later requests for it get `404`.
    pub fn remove(&self, key: &str) {
        let removed = self.inner.shared.lock().objects.remove(key);
        if let Some(object) = removed {
            let _ = std::fs::remove_file(&object.path);
        }
    }

    /// Queues `fault` for the next `times` `GET` requests of file paths, after any faults already
    /// queued. Status, `Expired`, `Delay` and `Redirect` faults are used by the next `GET` whatever
    /// happens to it; body faults (`TruncateAfter`, `DropAfter`, `Stall`, `WrongContentLength`)
    /// and `IgnoreRange` wait for a `GET` that is served the file, so a request refused first
    /// (expired URL, bad signature, `Authorization` header, unknown key) does not use them up.
    pub fn inject(&self, fault: StorageFault, times: u32) {
        let mut state = self.inner.shared.lock();
        for _ in 0..times {
            state.faults.push_back(fault.clone());
        }
    }

    /// Every request answered so far, in the order the answers were decided (a
    /// [`StorageFault::Delay`]ed request is recorded after its delay, with its arrival time).
    pub fn journal(&self) -> Vec<StorageRequest> {
        self.inner.shared.lock().journal.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Connections.

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    // Dropping the set (when this task is aborted) aborts every connection task.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    connections.spawn(serve_connection(stream, Arc::clone(&shared)));
                }
                Err(e) => {
                    tracing::warn!("storage origin: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    let ctl = Arc::new(ConnCtl::default());
    let io = TokioIo::new(ConnIo {
        stream,
        ctl: Arc::clone(&ctl),
        cutting: None,
        dead: false,
    });
    let service = service_fn(move |req| {
        let shared = Arc::clone(&shared);
        let ctl = Arc::clone(&ctl);
        async move { Ok::<_, Infallible>(handle(&shared, &ctl, req).await) }
    });
    if let Err(e) = http1::Builder::new().serve_connection(io, service).await {
        tracing::debug!("storage origin: connection ended: {e}");
    }
}

/// How a response ends the connection once everything before it has been flushed.
#[derive(Debug)]
struct Cut {
    /// Reset (RST) instead of a FIN.
    reset: bool,
    /// Raw bytes written after the response, outside HTTP framing.
    tail: Bytes,
}

/// Per-connection control shared between the response body and the socket wrapper.
#[derive(Debug, Default)]
struct ConnCtl {
    cut: Mutex<Option<Cut>>,
}

impl ConnCtl {
    fn arm(&self, cut: Cut) {
        *self.cut.lock().unwrap_or_else(|e| e.into_inner()) = Some(cut);
    }

    fn take(&self) -> Option<Cut> {
        self.cut.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// The socket as hyper sees it. When a body has armed a [`Cut`], the next flush (which hyper
/// issues only after writing everything it had buffered) writes the tail and kills the
/// connection, so the bytes before the cut really reach the client.
struct ConnIo {
    stream: TcpStream,
    ctl: Arc<ConnCtl>,
    cutting: Option<Cut>,
    dead: bool,
}

fn cut_error() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "storage origin: connection cut by an injected fault",
    )
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.dead {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.dead {
            return Poll::Ready(Err(cut_error()));
        }
        Pin::new(&mut this.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.dead {
            return Poll::Ready(Err(cut_error()));
        }
        ready!(Pin::new(&mut this.stream).poll_flush(cx))?;
        if this.cutting.is_none() {
            this.cutting = this.ctl.take();
        }
        let Some(cut) = this.cutting.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        while cut.tail.has_remaining() {
            match ready!(Pin::new(&mut this.stream).poll_write(cx, &cut.tail)) {
                Ok(0) | Err(_) => break,
                Ok(n) => cut.tail.advance(n),
            }
        }
        if cut.reset {
            if let Err(e) = this.stream.set_zero_linger() {
                tracing::debug!("storage origin: SO_LINGER failed: {e}");
            }
        } else {
            // A FIN now; the socket is closed when hyper drops it after the error below.
            let _ = ready!(Pin::new(&mut this.stream).poll_shutdown(cx));
        }
        this.dead = true;
        this.cutting = None;
        Poll::Ready(Err(cut_error()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.dead {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.stream).poll_shutdown(cx)
    }
}

// ---------------------------------------------------------------------------------------------
// Requests.

type Body = UnsyncBoxBody<Bytes, io::Error>;

async fn handle(shared: &Shared, ctl: &Arc<ConnCtl>, req: Request<Incoming>) -> Response<Body> {
    let at = shared.clock.now();
    let method = req.method().clone();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_string())
        .unwrap_or_else(|| req.uri().path().to_string());
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let mut response = respond(shared, ctl, &method, req.uri(), req.headers()).await;
    if method == Method::HEAD {
        *response.body_mut() = empty();
    }
    shared.lock().journal.push(StorageRequest {
        method: method.as_str().to_string(),
        path_and_query,
        headers,
        status: response.status().as_u16(),
        at,
    });
    response
}

async fn respond(
    shared: &Shared,
    ctl: &Arc<ConnCtl>,
    method: &Method,
    uri: &http::Uri,
    headers: &HeaderMap,
) -> Response<Body> {
    let path = uri.path();
    let raw_key = path
        .strip_prefix("/files/")
        .or_else(|| path.strip_prefix("/redirected/files/"));
    let Some(raw_key) = raw_key else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };
    if method != Method::GET && method != Method::HEAD {
        return s3_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        );
    }
    let fault = if method == Method::GET {
        shared.lock().faults.pop_front()
    } else {
        None
    };
    // Faults on the body (and `IgnoreRange`) wait for a request that is served a body: a request
    // refused first (expired URL, bad signature, `Authorization` header) hands them back.
    let mut body_fault = Unused {
        shared,
        fault: None,
    };
    let mut ignore_range = false;
    match fault {
        Some(StorageFault::Status { status, body }) => return fault_status(status, body),
        Some(StorageFault::Expired) => return expired(),
        Some(StorageFault::Delay(d)) => tokio::time::sleep(d).await,
        Some(StorageFault::Redirect) => {
            let query = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
            let location = format!("{}/redirected/files/{raw_key}{query}", shared.base);
            return build(
                Response::builder()
                    .status(StatusCode::FOUND)
                    .header(LOCATION, location),
                empty(),
            );
        }
        Some(StorageFault::IgnoreRange) => {
            ignore_range = true;
            body_fault.fault = Some(StorageFault::IgnoreRange);
        }
        Some(other) => body_fault.fault = Some(other),
        None => {}
    }

    if headers.contains_key(AUTHORIZATION) {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, \
             Signature query string parameter or the Authorization header should be specified",
        );
    }
    let Some(key) = decode_key(raw_key) else {
        return s3_error(
            StatusCode::BAD_REQUEST,
            "InvalidURI",
            "Couldn't parse the specified URI.",
        );
    };
    let (expires, signature) = query_auth(uri.query().unwrap_or(""));
    let valid = match (expires, signature) {
        (Some(expires), Some(signature)) => sign(shared.secret, &key, expires) == signature,
        _ => false,
    };
    if !valid {
        return s3_error(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        );
    }
    if expires.is_some_and(|e| shared.clock.unix_now() > e) {
        return expired();
    }
    let object = shared.lock().objects.get(&key).cloned();
    let Some(object) = object else {
        return s3_error(
            StatusCode::NOT_FOUND,
            "NoSuchKey",
            "The specified key does not exist.",
        );
    };

    let size = object.size;
    let mut range = None;
    if let Some(spec) = headers.get(RANGE).and_then(|v| v.to_str().ok()) {
        let if_range_ok = headers
            .get(IF_RANGE)
            .is_none_or(|v| v.as_bytes() == object.etag.as_bytes());
        if if_range_ok && !ignore_range {
            match parse_range(spec, size) {
                RangeSpec::Ignore => {}
                RangeSpec::Unsatisfiable => {
                    let mut response = s3_error(
                        StatusCode::RANGE_NOT_SATISFIABLE,
                        "InvalidRange",
                        "The requested range is not satisfiable",
                    );
                    if let Ok(v) = format!("bytes */{size}").parse() {
                        response.headers_mut().insert(CONTENT_RANGE, v);
                    }
                    return response;
                }
                RangeSpec::Bytes(start, end) => range = Some((start, end)),
            }
        }
    }
    if ignore_range {
        body_fault.fault = None;
    }
    let (status, start, len) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, size),
    };

    let (declared, end) = match body_fault.fault.take() {
        Some(StorageFault::TruncateAfter(n)) => (
            len,
            BodyEnd::Cut {
                after: n.min(len),
                reset: false,
            },
        ),
        Some(StorageFault::DropAfter(n)) => (
            len,
            BodyEnd::Cut {
                after: n.min(len),
                reset: true,
            },
        ),
        Some(StorageFault::Stall { after }) => (
            len,
            BodyEnd::Stall {
                after: after.min(len),
            },
        ),
        Some(StorageFault::WrongContentLength(delta)) => {
            let declared = if delta < 0 {
                len.saturating_sub(delta.unsigned_abs())
            } else {
                len.saturating_add(delta.unsigned_abs())
            };
            let end = if declared > len {
                BodyEnd::Cut {
                    after: len,
                    reset: false,
                }
            } else if declared < len {
                BodyEnd::Tail {
                    after: declared,
                    tail: (len - declared).min(MAX_TAIL),
                }
            } else {
                BodyEnd::Complete
            };
            (declared, end)
        }
        _ => (len, BodyEnd::Complete),
    };

    let mut builder = Response::builder()
        .status(status)
        .header(CONTENT_LENGTH, declared)
        .header(ETAG, object.etag.as_str())
        .header(ACCEPT_RANGES, "bytes")
        .header(CONTENT_TYPE, object.content_type)
        .header(LAST_MODIFIED, object.last_modified.as_str());
    if let Some((start, end)) = range {
        builder = builder.header(CONTENT_RANGE, format!("bytes {start}-{end}/{size}"));
    }
    if method == Method::HEAD {
        return build(builder, empty());
    }
    let mut file = match tokio::fs::File::open(&object.path).await {
        Ok(file) => file,
        Err(e) => return internal_error(&e),
    };
    if start > 0 {
        if let Err(e) = file.seek(io::SeekFrom::Start(start)).await {
            return internal_error(&e);
        }
    }
    let body = FileBody {
        file,
        to_send: match end {
            BodyEnd::Complete => len,
            BodyEnd::Cut { after, .. } | BodyEnd::Stall { after } | BodyEnd::Tail { after, .. } => {
                after
            }
        },
        end,
        ctl: Arc::clone(ctl),
        phase: Phase::Sending,
    };
    build(builder, StreamBody::new(body.into_stream()).boxed_unsync())
}

/// What happens once the body bytes have been sent.
#[derive(Clone, Copy, Debug)]
enum BodyEnd {
    /// The body is complete.
    Complete,
    /// Close (or reset) the connection after `after` bytes.
    Cut { after: u64, reset: bool },
    /// Send nothing more after `after` bytes, forever.
    Stall { after: u64 },
    /// After `after` bytes (the declared length), write `tail` more file bytes raw, then close.
    Tail { after: u64, tail: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Sending,
    Parked,
    Done,
}

struct FileBody {
    file: tokio::fs::File,
    to_send: u64,
    end: BodyEnd,
    ctl: Arc<ConnCtl>,
    phase: Phase,
}

impl FileBody {
    fn into_stream(self) -> impl Stream<Item = io::Result<Frame<Bytes>>> + Send {
        futures::stream::unfold(self, |mut body| async move {
            match body.phase {
                Phase::Done => return None,
                // Never wakes: the connection is being cut, or stalls by design.
                Phase::Parked => std::future::pending::<()>().await,
                Phase::Sending => {}
            }
            if body.to_send == 0 {
                if let Err(e) = body.finish().await {
                    body.phase = Phase::Done;
                    return Some((Err(e), body));
                }
                if body.phase == Phase::Parked {
                    std::future::pending::<()>().await;
                }
                return None;
            }
            let want = body.to_send.min(CHUNK as u64) as usize;
            let mut buf = BytesMut::with_capacity(want);
            while buf.len() < want {
                match body.file.read_buf(&mut buf).await {
                    Ok(0) => {
                        body.phase = Phase::Done;
                        let e = io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank");
                        return Some((Err(e), body));
                    }
                    Ok(_) => {}
                    Err(e) => {
                        body.phase = Phase::Done;
                        return Some((Err(e), body));
                    }
                }
            }
            body.to_send -= want as u64;
            if body.to_send == 0 {
                if let Err(e) = body.finish().await {
                    body.phase = Phase::Done;
                    return Some((Err(e), body));
                }
            }
            Some((Ok(Frame::data(buf.freeze())), body))
        })
    }

    /// Applies the end of the body: arms a cut, parks, or completes.
    async fn finish(&mut self) -> io::Result<()> {
        match self.end {
            BodyEnd::Complete => self.phase = Phase::Done,
            BodyEnd::Stall { .. } => self.phase = Phase::Parked,
            BodyEnd::Cut { reset, .. } => {
                self.ctl.arm(Cut {
                    reset,
                    tail: Bytes::new(),
                });
                self.phase = Phase::Parked;
            }
            BodyEnd::Tail { tail, .. } => {
                let mut buf = BytesMut::with_capacity(tail as usize);
                while (buf.len() as u64) < tail {
                    if self.file.read_buf(&mut buf).await? == 0 {
                        break;
                    }
                }
                self.ctl.arm(Cut {
                    reset: false,
                    tail: buf.freeze(),
                });
                self.phase = Phase::Done;
            }
        }
        Ok(())
    }
}

enum RangeSpec {
    /// No usable range: serve the whole object.
    Ignore,
    Unsatisfiable,
    /// Inclusive byte range.
    Bytes(u64, u64),
}

fn parse_range(spec: &str, size: u64) -> RangeSpec {
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return RangeSpec::Ignore;
    };
    if set.contains(',') {
        return RangeSpec::Ignore;
    }
    let Some((first, last)) = set.split_once('-') else {
        return RangeSpec::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        return match last.parse::<u64>() {
            Ok(0) => RangeSpec::Unsatisfiable,
            Ok(_) if size == 0 => RangeSpec::Unsatisfiable,
            Ok(n) => RangeSpec::Bytes(size.saturating_sub(n), size - 1),
            Err(_) => RangeSpec::Ignore,
        };
    }
    let Ok(start) = first.parse::<u64>() else {
        return RangeSpec::Ignore;
    };
    let end = if last.is_empty() {
        None
    } else {
        match last.parse::<u64>() {
            Ok(end) if end >= start => Some(end),
            _ => return RangeSpec::Ignore,
        }
    };
    if start >= size {
        return RangeSpec::Unsatisfiable;
    }
    RangeSpec::Bytes(start, end.map_or(size - 1, |e| e.min(size - 1)))
}

// ---------------------------------------------------------------------------------------------
// Responses.

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

fn full(text: impl Into<Bytes>) -> Body {
    Full::new(text.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Finishes `builder`; a builder error (never expected) becomes a bare `500`.
fn build(builder: http::response::Builder, body: Body) -> Response<Body> {
    match builder.body(body) {
        Ok(response) => response,
        Err(e) => {
            tracing::error!("storage origin: bad response: {e}");
            let mut response = Response::new(empty());
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<Body> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    build(
        Response::builder()
            .status(status)
            .header(CONTENT_TYPE, "application/xml"),
        full(body),
    )
}

/// A popped fault that goes back to the front of the queue unless the request used it.
struct Unused<'a> {
    shared: &'a Shared,
    fault: Option<StorageFault>,
}

impl Drop for Unused<'_> {
    fn drop(&mut self) {
        if let Some(fault) = self.fault.take() {
            self.shared.lock().faults.push_front(fault);
        }
    }
}

fn expired() -> Response<Body> {
    s3_error(StatusCode::FORBIDDEN, "AccessDenied", "Request has expired")
}

fn internal_error(e: &io::Error) -> Response<Body> {
    tracing::warn!("storage origin: cannot read a stored file: {e}");
    s3_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "InternalError",
        "We encountered an internal error. Please try again.",
    )
}

fn fault_status(status: u16, body: FaultBody) -> Response<Body> {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(|s| (200..=599).contains(&s.as_u16()))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let builder = Response::builder().status(status);
    match body {
        FaultBody::Json(text) => {
            build(builder.header(CONTENT_TYPE, "application/json"), full(text))
        }
        FaultBody::Xml(text) => build(builder.header(CONTENT_TYPE, "application/xml"), full(text)),
        FaultBody::Empty => build(builder.header(CONTENT_LENGTH, 0), empty()),
        FaultBody::Html => {
            let title = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Error")
            );
            let page = format!(
                "<!DOCTYPE html>\n<html><head><title>{title}</title></head>\
                 <body><center><h1>{title}</h1></center><hr><center>nginx</center></body></html>\n"
            );
            build(builder.header(CONTENT_TYPE, "text/html"), full(page))
        }
    }
}

/// `Last-Modified` format: `Wed, 15 Jan 2025 10:00:00 GMT`.
fn http_date(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// Keys and signatures.

/// FNV-1a 64, seeded.
struct Fnv(u64);

impl Fnv {
    fn new(seed: u64) -> Fnv {
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        h.write(&seed.to_le_bytes());
        h
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

fn sign(secret: u64, key: &str, expires: u64) -> String {
    let mut h = Fnv::new(secret);
    h.write(key.as_bytes());
    h.write(b"\n");
    h.write(expires.to_string().as_bytes());
    format!("{:016x}", h.0)
}

/// `expires` and `signature` from a raw query string.
fn query_auth(query: &str) -> (Option<u64>, Option<&str>) {
    let mut expires = None;
    let mut signature = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("expires", v)) => expires = v.parse().ok(),
            Some(("signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    (expires, signature)
}

/// Percent-encodes everything except unreserved characters and `/`.
fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for &b in key.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes; `None` for a bad escape or non-UTF-8 result.
fn decode_key(raw: &str) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
