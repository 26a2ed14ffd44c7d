//! `hoard.SemanticCache`: answers found by the meaning of their question (an LLM's
//! answers, say), from Python. The engine is `hoard_semantic`'s, the one `hoard serve`
//! runs: the same embedders, guards against near-identical questions with different
//! answers, and entries stored in the `hoard.Cache` given, so every process on one Redis
//! shares them.
//!
//! The model loads in the constructor, so a wrong name fails there, and again in a child
//! process after `fork()` (an inference thread pool made before a fork is not usable
//! after it).

use crate::bridge::{self, fork_generation};
use crate::cache::PyCache;
use crate::errors::{invalid_input, semantic_to_py};
use crate::json::{json_to_py, py_to_json, Purpose};
use crate::options::opt_duration;
use hoard_semantic::embed::EmbedderSpec;
use hoard_semantic::{Guards, Query, SemanticConfig, Store};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::IntoPyObjectExt;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// The engine, and the fork generation it was opened in.
struct Opened {
    generation: u64,
    semantic: Arc<hoard_semantic::SemanticCache>,
}

/// A semantic cache over a `hoard.Cache`.
#[pyclass(name = "SemanticCache", module = "hoard", frozen, subclass)]
pub struct PySemantic {
    cache: Py<PyCache>,
    spec: EmbedderSpec,
    hub: PathBuf,
    config: SemanticConfig,
    namespace: String,
    opened: Mutex<Option<Opened>>,
    model_id: String,
    verifier_id: Option<String>,
}

impl PySemantic {
    /// Loads the embedder and builds the engine over the cache's current (per-process)
    /// instance. Blocks without the GIL: a local model takes a second or more.
    fn open(
        py: Python<'_>,
        cache: &Bound<'_, PyCache>,
        spec: &EmbedderSpec,
        hub: &std::path::Path,
        config: &SemanticConfig,
    ) -> PyResult<Arc<hoard_semantic::SemanticCache>> {
        let store = cache.get().cache()?;
        let (spec, hub) = (spec.clone(), hub.to_path_buf());
        let config = config.clone();
        let semantic = bridge::wait(py, async move {
            hoard_semantic::SemanticCache::open(store, &spec, &hub, config).await
        })?
        .map_err(semantic_to_py)?;
        Ok(Arc::new(semantic))
    }

    /// The engine of this process, reopened after a fork.
    fn semantic(&self, py: Python<'_>) -> PyResult<Arc<hoard_semantic::SemanticCache>> {
        let generation = fork_generation();
        // The lock is held only to read or swap the slot, never while loading or while
        // waiting for the GIL: a fork at any moment leaves it free in the child.
        {
            let opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(open) = opened.as_ref().filter(|o| o.generation == generation) {
                return Ok(open.semantic.clone());
            }
        }
        // After a fork: load the model again (two threads racing here both load; the
        // first to finish is kept).
        let semantic = Self::open(py, self.cache.bind(py), &self.spec, &self.hub, &self.config)?;
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = opened.as_ref().filter(|o| o.generation == generation) {
            return Ok(open.semantic.clone());
        }
        if let Some(stale) = opened.take() {
            // The parent's: its threads do not exist in this process (see `hoard.Cache`).
            std::mem::forget(stale);
        }
        *opened = Some(Opened {
            generation,
            semantic: semantic.clone(),
        });
        Ok(semantic)
    }

    fn query(
        &self,
        query: &Bound<'_, PyAny>,
        threshold: Option<f32>,
        filters: Option<&Bound<'_, PyDict>>,
        context: Option<String>,
    ) -> PyResult<Query> {
        if let Some(threshold) = threshold {
            hoard_semantic::cache::check_threshold(threshold).map_err(semantic_to_py)?;
        }
        let (text, context) = question(query, context)?;
        Ok(Query {
            text,
            threshold,
            filters: filter_map(filters)?,
            context,
        })
    }
}

/// The question and its context: `query` as a `str` (with `context`), or a chat, a list
/// of `{"role", "content"}` dicts (its last user message, and the turns before it).
fn question(
    query: &Bound<'_, PyAny>,
    context: Option<String>,
) -> PyResult<(String, Option<String>)> {
    if let Ok(text) = query.extract::<String>() {
        return Ok((text, context));
    }
    let Ok(items) = query.try_iter() else {
        return Err(crate::errors::invalid_input(
            "query must be a str or a list of {\"role\", \"content\"} messages",
        ));
    };
    if context.is_some() {
        return Err(crate::errors::invalid_input(
            "a chat carries its own context: pass context only with a str query",
        ));
    }
    let mut messages = Vec::new();
    for item in items {
        let item = item?;
        let field = |name: &str| -> PyResult<String> {
            item.get_item(name)
                .and_then(|v| v.extract::<String>())
                .map_err(|_| {
                    crate::errors::invalid_input(format!(
                        "each message needs a str {name:?}: got {}",
                        item.repr().map_or_else(|_| "?".into(), |r| r.to_string())
                    ))
                })
        };
        messages.push(hoard_semantic::Message::new(
            field("role")?,
            field("content")?,
        ));
    }
    hoard_semantic::cache::split_messages(&messages)
        .map_err(|e| crate::errors::invalid_input(e.to_string()))
}

/// Filters as given: a dict of `str` to `str`.
fn filter_map(filters: Option<&Bound<'_, PyDict>>) -> PyResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in filters.into_iter().flat_map(|f| f.iter()) {
        let (Ok(name), Ok(value)) = (name.extract::<String>(), value.extract::<String>()) else {
            return Err(invalid_input(
                "filters: a dict of str to str, such as {\"user_id\": \"42\"}",
            ));
        };
        out.insert(name, value);
    }
    Ok(out)
}

#[pymethods]
impl PySemantic {
    #[new]
    #[pyo3(signature = (cache, model, *, threshold = 0.85, namespace = "default".to_owned(), ttl = None, url = None, api_key = None, hub = None, guards = true, verifier = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        cache: Bound<'_, PyCache>,
        model: String,
        threshold: f32,
        namespace: String,
        ttl: Option<&Bound<'_, PyAny>>,
        url: Option<String>,
        api_key: Option<String>,
        hub: Option<PathBuf>,
        guards: bool,
        verifier: Option<bool>,
    ) -> PyResult<PySemantic> {
        let mut config = SemanticConfig {
            threshold,
            guards: if guards {
                Guards::all()
            } else {
                Guards::none()
            },
            verifier,
            ..SemanticConfig::default()
        };
        if let Some(ttl) = opt_duration(ttl, "ttl")? {
            config.ttl = ttl;
        }
        config.validate().map_err(semantic_to_py)?;
        let spec = EmbedderSpec {
            model,
            url,
            api_key,
        };
        let hub = hub.unwrap_or_else(default_hub);
        let semantic = Self::open(py, &cache, &spec, &hub, &config)?;
        Ok(PySemantic {
            model_id: semantic.embedder().id().to_owned(),
            verifier_id: semantic.verifier().map(|v| v.id().to_owned()),
            cache: cache.unbind(),
            spec,
            hub,
            config,
            namespace,
            opened: Mutex::new(Some(Opened {
                generation: fork_generation(),
                semantic,
            })),
        })
    }

    fn __repr__(&self) -> String {
        format!(
            "hoard.SemanticCache(model={:?}, threshold={}, namespace={:?})",
            self.model_id, self.config.threshold, self.namespace
        )
    }

    /// The embedder's name and dimension, such as `all-MiniLM-L6-v2/384`.
    #[getter]
    fn model(&self) -> &str {
        &self.model_id
    }

    /// The verifier's name (`all-MiniLM-L6-v2-cross`), or `None` when candidates are
    /// judged by similarity and guards alone.
    #[getter]
    fn verifier(&self) -> Option<&str> {
        self.verifier_id.as_deref()
    }

    /// The lowest similarity that is a hit (unless a lookup names its own).
    #[getter]
    fn threshold(&self) -> f32 {
        self.config.threshold
    }

    /// The namespace entries live in.
    #[getter]
    fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The stored answer to a question that means the same as `query`, or `default`.
    #[pyo3(signature = (query, default = None, *, threshold = None, filters = None, context = None, _awaitable = false))]
    #[allow(clippy::too_many_arguments)]
    fn lookup<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
        default: Option<Py<PyAny>>,
        threshold: Option<f32>,
        filters: Option<&Bound<'py, PyDict>>,
        context: Option<String>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let semantic = self.semantic(py)?;
        let query = self.query(query, threshold, filters, context)?;
        let namespace = self.namespace.clone();
        let default = default.unwrap_or_else(|| py.None());
        bridge::run(
            py,
            _awaitable,
            async move { semantic.lookup(&namespace, &query).await },
            move |py, hit| match hit.map_err(semantic_to_py)? {
                Some(hit) => json_to_py(py, &hit.value).map(Bound::unbind),
                None => Ok(default),
            },
        )
    }

    /// Everything a lookup found: `{"hit": {...} or None, "near_miss": {...} or None}`,
    /// the hit with its `id`, `similarity`, `matched_query` and `value`; the near miss
    /// (the best candidate refused) with its `similarity`, `matched_query` and the
    /// `verdict` that refused it.
    #[pyo3(signature = (query, *, threshold = None, filters = None, context = None, _awaitable = false))]
    fn lookup_detailed<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
        threshold: Option<f32>,
        filters: Option<&Bound<'py, PyDict>>,
        context: Option<String>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let semantic = self.semantic(py)?;
        let query = self.query(query, threshold, filters, context)?;
        let namespace = self.namespace.clone();
        bridge::run(
            py,
            _awaitable,
            async move { semantic.lookup_detailed(&namespace, &query).await },
            move |py, outcome| {
                let outcome = outcome.map_err(semantic_to_py)?;
                let tree = serde_json::to_value(&outcome)
                    .map_err(|e| crate::errors::hoard_error(e.to_string()))?;
                json_to_py(py, &tree).map(Bound::unbind)
            },
        )
    }

    /// Stores `value` (a JSON value) as the answer to `query`; returns the entry's id.
    #[pyo3(signature = (query, value, *, ttl = None, filters = None, context = None, _awaitable = false))]
    #[allow(clippy::too_many_arguments)]
    fn store<'py>(
        &self,
        py: Python<'py>,
        query: &Bound<'py, PyAny>,
        value: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        filters: Option<&Bound<'py, PyDict>>,
        context: Option<String>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let semantic = self.semantic(py)?;
        let (query, context) = question(query, context)?;
        let value = py_to_json(value, Purpose::Store("the answer to store"))?;
        let options = Store {
            ttl: opt_duration(ttl, "ttl")?,
            filters: filter_map(filters)?,
            context,
        };
        let namespace = self.namespace.clone();
        bridge::run(
            py,
            _awaitable,
            async move { semantic.store(&namespace, &query, value, &options).await },
            |py, id| id.map_err(semantic_to_py)?.into_py_any(py),
        )
    }

    /// Deletes the entry with this id; whether it existed.
    #[pyo3(signature = (id, *, _awaitable = false))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        id: u64,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let semantic = self.semantic(py)?;
        let namespace = self.namespace.clone();
        bridge::run(
            py,
            _awaitable,
            async move { semantic.delete(&namespace, id).await },
            |py, existed| existed.map_err(semantic_to_py)?.into_py_any(py),
        )
    }

    /// Tells the cache whether a hit from entry `id` was right. Judged wrong, the entry is
    /// served from then on only to queries closer to it than that hit (`similarity`, the
    /// one the lookup returned; by default that of the last hit this process served from
    /// it), in every process sharing the cache. Returns `{"min_similarity", "confirmed",
    /// "refuted"}`, or None when no such entry is stored.
    #[pyo3(signature = (id, correct, *, similarity = None, _awaitable = false))]
    fn feedback<'py>(
        &self,
        py: Python<'py>,
        id: u64,
        correct: bool,
        similarity: Option<f32>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let semantic = self.semantic(py)?;
        let namespace = self.namespace.clone();
        bridge::run(
            py,
            _awaitable,
            async move { semantic.feedback(&namespace, id, correct, similarity).await },
            |py, judged| {
                let tree = serde_json::to_value(judged.map_err(semantic_to_py)?)
                    .map_err(|e| crate::errors::hoard_error(e.to_string()))?;
                json_to_py(py, &tree).map(Bound::unbind)
            },
        )
    }

    /// Deletes every entry stored with all of these filters; how many went.
    #[pyo3(signature = (filters, *, _awaitable = false))]
    fn delete_where<'py>(
        &self,
        py: Python<'py>,
        filters: &Bound<'py, PyDict>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let semantic = self.semantic(py)?;
        let filters = filter_map(Some(filters))?;
        let namespace = self.namespace.clone();
        bridge::run(
            py,
            _awaitable,
            async move { semantic.delete_where(&namespace, &filters).await },
            |py, n| n.map_err(semantic_to_py)?.into_py_any(py),
        )
    }

    /// Deletes every entry of the namespace, for every process sharing the cache; how
    /// many went.
    #[pyo3(signature = (*, _awaitable = false))]
    fn clear<'py>(&self, py: Python<'py>, _awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let semantic = self.semantic(py)?;
        let namespace = self.namespace.clone();
        bridge::run(
            py,
            _awaitable,
            async move { semantic.clear(&namespace).await },
            |py, n| n.map_err(semantic_to_py)?.into_py_any(py),
        )
    }
}

/// The Hugging Face hub cache, where a repo id such as
/// `sentence-transformers/all-MiniLM-L6-v2` is looked up (never downloaded):
/// `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`.
fn default_hub() -> PathBuf {
    let env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(hub) = env("HF_HUB_CACHE") {
        return PathBuf::from(hub);
    }
    if let Some(home) = env("HF_HOME") {
        return PathBuf::from(home).join("hub");
    }
    let home = env("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join(".cache").join("huggingface").join("hub")
}
