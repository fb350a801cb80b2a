//! The engine's one error type: renders [`wire::ErrorBody`] (`{code, message, request_id,
//! details}`) with the public codes shared by every SDK, and the request id in `X-Request-Id`.
//! Internal failures are logged with the request id; their body says only that something broke.
//!
//! This is the one place where the errors of the layers below (core's [`CoreError`], storage's
//! [`StoreError`], crypto's [`CryptoError`], the field problems of a connector) become the
//! public kinds a caller acts on.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use switchboard_core::validate::{summary, FieldProblem};
use switchboard_core::wire;
use switchboard_core::{Error as CoreError, ErrorCode};

use crate::crypto::CryptoError;
use crate::db::StoreError;

tokio::task_local! {
    /// The id of the request being served.
    pub static REQUEST_ID: String;
}

/// The current request id, if any.
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// An error answered to a client.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Option<Value>,
    pub retry_after: Option<f64>,
    /// Overrides the code's usual status (e.g. 400 for malformed JSON under `validation`).
    pub status: Option<StatusCode>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), details: None, retry_after: None, status: None }
    }
    pub fn bad_request(m: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, m)
    }
    pub fn validation(m: impl Into<String>) -> Self {
        Self::new(ErrorCode::Validation, m)
    }
    pub fn unauthorized(m: impl Into<String>) -> Self {
        Self::new(ErrorCode::Authentication, m)
    }
    pub fn forbidden(m: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, m)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }
    pub fn conflict(m: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, m)
    }
    /// A bug or an infrastructure failure; `detail` is logged, never answered.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, detail)
    }
    /// Storage out of reach for a moment (a database restart or failover): 503 `unavailable`
    /// with `Retry-After`, so callers retry; `detail` is logged, never answered.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self { retry_after: Some(UNAVAILABLE_RETRY_AFTER), ..Self::new(ErrorCode::Unavailable, detail) }
    }
    pub fn with_details(mut self, d: Value) -> Self {
        self.details = Some(d);
        self
    }
    pub fn with_reason(self, reason: &str) -> Self {
        self.with_details(json!({"reason": reason}))
    }

    /// `validation` naming every problem field, listed under `details.fields`.
    pub fn invalid_fields(problems: &[FieldProblem]) -> Self {
        Self::validation(format!("invalid connector: {}", summary(problems)))
            .with_details(json!({ "fields": problems }))
    }

    /// The message and details a caller is answered. Neither message of `internal` or
    /// `unavailable` is answered as is (both may name storage internals): they are logged with
    /// the request id, and the answer says only what happened.
    pub fn public(&self) -> (String, Option<Value>) {
        let request_id = current_request_id().unwrap_or_default();
        match self.code {
            ErrorCode::Unavailable => {
                tracing::warn!(request_id = %request_id, error = %self.message, "storage unavailable");
                let m = "the engine's storage is unavailable for a moment; retry the request after Retry-After seconds";
                (m.to_string(), None)
            }
            ErrorCode::Internal => {
                tracing::error!(request_id = %request_id, error = %self.message, "internal error");
                let m = "the server failed to handle this request; the request id identifies it in the server logs";
                (m.to_string(), None)
            }
            _ => (self.message.clone(), self.details.clone()),
        }
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        let mut details = e.details.clone();
        if let Some(s) = e.status_code {
            if matches!(
                e.code,
                ErrorCode::UpstreamHttp
                    | ErrorCode::UpstreamTimeout
                    | ErrorCode::Network
                    | ErrorCode::RateLimited
                    | ErrorCode::UpstreamAuthentication
                    | ErrorCode::Forbidden
                    | ErrorCode::NotFound
                    | ErrorCode::Validation
                    | ErrorCode::Conflict
            ) {
                let mut d = details.take().unwrap_or_else(|| json!({}));
                if let Some(m) = d.as_object_mut() {
                    m.entry("upstream_status").or_insert(json!(s));
                }
                details = Some(d);
            }
        }
        if let Some(rid) = &e.request_id {
            let mut d = details.take().unwrap_or_else(|| json!({}));
            if let Some(m) = d.as_object_mut() {
                m.insert("upstream_request_id".into(), json!(rid));
            }
            details = Some(d);
        }
        Self { code: e.code, message: e.message, details, retry_after: e.retry_after, status: None }
    }
}

/// Seconds a caller is told to wait when storage is out of reach.
const UNAVAILABLE_RETRY_AFTER: f64 = 1.0;

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::UnsupportedUrl { .. } | StoreError::NoSqliteFile => {
                ApiError::new(ErrorCode::Configuration, e.to_string())
            }
            _ if e.is_unavailable() => ApiError::unavailable(e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

impl From<CryptoError> for ApiError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::MasterKey(_) => ApiError::new(ErrorCode::Configuration, e.to_string()),
            _ => ApiError::internal(e.to_string()),
        }
    }
}

/// The HTTP status for an error code as the engine answers it. Upstream failures are gateway
/// errors; a connector config the engine cannot run is the caller's 422.
pub fn status_for(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let request_id = current_request_id().unwrap_or_default();
        let status = self.status.unwrap_or_else(|| status_for(self.code));
        let (message, details) = self.public();
        let body = wire::ErrorBody {
            code: self.code,
            message,
            request_id: Some(request_id),
            details,
            retry_after: self.retry_after,
        };
        let mut resp = (status, Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            if let Ok(v) = HeaderValue::from_str(&format!("{}", secs.ceil().max(1.0) as u64)) {
                resp.headers_mut().insert("retry-after", v);
            }
        }
        resp
    }
}

/// Result with [`ApiError`].
pub type ApiResult<T> = Result<T, ApiError>;
