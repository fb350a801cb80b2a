//! Mirrors `switchboard_core::describe` and `switchboard_core::sdk::model`: what a connector can
//! do, as text for a system prompt, and the codegen model the typed Kotlin connectors
//! (`dev.switchboard.connectors`) are generated from.

use std::sync::Arc;

use switchboard_core::{sdk, ConnectorSpec, Registry};

use crate::error::SwitchboardException;
use crate::json;

fn spec(slug: &str) -> Result<Arc<ConnectorSpec>, SwitchboardException> {
    Ok(Registry::shared().and_then(|r| r.get(slug))?)
}

/// The codegen model of every connector (a JSON list of `sdk::ConnectorModel`), sorted by slug.
#[uniffi::export]
pub fn codegen_model() -> Result<String, SwitchboardException> {
    json::text(&sdk::codegen_model()?)
}

/// A text description of every entity, action and param of the connector `slug`.
#[uniffi::export]
pub fn describe(slug: String) -> Result<String, SwitchboardException> {
    Ok(switchboard_core::describe::describe(&*spec(&slug)?))
}
