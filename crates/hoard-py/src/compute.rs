//! Get-or-compute from Python: `Cache._begin` finds a value or hands out a [`Ticket`];
//! the caller computes (a def, or an awaited coroutine) and stores through the ticket.
//! Single-flight within the process and leases across processes on Redis are the Rust
//! cache's (`hoard::Cache::begin_compute`): the Python side only computes.

use crate::bridge;
use crate::errors::{hoard_error, invalid_input};
use crate::options::{opt_duration, strings};
use crate::serializer::Serializer;
use pyo3::prelude::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest an adaptive TTL grows to unless `adaptive_max` says otherwise.
const DEFAULT_ADAPTIVE_MAX: Duration = Duration::from_secs(24 * 3600);

/// Compute options from the keyword arguments of `_begin`.
pub fn compute_options(
    ttl: Option<&Bound<'_, PyAny>>,
    tags: Option<&Bound<'_, PyAny>>,
    early_refresh: Option<f64>,
    adaptive_ttl: Option<f64>,
    adaptive_max: Option<&Bound<'_, PyAny>>,
    use_cache: bool,
    default_ttl: Duration,
) -> PyResult<hoard::ComputeOptions> {
    let mut options = hoard::ComputeOptions::new().bypass(!use_cache);
    let ttl = opt_duration(ttl, "ttl")?;
    if let Some(ttl) = ttl {
        options = options.ttl(ttl);
    }
    let tags = strings(tags, "tags")?;
    if !tags.is_empty() {
        options = options.tags(tags);
    }
    if let Some(beta) = early_refresh {
        if !beta.is_finite() || beta <= 0.0 {
            return Err(invalid_input(format!(
                "early_refresh: a positive factor (1.0 is XFetch's default), got {beta}"
            )));
        }
        options = options.early_refresh(beta);
    }
    if let Some(multiplier) = adaptive_ttl {
        if !multiplier.is_finite() || multiplier <= 0.0 {
            return Err(invalid_input(format!(
                "adaptive_ttl: growth per hit as a fraction of the TTL (such as 0.1), got {multiplier}"
            )));
        }
        let max = opt_duration(adaptive_max, "adaptive_max")?
            .unwrap_or(DEFAULT_ADAPTIVE_MAX)
            .max(ttl.unwrap_or(default_ttl));
        options = options.adaptive_ttl(hoard::AdaptiveTtl { multiplier, max });
    }
    Ok(options)
}

/// Storing a computed value through its ticket: the future answers whether it was stored
/// (a failed write is logged by the cache and the value is still returned to the caller).
/// A value that cannot be serialized drops the ticket (the waiters compute themselves)
/// and raises here, so this caller hears why.
pub fn store(
    ticket: Box<hoard::ComputeTicket>,
    serializer: &Serializer,
    value: &Bound<'_, PyAny>,
    full_key: &str,
) -> PyResult<impl std::future::Future<Output = bool> + Send + 'static> {
    let bytes = serializer.dumps(value, full_key)?;
    Ok(async move { ticket.store(bytes).await.is_some() })
}

/// Reports that the computation raised `error`: the callers waiting on the key raise it
/// too, and nothing is cached.
pub fn fail(ticket: Box<hoard::ComputeTicket>, error: PyErr) {
    let shared = Arc::new(error);
    // Releasing the lease is I/O; nobody needs to wait for it.
    drop(hoard::runtime::spawn(
        async move { ticket.fail(shared).await },
    ));
}

/// The duty to compute one key: call `store(value)` (or `await astore(value)`) with the
/// result, or `fail(exception)`; the callers waiting on this key get the same.
#[pyclass(module = "hoard._hoard", frozen)]
pub struct Ticket {
    ticket: Mutex<Option<Box<hoard::ComputeTicket>>>,
    serializer: Arc<Serializer>,
    full_key: String,
}

impl Ticket {
    /// Wraps a ticket of the Rust cache.
    pub fn new(
        ticket: Box<hoard::ComputeTicket>,
        serializer: Arc<Serializer>,
        full_key: String,
    ) -> Ticket {
        Ticket {
            ticket: Mutex::new(Some(ticket)),
            serializer,
            full_key,
        }
    }

    fn take(&self) -> PyResult<Box<hoard::ComputeTicket>> {
        self.ticket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .ok_or_else(|| hoard_error("this ticket was already used"))
    }

    fn store_impl<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
        is_async: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let ticket = self.take()?;
        let future = store(ticket, &self.serializer, value, &self.full_key)?;
        if is_async {
            bridge::awaitable(py, future, |py, stored| {
                Ok(stored.into_pyobject(py)?.to_owned().into_any().unbind())
            })
        } else {
            let stored = bridge::wait(py, future)?;
            Ok(stored.into_pyobject(py)?.to_owned().into_any())
        }
    }
}

#[pymethods]
impl Ticket {
    /// Stores the computed value for everyone; `False` if storing failed (logged).
    fn store<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store_impl(py, value, false)
    }

    /// The awaitable form of `store`.
    fn astore<'py>(
        &self,
        py: Python<'py>,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.store_impl(py, value, true)
    }

    /// Reports that the computation raised `error`: the waiters raise it too. Nothing is
    /// cached.
    fn fail(&self, error: Bound<'_, PyAny>) -> PyResult<()> {
        fail(self.take()?, PyErr::from_value(error));
        Ok(())
    }

    /// Gives the duty back without a value (the waiters compute themselves).
    fn abandon(&self) {
        drop(self.ticket.lock().unwrap_or_else(|p| p.into_inner()).take());
    }
}
