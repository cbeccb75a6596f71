//! `provsite serve`: a static web server for a built web root, for a small site or a lab.
//!
//! hyper does the HTTP; this module decides what may be served and how: GET and HEAD only, no
//! listing, nothing outside the root (symlinks included), the two cache policies, ETag and
//! Last-Modified with conditional requests, single byte ranges, and one access-log line per request
//! that names the phone from its User-Agent. Every file is opened before anything is sent, so a
//! request served while an entry point is replaced (a rename) gets the old or the new file, whole.

use std::convert::Infallible;
use std::fs::File;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener as StdListener, ToSocketAddrs};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty, Full};
use hyper::body::{Body, Incoming};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::error::{Area, Error};

mod stream;
use crate::family::{file_mac, parse_agent, PhoneAgent};
use crate::manifest::Manifest;
use stream::{FileBody, StallGuard};

/// Files up to this size are read whole when opened; larger ones are streamed in chunks this big.
/// A connection holds at most one chunk besides the socket's buffers, so memory is bounded by
/// the connection cap times this, however slowly clients read.
const CHUNK: usize = 64 * 1024;

/// Threads that open and read files.
const BLOCKING_THREADS: usize = 32;

/// The most hyper buffers for one connection's response before the body is polled again.
const WRITE_BUFFER: usize = 2 * CHUNK;

/// The kernel's queue of connections not yet accepted. A cold boot storm (every phone of a site
/// after a power cut) opens about as many connections at once as there are phones; a short queue
/// makes the kernel drop or reset the surplus. Linux caps it at `net.core.somaxconn`.
const LISTEN_BACKLOG: i32 = 4096;

/// The default cap on connections served at once; the rest wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 1024;

/// A connection whose reads or writes make no progress for this long is closed: a client that
/// stops reading a 50 MB download cannot hold its socket, buffers and file open forever.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The latest instant an HTTP date can say (31 Dec 9999 23:59:59 UTC).
const LAST_HTTP_DATE: u64 = 253_402_300_799;

pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
pub const NO_CACHE: &str = "no-cache";

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub root: PathBuf,
    pub listen: String,
    pub strict: bool,
    pub log: Option<PathBuf>,
    /// Connections served at once (0: the default, bounded by the descriptors available).
    pub max_connections: usize,
    /// Closes a connection whose reads or writes make no progress for this long.
    pub stall_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            root: PathBuf::from("public"),
            listen: "127.0.0.1:8080".into(),
            strict: false,
            log: None,
            max_connections: 0,
            stall_timeout: STALL_TIMEOUT,
        }
    }
}

/// Raises the soft limit of open descriptors to the hard limit (as nginx's
/// `worker_rlimit_nofile` does) and returns how many connections fit in it: each takes a socket
/// and, while it streams, an open file.
fn connection_budget(asked: usize) -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    let nofile = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            if lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit {
                    rlim_cur: lim.rlim_max,
                    rlim_max: lim.rlim_max,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim.rlim_cur = lim.rlim_max;
                }
            }
            lim.rlim_cur
        } else {
            1024
        }
    };
    let fit = (nofile.min(1 << 20) as usize).saturating_sub(64) / 2;
    let want = if asked == 0 { MAX_CONNECTIONS } else { asked };
    want.min(fit).max(1)
}

/// The content type of a file of the web root, by its name.
pub fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("inf") | Some("txt") => "text/plain; charset=iso-8859-1",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The cache policy of a path relative to the web root: releases, shared files and firmware never
/// change.
pub fn cache_control(rel: &str) -> &'static str {
    if rel.starts_with("releases/") || rel.starts_with("common/") || rel.starts_with("firmware/") {
        IMMUTABLE
    } else {
        NO_CACHE
    }
}

/// Binds the address (a clear error when it is taken), then serves until SIGINT or SIGTERM.
/// `on_ready` gets the bound address (useful with port 0).
pub fn run(opts: &ServeOptions, on_ready: impl FnOnce(SocketAddr)) -> Result<(), Error> {
    let root = opts.root.canonicalize().map_err(|e| {
        Error::of(Area::Serve, format!(
            "cannot serve `{}`: {e}; build a web root first (`provsite build --out {}`) or name it with --root",
            opts.root.display(),
            opts.root.display()
        ))
    })?;
    if !root.is_dir() {
        return Err(Error::of(
            Area::Serve,
            format!(
                "`{}` is not a folder; --root names the web root that `provsite build` wrote",
                opts.root.display()
            ),
        ));
    }
    let addr = opts
        .listen
        .to_socket_addrs()
        .map_err(|e| {
            Error::of(
                Area::Serve,
                format!(
                "--listen `{}`: {e}; give an address and port such as 127.0.0.1:8080 or [::]:80",
                opts.listen
            ),
            )
        })?
        .next()
        .ok_or_else(|| {
            Error::of(
                Area::Serve,
                format!("--listen `{}` names no address", opts.listen),
            )
        })?;
    let listener = StdListener::bind(addr).map_err(|e| {
        let why = match e.kind() {
            io::ErrorKind::AddrInUse => {
                "the address is already in use (another server, or another provsite serve); stop it or choose another with --listen".to_string()
            }
            io::ErrorKind::PermissionDenied => {
                "permission denied: ports below 1024 need root or CAP_NET_BIND_SERVICE; choose a higher port with --listen".to_string()
            }
            _ => e.to_string(),
        };
        Error::of(Area::Serve, format!("cannot listen on {addr}: {why}"))
    })?;
    {
        use std::os::fd::AsRawFd;
        // listen(2) again on a listening socket only changes its backlog (std uses 128).
        // SAFETY: the descriptor belongs to `listener`, alive for the call.
        unsafe { libc::listen(listener.as_raw_fd(), LISTEN_BACKLOG) };
    }
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::caused(Area::Serve, format!("cannot listen on {addr}"), e))?;
    let max_connections = connection_budget(opts.max_connections);
    let bound = listener
        .local_addr()
        .map_err(|e| Error::of(Area::Serve, e.to_string()))?;
    let log: Box<dyn Write + Send> = match &opts.log {
        Some(p) => Box::new(io::LineWriter::new(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| Error::io(p, e))?,
        )),
        None => Box::new(io::stderr()),
    };
    let state = Arc::new(State {
        root,
        strict: opts.strict,
        log: Mutex::new(log),
        phones: RwLock::new(None),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        // File reads run on the blocking pool. Its default (512 threads) lets a crowd of slow
        // clients grow a thread, its stack and its allocator cache each; disk reads gain
        // nothing past a few dozen.
        .max_blocking_threads(BLOCKING_THREADS)
        .build()
        .map_err(|e| Error::caused(Area::Serve, "cannot start the server runtime", e))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)
            .map_err(|e| Error::caused(Area::Serve, format!("cannot listen on {addr}"), e))?;
        on_ready(bound);
        let limits = Limits {
            connections: Arc::new(tokio::sync::Semaphore::new(max_connections)),
            stall: opts.stall_timeout,
        };
        accept_loop(listener, state, limits).await;
        Ok(())
    })
}

/// What bounds the server's resources.
struct Limits {
    /// One permit per open connection: at the cap, the server stops accepting and new
    /// connections wait in the kernel's listen queue instead of exhausting descriptors.
    connections: Arc<tokio::sync::Semaphore>,
    stall: Duration,
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>, limits: Limits) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30))
        // What hyper buffers per connection before it stops asking the body for more: its default
        // (about 400 KiB) multiplies with every client that stops reading (see the README's
        // slow-readers benchmark).
        .max_buf_size(WRITE_BUFFER);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            p = limits.connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: say so, breathe, go on.
                        state.log_line(&format!("{} - accept failed: {e}", now_rfc3339()));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let st = state.clone();
                let service = hyper::service::service_fn(move |req| {
                    let st = st.clone();
                    async move { Ok::<_, Infallible>(st.handle(req, peer).await) }
                });
                let io = StallGuard::new(stream, limits.stall);
                let conn = builder.serve_connection(TokioIo::new(io), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    let _ = conn.await;
                    drop(permit);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => {
            eprintln!("provsite serve: gave up waiting for open connections after 10 s");
        }
    }
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = async {
            match term.as_mut() {
                Some(t) => { t.recv().await; }
                None => std::future::pending::<()>().await,
            }
        } => {}
    }
}

type ServeBody = BoxBody<Bytes, io::Error>;

struct State {
    root: PathBuf,
    strict: bool,
    log: Mutex<Box<dyn Write + Send>>,
    /// The MACs of the current manifest, and the manifest file's identity they were read from.
    phones: RwLock<Option<(FileId, Arc<std::collections::HashSet<String>>)>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileId {
    fn of(m: &std::fs::Metadata) -> FileId {
        FileId {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

/// Why a request gets no file.
struct Refusal {
    status: StatusCode,
    note: String,
}

impl Refusal {
    fn new(status: StatusCode, note: impl Into<String>) -> Refusal {
        Refusal {
            status,
            note: note.into(),
        }
    }
}

/// A file opened for a request: its handle, identity and, when small, its whole content.
struct Opened {
    file: Arc<File>,
    meta: std::fs::Metadata,
    rel: String,
    name: String,
    whole: Option<Bytes>,
}

impl State {
    fn log_line(&self, line: &str) {
        if let Ok(mut out) = self.log.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }

    /// The phones the current manifest lists; re-read when `manifest.json` is replaced.
    fn known_phones(&self) -> Option<Arc<std::collections::HashSet<String>>> {
        let path = self.root.join("manifest.json");
        let meta = std::fs::metadata(&path).ok()?;
        let id = FileId::of(&meta);
        if let Some((seen, phones)) = &*self.phones.read().ok()? {
            if *seen == id {
                return Some(phones.clone());
            }
        }
        // One request re-reads a replaced manifest; the others wait for it rather than all parsing it.
        let mut w = self.phones.write().ok()?;
        if let Some((seen, phones)) = &*w {
            if *seen == id {
                return Some(phones.clone());
            }
        }
        let bytes = crate::manifest::read_file(&path).ok()?;
        let manifest = Manifest::from_bytes(&bytes).ok()?;
        let phones: Arc<std::collections::HashSet<String>> =
            Arc::new(manifest.phones.keys().cloned().collect());
        *w = Some((id, phones.clone()));
        Some(phones)
    }

    async fn handle(
        self: Arc<Self>,
        req: Request<Incoming>,
        peer: SocketAddr,
    ) -> Response<ServeBody> {
        let ua = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let agent = parse_agent(&ua);
        let raw_path = req.uri().path().to_string();
        let method = req.method().clone();
        let mut notes: Vec<String> = Vec::new();
        let mut known = None;

        let response = if method != Method::GET && method != Method::HEAD {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            r
        } else {
            let st = self.clone();
            let path = raw_path.clone();
            // File system work (the open, and re-reading a replaced manifest) off the async threads.
            let opened = tokio::task::spawn_blocking(move || {
                let phones = st.known_phones();
                (st.open(&path), phones)
            })
            .await
            .map(|(opened, phones)| {
                known = phones;
                opened
            });
            match opened {
                Ok(Ok(opened)) => self.respond(&req, opened, agent.as_ref(), &mut notes),
                Ok(Err(refusal)) => {
                    notes.push(refusal.note);
                    let body = match refusal.status {
                        StatusCode::BAD_REQUEST => "bad request\n",
                        _ => "not found\n",
                    };
                    plain(refusal.status, body)
                }
                Err(e) => {
                    notes.push(format!("internal error: {e}"));
                    plain(StatusCode::INTERNAL_SERVER_ERROR, "internal error\n")
                }
            }
        };
        // A phone the current manifest does not list: by the file it asks for, else by its
        // User-Agent.
        let asked_for = requested_phone_file(&raw_path);
        if let Some(mac) = asked_for.or_else(|| agent.as_ref().map(|a| a.mac.clone())) {
            if let Some(phones) = &known {
                if !phones.contains(&mac) {
                    notes.push(format!(
                        "unknown-phone mac={mac} (not in the current manifest: add it to the inventory and rebuild)"
                    ));
                }
            }
        }
        let bytes = if method == Method::HEAD {
            0
        } else {
            response.body().size_hint().exact().unwrap_or(0)
        };
        let mut line = format!(
            "{} {} {} {} {} {}",
            now_rfc3339(),
            peer.ip(),
            method,
            escape(&raw_path),
            response.status().as_u16(),
            bytes
        );
        match &agent {
            Some(a) => line.push_str(&format!(
                " model={} hw={} fw={} mac={}",
                a.model, a.hardware, a.firmware, a.mac
            )),
            None if ua.is_empty() => line.push_str(" ua=-"),
            None => line.push_str(&format!(" ua=\"{}\"", escape(&ua))),
        }
        for n in &notes {
            line.push_str(" | ");
            line.push_str(n);
        }
        self.log_line(&line);
        if method == Method::HEAD {
            let (parts, _) = response.into_parts();
            return Response::from_parts(parts, empty());
        }
        response
    }

    /// Maps a request path to a file under the root, refusing anything else.
    fn open(&self, raw: &str) -> Result<Opened, Refusal> {
        let bad = |why: &str| Refusal::new(StatusCode::BAD_REQUEST, format!("refused: {why}"));
        let not_found = |why: String| Refusal::new(StatusCode::NOT_FOUND, why);
        if raw.contains('\\') {
            return Err(bad("backslash in path"));
        }
        let decoded = percent_encoding::percent_decode_str(raw)
            .decode_utf8()
            .map_err(|_| bad("path is not UTF-8"))?;
        if decoded.contains('\0') {
            return Err(bad("NUL byte in path"));
        }
        let Some(rest) = decoded.strip_prefix('/') else {
            return Err(bad("path does not start with /"));
        };
        if rest.is_empty() || rest.ends_with('/') {
            return Err(not_found("folder: no listing".to_string()));
        }
        let segments: Vec<&str> = rest.split('/').collect();
        for s in &segments {
            if s.is_empty() {
                return Err(bad("empty path segment (absolute path?)"));
            }
            if *s == ".." || *s == "." {
                return Err(bad("traversal"));
            }
            if s.starts_with('.') {
                return Err(not_found("hidden file".to_string()));
            }
        }
        let mut path = self.root.clone();
        for s in &segments {
            path.push(s);
        }
        let canonical = match path.canonicalize() {
            Ok(c) => c,
            Err(_) => return Err(not_found("no such file".to_string())),
        };
        if !canonical.starts_with(&self.root) {
            return Err(not_found(
                "refused: a symlink leads outside the web root".to_string(),
            ));
        }
        // Opened without blocking: a named pipe would wait for a writer, holding the connection
        // (it is then refused below, as anything but a regular file is).
        let file = {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&canonical)
        }
        .map_err(|e| not_found(format!("cannot open: {e}")))?;
        let meta = file
            .metadata()
            .map_err(|e| not_found(format!("cannot stat: {e}")))?;
        if meta.is_dir() {
            return Err(not_found("folder: no listing".to_string()));
        }
        if !meta.is_file() {
            return Err(not_found("not a regular file".to_string()));
        }
        let whole = if meta.len() as usize <= CHUNK {
            let mut buf = vec![0u8; meta.len() as usize];
            file.read_exact_at(&mut buf, 0)
                .map_err(|e| not_found(format!("cannot read: {e}")))?;
            Some(Bytes::from(buf))
        } else {
            None
        };
        Ok(Opened {
            file: Arc::new(file),
            meta,
            rel: segments.join("/"),
            name: segments.last().copied().unwrap_or("").to_string(),
            whole,
        })
    }

    fn respond(
        &self,
        req: &Request<Incoming>,
        f: Opened,
        agent: Option<&PhoneAgent>,
        notes: &mut Vec<String>,
    ) -> Response<ServeBody> {
        // A phone's own file: is it this phone's?
        let in_config = f.rel.rsplit('/').nth(1) == Some("config");
        if let Some(mac) = file_mac(&f.name).filter(|_| in_config) {
            match agent {
                Some(a) if a.mac == mac => {}
                Some(a) => {
                    notes.push(format!(
                        "other-phone: {} asked for the file of {mac}{}",
                        a.mac,
                        if self.strict {
                            " (refused: --strict)"
                        } else {
                            ""
                        }
                    ));
                    if self.strict {
                        return plain(StatusCode::FORBIDDEN, "forbidden\n");
                    }
                }
                None if self.strict => {
                    notes.push(format!(
                        "refused: --strict serves the file of {mac} only to that phone's User-Agent"
                    ));
                    return plain(StatusCode::FORBIDDEN, "forbidden\n");
                }
                None => {}
            }
        }

        let len = f.meta.len();
        let mtime = f.meta.modified().unwrap_or(UNIX_EPOCH);
        let mtime_secs = mtime
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let etag = format!(
            "\"{:x}-{:x}-{:x}.{:x}\"",
            f.meta.ino(),
            len,
            f.meta.mtime(),
            f.meta.mtime_nsec()
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(&f.name)),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control(&f.rel)),
        );
        headers.insert(header::ETAG, hv(&etag));
        headers.insert(header::LAST_MODIFIED, hv(&http_date(mtime_secs)));
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );

        let h = req.headers();
        let text = |name: header::HeaderName| h.get(name).and_then(|v| v.to_str().ok());
        let date = |name: header::HeaderName| {
            text(name)
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs())
        };

        // RFC 9110 section 13.2.2: the preconditions, in order.
        if let Some(v) = text(header::IF_MATCH) {
            if !etag_list_matches(v, &etag, true) {
                return with_headers(StatusCode::PRECONDITION_FAILED, headers, empty());
            }
        } else if let Some(t) = date(header::IF_UNMODIFIED_SINCE) {
            if mtime_secs > t {
                return with_headers(StatusCode::PRECONDITION_FAILED, headers, empty());
            }
        }
        if let Some(v) = text(header::IF_NONE_MATCH) {
            if etag_list_matches(v, &etag, false) {
                return with_headers(StatusCode::NOT_MODIFIED, headers, empty());
            }
        } else if let Some(t) = date(header::IF_MODIFIED_SINCE) {
            if mtime_secs <= t {
                return with_headers(StatusCode::NOT_MODIFIED, headers, empty());
            }
        }

        let mut range = None;
        if req.method() == Method::GET {
            if let Some(r) = text(header::RANGE) {
                let if_range_holds = match text(header::IF_RANGE) {
                    None => true,
                    Some(v) if v.starts_with('"') => v == etag,
                    Some(v) => httpdate::parse_http_date(v)
                        .ok()
                        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                        .map(|d| d.as_secs() == mtime_secs)
                        .unwrap_or(false),
                };
                if if_range_holds {
                    match http_range_header::parse_range_header(r).map(|p| p.validate(len)) {
                        Ok(Ok(ranges)) if ranges.len() == 1 => {
                            range = Some(ranges[0].clone());
                        }
                        // Several ranges: answer with the whole file (RFC 9110 allows it).
                        Ok(Ok(_)) => {}
                        Ok(Err(_)) => {
                            headers.insert(header::CONTENT_RANGE, hv(&format!("bytes */{len}")));
                            return with_headers(
                                StatusCode::RANGE_NOT_SATISFIABLE,
                                headers,
                                empty(),
                            );
                        }
                        // A malformed Range header is ignored.
                        Err(_) => {}
                    }
                }
            }
        }

        let (status, start, count) = match range {
            Some(r) => {
                headers.insert(
                    header::CONTENT_RANGE,
                    hv(&format!("bytes {}-{}/{len}", r.start(), r.end())),
                );
                (
                    StatusCode::PARTIAL_CONTENT,
                    *r.start(),
                    r.end() - r.start() + 1,
                )
            }
            None => (StatusCode::OK, 0, len),
        };
        headers.insert(header::CONTENT_LENGTH, hv(&count.to_string()));
        let body = if req.method() == Method::HEAD {
            empty()
        } else {
            match f.whole {
                Some(all) => Full::new(all.slice(start as usize..(start + count) as usize))
                    .map_err(|never| match never {})
                    .boxed(),
                None => FileBody {
                    file: f.file,
                    offset: start,
                    remaining: count,
                    reading: None,
                }
                .boxed(),
            }
        };
        with_headers(status, headers, body)
    }
}

/// The MAC of a request for `.../config/<PREFIX>_<MAC>.txt` (or `.ser`).
fn requested_phone_file(raw_path: &str) -> Option<String> {
    let decoded = percent_encoding::percent_decode_str(raw_path)
        .decode_utf8()
        .ok()?;
    let mut back = decoded.rsplit('/');
    let name = back.next()?;
    if back.next()? != "config" {
        return None;
    }
    file_mac(name)
}

/// Does an If-Match / If-None-Match list hold `etag`? `*` matches any file. Weak comparison
/// ignores the `W/` prefix; strong comparison refuses weak tags.
fn etag_list_matches(list: &str, etag: &str, strong: bool) -> bool {
    list.split(',').map(str::trim).any(|t| {
        if t == "*" {
            return true;
        }
        match t.strip_prefix("W/") {
            Some(weak) => !strong && weak == etag,
            None => t == etag,
        }
    })
}

/// An HTTP date. httpdate cannot write a year past 9999 (it panics): a file dated later (a
/// 64-bit mtime, on tmpfs or XFS) says the last second of 9999.
fn http_date(secs: u64) -> String {
    httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs.min(LAST_HTTP_DATE)))
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn empty() -> ServeBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn plain(status: StatusCode, text: &'static str) -> Response<ServeBody> {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(NO_CACHE));
    headers.insert(header::CONTENT_LENGTH, hv(&text.len().to_string()));
    with_headers(
        status,
        headers,
        Full::new(Bytes::from_static(text.as_bytes()))
            .map_err(|never| match never {})
            .boxed(),
    )
}

fn with_headers(status: StatusCode, headers: HeaderMap, body: ServeBody) -> Response<ServeBody> {
    let mut r = Response::new(body);
    *r.status_mut() = status;
    *r.headers_mut() = headers;
    r
}

/// Control characters and quotes escaped, so a log line stays one line.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// The current time as `2026-11-26T15:02:31Z`.
pub fn now_rfc3339() -> String {
    rfc3339(SystemTime::now())
}

pub fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::config_sn::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_795_687_200)),
            "2026-11-26T10:00:00Z"
        );
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(951_782_400)),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn http_dates_past_9999_do_not_panic() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(
            http_date(LAST_HTTP_DATE + 86_400),
            "Fri, 31 Dec 9999 23:59:59 GMT"
        );
        assert_eq!(http_date(u64::MAX / 2), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn etag_lists() {
        let e = "\"1-2-3.4\"";
        assert!(etag_list_matches("\"x\", \"1-2-3.4\"", e, true));
        assert!(etag_list_matches("W/\"1-2-3.4\"", e, false));
        assert!(!etag_list_matches("W/\"1-2-3.4\"", e, true));
        assert!(etag_list_matches("*", e, true));
        assert!(!etag_list_matches("\"1-2-3.5\"", e, false));
    }

    #[test]
    fn types_and_cache_policies() {
        assert_eq!(
            content_type("ST2030S.inf"),
            "text/plain; charset=iso-8859-1"
        );
        assert_eq!(content_type("manifest.json"), "application/json");
        assert_eq!(
            content_type("v2030_boot_v111.zz"),
            "application/octet-stream"
        );
        assert_eq!(cache_control("releases/x/a.txt"), IMMUTABLE);
        assert_eq!(cache_control("firmware/ab/x.zz"), IMMUTABLE);
        assert_eq!(
            cache_control("common/ST2030S_common_b0f373fadec6.txt"),
            IMMUTABLE
        );
        assert_eq!(cache_control("ST2030S.inf"), NO_CACHE);
        assert_eq!(cache_control("manifest.json"), NO_CACHE);
    }
}
