//! The first step of get-or-compute from Python, and decoding what it finds: a memory hit
//! on the caller's thread with no future ([`begin_l1`]), else the awaited step
//! ([`begin`]), which finds the stored value, waits on another caller's computation, or
//! hands this caller the duty to compute ([`Step::Compute`]).

use crate::errors::{hoard_error, IntoPy};
use crate::front::Front;
use crate::serializer::Serializer;
use hoard::Begun;
use pyo3::prelude::*;
use std::sync::Arc;

/// The value of stored bytes, through the object cache in front of them; `None` where
/// they must read as a miss (a pickle that does not verify).
pub fn decode<'py>(
    py: Python<'py>,
    serializer: &Serializer,
    front: &Front,
    namespace: &str,
    key: &str,
    bytes: &bytes::Bytes,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match serializer {
        Serializer::MsgPack => {
            if let Some(hit) = front.get(py, bytes) {
                return hit.map(Some);
            }
            let value = crate::value::decode(py, bytes)?;
            front.put(bytes, &value)?;
            Ok(Some(value))
        }
        // Pickles are loaded every time: their signature covers the key, and they are not
        // what hot paths hold.
        Serializer::Pickle { .. } => serializer.loads(py, bytes, &format!("{namespace}:{key}")),
    }
}

/// The first step of get-or-compute, from any thread: the stored value, or the duty to
/// compute it. Raises the error of the computation it waited on, if that failed.
pub async fn begin(
    cache: &hoard::Cache,
    serializer: &Serializer,
    front: &Front,
    namespace: &str,
    key: &str,
    options: &hoard::ComputeOptions,
) -> PyResult<Step> {
    match cache.begin_compute(namespace, key, options).await.py()? {
        Begun::Value(entry) => match read(serializer, front, namespace, key, &entry) {
            Some(value) => Ok(Step::Found(value)),
            None => recompute(cache, serializer, front, namespace, key, options).await,
        },
        begun => step(begun, serializer, front, namespace, key),
    }
}

/// The first step of get-or-compute when memory alone answers it, on the caller's thread
/// with no future to run: the common hit. [`L1Step::Absent`] when [`begin`] must decide.
pub fn begin_l1(
    py: Python<'_>,
    cache: &hoard::Cache,
    serializer: &Serializer,
    front: &Front,
    namespace: &str,
    key: &str,
    options: &hoard::ComputeOptions,
) -> PyResult<L1Step> {
    let Some(entry) = cache.begin_compute_l1(namespace, key, options).py()? else {
        return Ok(L1Step::Absent);
    };
    Ok(
        match decode(py, serializer, front, namespace, key, &entry.value) {
            Ok(Some(value)) => L1Step::Found(value.unbind()),
            _ => L1Step::Unreadable,
        },
    )
}

/// What [`begin_l1`] found.
pub enum L1Step {
    /// The stored value.
    Found(Py<PyAny>),
    /// A value this caller cannot read: [`recompute`] it.
    Unreadable,
    /// Nothing in memory (or options that need more than memory for a hit).
    Absent,
}

/// Computes afresh and overwrites a value that is stored but unreadable here (another
/// serializer, a bad signature, another program's format), as for a miss.
pub async fn recompute(
    cache: &hoard::Cache,
    serializer: &Serializer,
    front: &Front,
    namespace: &str,
    key: &str,
    options: &hoard::ComputeOptions,
) -> PyResult<Step> {
    let begun = cache.begin_recompute(namespace, key, options).await.py()?;
    step(begun, serializer, front, namespace, key)
}

/// The value of an entry, or `None` if this caller cannot read it.
fn read(
    serializer: &Serializer,
    front: &Front,
    namespace: &str,
    key: &str,
    entry: &hoard::Entry,
) -> Option<Py<PyAny>> {
    Python::attach(|py| {
        decode(py, serializer, front, namespace, key, &entry.value)
            .ok()
            .flatten()
            .map(Bound::unbind)
    })
}

/// The step a first answer leads to. A value here comes from another caller's
/// recomputation, which this caller can read.
fn step(
    begun: Begun,
    serializer: &Serializer,
    front: &Front,
    namespace: &str,
    key: &str,
) -> PyResult<Step> {
    match begun {
        Begun::Value(entry) => read(serializer, front, namespace, key, &entry)
            .map(Step::Found)
            .ok_or_else(|| hoard_error("the recomputed value does not read back")),
        Begun::Compute(ticket) => Ok(Step::Compute(ticket)),
        Begun::Failed(shared) => Err(shared_error(shared)),
        Begun::CachedError(message) => Err(hoard_error(message)),
    }
}

/// The exception of the computation a caller waited on: the very one its leader raised.
fn shared_error(shared: Arc<dyn std::any::Any + Send + Sync>) -> PyErr {
    match shared.downcast::<PyErr>() {
        Ok(error) => Python::attach(|py| error.clone_ref(py)),
        Err(_) => hoard_error("the computation this call waited on failed"),
    }
}

/// Where the first step of get-or-compute got to.
pub enum Step {
    /// The stored value.
    Found(Py<PyAny>),
    /// Nothing usable is stored: this caller computes.
    Compute(Box<hoard::ComputeTicket>),
}
