//! Running hoard's futures from Python: blocking calls and awaitables.
//!
//! Every call first polls its future once while holding the GIL. A memory (L1) hit
//! finishes in that poll, and releasing and re-taking the GIL would cost more than the hit
//! itself. Only a future that is still pending (disk, Redis, a wait on another caller)
//! continues without the GIL: blocking calls wake every [`TICK`] to let Ctrl-C raise
//! `KeyboardInterrupt`; awaitables finish on hoard's background runtime and resolve an
//! asyncio future through `loop.call_soon_threadsafe`.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How often a blocking call looks for pending signals (Ctrl-C).
const TICK: Duration = Duration::from_millis(50);

/// Bumped in the child after every `fork()`: caches opened under an older generation
/// belong to the parent and are reopened.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current fork generation.
pub fn fork_generation() -> u64 {
    FORK_GENERATION.load(Relaxed)
}

/// Registered with `os.register_at_fork(after_in_child=...)` by the package.
#[pyfunction]
pub fn _after_fork_in_child() {
    hoard::runtime::after_fork_in_child();
    FORK_GENERATION.fetch_add(1, Relaxed);
}

/// Polls `future` once, without waking anyone: `Some` if it finished.
fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let mut context = Context::from_waker(Waker::noop());
    match future.poll(&mut context) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Runs `future` to completion for a blocking Python call.
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let _runtime = hoard::runtime::enter();
    let mut future = pin!(future);
    if let Some(output) = poll_once(future.as_mut()) {
        return Ok(output);
    }
    loop {
        let step = py.detach(|| {
            hoard::block_on(async { tokio::time::timeout(TICK, future.as_mut()).await })
        });
        match step {
            Ok(output) => return Ok(output),
            // Dropping the future on an exception cancels the call, as Ctrl-C does in
            // redis-py: a write in flight may or may not have landed.
            Err(_elapsed) => py.check_signals()?,
        }
    }
}

/// Runs `future` as a blocking call, or hands out an awaitable when `is_async`; `convert`
/// turns its output into the Python result either way.
pub fn run<'py, F>(
    py: Python<'py>,
    is_async: bool,
    future: F,
    convert: impl FnOnce(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    if is_async {
        awaitable(py, future, convert)
    } else {
        let output = wait(py, future)?;
        convert(py, output).map(|v| v.into_bound(py))
    }
}

/// An awaitable for `future`, whose output `convert` turns into the result or exception:
/// already resolved if the future finishes in its first poll, else an asyncio future of
/// the running loop that hoard's runtime resolves. A cancelled awaiter does not cancel the
/// operation (a write still lands; a ticket nobody receives is dropped, and its waiters
/// compute themselves).
pub fn awaitable<'py, F>(
    py: Python<'py>,
    future: F,
    convert: impl FnOnce(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let _runtime = hoard::runtime::enter();
    let mut future = Box::pin(future);
    if let Some(output) = poll_once(future.as_mut()) {
        let result = convert(py, output);
        return Ok(Bound::new(
            py,
            Ready {
                result: Some(result),
            },
        )?
        .into_any());
    }
    let asyncio = asyncio(py)?;
    let event_loop = asyncio.call_method0("get_running_loop")?;
    let pending = event_loop.call_method0("create_future")?;
    let (event_loop_ref, pending_ref) = (event_loop.unbind(), pending.clone().unbind());
    hoard::runtime::spawn(async move {
        let output = future.await;
        Python::attach(|py| {
            let (ok, value) = match convert(py, output) {
                Ok(value) => (true, value),
                Err(error) => (false, error.into_value(py).into_any()),
            };
            if let Err(error) = resolve(py)
                .and_then(|resolve| resolve.call1((event_loop_ref, pending_ref, ok, value)))
            {
                // `resolve` swallows a closed loop itself; this is the package failing to
                // import (interpreter shutdown): print it rather than lose it silently.
                error.print(py);
            }
        });
    });
    Ok(pending)
}

fn asyncio(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static ASYNCIO: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    ASYNCIO
        .get_or_try_init(py, || py.import("asyncio").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// `hoard._aio.resolve(loop, future, ok, value)`: sets the result from the loop's thread.
fn resolve(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static RESOLVE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    RESOLVE.import(py, "hoard._aio", "resolve")
}

/// An awaitable whose result is already known (a memory hit from an `a` method).
#[pyclass(module = "hoard._hoard")]
pub struct Ready {
    result: Option<PyResult<Py<PyAny>>>,
}

#[pymethods]
impl Ready {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.result.take() {
            Some(Ok(value)) => Err(PyStopIteration::new_err((value,))),
            Some(Err(error)) => Err(error),
            None => Err(PyStopIteration::new_err((py.None(),))),
        }
    }

    fn send(&mut self, py: Python<'_>, _value: Py<PyAny>) -> PyResult<Py<PyAny>> {
        self.__next__(py)
    }

    #[pyo3(signature = (error, *_rest))]
    fn throw(
        &mut self,
        error: Bound<'_, PyAny>,
        _rest: Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<Py<PyAny>> {
        self.result = None;
        Err(PyErr::from_value(error))
    }
}
