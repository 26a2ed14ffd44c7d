//! JSON trees (`serde_json::Value`) to Python and back: stats, and the arguments that
//! `@hoard.cached` hashes into keys.

use crate::value::type_name;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

/// A JSON tree as Python objects.
pub fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (name, item) in map {
                dict.set_item(name, json_to_py(py, item)?)?;
            }
            dict.into_any()
        }
    })
}

/// A Python value as the JSON value it is (what the semantic cache stores): `None`,
/// `bool`, `int` within 64 bits, finite `float`, `str`, lists, tuples and dicts with `str`
/// keys. Anything else raises `TypeError` naming the type; `what` names the value.
pub fn py_to_value(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Value> {
    py_to_value_at(value, what, 0)
}

fn py_to_value_at(value: &Bound<'_, PyAny>, what: &str, depth: usize) -> PyResult<Value> {
    let refuse = |why: String| PyTypeError::new_err(format!("{what}: {why}"));
    if depth > 64 {
        return Err(refuse("nested more than 64 deep".into()));
    }
    Ok(if value.is_none() {
        Value::Null
    } else if let Ok(text) = value.cast::<PyString>() {
        Value::String(text.to_str()?.to_owned())
    } else if let Ok(flag) = value.cast::<PyBool>() {
        Value::Bool(flag.is_true())
    } else if let Ok(number) = value.cast::<PyInt>() {
        if let Ok(i) = number.extract::<i64>() {
            Value::from(i)
        } else if let Ok(u) = number.extract::<u64>() {
            Value::from(u)
        } else {
            return Err(refuse(format!(
                "the integer {number} does not fit in 64 bits"
            )));
        }
    } else if let Ok(number) = value.cast::<PyFloat>() {
        let f = number.value();
        Value::Number(
            serde_json::Number::from_f64(f)
                .ok_or_else(|| refuse(format!("{f} has no JSON form")))?,
        )
    } else if let Ok(list) = value.cast::<PyList>() {
        Value::Array(
            list.iter()
                .map(|v| py_to_value_at(&v, what, depth + 1))
                .collect::<PyResult<_>>()?,
        )
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        Value::Array(
            tuple
                .iter()
                .map(|v| py_to_value_at(&v, what, depth + 1))
                .collect::<PyResult<_>>()?,
        )
    } else if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (name, item) in dict.iter() {
            let name = name.cast::<PyString>().map_err(|_| {
                refuse(format!(
                    "a dict with a {} key (JSON keys are str)",
                    type_name(&name)
                ))
            })?;
            map.insert(
                name.to_str()?.to_owned(),
                py_to_value_at(&item, what, depth + 1)?,
            );
        }
        Value::Object(map)
    } else {
        return Err(refuse(format!(
            "a {} is not JSON (the semantic cache stores JSON values)",
            type_name(value)
        )));
    })
}

/// A Python value as a JSON tree, for hashing into a key. `what` names it in errors.
pub fn py_to_json(value: &Bound<'_, PyAny>, what: &dyn Fn() -> String) -> PyResult<Value> {
    py_to_json_at(value, what, 0)
}

fn py_to_json_at(
    value: &Bound<'_, PyAny>,
    what: &dyn Fn() -> String,
    depth: usize,
) -> PyResult<Value> {
    if depth > 64 {
        return Err(PyTypeError::new_err(format!(
            "{} is nested too deeply to be a cache key",
            what()
        )));
    }
    Ok(if value.is_none() {
        Value::Null
    } else if let Ok(text) = value.cast::<PyString>() {
        Value::String(text.to_str()?.to_owned())
    } else if let Ok(flag) = value.cast::<PyBool>() {
        Value::Bool(flag.is_true())
    } else if let Ok(number) = value.cast::<PyInt>() {
        if let Ok(i) = number.extract::<i64>() {
            Value::from(i)
        } else if let Ok(u) = number.extract::<u64>() {
            Value::from(u)
        } else {
            // Larger integers hash by their digits, tagged so they never equal a string.
            tagged("$int", number.str()?.to_str()?)
        }
    } else if let Ok(number) = value.cast::<PyFloat>() {
        let f = number.value();
        match serde_json::Number::from_f64(f) {
            Some(n) => Value::Number(n),
            None => tagged("$float", &format!("{f}")),
        }
    } else if let Ok(list) = value.cast::<PyList>() {
        Value::Array(
            list.iter()
                .map(|v| py_to_json_at(&v, what, depth + 1))
                .collect::<PyResult<_>>()?,
        )
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        Value::Array(
            tuple
                .iter()
                .map(|v| py_to_json_at(&v, what, depth + 1))
                .collect::<PyResult<_>>()?,
        )
    } else if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (name, item) in dict.iter() {
            // Other key types would collide with their string forms ({1: x} and {"1": x}).
            let name = name
                .cast::<PyString>()
                .map_err(|_| {
                    PyTypeError::new_err(format!(
                        "{} is a dict with a {} key: cache keys take dicts with str keys",
                        what(),
                        type_name(&name)
                    ))
                })?
                .to_str()?
                .to_owned();
            map.insert(name, py_to_json_at(&item, what, depth + 1)?);
        }
        Value::Object(map)
    } else {
        return Err(PyTypeError::new_err(format!(
            "{} is a {}, which hoard cannot hash into a cache key: pass key=... to the \
             decorator (a format string such as \"{{user_id}}\" or a function of the \
             arguments)",
            what(),
            type_name(value)
        )));
    })
}

/// `{"$tag": text}`: a value JSON has no form for, kept apart from every string.
fn tagged(tag: &str, text: &str) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(tag.to_owned(), Value::String(text.to_owned()));
    Value::Object(map)
}
