//! Bearer-token authentication of the admin API.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AdminState;
use super::nodes::error;

/// The admin token, kept as its SHA-256 digest only. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    /// Wraps a token; an empty one is refused.
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.is_empty()).then(|| Self(digest(&token)))
    }

    /// Compares the digests of both in constant time: the time taken depends neither on where
    /// they differ nor on the presented token's length compared with the real one.
    pub fn matches(&self, presented: &str) -> bool {
        use subtle::ConstantTimeEq as _;
        bool::from(self.0.ct_eq(&digest(presented)))
    }
}

fn digest(token: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes()).into()
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(***)")
    }
}

/// Lets the request through only with the right bearer token.
pub async fn require_token(
    State(state): State<AdminState>,
    request: Request,
    next: Next,
) -> Response {
    match check(state.token.as_deref(), request.headers()) {
        Ok(()) => next.run(request).await,
        Err(refusal) => refusal.response(),
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// No token is configured: the admin API is disabled.
    Disabled,
    /// The request has no bearer token.
    Missing,
    /// The request has another token.
    Wrong,
}

impl Refusal {
    /// 403 when the admin API is disabled or the token is wrong, 401 when there is none.
    pub(super) fn response(self) -> Response {
        match self {
            Self::Disabled => error(
                StatusCode::FORBIDDEN,
                "the admin API is disabled: configure admin.token (DIMBY_ADMIN__TOKEN)",
            ),
            Self::Missing => {
                let mut response = error(StatusCode::UNAUTHORIZED, "missing bearer token");
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
                response
            }
            Self::Wrong => error(StatusCode::FORBIDDEN, "wrong admin token"),
        }
    }
}

/// Whether `headers` carry the admin token.
pub(super) fn check(token: Option<&AdminToken>, headers: &HeaderMap) -> Result<(), Refusal> {
    let token = token.ok_or(Refusal::Disabled)?;
    match bearer(headers) {
        None => Err(Refusal::Missing),
        Some(presented) if token.matches(presented) => Ok(()),
        Some(_) => Err(Refusal::Wrong),
    }
}

/// The bearer token of a request, if any.
pub(super) fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::AdminToken;

    #[test]
    fn tokens_compare_exactly_and_never_print() {
        let token = AdminToken::new("s3cret").expect("token");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cres"));
        assert!(!token.matches("s3cret "));
        assert!(!token.matches("s3cre"));
        assert!(!token.matches(""));
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!(AdminToken::new("").is_none());
    }

    #[test]
    fn only_the_digest_is_kept_so_the_length_is_not_compared() {
        // What is compared is a fixed-size digest: a token of another length is not refused
        // early (by a length check) but by the same 32-byte comparison as any other.
        let token = AdminToken::new("s3cret").expect("token");
        assert_eq!(token.0, super::digest("s3cret"));
        assert_eq!(
            super::digest("x").len(),
            super::digest(&"x".repeat(4096)).len()
        );
        assert!(!token.matches(&"s".repeat(4096)));
    }
}
