//! Signed, expiring download tokens: what `POST /v1/assets/{id}/licenses` hands out and
//! `GET /v1/download/{token}` accepts.
//!
//! A token is `v1.<key id>.<asset id>.<licence id or ->.<expires>.<mac>`: plain fields,
//! so a support engineer can read one, and a MAC over them, so no field can be changed.
//! The MAC is blake3 in keyed mode (a PRF designed to be used as a MAC, like HMAC but with
//! one pass), 256 bits, compared in constant time. Keys rotate: the newest key signs, every
//! key still listed verifies, so tokens issued just before a rotation keep working until
//! they expire; dropping a key from the file revokes every token it signed.
//!
//! Parsing is strict and bounded (at most [`MAX_TOKEN_LEN`] bytes, each field its own
//! alphabet and length): anything else is a forged token.

use std::fmt::Write as _;
use std::path::Path;
use stockroom_vocab::AssetId;

/// Longer than any token this build issues; longer input is refused before parsing.
pub const MAX_TOKEN_LEN: usize = 160;
const VERSION: &str = "v1";
const CONTEXT: &str = "stockroom download token v1";
/// Keys kept by a rotation: the new one and the one before, whose tokens are still live.
const KEYS_KEPT: usize = 2;

/// What a token grants: one asset's original, under one licence, until a moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// The asset the link downloads.
    pub asset: AssetId,
    /// `None` for an anonymous download of free content (no licence record).
    pub licence: Option<String>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The MAC does not match: altered, or signed with a key no longer kept.
    #[error("the download link is not valid")]
    Forged,
    /// Past its expiry.
    #[error("the download link has expired; ask for the licence again (a re-download reuses it)")]
    Expired,
}

/// The signing keys, newest last.
#[derive(Clone)]
pub struct TokenKeys {
    keys: Vec<(u32, [u8; 32])>,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ids: Vec<u32> = self.keys.iter().map(|(id, _)| *id).collect();
        f.debug_struct("TokenKeys").field("ids", &ids).finish()
    }
}

impl TokenKeys {
    /// Keys from their ids and bytes (tests, and the file reader). At least one.
    pub fn new(mut keys: Vec<(u32, [u8; 32])>) -> Option<TokenKeys> {
        keys.sort_by_key(|(id, _)| *id);
        keys.dedup_by_key(|(id, _)| *id);
        (!keys.is_empty()).then_some(TokenKeys { keys })
    }

    /// Reads the key file (`<id> <64 hex digits>` per line), creating it with one fresh key
    /// (readable by the owner only) if it does not exist.
    pub fn load_or_create(path: &Path) -> std::io::Result<TokenKeys> {
        match std::fs::read_to_string(path) {
            Ok(text) => parse_key_file(&text).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "{}: expected lines of `<id> <64 hex digits>`",
                        path.display()
                    ),
                )
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let keys = TokenKeys::new(vec![(1, fresh_key()?)]).expect("one key");
                keys.write(path)?;
                Ok(keys)
            }
            Err(error) => Err(error),
        }
    }

    /// Adds a fresh signing key and keeps only it and the one before; returns the new
    /// key's id. Tokens signed with older keys stop verifying once a server reloads.
    pub fn rotate(path: &Path) -> std::io::Result<u32> {
        let mut keys = TokenKeys::load_or_create(path)?;
        let id = keys.signing().0 + 1;
        keys.keys.push((id, fresh_key()?));
        let drop = keys.keys.len().saturating_sub(KEYS_KEPT);
        keys.keys.drain(..drop);
        keys.write(path)?;
        Ok(id)
    }

    fn write(&self, path: &Path) -> std::io::Result<()> {
        let text = self.keys.iter().fold(String::new(), |mut out, (id, key)| {
            let _ = writeln!(out, "{id} {}", blake3::Hash::from_bytes(*key).to_hex());
            out
        });
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        stockroom_vocab::durable::write_file(path, text.as_bytes(), Some(0o600))
    }

    fn signing(&self) -> (u32, [u8; 32]) {
        *self.keys.last().expect("at least one key")
    }

    /// The token for `grant`, signed with the newest key.
    pub fn sign(&self, grant: &Grant) -> String {
        let (id, key) = self.signing();
        let fields = fields(id, grant);
        let mac = blake3::keyed_hash(&key, signed_text(&fields).as_bytes());
        format!("{VERSION}.{fields}.{}", mac.to_hex())
    }

    /// The grant a token carries, if one of the keys signed it and it has not expired at
    /// `now` (Unix seconds).
    pub fn verify(&self, token: &str, now: i64) -> Result<Grant, TokenError> {
        let parsed = parse(token).ok_or(TokenError::Forged)?;
        let key = self
            .keys
            .iter()
            .find(|(id, _)| *id == parsed.key_id)
            .map(|(_, key)| key)
            .ok_or(TokenError::Forged)?;
        let expected = blake3::keyed_hash(key, signed_text(parsed.fields).as_bytes());
        // `blake3::Hash`'s equality is constant-time.
        if expected != blake3::Hash::from_bytes(parsed.mac) {
            return Err(TokenError::Forged);
        }
        if now >= parsed.grant.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(parsed.grant)
    }
}

fn fields(key_id: u32, grant: &Grant) -> String {
    let licence = grant.licence.as_deref().unwrap_or("-");
    format!("{key_id}.{}.{licence}.{}", grant.asset, grant.expires_at)
}

fn signed_text(fields: &str) -> String {
    format!("{CONTEXT}\n{fields}")
}

struct Parsed<'a> {
    key_id: u32,
    fields: &'a str,
    grant: Grant,
    mac: [u8; 32],
}

/// Splits and checks every field; `None` for anything this build would not have issued.
fn parse(token: &str) -> Option<Parsed<'_>> {
    if token.len() > MAX_TOKEN_LEN || !token.is_ascii() {
        return None;
    }
    let rest = token.strip_prefix(VERSION)?.strip_prefix('.')?;
    let (fields, mac) = rest.rsplit_once('.')?;
    let mut parts = fields.split('.');
    let (key_id, asset, licence, expires) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let digits = |text: &str, max: usize| {
        !text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(key_id, 9) || !digits(expires, 12) {
        return None;
    }
    let licence = match licence {
        "-" => None,
        id if (1..=40).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            Some(id.to_string())
        }
        _ => return None,
    };
    Some(Parsed {
        key_id: key_id.parse().ok()?,
        fields,
        grant: Grant {
            asset: asset.parse().ok()?,
            licence,
            expires_at: expires.parse().ok()?,
        },
        mac: unhex(mac)?,
    })
}

fn parse_key_file(text: &str) -> Option<TokenKeys> {
    let mut keys = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let (id, key) = line.split_once(' ')?;
        keys.push((id.parse().ok()?, unhex(key.trim())?));
    }
    TokenKeys::new(keys)
}

fn fresh_key() -> std::io::Result<[u8; 32]> {
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|error| std::io::Error::other(error.to_string()))?;
    Ok(key)
}

/// 64 lowercase hex digits → 32 bytes.
fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (index, pair) in text.as_bytes().chunks(2).enumerate() {
        let digit = |byte: u8| match byte {
            b'0'..=b'9' => Some(byte - b'0'),
            b'a'..=b'f' => Some(byte - b'a' + 10),
            _ => None,
        };
        out[index] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ids: &[u32]) -> TokenKeys {
        TokenKeys::new(ids.iter().map(|&id| (id, [id as u8; 32])).collect()).expect("keys")
    }

    fn grant(licence: Option<&str>) -> Grant {
        Grant {
            asset: AssetId::from_u64(0x2d40_0186_8026_e1b1),
            licence: licence.map(str::to_string),
            expires_at: 1_800_000_000,
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let keys = keys(&[1]);
        for licence in [Some("l0123456789abcdef"), None] {
            let token = keys.sign(&grant(licence));
            assert!(token.len() <= MAX_TOKEN_LEN, "{token}");
            assert_eq!(keys.verify(&token, 1_799_999_999), Ok(grant(licence)));
            assert_eq!(keys.verify(&token, 1_800_000_000), Err(TokenError::Expired));
        }
    }

    #[test]
    fn rotation_keeps_the_previous_key_verifying_and_signs_with_the_new() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("token-keys");
        let first = TokenKeys::load_or_create(&path)?;
        let old_token = first.sign(&grant(None));
        assert_eq!(TokenKeys::rotate(&path)?, 2);
        let second = TokenKeys::load_or_create(&path)?;
        assert!(second.sign(&grant(None)).starts_with("v1.2."));
        assert!(second.verify(&old_token, 0).is_ok());
        TokenKeys::rotate(&path)?;
        let third = TokenKeys::load_or_create(&path)?;
        assert_eq!(third.verify(&old_token, 0), Err(TokenError::Forged));
        Ok(())
    }

    #[test]
    fn another_key_or_a_malformed_token_is_forged() {
        let token = keys(&[1]).sign(&grant(None));
        assert_eq!(keys(&[2]).verify(&token, 0), Err(TokenError::Forged));
        for bad in [
            "",
            "v1",
            "v2.1.2d4001868026e1b1.-.1800000000.00",
            "v1.1.2d4001868026e1b1.-.1800000000",
            "v1.1.2D4001868026E1B1.-.1800000000.",
            "v1..2d4001868026e1b1.-.1800000000.",
            "v1.1.2d4001868026e1b1.l/../x.1800000000.",
        ] {
            assert_eq!(keys(&[1]).verify(bad, 0), Err(TokenError::Forged), "{bad}");
        }
        let long = format!("{token}{}", "0".repeat(200));
        assert_eq!(keys(&[1]).verify(&long, 0), Err(TokenError::Forged));
    }

    /// The property the download path rests on: no change to a valid token, of any byte
    /// to any byte, yields a token that verifies.
    #[test]
    fn every_single_byte_change_is_refused() {
        let keys = keys(&[7]);
        for licence in [Some("l00ff00ff00ff00ff"), None] {
            let token = keys.sign(&grant(licence));
            let bytes = token.as_bytes();
            for position in 0..bytes.len() {
                for replacement in (0u8..=127).filter(|&b| b != bytes[position]) {
                    let mut changed = bytes.to_vec();
                    changed[position] = replacement;
                    let changed = String::from_utf8_lossy(&changed);
                    assert!(
                        keys.verify(&changed, 0).is_err(),
                        "{changed} verified (position {position})"
                    );
                }
            }
            for cut in 0..bytes.len() {
                assert!(keys.verify(&token[..cut], 0).is_err());
            }
        }
    }
}
