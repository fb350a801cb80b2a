//! Mirrors `switchboard_core::tools` and `switchboard_core::sdk::model`: what a connector can
//! do, as text for a system prompt, as function-calling tools, and as the codegen model the
//! typed connectors are generated from.

use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use switchboard_core::tools::{self as core_tools, ToolFormat};
use switchboard_core::{sdk, ConnectorSpec, ExecutionResult, Registry};

use crate::error::{arg, to_js, value};

fn spec(slug: &str) -> Result<std::sync::Arc<ConnectorSpec>> {
    Registry::shared().and_then(|r| r.get(slug)).map_err(to_js)
}

fn format(name: &str) -> Result<ToolFormat> {
    ToolFormat::parse(name).map_err(to_js)
}

/// The codegen model of every connector (`sdk::ConnectorModel[]`).
#[napi]
pub fn codegen_model() -> Result<Value> {
    value(&sdk::codegen_model().map_err(to_js)?)
}

/// The SDK's plain data types (`sdk::DataTypeModel[]`), for the generator.
#[napi]
pub fn data_types_model() -> Result<Value> {
    value(&sdk::data_types_model())
}

/// The slug a slug, display name or definition id names (core's lookup).
#[napi]
pub fn connector_slug(key: String) -> Result<String> {
    sdk::connector_slug(&key).map_err(to_js)
}

/// A text description of every entity, action and param of a connector.
#[napi]
pub fn describe(slug: String) -> Result<String> {
    Ok(switchboard_core::describe::describe(&*spec(&slug)?))
}

/// The connector tool (`<slug>_execute`) in `format` (`openai`, `anthropic`, `mcp`).
#[napi]
pub fn tool_schema(slug: String, format_name: String) -> Result<Value> {
    value(&core_tools::tool_schema(&*spec(&slug)?, format(&format_name)?))
}

/// One tool per operation (`<slug>_<entity>_<action>`) in `format`.
#[napi]
pub fn operation_tools(slug: String, format_name: String) -> Result<Value> {
    value(&core_tools::operation_tools(&*spec(&slug)?, format(&format_name)?))
}

/// The `[entity, action]` an operation tool name stands for, if it is one of the connector's.
#[napi]
pub fn find_operation_tool(slug: String, name: String) -> Result<Option<Vec<String>>> {
    let spec = spec(&slug)?;
    Ok(core_tools::find_operation_tool(&spec, &name).map(|op| vec![op.entity.clone(), op.action.clone()]))
}

/// A result (`{data, meta}`) as a model should see it: JSON of at most `max_chars` characters.
#[napi]
pub fn tool_output(result: String, max_chars: i64) -> Result<String> {
    Ok(sdk::tool_output(
        &arg::<ExecutionResult>("result", &result)?,
        sdk::output_limit(max_chars).map_err(crate::error::to_js)?,
    ))
}
