//! Asking a running hoard server (`hoard stats`, `hoard datasets ls --server`).

use anyhow::Context;
use serde_json::Value;

/// The URL of `path` on the server `server` names: a URL (`http://host:port`, `https://...`)
/// or a bare `host:port`, taken as `http://host:port`.
pub fn endpoint(server: &str, path: &str) -> anyhow::Result<String> {
    let server = server.trim().trim_end_matches('/');
    anyhow::ensure!(
        !server.is_empty(),
        "--server is empty: give host:port or a URL"
    );
    let base = match server.split_once("://") {
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("http") => server.to_owned(),
        Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => server.to_owned(),
        Some((scheme, _)) => anyhow::bail!(
            "--server {server}: a hoard server speaks http:// or https://, not {scheme}://"
        ),
        None => format!("http://{server}"),
    };
    Ok(format!("{base}{path}"))
}

/// The server this folder's configuration runs (`[server] addr` of hoard.toml, or
/// `$HOARD_SERVER_ADDR`; 127.0.0.1:7070 by default) as a `host:port` to ask: a server
/// listening on every interface (`0.0.0.0`, `::`) is asked on loopback.
pub fn configured_server(config: &hoard_config::Config) -> anyhow::Result<String> {
    let mut addr = config.server()?.addr;
    if addr.ip().is_unspecified() {
        let loopback: std::net::IpAddr = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        addr.set_ip(loopback);
    }
    Ok(addr.to_string())
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_a_url_or_a_bare_host_and_port() {
        let url = |server: &str| endpoint(server, "/v1/stats").map_err(|e| e.to_string());
        assert_eq!(
            url("localhost:7070").unwrap(),
            "http://localhost:7070/v1/stats"
        );
        assert_eq!(
            url("http://127.0.0.1:7070/").unwrap(),
            "http://127.0.0.1:7070/v1/stats"
        );
        assert_eq!(
            url("HTTPS://cache.internal").unwrap(),
            "HTTPS://cache.internal/v1/stats"
        );
        assert_eq!(url(" [::1]:7070 ").unwrap(), "http://[::1]:7070/v1/stats");
        let refused = url("redis://localhost:6379").unwrap_err();
        assert!(refused.contains("not redis://"), "{refused}");
        assert!(url("").unwrap_err().contains("host:port"));
    }

    #[test]
    fn the_configured_server_is_asked_on_loopback_when_it_listens_everywhere() {
        for (addr, asked) in [
            ("0.0.0.0:8080", "127.0.0.1:8080"),
            ("[::]:8080", "[::1]:8080"),
            ("10.1.2.3:7071", "10.1.2.3:7071"),
        ] {
            let env = |name: &str| (name == "HOARD_SERVER_ADDR").then(|| addr.to_owned());
            let config = hoard_config::Config::load(None, &env, &Default::default()).unwrap();
            assert_eq!(configured_server(&config).unwrap(), asked);
        }
        let env = |_: &str| None;
        let config = hoard_config::Config::load(None, &env, &Default::default()).unwrap();
        assert_eq!(configured_server(&config).unwrap(), "127.0.0.1:7070");
    }
}
