//! One module per command. Each opens what it needs of the data directory, does its work, and
//! returns the process exit code.

/// `println!` that never panics: a closed stdout (`stratagem … | head`) is not an error of ours.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod audit;
mod backtest;
mod config;
mod debug;
mod discover;
mod generate;
mod monitor;
mod opportunities;
mod review;
mod run;
mod scan;
mod stage;
mod status;
mod submit;
mod validate;

use std::process::ExitCode;

use crate::cli::{Cli, Command};

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Status(flags) => status::run(&cli.data_dir, flags.json),
        Command::Submit(args) => submit::run(&cli.data_dir, args).await,
        Command::Audit(cmd) => audit::run(&cli.data_dir, cmd),
        Command::Config(cmd) => config::run(&cli.data_dir, cmd),
        Command::Review(cmd) => review::run(&cli.data_dir, cmd).await,
        Command::Monitor(flags) => monitor::run(&cli.data_dir, flags.json).await,
        Command::Scan { file, json } => scan::run(&file, json),
        Command::Validate { file, json } => validate::run(&cli.data_dir, &file, json).await,
        Command::Backtest(args) => backtest::run(&cli.data_dir, args),
        Command::Stage {
            strategy,
            stage,
            speed,
            feed,
            json,
        } => {
            stage::run(
                &cli.data_dir,
                &strategy,
                stage,
                speed,
                feed.as_deref(),
                json,
            )
            .await
        }
        Command::Templates(flags) => generate::list_templates(flags.json),
        Command::Generate {
            opportunity,
            template,
            mode,
            json,
        } => generate::run(&cli.data_dir, &opportunity, template.as_deref(), mode, json).await,
        Command::Discover {
            source,
            offline,
            watch,
            for_secs,
            json,
        } => {
            let watch_for = watch.then_some(for_secs);
            discover::run(&cli.data_dir, source.as_deref(), offline, watch_for, json).await
        }
        Command::Run {
            once,
            offline,
            json,
        } => run::run(&cli.data_dir, once, offline, json).await,
        Command::Opportunities {
            limit,
            status,
            all,
            json,
        } => opportunities::run(&cli.data_dir, limit, status.as_deref(), all, json),
        Command::Debug(cmd) => debug::run(&cli.data_dir, cmd).await,
    }
}

/// An error of ours as the actors take it: the whole chain of context, in words.
pub fn host_error(e: anyhow::Error) -> stratagem_actors::supervisor::HostError {
    stratagem_actors::supervisor::HostError(format!("{e:#}"))
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
