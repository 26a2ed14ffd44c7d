//! Invalidation: by pattern, by namespace, everything, or by tags.

use super::PyCache;
use crate::options::strings;
use pyo3::prelude::*;

#[pymethods]
impl PyCache {
    #[pyo3(signature = (pattern, *, _awaitable = false))]
    fn delete_pattern<'py>(
        &self,
        py: Python<'py>,
        pattern: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            cache.delete_pattern(&pattern).await
        })
    }

    #[pyo3(signature = (namespace, *, _awaitable = false))]
    fn clear_namespace<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.unit(py, _awaitable, async move {
            cache.clear_namespace(&namespace).await
        })
    }

    #[pyo3(signature = (*, _awaitable = false))]
    fn clear<'py>(&self, py: Python<'py>, _awaitable: bool) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move { cache.clear_all().await })
    }

    #[pyo3(signature = (*, tags, _awaitable = false))]
    fn invalidate<'py>(
        &self,
        py: Python<'py>,
        tags: &Bound<'py, PyAny>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let tags = strings(Some(tags), "tags")?;
        self.simple(
            py,
            _awaitable,
            async move { cache.invalidate_tags(&tags).await },
        )
    }
}
