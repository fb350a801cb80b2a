//! Mirrors `switchboard_core::tools` and `switchboard_core::sdk::model`: what a connector can
//! do, as text for a system prompt, as function-calling tools, and as the codegen model the
//! typed connectors are generated from.

use pyo3::prelude::*;
use switchboard_core::tools::{self as core_tools, ToolFormat};
use switchboard_core::{sdk, ConnectorSpec, ExecutionResult, Registry};

use crate::error::to_py;
use crate::json;

fn spec(slug: &str) -> PyResult<std::sync::Arc<ConnectorSpec>> {
    Registry::shared().and_then(|r| r.get(slug)).map_err(to_py)
}

/// The codegen model of every connector (`sdk::ConnectorModel` list) as JSON.
#[pyfunction]
pub fn codegen_model() -> PyResult<String> {
    json::text(&sdk::codegen_model().map_err(to_py)?)
}

/// The SDK's plain data types (`sdk::DataTypeModel` list) as JSON, for the generator.
#[pyfunction]
pub fn data_types_model() -> PyResult<String> {
    json::text(&sdk::data_types_model())
}

/// The slug a slug, display name or definition id names (core's lookup).
#[pyfunction]
pub fn connector_slug(key: &str) -> PyResult<String> {
    sdk::connector_slug(key).map_err(to_py)
}

/// A text description of every entity, action and param of a connector.
#[pyfunction]
pub fn describe(slug: &str) -> PyResult<String> {
    Ok(switchboard_core::describe::describe(&*spec(slug)?))
}

/// The connector tool (`<slug>_execute`) in `format` (`openai`, `anthropic`, `mcp`), as JSON.
#[pyfunction]
pub fn tool_schema(slug: &str, format: &str) -> PyResult<String> {
    let format = ToolFormat::parse(format).map_err(to_py)?;
    json::text(&core_tools::tool_schema(&*spec(slug)?, format))
}

/// One tool per operation (`<slug>_<entity>_<action>`) in `format`, as a JSON list.
#[pyfunction]
pub fn operation_tools(slug: &str, format: &str) -> PyResult<String> {
    let format = ToolFormat::parse(format).map_err(to_py)?;
    json::text(&core_tools::operation_tools(&*spec(slug)?, format))
}

/// The (entity, action) an operation tool name stands for, if it is one of the connector's.
#[pyfunction]
pub fn find_operation_tool(slug: &str, name: &str) -> PyResult<Option<(String, String)>> {
    let spec = spec(slug)?;
    Ok(core_tools::find_operation_tool(&spec, name).map(|op| (op.entity.clone(), op.action.clone())))
}

/// A result (`{"data", "meta"}` JSON) as a model should see it: at most `max_chars` characters.
#[pyfunction]
pub fn tool_output(result: &str, max_chars: i64) -> PyResult<String> {
    Ok(sdk::tool_output(
        &json::arg::<ExecutionResult>("result", result)?,
        sdk::output_limit(max_chars).map_err(crate::error::to_py)?,
    ))
}
