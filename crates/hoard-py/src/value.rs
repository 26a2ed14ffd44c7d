//! Python values to hoard's MessagePack and back.
//!
//! The bytes are the ones `hoard::codec` writes for a `serde_json::Value` (what
//! `hoard serve` stores), so an entry written from Python is the entry
//! `GET /v1/cache/{ns}/{key}` answers, and the other way round. Bytes are MessagePack `bin`
//! (Python-only: JSON has no bytes). Integers take the smallest encoding, floats are always
//! 64-bit, so a float comes back bit for bit.

use crate::errors::serialization_error;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple,
};

/// Containers nested deeper than this are refused (a list that contains itself would
/// otherwise recurse forever).
const MAX_DEPTH: usize = 256;

/// Encodes a JSON-compatible value (plus bytes). Anything else is a `TypeError` naming the
/// type and the way out.
pub fn encode(value: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let mut out = Vec::with_capacity(64);
    write(value, &mut out, 0)?;
    Ok(out)
}

fn write(value: &Bound<'_, PyAny>, out: &mut Vec<u8>, depth: usize) -> PyResult<()> {
    use rmp::encode as mp;
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(format!(
            "value nested deeper than {MAX_DEPTH} levels (does it contain itself?)"
        )));
    }
    // `write_*` into a Vec cannot fail; the results are ignored for that reason.
    if value.is_none() {
        let _ = mp::write_nil(out);
    } else if let Ok(text) = value.cast_exact::<PyString>() {
        let _ = mp::write_str(out, text.to_str()?);
    } else if let Ok(flag) = value.cast::<PyBool>() {
        // Before int: bool is a subclass of int.
        let _ = mp::write_bool(out, flag.is_true());
    } else if let Ok(number) = value.cast::<PyInt>() {
        if let Ok(n) = number.extract::<i64>() {
            if n >= 0 {
                let _ = mp::write_uint(out, n as u64);
            } else {
                let _ = mp::write_sint(out, n);
            }
        } else if let Ok(n) = number.extract::<u64>() {
            let _ = mp::write_uint(out, n);
        } else {
            return Err(serialization_error(
                "int out of range: hoard stores integers from -2**63 to 2**64-1 (store a str for larger ones)",
            ));
        }
    } else if let Ok(number) = value.cast::<PyFloat>() {
        let _ = mp::write_f64(out, number.value());
    } else if let Ok(text) = value.cast::<PyString>() {
        let _ = mp::write_str(out, text.to_str()?);
    } else if let Ok(dict) = value.cast::<PyDict>() {
        let _ = mp::write_map_len(out, len_u32(dict.len())?);
        for (name, item) in dict.iter() {
            let Ok(name) = name.cast::<PyString>() else {
                return Err(serialization_error(format!(
                    "dict keys must be str to be stored (JSON's rule), got {}",
                    type_name(&name)
                )));
            };
            let _ = mp::write_str(out, name.to_str()?);
            write(&item, out, depth + 1)?;
        }
    } else if let Ok(list) = value.cast::<PyList>() {
        let _ = mp::write_array_len(out, len_u32(list.len())?);
        for item in list.iter() {
            write(&item, out, depth + 1)?;
        }
    } else if let Ok(tuple) = value.cast::<PyTuple>() {
        // Stored as an array: it reads back as a list, as through JSON.
        let _ = mp::write_array_len(out, len_u32(tuple.len())?);
        for item in tuple.iter() {
            write(&item, out, depth + 1)?;
        }
    } else if let Ok(bytes) = value.cast::<PyBytes>() {
        let _ = mp::write_bin(out, bytes.as_bytes());
    } else if let Ok(bytes) = value.cast::<PyByteArray>() {
        let _ = mp::write_bin(out, &bytes.to_vec());
    } else {
        return Err(serialization_error(format!(
            "hoard cannot store a value of type {}: values are what JSON holds (None, bool, int, \
             float, str, list, tuple, dict with str keys) and bytes; convert it, or open the cache \
             with serializer=\"pickle\" and a secret",
            type_name(value)
        )));
    }
    Ok(())
}

fn len_u32(len: usize) -> PyResult<u32> {
    u32::try_from(len).map_err(|_| PyValueError::new_err("container too large to store"))
}

/// The qualified name of a value's type, for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .fully_qualified_name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Decodes stored bytes. Malformed bytes are a `ValueError` (callers turn it into a miss
/// where a miss is the right answer).
pub fn decode<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    let mut reader = Reader { bytes, at: 0 };
    let value = reader.value(py, 0)?;
    if reader.at != bytes.len() {
        return Err(malformed("trailing bytes after the value"));
    }
    Ok(value)
}

fn malformed(what: &str) -> PyErr {
    PyValueError::new_err(format!("stored value is not valid MessagePack: {what}"))
}

struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn take(&mut self, n: usize) -> PyResult<&'b [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| malformed("truncated"))?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn u8(&mut self) -> PyResult<u8> {
        Ok(self.take(1)?[0])
    }

    fn be<const N: usize>(&mut self) -> PyResult<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn len(&mut self, width: usize) -> PyResult<usize> {
        Ok(match width {
            1 => usize::from(self.u8()?),
            2 => usize::from(u16::from_be_bytes(self.be()?)),
            _ => u32::from_be_bytes(self.be()?) as usize,
        })
    }

    fn value<'py>(&mut self, py: Python<'py>, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        if depth > MAX_DEPTH {
            return Err(malformed("nested too deep"));
        }
        let marker = self.u8()?;
        Ok(match marker {
            0x00..=0x7f => i64::from(marker).into_pyobject(py)?.into_any(),
            0xe0..=0xff => i64::from(marker as i8).into_pyobject(py)?.into_any(),
            0xc0 => py.None().into_bound(py),
            0xc2 => PyBool::new(py, false).to_owned().into_any(),
            0xc3 => PyBool::new(py, true).to_owned().into_any(),
            0xcc => u64::from(self.u8()?).into_pyobject(py)?.into_any(),
            0xcd => u64::from(u16::from_be_bytes(self.be()?))
                .into_pyobject(py)?
                .into_any(),
            0xce => u64::from(u32::from_be_bytes(self.be()?))
                .into_pyobject(py)?
                .into_any(),
            0xcf => u64::from_be_bytes(self.be()?).into_pyobject(py)?.into_any(),
            0xd0 => i64::from(self.u8()? as i8).into_pyobject(py)?.into_any(),
            0xd1 => i64::from(i16::from_be_bytes(self.be()?))
                .into_pyobject(py)?
                .into_any(),
            0xd2 => i64::from(i32::from_be_bytes(self.be()?))
                .into_pyobject(py)?
                .into_any(),
            0xd3 => i64::from_be_bytes(self.be()?).into_pyobject(py)?.into_any(),
            0xca => PyFloat::new(py, f64::from(f32::from_be_bytes(self.be()?))).into_any(),
            0xcb => PyFloat::new(py, f64::from_be_bytes(self.be()?)).into_any(),
            0xa0..=0xbf => self.str(py, usize::from(marker & 0x1f))?,
            0xd9 => {
                let n = self.len(1)?;
                self.str(py, n)?
            }
            0xda => {
                let n = self.len(2)?;
                self.str(py, n)?
            }
            0xdb => {
                let n = self.len(4)?;
                self.str(py, n)?
            }
            0xc4..=0xc6 => {
                let n = self.len(1 << (marker - 0xc4))?;
                PyBytes::new(py, self.take(n)?).into_any()
            }
            0x90..=0x9f => self.array(py, usize::from(marker & 0x0f), depth)?,
            0xdc => {
                let n = self.len(2)?;
                self.array(py, n, depth)?
            }
            0xdd => {
                let n = self.len(4)?;
                self.array(py, n, depth)?
            }
            0x80..=0x8f => self.map(py, usize::from(marker & 0x0f), depth)?,
            0xde => {
                let n = self.len(2)?;
                self.map(py, n, depth)?
            }
            0xdf => {
                let n = self.len(4)?;
                self.map(py, n, depth)?
            }
            _ => return Err(malformed(&format!("unsupported marker 0x{marker:02x}"))),
        })
    }

    fn str<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<Bound<'py, PyAny>> {
        let raw = self.take(n)?;
        let text = std::str::from_utf8(raw).map_err(|_| malformed("string is not UTF-8"))?;
        Ok(PyString::new(py, text).into_any())
    }

    fn array<'py>(
        &mut self,
        py: Python<'py>,
        n: usize,
        depth: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        // Every element takes at least one byte: a length beyond what is left is malformed
        // (and must not be allocated).
        if n > self.bytes.len() - self.at {
            return Err(malformed("array longer than the value"));
        }
        let list = PyList::empty(py);
        for _ in 0..n {
            list.append(self.value(py, depth + 1)?)?;
        }
        Ok(list.into_any())
    }

    fn map<'py>(&mut self, py: Python<'py>, n: usize, depth: usize) -> PyResult<Bound<'py, PyAny>> {
        if n > (self.bytes.len() - self.at) / 2 {
            return Err(malformed("map longer than the value"));
        }
        let dict = PyDict::new(py);
        for _ in 0..n {
            let name = self.value(py, depth + 1)?;
            let item = self.value(py, depth + 1)?;
            dict.set_item(name, item)?;
        }
        Ok(dict.into_any())
    }
}

/// A copy of a decoded value whose containers are new and whose leaves (immutable) are
/// shared: what a caller gets from the object cache, so mutating a returned dict never
/// changes what the next caller reads.
pub fn fresh_copy<'py>(value: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // A shallow copy first (CPython copies a dict's table or a list's slots in one go),
    // then only the nested containers are replaced by copies of their own.
    if let Ok(dict) = value.cast_exact::<PyDict>() {
        let out = dict.copy()?;
        for (name, item) in dict.iter() {
            if is_container(&item) {
                out.set_item(name, fresh_copy(&item)?)?;
            }
        }
        Ok(out.into_any())
    } else if let Ok(list) = value.cast_exact::<PyList>() {
        let out = list.get_slice(0, list.len());
        for (i, item) in list.iter().enumerate() {
            if is_container(&item) {
                out.set_item(i, fresh_copy(&item)?)?;
            }
        }
        Ok(out.into_any())
    } else {
        Ok(value.clone())
    }
}

fn is_container(value: &Bound<'_, PyAny>) -> bool {
    value.is_exact_instance_of::<PyDict>() || value.is_exact_instance_of::<PyList>()
}
