//! `stockroom assets withdraw|takedown|approve`: the platform's lifecycle actions from the
//! command line, as the member whose key is given (the same calls the API's handlers
//! make, so the same steps run and the same audit record is written). The data directory
//! must not be held by a running server.

use anyhow::{Context, Result};
use clap::Subcommand;
use stockroom_vocab::AssetId;

use crate::config::Config;
use crate::open::{self, Purpose};

/// What to do to an asset.
#[derive(Debug, Subcommand)]
pub enum AssetsCommand {
    /// Withdraw an asset (its author, or an admin): out of search and previews at once.
    Withdraw {
        /// The asset's id.
        id: String,
        /// The acting member's API key.
        #[arg(long, env = "STOCKROOM_KEY", hide_env_values = true)]
        key: String,
    },
    /// Take an asset down on a notice (a moderator): its bytes and hashes go; only the
    /// audit record stays.
    Takedown {
        /// The asset's id.
        id: String,
        /// The notice, recorded in the audit history.
        #[arg(long)]
        reason: String,
        /// The acting moderator's API key.
        #[arg(long, env = "STOCKROOM_KEY", hide_env_values = true)]
        key: String,
    },
    /// Release a held upload to the public (a moderator).
    Approve {
        /// The asset's id.
        id: String,
        /// The acting moderator's API key.
        #[arg(long, env = "STOCKROOM_KEY", hide_env_values = true)]
        key: String,
    },
}

/// Runs one action; prints `{"id", "status"}`.
pub fn run(config: &Config, command: AssetsCommand) -> Result<()> {
    let (id, key) = match &command {
        AssetsCommand::Withdraw { id, key }
        | AssetsCommand::Takedown { id, key, .. }
        | AssetsCommand::Approve { id, key } => (id, key),
    };
    let asset: AssetId = id
        .parse()
        .with_context(|| format!("{id:?} is not an asset id"))?;
    let platform = open::platform(config, Purpose::Ingest)?;
    let member = platform.catalog().authenticate(key)?;
    let status = match &command {
        AssetsCommand::Withdraw { .. } => platform.withdraw(asset, &member)?.status,
        AssetsCommand::Takedown { reason, .. } => {
            platform.takedown(asset, &member, reason)?;
            platform.catalog().asset(asset)?.status
        }
        AssetsCommand::Approve { .. } => {
            platform.approve(asset, &member)?;
            platform.catalog().asset(asset)?.status
        }
    };
    println!("{}", serde_json::json!({ "id": asset, "status": status }));
    Ok(())
}
