//! The one public error type of Switchboard.
//!
//! Every failure a caller can see, in every language, is an [`Error`] carrying one of the stable
//! [`ErrorCode`]s. Internal failures (HTTP, JSON, templates) are mapped here, in one place, into
//! messages written for a person or an LLM to act on. No message ever carries a credential.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Stable, snake_case error codes shared by the engine's HTTP API and every SDK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request (e.g. invalid JSON).
    BadRequest,
    /// Unknown entity or action, missing or invalid params.
    Validation,
    /// Missing, expired, forged or rejected tokens or client credentials of Switchboard itself
    /// (the caller's own: "my token is bad").
    Authentication,
    /// The upstream provider rejected the connector's credentials (the end user's: "their
    /// GitHub token is bad"), including a refresh token it no longer accepts.
    UpstreamAuthentication,
    /// The credentials are valid but lack the permission.
    Forbidden,
    /// No such object in the caller's scope.
    NotFound,
    /// Conflicting state, e.g. an ambiguous connector lookup.
    Conflict,
    /// A request body over the size limit.
    PayloadTooLarge,
    /// Rate limited, by the engine or by the upstream after retries.
    RateLimited,
    /// The upstream API answered with an error status.
    UpstreamHttp,
    /// The upstream API did not answer in time.
    UpstreamTimeout,
    /// The upstream API could not be reached.
    Network,
    /// A connector spec, credential set or config that cannot work.
    Configuration,
    /// The engine cannot serve the request for a moment (its storage is restarting or failing
    /// over): retry after `retry_after`.
    Unavailable,
    /// A bug.
    Internal,
}

impl ErrorCode {
    /// Every code, in a stable order (bindings check theirs against this list).
    pub const ALL: [ErrorCode; 15] = [
        ErrorCode::BadRequest,
        ErrorCode::Validation,
        ErrorCode::Authentication,
        ErrorCode::UpstreamAuthentication,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::Conflict,
        ErrorCode::PayloadTooLarge,
        ErrorCode::RateLimited,
        ErrorCode::UpstreamHttp,
        ErrorCode::UpstreamTimeout,
        ErrorCode::Network,
        ErrorCode::Configuration,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The snake_case code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::Validation => "validation",
            ErrorCode::Authentication => "authentication",
            ErrorCode::UpstreamAuthentication => "upstream_authentication",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Conflict => "conflict",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::UpstreamHttp => "upstream_http",
            ErrorCode::UpstreamTimeout => "upstream_timeout",
            ErrorCode::Network => "network",
            ErrorCode::Configuration => "configuration",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// Parses a snake_case code.
    pub fn parse(s: &str) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The HTTP status the engine answers with for this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::BadRequest => 400,
            ErrorCode::Validation => 422,
            ErrorCode::Authentication => 401,
            // Not 401: the engine's caller is authenticated; the provider refused the stored
            // credentials (the provider's own status is in `details.upstream_status`).
            ErrorCode::UpstreamAuthentication => 502,
            ErrorCode::Forbidden => 403,
            ErrorCode::NotFound => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::UpstreamHttp => 502,
            ErrorCode::UpstreamTimeout => 504,
            ErrorCode::Network => 502,
            ErrorCode::Configuration => 422,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed Switchboard error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Error {
    /// What kind of failure this is; callers branch on it.
    pub code: ErrorCode,
    /// What went wrong and how to fix it; never contains a secret.
    pub message: String,
    /// The upstream (local mode) or engine (hosted mode) HTTP status, when there was one.
    pub status_code: Option<u16>,
    /// The engine's or upstream's request id, when known.
    pub request_id: Option<String>,
    /// Seconds to wait before retrying, for `rate_limited`.
    pub retry_after: Option<f64>,
    /// Structured details (e.g. `{"param": "owner"}`, `{"upstream_status": 500}`).
    pub details: Option<Value>,
}

impl Error {
    /// A new error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), status_code: None, request_id: None, retry_after: None, details: None }
    }

    /// `validation`.
    pub fn validation(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, message)
    }

    /// `configuration`.
    pub fn configuration(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Configuration, message)
    }

    /// `internal`.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// Sets the status code.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status_code = Some(status);
        self
    }

    /// Sets the details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Sets the retry-after seconds.
    pub fn with_retry_after(mut self, secs: Option<f64>) -> Self {
        self.retry_after = secs;
        self
    }

    /// Sets the request id.
    pub fn with_request_id(mut self, id: Option<String>) -> Self {
        self.request_id = id;
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for Error {}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Replaces every occurrence of each secret in `text`, in every encoding it may travel in
/// (raw, base64, percent- and form-encoded, JSON-escaped), with `****`. A shorthand for
/// [`crate::redact::Secrets::redact`]; a connector handle keeps its [`crate::redact::Secrets`]
/// built once instead.
pub fn redact(text: &str, secrets: &[String]) -> String {
    crate::redact::Secrets::from_values(secrets).redact(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
            assert_eq!(ErrorCode::parse(c.as_str()), Some(c));
            let json = serde_json::to_string(&c).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
        }
        assert_eq!(ErrorCode::parse("nope"), None);
    }

    #[test]
    fn redact_hides_secrets() {
        let s = redact("bad key sk_live_12345 given", &["sk_live_12345".to_string()]);
        assert_eq!(s, "bad key **** given");
        let s = redact("echo c2tfbGl2ZV8xMjM0NQ== sk%5Flive%5F12345", &["sk_live_12345".to_string()]);
        assert_eq!(s, "echo **** ****");
    }
}
