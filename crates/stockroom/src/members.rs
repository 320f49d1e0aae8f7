//! `stockroom members add|block|clear|list`: administration of members from the command
//! line, printing JSON so that scripts and tests can create members (DESIGN §3).

use std::io::Write;

use anyhow::{Context, Result};
use clap::Subcommand;
use stockroom_catalog::{NewMember, SqliteCatalog};

use crate::config::Config;
use stockroom_vocab::{Role, Tier};

#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Create a member; prints `{"id", "keys": [...]}` (one key per seat, the owner's
    /// first). Keys are shown this once: the catalogue keeps only keyed hashes.
    Add {
        #[arg(long)]
        name: String,
        /// customer, author, moderator, admin (comma-separated for several).
        #[arg(long = "role", value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// registered or unlimited.
        #[arg(long)]
        tier: String,
        /// Seats of an unlimited membership, each with its own key.
        #[arg(long, default_value_t = 1)]
        seats: u32,
    },
    /// Block a member: no downloads, no uploads.
    Block { id: String },
    /// Clear a member's flags or block.
    Clear { id: String },
    /// One JSON line per member (never keys).
    List,
}

pub fn run(config: &Config, command: MembersCommand) -> Result<()> {
    let dir = config.catalog_dir();
    let catalog = SqliteCatalog::open(&dir, config.catalog_options())
        .with_context(|| format!("opening the catalogue in {}", dir.display()))?;
    let mut out = std::io::stdout().lock();
    match command {
        MembersCommand::Add {
            name,
            roles,
            tier,
            seats,
        } => {
            let roles = roles
                .iter()
                .map(|role| role.trim().parse::<Role>())
                .collect::<Result<Vec<_>, _>>()?;
            let created = catalog.add_member(&NewMember {
                name,
                roles,
                tier: tier.parse::<Tier>()?,
                seats,
            })?;
            serde_json::to_writer(&mut out, &created)?;
            writeln!(out)?;
        }
        MembersCommand::Block { id } => {
            catalog.block(&id)?;
            serde_json::to_writer(&mut out, &catalog.member(&id)?)?;
            writeln!(out)?;
        }
        MembersCommand::Clear { id } => {
            catalog.clear(&id)?;
            serde_json::to_writer(&mut out, &catalog.member(&id)?)?;
            writeln!(out)?;
        }
        MembersCommand::List => {
            for member in catalog.members()? {
                serde_json::to_writer(&mut out, &member)?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

/// The demo's members' keys (`stockroom demo`).
#[derive(Debug)]
pub struct DemoKeys {
    pub registered: String,
    pub unlimited_owner: String,
    pub unlimited_seat: String,
    pub author: String,
    pub moderator: String,
}

/// Creates the demo's members: registered, unlimited with two seats, an author and a
/// moderator (anonymous needs no member).
pub fn demo_members(config: &Config) -> Result<DemoKeys> {
    let dir = config.catalog_dir();
    let catalog = SqliteCatalog::open(&dir, config.catalog_options())
        .with_context(|| format!("opening the catalogue in {}", dir.display()))?;
    let add = |name: &str, roles: Vec<Role>, tier: Tier, seats: u32| {
        catalog
            .add_member(&NewMember {
                name: name.into(),
                roles,
                tier,
                seats,
            })
            .map(|created| created.keys)
            .with_context(|| format!("creating the demo member {name}"))
    };
    let registered = add("Rita Registered", vec![Role::Customer], Tier::Registered, 1)?;
    let unlimited = add("Uma Unlimited", vec![Role::Customer], Tier::Unlimited, 2)?;
    let author = add("Andy Author", vec![Role::Author], Tier::Registered, 1)?;
    let moderator = add("Mo Moderator", vec![Role::Moderator], Tier::Registered, 1)?;
    let first = |keys: &[String]| keys.first().cloned().context("a member without a key");
    Ok(DemoKeys {
        registered: first(&registered)?,
        unlimited_owner: first(&unlimited)?,
        unlimited_seat: unlimited.get(1).cloned().context("a second seat")?,
        author: first(&author)?,
        moderator: first(&moderator)?,
    })
}
