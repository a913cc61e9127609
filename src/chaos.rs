//! Chaos hooks for the crash and supervision tests: `STRATAGEM_CHAOS_PANIC_STAGE` (a pipeline
//! worker, the monitor or the notifier fails on its first job), `STRATAGEM_CHAOS_PANIC_SOURCE`
//! (a source actor panics on its first check) and `STRATAGEM_CHAOS_FAIL_PHASE` (discovery or the
//! pipeline fails to start once).
//!
//! They exist only in a build with the `chaos` feature, which the test script enables
//! (`scripts/test`) and nothing else does: a release build, and the README's commands, cannot be
//! made to fail on purpose by a stray environment variable.

/// The hook's value (`STRATAGEM_CHAOS_<NAME>`), in a `chaos` build.
#[cfg(feature = "chaos")]
pub fn hook(name: &str) -> Option<String> {
    std::env::var(format!("STRATAGEM_CHAOS_{name}")).ok()
}

/// Without the `chaos` feature there are no hooks.
#[cfg(not(feature = "chaos"))]
pub fn hook(_name: &str) -> Option<String> {
    None
}
