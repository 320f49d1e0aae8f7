//! `stockroom members add|block|clear|list`: administration of members from the command
//! line, printing JSON so that scripts and tests can create members (DESIGN §3).

use std::io::Write;

use anyhow::{Context, Result};
use clap::Subcommand;
use stockroom_catalog::{MembershipChange, NewMember};

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
    /// Change a membership (an admin's act, recorded in the audit history with `--key`'s
    /// member): tier, seat count (added seats' keys are printed once; the newest seats go
    /// first), end date, payment. Prints `{"member", "new_keys"}`.
    Set {
        id: String,
        /// An admin's API key: who made the change.
        #[arg(long)]
        key: String,
        /// registered or unlimited.
        #[arg(long)]
        tier: Option<String>,
        /// Live seats wanted (unlimited only).
        #[arg(long)]
        seats: Option<u32>,
        /// The end date of the paid membership: Unix seconds, YYYY-MM-DD or an RFC 3339
        /// date-time, or `none`.
        #[arg(long)]
        ends: Option<String>,
        /// Mark the membership paid again.
        #[arg(long, conflicts_with = "unpaid")]
        paid: bool,
        /// Mark the membership unpaid: its licences are suspended until it is paid.
        #[arg(long)]
        unpaid: bool,
        /// Why, for the audit history.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Give a seat a new key (printed once as `{"seat_id", "key"}`); the old key stops at
    /// once, in a running server within a second.
    RotateKey { id: String, seat: String },
    /// One JSON line per member (never keys).
    List,
}

pub fn run(config: &Config, command: MembersCommand) -> Result<()> {
    let catalog = config.open_catalog()?;
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
        MembersCommand::Set {
            id,
            key,
            tier,
            seats,
            ends,
            paid,
            unpaid,
            reason,
        } => {
            let admin = catalog.authenticate(&key).context("--key")?;
            stockroom_catalog::terms::may_administer(&admin.roles, admin.status)?;
            let change = MembershipChange {
                tier: tier.map(|tier| tier.parse::<Tier>()).transpose()?,
                seats,
                ends_at: ends.map(|end| end_date(&end)).transpose()?,
                paid: (paid || unpaid).then_some(paid),
            };
            let changed = catalog.change_membership(&id, &change, &admin, &reason)?;
            serde_json::to_writer(&mut out, &changed)?;
            writeln!(out)?;
        }
        MembersCommand::RotateKey { id, seat } => {
            serde_json::to_writer(&mut out, &catalog.rotate_key(&id, &seat)?)?;
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

/// An end date as `members set --ends` takes it: `none`, or what the API takes (Unix
/// seconds, an RFC 3339 date or date-time).
fn end_date(text: &str) -> Result<Option<i64>> {
    if text == "none" {
        return Ok(None);
    }
    stockroom_server::instant(text)
        .map(Some)
        .map_err(|why| anyhow::anyhow!("--ends: {why}, or none"))
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
    let catalog = config.open_catalog()?;
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
