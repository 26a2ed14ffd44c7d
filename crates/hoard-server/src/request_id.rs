//! Request ids and each request's log span, in one layer.
//!
//! Every request gets an id the server makes (`x-request-id`, 16 hex digits), the response
//! carries it back in the same header, a 5xx's body quotes it ([`current`]) and so does the
//! log line with the 5xx's detail, so a client's report leads to that line. With the access
//! log on, every log line of the request is written in a span that holds the id, the method
//! and the path.
//!
//! The span is part of the access log (debug, target [`ACCESS`]), off by default: a span
//! the log's formatter records costs an allocation and the formatting of its fields on
//! every request, about an eighth of the throughput of a cache hit.
//!
//! One hand-written layer does what tower-http's request-id and trace layers and a
//! `from_fn` middleware did together: every request passes through it, and the three cost
//! a boxed future, a cloned service, a formatted `String` and three header writes per
//! request. Here the id is 16 bytes on the stack, written into the response once.

use crate::history::StatsHistory;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;
use tokio::task::futures::TaskLocalFuture;
use tower::{Layer, Service};
use tracing::instrument::{Instrument, Instrumented};

/// The header the id travels in, both ways (a constant: a name parsed per request would
/// cost a parse and a hash on every answer).
static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The log target of the per-request `done` lines (the access log).
pub(crate) const ACCESS: &str = "hoard::access";

/// A request's id: 64 random bits as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Id([u8; 16]);

impl Id {
    fn random() -> Id {
        Id::of(rand::random::<u64>())
    }

    fn of(bits: u64) -> Id {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0; 16];
        for (i, digit) in text.iter_mut().enumerate() {
            *digit = HEX[(bits >> (60 - 4 * i) & 0xf) as usize];
        }
        Id(text)
    }

    fn as_str(&self) -> &str {
        // Hex digits only, by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

tokio::task_local! {
    /// The id of the request whose handler runs on this task.
    static CURRENT: Id;
}

/// The id of the request being answered, when called from inside a handler of
/// [`with_request_ids`]'s router (an error turned into a response is).
pub(crate) fn current() -> Option<String> {
    CURRENT.try_with(|id| id.as_str().to_owned()).ok()
}

/// Runs `future` as if it answered the request whose id is `bits` (for tests of what
/// quotes the id).
#[cfg(test)]
pub(crate) async fn scope<F: Future>(bits: u64, future: F) -> F::Output {
    CURRENT.scope(Id::of(bits), future).await
}

/// `service` (the whole router) with request ids, a span per request, and one `done` log
/// line per answer (status and microseconds) at debug level under the target [`ACCESS`].
///
/// The time each cache route's request took goes into `history`'s latencies.
///
/// Wrapped around the router once, not applied with `Router::layer`: that wraps every
/// route in a service of its own, boxed, which costs a boxed future and a cloned boxed
/// service per request.
pub(crate) fn with_request_ids<S>(service: S, history: Arc<StatsHistory>) -> WithRequestIds<S> {
    RequestIds { history }.layer(service)
}

/// The layer of [`with_request_ids`].
#[derive(Clone)]
struct RequestIds {
    history: Arc<StatsHistory>,
}

impl<S> Layer<S> for RequestIds {
    type Service = WithRequestIds<S>;

    fn layer(&self, inner: S) -> WithRequestIds<S> {
        WithRequestIds {
            inner,
            history: Arc::clone(&self.history),
        }
    }
}

/// A service whose requests each get an id, a span and a `done` line.
#[derive(Clone)]
pub(crate) struct WithRequestIds<S> {
    inner: S,
    history: Arc<StatsHistory>,
}

impl<S> Service<Request> for WithRequestIds<S>
where
    S: Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Answer<S::Future> {
        // The server names every request itself, even one that arrives with an id: an id
        // in the log is then unique, and no client can make its requests pass for another's.
        request.headers_mut().remove(&HEADER);
        let id = Id::random();
        let span = tracing::debug_span!(
            target: ACCESS,
            "request",
            id = %id,
            method = %request.method(),
            path = %request.uri().path()
        );
        let timed =
            crate::latency::is_cache_route(request.uri().path()).then(|| Arc::clone(&self.history));
        Answer {
            inner: CURRENT.scope(id, self.inner.call(request)).instrument(span),
            id,
            started: Instant::now(),
            timed,
        }
    }
}

pin_project! {
    /// A request being answered under its id: the response gets the header and the log
    /// its `done` line.
    pub(crate) struct Answer<F> {
        #[pin]
        inner: Instrumented<TaskLocalFuture<Id, F>>,
        id: Id,
        started: Instant,
        // Where a cache route's latency is counted; `None` for other routes.
        timed: Option<Arc<StatsHistory>>,
    }
}

impl<F, E> Future for Answer<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let mut response = ready!(this.inner.as_mut().poll(cx))?;
        let micros = u64::try_from(this.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        if let Some(history) = this.timed.take() {
            history.latencies().record(micros);
        }
        // The access log: one line per request, when it is answered, for whoever turns it
        // on (`HOARD_LOG=info,hoard::access=debug`). Off by default: at tens of thousands of
        // hits a second it costs a fifth of the throughput and writes megabytes a second. A
        // failure's detail is logged by the error itself (`error.rs`) whatever this says.
        if tracing::enabled!(target: ACCESS, tracing::Level::DEBUG) {
            let _in_request = this.inner.as_ref().get_ref().span().enter();
            tracing::debug!(
                target: ACCESS,
                status = response.status().as_u16(),
                micros,
                "done"
            );
        }
        if let Ok(value) = HeaderValue::from_bytes(&this.id.0) {
            response.headers_mut().insert(HEADER.clone(), value);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tower::ServiceExt;

    #[test]
    fn ids_are_sixteen_hex_digits_of_their_bits() {
        assert_eq!(Id::of(0x00c0_ffee_00c0_ffee).as_str(), "00c0ffee00c0ffee");
        assert_eq!(Id::of(0).as_str(), "0000000000000000");
        assert_eq!(Id::of(u64::MAX).as_str(), "ffffffffffffffff");
        assert_ne!(Id::random(), Id::random());
    }

    /// The handler sees the id the response carries, and a client's own id is dropped.
    #[tokio::test]
    async fn the_response_carries_the_id_its_handler_saw() {
        let router = with_request_ids(
            axum::Router::new().route("/", get(|| async { current().unwrap_or_default() })),
            StatsHistory::new(std::time::Duration::from_secs(5)),
        );
        for sent in [None, Some("chosen-by-the-client")] {
            let mut request = Request::builder().uri("/");
            if let Some(id) = sent {
                request = request.header(&HEADER, id);
            }
            let body = axum::body::Body::empty();
            let response = router
                .clone()
                .oneshot(request.body(body).unwrap())
                .await
                .unwrap();
            let header = response.headers()[&HEADER].to_str().unwrap().to_owned();
            assert!(
                header.len() == 16 && header.chars().all(|c| c.is_ascii_hexdigit()),
                "{header}"
            );
            let seen = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(seen, header.as_bytes(), "sent {sent:?}");
        }
    }
}
