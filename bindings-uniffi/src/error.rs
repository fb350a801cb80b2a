//! Mirrors `switchboard_core::error`: one error enum with a case per public
//! [`ErrorCode`]. Each case carries the core error's fields and its code's
//! [`ErrorCategory`](switchboard_core::sdk::ErrorCategory) name, so a handler can still group;
//! core messages never carry a secret.

use switchboard_core::{Error, ErrorCode};

/// Declares [`SwitchboardException`] with one case per code (each carrying the same fields),
/// and its conversions from core's errors and back, from one list of codes: the list is written
/// once, and the exhaustive matches fail to compile when core gains a code without a case.
macro_rules! exception {
    ($($(#[doc = $doc:literal])* $case:ident,)*) => {
        /// A Switchboard failure. The case is the error's code; `reason` is core's message (Kotlin
        /// reserves `message` for the exception's own text, which lists every field), `category`
        /// the group the code belongs to (e.g. `http_status` for `UpstreamTimeout`), `status` the
        /// HTTP status when there was one, `retry_after` seconds to wait when rate limited.
        #[derive(Debug, thiserror::Error, uniffi::Error)]
        #[allow(missing_docs)]
        pub enum SwitchboardException {
            $(
                $(#[doc = $doc])*
                #[error("{}: {reason}", ErrorCode::$case.as_str())]
                $case {
                    reason: String,
                    category: String,
                    status: Option<i32>,
                    request_id: Option<String>,
                    retry_after: Option<f64>,
                },
            )*
        }

        impl From<Error> for SwitchboardException {
            fn from(e: Error) -> Self {
                let (reason, category, status, request_id, retry_after) = (
                    e.message,
                    e.code.category().as_str().to_string(),
                    e.status_code.map(i32::from),
                    e.request_id,
                    e.retry_after,
                );
                match e.code {
                    $(ErrorCode::$case => Self::$case { reason, category, status, request_id, retry_after },)*
                }
            }
        }

        /// An error thrown by the app's code (a token provider) back into core; the case is the
        /// code, `category` is ignored.
        impl From<SwitchboardException> for Error {
            fn from(e: SwitchboardException) -> Self {
                let (code, reason, status, request_id, retry_after) = match e {
                    $(SwitchboardException::$case { reason, status, request_id, retry_after, .. } => {
                        (ErrorCode::$case, reason, status, request_id, retry_after)
                    })*
                };
                let error = Error::new(code, reason).with_request_id(request_id).with_retry_after(retry_after);
                match status.and_then(|s| u16::try_from(s).ok()) {
                    Some(s) => error.with_status(s),
                    None => error,
                }
            }
        }
    };
}

exception! {
    /// A malformed request (e.g. invalid JSON).
    BadRequest,
    /// Unknown entity or action, missing or invalid params: nothing was sent.
    Validation,
    /// The caller's own credentials or token are missing, expired or rejected.
    Authentication,
    /// The provider rejected the connector's credentials (the end user's token is bad).
    UpstreamAuthentication,
    /// The credentials are valid but lack the permission.
    Forbidden,
    /// No such object in the caller's scope.
    NotFound,
    /// Conflicting state, e.g. two connectors match a lookup.
    Conflict,
    /// A request body over the size limit.
    PayloadTooLarge,
    /// Rate limited after retries; wait `retry_after` seconds.
    RateLimited,
    /// The upstream answered with an error status.
    UpstreamHttp,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The upstream or the engine could not be reached.
    Network,
    /// A connector, credential set or config that cannot work.
    Configuration,
    /// The engine cannot serve the request for a moment: retry after `retry_after`.
    Unavailable,
    /// A bug.
    Internal,
}

/// An exception of another type thrown by the app's callback.
impl From<uniffi::UnexpectedUniFFICallbackError> for SwitchboardException {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        Error::internal(format!("a callback failed: {}", e.reason)).into()
    }
}

/// One public error code (the `SwitchboardException` case it arrives as) and its category.
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

    /// Every code arrives as the case named after it (`UpstreamHttp` for `upstream_http`, the
    /// name Kotlin's `info.code` reads back), with its category, and converts back unchanged (a
    /// code without a case does not compile: the matches above are exhaustive).
    #[test]
    fn every_code_round_trips_through_its_case() {
        for code in ErrorCode::ALL {
            let e =
                Error::new(code, "m").with_status(429).with_request_id(Some("r".into())).with_retry_after(Some(1.5));
            let ex = SwitchboardException::from(e);
            assert_eq!(ex.to_string(), format!("{}: m", code.as_str()));
            let debug = format!("{ex:?}");
            let case = debug.split_whitespace().next().unwrap_or_default();
            let snake: String = case
                .chars()
                .flat_map(|c| [(c.is_uppercase()).then_some('_'), Some(c.to_ascii_lowercase())])
                .flatten()
                .collect();
            assert_eq!(snake.trim_start_matches('_'), code.as_str());
            assert!(debug.contains(&format!("category: {:?}", code.category().as_str())), "{debug}");
            let back = Error::from(ex);
            assert_eq!((back.code, back.status_code, back.request_id.as_deref()), (code, Some(429), Some("r")));
            assert_eq!(back.retry_after, Some(1.5));
        }
    }
}
