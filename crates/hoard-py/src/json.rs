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

/// What a JSON tree made from Python is for, which decides what happens to a value JSON
/// has no form for (an integer past 64 bits, a NaN, an unsupported type).
#[derive(Clone, Copy)]
pub enum Purpose<'a> {
    /// A value to store (the semantic cache's answers): refused with `TypeError`; the text
    /// names the value.
    Store(&'a str),
    /// An argument hashed into a key: large integers and non-finite floats are tagged
    /// (`{"$int": digits}`), other types refused; the function names the argument.
    Key(&'a dyn Fn() -> String),
}

/// Why a value was refused.
enum Refusal<'t> {
    TooDeep,
    DictKey(&'t str),
    Unsupported(&'t str),
    BigInt(String),
    NonFinite(f64),
}

impl Purpose<'_> {
    fn refuse(&self, why: Refusal<'_>) -> PyErr {
        PyTypeError::new_err(match (self, why) {
            (Purpose::Store(what), Refusal::TooDeep) => format!("{what}: nested more than 64 deep"),
            (Purpose::Store(what), Refusal::DictKey(t)) => {
                format!("{what}: a dict with a {t} key (JSON keys are str)")
            }
            (Purpose::Store(what), Refusal::Unsupported(t)) => {
                format!("{what}: a {t} is not JSON (the semantic cache stores JSON values)")
            }
            (Purpose::Store(what), Refusal::BigInt(n)) => {
                format!("{what}: the integer {n} does not fit in 64 bits")
            }
            (Purpose::Store(what), Refusal::NonFinite(f)) => {
                format!("{what}: {f} has no JSON form")
            }
            // The same words as the streamed key hash (`key.rs`), which tests compare.
            (Purpose::Key(what), Refusal::DictKey(t)) => format!(
                "{} is a dict with a {t} key: cache keys take dicts with str keys",
                what()
            ),
            (Purpose::Key(what), Refusal::Unsupported(t)) => format!(
                "{} is a {t}, which hoard cannot hash into a cache key: pass key=... to the \
                 decorator (a format string such as \"{{user_id}}\" or a function of the \
                 arguments)",
                what()
            ),
            (Purpose::Key(what), _) => format!("{} is nested too deeply to be a cache key", what()),
        })
    }
}

/// A Python value as a JSON tree: `None`, `bool`, `int`, `float`, `str`, lists, tuples and
/// dicts with `str` keys (other key types would collide with their string forms, `{1: x}`
/// and `{"1": x}`); see [`Purpose`] for the rest.
pub fn py_to_json(value: &Bound<'_, PyAny>, purpose: Purpose<'_>) -> PyResult<Value> {
    py_to_json_at(value, purpose, 0)
}

fn py_to_json_at(value: &Bound<'_, PyAny>, purpose: Purpose<'_>, depth: usize) -> PyResult<Value> {
    if depth > 64 {
        return Err(purpose.refuse(Refusal::TooDeep));
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
        } else if let Purpose::Key(_) = purpose {
            // Larger integers hash by their digits, tagged so they never equal a string.
            tagged("$int", number.str()?.to_str()?)
        } else {
            return Err(purpose.refuse(Refusal::BigInt(number.to_string())));
        }
    } else if let Ok(number) = value.cast::<PyFloat>() {
        let f = number.value();
        match (serde_json::Number::from_f64(f), purpose) {
            (Some(n), _) => Value::Number(n),
            (None, Purpose::Key(_)) => tagged("$float", &format!("{f}")),
            (None, Purpose::Store(_)) => return Err(purpose.refuse(Refusal::NonFinite(f))),
        }
    } else if let Ok(list) = value.cast::<PyList>() {
        Value::Array(
            list.iter()
                .map(|v| py_to_json_at(&v, purpose, depth + 1))
                .collect::<PyResult<_>>()?,
        )
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        Value::Array(
            tuple
                .iter()
                .map(|v| py_to_json_at(&v, purpose, depth + 1))
                .collect::<PyResult<_>>()?,
        )
    } else if let Ok(dict) = value.cast::<PyDict>() {
        let mut map = serde_json::Map::new();
        for (name, item) in dict.iter() {
            let name = name
                .cast::<PyString>()
                .map_err(|_| purpose.refuse(Refusal::DictKey(&type_name(&name))))?;
            map.insert(
                name.to_str()?.to_owned(),
                py_to_json_at(&item, purpose, depth + 1)?,
            );
        }
        Value::Object(map)
    } else {
        return Err(purpose.refuse(Refusal::Unsupported(&type_name(value))));
    })
}

/// `{"$tag": text}`: a value JSON has no form for, kept apart from every string.
fn tagged(tag: &str, text: &str) -> Value {
    let mut map = serde_json::Map::new();
    map.insert(tag.to_owned(), Value::String(text.to_owned()));
    Value::Object(map)
}
