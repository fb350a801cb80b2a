//! How error codes group into the exception classes every language exposes. The codes are
//! [`ErrorCode`]; the groups are here once, so Python's `RateLimitError`, Node's
//! `RateLimitError` and Kotlin's `SwitchboardException.RateLimit` catch the same codes.

use serde::{Deserialize, Serialize};

use crate::error::ErrorCode;

/// A group of error codes that one exception class stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCategory {
    /// Unknown entity or action, bad params, malformed request: nothing was sent
    /// (`ConnectorValidationError`).
    Validation,
    /// Missing, expired or rejected credentials or tokens, or a missing permission
    /// (`AuthenticationError`).
    Authentication,
    /// The provider rejected the connector's stored or given credentials
    /// (`UpstreamAuthenticationError`, a kind of `AuthenticationError`: see
    /// [`ErrorCategory::parent`]).
    UpstreamAuthentication,
    /// No such object in the caller's scope (`ConnectorNotFoundError`).
    NotFound,
    /// Conflicting state, e.g. two connectors match a lookup (`ConnectorAmbiguityError`).
    Ambiguity,
    /// Rate limited after retries; wait `retry_after` (`RateLimitError`).
    RateLimit,
    /// The upstream answered with an error status or not in time (`HTTPStatusError`).
    HttpStatus,
    /// The upstream or the engine could not be reached (`NetworkError`).
    Network,
    /// A connector, credential set or config that cannot work (`ConfigurationError`).
    Configuration,
    /// Everything else: the base class (`SwitchboardError`).
    Other,
}

impl ErrorCategory {
    /// Every category, in a stable order.
    pub const ALL: [ErrorCategory; 10] = [
        ErrorCategory::Validation,
        ErrorCategory::Authentication,
        ErrorCategory::UpstreamAuthentication,
        ErrorCategory::NotFound,
        ErrorCategory::Ambiguity,
        ErrorCategory::RateLimit,
        ErrorCategory::HttpStatus,
        ErrorCategory::Network,
        ErrorCategory::Configuration,
        ErrorCategory::Other,
    ];

    /// The snake_case name bindings key their classes by.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCategory::Validation => "validation",
            ErrorCategory::Authentication => "authentication",
            ErrorCategory::UpstreamAuthentication => "upstream_authentication",
            ErrorCategory::NotFound => "not_found",
            ErrorCategory::Ambiguity => "ambiguity",
            ErrorCategory::RateLimit => "rate_limit",
            ErrorCategory::HttpStatus => "http_status",
            ErrorCategory::Network => "network",
            ErrorCategory::Configuration => "configuration",
            ErrorCategory::Other => "other",
        }
    }

    /// The name of this category's exception class in the languages that have one class per
    /// category (Python, TypeScript): the reference SDK's names.
    pub fn class_name(self) -> &'static str {
        match self {
            ErrorCategory::Validation => "ConnectorValidationError",
            ErrorCategory::Authentication => "AuthenticationError",
            ErrorCategory::UpstreamAuthentication => "UpstreamAuthenticationError",
            ErrorCategory::NotFound => "ConnectorNotFoundError",
            ErrorCategory::Ambiguity => "ConnectorAmbiguityError",
            ErrorCategory::RateLimit => "RateLimitError",
            ErrorCategory::HttpStatus => "HTTPStatusError",
            ErrorCategory::Network => "NetworkError",
            ErrorCategory::Configuration => "ConfigurationError",
            ErrorCategory::Other => "SwitchboardError",
        }
    }

    /// What an error of this category means to a caller, for its class's documentation in
    /// every language.
    pub fn description(self) -> &'static str {
        match self {
            ErrorCategory::Validation => {
                "Unknown entity or action, missing or invalid params, or a malformed request. Nothing was sent."
            }
            ErrorCategory::Authentication => {
                "Missing, expired or rejected Switchboard tokens or client credentials, or credentials lacking a \
                 permission."
            }
            ErrorCategory::UpstreamAuthentication => {
                "The provider rejected the connector's credentials: the end user's token is bad, not yours; they \
                 must reconnect. Handlers of authentication errors catch it too."
            }
            ErrorCategory::NotFound => "No such object, connector or record in the caller's scope.",
            ErrorCategory::Ambiguity => "Conflicting state, e.g. two connectors match a lookup: pass the connector id.",
            ErrorCategory::RateLimit => {
                "Rate limited by the upstream or the engine after retries; wait the error's retry-after seconds."
            }
            ErrorCategory::HttpStatus => "The upstream API answered with an error status or did not answer in time.",
            ErrorCategory::Network => "The upstream API or the engine could not be reached.",
            ErrorCategory::Configuration => {
                "A connector, credential set, config or client setting that cannot work, e.g. neither a connector \
                 id nor a workspace and type for a lookup."
            }
            ErrorCategory::Other => "Everything else: the base class of every Switchboard error.",
        }
    }

    /// The category whose class this one's class extends, if any: a handler for
    /// `AuthenticationError` also catches `UpstreamAuthenticationError`.
    pub fn parent(self) -> Option<ErrorCategory> {
        match self {
            ErrorCategory::UpstreamAuthentication => Some(ErrorCategory::Authentication),
            _ => None,
        }
    }

    /// The codes of this category.
    pub fn codes(self) -> impl Iterator<Item = ErrorCode> {
        ErrorCode::ALL.into_iter().filter(move |c| c.category() == self)
    }
}

impl ErrorCode {
    /// The category, i.e. the exception class, of this code.
    pub fn category(self) -> ErrorCategory {
        match self {
            ErrorCode::BadRequest | ErrorCode::Validation => ErrorCategory::Validation,
            ErrorCode::Authentication | ErrorCode::Forbidden => ErrorCategory::Authentication,
            ErrorCode::UpstreamAuthentication => ErrorCategory::UpstreamAuthentication,
            ErrorCode::NotFound => ErrorCategory::NotFound,
            ErrorCode::Conflict => ErrorCategory::Ambiguity,
            ErrorCode::RateLimited => ErrorCategory::RateLimit,
            ErrorCode::UpstreamHttp | ErrorCode::UpstreamTimeout => ErrorCategory::HttpStatus,
            ErrorCode::Network | ErrorCode::Unavailable => ErrorCategory::Network,
            ErrorCode::Configuration => ErrorCategory::Configuration,
            ErrorCode::PayloadTooLarge | ErrorCode::Internal => ErrorCategory::Other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_one_category_and_every_category_a_code() {
        let total: usize = ErrorCategory::ALL.iter().map(|c| c.codes().count()).sum();
        assert_eq!(total, ErrorCode::ALL.len());
        for c in ErrorCategory::ALL {
            assert!(c.codes().next().is_some(), "{c:?} has no code");
            assert_eq!(serde_json::to_value(c).ok(), Some(serde_json::json!(c.as_str())));
            assert!(c.description().ends_with('.'), "{c:?}");
        }
        let classes: std::collections::HashSet<_> = ErrorCategory::ALL.iter().map(|c| c.class_name()).collect();
        assert_eq!(classes.len(), ErrorCategory::ALL.len(), "one class per category");
    }
}
