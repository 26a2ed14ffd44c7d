//! The hit path: a read of a value the memory tier (L1) holds, answered before the router.
//!
//! A hit is what a cache exists for, and on a hit axum's routing cost more than the lookup:
//! matching among thirty routes, the path's parameters percent-decoded into the request's
//! extensions, the method router, a boxed service per route, the extractors. [`HitPath`]
//! answers the plainest form of the two read routes, `GET /results/{model}/{h}` and
//! `GET /v1/cache/{namespace}/{key}`, from L1 itself, and hands every other request to the
//! router unchanged:
//!
//! - another method (HEAD included), another path, a segment the router reads another way
//!   (one with a `%`, which the router percent-decodes; an empty one; `batch`, a route of
//!   its own);
//! - a request the token check refuses (the router answers the 401 or 403);
//! - a key L1 does not hold (the router reads L2 and counts the miss).
//!
//! What it answers is what the route's handler would: the same token check, the same L1
//! read counted the same way (the handler's own first step), the same JSON text, the same
//! error for a stored value that is not JSON. It sits inside the request-id layer, so ids,
//! the access log and the latency figures see it as any other request. The equivalence is
//! pinned by `router::tests::the_hit_path_answers_as_the_router_does`, which sends generated paths
//! through both.

use crate::auth::{Access, Scope};
use crate::error::ApiError;
use crate::routes::results::{result_key, RESULTS};
use crate::routes::JsonText;
use axum::extract::Request;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use std::borrow::Cow;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tower::Service;

/// The router (`inner`) behind a service that answers L1 hits itself: see the module
/// documentation.
#[derive(Clone)]
pub(crate) struct HitPath<S> {
    cache: hoard::Cache,
    access: Access,
    inner: S,
}

impl<S> HitPath<S> {
    pub(crate) fn new(cache: hoard::Cache, access: Access, inner: S) -> HitPath<S> {
        HitPath {
            cache,
            access,
            inner,
        }
    }

    /// The stored value's JSON (or the error its handler would answer) if `request` is a
    /// plain read of a key L1 holds and its token may read; `None` for the router.
    fn hit(&self, request: &Request) -> Option<Result<JsonText, hoard::Error>> {
        if request.method() != Method::GET {
            return None;
        }
        let (namespace, key) = plain_read(request.uri().path())?;
        self.access.check(request.headers(), Scope::Read).ok()?;
        // An invalid key is the router's to refuse; a miss is its to read from L2. A value
        // that is not JSON-shaped is refused as its handler would.
        match self.cache.get_json_l1(namespace, &key) {
            Ok(Some(json)) => Some(Ok(JsonText::rendered(json))),
            Ok(None) => None,
            Err(error @ hoard::Error::Decode(_)) => Some(Err(error)),
            Err(_) => None,
        }
    }
}

/// The namespace and key a plain read of `path` names: `/results/{model}/{h}` (the key
/// `{model}:{h}` in the results namespace) or `/v1/cache/{namespace}/{key}`, each segment
/// non-empty, free of `%` and not `batch`. `None` for any other path.
pub(crate) fn plain_read(path: &str) -> Option<(&str, Cow<'_, str>)> {
    let plain = |segment: &str| !segment.is_empty() && !segment.contains('%');
    if let Some(rest) = path.strip_prefix("/results/") {
        let (model, h) = rest.split_once('/')?;
        let read = plain(model) && plain(h) && !h.contains('/') && h != "batch";
        return read.then(|| (RESULTS, Cow::Owned(result_key(model, h))));
    }
    let rest = path.strip_prefix("/v1/cache/")?;
    let (namespace, key) = rest.split_once('/')?;
    let read = plain(namespace) && plain(key) && !key.contains('/') && key != "batch";
    read.then_some((namespace, Cow::Borrowed(key)))
}

impl<S> Service<Request> for HitPath<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Answer<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Answer<S::Future> {
        match self.hit(&request) {
            Some(found) => Answer::Hit { found: Some(found) },
            None => Answer::Routed {
                future: self.inner.call(request),
            },
        }
    }
}

pin_project! {
    /// A hit's answer, or the router's.
    #[project = AnswerProj]
    pub(crate) enum Answer<F> {
        // Turned into a response when polled, inside the request's id scope (an error's
        // log line quotes the id).
        Hit { found: Option<Result<JsonText, hoard::Error>> },
        Routed { #[pin] future: F },
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            AnswerProj::Hit { found } => Poll::Ready(Ok(match found.take() {
                Some(Ok(json)) => json.into_response(),
                Some(Err(error)) => ApiError::from(error).into_response(),
                // Polled again after it was answered: a bug in the caller, not a request's.
                None => ApiError::internal("a hit was answered twice").into_response(),
            })),
            AnswerProj::Routed { future } => future.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_reads_are_the_two_routes_with_plain_segments() {
        assert_eq!(
            plain_read("/results/wav2vec2/h5"),
            Some((RESULTS, Cow::Owned("wav2vec2:h5".to_owned())))
        );
        assert_eq!(
            plain_read("/v1/cache/asr/clip-1"),
            Some(("asr", Cow::Borrowed("clip-1")))
        );
        for routed in [
            "/results/m/batch",
            "/v1/cache/ns/batch",
            "/results/m/",
            "/results//h",
            "/results/m",
            "/results/m/h/x",
            "/results/m/h%20",
            "/v1/cache/ns/",
            "/v1/cache/ns",
            "/v1/cache/ns/a/b",
            "/v1/cache/n%73/k",
            "/v1/cache",
            "/v1/stats",
            "/",
        ] {
            assert_eq!(plain_read(routed), None, "{routed}");
        }
    }
}
