//! `stratagem console`: the operator's console over a data directory no process holds, on
//! `CONSOLE_ADDR` (default `127.0.0.1:8420`), until SIGINT or SIGTERM.

use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use stratagem_actors::workflow::console::{serve, Console};
use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_actors::workflow::settings::Settings;

pub async fn run(root: &Path, settings: &Settings, addr: Option<&str>) -> anyhow::Result<ExitCode> {
    let console = settings.console(addr)?;
    console.check()?;
    // Kept open, so the read models are taken over from one request to the next and only the
    // events since are projected (not loaded from their snapshot each time).
    let _kept = match DataDir::keep_open(root) {
        Ok(kept) => kept,
        Err(e) if e.is_locked() => anyhow::bail!(
            "another stratagem process holds {}: `stratagem console` reads a data directory no process holds (the daemon serves its own console on CONSOLE_ADDR)",
            root.display()
        ),
        Err(e) => return Err(e.into()),
    };
    let dir = DataDir::open(root)?;
    let addr = console.addr;
    let console = Arc::new(Console::new(root, dir, console, settings.stages()?)?);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr} (CONSOLE_ADDR): {e}"))?;
    let bound = listener.local_addr()?;
    // The read models, the chain and the index brought up to the head before the first page
    // asks for them (a page asked for meanwhile waits for them).
    let warming = console.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = warming.warm() {
            tracing::warn!(error = %e.to_string(), "the console cannot read the log");
        }
    });
    say!("console on http://{bound}/");
    let _ = std::io::stdout().flush();
    serve(listener, console, stopped()).await?;
    say!("console stopped");
    Ok(ExitCode::SUCCESS)
}

/// Resolves on SIGINT or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
