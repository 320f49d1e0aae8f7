//! Who is asking: `Authorization: Bearer <key>` looked up in the catalogue (its principal
//! cache answers repeat keys from memory), or an anonymous caller known only by its
//! anonymised network. A key that is given but unknown is `401`, never silently anonymous.

use http::header;
use stockroom_catalog::{Principal, anonymise};

use crate::call::{Call, Who};
use crate::problem::ApiError;

/// Longer than any key the catalogue issues.
const MAX_KEY_LEN: usize = 256;

/// The caller, anonymous when no key is given. A key the catalogue's cache holds is
/// answered on the spot; only a cache miss goes to the database, off the async workers.
/// Once known (the fair-use gate asks first), the answer is kept with the call.
pub async fn who(call: &Call) -> Result<Who, ApiError> {
    if let Some(who) = &call.who {
        return Ok(who.clone());
    }
    let Some(value) = call.header(header::AUTHORIZATION) else {
        return Ok(Who::Anonymous(anonymise(call.peer.ip())));
    };
    let key = bearer(value)
        .ok_or_else(|| ApiError::unauthenticated("expected `Authorization: Bearer <API key>`"))?
        .to_string();
    if let Some(principal) = call.app.platform.catalog().cached_principal(&key) {
        return Ok(Who::Member(principal));
    }
    let principal = call
        .blocking(move |app| Ok(app.platform.catalog().authenticate(&key)?))
        .await?;
    Ok(Who::Member(principal))
}

/// The caller, who must be a member.
pub async fn member(call: &Call) -> Result<Principal, ApiError> {
    match who(call).await? {
        Who::Member(principal) => Ok(principal),
        Who::Anonymous(_) => Err(ApiError::unauthenticated(
            "this needs an API key: `Authorization: Bearer <key>`",
        )),
    }
}

/// The caller, who must be a moderator (or an admin) whose account is not blocked.
pub async fn moderator(call: &Call) -> Result<Principal, ApiError> {
    let principal = member(call).await?;
    stockroom_catalog::terms::may_moderate(&principal.roles, principal.status)?;
    Ok(principal)
}

/// The key of an `Authorization: Bearer <key>` value: visible characters, bounded.
pub(crate) fn bearer(value: &[u8]) -> Option<&str> {
    let value = std::str::from_utf8(value).ok()?.trim();
    let (scheme, key) = value.split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer")
        && !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|b| b.is_ascii_graphic()))
    .then_some(key)
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn only_a_bearer_key_of_visible_characters_is_read() {
        assert_eq!(bearer(b"Bearer sk_abc"), Some("sk_abc"));
        assert_eq!(bearer(b"bearer   sk_abc  "), Some("sk_abc"));
        assert_eq!(bearer(b"Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer(b"Bearer "), None);
        assert_eq!(bearer(b"Bearer a b"), None);
        assert_eq!(bearer(&[b'B'; 300]), None);
        assert_eq!(bearer(b"Bearer \xff"), None);
    }
}
