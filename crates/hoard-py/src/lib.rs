//! The `hoard` Python package's native module, `hoard._hoard`.
//!
//! | module | what |
//! |---|---|
//! | `cache` | `hoard.Cache`: opening (lazily, again after a fork) and every operation |
//! | `compute` | get-or-compute: `Cache._begin` and the `Ticket` a computing caller holds |
//! | `bridge` | running hoard futures from blocking calls and as awaitables; fork hook |
//! | `front` | decoded objects of recent hits, reused while L1 holds the same bytes |
//! | `value` | Python values to hoard's MessagePack and back |
//! | `serializer` | MessagePack, or signed pickle |
//! | `json` | JSON trees for stats (and the reference key hashing) |
//! | `key` | the keys of `@hoard.cached` functions |
//! | `memo` | the call of a synchronous `@hoard.cached` function; the default cache |
//! | `semantic` | `hoard.SemanticCache`: lookups by meaning, the model loaded per process |
//! | `options` | TTLs, sizes and string lists as Python users write them |
//! | `errors` | hoard's errors as the package's exceptions |
//!
//! The Python side (`python/hoard/`) holds the decorators, `hoard.once`/`ModelPool` and
//! the exception classes.

mod begin;
mod bridge;
mod cache;
mod compute;
mod errors;
mod front;
mod json;
mod key;
mod memo;
mod options;
mod semantic;
mod serializer;
mod value;

use pyo3::prelude::*;

#[pymodule]
fn _hoard(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<cache::PyCache>()?;
    module.add_class::<compute::Ticket>()?;
    module.add_class::<semantic::PySemantic>()?;
    module.add_class::<bridge::Ready>()?;
    module.add_class::<bridge::Reactor>()?;
    module.add_class::<memo::Memo>()?;
    module.add_function(wrap_pyfunction!(memo::_set_default_cache, module)?)?;
    module.add_function(wrap_pyfunction!(memo::_default_cache, module)?)?;
    module.add_function(wrap_pyfunction!(bridge::_after_fork_in_child, module)?)?;
    module.add_function(wrap_pyfunction!(key::_args_key, module)?)?;
    module.add_function(wrap_pyfunction!(key::_args_key_tree, module)?)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    // Whether this build runs local models (the `semantic-local` feature).
    module.add("_LOCAL_MODELS", cfg!(feature = "semantic-local"))?;
    Ok(())
}
