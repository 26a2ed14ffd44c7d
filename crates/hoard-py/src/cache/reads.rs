//! Reads: `get` (a memory hit answered without a future, with the GIL held), `get_many`,
//! `exists` and `ttl`.

use super::PyCache;
use crate::begin::decode;
use crate::bridge;
use crate::errors::IntoPy;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pymethods]
impl PyCache {
    #[pyo3(signature = (namespace, key, default = None, *, _awaitable = false))]
    fn get<'py>(
        &self,
        py: Python<'py>,
        namespace: &str,
        key: &str,
        default: Option<Bound<'py, PyAny>>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let default = default.unwrap_or_else(|| py.None().into_bound(py));
        let cache = self.cache_ref()?;
        // A memory hit needs no future (and keeps the GIL: it is cheaper than handing it
        // over); anything else may touch a disk or the network.
        if let Some(entry) = cache.get_entry_l1(namespace, key).py()? {
            let value = decode(
                py,
                &self.serializer,
                &self.front,
                namespace,
                key,
                &entry.value,
            )?
            .unwrap_or(default);
            return match _awaitable {
                true => bridge::ready(py, Ok(value.unbind())),
                false => Ok(value),
            };
        }
        if _awaitable {
            return self.aget_impl(py, namespace.to_owned(), key.to_owned(), default.unbind());
        }
        // Blocking: the future borrows the arguments, so it allocates nothing for them.
        let Some(bytes) = bridge::wait(py, cache.get_raw(namespace, key))?.py()? else {
            return Ok(default);
        };
        Ok(decode(py, &self.serializer, &self.front, namespace, key, &bytes)?.unwrap_or(default))
    }

    #[pyo3(signature = (namespace, keys, *, _awaitable = false))]
    fn get_many<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        keys: Vec<String>,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.get_many_impl(py, _awaitable, namespace, keys)
    }

    #[pyo3(signature = (namespace, key, *, _awaitable = false))]
    fn exists<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            cache.exists(&namespace, &key).await
        })
    }

    /// Seconds left, or `None` without an entry.
    #[pyo3(signature = (namespace, key, *, _awaitable = false))]
    fn ttl<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        self.simple(py, _awaitable, async move {
            let left = cache.ttl(&namespace, &key).await?;
            Ok(left.map(|d| d.as_secs_f64()))
        })
    }
}

impl PyCache {
    /// `get` as an awaitable (the blocking form borrows its arguments, in `get`).
    fn aget_impl<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        default: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let serializer = self.serializer();
        let front = self.front.clone();
        self.run(
            py,
            true,
            async move {
                let found = cache.get_raw(&namespace, &key).await;
                (found, namespace, key)
            },
            move |py, (found, namespace, key)| {
                let Some(bytes) = found.py()? else {
                    return Ok(default);
                };
                Ok(decode(py, &serializer, &front, &namespace, &key, &bytes)?
                    .map_or(default, Bound::unbind))
            },
        )
    }

    /// `get_many`, blocking or as an awaitable.
    fn get_many_impl<'py>(
        &self,
        py: Python<'py>,
        is_async: bool,
        namespace: String,
        keys: Vec<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let serializer = self.serializer();
        self.run(
            py,
            is_async,
            async move {
                let found = cache.mget_raw(&namespace, &keys).await;
                (namespace, keys, found)
            },
            move |py, (namespace, keys, found)| {
                let out = PyDict::new(py);
                for (key, bytes) in keys.iter().zip(found.py()?) {
                    let value = match bytes {
                        Some(bytes) => {
                            serializer.loads(py, &bytes, &format!("{namespace}:{key}"))?
                        }
                        None => None,
                    };
                    out.set_item(key, value)?;
                }
                Ok(out.into_any().unbind())
            },
        )
    }
}
