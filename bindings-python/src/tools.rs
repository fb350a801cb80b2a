//! Mirrors `switchboard_core::describe` and `switchboard_core::tools`: what a connector can do,
//! as text for a system prompt and as function-calling tool definitions.

use pyo3::prelude::*;
use switchboard_core::tools::{self as core_tools, ToolFormat};
use switchboard_core::{ConnectorSpec, Registry};

use crate::connector::{json_arg, to_json};
use crate::error::to_py;

fn spec(slug: &str) -> PyResult<std::sync::Arc<ConnectorSpec>> {
    Registry::shared().and_then(|r| r.get(slug)).map_err(to_py)
}

/// Every built-in connector's summary (slug, name, definition id, auth, operations with their
/// params) as a JSON list; the code generator reads it.
#[pyfunction]
pub fn connector_summaries() -> PyResult<String> {
    let registry = Registry::shared().map_err(to_py)?;
    to_json(&registry.all().map(|s| switchboard_core::describe::summary_json(s)).collect::<Vec<_>>())
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
    to_json(&core_tools::tool_schema(&*spec(slug)?, format))
}

/// One tool per operation (`<slug>_<entity>_<action>`) in `format`, as a JSON list.
#[pyfunction]
pub fn operation_tools(slug: &str, format: &str) -> PyResult<String> {
    let format = ToolFormat::parse(format).map_err(to_py)?;
    to_json(&core_tools::operation_tools(&*spec(slug)?, format))
}

/// The (entity, action) an operation tool name stands for, if it is one of the connector's.
#[pyfunction]
pub fn find_operation_tool(slug: &str, name: &str) -> PyResult<Option<(String, String)>> {
    let spec = spec(slug)?;
    Ok(core_tools::find_operation_tool(&spec, name).map(|op| (op.entity.clone(), op.action.clone())))
}

/// A tool result cut to `max_chars` characters of JSON, with a note saying what was cut;
/// returns `(json, cut)`.
#[pyfunction]
pub fn bound_output(value: &str, max_chars: usize) -> PyResult<(String, bool)> {
    let (v, cut) = core_tools::bound_output(&json_arg("value", value)?, max_chars);
    Ok((to_json(&v)?, cut))
}
