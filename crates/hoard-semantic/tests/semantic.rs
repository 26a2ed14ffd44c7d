//! The semantic cache with the real all-MiniLM-L6-v2 weights (fetched by scripts/test into
//! `$HOARD_MINILM_DIR`): paraphrases hit, traps miss, partitions never leak, entries expire,
//! survive a restart and are shared through Redis.

#![cfg(feature = "local")]
// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

use hoard_semantic::embed::bert::{BertEmbedder, BertOptions};
use hoard_semantic::{Embedder, Query, SemanticCache, SemanticConfig, SemanticError, Store};
use serde_json::json;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

fn model() -> Arc<dyn Embedder> {
    static MODEL: OnceLock<Arc<BertEmbedder>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir = std::env::var("HOARD_MINILM_DIR").expect(
                "HOARD_MINILM_DIR is not set: scripts/test fetches all-MiniLM-L6-v2 and sets it",
            );
            Arc::new(BertEmbedder::from_dir(&dir, BertOptions::default()).unwrap())
        })
        .clone()
}

fn semantic(cache: hoard::Cache) -> SemanticCache {
    SemanticCache::new(cache, model(), SemanticConfig::default()).unwrap()
}

#[tokio::test]
async fn a_paraphrase_hits_and_an_unrelated_question_misses() {
    let s = semantic(hoard::Cache::in_memory());
    let answer = json!({"steps": ["Settings", "Billing", "Cancel"]});
    s.store(
        "faq",
        "How do I cancel my subscription?",
        answer.clone(),
        &Store::default(),
    )
    .await
    .unwrap();
    let hit = s
        .lookup(
            "faq",
            &Query::new("What's the way to cancel my subscription?"),
        )
        .await
        .unwrap()
        .expect("a paraphrase hits");
    assert_eq!(hit.value, answer);
    assert_eq!(hit.matched_query, "How do I cancel my subscription?");
    assert!(
        hit.similarity >= 0.85 && hit.similarity <= 1.0001,
        "{}",
        hit.similarity
    );
    let exact = s
        .lookup("faq", &Query::new("How do I cancel my subscription?"))
        .await
        .unwrap()
        .unwrap();
    assert!(exact.similarity > 0.999);
    assert!(s
        .lookup("faq", &Query::new("What is the boiling point of water?"))
        .await
        .unwrap()
        .is_none());
    assert!(
        s.lookup("other", &Query::new("How do I cancel my subscription?"))
            .await
            .unwrap()
            .is_none(),
        "namespaces are separate"
    );
}

#[tokio::test]
async fn each_kind_of_trap_misses() {
    let s = semantic(hoard::Cache::in_memory());
    // (stored, asked, contexts they were asked in)
    type Trap = (
        &'static str,
        &'static str,
        Option<(&'static str, &'static str)>,
    );
    let traps: Vec<Trap> = vec![
        (
            "Cancel my subscription",
            "Don't cancel my subscription",
            None,
        ),
        ("Flights on May 3", "Flights on May 4", None),
        ("Weather tomorrow in Paris", "Weather today in Paris", None),
        ("Who founded Apple?", "Who founded Microsoft?", None),
        ("Delete all my photos", "Delete some of my photos", None),
        (
            "How old is he?",
            "How old is he?",
            Some(("Tell me about Barack Obama.", "Tell me about Joe Biden.")),
        ),
    ];
    for (i, (stored, asked, contexts)) in traps.into_iter().enumerate() {
        let namespace = format!("trap{i}");
        let options = Store {
            context: contexts.map(|c| c.0.to_owned()),
            ..Store::default()
        };
        s.store(&namespace, stored, json!(stored), &options)
            .await
            .unwrap();
        let mut query = Query::new(asked);
        if let Some((_, asked_in)) = contexts {
            query = query.context(asked_in);
        }
        let outcome = s.lookup_detailed(&namespace, &query).await.unwrap();
        assert!(outcome.hit.is_none(), "{stored:?} answered {asked:?}");
        // The same question in the same context is a hit.
        let mut same = Query::new(stored);
        if let Some((asked_in, _)) = contexts {
            same = same.context(asked_in);
        }
        assert!(
            s.lookup(&namespace, &same).await.unwrap().is_some(),
            "{stored:?}"
        );
    }
}

#[tokio::test]
async fn partitions_never_leak_under_random_traffic() {
    let s = semantic(hoard::Cache::in_memory());
    let questions = [
        "What is my account balance?",
        "Show my recent orders",
        "What is my shipping address?",
    ];
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut stored: std::collections::HashSet<(u64, usize)> = Default::default();
    for _ in 0..60 {
        let user = next(5);
        let question = next(3) as usize;
        let query = Query::new(questions[question]).filter("user_id", user.to_string());
        if next(2) == 0 {
            let options = Store {
                filters: query.filters.clone(),
                ..Store::default()
            };
            s.store(
                "account",
                questions[question],
                json!({"user": user, "q": question}),
                &options,
            )
            .await
            .unwrap();
            stored.insert((user, question));
        } else if let Some(hit) = s.lookup("account", &query).await.unwrap() {
            assert_eq!(
                hit.value["user"],
                json!(user),
                "another user's answer leaked"
            );
            assert!(stored.contains(&(user, hit.value["q"].as_u64().unwrap() as usize)));
        }
    }
    // Without filters, nothing stored with filters is visible.
    for question in questions {
        assert!(s
            .lookup("account", &Query::new(question))
            .await
            .unwrap()
            .is_none());
    }
    // Delete one user's entries by filter; the others stay.
    let before = s.len("account");
    let gone = s
        .delete_where("account", &[("user_id".to_owned(), "1".to_owned())].into())
        .await
        .unwrap();
    assert_eq!(s.len("account"), before - gone);
    assert!(s
        .lookup("account", &Query::new(questions[0]).filter("user_id", "1"))
        .await
        .unwrap()
        .is_none());
}

#[tokio::test]
async fn entries_expire_and_a_hit_does_not_extend_them() {
    // The semantic cache reads the time off its hoard cache's clock: moved by hand here.
    let clock = hoard::ManualClock::new();
    let s = semantic(
        hoard::Cache::builder()
            .clock(clock.clock())
            .build()
            .unwrap(),
    );
    let options = Store {
        ttl: Some(Duration::from_millis(1200)),
        ..Store::default()
    };
    s.store(
        "news",
        "What happened in the election?",
        json!("results"),
        &options,
    )
    .await
    .unwrap();
    let query = Query::new("What happened in the election?");
    clock.advance(Duration::from_millis(700));
    assert!(s.lookup("news", &query).await.unwrap().is_some());
    clock.advance(Duration::from_millis(700));
    assert!(
        s.lookup("news", &query).await.unwrap().is_none(),
        "expired 1.2 s after storing, although hit at 0.7 s"
    );
}

#[tokio::test]
async fn a_restarted_instance_serves_what_the_last_one_stored() {
    let dir = hoard_testkit::temp_dir();
    {
        let cache = hoard::Cache::open(dir.path()).unwrap();
        let s = semantic(cache.clone());
        s.store(
            "faq",
            "How do I reset my password?",
            json!("use the link"),
            &Store::default(),
        )
        .await
        .unwrap();
        cache.flush().await.unwrap();
    }
    let s = semantic(hoard::Cache::open(dir.path()).unwrap());
    let hit = s
        .lookup("faq", &Query::new("How can I reset my password?"))
        .await
        .unwrap()
        .expect("stored before the restart");
    assert_eq!(hit.value, json!("use the link"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_one_redis_share_entries_and_deletes() {
    let redis = hoard_testkit::RedisServer::start();
    let open = || {
        let cache = hoard::Cache::builder()
            .redis(hoard::RedisConfig::standalone(redis.url()))
            .build()
            .unwrap();
        semantic(cache)
    };
    let (a, b) = (open(), open());
    let query = Query::new("What are your opening hours?");
    assert!(b.lookup("shop", &query).await.unwrap().is_none());
    a.store(
        "shop",
        "What are your opening hours?",
        json!("9 to 5"),
        &Store::default(),
    )
    .await
    .unwrap();
    let seen = hoard_testkit::wait_until(Duration::from_secs(5), || {
        futures_lite(b.lookup("shop", &query)).is_some_and(|hit| hit.value == json!("9 to 5"))
    });
    assert!(seen, "b serves what a stored");
    a.clear("shop").await.unwrap();
    let gone = hoard_testkit::wait_until(Duration::from_secs(5), || {
        futures_lite(b.lookup("shop", &query)).is_none()
    });
    assert!(gone, "a's clear reaches b");
}

/// Runs a lookup to completion from a synchronous polling loop.
fn futures_lite(
    future: impl std::future::Future<Output = Result<Option<hoard_semantic::Hit>, SemanticError>>,
) -> Option<hoard_semantic::Hit> {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future)).unwrap()
}

#[tokio::test]
async fn thresholds_outside_zero_to_one_are_refused() {
    let s = semantic(hoard::Cache::in_memory());
    for bad in [1.5, -0.2, f32::NAN] {
        let error = s
            .lookup("faq", &Query::new("anything").threshold(bad))
            .await
            .unwrap_err();
        assert!(
            matches!(error, SemanticError::InvalidThreshold(_)),
            "{error}"
        );
    }
    let config = SemanticConfig {
        threshold: 80.0,
        ..SemanticConfig::default()
    };
    assert!(SemanticCache::new(hoard::Cache::in_memory(), model(), config).is_err());
}

/// The trap pairs kept as a fixture (negation, entity, number, date, scope, context, and
/// paraphrases for contrast): with default settings, at most 2% wrong hits.
#[tokio::test]
async fn default_settings_keep_wrong_hits_on_the_trap_pairs_under_two_percent() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/traps.jsonl");
    let pairs = hoard_semantic::eval::read_pairs(&path).unwrap();
    let config = SemanticConfig::default();
    let scored = hoard_semantic::eval::score(
        &pairs,
        model().as_ref(),
        config.guards,
        config.context_threshold,
        None,
        64,
        &|_, _| {},
    )
    .await
    .unwrap();
    let guarded = hoard_semantic::eval::row(&scored, config.threshold, true);
    let plain = hoard_semantic::eval::row(&scored, config.threshold, false);
    assert!(guarded.wrong_hit_rate <= 0.02, "{guarded:?}");
    assert!(
        plain.wrong_hit_rate > guarded.wrong_hit_rate,
        "the guards change something: {plain:?}"
    );
    assert!(guarded.recall >= 0.4, "paraphrases still hit: {guarded:?}");
}

/// `#[cached(semantic = true)]` over the real model: a paraphrase is answered from the
/// cache, a trap and another partition are computed, errors are not stored.
mod macro_on_functions {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    fn shop() -> &'static Arc<SemanticCache> {
        static SHOP: OnceLock<Arc<SemanticCache>> = OnceLock::new();
        SHOP.get_or_init(|| Arc::new(semantic(hoard::Cache::in_memory())))
    }

    static CALLS: AtomicUsize = AtomicUsize::new(0);

    #[hoard::cached(semantic = true, cache = shop(), namespace = "shop", filter(user_id), ttl = "1h")]
    async fn answer(query: &str, user_id: u32, language: &str) -> String {
        CALLS.fetch_add(1, SeqCst);
        format!(
            "answer {} to {query:?} in {language} for {user_id}",
            CALLS.load(SeqCst)
        )
    }

    #[hoard::cached(semantic = true, cache = shop(), namespace = "shop", threshold = 0.99)]
    fn strict(query: String) -> Result<usize, String> {
        CALLS.fetch_add(1, SeqCst);
        if query.contains("fail") {
            Err(format!("cannot answer {query}"))
        } else {
            Ok(query.len())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn calls_are_answered_by_meaning() {
        let calls = || CALLS.load(SeqCst);
        let first = answer("How do I cancel my subscription?", 7, "en").await;
        let after_first = calls();
        let paraphrase = answer("What's the way to cancel my subscription?", 7, "en").await;
        assert_eq!(
            paraphrase, first,
            "a paraphrase is served the stored answer"
        );
        assert_eq!(calls(), after_first, "and the body did not run");

        let negated = answer("How do I not cancel my subscription?", 7, "en");
        assert_ne!(negated.await, first);
        assert_eq!(calls(), after_first + 1, "a different question computes");
        let other_user = answer("How do I cancel my subscription?", 8, "en").await;
        assert_ne!(other_user, first, "filter(user_id) partitions");
        let other_language = answer("How do I cancel my subscription?", 7, "de").await;
        assert_ne!(other_language, first, "other arguments must be equal");
        assert_eq!(calls(), after_first + 3);

        // Stored under the filter `user_id`, so it can be deleted by it.
        let user = [("user_id".to_owned(), "8".to_owned())].into();
        assert!(shop().delete_where("shop", &user).await.unwrap() >= 1);
        answer("How do I cancel my subscription?", 8, "en").await;
        assert_eq!(calls(), after_first + 4, "deleted: computed again");

        // A sync function, off the async runtime's threads, with its own threshold.
        let strict_calls = tokio::task::spawn_blocking(move || {
            let before = calls();
            assert_eq!(strict("What is the capital of France?".into()), Ok(30));
            assert_eq!(strict("What is the capital of France?".into()), Ok(30));
            let repeat = calls() - before;
            // 0.99 is above what this paraphrase scores: computed.
            assert_eq!(
                strict("Which city is the capital of France?".into()),
                Ok(36)
            );
            let paraphrase = calls() - before - repeat;
            assert!(strict("please fail now".into()).is_err());
            assert!(strict("please fail now".into()).is_err());
            (repeat, paraphrase, calls() - before)
        })
        .await
        .unwrap();
        assert_eq!(
            strict_calls,
            (1, 1, 4),
            "(repeat, paraphrase, total): errors are not stored"
        );
    }
}

#[tokio::test]
async fn storing_the_same_question_again_replaces_its_answer() {
    let cache = hoard::Cache::in_memory();
    let s = semantic(cache.clone());
    let question = "Which plan includes priority support?";
    let mut ids = Vec::new();
    for version in ["v1", "v2", "v3"] {
        ids.push(
            s.store("plans", question, json!(version), &Store::default())
                .await
                .unwrap(),
        );
    }
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one entry: {ids:?}");
    assert_eq!(s.len("plans"), 1);
    let hit = s.lookup("plans", &Query::new(question)).await.unwrap();
    assert_eq!(hit.unwrap().value, json!("v3"));
    // The same words under other filters or in another conversation are another entry.
    let filtered = Store {
        filters: [("user_id".to_owned(), "7".to_owned())].into(),
        ..Store::default()
    };
    s.store("plans", question, json!("theirs"), &filtered)
        .await
        .unwrap();
    let in_context = Store {
        context: Some("We talked about the enterprise plan.".into()),
        ..Store::default()
    };
    s.store("plans", question, json!("enterprise"), &in_context)
        .await
        .unwrap();
    assert_eq!(s.len("plans"), 3);
    // A second instance over the same storage sees the replaced answer too.
    let other = semantic(cache).lookup("plans", &Query::new(question)).await;
    let other = other.unwrap();
    assert_eq!(other.unwrap().value, json!("v3"));
}

#[tokio::test]
async fn after_the_whole_cache_is_cleared_a_fresh_store_is_found_at_once() {
    let cache = hoard::Cache::in_memory();
    let s = semantic(cache.clone());
    s.store(
        "faq",
        "How do I reset my password?",
        json!("old"),
        &Store::default(),
    )
    .await
    .unwrap();
    assert!(s
        .lookup("faq", &Query::new("How do I reset my password?"))
        .await
        .unwrap()
        .is_some());
    cache.clear_all().await.unwrap();
    s.store(
        "faq",
        "How can I reset my password?",
        json!("new"),
        &Store::default(),
    )
    .await
    .unwrap();
    // The nearest entry in memory is the cleared one; it must not hide the fresh one.
    let hit = s
        .lookup("faq", &Query::new("How do I reset my password?"))
        .await
        .unwrap()
        .expect("the fresh entry is served");
    assert_eq!(hit.value, json!("new"));
    assert_eq!(s.len("faq"), 1, "the cleared entry is forgotten");
}

#[tokio::test]
async fn an_entry_judged_wrong_stops_serving_that_kind_of_neighbour() {
    let cache = hoard::Cache::in_memory();
    // A low threshold and no guards: the trap below is served at first, as an unguarded
    // cache would serve it, and only feedback stops it.
    let config = SemanticConfig {
        threshold: 0.5,
        guards: hoard_semantic::Guards::none(),
        ..SemanticConfig::default()
    };
    let open = || SemanticCache::new(cache.clone(), model(), config.clone()).unwrap();
    let (a, b) = (open(), open());
    let stored = "How do I upload a file to the shared drive?";
    let id = a
        .store("files", stored, json!("drag it in"), &Store::default())
        .await
        .unwrap();
    let trap = Query::new("How do I download a file from the shared drive?");
    let served = a
        .lookup("files", &trap)
        .await
        .unwrap()
        .expect("served at first");
    assert_eq!(served.id, id);
    assert!(b.lookup("files", &trap).await.unwrap().is_some());

    let judged = a.feedback("files", id, false, None).await.unwrap().unwrap();
    assert_eq!((judged.confirmed, judged.refuted), (0, 1));
    let bar = judged.min_similarity.unwrap();
    assert!(bar > served.similarity, "{bar} > {}", served.similarity);

    for (who, s) in [("the judging instance", &a), ("another instance", &b)] {
        let outcome = s.lookup_detailed("files", &trap).await.unwrap();
        assert!(outcome.hit.is_none(), "{who} still serves the trap");
        assert_eq!(
            outcome.near_miss.unwrap().verdict,
            hoard_semantic::Verdict::Feedback,
            "{who}"
        );
        let same = s.lookup("files", &Query::new(stored)).await.unwrap();
        assert_eq!(same.map(|h| h.id), Some(id), "{who}: the question itself");
    }
    // A neighbour scoring at least the bar is still served.
    let closer = a
        .lookup("files", &Query::new(stored).threshold(bar))
        .await
        .unwrap();
    assert!(closer.is_some());

    // Judged right: counted, the bar unchanged.
    let right = a
        .feedback("files", id, true, Some(0.99))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((right.confirmed, right.refuted), (1, 1));
    assert_eq!(right.min_similarity, Some(bar));
    // Feedback needs to know which hit it means, and an entry that exists.
    let fresh = open();
    assert!(matches!(
        fresh.feedback("files", id, false, None).await,
        Err(SemanticError::Config(_))
    ));
    assert!(matches!(
        fresh.feedback("files", id, false, Some(1.5)).await,
        Err(SemanticError::InvalidThreshold(_))
    ));
    assert_eq!(
        fresh
            .feedback("files", 12345, false, Some(0.9))
            .await
            .unwrap(),
        None
    );
}

/// Turns a question does not lean on do not keep it from a hit: a standalone question
/// stored in one conversation is served in another, while a follow-up that leans on its
/// conversation ("how do I cancel it?", "can I change the date?") is served only in the
/// same one.
#[tokio::test]
async fn a_standalone_question_is_served_in_any_conversation_and_a_follow_up_only_in_its_own() {
    let s = semantic(hoard::Cache::in_memory());
    let stored_in = |context: &str| Store {
        context: Some(context.to_owned()),
        ..Store::default()
    };
    let weather = "user: Is it going to rain today?\nassistant: I can't check the weather, sorry.";
    let gym = "user: I have a gym membership with you.\nassistant: Sure, I can help with that.";
    let flight = "user: I have a flight booking to Oslo.\nassistant: Got it.";
    s.store(
        "chat",
        "Do you have vegan options?",
        json!("yes"),
        &stored_in(weather),
    )
    .await
    .unwrap();
    for asked_in in [None, Some(gym)] {
        let mut query = Query::new("Do you have vegan options?");
        if let Some(context) = asked_in {
            query = query.context(context);
        }
        let hit = s.lookup("chat", &query).await.unwrap();
        assert_eq!(
            hit.map(|h| h.value),
            Some(json!("yes")),
            "asked in {asked_in:?}"
        );
    }
    for follow_up in ["How do I cancel it?", "Can I change the date?"] {
        s.store(
            "chat",
            follow_up,
            json!(format!("gym: {follow_up}")),
            &stored_in(gym),
        )
        .await
        .unwrap();
        let same = s
            .lookup("chat", &Query::new(follow_up).context(gym))
            .await
            .unwrap();
        assert!(same.is_some(), "{follow_up} in its own conversation");
        let other = s
            .lookup_detailed("chat", &Query::new(follow_up).context(flight))
            .await
            .unwrap();
        assert!(
            other.hit.is_none(),
            "{follow_up} served in another conversation"
        );
        assert_eq!(
            other.near_miss.map(|n| n.verdict),
            Some(hoard_semantic::Verdict::References)
        );
    }
}
