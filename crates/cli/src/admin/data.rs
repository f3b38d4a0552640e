//! `switchboard store`: the data folder's store, checked and recovered. `check` reads every
//! page and index; `recover` copies what can be read of a damaged store into a new one, puts
//! it in place and keeps the damaged file beside it. Recovery holds the folder's lock: it
//! waits for no hub and runs beside none.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args)]
pub struct StoreArgs {
    /// Folder of the embedded store, as for `serve` [default: ./switchboard-data].
    #[arg(long, value_name = "DIR", default_value = "switchboard-data", global = true)]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: StoreCmd,
}

#[derive(clap::Subcommand)]
enum StoreCmd {
    /// Check every page and index of the store (what `serve` does at start, without its
    /// time bound); exits non-zero if it is damaged. Works while the hub runs.
    Check,
    /// Recover a damaged store: copy every row that can be read into a new store, put it in
    /// place, and keep the damaged file beside it as `switchboard.db.damaged-TIME`. The hub
    /// must be stopped.
    Recover,
}

pub async fn run(args: StoreArgs) -> anyhow::Result<()> {
    let dir = args.data_dir;
    let file = dir.join(store::FILE);
    anyhow::ensure!(file.exists(), "there is no store in {} ({} is missing)", dir.display(), store::FILE);
    match args.command {
        StoreCmd::Check => {
            let mut store = store::Store::open(&dir).with_context(|| format!("opening {}", file.display()))?;
            match store.check(Duration::MAX)? {
                store::Check::Ok => println!("{}: ok", file.display()),
                store::Check::Damaged(problems) => {
                    anyhow::bail!(
                        "{} is damaged: {}\nswitchboard store recover --data-dir {} copies what can be read",
                        file.display(),
                        problems.join("; "),
                        dir.display()
                    )
                }
                store::Check::Unfinished => unreachable!("no time bound"),
            }
        }
        StoreCmd::Recover => recover(&dir, &file)?,
    }
    Ok(())
}

fn recover(dir: &Path, file: &Path) -> anyhow::Result<()> {
    let _lock = server::DataLock::acquire(dir)?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let fresh = dir.join(format!("{}.recovered-{stamp}", store::FILE));
    let report = store::recover(file, &fresh).with_context(|| format!("recovering {}", file.display()))?;
    // The damaged file and its journal files step aside, kept; the new one takes its place.
    let kept = dir.join(format!("{}.damaged-{stamp}", store::FILE));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", file.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", kept.display()));
            std::fs::rename(&from, &to).with_context(|| format!("moving {} aside", from.display()))?;
        }
    }
    std::fs::rename(&fresh, file).with_context(|| format!("putting {} in place", fresh.display()))?;
    let mut lost = 0;
    for table in &report.tables {
        let skipped = match table.skipped {
            0 => String::new(),
            n => {
                lost += n;
                format!(", {n} unreadable stretch(es) passed over")
            }
        };
        println!("{}: {} rows{skipped}", table.table, table.rows);
    }
    if report.orphans > 0 {
        println!("offline: {} queued messages whose message was lost left the queue", report.orphans);
    }
    println!(
        "recovered {} ({}); the damaged file is kept as {}",
        file.display(),
        if lost == 0 { "every row was read" } else { "what was unreadable is lost" },
        kept.display()
    );
    Ok(())
}
