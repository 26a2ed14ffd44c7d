//! Writes: `set`, `set_many` and `delete`, with the TTL, tags and dependencies a write
//! can carry.

use super::PyCache;
use crate::errors::invalid_input;
use crate::options::{opt_duration, strings};
use hoard::SetOptions;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pymethods]
impl PyCache {
    #[pyo3(signature = (namespace, key, value, *, ttl = None, tags = None, depends_on = None, _awaitable = false))]
    #[allow(clippy::too_many_arguments)]
    fn set<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        value: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
        depends_on: Option<&Bound<'py, PyAny>>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let bytes = self
            .serializer
            .dumps(value, &format!("{namespace}:{key}"))?;
        let options = self.set_options(ttl, tags, depends_on)?;
        self.unit(py, _awaitable, async move {
            cache.set_raw(&namespace, &key, bytes, options).await
        })
    }

    #[pyo3(signature = (namespace, items, *, ttl = None, tags = None, _awaitable = false))]
    fn set_many<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        items: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.set_many_impl(py, _awaitable, namespace, items, ttl, tags)
    }

    #[pyo3(signature = (namespace, key, *, _awaitable = false))]
    fn delete<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            cache.delete(&namespace, &key).await
        })
    }
}

impl PyCache {
    /// `set_many`, blocking or as an awaitable: every value is encoded before anything
    /// is written.
    #[allow(clippy::too_many_arguments)]
    fn set_many_impl<'py>(
        &self,
        py: Python<'py>,
        is_async: bool,
        namespace: String,
        items: &Bound<'py, PyAny>,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let items = items
            .cast::<PyDict>()
            .map_err(|_| invalid_input("set_many takes a dict of key -> value"))?;
        let mut encoded = Vec::with_capacity(items.len());
        for (key, value) in items.iter() {
            let key: String = key
                .extract()
                .map_err(|_| invalid_input("set_many: keys must be str"))?;
            let bytes = self
                .serializer
                .dumps(&value, &format!("{namespace}:{key}"))?;
            encoded.push((key, bytes));
        }
        let options = self.set_options(ttl, tags, None)?;
        self.unit(py, is_async, async move {
            cache.mset_raw(&namespace, encoded, options).await
        })
    }

    /// Write options from the keyword arguments.
    fn set_options(
        &self,
        ttl: Option<&Bound<'_, PyAny>>,
        tags: Option<&Bound<'_, PyAny>>,
        depends_on: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<SetOptions> {
        let mut options = SetOptions::new();
        if let Some(ttl) = opt_duration(ttl, "ttl")? {
            options = options.ttl(ttl);
        }
        let tags = strings(tags, "tags")?;
        if !tags.is_empty() {
            options = options.tags(tags);
        }
        let depends_on = strings(depends_on, "depends_on")?;
        if !depends_on.is_empty() {
            if !self.spec.dependencies {
                return Err(invalid_input(
                    "depends_on needs dependency tracking: open the cache with dependencies=True",
                ));
            }
            options = options.depends_on(depends_on);
        }
        Ok(options)
    }
}
