//! Keys of `@hoard.cached` functions: `{name}:{hash}`, the hash being hoard's stable hash
//! (canonical JSON through BLAKE3, `hoard::stable_hash`) of the arguments as one array,
//! with keyword arguments as a trailing object. The same arguments give the same key in
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
    let mut parts = Vec::with_capacity(args.len() + 1);
    for (i, arg) in args.iter().enumerate().skip(skip) {
        parts.push(py_to_json(&arg, &|| format!("argument {i} of {name}"))?);
    }
    if let Some(kwargs) = kwargs.filter(|k| !k.is_empty()) {
        let mut map = serde_json::Map::new();
        for (arg_name, value) in kwargs.iter() {
            let arg_name: String = arg_name.extract()?;
            let described = py_to_json(&value, &|| format!("argument {arg_name} of {name}"))?;
            map.insert(arg_name, described);
        }
        parts.push(Value::Object(map));
    }
    let hash = hoard::stable_hash(&Value::Array(parts)).map_err(crate::errors::to_py)?;
    Ok(format!("{name}:{hash}"))
}
