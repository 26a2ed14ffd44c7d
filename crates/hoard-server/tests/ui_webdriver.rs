//! The dashboard driven like a user drives it: chromedriver (Debian's `chromium-driver`,
//! which `scripts/test` installs) runs headless Chromium over WebDriver against a server on
//! a real socket; the test types into the page's forms, clicks its buttons, and checks what
//! the page shows against what the server says, from outside the page (reqwest).

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use fantoccini::{Client, Locator};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;
use tokio::time::Instant;

mod support;
use support::Server;
mod webdriver;
use webdriver::{
    admin_status, browser, browser_log, click, enter_admin_token, script, type_into, until,
    PATIENCE,
};

/// The browser reports the requests the server refused (401) itself; nothing else may be
/// in its log.
async fn only_refusals_logged(client: &Client) {
    for (source, _, message) in browser_log(client).await {
        assert!(source == "network" && message.contains("401"), "{message}");
    }
}

/// Lists the keys of `namespace` matching `pattern` in the page's key browser and waits
/// for the listing to finish.
async fn list_keys(client: &Client, namespace: &str, pattern: &str) {
    type_into(client, "#keys-namespace", namespace).await;
    type_into(client, "#keys-pattern", pattern).await;
    click(client, "#keys-form button[type=submit]").await;
    until(
        client,
        "the key listing",
        "return /^\\d+ keys?$/.test(document.getElementById('keys-status').textContent)",
    )
    .await;
}

/// The keys the page's browser lists.
async fn listed(client: &Client) -> Vec<String> {
    let keys = script(
        client,
        "return [...document.querySelectorAll('#keys tbody tr')].map(tr => tr.dataset.key)",
    )
    .await;
    serde_json::from_value(keys).unwrap()
}

/// The page's delete controls that a user could use: shown and enabled.
async fn usable_delete_controls(client: &Client) -> Vec<String> {
    let found = script(
        client,
        "return [...document.querySelectorAll('[data-delete], #keys-delete-all, #keys-confirm-yes')]
           .filter(b => !b.disabled && b.checkVisibility()).map(b => b.id || b.dataset.delete)",
    )
    .await;
    serde_json::from_value(found).unwrap()
}

async fn status_of(s: &Server, namespace: &str, key: &str) -> StatusCode {
    s.get(&format!("/v1/cache/{namespace}/{key}")).await.0
}

async fn admin_text(client: &Client) -> String {
    let text = script(
        client,
        "return document.getElementById('admin-status').textContent",
    );
    text.await.as_str().unwrap().to_owned()
}

/// What the page's admin status says once it no longer says `before`.
async fn next_admin_text(client: &Client, before: &str) -> String {
    let changed = format!(
        "const now = document.getElementById('admin-status').textContent;
         return now !== {} && now",
        json!(before)
    );
    let text = until(client, "the admin status to change", &changed).await;
    text.as_str().unwrap().to_owned()
}

/// The figures the page shows, `(name, value)`, and those of `/v1/stats`, once they agree.
async fn figures_agree(client: &Client, s: &Server) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let shown = script(
            client,
            "return [...document.querySelectorAll('[data-figure][data-value]')]
               .map(o => [o.dataset.figure, o.dataset.value])",
        )
        .await;
        let shown: Vec<(String, String)> = serde_json::from_value(shown).unwrap();
        let (_, stats) = s.get("/v1/stats").await;
        let differ: Vec<_> = shown
            .iter()
            .filter(|(name, value)| {
                let expected = match &stats["stats"][name] {
                    Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                *value != expected
            })
            .collect();
        if shown.len() >= 11 && differ.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page's figures {shown:?} differ from /v1/stats in {differ:?}: {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The namespace table's keys and bytes equal the census `/v1/stats` reports, and that
/// census counts what the test wrote: `expected` is (namespace, keys, bytes).
async fn census_agrees(client: &Client, s: &Server, expected: &[(&str, u64, u64)]) {
    let deadline = Instant::now() + PATIENCE;
    let want: Vec<(String, u64, u64)> = expected
        .iter()
        .map(|(ns, keys, bytes)| (ns.to_string(), *keys, *bytes))
        .collect();
    loop {
        let shown = script(
            client,
            "return [...document.querySelectorAll('#namespaces tbody tr[data-keys]')]
               .map(tr => [tr.dataset.namespace, Number(tr.dataset.keys), Number(tr.dataset.bytes)])",
        )
        .await;
        let mut shown: Vec<(String, u64, u64)> = serde_json::from_value(shown).unwrap();
        shown.sort();
        let (_, stats) = s.get("/v1/stats").await;
        let mut reported: Vec<(String, u64, u64)> = stats["census"]["namespaces"]
            .as_object()
            .map(|namespaces| {
                namespaces
                    .iter()
                    .map(|(ns, c)| {
                        let number = |field: &str| c[field].as_u64().unwrap();
                        (ns.clone(), number("keys"), number("bytes"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        reported.sort();
        if reported == want && shown == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the page shows {shown:?}, /v1/stats counted {reported:?}, the test wrote {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The key browser with and without the admin token, a wrong token, single and pattern
/// deletes checked from outside the page, the figures against `/v1/stats`, nothing loaded
/// from another origin, nothing logged, and the status when the server stops. A
/// screenshot is saved to `target/tmp/dashboard-webdriver.png`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_deletes_keys_with_the_admin_token_only() {
    let (cache, dir) = support::embedded_cache();
    // Samples every 100 ms: the charts have lines by the time of the screenshot.
    let s = support::start_sampling(cache, dir, Duration::from_millis(100)).await;
    // `asr*` and `asr-old` are the namespaces a pattern delete in `asr` must not reach.
    let keys = [
        ("asr", "clip-1"),
        ("asr", "clip-2"),
        ("asr", "clip-3"),
        ("asr", "other-1"),
        ("asr*", "clip-1"),
        ("asr-old", "clip-9"),
        ("tags", "img-9"),
    ];
    for (namespace, key) in keys {
        let tags = if key == "clip-2" {
            "&tags=speaker-7,model:v2"
        } else {
            ""
        };
        let path = format!("/v1/cache/{namespace}/{key}?compute=250ms{tags}");
        let (status, body) = s.call(Method::PUT, &path, Some("[1]"), None).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
    }
    for key in ["clip-1", "clip-1", "nothing"] {
        s.get(&format!("/v1/cache/asr/{key}")).await;
    }

    let (_driver, client) = browser().await;
    let page = format!("{}/ui", s.base);
    client.goto(&page).await.unwrap();
    client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#status[data-state=\"live\"]"))
        .await
        .unwrap();
    figures_agree(&client, &s).await;
    // Each value is `[1]`: two bytes of MessagePack.
    let written = [
        ("asr", 4, 8),
        ("asr*", 1, 2),
        ("asr-old", 1, 2),
        ("tags", 1, 2),
    ];
    census_agrees(&client, &s, &written).await;

    // Without the admin token the browser only reads: no delete control can be used.
    list_keys(&client, "asr", "clip-*").await;
    assert_eq!(listed(&client).await, ["clip-1", "clip-2", "clip-3"]);
    // Each row: the key, the tags it was written with, then size, TTL and compute time.
    let tags = script(
        &client,
        "return [...document.querySelectorAll('#keys tbody tr')].map(tr => tr.cells[1].textContent)",
    )
    .await;
    assert_eq!(tags, json!(["", "speaker-7, model:v2", ""]));
    assert_eq!(usable_delete_controls(&client).await, Vec::<String>::new());
    let hidden = client
        .find(Locator::Css("button[data-delete=\"clip-1\"]"))
        .await
        .unwrap();
    assert!(hidden.click().await.is_err(), "a hidden delete was clicked");
    assert_eq!(status_of(&s, "asr", "clip-1").await, StatusCode::OK);
    let quiet = browser_log(&client).await;
    assert_eq!(quiet, Vec::new(), "the page logged");

    // A wrong admin token: the server's refusal shown, nothing enabled, nothing deleted.
    enter_admin_token(&client, "not-the-admin-token-000").await;
    let refusal = admin_status(&client, "refused").await;
    assert!(refusal.contains("wrong admin token"), "{refusal}");
    assert_eq!(usable_delete_controls(&client).await, Vec::<String>::new());
    // One kept from before (in the tab's storage) is checked on load, refused, forgotten.
    script(
        &client,
        "sessionStorage.setItem('hoard-admin-token', 'another-wrong-token-00')",
    )
    .await;
    client.refresh().await.unwrap();
    let refusal = admin_status(&client, "refused").await;
    assert!(refusal.contains("wrong admin token"), "{refusal}");
    let kept = script(
        &client,
        "return sessionStorage.getItem('hoard-admin-token')",
    )
    .await;
    assert_eq!(kept, Value::Null);
    for (namespace, key) in keys {
        assert_eq!(status_of(&s, namespace, key).await, StatusCode::OK, "{key}");
    }
    only_refusals_logged(&client).await;

    // The admin token, asked once: a key deleted from its row, then all that match.
    enter_admin_token(&client, support::TOKEN).await;
    admin_status(&client, "ok").await;
    let kept = script(
        &client,
        "return sessionStorage.getItem('hoard-admin-token')",
    )
    .await;
    assert_eq!(kept, support::TOKEN);
    list_keys(&client, "asr", "clip-*").await;
    let usable = usable_delete_controls(&client).await;
    assert_eq!(usable, ["keys-delete-all", "clip-1", "clip-2", "clip-3"]);
    // The page as an admin sees it: the listing with its delete buttons.
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-webdriver.png");
    let png = client.screenshot().await.unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "{} bytes",
        png.len()
    );
    std::fs::write(&shot, png).unwrap();
    println!("screenshot: {}", shot.display());

    // A delete the server refuses although the page had the token accepted (the server's
    // admin token changed since): the page forgets it, says why, deletes nothing.
    script(&client, "admin.token = 'an-admin-token-since-changed'").await;
    click(&client, "#keys-delete-all").await;
    click(&client, "#keys-confirm-yes").await;
    let refusal = admin_status(&client, "refused").await;
    assert!(refusal.contains("wrong admin token"), "{refusal}");
    assert_eq!(usable_delete_controls(&client).await, Vec::<String>::new());
    let kept = script(
        &client,
        "return sessionStorage.getItem('hoard-admin-token')",
    )
    .await;
    assert_eq!(kept, Value::Null);
    assert_eq!(listed(&client).await, ["clip-1", "clip-2", "clip-3"]);
    for key in ["clip-1", "clip-2", "clip-3"] {
        assert_eq!(status_of(&s, "asr", key).await, StatusCode::OK, "{key}");
    }
    only_refusals_logged(&client).await;
    enter_admin_token(&client, support::TOKEN).await;
    admin_status(&client, "ok").await;
    click(&client, "button[data-delete=\"clip-2\"]").await;
    let done = admin_status(&client, "deleted").await;
    assert_eq!(done, "deleted clip-2");
    assert_eq!(listed(&client).await, ["clip-1", "clip-3"]);
    assert_eq!(status_of(&s, "asr", "clip-2").await, StatusCode::NOT_FOUND);
    assert_eq!(status_of(&s, "asr", "clip-1").await, StatusCode::OK);

    click(&client, "#keys-delete-all").await;
    let asked = client
        .find(Locator::Css("#keys-confirm-text"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(asked, r#"delete 2 keys of "asr" matching "clip-*"?"#);
    let before = admin_text(&client).await;
    click(&client, "#keys-confirm-yes").await;
    let done = next_admin_text(&client, &before).await;
    assert_eq!(done, r#"deleted 2 keys of "asr" matching "clip-*""#);
    assert_eq!(listed(&client).await, Vec::<String>::new());
    for (namespace, key, expected) in [
        ("asr", "clip-1", StatusCode::NOT_FOUND),
        ("asr", "clip-3", StatusCode::NOT_FOUND),
        ("asr", "other-1", StatusCode::OK),
        ("asr*", "clip-1", StatusCode::OK),
        ("asr-old", "clip-9", StatusCode::OK),
        ("tags", "img-9", StatusCode::OK),
    ] {
        assert_eq!(
            status_of(&s, namespace, key).await,
            expected,
            "{namespace}:{key}"
        );
    }
    // A namespace with a glob character in its name: its own keys only.
    list_keys(&client, "asr*", "*").await;
    assert_eq!(listed(&client).await, ["clip-1"]);
    click(&client, "#keys-delete-all").await;
    let before = admin_text(&client).await;
    click(&client, "#keys-confirm-yes").await;
    let done = next_admin_text(&client, &before).await;
    assert_eq!(done, r#"deleted 1 key of "asr*" matching "*""#);
    assert_eq!(status_of(&s, "asr*", "clip-1").await, StatusCode::NOT_FOUND);
    for (namespace, key) in [("asr", "other-1"), ("asr-old", "clip-9"), ("tags", "img-9")] {
        assert_eq!(status_of(&s, namespace, key).await, StatusCode::OK, "{key}");
    }
    figures_agree(&client, &s).await;

    // Everything the page loaded came from its own origin; it logged nothing.
    let loaded = script(
        &client,
        "return [...performance.getEntriesByType('navigation'),
                 ...performance.getEntriesByType('resource')].map(e => e.name)",
    )
    .await;
    let loaded: Vec<String> = serde_json::from_value(loaded).unwrap();
    assert!(loaded.len() > 3, "{loaded:?}");
    for url in &loaded {
        assert!(
            url.starts_with(&format!("{}/", s.base)),
            "{url} left the origin"
        );
    }
    assert_eq!(browser_log(&client).await, Vec::new(), "the page logged");

    // The server stops while the page stays open: the page says so.
    drop(s);
    let status = client
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("#status[data-state=\"unreachable\"]"))
        .await
        .unwrap();
    assert_eq!(status.text().await.unwrap(), "server unreachable; retrying");
    // The only complaints now: the refused connections.
    for (source, _, message) in browser_log(&client).await {
        assert!(
            source == "network" && message.contains("ERR_CONNECTION_REFUSED"),
            "{message}"
        );
    }
    client.close().await.unwrap();
}
