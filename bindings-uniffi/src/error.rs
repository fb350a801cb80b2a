//! Mirrors `switchboard_core::error`: one error enum with a case per
//! [`ErrorCategory`](switchboard_core::sdk::ErrorCategory), the grouping every language's
//! exception classes follow. Each case carries the core error's fields; core messages never
//! carry a secret.

use switchboard_core::sdk::ErrorCategory;
use switchboard_core::{Error, ErrorCode};

/// A Switchboard failure. The case is the error's category; `reason` is core's message (Kotlin
/// reserves `message` for the exception's own text, which lists every field), `code` the
/// stable snake_case code within the category (e.g. `upstream_timeout` under `HttpStatus`),
/// `status` the HTTP status when there was one, `retry_after` seconds to wait when rate
/// limited.
#[derive(Debug, thiserror::Error, uniffi::Error)]
#[allow(missing_docs)]
pub enum SwitchboardException {
    /// Unknown entity or action, bad params, malformed request: nothing was sent.
    #[error("{code}: {reason}")]
    Validation {
        reason: String,
        code: String,
        status: Option<i32>,
        request_id: Option<String>,
        retry_after: Option<f64>,
    },
    /// The caller's own credentials or token are missing, expired or rejected.
    #[error("{code}: {reason}")]
    Authentication {
        reason: String,
        code: String,
        status: Option<i32>,
        request_id: Option<String>,
        retry_after: Option<f64>,
    },
    /// The provider rejected the connector's credentials (the end user's token is bad).
    #[error("{code}: {reason}")]
    UpstreamAuthentication {
        reason: String,
        code: String,
        status: Option<i32>,
        request_id: Option<String>,
        retry_after: Option<f64>,
    },
    /// No such object in the caller's scope.
    #[error("{code}: {reason}")]
    NotFound { reason: String, code: String, status: Option<i32>, request_id: Option<String>, retry_after: Option<f64> },
    /// Conflicting state, e.g. two connectors match a lookup.
    #[error("{code}: {reason}")]
    Ambiguity {
        reason: String,
        code: String,
        status: Option<i32>,
        request_id: Option<String>,
        retry_after: Option<f64>,
    },
    /// Rate limited after retries; wait `retry_after` seconds.
    #[error("{code}: {reason}")]
    RateLimit {
        reason: String,
        code: String,
        status: Option<i32>,
        request_id: Option<String>,
        retry_after: Option<f64>,
    },
    /// The upstream answered with an error status or not in time.
    #[error("{code}: {reason}")]
    HttpStatus {
        reason: String,
        code: String,
        status: Option<i32>,
        request_id: Option<String>,
        retry_after: Option<f64>,
    },
    /// The upstream or the engine could not be reached.
    #[error("{code}: {reason}")]
    Network { reason: String, code: String, status: Option<i32>, request_id: Option<String>, retry_after: Option<f64> },
    /// A connector, credential set or config that cannot work.
    #[error("{code}: {reason}")]
    Configuration {
        reason: String,
        code: String,
        status: Option<i32>,
        request_id: Option<String>,
        retry_after: Option<f64>,
    },
    /// Anything else (payload too large, internal).
    #[error("{code}: {reason}")]
    Other { reason: String, code: String, status: Option<i32>, request_id: Option<String>, retry_after: Option<f64> },
}

impl From<Error> for SwitchboardException {
    fn from(e: Error) -> Self {
        let (reason, code, status, request_id, retry_after) =
            (e.message, e.code.as_str().to_string(), e.status_code.map(i32::from), e.request_id, e.retry_after);
        macro_rules! case {
            ($v:ident) => {
                SwitchboardException::$v { reason, code, status, request_id, retry_after }
            };
        }
        match e.code.category() {
            ErrorCategory::Validation => case!(Validation),
            ErrorCategory::Authentication => case!(Authentication),
            ErrorCategory::UpstreamAuthentication => case!(UpstreamAuthentication),
            ErrorCategory::NotFound => case!(NotFound),
            ErrorCategory::Ambiguity => case!(Ambiguity),
            ErrorCategory::RateLimit => case!(RateLimit),
            ErrorCategory::HttpStatus => case!(HttpStatus),
            ErrorCategory::Network => case!(Network),
            ErrorCategory::Configuration => case!(Configuration),
            ErrorCategory::Other => case!(Other),
        }
    }
}

impl SwitchboardException {
    fn parts(self) -> (String, String, Option<i32>, Option<String>, Option<f64>) {
        use SwitchboardException::*;
        match self {
            Validation { reason, code, status, request_id, retry_after }
            | Authentication { reason, code, status, request_id, retry_after }
            | UpstreamAuthentication { reason, code, status, request_id, retry_after }
            | NotFound { reason, code, status, request_id, retry_after }
            | Ambiguity { reason, code, status, request_id, retry_after }
            | RateLimit { reason, code, status, request_id, retry_after }
            | HttpStatus { reason, code, status, request_id, retry_after }
            | Network { reason, code, status, request_id, retry_after }
            | Configuration { reason, code, status, request_id, retry_after }
            | Other { reason, code, status, request_id, retry_after } => {
                (reason, code, status, request_id, retry_after)
            }
        }
    }
}

/// An error thrown by the app's code (a token provider) back into core; an unknown code is
/// `internal`.
impl From<SwitchboardException> for Error {
    fn from(e: SwitchboardException) -> Self {
        let (reason, code, status, request_id, retry_after) = e.parts();
        let mut error = Error::new(ErrorCode::parse(&code).unwrap_or(ErrorCode::Internal), reason)
            .with_request_id(request_id)
            .with_retry_after(retry_after);
        if let Some(s) = status.and_then(|s| u16::try_from(s).ok()) {
            error = error.with_status(s);
        }
        error
    }
}

/// An exception of another type thrown by the app's callback.
impl From<uniffi::UnexpectedUniFFICallbackError> for SwitchboardException {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Error::internal(format!("a callback failed: {}", e.reason)).into()
    }
}

/// One public error code and the category (the `SwitchboardException` case) it arrives as.
#[derive(uniffi::Record)]
pub struct ErrorCodeInfo {
    pub code: String,
    pub category: String,
    /// The category whose handlers also catch this one (`authentication` for
    /// `upstream_authentication`), if any.
    pub parent_category: Option<String>,
}

/// Every public error code, in core's stable order, for a drift test.
#[uniffi::export]
pub fn error_codes() -> Vec<ErrorCodeInfo> {
    ErrorCode::ALL
        .iter()
        .map(|c| ErrorCodeInfo {
            code: c.as_str().into(),
            category: c.category().as_str().into(),
            parent_category: c.category().parent().map(|p| p.as_str().into()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_through_its_case() {
        for code in ErrorCode::ALL {
            let e =
                Error::new(code, "m").with_status(429).with_request_id(Some("r".into())).with_retry_after(Some(1.5));
            let ex = SwitchboardException::from(e);
            assert_eq!(ex.to_string(), format!("{}: m", code.as_str()));
            let back = Error::from(ex);
            assert_eq!((back.code, back.status_code, back.request_id.as_deref()), (code, Some(429), Some("r")));
            assert_eq!(back.retry_after, Some(1.5));
        }
        let cases: std::collections::HashSet<_> = error_codes().into_iter().map(|c| c.category).collect();
        assert_eq!(cases.len(), ErrorCategory::ALL.len());
    }
}
