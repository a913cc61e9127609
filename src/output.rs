//! One convention for what every command prints and how it exits (README, "Exit codes and
//! JSON").
//!
//! - Exit codes: 0 ok; 1 the command's own negative verdict (rejected, verify failed, …); 2
//!   manual review; 64 usage; 65 bad input data; 66 missing input; 69 unavailable (in use,
//!   network); 70 internal; 74 I/O (stdout that cannot be written included); 130 stopped by a
//!   signal.
//! - `--json`: one envelope on stdout for every command, errors included:
//!   `{"ok": bool, "data": …, "error": null | {"code", "message", "exit"}}`. A command hands its
//!   result to [`data`] instead of printing it; [`finish`] prints the envelope.

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use stratagem_actors::workflow::{Failure, WorkflowError};

static JSON: AtomicBool = AtomicBool::new(false);
static DATA: Mutex<Option<serde_json::Value>> = Mutex::new(None);
static VERDICT: Mutex<Option<(&'static str, String)>> = Mutex::new(None);
static STDOUT_FAILED: Mutex<Option<String>> = Mutex::new(None);

/// Whether the envelope is printed.
pub fn set_json(on: bool) {
    JSON.store(on, Ordering::SeqCst);
}

/// Whether `--json` was asked for.
pub fn json() -> bool {
    JSON.load(Ordering::SeqCst)
}

/// The command's result: the envelope's `data`.
///
/// # Errors
/// When it does not serialise (a bug of ours).
pub fn data(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let value = serde_json::to_value(value)?;
    if let Ok(mut d) = DATA.lock() {
        *d = Some(value);
    }
    Ok(())
}

/// The command's own negative verdict (exit 1 or 2), in the envelope's `error`.
pub fn verdict(code: &'static str, message: impl Into<String>) {
    if let Ok(mut v) = VERDICT.lock() {
        *v = Some((code, message.into()));
    }
}

/// Stdout could not be written (other than a reader that went away, `| head`).
pub fn stdout_failed(e: &std::io::Error) {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        return;
    }
    if let Ok(mut f) = STDOUT_FAILED.lock() {
        f.get_or_insert_with(|| e.to_string());
    }
}

/// What kind of failure an error is, from the types in its chain.
pub fn failure(e: &anyhow::Error) -> Failure {
    for cause in e.chain() {
        if let Some(w) = cause.downcast_ref::<WorkflowError>() {
            return w.failure();
        }
        if let Some(s) = cause.downcast_ref::<stratagem_events::StoreError>() {
            return Failure::of_store(s);
        }
        if cause
            .downcast_ref::<stratagem_actors::setting::SettingError>()
            .is_some()
            || cause.downcast_ref::<UsageError>().is_some()
        {
            return Failure::Usage;
        }
        if cause.downcast_ref::<serde_json::Error>().is_some() {
            return Failure::BadData;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Failure::of_io(io);
        }
    }
    // Untyped: the commands' own checks of their arguments.
    Failure::Usage
}

/// A number's verdict name, when the command set none.
fn default_verdict(code: u8) -> (&'static str, String) {
    match code {
        1 => ("rejected", "the command's verdict is negative".into()),
        2 => ("manual_review", "a person has to decide".into()),
        130 => ("interrupted", "stopped by a signal".into()),
        n => ("failed", format!("exit code {n}")),
    }
}

fn number(code: ExitCode) -> u8 {
    (0..=255u8)
        .find(|n| ExitCode::from(*n) == code)
        .unwrap_or(70)
}

/// Ends the command: prints the envelope (under `--json`) or the error (on stderr), and
/// gives the exit code.
pub fn finish(result: anyhow::Result<ExitCode>) -> ExitCode {
    let (code, error) = match result {
        Ok(code) => {
            let n = number(code);
            let error = (n != 0).then(|| {
                VERDICT
                    .lock()
                    .ok()
                    .and_then(|mut v| v.take())
                    .unwrap_or_else(|| default_verdict(n))
            });
            (n, error)
        }
        Err(e) => {
            let f = failure(&e);
            (f.code(), Some((f.name(), format!("{e:#}"))))
        }
    };
    if let Some((_, message)) = error.as_ref().filter(|_| code >= 64) {
        eprintln!("error: {}", stratagem_events::text::printable(message));
    }
    if json() {
        let data = DATA.lock().ok().and_then(|mut d| d.take());
        let envelope = serde_json::json!({
            "ok": code == 0,
            "data": data,
            "error": error.as_ref().map(|(c, m)| serde_json::json!({
                "code": c,
                "message": m,
                "exit": code,
            })),
        });
        let text = serde_json::to_string_pretty(&envelope).unwrap_or_default();
        let text = stratagem_events::text::json(&text);
        if let Err(e) = writeln!(std::io::stdout(), "{text}") {
            stdout_failed(&e);
        }
    }
    if let Err(e) = std::io::stdout().flush() {
        stdout_failed(&e);
    }
    if let Some(e) = STDOUT_FAILED.lock().ok().and_then(|f| f.clone()) {
        eprintln!("error: cannot write the output: {e}");
        return ExitCode::from(Failure::Io.code());
    }
    ExitCode::from(code)
}

/// Refuses a command line clap cannot parse (exit 64; the envelope under `--json`); help and
/// version are printed as asked (exit 0).
pub fn usage(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    set_json(std::env::args().any(|a| a == "--json"));
    finish(Err(anyhow::Error::new(UsageError(e.render().to_string()))))
}

/// A command line that does not parse.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.trim().trim_start_matches("error: "))
    }
}

impl std::error::Error for UsageError {}

/// Lists under `--json` are pages (the library's, so the daemon's read API answers the same).
pub use stratagem_actors::workflow::query::Page;
