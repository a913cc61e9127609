//! One module per command. Each opens what it needs of the data directory, does its work, and
//! returns the process exit code.

/// `println!` that never panics: a closed stdout (`stratagem … | head`) is not an error of ours.
/// What it prints may hold text from outside (feed titles, a strategy's panic message): every
/// control character but the newline is shown as an escape, never sent to the terminal.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!($($arg)*);
        if let Err(e) = writeln!(
            std::io::stdout(),
            "{}",
            stratagem_events::text::printable(&line)
        ) {
            crate::output::stdout_failed(&e);
        }
    }};
}

mod audit;
mod backtest;
mod config;
mod console;
mod data;
mod debug;
mod discover;
mod generate;
mod monitor;
mod opportunities;
mod review;
mod risk;
mod run;
mod scan;
mod stage;
mod status;
mod store;
mod submit;
mod sweep;
mod trace;
mod validate;
mod worker;

use std::process::ExitCode;

use stratagem_actors::workflow::settings::Settings;

use crate::cli::{Cli, Command};
use stratagem_events::RiskState;

/// Runs the parsed command line with the settings of the file and the environment.
pub async fn run(cli: Cli, settings: Settings) -> anyhow::Result<ExitCode> {
    let (root, settings) = (&cli.data_dir, &settings);
    // Only the commands that create state may start a new log; the others refuse a directory
    // without one, so a mistyped `--data-dir` is not taken for an empty history.
    let creates = matches!(
        cli.command,
        Command::Run { .. } | Command::Submit(_) | Command::Discover { .. }
    );
    let needs_none = matches!(
        cli.command,
        Command::Scan { .. }
            | Command::Templates(_)
            | Command::Config(_)
            | Command::Data(_)
            | Command::Store(_)
            | Command::Worker { .. }
    );
    // The log elsewhere (`--store`): kept open for the whole command, every part borrows it
    // (`store copy` names its stores itself).
    let _store = match (&cli.store, &cli.command) {
        (Some(spec), c) if !matches!(c, Command::Store(_) | Command::Worker { .. }) => {
            Some(store::keep(root, spec, settings).await?)
        }
        _ => None,
    };
    if !(creates || needs_none || cli.create || cli.store.is_some() || root.join("events").is_dir())
    {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!(
                "no data directory at {}: nothing has been recorded there (a mistyped --data-dir?). `run`, `submit` and `discover` create one; `--create` makes one for this command",
                root.display()
            ),
        )
        .into());
    }
    match cli.command {
        Command::Status(flags) => status::run(root, settings, flags.json),
        Command::Trace { strategy, json } => trace::run(root, &strategy, json),
        Command::Console { addr } => console::run(root, settings, addr.as_deref()).await,
        Command::Submit(args) => submit::run(root, args).await,
        Command::Audit(cmd) => audit::run(root, settings, cmd),
        Command::Data(cmd) => data::run(root, settings, cmd).await,
        Command::Store(cmd) => store::run(settings, cmd).await,
        Command::Worker { jobs } => worker::run(root, settings, cli.store.as_deref(), jobs).await,
        Command::Config(cmd) => config::run(root, settings, cmd),
        Command::Review(cmd) => review::run(root, settings, cmd).await,
        Command::Halt(args) => risk::run(root, RiskState::Halted, args).await,
        Command::ReduceOnly(args) => risk::run(root, RiskState::ReduceOnly, args).await,
        Command::Resume(args) => risk::run(root, RiskState::Active, args).await,
        Command::Monitor(flags) => monitor::run(root, settings, flags.json).await,
        Command::Scan { file, json } => scan::run(&file, json),
        Command::Validate { file, json } => validate::run(root, settings, &file, json).await,
        Command::Backtest(args) => backtest::run(root, args).await,
        Command::Sweep(args) => sweep::run(root, args).await,
        Command::Stage {
            strategy,
            stage,
            speed,
            feed,
            json,
        } => {
            stage::run(
                root,
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
                root,
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
            discover::run(root, settings, source.as_deref(), offline, watch_for, json).await
        }
        Command::Run {
            once,
            offline,
            json,
        } => {
            let nats = _store.as_ref().and_then(|k| k.nats.clone());
            run::run(root, settings, once, offline, json, nats).await
        }
        Command::Opportunities {
            limit,
            offset,
            status,
            all,
            json,
        } => opportunities::run(root, limit, offset, status.as_deref(), all, json),
        Command::Debug(cmd) => debug::run(root, cmd).await,
    }
}

/// A strategy id given on the command line.
pub fn strategy_id(text: &str) -> anyhow::Result<uuid::Uuid> {
    text.trim()
        .parse()
        .map_err(|_| anyhow::anyhow!("{text:?} is not a strategy id (a UUID)"))
}

/// The command's result under `--json`: the `data` of the envelope `output::finish` prints.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    crate::output::data(value)
}
