//! Keys of `@hoard.cached` functions: `{name}:{hash}`, the hash being hoard's stable hash
//! (canonical JSON through BLAKE3, `hoard::stable_hash`) of the arguments. The same arguments give the same key in
//! every process and on every machine, whatever `PYTHONHASHSEED` says.

use crate::json::py_to_json;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use serde_json::Value;

/// The key of one call. `skip` leading positional arguments are left out (`self`).
#[pyfunction]
#[pyo3(signature = (name, args, kwargs, skip = 0))]
pub fn _args_key(
    name: &str,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    skip: usize,
) -> PyResult<String> {
    let mut positional = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate().skip(skip) {
        positional.push(py_to_json(&arg, &|| format!("argument {i} of {name}"))?);
    }
    // Positional arguments alone hash as an array (as `#[cached]` in Rust does); with
    // keyword arguments, as `{"args": [...], "kwargs": {...}}`, an object, so that
    // `f(1, b=2)` and `f(1, {"b": 2})` never share a key.
    let described = match kwargs.filter(|k| !k.is_empty()) {
        None => Value::Array(positional),
        Some(kwargs) => {
            let mut named = serde_json::Map::new();
            for (arg_name, value) in kwargs.iter() {
                let arg_name: String = arg_name.extract()?;
                let value = py_to_json(&value, &|| format!("argument {arg_name} of {name}"))?;
                named.insert(arg_name, value);
            }
            let mut call = serde_json::Map::new();
            call.insert("args".to_owned(), Value::Array(positional));
            call.insert("kwargs".to_owned(), Value::Object(named));
            Value::Object(call)
        }
    };
    let hash = hoard::stable_hash(&described).map_err(crate::errors::to_py)?;
    Ok(format!("{name}:{hash}"))
}
