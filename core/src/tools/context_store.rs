//! Tools over the engine's context store (records of synced entities, cached by the engine):
//! the `context_store_search` / `context_store_sql_query` actions as an agent sees them.
//!
//! Only a hosted server knows which entities are synced, so these tools are added per call by
//! the server, never by [`tool_schema`](super::tool_schema) or
//! [`operation_tools`](super::operation_tools) alone:
//!
//! - [`with_context_store`]: the connector tool (`<name>_execute`) with the two actions in its
//!   `action` enum and a description paragraph naming the synced entities and the query shape;
//! - [`context_store_search_tool`]: one tool per synced entity, `<prefix>_<entity>_context_store_search`,
//!   whose input schema is the search's params (`query`, `limit`, `cursor`, `fields`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::format::ToolFormat;
use super::text::{sanitize_name, truncate_clean};
use super::{MAX_CONNECTOR_DESCRIPTION_CHARS, MAX_OPERATION_DESCRIPTION_CHARS};

/// The search action.
pub const SEARCH_ACTION: &str = "context_store_search";
/// The read-only SQL action.
pub const SQL_ACTION: &str = "context_store_sql_query";
/// Most records one search answers (and its default `limit`).
pub const MAX_SEARCH_LIMIT: u64 = 1000;

/// The operators of the filter language, as the descriptions list them.
const OPERATORS: &str = "eq, neq, gt, gte, lt, lte, in, like, startswith, endswith, contains, fuzzy, keyword, \
                         array_contains, any, not, and, or";

/// The input schema of `context_store_search`: the reference's `{query: {filter, sort}, limit,
/// cursor, fields}`. `fields` (the entity's record fields, when known) name what a filter, a sort
/// key or a selected path may start with.
pub fn search_input_schema(fields: Option<&BTreeSet<String>>) -> Value {
    let names = fields.map(|f| f.iter().map(String::as_str).collect::<Vec<_>>().join(", "));
    let field_hint = match &names {
        Some(n) if !n.is_empty() => format!(" Record fields: {n}."),
        _ => String::new(),
    };
    json!({
        "type": "object",
        "properties": {
            "query": {
                "type": "object",
                "description": format!(
                    "{{filter?, sort?}}; omit or {{}} for every record.{field_hint}"
                ),
                "properties": {
                    "filter": {
                        "type": "object",
                        "description": format!(
                            "One condition: {{operator: {{field: value}}}}, e.g. {{\"eq\": {{\"state\": \"open\"}}}}; \
                             combine with {{\"and\": [..]}}, {{\"or\": [..]}}, {{\"not\": {{..}}}}. Operators: {OPERATORS}."
                        ),
                        "additionalProperties": true,
                    },
                    "sort": {
                        "type": "array",
                        "description": "Sort keys, at most 5, e.g. [{\"created_at\": \"desc\"}]; ties in id order.",
                        "items": {
                            "type": "object",
                            "additionalProperties": {"type": "string", "enum": ["asc", "desc"]},
                        },
                    },
                },
                "additionalProperties": false,
            },
            "limit": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SEARCH_LIMIT,
                "description": format!("Most records to return (default {MAX_SEARCH_LIMIT})."),
            },
            "cursor": {
                "type": "string",
                "description": "meta.cursor of the previous answer, for the next page of the same query.",
            },
            "fields": {
                "type": "array",
                "description": "Paths to keep in each record, each a list of keys, e.g. [[\"id\"], [\"user\", \"login\"]].",
                "items": {"type": "array", "items": {"type": "string"}},
            },
        },
        "additionalProperties": false,
    })
}

/// The name of the search tool of `entity` under `prefix` (`github_issues_context_store_search`),
/// at most [`MAX_TOOL_NAME_CHARS`](super::MAX_TOOL_NAME_CHARS) characters (a longer one ends with a hash of the whole, so
/// distinct entities keep distinct names).
pub fn search_tool_name(prefix: &str, entity: &str) -> String {
    sanitize_name(&format!("{prefix}_{entity}_{SEARCH_ACTION}"))
}

/// The search tool of one synced entity, named by [`search_tool_name`].
pub fn context_store_search_tool(
    prefix: &str,
    display_name: &str,
    entity: &str,
    fields: Option<&BTreeSet<String>>,
    format: ToolFormat,
) -> Value {
    let description = truncate_clean(
        &format!(
            "Search the {entity} records of {display_name} cached in the context store (synced from the provider, \
             so as fresh as the last sync; no call to the provider). Answers {{data, meta: {{has_more, cursor, took_ms}}}}; \
             pass meta.cursor as cursor for the next page."
        ),
        MAX_OPERATION_DESCRIPTION_CHARS,
    );
    format.wrap(&search_tool_name(prefix, entity), &description, search_input_schema(fields))
}

/// The paragraph the connector tool's description gains when `synced` entities are cached.
pub fn context_store_note(synced: &[String]) -> String {
    format!(
        "\nContext store (cached records, no call to the provider) of the synced entities {}: \
         action {SEARCH_ACTION} with params {{query?: {{filter?, sort?}}, limit? 1..{MAX_SEARCH_LIMIT}, cursor?, fields?}} \
         (filter: {{operator: {{field: value}}}}, operators {OPERATORS}; sort: [{{field: asc|desc}}]); \
         action {SQL_ACTION} with params {{sql*: a SELECT over the entity's table, limit?}}.",
        synced.join(", ")
    )
}

/// The connector tool `tool` (of `format`) with the context store actions: added to its `action`
/// enum, and [`context_store_note`] appended to its description (the description's operation
/// list is shortened, never the note, when both do not fit). No change when `synced` is empty.
pub fn with_context_store(tool: &mut Value, format: ToolFormat, synced: &[String]) {
    if synced.is_empty() {
        return;
    }
    let inner = match format {
        ToolFormat::OpenAi => match tool.get_mut("function") {
            Some(f) => f,
            None => return,
        },
        ToolFormat::Anthropic | ToolFormat::Mcp => tool,
    };
    let schema_key = match format {
        ToolFormat::OpenAi => "parameters",
        ToolFormat::Anthropic => "input_schema",
        ToolFormat::Mcp => "inputSchema",
    };
    if let Some(actions) =
        inner.pointer_mut(&format!("/{schema_key}/properties/action/enum")).and_then(Value::as_array_mut)
    {
        for a in [SEARCH_ACTION, SQL_ACTION] {
            if !actions.iter().any(|v| v == a) {
                actions.push(json!(a));
            }
        }
    }
    let note = context_store_note(synced);
    let current = inner.get("description").and_then(Value::as_str).unwrap_or_default();
    let room = MAX_CONNECTOR_DESCRIPTION_CHARS.saturating_sub(note.chars().count());
    let head = if current.chars().count() > room { truncate_clean(current, room) } else { current.to_string() };
    inner["description"] = json!(format!("{head}{note}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;
    use crate::tools::{tool_schema, MAX_TOOL_NAME_CHARS};

    #[test]
    fn connector_tool_gains_the_actions_and_the_note() -> crate::Result<()> {
        let spec = Registry::shared()?.get("github")?;
        for format in ToolFormat::ALL {
            let mut tool = tool_schema(&spec, format);
            let before = tool.clone();
            with_context_store(&mut tool, format, &[]);
            assert_eq!(tool, before, "no synced entity, no change");
            with_context_store(&mut tool, format, &["issues".to_string()]);
            let (_, description, schema) = format.unwrap_tool(&tool).ok_or_else(|| crate::Error::internal("shape"))?;
            let actions =
                schema.pointer("/properties/action/enum").and_then(Value::as_array).cloned().unwrap_or_default();
            assert!(actions.contains(&json!(SEARCH_ACTION)) && actions.contains(&json!(SQL_ACTION)), "{actions:?}");
            assert!(actions.contains(&json!("list")));
            assert!(
                description.contains("synced entities issues") && description.ends_with("limit?}."),
                "{description}"
            );
            assert!(description.chars().count() <= MAX_CONNECTOR_DESCRIPTION_CHARS);
        }
        Ok(())
    }

    #[test]
    fn search_tool_names_fit_and_stay_distinct() {
        assert_eq!(search_tool_name("github", "issues"), "github_issues_context_store_search");
        let long = "a".repeat(40);
        let (x, y) = (search_tool_name(&long, "pull_requests"), search_tool_name(&long, "pull_request_reviews"));
        assert!(x.len() <= MAX_TOOL_NAME_CHARS && y.len() <= MAX_TOOL_NAME_CHARS);
        assert_ne!(x, y);
    }

    #[test]
    fn search_tool_schema_is_the_reference_shape() {
        let fields: BTreeSet<String> = ["id", "state", "title"].iter().map(|s| s.to_string()).collect();
        let tool = context_store_search_tool("gh", "GitHub", "issues", Some(&fields), ToolFormat::Mcp);
        assert_eq!(tool["name"], "gh_issues_context_store_search");
        let props = tool["inputSchema"]["properties"].as_object().cloned().unwrap_or_default();
        let keys: Vec<&str> = props.keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 4, "{keys:?}");
        for k in ["query", "limit", "cursor", "fields"] {
            assert!(keys.contains(&k), "{keys:?}");
        }
        assert_eq!(tool["inputSchema"]["properties"]["limit"]["maximum"], json!(MAX_SEARCH_LIMIT));
        let query = tool["inputSchema"]["properties"]["query"]["description"].as_str().unwrap_or_default();
        assert!(query.contains("Record fields: id, state, title."), "{query}");
    }
}
