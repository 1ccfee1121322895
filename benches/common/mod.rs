//! What the criterion benches share: one context per available backend.

use gpu::{Backend, Context};

/// A context for each of `backends` that can be created here; the others
/// are reported as skipped.
pub fn contexts(backends: &[Backend]) -> Vec<(Backend, Context)> {
    backends
        .iter()
        .filter_map(|&b| match Context::new(b) {
            Ok(ctx) => Some((b, ctx)),
            Err(e) => {
                eprintln!("{b} backend skipped: {e}");
                None
            }
        })
        .collect()
}
