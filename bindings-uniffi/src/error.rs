//! Mirrors `switchboard_core::error`: one error enum with a case per
//! [`ErrorCategory`](switchboard_core::sdk::ErrorCategory), the grouping every language's
//! exception classes follow. Each case carries the core error's fields; core messages never
//! carry a secret.

use switchboard_core::sdk::ErrorCategory;
use switchboard_core::{Error, ErrorCode};

/// Declares [`SwitchboardException`] with one case per category (each carrying the same
/// fields), and its conversions from core's errors and back, from one list of cases: the list
/// is written once.
macro_rules! exception {
    ($($(#[doc = $doc:literal])* $case:ident,)*) => {
        /// A Switchboard failure. The case is the error's category; `reason` is core's message (Kotlin
        /// reserves `message` for the exception's own text, which lists every field), `code` the
        /// stable snake_case code within the category (e.g. `upstream_timeout` under `HttpStatus`),
        /// `status` the HTTP status when there was one, `retry_after` seconds to wait when rate
        /// limited.
        #[derive(Debug, thiserror::Error, uniffi::Error)]
        #[allow(missing_docs)]
        pub enum SwitchboardException {
            $(
                $(#[doc = $doc])*
                #[error("{code}: {reason}")]
                $case {
                    reason: String,
                    code: String,
                    status: Option<i32>,
                    request_id: Option<String>,
                    retry_after: Option<f64>,
                },
            )*
        }

        impl From<Error> for SwitchboardException {
            fn from(e: Error) -> Self {
                let (reason, code, status, request_id, retry_after) =
                    (e.message, e.code.as_str().to_string(), e.status_code.map(i32::from), e.request_id, e.retry_after);
                match e.code.category() {
                    $(ErrorCategory::$case => SwitchboardException::$case { reason, code, status, request_id, retry_after },)*
                }
            }
        }

        impl SwitchboardException {
            fn parts(self) -> (String, String, Option<i32>, Option<String>, Option<f64>) {
                match self {
                    $(SwitchboardException::$case { reason, code, status, request_id, retry_after } => {
                        (reason, code, status, request_id, retry_after)
                    })*
                }
            }
        }
    };
}

exception! {
    /// Unknown entity or action, bad params, malformed request: nothing was sent.
    Validation,
    /// The caller's own credentials or token are missing, expired or rejected.
    Authentication,
    /// The provider rejected the connector's credentials (the end user's token is bad).
    UpstreamAuthentication,
    /// No such object in the caller's scope.
    NotFound,
    /// Conflicting state, e.g. two connectors match a lookup.
    Ambiguity,
    /// Rate limited after retries; wait `retry_after` seconds.
    RateLimit,
    /// The upstream answered with an error status or not in time.
    HttpStatus,
    /// The upstream or the engine could not be reached.
    Network,
    /// A connector, credential set or config that cannot work.
    Configuration,
    /// Anything else (payload too large, internal).
    Other,
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
