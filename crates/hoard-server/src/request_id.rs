//! Request ids and each request's log span, from tower-http.
//!
//! Every request gets an id the server makes (`x-request-id`, 16 hex digits), the response
//! carries it back in the same header, and every log line of the request (its `done` line,
//! a 5xx's detail) is written in a span that holds it. A 5xx body quotes it too
//! ([`current`]), so a client's report leads to the log line with the detail.

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::Router;
use std::time::Duration;
use tower::ServiceBuilder;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// The header the id travels in, both ways.
const HEADER: &str = "x-request-id";

tokio::task_local! {
    /// The id of the request whose handler runs on this task.
    static CURRENT: String;
}

/// The id of the request being answered, when called from inside a handler of
/// [`with_request_ids`]'s router (an error turned into a response is).
pub(crate) fn current() -> Option<String> {
    CURRENT.try_with(String::clone).ok()
}

/// Runs `future` as if it answered the request `id` (for tests of what quotes the id).
#[cfg(test)]
pub(crate) async fn scope<F: std::future::Future>(id: &str, future: F) -> F::Output {
    CURRENT.scope(id.to_owned(), future).await
}

/// Ids as the server has always made them: 64 random bits in hex.
#[derive(Clone, Copy, Default)]
struct RandomId;

impl MakeRequestId for RandomId {
    fn make_request_id<B>(&mut self, _: &Request<B>) -> Option<RequestId> {
        let id = format!("{:016x}", rand::random::<u64>());
        HeaderValue::from_str(&id).ok().map(RequestId::new)
    }
}

/// `router` with request ids, a span per request, and one `done` log line per answer
/// (status and microseconds).
pub(crate) fn with_request_ids<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router.layer(
        ServiceBuilder::new()
            // The server names every request itself, even one that arrives with an id: an
            // id in the log is then unique, and no client can make its requests pass for
            // another's.
            .map_request(|mut request: Request| {
                request.headers_mut().remove(HEADER);
                request
            })
            .layer(SetRequestIdLayer::x_request_id(RandomId))
            .layer(PropagateRequestIdLayer::x_request_id())
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|request: &Request<Body>| {
                        let id = request
                            .headers()
                            .get(HEADER)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default();
                        tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
                    })
                    // One line per request, when it is answered; a 5xx's detail is logged
                    // by the error itself (`error.rs`), so failures add no line of their own.
                    .on_request(())
                    .on_response(|response: &Response, latency: Duration, _: &Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX),
                            "done"
                        )
                    })
                    .on_failure(()),
            )
            .layer(middleware::from_fn(scope_current)),
    )
}

/// Runs the rest of the request with its id in [`current`]'s reach.
async fn scope_current(request: Request, next: Next) -> Response {
    let id = request
        .extensions()
        .get::<RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_owned);
    match id {
        Some(id) => CURRENT.scope(id, next.run(request)).await,
        None => next.run(request).await,
    }
}
