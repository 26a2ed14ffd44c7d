//! What one instance counted since it started: lookups, hits and stores per namespace, and
//! the candidates each check turned down ([`SemanticCache::stats`]).
//!
//! A refusal is one candidate that cleared the similarity threshold and was turned down by
//! a guard, by feedback, or by the verifier: one lookup may refuse several candidates (and
//! still hit on the next one). A candidate below the threshold is no refusal: the search
//! simply found nothing close enough.
//!
//! Namespaces are callers' names, so the table is bounded: past [`MAX_TRACKED_NAMESPACES`]
//! namespaces the rest share the [`hoard::OTHER_NAMESPACES`] row, as the hoard cache's own
//! stats do.

use super::SemanticCache;
use crate::guard::Verdict;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, PoisonError, RwLock};

/// Namespaces with a row of their own; the rest share [`hoard::OTHER_NAMESPACES`].
pub const MAX_TRACKED_NAMESPACES: usize = 1024;

/// The checks that can turn a candidate down, in the order a lookup runs them.
pub const REFUSING: [Verdict; 8] = [
    Verdict::Feedback,
    Verdict::Numbers,
    Verdict::Dates,
    Verdict::Negation,
    Verdict::Entities,
    Verdict::Scope,
    Verdict::References,
    Verdict::Verifier,
];

impl Verdict {
    /// The check's name, as it is written in JSON (`negation`, `verifier`...).
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Numbers => "numbers",
            Verdict::Dates => "dates",
            Verdict::Negation => "negation",
            Verdict::Entities => "entities",
            Verdict::Scope => "scope",
            Verdict::References => "references",
            Verdict::Feedback => "feedback",
            Verdict::Verifier => "verifier",
        }
    }

    /// Where this check's count is in [`REFUSING`]; `None` for `Pass`.
    fn slot(self) -> Option<usize> {
        REFUSING.iter().position(|v| *v == self)
    }
}

/// Candidates turned down, by the check that turned them down.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Refusals {
    /// Feedback had judged the entry wrong for neighbours this far away.
    pub feedback: u64,
    /// The numbers differed.
    pub numbers: u64,
    /// The dates or times differed.
    pub dates: u64,
    /// One was negated, the other not.
    pub negation: u64,
    /// A named entity of one was missing from the other.
    pub entities: u64,
    /// The scope words differed.
    pub scope: u64,
    /// A query leaned on a conversation that was not the same.
    pub references: u64,
    /// The verifier judged that the two questions need different answers.
    pub verifier: u64,
}

impl Refusals {
    /// The count of `verdict`'s check (0 for `Pass`, which refuses nothing).
    pub fn get(&self, verdict: Verdict) -> u64 {
        match verdict {
            Verdict::Pass => 0,
            Verdict::Numbers => self.numbers,
            Verdict::Dates => self.dates,
            Verdict::Negation => self.negation,
            Verdict::Entities => self.entities,
            Verdict::Scope => self.scope,
            Verdict::References => self.references,
            Verdict::Feedback => self.feedback,
            Verdict::Verifier => self.verifier,
        }
    }

    fn get_mut(&mut self, verdict: Verdict) -> Option<&mut u64> {
        Some(match verdict {
            Verdict::Pass => return None,
            Verdict::Numbers => &mut self.numbers,
            Verdict::Dates => &mut self.dates,
            Verdict::Negation => &mut self.negation,
            Verdict::Entities => &mut self.entities,
            Verdict::Scope => &mut self.scope,
            Verdict::References => &mut self.references,
            Verdict::Feedback => &mut self.feedback,
            Verdict::Verifier => &mut self.verifier,
        })
    }

    /// Every check with its count, in [`REFUSING`] order.
    pub fn by_check(&self) -> impl Iterator<Item = (Verdict, u64)> + '_ {
        REFUSING.iter().map(|v| (*v, self.get(*v)))
    }

    /// Refusals of every check together.
    pub fn total(&self) -> u64 {
        self.by_check().map(|(_, n)| n).sum()
    }

    /// Adds `other`'s counts to these.
    pub fn accumulate(&mut self, other: &Refusals) {
        for (verdict, n) in other.by_check() {
            if let Some(count) = self.get_mut(verdict) {
                *count += n;
            }
        }
    }
}

/// One namespace's counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NamespaceStats {
    /// Entries this instance holds in memory now.
    pub entries: u64,
    /// Lookups answered (a lookup that failed, say with the embedder down, is not counted).
    pub lookups: u64,
    /// Lookups that found an answer.
    pub hits: u64,
    /// Lookups that found none (`lookups - hits`).
    pub misses: u64,
    /// Answers stored.
    pub stores: u64,
    /// Candidates turned down, by check.
    pub refusals: Refusals,
}

impl NamespaceStats {
    /// Adds `other`'s counts to these.
    pub fn accumulate(&mut self, other: &NamespaceStats) {
        self.entries += other.entries;
        self.lookups += other.lookups;
        self.hits += other.hits;
        self.misses += other.misses;
        self.stores += other.stores;
        self.refusals.accumulate(&other.refusals);
    }
}

/// What [`SemanticCache::stats`] answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SemanticStats {
    /// Sums over every namespace.
    pub totals: NamespaceStats,
    /// Every namespace this instance looked up, stored into or holds entries of.
    pub namespaces: BTreeMap<String, NamespaceStats>,
}

/// One namespace's counters.
#[derive(Default)]
struct Counters {
    lookups: AtomicU64,
    hits: AtomicU64,
    stores: AtomicU64,
    refusals: [AtomicU64; REFUSING.len()],
}

/// The counters of every namespace.
#[derive(Default)]
pub(super) struct Counts {
    namespaces: RwLock<HashMap<String, Arc<Counters>>>,
}

impl Counts {
    fn counters(&self, namespace: &str) -> Arc<Counters> {
        if let Some(counters) = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(namespace)
        {
            return counters.clone();
        }
        // Counters are plain atomics: a panic elsewhere leaves them usable.
        let mut namespaces = self
            .namespaces
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let name =
            if namespaces.len() >= MAX_TRACKED_NAMESPACES && !namespaces.contains_key(namespace) {
                hoard::OTHER_NAMESPACES
            } else {
                namespace
            };
        namespaces.entry(name.to_owned()).or_default().clone()
    }

    /// One lookup of `namespace` answered, a hit or not, with the checks that turned its
    /// candidates down.
    pub(super) fn lookup(&self, namespace: &str, hit: bool, refused: &[Verdict]) {
        let counters = self.counters(namespace);
        counters.lookups.fetch_add(1, Relaxed);
        if hit {
            counters.hits.fetch_add(1, Relaxed);
        }
        for slot in refused.iter().filter_map(|v| v.slot()) {
            counters.refusals[slot].fetch_add(1, Relaxed);
        }
    }

    /// `n` answers stored in `namespace`.
    pub(super) fn stored(&self, namespace: &str, n: usize) {
        self.counters(namespace)
            .stores
            .fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Relaxed);
    }

    fn snapshot(&self) -> BTreeMap<String, NamespaceStats> {
        let namespaces = self
            .namespaces
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        namespaces
            .iter()
            .map(|(name, c)| {
                let lookups = c.lookups.load(Relaxed);
                // Read after the lookups: a hit counted in between cannot exceed them.
                let hits = c.hits.load(Relaxed).min(lookups);
                let mut refusals = Refusals::default();
                for (verdict, count) in REFUSING.iter().zip(&c.refusals) {
                    if let Some(slot) = refusals.get_mut(*verdict) {
                        *slot = count.load(Relaxed);
                    }
                }
                let stats = NamespaceStats {
                    entries: 0,
                    lookups,
                    hits,
                    misses: lookups - hits,
                    stores: c.stores.load(Relaxed),
                    refusals,
                };
                (name.clone(), stats)
            })
            .collect()
    }
}

impl SemanticCache {
    /// What this instance counted since it started, per namespace, with the entries it
    /// holds in memory now.
    pub fn stats(&self) -> SemanticStats {
        let mut namespaces = self.counts.snapshot();
        let mut untracked = 0u64;
        for (namespace, entries) in self.spaces.sizes() {
            let entries = u64::try_from(entries).unwrap_or(u64::MAX);
            if let Some(row) = namespaces.get_mut(&namespace) {
                row.entries = entries;
            } else if namespaces.len() < MAX_TRACKED_NAMESPACES {
                // Held but never counted (loaded by a lookup that failed, say).
                let row = NamespaceStats {
                    entries,
                    ..NamespaceStats::default()
                };
                namespaces.insert(namespace, row);
            } else {
                untracked += entries;
            }
        }
        if untracked > 0 {
            namespaces
                .entry(hoard::OTHER_NAMESPACES.to_owned())
                .or_default()
                .entries += untracked;
        }
        let mut totals = NamespaceStats::default();
        for row in namespaces.values() {
            totals.accumulate(row);
        }
        SemanticStats { totals, namespaces }
    }
}
