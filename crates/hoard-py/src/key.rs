//! Keys of `@hoard.cached` functions: `{name}:{hash}`, the hash being hoard's stable hash
//! (canonical JSON through BLAKE3, `hoard::stable_hash`) of the arguments. The same
//! arguments give the same key in every process and on every machine, whatever
//! `PYTHONHASHSEED` says.
//!
//! The canonical JSON is written straight from the Python objects into one buffer (no
//! `serde_json::Value` tree in between): hashing the arguments is on every call of a
//! cached function, hit or miss. [`_args_key_tree`] keeps the tree-building reference the
//! tests compare it with.

use crate::json::{py_to_json, Purpose};
use crate::value::type_name;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

/// How deep arguments may nest.
const MAX_DEPTH: usize = 64;

/// The key of one call. `skip` leading positional arguments are left out (`self`).
#[pyfunction]
#[pyo3(signature = (name, args, kwargs, skip = 0))]
pub fn _args_key(
    name: &str,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    skip: usize,
) -> PyResult<String> {
    let mut key = String::with_capacity(name.len() + 33);
    key.push_str(name);
    key.push(':');
    push_args_hash(&mut key, name, args, kwargs, skip)?;
    Ok(key)
}

/// Appends the hash of a call's arguments to `out`. `name` names the function in errors.
pub fn push_args_hash(
    out: &mut String,
    name: &str,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    skip: usize,
) -> PyResult<()> {
    let mut json = Vec::with_capacity(64);
    let kwargs = kwargs.filter(|k| !k.is_empty());
    // Positional arguments alone hash as a canonical JSON array (Rust's `#[cached]` hashed
    // them so before its keys moved to a binary stream, `v2`; the two never promised to
    // share entries, and Python keys stay as they were so stored entries still hit); with
    // keyword arguments, as `{"args": [...], "kwargs": {...}}`, an object, so that
    // `f(1, b=2)` and `f(1, {"b": 2})` never share a key.
    if kwargs.is_some() {
        json.extend_from_slice(br#"{"args":"#);
    }
    json.push(b'[');
    for (i, arg) in args.iter().enumerate().skip(skip) {
        if i > skip {
            json.push(b',');
        }
        write_canonical(&arg, &mut json, &|| format!("argument {i} of {name}"), 0)?;
    }
    json.push(b']');
    if let Some(kwargs) = kwargs {
        json.extend_from_slice(br#","kwargs":{"#);
        // Keyword names are always str in a call; sorted like any object's keys.
        let named: Vec<(Bound<'_, PyString>, Bound<'_, PyAny>)> = kwargs
            .iter()
            .map(|(arg_name, value)| Ok((arg_name.cast_into::<PyString>()?, value)))
            .collect::<PyResult<_>>()?;
        let mut sorted = Vec::with_capacity(named.len());
        for (arg_name, value) in &named {
            sorted.push((arg_name.to_str()?, value));
        }
        sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
        for (i, (arg_name, value)) in sorted.into_iter().enumerate() {
            if i > 0 {
                json.push(b',');
            }
            write_json(&mut json, arg_name);
            json.push(b':');
            write_canonical(
                value,
                &mut json,
                &|| format!("argument {arg_name} of {name}"),
                0,
            )?;
        }
        json.extend_from_slice(b"}}");
    }
    // Only serde_json's writers and ASCII punctuation went into the buffer.
    let text = std::str::from_utf8(&json)
        .map_err(|_| PyTypeError::new_err("a cache key argument is not valid UTF-8"))?;
    out.push_str(&hoard::hash_canonical_json(text));
    Ok(())
}

/// Writes `value` as canonical JSON: what `serde_json` writes for the tree
/// `json::py_to_json` builds, with object keys sorted.
fn write_canonical(
    value: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
    what: &dyn Fn() -> String,
    depth: usize,
) -> PyResult<()> {
    if depth > MAX_DEPTH {
        return Err(PyTypeError::new_err(format!(
            "{} is nested too deeply to be a cache key",
            what()
        )));
    }
    if value.is_none() {
        out.extend_from_slice(b"null");
    } else if let Ok(text) = value.cast::<PyString>() {
        write_json(out, text.to_str()?);
    } else if let Ok(flag) = value.cast::<PyBool>() {
        out.extend_from_slice(if flag.is_true() { b"true" } else { b"false" });
    } else if let Ok(number) = value.cast::<PyInt>() {
        if let Ok(i) = number.extract::<i64>() {
            write_json(out, &i);
        } else if let Ok(u) = number.extract::<u64>() {
            write_json(out, &u);
        } else {
            // Larger integers hash by their digits, tagged so they never equal a string.
            write_tagged(out, "$int", number.str()?.to_str()?);
        }
    } else if let Ok(number) = value.cast::<PyFloat>() {
        let f = number.value();
        if f.is_finite() {
            write_json(out, &f);
        } else {
            write_tagged(out, "$float", &format!("{f}"));
        }
    } else if let Ok(list) = value.cast::<PyList>() {
        out.push(b'[');
        for (i, item) in list.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_canonical(&item, out, what, depth + 1)?;
        }
        out.push(b']');
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        out.push(b'[');
        for (i, item) in tuple.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_canonical(&item, out, what, depth + 1)?;
        }
        out.push(b']');
    } else if let Ok(dict) = value.cast::<PyDict>() {
        write_dict(dict, out, what, depth)?;
    } else {
        return Err(unhashable(value, what));
    }
    Ok(())
}

/// A dict as a JSON object, its keys sorted by their UTF-8 bytes.
fn write_dict(
    dict: &Bound<'_, PyDict>,
    out: &mut Vec<u8>,
    what: &dyn Fn() -> String,
    depth: usize,
) -> PyResult<()> {
    let mut entries = Vec::with_capacity(dict.len());
    for (name, item) in dict.iter() {
        let name = name.cast_into::<PyString>().map_err(|e| {
            // Other key types would collide with their string forms ({1: x} and {"1": x}).
            PyTypeError::new_err(format!(
                "{} is a dict with a {} key: cache keys take dicts with str keys",
                what(),
                type_name(e.into_inner().as_any())
            ))
        })?;
        entries.push((name, item));
    }
    let mut texts = Vec::with_capacity(entries.len());
    for (name, item) in &entries {
        texts.push((name.to_str()?, item));
    }
    texts.sort_unstable_by(|a, b| a.0.cmp(b.0));
    out.push(b'{');
    for (i, (name, item)) in texts.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json(out, name);
        out.push(b':');
        write_canonical(item, out, what, depth + 1)?;
    }
    out.push(b'}');
    Ok(())
}

/// `{"$tag":"text"}`: a value JSON has no form for, kept apart from every string.
fn write_tagged(out: &mut Vec<u8>, tag: &str, text: &str) {
    out.push(b'{');
    write_json(out, tag);
    out.push(b':');
    write_json(out, text);
    out.push(b'}');
}

/// A scalar in serde_json's own form (its string escapes, its integer and float digits).
fn write_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing a str or a number into a Vec cannot fail.
    let _ = serde_json::to_writer(out, value);
}

fn unhashable(value: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyErr {
    PyTypeError::new_err(format!(
        "{} is a {}, which hoard cannot hash into a cache key: pass key=... to the \
         decorator (a format string such as \"{{user_id}}\" or a function of the \
         arguments)",
        what(),
        type_name(value)
    ))
}

/// The key of one call, built through a `serde_json::Value` tree and `hoard::stable_hash`:
/// the reference the tests check [`_args_key`] against.
#[pyfunction]
#[pyo3(signature = (name, args, kwargs, skip = 0))]
pub fn _args_key_tree(
    name: &str,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
    skip: usize,
) -> PyResult<String> {
    let mut positional = Vec::with_capacity(args.len());
    for (i, arg) in args.iter().enumerate().skip(skip) {
        positional.push(py_to_json(
            &arg,
            Purpose::Key(&|| format!("argument {i} of {name}")),
        )?);
    }
    let described = match kwargs.filter(|k| !k.is_empty()) {
        None => Value::Array(positional),
        Some(kwargs) => {
            let mut named = serde_json::Map::new();
            for (arg_name, value) in kwargs.iter() {
                let arg_name: String = arg_name.extract()?;
                let value = py_to_json(
                    &value,
                    Purpose::Key(&|| format!("argument {arg_name} of {name}")),
                )?;
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
