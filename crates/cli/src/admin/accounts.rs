//! `switchboard accounts`: names that need a password, kept in the store as argon2id hashes.
//! Works whether or not the hub is running (SQLite in WAL mode takes both). With `--cluster`,
//! the cluster's accounts in JetStream: every node knows of a change within a moment.

use crate::admin::cluster::{ClusterArgs, Staged};
use anyhow::{bail, Context};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

#[derive(clap::Args)]
pub struct AccountsArgs {
    /// Folder of the embedded store, as for `serve` [default: ./switchboard-data].
    #[arg(long, value_name = "DIR", default_value = "switchboard-data", global = true)]
    data_dir: PathBuf,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: AccountsCmd,
}

#[derive(clap::Subcommand)]
enum AccountsCmd {
    /// Create an account; its name is then reserved on every protocol.
    Add {
        name: String,
        /// Read the password from the first line of stdin instead of asking twice.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts.
    List,
    /// Delete an account; its name becomes free for guests.
    Remove { name: String },
    /// Change an account's password.
    Passwd {
        name: String,
        /// Read the password from the first line of stdin instead of asking twice.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create accounts from a file of `login$password` lines (the original ChatHack format).
    Import { file: PathBuf },
}

pub async fn run(args: AccountsArgs) -> anyhow::Result<()> {
    // In a cluster, the change is made in a scratch copy of its accounts (with every check),
    // then written to the cluster.
    let Staged { mut store, cluster, .. } = Staged::open(&args.cluster, &args.data_dir).await?;
    match args.command {
        AccountsCmd::Add { name, password_stdin } => {
            // Fail before asking, if the name is taken.
            if store.has_account(&name)? {
                bail!("an account named {name} already exists");
            }
            let password = password(password_stdin)?;
            store.add_account(&name, &password)?;
            if let Some(durable) = &cluster {
                durable.add_account(&store.account_row(&name)?.expect("just added")).await?;
            }
            println!("added account {name}");
        }
        AccountsCmd::List => {
            for a in store.accounts()? {
                let created = UNIX_EPOCH + Duration::from_secs(a.created_at.max(0) as u64);
                println!("{}\tcreated {}", a.name, humantime::format_rfc3339_seconds(created));
            }
        }
        AccountsCmd::Remove { name } => {
            store.remove_account(&name)?;
            if let Some(durable) = &cluster {
                durable.remove_account(&name).await?;
            }
            println!("removed account {name}");
        }
        AccountsCmd::Passwd { name, password_stdin } => {
            // Fail before asking, if there is no such account.
            if !store.has_account(&name)? {
                bail!("no such account: {name}");
            }
            let password = password(password_stdin)?;
            store.set_password(&name, &password)?;
            if let Some(durable) = &cluster {
                durable.put_account(&store.account_row(&name)?.expect("just changed")).await?;
            }
            println!("changed the password of {name}");
        }
        AccountsCmd::Import { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let before: std::collections::HashSet<String> = store.account_names()?.into_iter().collect();
            let report = store.import(&text)?;
            for (line, why) in &report.skipped {
                eprintln!("{}:{line}: skipped: {why}", file.display());
            }
            if let Some(durable) = &cluster {
                for row in store.account_rows()?.into_iter().filter(|r| !before.contains(&r.name)) {
                    durable.add_account(&row).await?;
                }
            }
            println!("imported {} accounts, skipped {} lines", report.added, report.skipped.len());
        }
    }
    Ok(())
}

/// The new password: the first line of stdin, or asked twice on the terminal without echo.
fn password(from_stdin: bool) -> anyhow::Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\n', '\r']).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask the password on: use --password-stdin");
    }
    let first = rpassword::prompt_password("password: ")?;
    let second = rpassword::prompt_password("again: ")?;
    if first != second {
        bail!("the two passwords differ");
    }
    Ok(first)
}
