//! JSON text across the boundary, both ways.

use serde::de::DeserializeOwned;
use serde::Serialize;
use switchboard_core::Error;

use crate::error::SwitchboardException;

/// Parses JSON text from the caller into a core type (`sdk::arg`: a mismatch is a `validation`
/// error).
pub fn arg<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, SwitchboardException> {
    Ok(switchboard_core::sdk::arg(what, text)?)
}

/// JSON text of a core value for the caller.
pub fn text<T: Serialize>(v: &T) -> Result<String, SwitchboardException> {
    serde_json::to_string(v).map_err(|e| Error::internal(format!("cannot encode a result: {e}")).into())
}
