//! Helpers shared by the integration tests in `core/tests/` (a folder, so cargo does not build it
//! as a test of its own). A test uses it with `mod support;`.

#![allow(dead_code, unused_imports)]

pub mod records;
pub mod seam;

pub use fake_upstream::sample::required_params;
use serde_json::Value;

/// `v` with every `{fake}` in its strings replaced by the fake's address.
pub fn fill(v: &Value, fake: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("{fake}", fake)),
        Value::Array(a) => Value::Array(a.iter().map(|x| fill(x, fake)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), fill(x, fake))).collect()),
        other => other.clone(),
    }
}
