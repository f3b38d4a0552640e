//! `switchboard serve`: the configuration from file and flags, then the hub until a signal.

use anyhow::Context;
use server::Config;
use std::path::PathBuf;
use std::time::Duration;

/// Every setting of the TOML configuration is also a flag (`docs/settings.md`); a flag wins
/// over the file.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file (`docs/settings.md`: each door's settings in `[doors.NAME]`,
    /// the others at the top).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Every listener on 127.0.0.1 with a port the system picks (each front door, its TLS
    /// door with a certificate, the operators' listener); the flags below still win. For
    /// tests and scripts, which read where from the readiness lines.
    #[arg(long)]
    loopback: bool,
    #[command(flatten)]
    settings: server::ConfigFlags,
}

impl ServeArgs {
    fn config(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::load(path).with_context(|| format!("reading {}", path.display()))?,
            None => Config::default(),
        };
        if self.loopback {
            c.on_loopback();
        }
        self.settings.apply(&mut c);
        Ok(c)
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let running = server::start(config).await?;
    // The signals are ours before anyone is told the hub is up: a SIGINT sent right after
    // "ready" must stop it cleanly, not kill it.
    let signals = Signals::new()?;
    // One line on stdout per listener, for scripts that start the hub on port 0. Written
    // without println!, which would panic if whoever started the hub closed its stdout.
    running.announce(&mut std::io::stdout().lock());
    run_until_stopped(&running, signals).await;
    tracing::info!("stopping: closing connections");
    running.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// The signals the hub answers: stop (SIGTERM, SIGINT) and load TLS again (SIGHUP).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Serves until SIGINT or SIGTERM. SIGHUP loads the TLS certificate and key again: new
/// connections get them, open ones keep theirs; if they cannot be loaded, the ones in use stay.
async fn run_until_stopped(running: &server::Running, signals: Signals) {
    let Signals { mut term, mut int, mut hup } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM");
                return;
            }
            _ = int.recv() => {
                tracing::info!("SIGINT");
                return;
            }
            _ = hup.recv() => match running.reload_tls() {
                Ok(()) => tracing::info!("SIGHUP: the TLS certificate and key are loaded again"),
                Err(e) => tracing::error!(error = format!("{e:#}"), "SIGHUP: the TLS certificate stays as it was"),
            },
        }
    }
}
