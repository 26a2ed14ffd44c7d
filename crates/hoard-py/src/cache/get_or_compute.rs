//! The first step of get-or-compute: a stored value, or a `Ticket` for the caller that
//! computes (`hoard/_cache.py` builds `get_or_compute` and the decorators on it).

use super::PyCache;
use crate::begin::{begin, begin_l1, recompute, L1Step, Step};
use crate::bridge;
use crate::compute::{compute_options, Ticket};
use pyo3::prelude::*;

#[pymethods]
impl PyCache {
    /// The first step of `get_or_compute`: `(True, value)` for a stored value, or
    /// `(False, ticket)` when this caller computes. Raises the error of the computation it
    /// waited on, if that failed.
    #[pyo3(signature = (namespace, key, *, ttl = None, tags = None, early_refresh = None, adaptive_ttl = None, adaptive_max = None, use_cache = true, _awaitable = false))]
    #[allow(clippy::too_many_arguments)]
    fn _begin<'py>(
        &self,
        py: Python<'py>,
        namespace: String,
        key: String,
        ttl: Option<&Bound<'py, PyAny>>,
        tags: Option<&Bound<'py, PyAny>>,
        early_refresh: Option<f64>,
        adaptive_ttl: Option<f64>,
        adaptive_max: Option<&Bound<'py, PyAny>>,
        use_cache: bool,
        _awaitable: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let options = compute_options(
            ttl,
            tags,
            early_refresh,
            adaptive_ttl,
            adaptive_max,
            use_cache,
            self.spec.default_ttl,
        )?;
        self.begin_impl(py, _awaitable, namespace, key, options)
    }
}

impl PyCache {
    /// `_begin` with its options read: a memory hit answered at once, else the step run
    /// blocking or as an awaitable.
    fn begin_impl<'py>(
        &self,
        py: Python<'py>,
        is_async: bool,
        namespace: String,
        key: String,
        options: hoard::ComputeOptions,
    ) -> PyResult<Bound<'py, PyAny>> {
        let cache = self.cache()?;
        let serializer = self.serializer();
        let front = self.front.clone();
        let full = format!("{namespace}:{key}");
        // A memory hit is answered here, with no future to run.
        let unreadable =
            match begin_l1(py, &cache, &serializer, &front, &namespace, &key, &options)? {
                L1Step::Found(value) => {
                    let found = (true, value).into_pyobject(py)?.into_any();
                    return match is_async {
                        true => bridge::ready(py, Ok(found.unbind())),
                        false => Ok(found),
                    };
                }
                L1Step::Unreadable => true,
                L1Step::Absent => false,
            };
        self.run(
            py,
            is_async,
            async move {
                let step = if unreadable {
                    recompute(&cache, &serializer, &front, &namespace, &key, &options).await
                } else {
                    begin(&cache, &serializer, &front, &namespace, &key, &options).await
                };
                (step, serializer, full)
            },
            move |py, (step, serializer, full)| match step? {
                Step::Found(value) => Ok((true, value).into_pyobject(py)?.into_any().unbind()),
                Step::Compute(ticket) => {
                    let ticket = Ticket::new(ticket, serializer, full);
                    Ok((false, ticket).into_pyobject(py)?.into_any().unbind())
                }
            },
        )
    }
}
