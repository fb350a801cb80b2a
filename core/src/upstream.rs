//! Mapping upstream answers to public errors, in one place: status codes, GraphQL `errors`
//! arrays, the APIs' own error bodies, `Retry-After`.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::error::{redact, Error, ErrorCode};
use crate::http::HttpResponse;

/// The public code for an upstream HTTP status.
pub fn code_for_status(status: u16) -> ErrorCode {
    match status {
        401 => ErrorCode::Authentication,
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
        "AUTHENTICATION_ERROR" | "UNAUTHENTICATED" | "UNAUTHORIZED" => ErrorCode::Authentication,
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

/// The request id an API put on its answer, if any.
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
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some(secs);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO).as_secs_f64())
}

/// The public error for a failed upstream answer.
pub fn error(api: &str, resp: &HttpResponse, body: &Value, code: ErrorCode, secrets: &[String]) -> Error {
    let detail = body_message(body).map(|m| redact(&m, secrets)).map(|m| {
        if m.len() > 500 {
            format!("{}...", &m[..m.char_indices().nth(497).map(|(i, _)| i).unwrap_or(m.len())])
        } else {
            m
        }
    });
    let what = match code {
        ErrorCode::Authentication => "rejected the credentials",
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
        .with_request_id(request_id(resp, body))
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
            Some(ErrorCode::Authentication)
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
    fn retry_after_forms() {
        let r = |v: &str| HttpResponse { status: 429, headers: vec![("retry-after".into(), v.into())], body: vec![] };
        assert_eq!(retry_after(&r("2")), Some(2.0));
        assert_eq!(retry_after(&r("Wed, 21 Oct 2015 07:28:00 GMT")), Some(0.0));
        assert_eq!(retry_after(&r("soon")), None);
    }
}
