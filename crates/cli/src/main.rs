//! `switchboard`: the hub (`serve`), its clients (one per protocol), and its load test.

mod admin;
mod bench;
mod clients;
mod serve;
mod ui;

use clap::{Parser, Subcommand, ValueEnum};
use std::io::IsTerminal;
use std::process::ExitCode;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "A chat hub that speaks five chat protocols at once")]
struct Cli {
    /// Log line format (logs go to stderr; the level comes from RUST_LOG, default `info`).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start the hub with every front door on its default (or configured) address.
    Serve(Box<serve::ServeArgs>),
    /// A ChatOS client for a person at a terminal or a script on stdin/stdout.
    Chatos(clients::chatos::ChatosArgs),
    /// A ChatHack client, with direct connections to other clients for messages and files.
    Chathack(clients::chathack::ChathackArgs),
    /// A JPC client: a white-listed device that receives messages and images.
    Jpc(clients::jpc::JpcArgs),
    /// An NL Chat operator console for the support desk; `nl server-key` prints the hub's key.
    Nl(clients::nl::NlArgs),
    /// A PeerChat peer: no server; it joins a mesh of peers, or starts one.
    Peer(clients::peer::PeerArgs),
    /// Load a hub with N ChatOS clients and measure lobby fan-out and memory per connection.
    Bench(bench::BenchArgs),
    /// Manage accounts: names with a password, reserved on every protocol.
    Accounts(admin::accounts::AccountsArgs),
    /// Manage the JPC white-list: devices by MAC address, their names reserved on every protocol.
    Whitelist(admin::whitelist::WhitelistArgs),
    /// A cluster's state in JetStream: import a single node's data folder into it.
    Cluster(admin::cluster::ClusterCmdArgs),
    /// The data folder's store: check it, or recover what can be read of a damaged one.
    Store(admin::data::StoreArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let default_level = match cli.command {
        Cmd::Serve(_) => "info",
        _ => "warn", // clients and the bench keep stdout for their own output
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(ui::LogWriter)
        .with_ansi(std::io::stderr().is_terminal());
    match cli.log_format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    // Many connections need many descriptors: take the hard limit.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let ran = rt.block_on(async {
        match cli.command {
            Cmd::Serve(args) => serve::run(*args).await,
            Cmd::Chatos(args) => clients::chatos::run(args).await,
            Cmd::Chathack(args) => clients::chathack::run(args).await,
            Cmd::Jpc(args) => clients::jpc::run(args).await,
            Cmd::Nl(args) => clients::nl::run(args).await,
            Cmd::Peer(args) => clients::peer::run(args).await,
            Cmd::Bench(args) => bench::run(args).await,
            Cmd::Accounts(args) => admin::accounts::run(args).await,
            Cmd::Whitelist(args) => admin::whitelist::run(args).await,
            Cmd::Cluster(args) => admin::cluster::run(args).await,
            Cmd::Store(args) => admin::data::run(args).await,
        }
    });
    // A client that ended on an error has not closed its screen.
    ui::restore();
    // Not waiting for a read of stdin that may never end.
    rt.shutdown_background();
    ran
}
