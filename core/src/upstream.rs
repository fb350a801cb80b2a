//! Mapping upstream answers to public errors, in one place: status codes, GraphQL `errors`
//! arrays, the APIs' own error bodies, `Retry-After`, and requests that got no answer at all
//! ([`transport_error`], the only place a [`TransportError`] becomes an [`Error`]).

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::error::{Error, ErrorCode};
use crate::http::{HttpResponse, TransportError};
use crate::redact::Secrets;
use crate::spec::ResponseErrorCheck;

/// The longest upstream message an error carries (characters).
const MAX_MESSAGE_CHARS: usize = 500;

/// The longest upstream request id an error carries (characters); real ones are far shorter.
const MAX_REQUEST_ID_CHARS: usize = 200;

/// Who a request that got no answer was for, as [`transport_error`] names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer<'a> {
    /// A connector's API, by display name (`GitHub`).
    Api(&'a str),
    /// An OAuth token endpoint, by host.
    TokenEndpoint(&'a str),
    /// The engine (hosted mode), by base URL.
    Engine(&'a str),
}

/// Who a request was for, in a message.
fn peer_name(peer: Peer<'_>) -> String {
    match peer {
        Peer::Api(api) => api.to_string(),
        Peer::TokenEndpoint(host) => format!("the OAuth token endpoint at {host}"),
        Peer::Engine(base) => format!("the engine at {base}"),
    }
}

/// The public error for a request to `peer` that got no response: a timeout is
/// `upstream_timeout`, a connection or sending failure `network`. Every caller of the HTTP seam
/// (connector calls and downloads, OAuth refreshes, the hosted client) maps transport failures
/// here and nowhere else. The transport's message never carries the URL (see
/// [`crate::http::NetClient`]), so no query-string secret reaches the error.
pub fn transport_error(peer: Peer<'_>, e: &TransportError) -> Error {
    let code = match e {
        TransportError::Timeout | TransportError::NoTurn(_) | TransportError::NoConnectorTurn(_) => {
            ErrorCode::UpstreamTimeout
        }
        TransportError::Connect(_) | TransportError::Other(_) => ErrorCode::Network,
        TransportError::TooLarge(_) => ErrorCode::UpstreamHttp,
        TransportError::Unsendable(_) => ErrorCode::Configuration,
    };
    let message = match (peer, e) {
        (Peer::Api(api), TransportError::Timeout) => format!("{api} did not answer in time"),
        (Peer::Api(api), TransportError::Connect(m)) => format!("{api} could not be reached: {m}"),
        (Peer::Api(api), TransportError::Other(m)) => format!("the request to {api} failed: {m}"),
        (Peer::TokenEndpoint(host), TransportError::Timeout) => {
            format!("the OAuth token endpoint at {host} did not answer in time")
        }
        (Peer::TokenEndpoint(host), TransportError::Connect(m) | TransportError::Other(m)) => {
            format!("the OAuth token endpoint at {host} could not be reached: {m}")
        }
        (Peer::Engine(_), TransportError::Timeout) => "the engine did not answer in time".to_string(),
        (Peer::Engine(base), TransportError::Connect(m) | TransportError::Other(m)) => {
            format!("the engine at {base} could not be reached: {m}")
        }
        (peer, TransportError::Unsendable(m)) => format!("not sent to {}: {m}", peer_name(peer)),
        (peer, TransportError::TooLarge(n)) => format!(
            "the answer of {} is longer than {n} bytes, the most the client reads; not read further",
            peer_name(peer)
        ),
        (peer, TransportError::NoTurn(n)) => format!(
            "not sent: {n} requests to {} were already in progress and none ended in time (at most {n} at once per \
             origin; fewer calls in flight, or a longer timeout)",
            peer_name(peer)
        ),
        (peer, TransportError::NoConnectorTurn(n)) => format!(
            "not sent: {n} requests of this connector were already in progress and none ended in time (its \
             max_concurrent_requests is {n}; fewer calls in flight, a higher limit, or a longer timeout); the request \
             was to {}",
            peer_name(peer)
        ),
    };
    Error::new(code, message)
}

/// The public code for an upstream HTTP status.
pub fn code_for_status(status: u16) -> ErrorCode {
    match status {
        401 => ErrorCode::UpstreamAuthentication,
        403 => ErrorCode::Forbidden,
        404 | 410 => ErrorCode::NotFound,
        409 => ErrorCode::Conflict,
        400 | 422 => ErrorCode::Validation,
        413 => ErrorCode::PayloadTooLarge,
        429 => ErrorCode::RateLimited,
        408 | 504 => ErrorCode::UpstreamTimeout,
        _ => ErrorCode::UpstreamHttp,
    }
}

/// The code a GraphQL `errors` array asks for, if it says.
pub fn graphql_code(body: &Value) -> Option<ErrorCode> {
    let errors = body.get("errors")?.as_array()?;
    let first = errors.first()?;
    let kind = first
        .get("type")
        .or_else(|| first.get("extensions").and_then(|e| e.get("code")))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_uppercase();
    let message = first.get("message").and_then(Value::as_str).unwrap_or("").to_ascii_lowercase();
    Some(match kind.as_str() {
        "NOT_FOUND" => ErrorCode::NotFound,
        "FORBIDDEN" | "INSUFFICIENT_SCOPES" => ErrorCode::Forbidden,
        "AUTHENTICATION_ERROR" | "UNAUTHENTICATED" | "UNAUTHORIZED" => ErrorCode::UpstreamAuthentication,
        "RATE_LIMITED" | "RATELIMITED" => ErrorCode::RateLimited,
        _ if message.contains("not found") || message.contains("could not resolve") => ErrorCode::NotFound,
        "INVALID_INPUT"
        | "BAD_USER_INPUT"
        | "GRAPHQL_VALIDATION_FAILED"
        | "GRAPHQL_PARSE_FAILED"
        | "ARGUMENT_ERROR"
        | "UNPROCESSABLE"
        | "MISSING_PAGINATION_BOUNDARIES"
        | "EXCESSIVE_PAGINATION"
        | "INVALID_CURSOR_ARGUMENTS"
        | "VARIABLENOTDEFINED"
        | "VARIABLENOTUSED"
        | "VARIABLEREQUIRESVALIDTYPE"
        | "ARGUMENTLITERALSINCOMPATIBLE" => ErrorCode::Validation,
        _ if message.contains("was provided invalid value")
            || first.get("extensions").and_then(|e| e.get("problems")).is_some() =>
        {
            ErrorCode::Validation
        }
        _ => ErrorCode::UpstreamHttp,
    })
}

/// The public code for a failure an answer with a success status reports in its body
/// (`x-response-error-check`), with the provider's reason: the code the spec maps the reason to
/// (`codes`), else the reasons whose meaning is clear (Slack's vocabulary, which other APIs
/// share): rejected or revoked credentials are `upstream_authentication`, a missing scope or a
/// token of the wrong kind `forbidden`, `*_not_found` `not_found`, `ratelimited`
/// `rate_limited`; anything else `upstream_http`.
pub fn reason_code(check: &ResponseErrorCheck, reason: &str) -> ErrorCode {
    let reason = reason.trim();
    if let Some((_, code)) = check.codes.iter().find(|(r, _)| r == reason) {
        return *code;
    }
    let r = reason.to_ascii_lowercase();
    match r.as_str() {
        "not_authed" | "invalid_auth" | "token_revoked" | "token_expired" | "account_inactive" | "invalid_token"
        | "unauthenticated" | "unauthorized" => ErrorCode::UpstreamAuthentication,
        "missing_scope" | "not_allowed_token_type" | "no_permission" | "access_denied" | "forbidden" => {
            ErrorCode::Forbidden
        }
        "ratelimited" | "rate_limited" | "rate_limit_exceeded" => ErrorCode::RateLimited,
        _ if r == "not_found" || r.ends_with("_not_found") => ErrorCode::NotFound,
        _ => ErrorCode::UpstreamHttp,
    }
}

/// What a success-status answer says went wrong, by the operation's `x-response-error-check`:
/// the public code and the provider's reason. The code is the one `codes` maps the value of the
/// check's field to (TikTok's `code: 40105`), else [`reason_code`]'s. `None` when the check is
/// absent or the body does not match it.
pub fn body_failure(check: Option<&ResponseErrorCheck>, body: &Value) -> Option<(ErrorCode, String)> {
    let check = check?;
    let reason = check.failure(body)?;
    let value = check.field.split('.').try_fold(body, |v, k| v.get(k)).and_then(|v| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let by_value = value.as_ref().and_then(|v| check.codes.iter().find(|(r, _)| r == v)).map(|(_, c)| *c);
    let code = by_value.unwrap_or_else(|| reason_code(check, &reason));
    // In the `ok_value` form the failing value is the provider's error code: keep it.
    let reason = match value {
        Some(v) if check.on_other && reason.is_empty() => format!("code {v}"),
        Some(v) if check.on_other => format!("{reason} (code {v})"),
        _ => reason,
    };
    Some((code, reason))
}

/// A readable message from an API's error body, whatever its shape.
pub fn body_message(body: &Value) -> Option<String> {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
    let first_error = body.get("errors").and_then(Value::as_array).and_then(|a| a.first());
    s(body.get("error").and_then(|e| e.get("message")))
        .or_else(|| s(body.get("message")))
        .or_else(|| s(first_error.and_then(|e| e.get("message"))))
        .or_else(|| s(first_error))
        .or_else(|| {
            let e = s(body.get("error"))?;
            Some(match s(body.get("error_description")) {
                Some(d) => format!("{e}: {d}"),
                None => e,
            })
        })
        .or_else(|| s(body.get("detail")))
        .or_else(|| s(body.get("title")))
}

/// The request id an API put on its answer, if any, as the API sent it. It is upstream text:
/// [`error`] redacts it before it enters an error.
pub fn request_id(resp: &HttpResponse, body: &Value) -> Option<String> {
    ["x-request-id", "request-id", "x-github-request-id", "x-hubspot-correlation-id"]
        .iter()
        .find_map(|h| resp.header(h).map(str::to_string))
        .or_else(|| {
            ["requestId", "correlationId", "request_id"]
                .iter()
                .find_map(|k| body.get(k).and_then(Value::as_str).map(str::to_string))
        })
}

/// `Retry-After` in seconds (delta-seconds or an HTTP date).
pub fn retry_after(resp: &HttpResponse) -> Option<f64> {
    let v = resp.header("retry-after")?.trim();
    let secs = match v.parse::<f64>() {
        Ok(secs) => (secs.is_finite() && secs >= 0.0).then_some(secs)?,
        Err(_) => {
            let when = httpdate::parse_http_date(v).ok()?;
            when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO).as_secs_f64()
        }
    };
    // An API's wait is passed on to callers that may sleep it: a day at most, never decades.
    Some(secs.min(MAX_RETRY_AFTER_SECS))
}

/// The longest `Retry-After` passed on (a day: a daily quota's reset at the latest).
pub const MAX_RETRY_AFTER_SECS: f64 = 86_400.0;

/// `text` cut to at most `max` characters (the cut marked with `...`). Redact before cutting:
/// a cut through a secret leaves a part no redaction recognizes.
pub(crate) fn cap(text: String, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text,
        Some(_) => {
            let end = text.char_indices().nth(max.saturating_sub(3)).map(|(i, _)| i).unwrap_or(text.len());
            format!("{}...", &text[..end])
        }
    }
}

/// The public error for a failed upstream answer. Every piece of upstream text it carries (the
/// body's message, the request id from a header or the body) is redacted of `secrets` before
/// it is cut to length, so no cut can leave part of a secret behind.
pub fn error(api: &str, resp: &HttpResponse, body: &Value, code: ErrorCode, secrets: &Secrets) -> Error {
    error_with_reason(api, resp, body, code, None, secrets)
}

/// [`error`], with the provider's reason given (the `message_field` of an
/// `x-response-error-check`) rather than looked for in the body. An empty reason says the
/// body named none.
pub fn error_with_reason(
    api: &str,
    resp: &HttpResponse,
    body: &Value,
    code: ErrorCode,
    reason: Option<&str>,
    secrets: &Secrets,
) -> Error {
    let message = match reason {
        Some("") => Some("the answer reports a failure without a reason".to_string()),
        Some(r) => Some(r.to_string()),
        None => body_message(body),
    };
    let detail = message.map(|m| cap(secrets.redact(&m), MAX_MESSAGE_CHARS));
    let request_id = request_id(resp, body).map(|id| {
        let printable: String = id.chars().filter(|c| !c.is_control()).collect();
        cap(secrets.redact(&printable), MAX_REQUEST_ID_CHARS)
    });
    let what = match code {
        ErrorCode::UpstreamAuthentication => "rejected the credentials",
        ErrorCode::Forbidden => "refused access (the credentials lack a permission or scope)",
        ErrorCode::NotFound => "found no such object",
        ErrorCode::Validation => "rejected the request as invalid",
        ErrorCode::RateLimited => "is rate limiting these credentials",
        ErrorCode::Conflict => "reported a conflict",
        ErrorCode::UpstreamTimeout => "timed out",
        _ => "answered with an error",
    };
    let mut message = format!("{api} {what} (HTTP {})", resp.status);
    if let Some(d) = detail {
        message.push_str(": ");
        message.push_str(&d);
    }
    let status = if resp.status == 200 { None } else { Some(resp.status) };
    let mut e = Error::new(code, message)
        .with_request_id(request_id)
        .with_details(serde_json::json!({"upstream_status": resp.status}));
    e.status_code = status.or(Some(resp.status));
    if code == ErrorCode::RateLimited {
        e.retry_after = retry_after(resp);
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_from_common_shapes() {
        assert_eq!(body_message(&json!({"message": "Bad credentials"})).as_deref(), Some("Bad credentials"));
        assert_eq!(
            body_message(&json!({"error": {"message": "No such customer"}})).as_deref(),
            Some("No such customer")
        );
        assert_eq!(body_message(&json!({"errors": ["boom"]})).as_deref(), Some("boom"));
        assert_eq!(
            body_message(&json!({"error": "invalid_grant", "error_description": "used"})).as_deref(),
            Some("invalid_grant: used")
        );
    }

    #[test]
    fn graphql_codes() {
        assert_eq!(
            graphql_code(&json!({"errors": [{"type": "NOT_FOUND", "message": "x"}]})),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            graphql_code(&json!({"errors": [{"message": "x", "extensions": {"code": "AUTHENTICATION_ERROR"}}]})),
            Some(ErrorCode::UpstreamAuthentication)
        );
        assert_eq!(
            graphql_code(
                &json!({"errors": [{"message": "Entity not found", "extensions": {"code": "INVALID_INPUT"}}]})
            ),
            Some(ErrorCode::NotFound)
        );
        assert_eq!(
            graphql_code(&json!({"errors": [{"type": "INVALID_CURSOR_ARGUMENTS", "message": "bad cursor"}]})),
            Some(ErrorCode::Validation)
        );
        assert_eq!(
            graphql_code(&json!({"errors": [{"message": "Variable $first of type Int! was provided invalid value"}]})),
            Some(ErrorCode::Validation)
        );
        assert_eq!(graphql_code(&json!({"data": {}})), None);
    }

    #[test]
    fn transport_failures_map_to_timeout_or_network() {
        let timeout = TransportError::Timeout;
        let refused = TransportError::Connect("connection refused".into());
        let other = TransportError::Other("invalid method X".into());
        let no_turn = TransportError::NoTurn(100);
        let no_connector_turn = TransportError::NoConnectorTurn(5);
        let cases = [
            (
                Peer::TokenEndpoint("auth.example.com"),
                &no_connector_turn,
                ErrorCode::UpstreamTimeout,
                "not sent: 5 requests of this connector were already in progress and none ended in time (its \
                 max_concurrent_requests is 5; fewer calls in flight, a higher limit, or a longer timeout); the request \
                 was to the OAuth token endpoint at auth.example.com",
            ),
            (
                Peer::Api("GitHub"),
                &no_turn,
                ErrorCode::UpstreamTimeout,
                "not sent: 100 requests to GitHub were already in progress and none ended in time (at most 100 at \
                 once per origin; fewer calls in flight, or a longer timeout)",
            ),
            (Peer::Api("GitHub"), &timeout, ErrorCode::UpstreamTimeout, "GitHub did not answer in time"),
            (Peer::Api("GitHub"), &refused, ErrorCode::Network, "GitHub could not be reached: connection refused"),
            (Peer::Api("GitHub"), &other, ErrorCode::Network, "the request to GitHub failed: invalid method X"),
            (
                Peer::TokenEndpoint("auth.example.com"),
                &timeout,
                ErrorCode::UpstreamTimeout,
                "the OAuth token endpoint at auth.example.com did not answer in time",
            ),
            (
                Peer::TokenEndpoint("auth.example.com"),
                &other,
                ErrorCode::Network,
                "the OAuth token endpoint at auth.example.com could not be reached: invalid method X",
            ),
            (Peer::Engine("http://e"), &timeout, ErrorCode::UpstreamTimeout, "the engine did not answer in time"),
            (
                Peer::Engine("http://e"),
                &refused,
                ErrorCode::Network,
                "the engine at http://e could not be reached: connection refused",
            ),
        ];
        for (peer, e, code, message) in cases {
            let err = transport_error(peer, e);
            assert_eq!((err.code, err.message.as_str()), (code, message));
            assert_eq!((err.status_code, err.details), (None, None));
        }
    }

    #[test]
    fn echoed_secrets_are_redacted_before_the_cut() {
        let secret = "tok-9f8e7d6c5b4a";
        let secrets = Secrets::from_values([secret]);
        let long = format!("{}{secret}", "x".repeat(490));
        let resp = HttpResponse {
            status: 400,
            headers: vec![("x-request-id".into(), format!("req {}", serde_json::json!({"auth": secret})))],
            body: vec![],
        };
        let e = error("API", &resp, &json!({"message": long}), ErrorCode::Validation, &secrets);
        assert!(!e.message.contains("tok-9f8e"), "{}", e.message);
        assert_eq!(e.request_id.as_deref(), Some(r#"req {"auth":"****"}"#));
        let resp = HttpResponse { status: 500, headers: vec![], body: vec![] };
        let e = error(
            "API",
            &resp,
            &json!({"requestId": format!("a{}", "b".repeat(300))}),
            ErrorCode::UpstreamHttp,
            &secrets,
        );
        assert_eq!(e.request_id.map(|id| id.chars().count()), Some(MAX_REQUEST_ID_CHARS));
    }

    #[test]
    fn retry_after_forms() {
        let r = |v: &str| HttpResponse { status: 429, headers: vec![("retry-after".into(), v.into())], body: vec![] };
        assert_eq!(retry_after(&r("2")), Some(2.0));
        assert_eq!(retry_after(&r("Wed, 21 Oct 2015 07:28:00 GMT")), Some(0.0));
        assert_eq!(retry_after(&r("soon")), None);
        assert_eq!(retry_after(&r("1e41")), Some(86_400.0));
        assert_eq!(retry_after(&r("Fri, 01 Jan 2100 00:00:00 GMT")), Some(86_400.0));
    }
}
