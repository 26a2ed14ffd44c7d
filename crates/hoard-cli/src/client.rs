//! Asking a running hoard server (`hoard stats`, `hoard datasets ls --server`).

use anyhow::Context;
use serde_json::Value;

/// GETs `url` from a hoard server and returns its JSON, or the server's error. Sends
/// `$HOARD_TOKEN` as a bearer token when it is set (a server with read tokens needs one).
pub async fn get_json(url: &str) -> anyhow::Result<Value> {
    let mut request = reqwest::Client::new().get(url);
    let token = std::env::var("HOARD_TOKEN").ok().filter(|t| !t.is_empty());
    if let Some(token) = &token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("asking {url}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("reading {url}"))?;
    if status == reqwest::StatusCode::UNAUTHORIZED && token.is_none() {
        anyhow::bail!("{url} answered {status}: {body}; set $HOARD_TOKEN to a read token");
    }
    anyhow::ensure!(status.is_success(), "{url} answered {status}: {body}");
    Ok(body)
}
