//! The call of a synchronous `@hoard.cached` function, in Rust: hash the arguments, look
//! the key up, and on a miss call the function and store its result, with the same
//! single-flight and leases as `Cache.get_or_compute`.
//!
//! A hit is the path every cached function lives on, so it runs here in one native call
//! instead of through Python's `get_or_compute` (options dict, lambda, ticket). The
//! `Memo` is itself what `@hoard.cached` returns for such a function: callable, with the
//! function's metadata copied onto it (`functools.update_wrapper`, so `inspect.signature`
//! and FastAPI see the original), bound as a method by `__get__`, and pickled by its
//! qualified name as functions are. No Python frame runs between the caller and the
//! lookup. Functions with a `key=` or callable `tags=` keep the Python path
//! (`hoard/_cached.py`), which also covers `async def`.

use crate::begin::{begin, begin_l1, recompute, L1Step, Step};
use crate::bridge;
use crate::cache::PyCache;
use crate::compute::{compute_options, fail, store};
use crate::key::push_args_hash;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyInt, PyString, PyTuple};
use pyo3::{PyTraverseError, PyVisit};
use std::sync::Mutex;

/// `types.MethodType`, which binds a callable to an instance.
fn method_type(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static METHOD_TYPE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    METHOD_TYPE.import(py, "types", "MethodType")
}

/// The cache of `@hoard.cached` functions that name none (`hoard.set_default_cache`).
static DEFAULT_CACHE: Mutex<Option<Py<PyCache>>> = Mutex::new(None);

/// Makes `cache` the default of cached functions that name none.
#[pyfunction]
pub fn _set_default_cache(cache: Py<PyCache>) {
    let previous = DEFAULT_CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(cache);
    // Dropped after the lock is released: dropping may run Python code (a finalizer),
    // which may switch threads or ask for the default cache itself.
    drop(previous);
}

/// The default cache, if one was set or made.
#[pyfunction]
pub fn _default_cache(py: Python<'_>) -> Option<Py<PyCache>> {
    DEFAULT_CACHE
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .map(|cache| cache.clone_ref(py))
}

/// Argument tuples whose keys a cached function remembers before starting over.
const REMEMBERED_KEYS: usize = 4096;
/// Characters of `str` arguments, all together, in a call whose key is remembered.
const MAX_REMEMBERED_TEXT: usize = 256;

/// What a cached function remembers of a call's key.
enum Remembered<'py> {
    /// The key of these very arguments.
    Found(Bound<'py, PyString>),
    /// Nothing yet for these arguments (the tuple to remember it under).
    Absent(Bound<'py, PyTuple>),
    /// Arguments whose Python equality is not the key's: always hashed.
    NotPlain,
}

/// One synchronous cached function.
#[pyclass(module = "hoard._hoard", frozen, dict, weakref)]
pub struct Memo {
    function: Py<PyAny>,
    name: String,
    namespace: String,
    /// Leading positional arguments left out of the key (`self`).
    skip: usize,
    /// The cache named in the decorator; `None` for the default one.
    cache: Option<Py<PyCache>>,
    /// The Python call path, for a call that finds no default cache made yet.
    slow: Py<PyAny>,
    /// The options as given, for those that depend on the cache (an adaptive TTL's cap).
    given: GivenOptions,
    /// Built once when they do not depend on the cache: (normal, `use_cache=False`).
    prebuilt: Option<(hoard::ComputeOptions, hoard::ComputeOptions)>,
    cache_none: bool,
    /// The function declares `use_cache` itself (a FastAPI query parameter): pass it on.
    takes_use_cache: bool,
    /// Full keys of recent calls by their arguments (see [`Memo::remembered_key`]):
    /// hashing the arguments costs more than the rest of a hit.
    keys: Py<PyDict>,
}

/// The decorator's get-or-compute options, as Python objects.
struct GivenOptions {
    ttl: Option<Py<PyAny>>,
    tags: Option<Py<PyAny>>,
    early_refresh: Option<f64>,
    adaptive_ttl: Option<f64>,
    adaptive_max: Option<Py<PyAny>>,
}

impl GivenOptions {
    fn build(
        &self,
        py: Python<'_>,
        use_cache: bool,
        default_ttl: std::time::Duration,
    ) -> PyResult<hoard::ComputeOptions> {
        compute_options(
            self.ttl.as_ref().map(|v| v.bind(py)),
            self.tags.as_ref().map(|v| v.bind(py)),
            self.early_refresh,
            self.adaptive_ttl,
            self.adaptive_max.as_ref().map(|v| v.bind(py)),
            use_cache,
            default_ttl,
        )
    }
}

impl Memo {
    /// The cache this call uses, if there is one yet.
    fn target<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyCache>> {
        match &self.cache {
            Some(cache) => Some(cache.bind(py).clone()),
            None => _default_cache(py).map(|cache| cache.into_bound(py)),
        }
    }

    /// `{namespace}:{name}:{hash of the arguments}`.
    fn full_key(
        &self,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let mut full = String::with_capacity(self.namespace.len() + self.name.len() + 34);
        full.push_str(&self.namespace);
        full.push(':');
        full.push_str(&self.name);
        full.push(':');
        push_args_hash(&mut full, &self.name, args, kwargs, self.skip)?;
        Ok(full)
    }

    /// The key of a recent call with the same arguments, when they are plain enough for
    /// Python's own equality to be the key's: positional only, each an exact `str`, an
    /// exact `int` (not `bool`: `True == 1`, yet they hash to different keys) or `None`.
    fn remembered_key<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        positional_only: bool,
    ) -> PyResult<Remembered<'py>> {
        if !positional_only || args.len() <= self.skip {
            return Ok(Remembered::NotPlain);
        }
        let arguments = if self.skip == 0 {
            args.clone()
        } else {
            args.get_slice(self.skip, args.len())
        };
        // Small ones only: a remembered tuple keeps its arguments alive.
        let mut text = 0;
        let plain = arguments.iter().all(|arg| {
            if let Ok(s) = arg.cast_exact::<PyString>() {
                text += s.len().unwrap_or(usize::MAX);
                text <= MAX_REMEMBERED_TEXT
            } else if arg.is_exact_instance_of::<PyInt>() {
                arg.extract::<i64>().is_ok()
            } else {
                arg.is_none()
            }
        });
        if !plain {
            return Ok(Remembered::NotPlain);
        }
        match self.keys.bind(py).get_item(&arguments)? {
            Some(key) => Ok(Remembered::Found(key.cast_into::<PyString>()?)),
            None => Ok(Remembered::Absent(arguments)),
        }
    }

    fn remember_key(
        &self,
        py: Python<'_>,
        arguments: Bound<'_, PyTuple>,
        full: &str,
    ) -> PyResult<()> {
        let keys = self.keys.bind(py);
        if keys.len() >= REMEMBERED_KEYS {
            keys.clear();
        }
        keys.set_item(arguments, full)
    }

    /// `(use_cache, kwargs for the key, kwargs for the call)`.
    #[allow(clippy::type_complexity)]
    fn split<'py>(
        &self,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<(bool, Option<Bound<'py, PyDict>>, Option<Bound<'py, PyDict>>)> {
        let Some(kwargs) = kwargs.filter(|k| !k.is_empty()) else {
            return Ok((true, None, None));
        };
        let Some(flag) = kwargs.get_item("use_cache")? else {
            return Ok((true, Some(kwargs.clone()), Some(kwargs.clone())));
        };
        let use_cache = flag.is_truthy()?;
        let rest = kwargs.copy()?;
        rest.del_item("use_cache")?;
        let call = if self.takes_use_cache {
            kwargs.clone()
        } else {
            rest.clone()
        };
        Ok((use_cache, Some(rest), Some(call)))
    }
}

#[pymethods]
impl Memo {
    #[new]
    #[pyo3(signature = (function, name, namespace, slow, *, cache = None, skip = 0, ttl = None, tags = None, early_refresh = None, adaptive_ttl = None, adaptive_max = None, cache_none = true, takes_use_cache = false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        function: Py<PyAny>,
        name: String,
        namespace: String,
        slow: Py<PyAny>,
        cache: Option<Py<PyCache>>,
        skip: usize,
        ttl: Option<Py<PyAny>>,
        tags: Option<Py<PyAny>>,
        early_refresh: Option<f64>,
        adaptive_ttl: Option<f64>,
        adaptive_max: Option<Py<PyAny>>,
        cache_none: bool,
        takes_use_cache: bool,
    ) -> PyResult<Memo> {
        let given = GivenOptions {
            ttl,
            tags,
            early_refresh,
            adaptive_ttl,
            adaptive_max,
        };
        // Built now so bad options fail at decoration, not on the first call. Only an
        // adaptive TTL's cap depends on the cache (its default TTL).
        let some_ttl = hoard::ttl::LONG;
        let normal = given.build(py, true, some_ttl)?;
        let prebuilt = match given.adaptive_ttl {
            None => Some((normal, given.build(py, false, some_ttl)?)),
            Some(_) => None,
        };
        Ok(Memo {
            function,
            name,
            namespace,
            skip,
            cache,
            slow,
            given,
            prebuilt,
            cache_none,
            takes_use_cache,
            keys: PyDict::new(py).unbind(),
        })
    }

    /// What this object holds, for Python's cycle collector: a cached function defined
    /// in a factory refers to itself through its wrapper, and that cycle runs through here.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.function)?;
        visit.call(&self.slow)?;
        visit.call(&self.keys)?;
        if let Some(cache) = &self.cache {
            visit.call(cache)?;
        }
        for held in [&self.given.ttl, &self.given.tags, &self.given.adaptive_max]
            .into_iter()
            .flatten()
        {
            visit.call(held)?;
        }
        Ok(())
    }

    /// `f(*args, **kwargs)`: the call through the cache.
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.call(py, args, kwargs)
    }

    /// Bound to an instance when read from one, as a function is.
    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        instance: Option<&Bound<'py, PyAny>>,
        _owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        match instance.filter(|i| !i.is_none()) {
            Some(instance) => method_type(py)?.call1((slf, instance)),
            None => Ok(slf.clone().into_any()),
        }
    }

    /// Pickled by reference, as functions are: the qualified name, which `pickle` looks up
    /// in `__module__` (so `multiprocessing` can hand the function to a worker).
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.getattr("__qualname__")
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let name = slf.getattr("__qualname__")?;
        Ok(format!("<hoard.cached function {name}>"))
    }
}

impl Memo {
    /// Calls the function through the cache, as `f(*args, **kwargs)`.
    fn call<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let Some(target) = self.target(py) else {
            // The default cache is made (once) on the Python side.
            return self.slow.bind(py).call1((args, kwargs));
        };
        let owner = target.get();
        let (use_cache, key_kwargs, call_kwargs) = self.split(kwargs)?;
        let remembered;
        let computed;
        let full: &str = match self.remembered_key(py, args, key_kwargs.is_none())? {
            Remembered::Found(key) => {
                remembered = key;
                remembered.to_str()?
            }
            found => {
                computed = self.full_key(args, key_kwargs.as_ref())?;
                if let Remembered::Absent(arguments) = found {
                    self.remember_key(py, arguments, &computed)?;
                }
                &computed
            }
        };
        let key = &full[self.namespace.len() + 1..];
        let built;
        let options = match &self.prebuilt {
            Some((normal, bypass)) => {
                if use_cache {
                    normal
                } else {
                    bypass
                }
            }
            None => {
                built = self
                    .given
                    .build(py, use_cache, owner.default_ttl_duration())?;
                &built
            }
        };
        let cache = owner.cache_ref()?;
        let serializer = owner.serializer();
        let (front, namespace) = (owner.front(), self.namespace.as_str());
        let step = match begin_l1(py, &cache, &serializer, front, namespace, key, options)? {
            L1Step::Found(value) => return Ok(value.into_bound(py)),
            L1Step::Unreadable => bridge::wait(
                py,
                recompute(&cache, &serializer, front, namespace, key, options),
            )??,
            L1Step::Absent => bridge::wait(
                py,
                begin(&cache, &serializer, front, namespace, key, options),
            )??,
        };
        let ticket = match step {
            Step::Found(value) => return Ok(value.into_bound(py)),
            Step::Compute(ticket) => ticket,
        };
        let value = match self.function.bind(py).call(args, call_kwargs.as_ref()) {
            Ok(value) => value,
            Err(error) => {
                fail(ticket, error.clone_ref(py));
                return Err(error);
            }
        };
        if value.is_none() && !self.cache_none {
            // Dropping the ticket gives the duty back: the waiters compute themselves.
            return Ok(value);
        }
        let stored = store(ticket, &serializer, &value, full)?;
        bridge::wait(py, stored)?;
        Ok(value)
    }
}
