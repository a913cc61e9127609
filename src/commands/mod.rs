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

use stratagem_actors::workflow::settings::Settings;

use crate::cli::{Cli, Command};

/// Runs the parsed command line with the settings of the file and the environment.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    let settings = &settings;
    match cli.command {
        Command::Status(flags) => status::run(&cli.data_dir, flags.json),
        Command::Submit(args) => submit::run(&cli.data_dir, args).await,
        Command::Audit(cmd) => audit::run(&cli.data_dir, cmd),
        Command::Config(cmd) => config::run(&cli.data_dir, settings, cmd),
        Command::Review(cmd) => review::run(&cli.data_dir, settings, cmd).await,
        Command::Monitor(flags) => monitor::run(&cli.data_dir, settings, flags.json).await,
        Command::Scan { file, json } => scan::run(&file, json),
        Command::Validate { file, json } => {
            validate::run(&cli.data_dir, settings, &file, json).await
        }
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
                settings,
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
        } => {
            generate::run(
                &cli.data_dir,
                settings,
                &opportunity,
                template.as_deref(),
                mode,
                json,
            )
            .await
        }
        Command::Discover {
            source,
            offline,
            watch,
            for_secs,
            json,
        } => {
            let watch_for = watch.then_some(for_secs);
            discover::run(
                &cli.data_dir,
                settings,
                source.as_deref(),
                offline,
                watch_for,
                json,
            )
            .await
        }
        Command::Run {
            once,
            offline,
            json,
        } => run::run(&cli.data_dir, settings, once, offline, json).await,
        Command::Opportunities {
            limit,
            status,
            all,
            json,
        } => opportunities::run(&cli.data_dir, limit, status.as_deref(), all, json),
        Command::Debug(cmd) => debug::run(&cli.data_dir, cmd).await,
    }
}

/// Prints a value as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    say!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
