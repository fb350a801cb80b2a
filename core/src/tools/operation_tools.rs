//! Operation tools: one tool per operation, `<slug>_<entity>_<action>`, whose input schema is
//! exactly that operation's params.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{json, Map, Value};

use super::connector_tool::connector_tool_name;
use super::format::ToolFormat;
use super::render::{next_page_hint, returns, visible_params, ParamRenderer};
use super::text::{sanitize_name, truncate_clean};
use super::{MAX_OPERATION_DESCRIPTION_CHARS, MAX_TOOL_NAME_CHARS};
use crate::spec::{ConnectorSpec, Operation};

/// One tool per operation, in document order: named `<slug>_<entity>_<action>` (made safe and
/// unique, see [`find_operation_tool`]), described by its summary, result and paging (bounded to
/// [`MAX_OPERATION_DESCRIPTION_CHARS`]), taking exactly its params ([`operation_input_schema`]).
pub fn operation_tools(spec: &ConnectorSpec, format: ToolFormat) -> Vec<Value> {
    operation_tool_names(spec)
        .iter()
        .zip(&spec.operations)
        .map(|(name, op)| format.wrap(name, &operation_description(spec, op), operation_input_schema(op)))
        .collect()
}

/// The operation a tool of [`operation_tools`] runs, by the tool's name.
pub fn find_operation_tool<'a>(spec: &'a ConnectorSpec, name: &str) -> Option<&'a Operation> {
    operation_tool_names(spec).iter().position(|n| n == name).map(|i| &spec.operations[i])
}

/// The names of the operation tools, index for index with `spec.operations`: unique among
/// themselves and with [`connector_tool_name`] (a clash gets a `_2`, `_3`, ... suffix).
pub(super) fn operation_tool_names(spec: &ConnectorSpec) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::from([connector_tool_name(spec)]);
    spec.operations
        .iter()
        .map(|op| {
            let base = sanitize_name(&format!("{}_{}_{}", spec.slug, op.entity, op.action));
            let mut name = base.clone();
            let mut n = 2;
            while used.contains(&name) {
                let suffix = format!("_{n}");
                // `base` is ASCII, so any byte index is a char boundary.
                let keep = base.len().min(MAX_TOOL_NAME_CHARS - suffix.len());
                name = format!("{}{suffix}", &base[..keep]);
                n += 1;
            }
            used.insert(name.clone());
            name
        })
        .collect()
}

/// The input JSON Schema of one operation: an object whose properties are the params a caller
/// may pass (each its spec schema, with description, enum, default and bounds), `required` the
/// params the caller must give, and no other properties allowed.
pub fn operation_input_schema(op: &Operation) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for p in visible_params(op) {
        properties.insert(p.name.clone(), ParamRenderer(p).json_schema());
        if p.is_required_from_caller() && !required.iter().any(|r| r.as_str() == Some(p.name.as_str())) {
            required.push(Value::String(p.name.clone()));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".into(), json!("object"));
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    schema.insert("additionalProperties".into(), json!(false));
    Value::Object(schema)
}

/// `GitHub: List issues. Returns a list of records in data, with paging values in meta. Next
/// page: pass meta.end_cursor as after. <description>`, bounded.
fn operation_description(spec: &ConnectorSpec, op: &Operation) -> String {
    let summary = op
        .summary
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} {}", op.action, op.entity));
    let mut s = format!("{}: {}", spec.display_name, summary.trim_end_matches('.'));
    s.push('.');
    match returns(op) {
        Some("list") => s.push_str(" Returns a list of records in data, with paging values in meta."),
        Some(_) => s.push_str(" Returns the record in data."),
        None => {}
    }
    if let Some(hint) = op.pagination.as_ref().and_then(next_page_hint) {
        let mut chars = hint.chars();
        let first: String = chars.next().map(|c| c.to_uppercase().collect()).unwrap_or_default();
        let _ = write!(s, " {first}{}.", chars.as_str());
    }
    if let Some(d) = op.description.as_deref().map(str::trim).filter(|d| !d.is_empty() && *d != summary) {
        let _ = write!(s, " {d}");
    }
    truncate_clean(&s, MAX_OPERATION_DESCRIPTION_CHARS)
}
