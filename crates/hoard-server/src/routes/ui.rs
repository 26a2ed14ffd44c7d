//! `GET /ui`: the dashboard, three files compiled into the binary (`src/ui/`), so it works
//! offline and needs nothing installed. The page holds no data and is open to all; what
//! it shows comes from `/v1/stats` and `/v1/stats/history` with the token it is given.
//!
//! Every file is sent with a Content-Security-Policy that lets the page load and fetch from
//! its own origin only: no script, style, image or request can leave it.

use axum::http::header;
use axum::response::IntoResponse;

const INDEX: &str = include_str!("../ui/index.html");
const SCRIPT: &str = include_str!("../ui/app.js");
const STYLE: &str = include_str!("../ui/app.css");

/// Own origin only, no inline script or style, no framing.
pub(crate) const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

fn file(content_type: &'static str, body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            // A new binary brings a new page; the browser asks again rather than run an
            // old script against a newer server.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

#[utoipa::path(get, path = "/ui", tag = "operations", responses((status = 200, description = "The dashboard page (HTML)", content_type = "text/html")))]
pub(crate) async fn page() -> impl IntoResponse {
    file("text/html; charset=utf-8", INDEX)
}

#[utoipa::path(get, path = "/ui/app.js", tag = "operations", responses((status = 200, description = "The dashboard's script", content_type = "text/javascript")))]
pub(crate) async fn script() -> impl IntoResponse {
    file("text/javascript; charset=utf-8", SCRIPT)
}

#[utoipa::path(get, path = "/ui/app.css", tag = "operations", responses((status = 200, description = "The dashboard's style sheet", content_type = "text/css")))]
pub(crate) async fn style() -> impl IntoResponse {
    file("text/css; charset=utf-8", STYLE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page loads its script and style from the routes that serve them, and nothing
    /// from elsewhere; the three stay far under the 300 KB a dashboard may weigh.
    #[test]
    fn the_page_refers_to_its_own_files_only() {
        assert!(INDEX.contains(r#"src="/ui/app.js""#));
        assert!(INDEX.contains(r#"href="/ui/app.css""#));
        for text in [INDEX, STYLE] {
            assert!(!text.contains("http"), "{text}");
        }
        assert!(!SCRIPT.contains("innerHTML"));
        // The one absolute URL in the script is the SVG namespace, which is a name, not a
        // request.
        assert_eq!(
            SCRIPT.matches("http").count(),
            SCRIPT.matches("http://www.w3.org/2000/svg").count()
        );
        assert!(INDEX.len() + SCRIPT.len() + STYLE.len() < 300_000);
    }
}
