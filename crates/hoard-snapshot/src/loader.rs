//! What a loader is (a blocking function or an async one), and how what it returned (a
//! value, an error or a panic) becomes a value or a [`SnapshotError`].

use crate::error::{LoadError, SnapshotError};
use crate::progress::Progress;
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// A loader run on a thread: the caller's, or one of its own for a reload.
pub(crate) type BlockingLoader<T> = dyn Fn(&Progress) -> Result<T, LoadError> + Send + Sync;
/// A loader run as a task on a Tokio runtime.
pub(crate) type AsyncLoader<T> =
    dyn Fn(Progress) -> BoxFuture<'static, Result<T, LoadError>> + Send + Sync;

/// The loader given at build time, run by every full load.
pub(crate) enum Loader<T> {
    Blocking(Arc<BlockingLoader<T>>),
    Async(Arc<AsyncLoader<T>>),
}

impl<T> Clone for Loader<T> {
    fn clone(&self) -> Self {
        match self {
            Loader::Blocking(f) => Loader::Blocking(f.clone()),
            Loader::Async(f) => Loader::Async(f.clone()),
        }
    }
}

/// The value of a load that ran to its end, or why there is none.
pub(crate) fn loaded_value<T>(
    name: &str,
    value: std::thread::Result<Result<T, LoadError>>,
) -> Result<T, SnapshotError> {
    match value {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(SnapshotError::Load {
            snapshot: name.to_owned(),
            source: Arc::from(error),
        }),
        Err(panic) => Err(SnapshotError::Panicked {
            snapshot: name.to_owned(),
            message: panic_message(&*panic),
        }),
    }
}

/// The text a panic was raised with, for logs and [`SnapshotError::Panicked`].
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = panic.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_owned()
    }
}
