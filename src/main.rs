//! `stratagem`: autonomous strategy discovery, validation and staged promotion, with every
//! decision on one hash-chained event log. See README.md for the commands, ARCHITECTURE.md for
//! the code map.
#![forbid(unsafe_code)]

mod chaos;
mod cli;
mod commands;
mod config;
mod output;

use std::process::ExitCode;

use clap::Parser;

/// When the process started (the backtest's timings count from here).
pub static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();

fn main() -> ExitCode {
    STARTED.get_or_init(std::time::Instant::now);
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::usage(&e),
    };
    output::set_json(cli.command.json());
    output::finish(start(cli))
}

/// Everything after the command line is parsed: the configuration, the logs, the settings
/// checked, then the command.
fn start(mut cli: cli::Cli) -> anyhow::Result<ExitCode> {
    // Absolute from here on: the sandbox runs rustc in a folder of its own, where a relative
    // path (`--data-dir demo-data`, the README's first command) would point nowhere.
    cli.data_dir = std::path::absolute(&cli.data_dir)
        .map_err(|e| anyhow::anyhow!("--data-dir {}: {e}", cli.data_dir.display()))?;
    // The configuration file: what the environment does not set (see `config::var`).
    config::load(cli.config.as_deref(), &cli.data_dir)?;
    init_tracing()?;
    // Every setting of every part, checked before any command acts: a bad one is fatal, named.
    let settings = config::settings();
    settings.check(&cli.data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| anyhow::anyhow!("cannot start the async runtime: {e}"))?;
    runtime.block_on(commands::run(cli, settings))
}

/// Logs on stderr: their level from `STRATAGEM_LOG` (default `warn`), their form from
/// `STRATAGEM_LOG_FORMAT`: `human` (default) or `json`, one object a line for a log collector.
fn init_tracing() -> anyhow::Result<()> {
    let filter = match config::lookup("STRATAGEM_LOG").filter(|f| !f.trim().is_empty()) {
        None => tracing_subscriber::EnvFilter::new("warn"),
        Some(f) => tracing_subscriber::EnvFilter::try_new(f.trim()).map_err(|e| {
            anyhow::anyhow!(
                "STRATAGEM_LOG={f:?} is not a log level (error, warn, info, debug) or filter: {e}"
            )
        })?,
    };
    let format = config::lookup("STRATAGEM_LOG_FORMAT").unwrap_or_default();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or collector gets plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format.trim() {
        "" | "human" => {
            let _ = builder.try_init();
        }
        "json" => {
            let _ = builder.json().flatten_event(true).try_init();
        }
        other => {
            anyhow::bail!("STRATAGEM_LOG_FORMAT={other:?} is not human or json")
        }
    }
    Ok(())
}
