//! The dashboard's datasets driven over WebDriver (see `ui_webdriver.rs`): the reindex
//! button is there only with an accepted admin token, and a click rebuilds the manifest
//! of a dataset whose folder changed, the page showing what `/datasets` then says.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use fantoccini::{Client, Locator};
use serde_json::Value;
use std::time::Duration;

mod support;
mod webdriver;
use webdriver::{admin_status, browser, browser_log, click, enter_admin_token, script, until};

/// The reindex buttons a user could use: shown and enabled.
async fn usable_reindex_buttons(client: &Client) -> Vec<String> {
    let found = script(
        client,
        "return [...document.querySelectorAll('[data-reindex]')]
           .filter(b => !b.disabled && b.checkVisibility()).map(b => b.dataset.reindex)",
    )
    .await;
    serde_json::from_value(found).unwrap()
}

/// What the card of dataset `id` shows: its version and its `data-total`.
async fn card(client: &Client, id: &str) -> (String, String) {
    let shown = script(
        client,
        &format!(
            "const card = document.querySelector('[data-dataset=\"{id}\"]');
             return card && [card.querySelector('h3 .muted').textContent,
                             card.querySelector('[data-total]').dataset.total]"
        ),
    )
    .await;
    serde_json::from_value(shown).unwrap()
}

/// The reindex status of dataset `id` once it is in `state` (read in the page: the card is
/// drawn again after a reindex, so an element found before may be gone).
async fn reindex_status(client: &Client, id: &str, state: &str) -> String {
    let css = format!("[data-reindex-status=\"{id}\"][data-state=\"{state}\"]");
    let find = format!(
        "const status = document.querySelector({});
         return status && status.textContent",
        serde_json::json!(css)
    );
    let text = until(client, &format!("the reindex status {state}"), &find).await;
    text.as_str().unwrap().to_owned()
}

/// `/datasets`' entry for `id`, from outside the page.
async fn listed(s: &support::Server, id: &str) -> Value {
    let (_, list) = s.get("/datasets").await;
    list["datasets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} is not in {list}"))
}

/// Without the admin token no reindex button can be used; with it, a file added on disk
/// and the button clicked, the card shows the new version and total, which `/datasets`
/// agrees with; a reindex the server refuses forgets the token and rebuilds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_reindexes_a_dataset_with_the_admin_token_only() {
    let (cache, dir) = support::embedded_cache();
    let data = hoard_testkit::temp_dir();
    let root = data.path().join("audio");
    for (name, frames) in [("a.wav", 8000), ("b.wav", 4000), ("c.wav", 2000)] {
        support::write_wav(&root.join("Actor_01").join(name), frames);
    }
    std::fs::write(
        root.join("Actor_01/actor_metadata.csv"),
        "filename,emotion\na.wav,happy\nb.wav,sad\nc.wav,happy\n",
    )
    .unwrap();
    let dataset = hoard_datasets::DatasetConfig {
        id: "speech".into(),
        path: root.clone(),
        options: hoard_datasets::BuildOptions::default(),
    };
    let sampling = Some(Duration::from_millis(100));
    let s = support::launch(cache, dir, vec![dataset], sampling, "").await;
    let before = listed(&s, "speech").await;
    assert_eq!(before["total"], 3, "{before}");

    let (_driver, client) = browser().await;
    client.goto(&format!("{}/ui", s.base)).await.unwrap();
    until(
        &client,
        "the dataset card",
        "return document.querySelector('[data-dataset=\"speech\"] [data-total=\"3\"]') !== null",
    )
    .await;
    assert_eq!(
        card(&client, "speech").await,
        (before["version"].as_str().unwrap().to_owned(), "3".into())
    );

    // Without the admin token, or with a wrong one, the button cannot be used.
    assert_eq!(usable_reindex_buttons(&client).await, Vec::<String>::new());
    let hidden = client
        .find(Locator::Css("button[data-reindex=\"speech\"]"))
        .await
        .unwrap();
    assert!(
        hidden.click().await.is_err(),
        "a hidden reindex was clicked"
    );
    enter_admin_token(&client, "not-the-admin-token-000").await;
    admin_status(&client, "refused").await;
    assert_eq!(usable_reindex_buttons(&client).await, Vec::<String>::new());
    assert_eq!(listed(&s, "speech").await["version"], before["version"]);

    // With it: a file added, the button clicked, the new figures shown.
    enter_admin_token(&client, support::TOKEN).await;
    admin_status(&client, "ok").await;
    assert_eq!(usable_reindex_buttons(&client).await, ["speech"]);
    support::write_wav(&root.join("Actor_01/d.wav"), 6000);
    click(&client, "button[data-reindex=\"speech\"]").await;
    let done = reindex_status(&client, "speech", "done").await;
    let after = listed(&s, "speech").await;
    assert_eq!(after["total"], 4, "{after}");
    let version = after["version"].as_str().unwrap().to_owned();
    assert_ne!(after["version"], before["version"]);
    assert!(
        done.starts_with(&format!("reindexed: version {version}, 4 files (")),
        "{done}"
    );
    until(
        &client,
        "the card's new total",
        "return document.querySelector('[data-dataset=\"speech\"] [data-total=\"4\"]') !== null",
    )
    .await;
    assert_eq!(card(&client, "speech").await, (version.clone(), "4".into()));
    assert_eq!(usable_reindex_buttons(&client).await, ["speech"]);

    // A reindex the server refuses (the admin token changed since it was accepted): the
    // page forgets the token, says why, and nothing is rebuilt.
    script(&client, "admin.token = 'an-admin-token-since-changed'").await;
    click(&client, "button[data-reindex=\"speech\"]").await;
    let failed = reindex_status(&client, "speech", "failed").await;
    assert!(failed.contains("wrong admin token"), "{failed}");
    admin_status(&client, "refused").await;
    assert_eq!(usable_reindex_buttons(&client).await, Vec::<String>::new());
    let kept = script(
        &client,
        "return sessionStorage.getItem('hoard-admin-token')",
    )
    .await;
    assert_eq!(kept, Value::Null);
    assert_eq!(listed(&s, "speech").await["version"], version.as_str());

    // The browser logged only the refused requests.
    for (source, _, message) in browser_log(&client).await {
        assert!(source == "network" && message.contains("401"), "{message}");
    }
    client.close().await.unwrap();
}
