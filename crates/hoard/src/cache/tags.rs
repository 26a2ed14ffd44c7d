//! Tags and dependencies: the tag index, and the cascades that follow a change.

use super::{Cache, SetOptions};
use crate::error::{Error, Result};
use crate::events::Cause;
use crate::key::{full_key, SEPARATOR};
use crate::store::TagIndex;
use std::collections::HashSet;

const DEPENDENCY_TAG: &str = "dep:";

/// The tag that marks "depends on `key`".
fn dependency_tag(full_key: &str) -> String {
    format!("{DEPENDENCY_TAG}{full_key}")
}

/// An entry's stored tags as the caller gave them: its tags, and the full keys it
/// depends on.
pub(super) fn split_dependencies(stored: &[String]) -> (Vec<String>, Vec<String>) {
    let mut tags = Vec::new();
    let mut depends_on = Vec::new();
    for tag in stored {
        match tag.strip_prefix(DEPENDENCY_TAG) {
            Some(key) => depends_on.push(key.to_owned()),
            None => tags.push(tag.clone()),
        }
    }
    (tags, depends_on)
}

/// Tags follow the key rules.
fn validate_tag(tag: &str) -> Result<()> {
    crate::key::validate_key(tag).map_err(|error| match error {
        Error::InvalidKey { key, reason } => Error::InvalidKey {
            key: format!("tag {key}"),
            reason,
        },
        other => other,
    })
}

impl Cache {
    /// The validated tags of a write, dependency tags included.
    pub(super) fn tags_for(&self, options: &SetOptions) -> Result<Vec<String>> {
        if (!options.tags.is_empty() || !options.depends_on.is_empty()) && self.tag_index().is_err()
        {
            return Err(Error::Unsupported("tags on this L2 store"));
        }
        let mut tags = Vec::with_capacity(options.tags.len() + options.depends_on.len());
        for tag in &options.tags {
            validate_tag(tag)?;
            tags.push(tag.clone());
        }
        if !options.depends_on.is_empty() && !self.inner.dependencies {
            return Err(Error::Config(
                "depends_on needs dependency tracking: build the cache with .dependencies(true)"
                    .into(),
            ));
        }
        for dependency in &options.depends_on {
            let (namespace, key) =
                dependency
                    .split_once(SEPARATOR)
                    .ok_or_else(|| Error::InvalidKey {
                        key: crate::error::clip(dependency),
                        reason: "a dependency is a full key: namespace:key",
                    })?;
            full_key(namespace, key)?;
            tags.push(dependency_tag(dependency));
        }
        Ok(tags)
    }

    /// Where tags are indexed: in L2 when there is one (so every process sees them), else
    /// in L1. An L2 without a tag index has no tags.
    pub(super) fn tag_index(&self) -> Result<&dyn TagIndex> {
        match &self.inner.l2 {
            Some(l2) => l2
                .as_tag_index()
                .ok_or(Error::Unsupported("tags on this tier")),
            None => Ok(&self.inner.l1),
        }
    }

    /// Removes the entries that depend on `changed` keys, and theirs in turn. Each key is
    /// visited once, so a cycle of dependencies ends.
    pub(super) async fn cascade(&self, changed: Vec<String>) -> Result<u64> {
        if !self.inner.dependencies {
            return Ok(0);
        }
        let mut visited: HashSet<String> = changed.iter().cloned().collect();
        let mut frontier = changed;
        let mut removed = 0;
        while let Some(key) = frontier.pop() {
            let tag = dependency_tag(&key);
            let dependents = self.tag_index()?.tagged(&tag).await?;
            if dependents.is_empty() {
                continue;
            }
            let fresh: Vec<String> = dependents
                .iter()
                .filter(|d| visited.insert((*d).clone()))
                .cloned()
                .collect();
            // Un-index first: a dependent rewritten meanwhile re-indexes itself after this.
            self.tag_index()?.untag(&tag, &dependents).await?;
            removed += self.remove_keys(&fresh, Cause::Dependency(key)).await?;
            frontier.extend(fresh);
        }
        Ok(removed)
    }

    /// Removes full keys from every tier and tells the listeners; returns how many existed.
    pub(super) async fn remove_keys(&self, keys: &[String], cause: Cause) -> Result<u64> {
        if keys.is_empty() {
            return Ok(0);
        }
        let inner = &*self.inner;
        let removed = {
            let _locks = inner.epochs.lock(keys.iter().map(String::as_str)).await;
            let from_l2 = match &inner.l2 {
                Some(l2) => Some(l2.delete_many(keys).await),
                None => None,
            };
            let mut from_l1 = 0;
            for key in keys {
                inner.epochs.bump(key);
                from_l1 += u64::from(inner.l1.delete_now(key));
            }
            from_l2.transpose()?.unwrap_or(from_l1)
        };
        self.emit(cause, keys.to_vec(), removed);
        Ok(removed)
    }

    /// Removes every entry carrying any of `tags`, in every tier; returns how many went.
    ///
    /// The tag index lives in L2 (Redis: one sorted set per tag, trimmed of expired entries
    /// as it is written and expiring with its last entry; disk: swept with expired
    /// entries), so every process sharing it sees the same tags.
    pub async fn invalidate_tags<S: AsRef<str>>(&self, tags: &[S]) -> Result<u64> {
        for tag in tags {
            validate_tag(tag.as_ref())?;
        }
        let mut removed = 0;
        for tag in tags {
            let tag = tag.as_ref();
            let keys = self.tag_index()?.tagged(tag).await?;
            // Un-index first: an entry re-tagged meanwhile keeps its new index row.
            self.tag_index()?.untag(tag, &keys).await?;
            removed += self.remove_keys(&keys, Cause::Tag(tag.to_owned())).await?;
            self.cascade(keys).await?;
        }
        Ok(removed)
    }

    /// The full keys (`namespace:key`) of the live entries carrying `tag`, in no order:
    /// how a caller enumerates what it stored under a tag (the semantic cache reloads a
    /// namespace this way).
    pub async fn tagged(&self, tag: &str) -> Result<Vec<String>> {
        validate_tag(tag)?;
        self.tag_index()?.tagged(tag).await
    }

    /// Entries in the tag index (live and not yet reclaimed), summed over tags.
    pub async fn tag_index_len(&self) -> Result<u64> {
        match self.tag_index() {
            Ok(index) => index.tag_index_len().await,
            Err(_) => Ok(0),
        }
    }
}
