//! Arguments as Python users write them: TTLs as `"1h"`, seconds or `timedelta`; sizes
//! as `"256MiB"` or bytes.

use crate::errors::invalid_input;
use pyo3::prelude::*;
use pyo3::types::{PyDelta, PyString};
use std::time::Duration;

/// A TTL: `"1h30m"`, seconds (int or float, more than 0), or a `datetime.timedelta`.
pub fn duration(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Duration> {
    let seconds = if let Ok(text) = value.cast::<PyString>() {
        return hoard::ttl::parse_duration(text.to_str()?)
            .map_err(|e| invalid_input(format!("{what}: {e}")));
    } else if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(invalid_input(format!(
            "{what}: expected seconds, a duration such as \"1h\", or a timedelta, got a bool"
        )));
    } else if let Ok(delta) = value.cast::<PyDelta>() {
        delta.call_method0("total_seconds")?.extract::<f64>()?
    } else if let Ok(seconds) = value.extract::<f64>() {
        seconds
    } else {
        return Err(invalid_input(format!(
            "{what}: expected seconds, a duration such as \"1h\", or a timedelta, got {}",
            crate::value::type_name(value)
        )));
    };
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(invalid_input(format!(
            "{what}: must be more than 0 seconds, got {seconds}"
        )));
    }
    Duration::try_from_secs_f64(seconds)
        .map_err(|_| invalid_input(format!("{what}: {seconds} seconds is too long")))
}

/// An optional TTL (`None` means the default).
pub fn opt_duration(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Option<Duration>> {
    match value {
        None => Ok(None),
        Some(v) if v.is_none() => Ok(None),
        Some(v) => duration(v, what).map(Some),
    }
}

/// A size: `"256MiB"`, `"16MB"` or a number of bytes.
pub fn size(value: &Bound<'_, PyAny>, what: &str) -> PyResult<u64> {
    if let Ok(text) = value.cast::<PyString>() {
        return hoard_config::parse_size(text.to_str()?)
            .map(|size| size.as_u64())
            .map_err(|e| invalid_input(format!("{what}: {e}")));
    }
    value.extract::<u64>().map_err(|_| {
        invalid_input(format!(
            "{what}: expected bytes or a size such as \"256MiB\""
        ))
    })
}

/// Tags or keys given as a list (a lone string is refused: it would be read as letters).
pub fn strings(value: Option<&Bound<'_, PyAny>>, what: &str) -> PyResult<Vec<String>> {
    let Some(value) = value.filter(|v| !v.is_none()) else {
        return Ok(Vec::new());
    };
    if value.is_instance_of::<PyString>() {
        return Err(invalid_input(format!(
            "{what}: expected a list of strings, got one string (write [{what}])"
        )));
    }
    let mut out = Vec::new();
    for item in value.try_iter()? {
        let item = item?;
        let text = item.cast::<PyString>().map_err(|_| {
            invalid_input(format!(
                "{what}: expected strings, got {}",
                crate::value::type_name(&item)
            ))
        })?;
        out.push(text.to_str()?.to_owned());
    }
    Ok(out)
}
