//! Bearer-token authentication of the admin API.

use std::fmt;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::AdminState;
use super::nodes::error;

/// The admin token. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Wraps a token; an empty one is refused.
    pub fn new(token: impl Into<String>) -> Option<Self> {
        let token = token.into();
        (!token.is_empty()).then_some(Self(token))
    }

    /// Compares in constant time (for a given length), so timing does not leak the token.
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
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
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!(AdminToken::new("").is_none());
    }
}
