//! Turning a hoard future into a Python call: blocking, or an awaitable when the caller
//! passed `_awaitable=True`, with the answer converted to a Python object.

use super::PyCache;
use crate::bridge;
use crate::errors::IntoPy;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;

impl PyCache {
    /// Runs `future` for Python (see [`bridge::run`]); `convert` makes its output a Python
    /// object once it is done.
    pub(super) fn run<'py, F>(
        &self,
        py: Python<'py>,
        is_async: bool,
        future: F,
        convert: impl FnOnce(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        bridge::run(py, is_async, future, convert)
    }

    /// Runs an operation that answers nothing (`None` in Python).
    pub(super) fn unit<'py, F>(
        &self,
        py: Python<'py>,
        is_async: bool,
        future: F,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future<Output = hoard::Result<()>> + Send + 'static,
    {
        self.run(py, is_async, future, |py, done| {
            done.py().map(|()| py.None())
        })
    }

    /// Runs an operation whose answer converts by itself.
    pub(super) fn simple<'py, F, T>(
        &self,
        py: Python<'py>,
        is_async: bool,
        future: F,
    ) -> PyResult<Bound<'py, PyAny>>
    where
        F: std::future::Future<Output = hoard::Result<T>> + Send + 'static,
        T: for<'a> IntoPyObject<'a> + Send + 'static,
    {
        self.run(py, is_async, future, |py, out| out.py()?.into_py_any(py))
    }
}
