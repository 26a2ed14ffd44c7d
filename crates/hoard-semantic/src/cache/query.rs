//! What a caller asks: the question to look up, and how to store an answer; a chat's
//! messages become the question (its last user message) and its context (the turns before).

use crate::SemanticError;
use std::collections::BTreeMap;
use std::time::Duration;

/// One turn of a chat, as chat APIs send them: `{"role": "user", "content": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Message {
    /// `user`, `assistant`, `system` (any text: only `user` is treated apart).
    pub role: String,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A message of `role`.
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Message {
        Message {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// A chat split as the cache reads it: the last user message is the question, every turn
/// before it the context (`role: content` lines; `None` when there are none). Turns after
/// the last user message (an assistant's answer already given) are not part of either.
pub fn split_messages(messages: &[Message]) -> Result<(String, Option<String>), SemanticError> {
    let last = messages
        .iter()
        .rposition(|m| m.role == "user")
        .ok_or_else(|| {
            SemanticError::Config("the messages hold no user message to look up".into())
        })?;
    let question = messages[last].content.trim();
    if question.is_empty() {
        return Err(SemanticError::Config(
            "the last user message is empty".into(),
        ));
    }
    let context: Vec<String> = messages[..last]
        .iter()
        .map(|m| format!("{}: {}", m.role, m.content.trim()))
        .collect();
    Ok((
        question.to_owned(),
        (!context.is_empty()).then(|| context.join("\n")),
    ))
}

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

    /// A query for a chat: its last user message, with the turns before it as context
    /// (see [`split_messages`]); an error if there is no user message.
    pub fn from_messages(messages: &[Message]) -> Result<Query, SemanticError> {
        let (text, context) = split_messages(messages)?;
        Ok(Query {
            text,
            context,
            ..Query::default()
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_is_its_last_user_message_and_the_turns_before() {
        let chat = [
            Message::new("system", "You are a support agent."),
            Message::new("user", "I have a gym membership."),
            Message::new("assistant", "Sure."),
            Message::new("user", "  How do I cancel it? "),
            Message::new("assistant", "Go to Settings."),
        ];
        let query = Query::from_messages(&chat).unwrap();
        assert_eq!(query.text, "How do I cancel it?");
        assert_eq!(
            query.context.as_deref(),
            Some("system: You are a support agent.\nuser: I have a gym membership.\nassistant: Sure.")
        );
        let alone = Query::from_messages(&[Message::new("user", "Hi")]).unwrap();
        assert_eq!((alone.text.as_str(), alone.context), ("Hi", None));
        for bad in [
            vec![],
            vec![Message::new("assistant", "Hello")],
            vec![Message::new("user", " ")],
        ] {
            assert!(matches!(
                Query::from_messages(&bad),
                Err(SemanticError::Config(_))
            ));
        }
    }
}
