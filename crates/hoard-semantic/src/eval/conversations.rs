//! Evaluation over labelled pairs of chats, through the cache itself: for each pair, chat
//! `a` is stored (its last user message as the question, the turns before as context) in
//! a namespace of its own, and chat `b` is looked up there. A hit on a pair labelled
//! `same: false` is a wrong hit; a hit on `same: true` a repeat served. Figures are per
//! category, with the lookups' latency.

use crate::cache::{split_messages, Message, Query, SemanticCache, Store};
use crate::SemanticError;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// One labelled pair of chats.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ConversationPair {
    /// The stored chat.
    pub a: Vec<Message>,
    /// The asked chat.
    pub b: Vec<Message>,
    /// Whether the answer cached for `a` serves `b`.
    pub same: bool,
    /// What kind of pair (`detail`, `intent`, `reworded`, ...), for per-kind figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
}

/// Reads JSON Lines of chat pairs (gzip-compressed if the name ends in `.gz`); a malformed
/// line is an error naming its line number.
pub fn read_conversations(path: &Path) -> Result<Vec<ConversationPair>, SemanticError> {
    super::read_jsonl(path)
}

/// What the lookup of one pair's `b` found.
#[derive(Debug, Clone, PartialEq)]
pub struct Looked {
    /// Whether `a`'s answer was served.
    pub served: bool,
    /// The check that refused the best candidate, when one did (`threshold` when only the
    /// similarity was too low, `None` on a hit or when nothing was found).
    pub refused_by: Option<String>,
    /// How long the lookup took (embedding included).
    pub took: Duration,
}

/// Stores each pair's `a` and looks up its `b`, each pair in its own namespace of `cache`
/// (`{prefix}{index}`); `progress(done, total)` after each.
pub async fn run(
    cache: &SemanticCache,
    pairs: &[ConversationPair],
    prefix: &str,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Looked>, SemanticError> {
    let mut out = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let namespace = format!("{prefix}{i}");
        let (question, context) = split_messages(&pair.a)?;
        let options = Store {
            context,
            ..Store::default()
        };
        cache
            .store(
                &namespace,
                &question,
                serde_json::json!({ "pair": i }),
                &options,
            )
            .await?;
        let query = Query::from_messages(&pair.b)?;
        let began = Instant::now();
        let outcome = cache.lookup_detailed(&namespace, &query).await?;
        let took = began.elapsed();
        let refused_by = match (&outcome.hit, &outcome.near_miss) {
            (None, Some(near)) => Some(
                serde_json::to_value(near.verdict)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .map_or_else(
                        || format!("{:?}", near.verdict),
                        |v| {
                            if v == "pass" {
                                "threshold".to_owned()
                            } else {
                                v
                            }
                        },
                    ),
            ),
            _ => None,
        };
        out.push(Looked {
            served: outcome.hit.is_some(),
            refused_by,
            took,
        });
        progress(i + 1, pairs.len());
    }
    Ok(out)
}

/// The figures of one category (or of all, `category: "all"`).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CategoryRow {
    /// The category.
    pub category: String,
    /// Pairs labelled `same: false`.
    pub traps: u64,
    /// Traps answered with `a`'s answer.
    pub wrong_hits: u64,
    /// `wrong_hits / traps` (0 without traps).
    pub wrong_hit_rate: f64,
    /// Pairs labelled `same: true`.
    pub repeats: u64,
    /// Repeats answered with `a`'s answer.
    pub served: u64,
    /// `served / repeats` (0 without repeats).
    pub served_rate: f64,
    /// Median lookup time, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile lookup time, milliseconds.
    pub p99_ms: f64,
    /// How often each check refused the best candidate.
    pub refused_by: BTreeMap<String, u64>,
}

/// Per category (in name order), then `all`.
pub fn table(pairs: &[ConversationPair], looked: &[Looked]) -> Vec<CategoryRow> {
    let mut by: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, pair) in pairs.iter().enumerate().take(looked.len()) {
        let category = pair.category.clone().unwrap_or_else(|| "(none)".into());
        by.entry(category).or_default().push(i);
    }
    let all: Vec<usize> = (0..looked.len().min(pairs.len())).collect();
    by.into_iter()
        .chain(std::iter::once(("all".to_owned(), all)))
        .map(|(category, rows)| row(category, &rows, pairs, looked))
        .collect()
}

fn row(
    category: String,
    rows: &[usize],
    pairs: &[ConversationPair],
    looked: &[Looked],
) -> CategoryRow {
    let mut out = CategoryRow {
        category,
        ..CategoryRow::default()
    };
    let mut times: Vec<f64> = Vec::with_capacity(rows.len());
    for &i in rows {
        let (pair, looked) = (&pairs[i], &looked[i]);
        if pair.same {
            out.repeats += 1;
            out.served += u64::from(looked.served);
        } else {
            out.traps += 1;
            out.wrong_hits += u64::from(looked.served);
        }
        if let Some(check) = &looked.refused_by {
            *out.refused_by.entry(check.clone()).or_default() += 1;
        }
        times.push(looked.took.as_secs_f64() * 1000.0);
    }
    let rate = |n: u64, of: u64| if of == 0 { 0.0 } else { n as f64 / of as f64 };
    out.wrong_hit_rate = rate(out.wrong_hits, out.traps);
    out.served_rate = rate(out.served, out.repeats);
    times.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        if times.is_empty() {
            0.0
        } else {
            times[((times.len() - 1) as f64 * q).round() as usize]
        }
    };
    out.p50_ms = quantile(0.5);
    out.p99_ms = quantile(0.99);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(same: bool, category: &str) -> ConversationPair {
        ConversationPair {
            a: vec![Message::new("user", "a")],
            b: vec![Message::new("user", "b")],
            same,
            category: Some(category.into()),
        }
    }

    #[test]
    fn the_table_counts_wrong_hits_on_traps_and_served_repeats() {
        let pairs = [
            pair(false, "detail"),
            pair(false, "detail"),
            pair(true, "reworded"),
            pair(true, "reworded"),
        ];
        let looked = |served, ms| Looked {
            served,
            refused_by: (!served).then(|| "numbers".to_owned()),
            took: Duration::from_millis(ms),
        };
        let rows = table(
            &pairs,
            &[
                looked(true, 10),
                looked(false, 20),
                looked(true, 30),
                looked(false, 40),
            ],
        );
        let names: Vec<&str> = rows.iter().map(|r| r.category.as_str()).collect();
        assert_eq!(names, ["detail", "reworded", "all"]);
        assert_eq!(
            (rows[0].traps, rows[0].wrong_hits, rows[0].wrong_hit_rate),
            (2, 1, 0.5)
        );
        assert_eq!(
            (rows[1].repeats, rows[1].served, rows[1].served_rate),
            (2, 1, 0.5)
        );
        assert_eq!(rows[2].refused_by["numbers"], 2);
        assert_eq!((rows[2].p50_ms, rows[2].p99_ms), (30.0, 40.0));
    }
}
