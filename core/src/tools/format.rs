//! The three shapes of a tool definition: OpenAI function tools, Anthropic tools and MCP
//! `tools/list` items.

use serde_json::{json, Value};

use crate::error::{Error, Result};

/// The shape of a tool definition, by the API it is given to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolFormat {
    /// OpenAI function calling: `{"type": "function", "function": {"name", "description",
    /// "parameters"}}`.
    OpenAi,
    /// Anthropic tool use: `{"name", "description", "input_schema"}`.
    Anthropic,
    /// An MCP `tools/list` item: `{"name", "description", "inputSchema"}`.
    Mcp,
}

impl ToolFormat {
    /// Every format, in a stable order.
    pub const ALL: [ToolFormat; 3] = [ToolFormat::OpenAi, ToolFormat::Anthropic, ToolFormat::Mcp];

    /// Parses `openai`, `anthropic` or `mcp` (any case); anything else fails with `validation`.
    pub fn parse(s: &str) -> Result<ToolFormat> {
        let wanted = s.trim().to_ascii_lowercase();
        ToolFormat::ALL.into_iter().find(|f| f.as_str() == wanted).ok_or_else(|| {
            let allowed: Vec<&str> = ToolFormat::ALL.iter().map(|f| f.as_str()).collect();
            Error::validation(format!("unknown tool format {s:?}; expected one of: {}", allowed.join(", ")))
                .with_details(json!({"param": "format", "allowed": allowed}))
        })
    }

    /// The lower-case name `parse` accepts.
    pub fn as_str(self) -> &'static str {
        match self {
            ToolFormat::OpenAi => "openai",
            ToolFormat::Anthropic => "anthropic",
            ToolFormat::Mcp => "mcp",
        }
    }

    /// A tool of this shape with the given name, description and input JSON Schema.
    pub fn wrap(self, name: &str, description: &str, input_schema: Value) -> Value {
        match self {
            ToolFormat::OpenAi => json!({
                "type": "function",
                "function": {"name": name, "description": description, "parameters": input_schema},
            }),
            ToolFormat::Anthropic => json!({"name": name, "description": description, "input_schema": input_schema}),
            ToolFormat::Mcp => json!({"name": name, "description": description, "inputSchema": input_schema}),
        }
    }

    /// The name, description and input schema of a tool of this shape, if it has them.
    pub fn unwrap_tool(self, tool: &Value) -> Option<(&str, &str, &Value)> {
        let (inner, key) = match self {
            ToolFormat::OpenAi => (tool.get("function")?, "parameters"),
            ToolFormat::Anthropic => (tool, "input_schema"),
            ToolFormat::Mcp => (tool, "inputSchema"),
        };
        Some((inner.get("name")?.as_str()?, inner.get("description")?.as_str()?, inner.get(key)?))
    }
}

impl std::fmt::Display for ToolFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
