//! `switchboard whitelist`: the JPC devices allowed in, by name and MAC address. A
//! white-listed name is reserved on every protocol. Works whether or not the hub is running.
//! With `--cluster`, the cluster's white-list in JetStream.

use crate::admin::cluster::{ClusterArgs, Staged};
use anyhow::bail;
use std::path::PathBuf;
use store::{format_mac, parse_mac};

#[derive(clap::Args)]
pub struct WhitelistArgs {
    /// Folder of the embedded store, as for `serve` [default: ./switchboard-data].
    #[arg(long, value_name = "DIR", default_value = "switchboard-data", global = true)]
    data_dir: PathBuf,
    #[command(flatten)]
    cluster: ClusterArgs,
    #[command(subcommand)]
    command: WhitelistCmd,
}

#[derive(clap::Subcommand)]
enum WhitelistCmd {
    /// Let the device with this MAC address in as NAME.
    Add {
        name: String,
        /// `aa:bb:cc:dd:ee:ff`, or the integer the JPC client sends.
        mac: String,
    },
    /// List the white-listed devices.
    List,
    /// Take a device off the white-list; its name becomes free for guests.
    Remove { name: String },
}

pub async fn run(args: WhitelistArgs) -> anyhow::Result<()> {
    // In a cluster, the change is made in a scratch copy (with every check), then written.
    let Staged { mut store, cluster, .. } = Staged::open(&args.cluster, &args.data_dir).await?;
    match args.command {
        WhitelistCmd::Add { name, mac } => {
            let Some(mac) = parse_mac(&mac) else {
                bail!("{mac:?} is not a MAC address (aa:bb:cc:dd:ee:ff, or an integer below 2^48)");
            };
            store.whitelist_add(&name, mac)?;
            if let Some(durable) = &cluster {
                durable.add_device(&store.device_row(&name)?.expect("just added")).await?;
            }
            println!("white-listed {name} ({})", format_mac(mac));
        }
        WhitelistCmd::List => {
            for device in store.whitelist()? {
                println!("{}\t{}\t{}", device.name, format_mac(device.mac), device.mac);
            }
        }
        WhitelistCmd::Remove { name } => {
            store.whitelist_remove(&name)?;
            if let Some(durable) = &cluster {
                durable.remove_device(&name).await?;
            }
            println!("removed {name} from the white-list");
        }
    }
    Ok(())
}
