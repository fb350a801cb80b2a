//! Mirrors `switchboard_core::error`: a core [`Error`] crosses as a JS `Error` whose message is
//! [`PREFIX`] plus the error's JSON (`{code, message, status_code, request_id, retry_after,
//! details}`); the facade (`ts/errors.ts`) turns it into the typed class by `code`. Core
//! messages never carry a secret, so neither does this error.

use napi::Status;
use serde::de::DeserializeOwned;
use switchboard_core::sdk::ErrorCategory;
use switchboard_core::{Error, ErrorCode};

/// What starts the message of a native error (the facade recognizes it by this).
pub const PREFIX: &str = "switchboard-error:";

/// The core error as a JS error.
pub fn to_js(e: Error) -> napi::Error {
    let json =
        serde_json::to_string(&e).unwrap_or_else(|_| format!("{{\"code\":\"internal\",\"message\":{:?}}}", e.message));
    napi::Error::new(Status::GenericFailure, format!("{PREFIX}{json}"))
}

/// An argument the facade wrote as JSON text (`JSON.stringify`) as a core type (`LocalSettings`,
/// `ExecuteRequest`, ...), read by core's `sdk::arg`: a mismatch, or a lone UTF-16 surrogate
/// (which napi's string conversion would have replaced unseen), is a `validation` error naming
/// the argument, as in every language.
pub fn arg<T: DeserializeOwned>(what: &str, text: &str) -> napi::Result<T> {
    switchboard_core::sdk::arg(what, text).map_err(to_js)
}

/// A result as JSON text, which the facade parses with `JSON.parse`: in V8 that is about twice
/// as fast as building the records through one napi call per property (benches/PROFILE.md).
pub fn text<T: serde::Serialize>(v: &T) -> napi::Result<String> {
    serde_json::to_string(v).map_err(|e| to_js(Error::internal(format!("cannot encode a result: {e}"))))
}

/// A core value as a JS value.
pub fn value<T: serde::Serialize>(v: &T) -> napi::Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| to_js(Error::internal(format!("cannot encode a result: {e}"))))
}

/// A public error code and its category (the class it throws).
#[napi_derive::napi(object)]
pub struct CodeInfo {
    pub code: String,
    pub category: String,
}

/// An error category and the category its class extends, if any (`ErrorCategory::parent`).
#[napi_derive::napi(object)]
pub struct CategoryInfo {
    pub category: String,
    pub parent: Option<String>,
}

/// Every public error code with its category, in core's stable order (`ErrorCode::ALL`).
#[napi_derive::napi]
pub fn error_codes() -> Vec<CodeInfo> {
    let info = |c: &ErrorCode| CodeInfo { code: c.as_str().into(), category: c.category().as_str().into() };
    ErrorCode::ALL.iter().map(info).collect()
}

/// Every error category with its parent.
#[napi_derive::napi]
pub fn error_categories() -> Vec<CategoryInfo> {
    let info =
        |c: &ErrorCategory| CategoryInfo { category: c.as_str().into(), parent: c.parent().map(|p| p.as_str().into()) };
    ErrorCategory::ALL.iter().map(info).collect()
}
