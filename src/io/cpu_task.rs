//! Running CPU-heavy steps of the loaders and the batch pipeline (decoding,
//! filtering, encoding) off tokio's threads.
//!
//! They go to rayon's pool, one thread per core, which the CPU backend's
//! kernels use too: decoding one file, filtering another and encoding a
//! third share the cores without oversubscribing them (with tokio's blocking
//! pool as well, rayon's idle workers would spin against dozens of blocking
//! threads). Steps that wait rather than compute (file writes, GPU calls)
//! go to tokio's blocking pool instead, so they never hold a core's worker.

use super::loader::file_error;
use crate::error::Result;
use std::time::{Duration, Instant};

/// Runs `f` on rayon's pool; `name` labels the error if the task is lost.
pub(crate) async fn on_cores<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    rayon::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.await {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(file_error(name, "the worker panicked")),
        Err(_) => Err(file_error(name, "the worker stopped")),
    }
}

/// Runs `f` on tokio's blocking pool (for steps that wait on the disk or
/// the GPU); outside a tokio runtime (a stream of readers polled by
/// another executor), on the calling thread.
pub(crate) async fn waiting<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => runtime
            .spawn_blocking(f)
            .await
            .map_err(|e| file_error(name, format!("the worker stopped: {e}")))?,
        // A panic is this source's error, as on the pool.
        Err(_) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            .unwrap_or_else(|_| Err(file_error(name, "the worker panicked"))),
    }
}

/// `f`, made to return how long it ran too (the stage's busy time).
pub(crate) fn timed<T>(f: impl FnOnce() -> Result<T>) -> impl FnOnce() -> Result<(T, Duration)> {
    move || {
        let t = Instant::now();
        let value = f()?;
        Ok((value, t.elapsed()))
    }
}
