//! Function-calling tool definitions for AI agents, made from a connector spec, and bounding of
//! tool results so they fit a model's context.
//!
//! A connector can be offered to a model in two ways:
//!
//! - [`tool_schema`]: one tool per connector, named `<slug>_execute`, taking `entity`, `action`,
//!   `params` and the optional `select_fields` / `exclude_fields` of
//!   [`ExecuteOptions`](crate::ExecuteOptions). Params depend on the (entity, action) pair, and a
//!   `oneOf` per operation is too heavy for some model APIs, so the input schema keeps `params` a
//!   plain object and the tool description lists every operation with its params, one line each:
//!   `issues.list(owner*: string, repo*: string, states?: [OPEN|CLOSED], per_page?: integer
//!   1..100 = 10, after?: string) -> list; next page: pass meta.end_cursor as after`.
//! - [`operation_tools`]: one tool per operation, named `<slug>_<entity>_<action>`, whose input
//!   schema is exactly that operation's params. [`find_operation_tool`] maps a called tool name
//!   back to its operation.
//!
//! Each comes in three shapes ([`ToolFormat`]): OpenAI function tools, Anthropic tools and MCP
//! `tools/list` items. Every tool name matches `^[a-zA-Z0-9_-]{1,64}$` and the names of one
//! connector's tools (the connector tool included) are unique.
//!
//! [`bound_output`] cuts a tool result down to a character budget, saying what it cut in a
//! [`TRUNCATED_KEY`] note.
//!
//! The modules, by concern:
//!
//! - [`render`]: the one param renderer (describe lines, tool signatures, input JSON Schemas);
//! - [`describe`](mod@describe): text and JSON descriptions of a connector (`crate::describe` re-exports it);
//! - `format`: the OpenAI / Anthropic / MCP shapes;
//! - `connector_tool` and `operation_tools`: the two kinds of tool schema;
//! - [`context_store`]: the context store actions as tools (added by a hosted server for synced
//!   entities);
//! - `output`: bounding of tool results;
//! - `text`: safe tool names and bounded descriptions.

mod connector_tool;
pub mod context_store;
pub mod describe;
mod format;
mod operation_tools;
mod output;
pub mod render;
mod text;

#[cfg(test)]
mod tests;

pub use connector_tool::{connector_tool_name, tool_schema};
// The functions share the `describe` name with their module (functions and modules live in
// different namespaces), so `tools::describe(spec)` and `tools::describe::describe(spec)` both work.
pub use describe::{describe, summary_json};
pub use format::ToolFormat;
pub use operation_tools::{find_operation_tool, operation_input_schema, operation_tools};
pub use output::{bound_output, TRUNCATED_KEY};

/// Longest tool name the model APIs accept.
pub const MAX_TOOL_NAME_CHARS: usize = 64;

/// Bound on the description of an operation tool, in characters.
pub const MAX_OPERATION_DESCRIPTION_CHARS: usize = 1024;

/// Bound on the description of the connector tool, in characters.
pub const MAX_CONNECTOR_DESCRIPTION_CHARS: usize = 8000;
