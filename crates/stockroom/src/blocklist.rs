//! `stockroom blocklist import FILE --source LABEL --key KEY` and `stockroom blocklist
//! list`: the blocklist from the command line (a moderator's key acts, and the import is in
//! the audit history, as over HTTP). The data directory must not be held by a running
//! server.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Subcommand;

use crate::config::Config;
use crate::open::{self, Purpose};

/// What to do to the blocklist.
#[derive(Debug, Subcommand)]
pub enum BlocklistCommand {
    /// Import a hash list: PDQ hashes (64 hex digits) one a line; anything after the hash
    /// and a space, tab, comma or semicolon, blank lines and `#` lines are ignored.
    Import {
        /// The list's file.
        file: PathBuf,
        /// The list's label, named when it refuses an upload.
        #[arg(long)]
        source: String,
        /// The acting moderator's API key.
        #[arg(long, env = "STOCKROOM_KEY", hide_env_values = true)]
        key: String,
    },
    /// Print the entries, newest first, one JSON object a line (lifted ones too).
    List,
}

/// Runs one command.
pub fn run(config: &Config, command: BlocklistCommand) -> Result<()> {
    match command {
        BlocklistCommand::Import { file, source, key } => {
            let list = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let platform = open::platform(config, Purpose::Ingest)?;
            let moderator = platform.catalog().authenticate(&key)?;
            let ids = platform.import_blocklist(&moderator, &source, &list)?;
            println!(
                "{}",
                serde_json::json!({ "imported": ids.len(), "first": ids.first(), "last": ids.last() })
            );
        }
        BlocklistCommand::List => {
            let platform = open::platform(config, Purpose::Read)?;
            let mut before = None;
            loop {
                let page = platform.blocklist_entries(before, 500)?;
                for entry in &page {
                    println!("{}", serde_json::to_string(entry)?);
                }
                match page.last() {
                    Some(last) if page.len() == 500 => before = Some(last.id),
                    _ => break,
                }
            }
        }
    }
    Ok(())
}
