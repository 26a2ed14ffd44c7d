//! hoard's own tokio runtime, for work that must not depend on the caller's: background
//! listeners, async snapshot loaders reloaded outside any runtime, and the timers and
//! sockets of blocking callers ([`block_on`]). One crate below the cache and the snapshots,
//! so that both share one runtime per process (re-exported as `hoard::runtime`).
//!
//! A process that forks (gunicorn `--preload`, Python's multiprocessing "fork") copies the
//! runtime's memory but not its threads: in the child it would accept work and never run
//! it. [`after_fork_in_child`] forgets it, so the child's next call starts a runtime of
//! its own.

use std::future::Future;
use std::sync::RwLock;

/// The runtime of this process, made on first use. Runtimes are leaked on purpose: one per
/// process, plus one per fork, and dropping one whose threads were lost in a fork would
/// wait for them forever.
static CURRENT: RwLock<Option<&'static tokio::runtime::Runtime>> = RwLock::new(None);

fn runtime() -> &'static tokio::runtime::Runtime {
    // A poisoned lock only means a thread panicked while holding it; the value is a plain
    // reference and stays valid.
    if let Some(runtime) = *CURRENT.read().unwrap_or_else(|p| p.into_inner()) {
        return runtime;
    }
    let mut current = CURRENT.write().unwrap_or_else(|p| p.into_inner());
    current.get_or_insert_with(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("hoard-blocking")
            .enable_all()
            .build()
            .expect("starting hoard's background runtime");
        Box::leak(Box::new(runtime))
    })
}

/// A handle to hoard's background runtime, for spawning work that outlives the caller's
/// runtime (or runs where there is none).
pub fn background() -> tokio::runtime::Handle {
    runtime().handle().clone()
}

/// Runs a hoard future to completion from synchronous code (outside or inside any async
/// runtime). The future is polled on the calling thread; timers and sockets are driven by
/// hoard's background runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    let _context = runtime().enter();
    futures_executor::block_on(future)
}

/// Enters hoard's background runtime on this thread until the guard drops, so futures
/// made and polled meanwhile find its timers and sockets (for bindings that poll hoard
/// futures themselves).
pub fn enter() -> tokio::runtime::EnterGuard<'static> {
    runtime().enter()
}

/// Spawns `future` on hoard's background runtime.
pub fn spawn<F>(future: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    runtime().spawn(future)
}

/// Forgets the runtime inherited through `fork()`; the next call makes a new one.
///
/// Call it in the child right after the fork, before any other hoard call. Caches built
/// before the fork must not be used in the child either (their connections, listener and
/// disk threads stayed with the parent): build new ones.
pub fn after_fork_in_child() {
    *CURRENT.write().unwrap_or_else(|p| p.into_inner()) = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_runtime_is_replaced_by_a_working_one() {
        let before = runtime() as *const _;
        assert_eq!(block_on(async { 1 + 1 }), 2);
        after_fork_in_child();
        let after = runtime() as *const _;
        assert_ne!(before, after, "a new runtime after the fork");
        let slept = block_on(async {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            3
        });
        assert_eq!(slept, 3, "the new runtime drives timers");
        assert_eq!(block_on(spawn(async { 4 })).ok(), Some(4));
    }
}
