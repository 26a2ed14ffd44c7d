//! `hoard stats`: a running server's stats, as a table or JSON.

use anyhow::Context;
use serde_json::Value;

/// GETs `url` from a hoard server and returns its JSON, or the server's error. Sends
/// `$HOARD_TOKEN` as a bearer token when it is set (a server with read tokens needs one).
pub async fn fetch(url: &str) -> anyhow::Result<Value> {
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

pub fn run(server: &str, json: bool) -> anyhow::Result<()> {
    let url = format!("{}/v1/stats", server.trim_end_matches('/'));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let body = runtime.block_on(fetch(&url))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(());
    }
    print!("{}", table(&body));
    Ok(())
}

/// The stats as a few aligned lines and a per-namespace table.
pub fn table(body: &Value) -> String {
    let stats = &body["stats"];
    let field = |name: &str| stats[name].to_string().trim_matches('"').to_owned();
    let mut out = format!(
        "{}\n\nkeys {}   memory {}   hit rate {}   hits {} (L1 {}, L2 {})   misses {}   errors {}\n",
        body["message"].as_str().unwrap_or(""),
        field("total_keys"),
        field("used_memory"),
        field("hit_rate"),
        field("hits"),
        field("l1_hits"),
        field("l2_hits"),
        field("misses"),
        field("errors"),
    );
    if let Some(namespaces) = body["namespaces"].as_object() {
        out.push_str(&format!(
            "\n{:<24}{:>10}{:>10}{:>10}{:>10}{:>10}\n",
            "namespace", "hits", "misses", "hit rate", "sets", "deletes"
        ));
        for (name, ns) in namespaces {
            out.push_str(&format!(
                "{:<24}{:>10}{:>10}{:>9.1}%{:>10}{:>10}\n",
                name,
                ns["hits"].as_u64().unwrap_or(0),
                ns["misses"].as_u64().unwrap_or(0),
                ns["hit_rate"].as_f64().unwrap_or(0.0) * 100.0,
                ns["sets"].as_u64().unwrap_or(0),
                ns["deletes"].as_u64().unwrap_or(0)
            ));
        }
    }
    out
}
