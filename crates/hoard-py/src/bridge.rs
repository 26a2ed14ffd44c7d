//! Running hoard's futures from Python: blocking calls and awaitables.
//!
//! Memory (L1) hits never come here: the hit paths read L1 without a future and keep the
//! GIL, which costs less than handing it over. Every future here runs without the GIL (a
//! disk read, a Redis round trip, a wait on another caller): blocking calls wake every
//! [`TICK`] to let Ctrl-C raise `KeyboardInterrupt`; awaitables that do not finish in
//! their first poll are driven on their event loop's thread by its [`Reactor`], woken
//! through a socket the loop watches.

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyWeakrefReference;
use std::collections::HashMap;
use std::future::Future;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
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

/// Runs `future` to completion for a blocking Python call, without the GIL: callers read
/// memory hits without a future, so whatever is awaited here may touch a disk or the
/// network (or wait on another caller). It wakes every [`TICK`] to let Ctrl-C raise
/// `KeyboardInterrupt`.
pub fn wait<F>(py: Python<'_>, future: F) -> PyResult<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    let _runtime = hoard::runtime::enter();
    let mut future = pin!(future);
    // Most calls finish in their first poll (a disk read, a write to memory and disk):
    // no timer for those.
    if let Some(output) = py.detach(|| poll_once(future.as_mut())) {
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
/// the running loop that the loop's [`Reactor`] settles (or, on a loop that cannot watch
/// a socket, hoard's runtime through `call_soon_threadsafe`). A cancelled awaiter does not
/// cancel the operation (a write still lands; a ticket nobody receives is dropped, and its
/// waiters compute themselves).
pub fn awaitable<'py, F>(
    py: Python<'py>,
    future: F,
    convert: impl FnOnce(Python<'_>, F::Output) -> PyResult<Py<PyAny>> + Send + 'static,
) -> PyResult<Bound<'py, PyAny>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut future = {
        let _runtime = hoard::runtime::enter();
        let mut future = Box::pin(future);
        // Without the GIL, as in `wait`: a disk read may finish in this poll.
        if let Some(output) = py.detach(|| poll_once(future.as_mut())) {
            return ready(py, convert(py, output));
        }
        future
    };
    let asyncio = asyncio(py)?;
    let event_loop = asyncio.call_method0("get_running_loop")?;
    let pending = event_loop.call_method0("create_future")?;
    let task: Task = Box::pin(async move {
        let output = future.as_mut().await;
        Box::new(move |py: Python<'_>| convert(py, output)) as Finish
    });
    match reactor_for(py, &event_loop)? {
        Some(reactor) => reactor.get().start(py, task, &pending)?,
        None => settle_from_runtime(event_loop.unbind(), pending.clone().unbind(), task),
    }
    Ok(pending)
}

/// An awaitable already settled with `result`.
pub fn ready(py: Python<'_>, result: PyResult<Py<PyAny>>) -> PyResult<Bound<'_, PyAny>> {
    Ok(Bound::new(
        py,
        Ready {
            result: Some(result),
        },
    )?
    .into_any())
}

/// The work of an awaitable: the operation, then turning its output into a Python result.
type Task = Pin<Box<dyn Future<Output = Finish> + Send>>;
type Finish = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// Runs `task` on hoard's runtime and settles `pending` through the loop's
/// `call_soon_threadsafe`: for loops that cannot watch a socket.
fn settle_from_runtime(event_loop: Py<PyAny>, pending: Py<PyAny>, task: Task) {
    hoard::runtime::spawn(async move {
        let finish = task.await;
        Python::attach(|py| {
            let (ok, value) = match finish(py) {
                Ok(value) => (true, value),
                Err(error) => (false, error.into_value(py).into_any()),
            };
            if let Err(error) =
                resolve(py).and_then(|resolve| resolve.call1((event_loop, pending, ok, value)))
            {
                // `resolve` swallows a closed loop itself; this is the package failing to
                // import (interpreter shutdown): print it rather than lose it silently.
                error.print(py);
            }
        });
    });
}

/// The [`Reactor`] of `event_loop` (made on first use), or `None` if the loop cannot
/// watch a socket (`add_reader` is missing, as on Windows' proactor loop).
fn reactor_for<'py>(
    py: Python<'py>,
    event_loop: &Bound<'py, PyAny>,
) -> PyResult<Option<Bound<'py, Reactor>>> {
    static REACTOR_FOR: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let found = REACTOR_FOR
        .import(py, "hoard._aio", "reactor_for")?
        .call1((event_loop,))?;
    if found.is_none() {
        return Ok(None);
    }
    Ok(Some(found.cast_into::<Reactor>()?))
}

/// Drives the awaitables of one asyncio event loop on the loop's own thread.
///
/// A future that did not finish in its first poll is kept here with the asyncio future it
/// settles. Its waker, called from any thread and without the GIL (a Redis reply arriving
/// on hoard's runtime), queues its id and writes a byte to a socket the loop watches
/// (`loop.add_reader`); the loop then calls [`Reactor::run`], which polls the woken
/// futures (without the GIL, as blocking calls do) and sets their results directly. No thread takes the GIL to
/// hand a result over, and no task is spawned: an awaited Redis get crosses threads as a
/// blocking one does.
#[pyclass(module = "hoard._hoard", frozen, weakref)]
pub struct Reactor {
    signal: Arc<Signal>,
    reader: UnixStream,
    next_id: AtomicU64,
    /// Futures in flight, each with a weak reference to the asyncio future it settles:
    /// an awaiter holds that one, and a strong reference here would keep the loop alive
    /// (through the future) for as long as the reactor, which the loop holds.
    pending: Mutex<HashMap<u64, (Task, Py<PyWeakrefReference>)>>,
}

/// What wakers share with their reactor.
struct Signal {
    /// Ids of futures woken since the loop last ran the reactor.
    woken: Mutex<Vec<u64>>,
    /// Whether a byte waits in the socket (so one is written per batch of wakes).
    signalled: AtomicBool,
    writer: UnixStream,
}

/// Wakes one future of a reactor.
struct TaskWaker {
    id: u64,
    signal: Arc<Signal>,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let signal = &self.signal;
        signal
            .woken
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.id);
        if !signal.signalled.swap(true, SeqCst) {
            // A full socket already holds a byte for the loop; a closed one means the loop
            // is gone, and its futures leave with the reactor.
            let _ = (&signal.writer).write(&[1]);
        }
    }
}

#[pymethods]
impl Reactor {
    #[new]
    fn new() -> PyResult<Reactor> {
        let (reader, writer) = UnixStream::pair()?;
        reader.set_nonblocking(true)?;
        writer.set_nonblocking(true)?;
        Ok(Reactor {
            signal: Arc::new(Signal {
                woken: Mutex::new(Vec::new()),
                signalled: AtomicBool::new(false),
                writer,
            }),
            reader,
            next_id: AtomicU64::new(0),
            pending: Mutex::new(HashMap::new()),
        })
    }

    /// The socket the loop watches.
    fn fileno(&self) -> i32 {
        self.reader.as_raw_fd()
    }

    /// Polls the futures woken since the last run (the loop's reader callback).
    fn run(&self, py: Python<'_>) -> PyResult<()> {
        let mut buffer = [0u8; 64];
        loop {
            match (&self.reader).read(&mut buffer) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e.into()),
            }
        }
        // Cleared before the ids are taken: a wake after this point writes a new byte.
        self.signal.signalled.store(false, SeqCst);
        let woken =
            std::mem::take(&mut *self.signal.woken.lock().unwrap_or_else(|p| p.into_inner()));
        let mut first_error = None;
        for id in woken {
            let taken = self
                .pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&id);
            // Absent: woken again after it finished, or woken twice in one batch.
            if let Some((task, pending)) = taken {
                if let Err(error) = self.poll(py, id, task, pending) {
                    first_error.get_or_insert(error);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Futures still in flight (for tests).
    fn __len__(&self) -> usize {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

impl Reactor {
    /// Takes `task`, which settles `pending`, and polls it for the first time.
    fn start(&self, py: Python<'_>, task: Task, pending: &Bound<'_, PyAny>) -> PyResult<()> {
        let id = self.next_id.fetch_add(1, SeqCst);
        self.poll(py, id, task, PyWeakrefReference::new(pending)?.unbind())
    }

    fn poll(
        &self,
        py: Python<'_>,
        id: u64,
        mut task: Task,
        pending: Py<PyWeakrefReference>,
    ) -> PyResult<()> {
        let waker = Waker::from(Arc::new(TaskWaker {
            id,
            signal: self.signal.clone(),
        }));
        let polled = py.detach(|| {
            let _runtime = hoard::runtime::enter();
            task.as_mut().poll(&mut Context::from_waker(&waker))
        });
        match polled {
            Poll::Ready(finish) => {
                let outcome = finish(py);
                match pending.bind(py).upgrade() {
                    Some(pending) => settle(py, &pending, outcome),
                    // Nobody awaits it any more: the operation is done all the same.
                    None => Ok(()),
                }
            }
            Poll::Pending => {
                // Polled outside the lock: a poll may run Python code, which may start
                // another awaitable on this loop.
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id, (task, pending));
                Ok(())
            }
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // The loop is gone with operations in flight: they still finish (a write lands),
        // on hoard's runtime, and nobody hears of it.
        let pending = std::mem::take(self.pending.get_mut().unwrap_or_else(|p| p.into_inner()));
        for (_, (task, _)) in pending {
            hoard::runtime::spawn(async move {
                drop(task.await);
            });
        }
    }
}

/// Sets an asyncio future's outcome on its loop's thread, unless it was cancelled.
fn settle(
    py: Python<'_>,
    pending: &Bound<'_, PyAny>,
    outcome: PyResult<Py<PyAny>>,
) -> PyResult<()> {
    if pending.call_method0("cancelled")?.is_truthy()? {
        return Ok(());
    }
    match outcome {
        Ok(value) => pending.call_method1("set_result", (value,))?,
        Err(error) => pending.call_method1("set_exception", (error.into_value(py),))?,
    };
    Ok(())
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
