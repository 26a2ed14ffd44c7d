//! hoard's errors as the package's exceptions (defined in `hoard/_errors.py`, so that
//! `InvalidInput` can be both a `HoardError` and a `ValueError`).

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

macro_rules! exception {
    ($fn_name:ident, $class:literal) => {
        /// A new exception of this class with `message`.
        pub fn $fn_name(message: impl Into<String>) -> PyErr {
            let message = message.into();
            Python::attach(|py| {
                static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
                match CLASS.import(py, "hoard._errors", $class) {
                    Ok(class) => PyErr::from_type(class.clone(), message),
                    Err(error) => error,
                }
            })
        }
    };
}

exception!(hoard_error, "HoardError");
exception!(invalid_input, "InvalidInput");
exception!(config_error, "ConfigError");
exception!(backend_error, "BackendError");
exception!(unavailable, "Unavailable");
exception!(folder_in_use, "FolderInUse");
exception!(serialization_error, "SerializationError");
exception!(writer_error, "WriterError");

/// The exception for a hoard error.
pub fn to_py(error: hoard::Error) -> PyErr {
    use hoard::Error as E;
    let message = error.to_string();
    match error {
        E::InvalidKey { .. }
        | E::InvalidNamespace { .. }
        | E::InvalidPattern { .. }
        | E::InvalidCursor { .. }
        | E::InvalidDuration { .. } => invalid_input(message),
        E::Config(_) => config_error(message),
        E::Encode(_) | E::Decode(_) => serialization_error(message),
        E::Unavailable { .. } => unavailable(message),
        E::Writer { .. } => writer_error(message),
        E::DiskInUse { .. } => folder_in_use(format!(
            "{message}. The embedded disk tier serves one process through one Cache: share \
             that Cache object within a process, and share one cache between processes \
             (gunicorn workers) through Redis (hoard.Cache(redis=...)), or give each its own \
             folder"
        )),
        E::Redis(_) | E::Redirect { .. } | E::Corrupt(_) | E::Disk { .. } => backend_error(message),
        _ => hoard_error(message),
    }
}

/// The exception for a semantic cache error.
pub fn semantic_to_py(error: hoard_semantic::SemanticError) -> PyErr {
    use hoard_semantic::SemanticError as E;
    let message = error.to_string();
    match error {
        E::Storage(error) => to_py(error),
        E::InvalidThreshold(_) => invalid_input(message),
        E::Model { .. } | E::Config(_) => config_error(message),
        E::Embed(_) | E::Http { .. } => backend_error(message),
        _ => hoard_error(message),
    }
}

/// `Result<T, hoard::Error>` to `PyResult<T>`.
pub trait IntoPy<T> {
    /// Converts the error.
    fn py(self) -> PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, hoard::Error> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py)
    }
}
