//! `switchboard cluster`: a cluster's state in JetStream, from the command line. `--cluster`
//! on `accounts` and `whitelist` manages the cluster's instead of a data folder's (this file's
//! [`ClusterArgs`] and [`stage`]); `cluster import` copies a single node's data folder into a
//! cluster.

use anyhow::{bail, Context};
use proto::bus::LogMsg;
use server::cluster::state::Durable;
use std::path::PathBuf;
use store::Store;

/// Where a cluster's NATS is, for the commands that manage its state.
#[derive(clap::Args, Clone)]
pub struct ClusterArgs {
    /// Manage the cluster's state at these NATS servers (`nats://HOST:PORT`, or `tls://`,
    /// comma-separated), instead of a data folder's.
    #[arg(long, value_name = "URL", global = true)]
    pub cluster: Option<String>,
    /// A NATS credentials file (a JWT and its NKey seed) for the cluster.
    #[arg(long, value_name = "FILE", global = true)]
    pub cluster_creds: Option<PathBuf>,
    /// The CA (PEM) that signed the cluster's NATS servers' certificates, for `tls://`.
    #[arg(long, value_name = "FILE", global = true)]
    pub cluster_ca: Option<PathBuf>,
    /// How many NATS servers keep each bucket and the log, if this command makes them.
    #[arg(long, value_name = "N", default_value_t = 1, global = true)]
    pub cluster_replicas: usize,
}

impl ClusterArgs {
    /// The cluster's state, if `--cluster` was given.
    pub async fn open(&self) -> anyhow::Result<Option<Durable>> {
        let Some(urls) = &self.cluster else { return Ok(None) };
        let link = server::cluster::connect(
            urls,
            self.cluster_creds.as_deref(),
            self.cluster_ca.as_deref(),
            "switchboard admin",
        )
        .await?;
        Ok(Some(Durable::open(link.client, self.cluster_replicas).await.context("opening the cluster's state")?))
    }
}

/// Where `accounts` and `whitelist` make their change: the data folder's store, or with
/// `--cluster` a scratch store holding the cluster's accounts and white-list, where the change
/// is made first, with every check a data folder's store makes (valid names, look-alikes, MAC
/// addresses), and only what it made is then written to the cluster (the `Durable`).
pub struct Staged {
    pub store: Store,
    pub cluster: Option<Durable>,
    _scratch: Option<tempfile::TempDir>,
}

impl Staged {
    pub async fn open(cluster: &ClusterArgs, data_dir: &std::path::Path) -> anyhow::Result<Staged> {
        let Some(durable) = cluster.open().await? else {
            let store =
                Store::open(data_dir).with_context(|| format!("opening the store in {}", data_dir.display()))?;
            return Ok(Staged { store, cluster: None, _scratch: None });
        };
        let dir = tempfile::tempdir()?;
        let mut store = Store::open(dir.path())?;
        durable.copy_names(&mut store).await.context("reading the cluster's accounts")?;
        Ok(Staged { store, cluster: Some(durable), _scratch: Some(dir) })
    }
}

#[derive(clap::Args)]
pub struct ClusterCmdArgs {
    #[command(subcommand)]
    command: ClusterCmd,
}

#[derive(clap::Subcommand)]
enum ClusterCmd {
    /// Copy a single node's data folder into a cluster: its accounts, white-list and NL key,
    /// and (into a cluster whose log is still empty) its history and offline queues.
    Import {
        /// The single node's data folder.
        #[arg(long, value_name = "DIR")]
        data_dir: PathBuf,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

pub async fn run(args: ClusterCmdArgs) -> anyhow::Result<()> {
    let ClusterCmd::Import { data_dir, cluster } = args.command;
    if cluster.cluster.is_none() {
        bail!("which cluster? --cluster nats://HOST:PORT");
    }
    if !data_dir.join(store::FILE).is_file() {
        bail!("no store in {}", data_dir.display());
    }
    let local = Store::open(&data_dir).with_context(|| format!("opening the store in {}", data_dir.display()))?;
    let durable = cluster.open().await?.expect("--cluster given");

    let (mut added, mut skipped) = (0, 0);
    for row in local.account_rows()? {
        match durable.add_account(&row).await {
            Ok(()) => added += 1,
            Err(e) => {
                eprintln!("account {}: skipped: {e:#}", row.name);
                skipped += 1;
            }
        }
    }
    println!("accounts: {added} imported, {skipped} skipped");
    let (mut added, mut skipped) = (0, 0);
    for row in local.device_rows()? {
        match durable.add_device(&row).await {
            Ok(()) => added += 1,
            Err(e) => {
                eprintln!("device {}: skipped: {e:#}", row.name);
                skipped += 1;
            }
        }
    }
    println!("white-list: {added} imported, {skipped} skipped");
    if let Some(pem) = local.key("nl")? {
        let kept = durable.nl_key(|| pem.clone()).await?;
        match kept == pem {
            true => println!("NL key: imported (operators keep the server key they know)"),
            false => println!("NL key: the cluster keeps its own; operators need `switchboard nl server-key` anew"),
        }
    }
    if durable.log_len().await? > 0 {
        println!("history: not imported, the cluster's log is not empty (import into a new cluster)");
        return Ok(());
    }
    let (mut after, mut copied, mut queued) = (0, 0, 0);
    loop {
        let page = local.messages_after(after, 512)?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        let entries: Vec<LogMsg> = page.iter().map(|(_, r)| server::cluster::state::log_msg(r)).collect();
        queued += page.iter().filter(|(_, r)| r.offline).count();
        for acked in durable.append(&entries).await {
            acked.context("writing history to the cluster's log")?;
        }
        copied += entries.len();
    }
    println!("history: {copied} messages imported, {queued} of them still queued for their recipients");
    Ok(())
}
