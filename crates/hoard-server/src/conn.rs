//! The connection loop of [`crate::serve::serve_with`]: hyper's HTTP/1 server driven
//! directly, so that every way a client can hold a connection without finishing a request
//! is bounded.
//!
//! - **Header**: a request head must arrive whole within `header_read_timeout`, counted
//!   from the accept for the first request and from its first byte for later ones (hyper's
//!   `header_read_timeout`, on the per-connection [`HeadTimer`] below).
//! - **Idle**: a kept-alive connection waits at most `idle_timeout` for the next request's
//!   first byte, and a response that cannot be sent because the client reads nothing is
//!   given up after `idle_timeout` without progress ([`Guarded`]).
//! - **Ticks**: head waits are timed by one server-wide ticker ([`slots`]), not by a timer
//!   per request, so the header and idle bounds are met up to one tick late: an eighth of
//!   the shorter of the two, at most a second.
//! - **Body**: a request body must arrive whole within `body_read_timeout` of its head
//!   ([`Deadline`]; the body extractor answers 408).
//! - **Size**: a request head larger than 64 KiB is answered 431.
//! - **Count**: at most `max_connections` are served at once. A newcomer past that takes
//!   the place of the admitted connection idle the longest, which is closed ([`slots`]).
//!   Idle means waiting for a request head with no byte of it come (the first since the
//!   accept, or the next on a kept-alive connection) and nothing of a response left to
//!   send, so connections that never send a byte hold no slot against one that does. A
//!   connection with a request in progress (its head begun, its body coming, its handler
//!   running, its response going out) is never closed for this; a head that has begun is
//!   bounded by `header_read_timeout` instead. When every admitted connection has one, the
//!   newcomer is answered `503` with `connection: close` (one non-blocking write, no read)
//!   and closed at once, so refusing costs no wait and no task.
//! - **Backlog**: [`listen`] asks the kernel to queue 1024 connections not yet accepted,
//!   not the default 128, so a burst is not dropped while the loop catches up.
//!
//! On shutdown the listener closes, idle connections close, requests in flight finish, and
//! the loop returns once every connection has ended.

mod slots;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::{Service, ServiceExt};

use crate::error::{ApiError, ErrorCode};
use slots::{Admitted, Clock, Evictor, Slot, Slots};

/// What a connection serves: a service that answers every request (the router and the
/// layers around it).
pub(crate) trait Api:
    Service<Request, Response = Response, Error = Infallible, Future: Send>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> Api for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// How `serve_with` bounds connections (`[server]` in `hoard.toml`: see
/// `hoard_config::ServerSection`). Timeouts past a day are taken as a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest a request head may take to arrive, from the accept (first request) or from
    /// its first byte (later requests on a kept-alive connection). Checked on a tick (an
    /// eighth of the shorter of this and `idle_timeout`, at most a second), so a connection
    /// past it is closed up to one tick late.
    pub header_read_timeout: Duration,
    /// Longest a kept-alive connection may wait for its next request (checked on the same
    /// tick), and longest a response may make no progress because the client reads
    /// nothing.
    pub idle_timeout: Duration,
    /// Longest a request body may take to arrive, from its head; past it: 408.
    pub body_read_timeout: Duration,
    /// Most connections served at once. At the cap, a new connection takes the place of
    /// the one idle the longest (waiting for a request head, none of it come), which is
    /// closed; only when every connection has a request in progress is it answered 503 and
    /// closed. Requests in progress are never cut to make room.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_read_timeout: Duration::from_secs(60),
            max_connections: 10_000,
        }
    }
}

/// Past the cap: a whole response, sent without waiting. Its status and body come from
/// the error table as every other answer's do; no request is read, so there is no request
/// id and the body is the code's generic message alone.
fn full_response() -> String {
    let error = ApiError::new(
        ErrorCode::TooManyConnections,
        "every connection slot holds a request in progress",
    );
    // Two strings always serialize; an empty body would still be a valid 503.
    let body = serde_json::to_string(&error.public_body()).unwrap_or_default();
    let status = error.status();
    format!(
        "HTTP/1.1 {} {}\r\nconnection: close\r\nretry-after: 1\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default(),
        body.len()
    )
}

/// The largest request head (start line and headers) read; larger ones get 431. Real
/// clients send a few KiB; this bounds what each of many connections can make the server
/// hold while its head arrives.
const MAX_HEAD: usize = 64 * 1024;

/// Connections the kernel may hold accepted but not yet taken by [`run`] (std's and tokio's
/// `bind` ask for 128, which a burst of connections overflows: the SYNs past it are dropped,
/// and each such client waits a second for its retransmit). Linux caps it at
/// `net.core.somaxconn` (4096 on recent kernels).
const BACKLOG: u32 = 1024;

/// A listener on `addr` for [`crate::serve::serve_with`], with a listen backlog of 1024.
/// Errors are the OS's (address in use, permission denied) as `TcpListener::bind` gives
/// them.
pub fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As std's and tokio's `bind` do on Unix: a restarted server binds while the last one's
    // connections are in TIME_WAIT. On Windows the option would let another socket take
    // the port, so it stays off there, as std leaves it.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Longer timeouts are taken as this (deadlines are instants, which must not overflow).
const LONGEST: Duration = Duration::from_secs(24 * 60 * 60);

/// How often the ticker checks head-wait deadlines: an eighth of the shorter timeout, so a
/// bound is met at most an eighth late, within [10 ms, 1 s] (a scan of every connection per
/// tick is cheap at a second, and finer than 10 ms buys nothing for bounds of seconds).
fn tick_period(limits: &Limits) -> Duration {
    (limits.header_read_timeout.min(limits.idle_timeout) / 8)
        .clamp(Duration::from_millis(10), Duration::from_secs(1))
}

/// Serves `api` on `listener` within `limits` until `shutdown` resolves, then waits for
/// every connection to end.
pub(crate) async fn run(
    listener: TcpListener,
    api: impl Api,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    // Far above any file-descriptor limit, and within what a semaphore counts.
    let slots = limits
        .max_connections
        .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
    let permits = Arc::new(Semaphore::new(slots));
    let limits = Arc::new(Limits {
        header_read_timeout: limits.header_read_timeout.min(LONGEST),
        idle_timeout: limits.idle_timeout.min(LONGEST),
        body_read_timeout: limits.body_read_timeout.min(LONGEST),
        max_connections: slots,
    });
    let admitted = Slots::new();
    let _ticker = admitted.start_ticker(tick_period(&limits));
    let mut evictor = Evictor::default();
    let (stop, stopping) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut full = false;
    let mut evicting = false;
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                // Out of file descriptors, most likely: wait for some to come back rather
                // than spin.
                tracing::error!(%error, "accepting a connection failed");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(Duration::from_millis(100)) => continue,
                }
            }
        };
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                (full, evicting) = (false, false);
                permit
            }
            Err(_) => match evictor.evict(&admitted) {
                Some(permit) => {
                    if !evicting {
                        tracing::info!(
                            max_connections = slots,
                            "connection cap reached: closing the longest idle connections to admit new ones"
                        );
                        evicting = true;
                    }
                    permit
                }
                None => {
                    if !full {
                        tracing::warn!(
                            max_connections = slots,
                            "connection cap reached with a request in progress on every connection: refusing new connections (503) until some finish"
                        );
                        full = true;
                    }
                    // One try, no wait: a full socket buffer just means the client sees the
                    // close.
                    let _ = stream.try_write(full_response().as_bytes());
                    continue;
                }
            },
        };
        let slot = admitted.admit(permit);
        let _ = stream.set_nodelay(true);
        let api = api.clone();
        let limits = Arc::clone(&limits);
        let stopping = stopping.clone();
        tokio::spawn(async move {
            connection(stream, api, &limits, slot, stopping).await;
        });
    }
    drop(listener);
    drop(stopping);
    let _ = stop.send(true);
    // Every connection holds a receiver until it ends (permits would miss an evicted one
    // still finishing: it gave its permit to the newcomer).
    stop.closed().await;
}

/// Errors of one connection that leave the listener fine.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

async fn connection(
    stream: TcpStream,
    api: impl Api,
    limits: &Limits,
    admitted: Admitted,
    mut stopping: watch::Receiver<bool>,
) {
    let slot = admitted.slot();
    let io = TokioIo::new(Guarded {
        stream,
        slot: Arc::clone(slot),
        stall_limit: limits.idle_timeout,
        stall: None,
    });
    let timer = HeadTimer {
        slot: Arc::clone(slot),
        first: AtomicBool::new(true),
        header: limits.header_read_timeout,
        idle: limits.idle_timeout,
    };
    let serving = Arc::clone(slot);
    let body_limit = limits.body_read_timeout;
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        // A head read ahead (pipelined) came with no read after its head wait began.
        serving.head_begun();
        let request = request.map(|body| {
            Body::new(Deadline {
                body,
                limit: body_limit,
                from: tokio::time::Instant::now(),
                sleep: None,
            })
        });
        api.clone().oneshot(request)
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(timer)
        .header_read_timeout(limits.header_read_timeout)
        .max_header_size(MAX_HEAD);
    let mut conn = std::pin::pin!(builder.serve_connection(io, service));
    let mut draining = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended");
                }
                return;
            }
            // Once told (or once the sender is gone), finish what is in flight and close.
            _ = stopping.wait_for(|stop| *stop), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
            // Chosen to make room while idle: hyper closes an idle connection at once (after
            // sending what is left of a response). If the next request got in first, it is
            // finished, then the connection closes.
            () = slot.evicted(), if !draining => {
                draining = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
}

/// The timer hyper runs its header-read timeout on, one per connection. Hyper starts it
/// when it begins waiting for a request head: at the accept, and after each response. The
/// first wait ends `header` after it starts; a later one `idle` after it starts while no
/// byte has come, else `header` after the first byte. Each start marks the connection idle.
/// The deadline lives in the connection's [`Slot`], where the server's ticker sees it pass:
/// no tokio timer is registered per request.
struct HeadTimer {
    slot: Arc<Slot>,
    /// No head wait has started yet.
    first: AtomicBool,
    header: Duration,
    idle: Duration,
}

impl hyper::rt::Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let clock = self.slot.clock();
        let (until, waiting_from) = if self.first.swap(false, Ordering::Relaxed) {
            (clock.reading(deadline), None)
        } else {
            (
                Clock::after(clock.now(), self.idle),
                Some(self.slot.reads()),
            )
        };
        self.slot.head_wait(until);
        Box::pin(HeadSleep {
            slot: Arc::clone(&self.slot),
            until,
            waiting_from,
            header: self.header,
        })
    }
}

/// One head wait of [`HeadTimer`]: one allocation per request (hyper boxes it).
struct HeadSleep {
    slot: Arc<Slot>,
    /// Its deadline, a [`Clock`] reading.
    until: u64,
    // While idle: the byte count when the wait began; `None` once the head has begun.
    waiting_from: Option<u64>,
    header: Duration,
}

impl Future for HeadSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // Hyper polls this each time it has read part of a head and needs more, so the
        // first byte of a head is seen here when it comes.
        if let Some(from) = self.waiting_from {
            if self.slot.reads() != from {
                self.waiting_from = None;
                let until = Clock::after(self.slot.clock().now(), self.header);
                if self.slot.move_deadline(self.until, until) {
                    self.until = until;
                }
            }
        }
        if self.slot.head_wait_over(cx) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for HeadSleep {
    fn drop(&mut self) {
        self.slot.head_wait_dropped(self.until);
    }
}

impl hyper::rt::Sleep for HeadSleep {}

/// The socket, counting the bytes read in the connection's [`Slot`] (for [`HeadTimer`]) and
/// failing a write that has made no progress for `stall_limit`; it tells the slot when a
/// head has begun and when writes wait for the client.
struct Guarded {
    stream: TcpStream,
    slot: Arc<Slot>,
    stall_limit: Duration,
    /// Since when writes have been waiting for the client to read.
    stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Guarded {
    /// What a write that got `poll` answers: progress clears the stall, waiting starts or
    /// continues it, and a stall past the limit is an error that ends the connection.
    fn judge<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            if self.stall.take().is_some() {
                self.slot.write_unblocked();
            }
            return poll;
        }
        if self.stall.is_none() {
            self.slot.write_blocked();
        }
        let limit = self.stall_limit;
        let stall = self
            .stall
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match stall.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client read nothing for server.idle_timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncRead for Guarded {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.stream).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before);
        if read > 0 {
            self.slot.read(read);
        }
        poll
    }
}

impl AsyncWrite for Guarded {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write(cx, data);
        self.judge(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        self.judge(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_flush(cx);
        self.judge(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.stream).poll_shutdown(cx);
        self.judge(cx, poll)
    }
}

/// The error a request body gives once `body_read_timeout` has passed; the body extractor
/// answers it with 408.
#[derive(Debug, thiserror::Error)]
#[error("the request body did not arrive within server.body_read_timeout ({0:?})")]
pub(crate) struct BodyTimedOut(Duration);

/// A request body that must arrive whole within `limit` of the head.
struct Deadline {
    body: Incoming,
    limit: Duration,
    from: tokio::time::Instant,
    /// Made the first time the body is not there yet (most requests never need one).
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Deadline {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.body).poll_frame(cx) {
            return Poll::Ready(frame.map(|frame| frame.map_err(Into::into)));
        }
        let until = this.from + this.limit;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(until)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyTimedOut(this.limit))))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cap's 503 is written by hand, outside axum: its status line, length and body
    /// are the error table's, with the wire strings clients have always seen.
    #[test]
    fn the_cap_answer_is_the_tables_503() {
        let response = full_response();
        let (head, body) = response.split_once("\r\n\r\n").expect("a head and a body");
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("HTTP/1.1 503 Service Unavailable"));
        let headers: Vec<&str> = lines.collect();
        assert!(headers.contains(&"connection: close"), "{headers:?}");
        assert!(
            headers.contains(&format!("content-length: {}", body.len()).as_str()),
            "{headers:?}"
        );
        let body: serde_json::Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(
            body,
            serde_json::json!({
                "error": "too_many_connections",
                "message": "the server has server.max_connections connections open; retry later",
            })
        );
    }
}
