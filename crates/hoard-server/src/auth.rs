//! Who may do what: bearer tokens with a scope each, `read` < `write` < `admin`.
//!
//! Without read or write tokens, reads and writes are open to anyone (as on loopback by
//! default) and only the admin routes need a token. Once any read or write token is
//! configured, every route but `/health`, `/ready` and `/openapi.json` needs a token of its
//! scope or above: 401 without one or with an unknown one, 403 with one whose scope is too
//! low.

use crate::ApiError;
use axum::http::{header, HeaderMap, StatusCode};
use std::sync::Arc;
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// What a token may do; each scope implies the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Read entries, results, datasets, stats, metrics; semantic lookups.
    Read = 1,
    /// Also write and delete single entries and results; semantic stores.
    Write = 2,
    /// Also pattern deletes, clears, invalidation, reindexing, semantic namespace drops.
    Admin = 3,
}

impl Scope {
    fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}

/// The bearer tokens the server accepts, each with its scope. Tokens are kept as BLAKE3
/// hashes and compared in constant time, the length of a token included.
#[derive(Clone, Default)]
pub struct Access {
    tokens: Arc<[([u8; 32], Scope)]>,
    /// Reads and writes need a token (some read or write token is configured).
    guarded: bool,
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("tokens", &self.tokens.len())
            .field("guarded", &self.guarded)
            .finish()
    }
}

impl Access {
    /// Tokens by scope. Without `write` and `read` tokens, reads and writes are open and
    /// only admin routes need a token. A token listed in several scopes has the highest;
    /// empty ones are ignored.
    pub fn new<A, W, R>(admin: A, write: W, read: R) -> Access
    where
        A: IntoIterator,
        A::Item: AsRef<str>,
        W: IntoIterator,
        W::Item: AsRef<str>,
        R: IntoIterator,
        R::Item: AsRef<str>,
    {
        let hash = |token: &str| *blake3::hash(token.as_bytes()).as_bytes();
        let mut tokens: Vec<([u8; 32], Scope)> = Vec::new();
        for token in read.into_iter().filter(|t| !t.as_ref().is_empty()) {
            tokens.push((hash(token.as_ref()), Scope::Read));
        }
        for token in write.into_iter().filter(|t| !t.as_ref().is_empty()) {
            tokens.push((hash(token.as_ref()), Scope::Write));
        }
        let guarded = !tokens.is_empty();
        for token in admin.into_iter().filter(|t| !t.as_ref().is_empty()) {
            tokens.push((hash(token.as_ref()), Scope::Admin));
        }
        Access {
            tokens: tokens.into(),
            guarded,
        }
    }

    /// One admin token, reads and writes open: hoard's behaviour without read or write
    /// tokens.
    pub fn admin(token: impl AsRef<str>) -> Access {
        Access::new([token], [""; 0], [""; 0])
    }

    /// Whether reads and writes need a token.
    pub fn guarded(&self) -> bool {
        self.guarded
    }

    /// The highest scope of `given` (`None`: no such token). Every token is compared, so
    /// the time taken does not tell which matched.
    fn scope_of(&self, given: &str) -> Option<Scope> {
        let given = blake3::hash(given.as_bytes());
        let mut best = 0u8;
        for (token, scope) in self.tokens.iter() {
            let matched = given.as_bytes().ct_eq(token);
            let higher = best.max(*scope as u8);
            best = u8::conditional_select(&best, &higher, matched);
        }
        match best {
            1 => Some(Scope::Read),
            2 => Some(Scope::Write),
            3 => Some(Scope::Admin),
            _ => None,
        }
    }

    /// Whether a request with these headers may use a route that needs `needed`.
    pub(crate) fn check(&self, headers: &HeaderMap, needed: Scope) -> Result<(), ApiError> {
        if needed < Scope::Admin && !self.guarded {
            return Ok(());
        }
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                // The scheme in any case, as HTTP says.
                let (scheme, token) = v.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or_else(|| {
                ApiError::unauthorized(format!(
                    "this route needs Authorization: Bearer TOKEN, a token of scope {} or above",
                    needed.name()
                ))
            })?;
        match self.scope_of(given) {
            None => Err(ApiError::unauthorized(if needed == Scope::Admin {
                "wrong admin token"
            } else {
                "unknown token"
            })),
            Some(scope) if scope < needed => Err(ApiError {
                status: StatusCode::FORBIDDEN,
                code: "insufficient_scope",
                message: format!(
                    "this route needs a token of scope {} or above; this one is {}",
                    needed.name(),
                    scope.name()
                ),
            }),
            Some(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {token}").parse().expect("a header value"),
        );
        headers
    }

    #[test]
    fn each_scope_implies_those_below() {
        let access = Access::new(
            ["a-admin-token-0000"],
            ["w-write-token-0000"],
            ["r-read-token-00000"],
        );
        let status = |token: &str, needed| {
            access
                .check(&bearer(token), needed)
                .err()
                .map(|e| e.status.as_u16())
        };
        assert_eq!(status("r-read-token-00000", Scope::Read), None);
        assert_eq!(status("r-read-token-00000", Scope::Write), Some(403));
        assert_eq!(status("w-write-token-0000", Scope::Write), None);
        assert_eq!(status("w-write-token-0000", Scope::Admin), Some(403));
        assert_eq!(status("a-admin-token-0000", Scope::Admin), None);
        assert_eq!(status("a-admin-token-0000", Scope::Read), None);
        assert_eq!(status("a-admin-token-000", Scope::Read), Some(401));
        assert_eq!(
            access
                .check(&HeaderMap::new(), Scope::Read)
                .err()
                .map(|e| e.status.as_u16()),
            Some(401)
        );
    }

    #[test]
    fn without_read_or_write_tokens_only_admin_is_guarded() {
        let access = Access::admin("a-admin-token-0000");
        assert!(!access.guarded());
        assert!(access.check(&HeaderMap::new(), Scope::Write).is_ok());
        assert!(access.check(&bearer("nonsense"), Scope::Read).is_ok());
        assert!(access.check(&HeaderMap::new(), Scope::Admin).is_err());
        assert!(access
            .check(&bearer("a-admin-token-0000"), Scope::Admin)
            .is_ok());
    }

    #[test]
    fn a_token_in_two_scopes_has_the_higher() {
        let access = Access::new([""; 0], ["same-token-0123456"], ["same-token-0123456"]);
        assert!(access
            .check(&bearer("same-token-0123456"), Scope::Write)
            .is_ok());
    }
}
