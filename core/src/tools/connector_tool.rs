//! The connector tool: one tool for a whole connector, `<slug>_execute`, whose description
//! lists every operation with its params.

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::format::ToolFormat;
use super::render::{next_page_hint, returns, visible_params, ParamRenderer};
use super::text::{sanitize_name, truncate_clean};
use super::MAX_CONNECTOR_DESCRIPTION_CHARS;
use crate::spec::{ConnectorSpec, Operation};

/// The name of the connector tool: `<slug>_execute`, made safe for the model APIs.
pub fn connector_tool_name(spec: &ConnectorSpec) -> String {
    sanitize_name(&format!("{}_execute", spec.slug))
}

/// The one tool for a whole connector: `entity` and `action` pick the operation, `params` carries
/// its params (listed per operation in the description), `select_fields` / `exclude_fields` trim
/// each record. The description is bounded to [`MAX_CONNECTOR_DESCRIPTION_CHARS`].
pub fn tool_schema(spec: &ConnectorSpec, format: ToolFormat) -> Value {
    format.wrap(&connector_tool_name(spec), &connector_description(spec), connector_input_schema(spec))
}

/// The input schema of the connector tool.
fn connector_input_schema(spec: &ConnectorSpec) -> Value {
    let mut actions: Vec<&str> = Vec::new();
    for op in &spec.operations {
        if !actions.contains(&op.action.as_str()) {
            actions.push(&op.action);
        }
    }
    let mut entity = json!({
        "type": "string",
        "description": "The entity to act on; the tool description lists the actions of each entity.",
    });
    let mut action = json!({
        "type": "string",
        "description": "What to do with the entity; only the entity.action pairs in the tool description exist.",
    });
    // An empty `enum` is invalid JSON Schema; a loaded spec always has an operation, but a
    // hand-built one may not.
    if !spec.operations.is_empty() {
        entity["enum"] = json!(spec.entities());
        action["enum"] = json!(actions);
    }
    json!({
        "type": "object",
        "properties": {
            "entity": entity,
            "action": action,
            "params": {
                "type": "object",
                "description": "The params of the chosen operation, as the tool description lists them (name* = required).",
                "additionalProperties": true,
            },
            "select_fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Keep only these dot paths of each record (e.g. [\"id\", \"user.login\"]); omit to keep every field.",
            },
            "exclude_fields": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Drop these dot paths from each record.",
            },
        },
        "required": ["entity", "action"],
        "additionalProperties": false,
    })
}

/// The connector tool's description: what the connector is, the notation, then one line per
/// operation. Past [`MAX_CONNECTOR_DESCRIPTION_CHARS`] it lists as many operations with their
/// params as fit and ends with a note naming the others.
fn connector_description(spec: &ConnectorSpec) -> String {
    let mut head = format!("{} ({})", spec.display_name, spec.slug);
    if let Some(d) = spec.description.as_deref() {
        // The first paragraph, on one line.
        let para: Vec<&str> = d.trim().lines().map(str::trim).take_while(|l| !l.is_empty()).collect();
        let para = para.join(" ");
        if !para.is_empty() {
            let _ = write!(head, ": {}", truncate_clean(para.trim_end_matches('.'), 400));
        }
    }
    head.push_str(if head.ends_with('…') { " " } else { ". " });
    head.push_str(
        "Runs one operation: set entity and action to a pair listed below and put its params in params. \
         Notation: name* required, name? optional, [T] array of T, a|b one of these values, 1..100 allowed range, \
         = x default. -> list: data is a list of records, with paging values in meta. \
         select_fields / exclude_fields keep / drop dot paths of each record.\nOperations:",
    );
    let lines: Vec<String> = spec.operations.iter().map(operation_line).collect();
    let line_chars: Vec<usize> = lines.iter().map(|l| l.chars().count() + 1).collect();
    let head_chars = head.chars().count();
    let joined = |k: usize| {
        let mut out = head.clone();
        for l in &lines[..k] {
            out.push('\n');
            out.push_str(l);
        }
        out
    };
    if head_chars + line_chars.iter().sum::<usize>() <= MAX_CONNECTOR_DESCRIPTION_CHARS {
        return joined(lines.len());
    }
    // The most operations listed in full such that the note naming the others fits too.
    let names: Vec<String> = spec.operations.iter().map(|o| format!("{}.{}", o.entity, o.action)).collect();
    let note = |k: usize| {
        format!(
            "\n[cut at {MAX_CONNECTOR_DESCRIPTION_CHARS} characters: {k} of {} operations listed with their params; \
             the others: {}]",
            names.len(),
            names[k..].join(", ")
        )
    };
    let mut listed = 0;
    for k in (0..lines.len()).rev() {
        let len = head_chars + line_chars[..k].iter().sum::<usize>() + note(k).chars().count();
        if len <= MAX_CONNECTOR_DESCRIPTION_CHARS {
            listed = k;
            break;
        }
    }
    let mut out = joined(listed);
    let full_note = note(listed);
    if out.chars().count() + full_note.chars().count() <= MAX_CONNECTOR_DESCRIPTION_CHARS {
        out.push_str(&full_note);
        return out;
    }
    // Not even the names fit (a huge spec): as many as do.
    out = truncate_clean(&head, MAX_CONNECTOR_DESCRIPTION_CHARS / 2);
    let tail = |shown: usize| {
        format!(
            "{}, ... ({} more; the entity and action enums name them all)]",
            names[..shown].join(", "),
            names.len() - shown
        )
    };
    let intro = format!("\n[cut at {MAX_CONNECTOR_DESCRIPTION_CHARS} characters: params not shown; the operations: ");
    let budget = MAX_CONNECTOR_DESCRIPTION_CHARS.saturating_sub(out.chars().count() + intro.chars().count());
    let shown = (0..names.len()).rev().find(|&n| tail(n).chars().count() <= budget).unwrap_or(0);
    out.push_str(&intro);
    out.push_str(&tail(shown));
    out
}

/// `issues.list(owner*: string, per_page?: integer 1..100 = 10) -> list; next page: pass
/// meta.end_cursor as after`.
fn operation_line(op: &Operation) -> String {
    let params: Vec<String> = visible_params(op).map(|p| ParamRenderer(p).signature()).collect();
    let mut s = format!("{}.{}({})", op.entity, op.action, params.join(", "));
    if let Some(r) = returns(op) {
        let _ = write!(s, " -> {r}");
    }
    if let Some(hint) = op.pagination.as_ref().and_then(next_page_hint) {
        let _ = write!(s, "; {hint}");
    }
    s
}
