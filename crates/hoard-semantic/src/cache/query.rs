//! What a caller asks: the question to look up, and how to store an answer.

use std::collections::BTreeMap;
use std::time::Duration;

/// What to look up.
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The question.
    pub text: String,
    /// Overrides the configured threshold for this lookup.
    pub threshold: Option<f32>,
    /// Attribute filters (`user_id`): a hard partition, only entries stored with exactly
    /// these filters are searched.
    pub filters: BTreeMap<String, String>,
    /// The conversation so far, for follow-up questions ("how old is he?").
    pub context: Option<String>,
}

impl Query {
    /// A query with no filters and no context.
    pub fn new(text: impl Into<String>) -> Query {
        Query {
            text: text.into(),
            ..Query::default()
        }
    }

    /// Adds a filter.
    pub fn filter(mut self, name: impl Into<String>, value: impl Into<String>) -> Query {
        self.filters.insert(name.into(), value.into());
        self
    }

    /// Sets the conversation context.
    pub fn context(mut self, context: impl Into<String>) -> Query {
        self.context = Some(context.into());
        self
    }

    /// Sets the threshold of this lookup.
    pub fn threshold(mut self, threshold: f32) -> Query {
        self.threshold = Some(threshold);
        self
    }
}

/// How to store.
#[derive(Debug, Clone, Default)]
pub struct Store {
    /// Lifetime; the configured `ttl` if none.
    pub ttl: Option<Duration>,
    /// Attribute filters: the partition the entry lives in.
    pub filters: BTreeMap<String, String>,
    /// The conversation the question was asked in.
    pub context: Option<String>,
}
