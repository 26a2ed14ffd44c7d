//! Writes: storing answers, deleting entries or whole namespaces, and get-or-compute.
//! Every write goes to storage first, then to this instance's memory, then moves the
//! namespace's version so other instances reload.

use super::query::{Query, Store};
use super::stored::{check_namespace, entry_id, entry_key, tag, StoredEntry, STORAGE_NAMESPACE};
use super::SemanticCache;
use crate::SemanticError;
use std::collections::BTreeMap;

impl SemanticCache {
    /// Stores `value` as the answer to `query`; returns the entry's id.
    pub async fn store(
        &self,
        namespace: &str,
        query: &str,
        value: serde_json::Value,
        options: &Store,
    ) -> Result<u64, SemanticError> {
        let mut ids = self
            .store_many(namespace, &[(query.to_owned(), value)], options)
            .await?;
        ids.pop()
            .ok_or_else(|| SemanticError::Embed("no vector returned".into()))
    }

    /// Stores many answers at once (one embedding batch); returns their ids in order.
    pub async fn store_many(
        &self,
        namespace: &str,
        items: &[(String, serde_json::Value)],
        options: &Store,
    ) -> Result<Vec<u64>, SemanticError> {
        check_namespace(namespace)?;
        self.sync(namespace).await?;
        let texts: Vec<String> = items.iter().map(|(q, _)| q.clone()).collect();
        let vectors = self.embedder.embed(&texts).await?;
        let context_vector = match &options.context {
            Some(context) => self
                .embedder
                .embed(std::slice::from_ref(context))
                .await?
                .pop(),
            None => None,
        };
        let ttl = options.ttl.unwrap_or(self.config.ttl);
        let now = self.now_ms();
        let expires_ms = now.saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX));
        let mut ids = Vec::with_capacity(items.len());
        for ((query, value), vector) in items.iter().zip(vectors) {
            let entry = StoredEntry {
                id: entry_id(query, &options.filters, options.context.as_deref())?,
                query: query.clone(),
                context: options.context.clone(),
                filters: options.filters.clone(),
                vector,
                context_vector: context_vector.clone(),
                value: value.clone(),
                model: self.embedder.id().to_owned(),
                created_ms: now,
                expires_ms,
            };
            self.cache
                .set_with(
                    STORAGE_NAMESPACE,
                    &entry_key(namespace, entry.id),
                    &entry,
                    hoard::SetOptions::new().ttl(ttl).tags([tag(namespace)]),
                )
                .await?;
            ids.push(entry.id);
            let evicted = self.spaces.remember(namespace, &entry);
            for id in evicted {
                self.cache
                    .delete(STORAGE_NAMESPACE, &entry_key(namespace, id))
                    .await?;
            }
        }
        self.counts.stored(namespace, ids.len());
        self.bump(namespace).await?;
        Ok(ids)
    }

    /// Deletes one entry; whether it existed.
    pub async fn delete(&self, namespace: &str, id: u64) -> Result<bool, SemanticError> {
        check_namespace(namespace)?;
        let existed = self
            .cache
            .delete(STORAGE_NAMESPACE, &entry_key(namespace, id))
            .await?;
        self.spaces.forget(namespace, id);
        self.bump(namespace).await?;
        Ok(existed)
    }

    /// Deletes every entry whose filters include all of `filters`; how many.
    pub async fn delete_where(
        &self,
        namespace: &str,
        filters: &BTreeMap<String, String>,
    ) -> Result<usize, SemanticError> {
        check_namespace(namespace)?;
        self.sync(namespace).await?;
        let ids = self.spaces.matching(namespace, filters);
        for id in &ids {
            self.cache
                .delete(STORAGE_NAMESPACE, &entry_key(namespace, *id))
                .await?;
            self.spaces.forget(namespace, *id);
        }
        self.bump(namespace).await?;
        Ok(ids.len())
    }

    /// Drops a whole namespace, in storage and in every instance's memory.
    pub async fn clear(&self, namespace: &str) -> Result<u64, SemanticError> {
        check_namespace(namespace)?;
        let removed = self.cache.invalidate_tags(&[tag(namespace)]).await?;
        self.spaces.drop_namespace(namespace);
        self.bump(namespace).await?;
        Ok(removed)
    }

    /// The stored answer for `query`, or `compute`'s, stored for next time.
    pub async fn get_or_compute<F, Fut>(
        &self,
        namespace: &str,
        query: &Query,
        compute: F,
    ) -> Result<serde_json::Value, SemanticError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = serde_json::Value>,
    {
        if let Some(hit) = self.lookup(namespace, query).await? {
            return Ok(hit.value);
        }
        let value = compute().await;
        let options = Store {
            ttl: None,
            filters: query.filters.clone(),
            context: query.context.clone(),
        };
        self.store(namespace, &query.text, value.clone(), &options)
            .await?;
        Ok(value)
    }
}
