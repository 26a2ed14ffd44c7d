//! Who may do what: bearer tokens with a scope each, `read` < `write` < `admin`, and the
//! extractors a guarded route takes first ([`Read`], [`Write`], [`Admin`]).
//!
//! Without read or write tokens, reads and writes are open to anyone (as on loopback by
//! default) and only the admin routes need a token. Once any read or write token is
//! configured, every route but `/health`, `/ready` and `/openapi.json` needs a token of its
//! scope or above: 401 without one or with an unknown one, 403 with one whose scope is too
//! low (the statuses and codes are in `error.rs`, with every other error's).

use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts, HeaderMap};
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

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a request may not use a route.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// No `Authorization: Bearer TOKEN` header.
    #[error("this route needs Authorization: Bearer TOKEN, a token of scope {needed} or above")]
    Missing {
        /// The route's scope.
        needed: Scope,
    },
    /// A token the server does not know.
    #[error("{}", if *needed == Scope::Admin { "wrong admin token" } else { "unknown token" })]
    Unknown {
        /// The route's scope.
        needed: Scope,
    },
    /// A known token whose scope is below the route's.
    #[error("this route needs a token of scope {needed} or above; this one is {given}")]
    InsufficientScope {
        /// The route's scope.
        needed: Scope,
        /// The token's.
        given: Scope,
    },
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
    pub(crate) fn check(&self, headers: &HeaderMap, needed: Scope) -> Result<(), AuthError> {
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
            .ok_or(AuthError::Missing { needed })?;
        match self.scope_of(given) {
            None => Err(AuthError::Unknown { needed }),
            Some(given) if given < needed => Err(AuthError::InsufficientScope { needed, given }),
            Some(_) => Ok(()),
        }
    }
}

/// A guarded route's first extractor, one per scope: the token is checked before anything
/// else of the request (path, query, body) is read, so a caller without it gets 401 (or 403
/// for a token of too low a scope) whatever it sent. Any router state that lends an
/// [`Access`] will do: borrowed (`AsRef`), not cloned, since every request passes here.
macro_rules! scope_extractor {
    ($(#[$doc:meta])* $name:ident, $scope:expr) => {
        $(#[$doc])*
        pub(crate) struct $name;

        impl<S: AsRef<Access> + Send + Sync> FromRequestParts<S> for $name {
            type Rejection = AuthError;

            async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AuthError> {
                state
                    .as_ref()
                    .check(&parts.headers, $scope)
                    .map(|()| $name)
            }
        }
    };
}

scope_extractor!(
    /// Reading routes: open unless read or write tokens are configured.
    Read,
    Scope::Read
);
scope_extractor!(
    /// Routes that change data: open unless read or write tokens are configured.
    Write,
    Scope::Write
);
scope_extractor!(
    /// Admin routes: always need an admin token.
    Admin,
    Scope::Admin
);

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
                .map(|e| crate::error::ApiError::from(e).status().as_u16())
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
                .map(|e| crate::error::ApiError::from(e).status().as_u16()),
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
