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

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{json, Map, Number, Value};

use crate::describe::visible_params;
use crate::error::{Error, Result};
use crate::spec::{ConnectorSpec, Operation, Pagination, Param};

/// Longest tool name the model APIs accept.
pub const MAX_TOOL_NAME_CHARS: usize = 64;

/// Bound on the description of an operation tool, in characters.
pub const MAX_OPERATION_DESCRIPTION_CHARS: usize = 1024;

/// Bound on the description of the connector tool, in characters.
pub const MAX_CONNECTOR_DESCRIPTION_CHARS: usize = 8000;

/// The key of the note [`bound_output`] adds when it cuts a result.
pub const TRUNCATED_KEY: &str = "_truncated";

/// Most enum values a param's line in the connector tool description shows.
const MAX_ENUM_VALUES_SHOWN: usize = 12;

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

// ---------------------------------------------------------------------------------------------
// The connector tool

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
    let params: Vec<String> = visible_params(op).map(param_signature).collect();
    let mut s = format!("{}.{}({})", op.entity, op.action, params.join(", "));
    if let Some(r) = returns(op) {
        let _ = write!(s, " -> {r}");
    }
    if let Some(hint) = op.pagination.as_ref().and_then(next_page_hint) {
        let _ = write!(s, "; {hint}");
    }
    s
}

/// What an operation's `data` is, in a word.
fn returns(op: &Operation) -> Option<&'static str> {
    if op.returns_list() {
        return Some("list");
    }
    matches!(op.action.as_str(), "get" | "create" | "update").then_some("record")
}

/// `next page: pass meta.end_cursor as after`, when the pagination says where the cursor is.
fn next_page_hint(pg: &Pagination) -> Option<String> {
    let from = pg
        .meta
        .as_ref()
        .map(|m| format!("meta.{m}"))
        .or_else(|| pg.from_last_record.as_ref().map(|f| format!("the last record's {f}")))?;
    Some(format!("next page: pass {from} as {}", pg.param))
}

/// `per_page?: integer 1..100 = 10`.
fn param_signature(p: &Param) -> String {
    let marker = if p.is_required_from_caller() { '*' } else { '?' };
    let mut s = format!("{}{marker}: {}", p.name, compact_type(p));
    if let Some(d) = &p.default {
        let _ = write!(s, " = {}", value_text(d));
    }
    s
}

/// The compact type of a param, from its schema (falling back to the parsed fields).
fn compact_type(p: &Param) -> String {
    if p.schema.as_object().is_some_and(|m| !m.is_empty()) {
        return schema_type(&p.schema, 0);
    }
    if let Some(e) = &p.enum_values {
        return enum_text(e);
    }
    match (p.ty, p.items) {
        (Some(crate::spec::ParamType::Array), Some(it)) => format!("[{}]", it.as_str()),
        (Some(t), _) => format!("{}{}", t.as_str(), range_text(p.minimum, p.maximum)),
        (None, _) => "any".into(),
    }
}

/// The compact type of a JSON Schema: `string`, `integer 1..100`, `[OPEN|CLOSED]`, `a|b`.
fn schema_type(s: &Value, depth: usize) -> String {
    if depth > 3 {
        return "any".into();
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return enum_text(e);
    }
    if let Some(c) = s.get("const") {
        return value_text(c);
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => Some(t.as_str()),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null"),
        _ if s.get("properties").is_some() => Some("object"),
        _ => None,
    };
    match ty {
        Some("array") => {
            format!("[{}]", s.get("items").map(|i| schema_type(i, depth + 1)).unwrap_or_else(|| "any".into()))
        }
        Some(t @ ("integer" | "number")) => {
            format!(
                "{t}{}",
                range_text(s.get("minimum").and_then(Value::as_f64), s.get("maximum").and_then(Value::as_f64))
            )
        }
        Some(t) => t.to_string(),
        None => {
            let alts = s.get("anyOf").or_else(|| s.get("oneOf")).and_then(Value::as_array);
            let mut out: Vec<String> = Vec::new();
            for a in alts.into_iter().flatten() {
                let t = schema_type(a, depth + 1);
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            if out.is_empty() {
                "any".into()
            } else {
                out.join("|")
            }
        }
    }
}

/// ` 1..100`, ` >=1`, ` <=100` or nothing.
fn range_text(min: Option<f64>, max: Option<f64>) -> String {
    match (min, max) {
        (Some(a), Some(b)) => format!(" {}..{}", number_text(a), number_text(b)),
        (Some(a), None) => format!(" >={}", number_text(a)),
        (None, Some(b)) => format!(" <={}", number_text(b)),
        (None, None) => String::new(),
    }
}

/// `100` rather than `100.0`.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// `open|closed`, with a count of the values left out past [`MAX_ENUM_VALUES_SHOWN`].
fn enum_text(values: &[Value]) -> String {
    let mut shown: Vec<String> = values.iter().take(MAX_ENUM_VALUES_SHOWN).map(value_text).collect();
    if values.len() > MAX_ENUM_VALUES_SHOWN {
        shown.push(format!("...({} more)", values.len() - MAX_ENUM_VALUES_SHOWN));
    }
    shown.join("|")
}

/// A JSON value as a bare word: strings without quotes (`""` for the empty string).
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) if s.is_empty() => "\"\"".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Operation tools

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
fn operation_tool_names(spec: &ConnectorSpec) -> Vec<String> {
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
        properties.insert(p.name.clone(), param_schema(p));
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

/// A param's JSON Schema for a tool: its spec schema without vendor extensions, plus what the
/// parsed param knows that the schema does not say (e.g. a description on the parameter).
fn param_schema(p: &Param) -> Value {
    let mut s = match clean_schema(&p.schema) {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    let typed = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"].iter().any(|k| s.contains_key(*k));
    if let (false, Some(t)) = (typed, p.ty) {
        s.insert("type".into(), json!(t.as_str()));
        if let (crate::spec::ParamType::Array, Some(it), false) = (t, p.items, s.contains_key("items")) {
            s.insert("items".into(), json!({"type": it.as_str()}));
        }
    }
    if let (Some(d), false) = (&p.description, s.contains_key("description")) {
        s.insert("description".into(), json!(d));
    }
    if let (Some(e), false) = (&p.enum_values, s.contains_key("enum")) {
        s.insert("enum".into(), Value::Array(e.clone()));
    }
    if let (Some(d), false) = (&p.default, s.contains_key("default")) {
        s.insert("default".into(), d.clone());
    }
    for (key, bound) in [("minimum", p.minimum), ("maximum", p.maximum)] {
        if let (Some(b), false) = (bound, s.contains_key(key)) {
            if let Some(n) = json_number(b) {
                s.insert(key.into(), Value::Number(n));
            }
        }
    }
    Value::Object(s)
}

/// `100` as an integer when it is one.
fn json_number(n: f64) -> Option<Number> {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        Some(Number::from(n as i64))
    } else {
        Number::from_f64(n)
    }
}

/// Keywords that mean nothing to a model: OpenAPI-only annotations.
const DROPPED_KEYWORDS: [&str; 4] = ["example", "externalDocs", "xml", "discriminator"];

/// A schema without `x-` extensions, OpenAPI-only annotations and empty `required` lists, at
/// every level. Property names are kept whatever they look like.
fn clean_schema(v: &Value) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, x) in m {
        if k.starts_with("x-") || DROPPED_KEYWORDS.contains(&k.as_str()) {
            continue;
        }
        let x = match k.as_str() {
            "properties" | "patternProperties" | "$defs" | "definitions" => match x {
                Value::Object(props) => {
                    Value::Object(props.iter().map(|(n, s)| (n.clone(), clean_schema(s))).collect())
                }
                other => other.clone(),
            },
            "items" | "additionalProperties" | "not" | "contains" | "propertyNames" | "if" | "then" | "else" => {
                clean_schema(x)
            }
            "anyOf" | "oneOf" | "allOf" | "prefixItems" => match x {
                Value::Array(alts) => Value::Array(alts.iter().map(clean_schema).collect()),
                other => other.clone(),
            },
            "required" if x.as_array().is_some_and(Vec::is_empty) => continue,
            _ => x.clone(),
        };
        out.insert(k.clone(), x);
    }
    Value::Object(out)
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

// ---------------------------------------------------------------------------------------------
// Names and text

/// A tool name matching `^[a-zA-Z0-9_-]{1,64}$`: other characters become `_`; a longer name
/// keeps its first 55 characters plus `_` and 8 hex digits of a hash of the whole, so long names
/// that share a prefix stay apart.
fn sanitize_name(raw: &str) -> String {
    let s: String =
        raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).collect();
    if s.is_empty() {
        return "tool".into();
    }
    if s.len() <= MAX_TOOL_NAME_CHARS {
        return s;
    }
    // `s` is ASCII, so byte 55 is a char boundary.
    format!("{}_{:08x}", &s[..MAX_TOOL_NAME_CHARS - 9], fnv1a(raw.as_bytes()) as u32)
}

/// FNV-1a: a hash that stays the same across builds and Rust versions (tool names must).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// `s` cut to at most `max` characters, at a word boundary when one is near, ending in `…`.
fn truncate_clean(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let cut: String = s.chars().take(max - 1).collect();
    let at_word = match cut.rfind(char::is_whitespace) {
        Some(i) if i >= cut.len() * 3 / 4 => &cut[..i],
        _ => cut.as_str(),
    };
    let trimmed = at_word.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':' | '(' | '-'));
    format!("{trimmed}…")
}

// ---------------------------------------------------------------------------------------------
// Output bounding

/// Bounds a tool result to `max_chars` characters of compact JSON, for a model's context.
/// Returns the bounded value and whether anything was cut.
///
/// A value that fits is returned as it is. Otherwise:
/// - a list of records (the value itself if it is an array, else its top-level `data` or, failing
///   that, `result` array) loses trailing records until it fits. The note goes in a
///   `"_truncated"` key next to `data` / `result`, or, for a bare array, as a last element
///   `{"_truncated": "..."}`: `"showing N of M records to fit the output limit; ..."`. The rest
///   of the page is gone, and a next-page cursor in `meta` points past it, so the note asks for a
///   smaller page, fewer fields or a narrower query rather than the next page. When not even one
///   record fits, the first is kept with its long strings cut (ending in `…`).
/// - any other value has its long strings cut (ending in `…`), with a `"_truncated"` key when it
///   is an object.
///
/// Best effort: a value that cannot be made small enough (the note alone is ~200 characters) is
/// returned as small as this gets it.
pub fn bound_output(value: &Value, max_chars: usize) -> (Value, bool) {
    if json_chars(value) <= max_chars {
        return (value.clone(), false);
    }
    let slot = if value.is_array() {
        Some(None)
    } else {
        ["data", "result"].into_iter().find(|k| value.get(k).is_some_and(Value::is_array)).map(Some)
    };
    match slot {
        Some(key) => (bound_list(value, key, max_chars), true),
        None => bound_other(value, max_chars),
    }
}

/// The records of `value` at `key` (or `value` itself) cut to the most that fit.
fn bound_list(value: &Value, key: Option<&str>, max_chars: usize) -> Value {
    let items: &[Value] = match key {
        None => value.as_array(),
        Some(k) => value.get(k).and_then(Value::as_array),
    }
    .map(Vec::as_slice)
    .unwrap_or_default();
    let total = items.len();
    let assemble = |kept: Vec<Value>, cut_text: bool| {
        let note = format!(
            "showing {} of {total} records{} to fit the output limit; the rest of this page was dropped \
             (a next-page cursor in meta skips them): ask for a smaller page, fewer fields (select_fields) \
             or a narrower query",
            kept.len(),
            if cut_text { ", long text cut," } else { "" },
        );
        with_note(value, key, kept, note)
    };
    let fits = |v: &Value| json_chars(v) <= max_chars;
    // The largest count that fits: the whole list does not (it did not fit without the note).
    let (mut lo, mut hi) = (0usize, total.saturating_sub(1));
    let mut best: Option<Value> = None;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        let candidate = assemble(items[..mid].to_vec(), false);
        if fits(&candidate) {
            best = Some(candidate);
            lo = mid + 1;
        } else if mid == 0 {
            break;
        } else {
            hi = mid - 1;
        }
    }
    let kept = best.as_ref().map_or(0, |b| kept_count(b, key));
    if kept > 0 {
        return best.unwrap_or_else(|| assemble(Vec::new(), false));
    }
    // Not one whole record fits: keep the first with its text cut, if that fits.
    if let Some(first) = items.first() {
        if let Some(v) = fit_by_cutting(first, max_chars, |r| assemble(vec![r], true)) {
            return v;
        }
    }
    best.unwrap_or_else(|| assemble(Vec::new(), false))
}

/// How many records a value made by `bound_list` holds.
fn kept_count(v: &Value, key: Option<&str>) -> usize {
    match key {
        None => v.as_array().map_or(0, |a| a.len().saturating_sub(1)),
        Some(k) => v.get(k).and_then(Value::as_array).map_or(0, Vec::len),
    }
}

/// `value` with its records replaced by `kept` and the note added.
fn with_note(value: &Value, key: Option<&str>, kept: Vec<Value>, note: String) -> Value {
    match (key, value) {
        (Some(k), Value::Object(m)) => {
            let mut m = m.clone();
            m.insert(k.to_string(), Value::Array(kept));
            m.insert(TRUNCATED_KEY.to_string(), Value::String(note));
            Value::Object(m)
        }
        _ => {
            let mut kept = kept;
            kept.push(json!({ TRUNCATED_KEY: note }));
            Value::Array(kept)
        }
    }
}

/// A value with no list: its long strings cut, a note added to an object.
fn bound_other(value: &Value, max_chars: usize) -> (Value, bool) {
    if longest_string(value) == 0 {
        return (value.clone(), false);
    }
    let assemble = |v: Value| match v {
        Value::Object(mut m) => {
            m.insert(
                TRUNCATED_KEY.to_string(),
                json!("long text values were cut (ending in …) to fit the output limit; ask for fewer fields (select_fields) or a narrower request"),
            );
            Value::Object(m)
        }
        other => other,
    };
    let out = fit_by_cutting(value, max_chars, assemble).unwrap_or_else(|| assemble(cut_strings(value, 0)));
    (out, true)
}

/// `assemble(v with every string cut to the longest length that makes the result fit)`, or
/// `None` when even cutting every string to nothing does not.
fn fit_by_cutting(v: &Value, max_chars: usize, assemble: impl Fn(Value) -> Value) -> Option<Value> {
    let attempt = |len: usize| {
        let candidate = assemble(cut_strings(v, len));
        (json_chars(&candidate) <= max_chars).then_some(candidate)
    };
    let mut best = attempt(0)?;
    let (mut lo, mut hi) = (1usize, longest_string(v));
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match attempt(mid) {
            Some(c) => {
                best = c;
                lo = mid + 1;
            }
            None => hi = mid - 1,
        }
    }
    Some(best)
}

/// `v` with every string longer than `len` characters cut to `len` plus `…`.
fn cut_strings(v: &Value, len: usize) -> Value {
    match v {
        Value::String(s) if s.chars().count() > len => {
            Value::String(format!("{}…", s.chars().take(len).collect::<String>()))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| cut_strings(x, len)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), cut_strings(x, len))).collect()),
        other => other.clone(),
    }
}

/// The length in characters of the longest string in `v`.
fn longest_string(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(m) => m.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

/// The length of `v` as compact JSON, in characters.
fn json_chars(v: &Value) -> usize {
    serde_json::to_string(v).map_or(usize::MAX, |s| s.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::parse_spec;
    use crate::ErrorCode;

    const SPEC: &str = r##"
openapi: 3.1.0
info:
  title: Acme
  version: "1"
  description: The Acme things API.
  x-connector-name: acme
  x-connector-definition-id: 00000000-0000-0000-0000-000000000002
servers: [{url: "https://api.example.com"}]
components:
  securitySchemes:
    pat: {type: http, scheme: bearer}
  schemas:
    NewThing:
      type: object
      required: [name]
      properties:
        name: {type: string, description: The thing's name., x-internal: true}
        metadata:
          type: object
          x-vendor: ignore me
          example: {a: b}
          properties: {x-key: {type: string}}
paths:
  /things:
    get:
      summary: List things
      x-entity: things
      x-action: list
      x-meta-extractor: {end_cursor: $.next, has_next_page: $.more}
      parameters:
        - {name: status, in: query, schema: {type: string, enum: [open, closed], default: open}}
        - {name: per_page, in: query, description: Records per page., schema: {type: integer, minimum: 1, maximum: 100, default: 25}}
        - {name: after, in: query, schema: {type: string}}
        - {name: tags, in: query, schema: {type: array, items: {type: string, enum: [a, b]}}}
        - {name: X-Api-Version, in: header, schema: {type: string, default: "2024-01-01"}}
      responses: {"200": {description: ok}}
    post:
      summary: Create a thing
      description: Makes a thing.
      x-entity: things
      x-action: create
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/NewThing"}
      responses: {"200": {description: ok}}
  /things/{id}:
    get:
      summary: Get a thing
      description: LONG
      x-entity: things
      x-action: get
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
      responses: {"200": {description: ok}}
"##;

    fn spec() -> ConnectorSpec {
        let text = SPEC.replace("LONG", &"word ".repeat(400));
        parse_spec("acme.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn name_ok(n: &str) -> bool {
        (1..=64).contains(&n.len()) && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }

    fn schema_of(tool: &Value, format: ToolFormat) -> (&str, &str, &Value) {
        format.unwrap_tool(tool).unwrap_or_else(|| panic!("not a {format} tool: {tool}"))
    }

    #[test]
    fn formats_parse_in_any_case() {
        assert_eq!(ToolFormat::parse("OpenAI").ok(), Some(ToolFormat::OpenAi));
        assert_eq!(ToolFormat::parse("anthropic").ok(), Some(ToolFormat::Anthropic));
        assert_eq!(ToolFormat::parse(" MCP ").ok(), Some(ToolFormat::Mcp));
        let err = ToolFormat::parse("gemini").err().unwrap_or_else(|| panic!("gemini parsed"));
        assert_eq!(err.code, ErrorCode::Validation);
        assert!(err.message.contains("openai, anthropic, mcp"), "{}", err.message);
    }

    #[test]
    fn connector_tool_lists_operations_compactly() {
        let spec = spec();
        let tool = tool_schema(&spec, ToolFormat::Anthropic);
        let (name, description, schema) = schema_of(&tool, ToolFormat::Anthropic);
        assert_eq!(name, "acme_execute");
        assert_eq!(schema["properties"]["entity"]["enum"], json!(["things"]));
        assert_eq!(schema["properties"]["action"]["enum"], json!(["list", "create", "get"]));
        assert_eq!(schema["required"], json!(["entity", "action"]));
        assert_eq!(schema["additionalProperties"], json!(false));
        assert!(description.starts_with("Acme (acme): The Acme things API. Runs one operation"), "{description}");
        assert!(
            description.contains(
                "\nthings.list(status?: open|closed = open, per_page?: integer 1..100 = 25, after?: string, \
                 tags?: [a|b]) -> list; next page: pass meta.end_cursor as after\n"
            ),
            "{description}"
        );
        assert!(description.contains("\nthings.create(name*: string, metadata?: object) -> record"), "{description}");
        assert!(description.ends_with("\nthings.get(id*: integer) -> record"), "{description}");
        assert!(!description.contains("X-Api-Version"));
    }

    #[test]
    fn operation_tools_take_exactly_their_params() {
        let spec = spec();
        let tools = operation_tools(&spec, ToolFormat::OpenAi);
        let names: Vec<&str> = tools.iter().map(|t| schema_of(t, ToolFormat::OpenAi).0).collect();
        assert_eq!(names, ["acme_things_list", "acme_things_create", "acme_things_get"]);
        assert_eq!(tools[0]["type"], json!("function"));

        let (_, description, list) = schema_of(&tools[0], ToolFormat::OpenAi);
        assert_eq!(
            description,
            "Acme: List things. Returns a list of records in data, with paging values in meta. \
             Next page: pass meta.end_cursor as after."
        );
        assert_eq!(list["additionalProperties"], json!(false));
        assert!(list.get("required").is_none(), "{list}");
        let props = list["properties"].as_object().unwrap_or_else(|| panic!("{list}"));
        assert_eq!(props.keys().collect::<Vec<_>>(), ["status", "per_page", "after", "tags"]);
        assert_eq!(
            props["per_page"],
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 25, "description": "Records per page."})
        );
        assert_eq!(props["tags"]["items"]["enum"], json!(["a", "b"]));

        let (_, _, create) = schema_of(&tools[1], ToolFormat::OpenAi);
        assert_eq!(create["required"], json!(["name"]));
        assert_eq!(create["properties"]["name"], json!({"type": "string", "description": "The thing's name."}));
        let metadata = &create["properties"]["metadata"];
        assert_eq!(metadata, &json!({"type": "object", "properties": {"x-key": {"type": "string"}}}));

        let (_, description, get) = schema_of(&tools[2], ToolFormat::OpenAi);
        assert_eq!(get["required"], json!(["id"]));
        assert!(description.chars().count() <= MAX_OPERATION_DESCRIPTION_CHARS);
        assert!(description.starts_with("Acme: Get a thing. Returns the record in data. word word"), "{description}");
        assert!(description.ends_with("word…"), "{description}");

        for (i, op) in spec.operations.iter().enumerate() {
            let found = find_operation_tool(&spec, names[i]).map(|o| (&o.entity, &o.action));
            assert_eq!(found, Some((&op.entity, &op.action)));
        }
        assert!(find_operation_tool(&spec, "acme_execute").is_none());
    }

    #[test]
    fn names_are_made_safe_short_and_distinct() {
        assert_eq!(sanitize_name("acme.v2 things/list"), "acme_v2_things_list");
        assert_eq!(sanitize_name(""), "tool");
        let a = sanitize_name(&format!("{}_one", "x".repeat(80)));
        let b = sanitize_name(&format!("{}_two", "x".repeat(80)));
        assert!(name_ok(&a) && name_ok(&b) && a.len() == 64, "{a}");
        assert_ne!(a, b);
        assert_eq!(a, sanitize_name(&format!("{}_one", "x".repeat(80))));
    }

    #[test]
    fn duplicate_names_get_suffixes() {
        // `a.b` and `a_b` sanitize alike.
        let text = SPEC
            .replace("x-entity: things\n      x-action: create", "x-entity: a.b\n      x-action: list")
            .replace("x-entity: things\n      x-action: get", "x-entity: a_b\n      x-action: list");
        let spec = parse_spec("acme.yaml", &text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(operation_tool_names(&spec), ["acme_things_list", "acme_a_b_list", "acme_a_b_list_2"]);
        assert_eq!(find_operation_tool(&spec, "acme_a_b_list_2").map(|o| o.entity.as_str()), Some("a_b"));
    }

    /// A spec with `n` list operations of two params each.
    fn big_spec(n: usize) -> ConnectorSpec {
        let mut text = SPEC.split("paths:\n").next().unwrap_or_default().to_string();
        text.push_str("paths:\n");
        for i in 0..n {
            let _ = write!(
                text,
                "  /e{i}:\n    get:\n      x-entity: entity_number_{i}\n      x-action: list\n      parameters:\n\
                 \x20       - {{name: a_rather_long_parameter_name, in: query, schema: {{type: string}}}}\n\
                 \x20       - {{name: another_long_parameter_name, in: query, schema: {{type: integer, minimum: 0}}}}\n\
                 \x20     responses: {{\"200\": {{description: ok}}}}\n"
            );
        }
        parse_spec("big.yaml", &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn long_connector_descriptions_list_the_rest_by_name() {
        let spec = big_spec(200);
        let tool = tool_schema(&spec, ToolFormat::Mcp);
        let (_, description, schema) = schema_of(&tool, ToolFormat::Mcp);
        let chars = description.chars().count();
        assert!(chars <= MAX_CONNECTOR_DESCRIPTION_CHARS && chars > MAX_CONNECTOR_DESCRIPTION_CHARS - 200, "{chars}");
        let (listed, note) =
            description.rsplit_once("\n[cut at 8000 characters: ").unwrap_or_else(|| panic!("{description}"));
        assert!(listed.ends_with("another_long_parameter_name?: integer >=0) -> list"), "{listed}");
        let k = listed.lines().filter(|l| l.starts_with("entity_number_")).count();
        assert!(k > 10, "{k}");
        assert!(
            note.starts_with(&format!(
                "{k} of 200 operations listed with their params; the others: entity_number_{k}.list, "
            )),
            "{note}"
        );
        assert!(note.ends_with(", entity_number_199.list]"), "{note}");
        assert_eq!(schema["properties"]["entity"]["enum"].as_array().map(Vec::len), Some(200));

        let spec = big_spec(700);
        let tool = tool_schema(&spec, ToolFormat::Mcp);
        let (_, description, _) = schema_of(&tool, ToolFormat::Mcp);
        assert!(description.chars().count() <= MAX_CONNECTOR_DESCRIPTION_CHARS, "{}", description.chars().count());
        assert!(description.contains("params not shown; the operations: entity_number_0.list, "), "{description}");
        assert!(description.ends_with("more; the entity and action enums name them all)]"), "{description}");
    }

    #[test]
    fn every_builtin_connector_makes_valid_tools() {
        let registry = crate::Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
        let mut count = 0;
        for spec in registry.all() {
            let mut seen = HashSet::new();
            let per_format: Vec<(Value, Vec<Value>)> =
                ToolFormat::ALL.iter().map(|f| (tool_schema(spec, *f), operation_tools(spec, *f))).collect();
            for (i, format) in ToolFormat::ALL.into_iter().enumerate() {
                let (connector, ops) = &per_format[i];
                assert_eq!(ops.len(), spec.operations.len());
                let (reference_connector, reference_ops) = &per_format[0];
                let all = std::iter::once((connector, reference_connector)).chain(ops.iter().zip(reference_ops));
                for (j, (tool, reference)) in all.enumerate() {
                    let (name, description, schema) = schema_of(tool, format);
                    assert_eq!(
                        (name, description, schema),
                        schema_of(reference, ToolFormat::OpenAi),
                        "{format} differs"
                    );
                    if i > 0 {
                        continue;
                    }
                    assert!(name_ok(name), "{}: bad tool name {name:?}", spec.slug);
                    assert!(seen.insert(name.to_string()), "{}: duplicate tool name {name:?}", spec.slug);
                    let bound = if j == 0 { MAX_CONNECTOR_DESCRIPTION_CHARS } else { MAX_OPERATION_DESCRIPTION_CHARS };
                    assert!(description.chars().count() <= bound, "{name}: description too long");
                    assert_eq!(schema["type"], json!("object"), "{name}");
                    check_required(schema, name);
                    if j > 0 {
                        assert_eq!(
                            find_operation_tool(spec, name).map(|o| &o.pointer),
                            Some(&spec.operations[j - 1].pointer)
                        );
                    }
                    count += 1;
                }
            }
        }
        assert!(count > 50, "only {count} tools");
    }

    /// Every `required` entry names a property, at every level of the schema.
    fn check_required(schema: &Value, at: &str) {
        if let Some(req) = schema.get("required").and_then(Value::as_array) {
            let props = schema.get("properties").and_then(Value::as_object);
            for r in req {
                let r = r.as_str().unwrap_or_else(|| panic!("{at}: required entry {r} is not a string"));
                assert!(props.is_some_and(|p| p.contains_key(r)), "{at}: required {r:?} is not a property");
            }
        }
        match schema {
            Value::Object(m) => {
                for (k, v) in m {
                    if k == "properties" {
                        for (name, s) in v.as_object().into_iter().flatten() {
                            check_required(s, &format!("{at}.{name}"));
                        }
                    } else if k != "enum" && k != "default" && k != "const" {
                        check_required(v, &format!("{at}/{k}"));
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|v| check_required(v, at)),
            _ => {}
        }
    }

    fn records(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": i, "title": format!("record number {i}")})).collect()
    }

    #[test]
    fn small_output_is_untouched() {
        let v = json!({"data": records(3), "meta": {"end_cursor": "c"}});
        assert_eq!(bound_output(&v, 10_000), (v.clone(), false));
    }

    #[test]
    fn data_lists_lose_trailing_records() {
        let v = json!({"data": records(100), "meta": {"end_cursor": "c"}});
        let (out, cut) = bound_output(&v, 1000);
        assert!(cut);
        assert!(json_chars(&out) <= 1000, "{}", json_chars(&out));
        let kept = out["data"].as_array().map_or(0, Vec::len);
        assert!(kept > 5 && kept < 100, "{kept}");
        assert_eq!(out["data"][0], v["data"][0]);
        assert_eq!(out["meta"], v["meta"]);
        let note = out[TRUNCATED_KEY].as_str().unwrap_or_default();
        assert!(note.starts_with(&format!("showing {kept} of 100 records to fit")), "{note}");
        // One more record would not have fitted.
        let more =
            with_note(&v, Some("data"), records(kept + 1), note.replace(&kept.to_string(), &(kept + 1).to_string()));
        assert!(json_chars(&more) > 1000);
    }

    #[test]
    fn result_lists_and_bare_arrays_are_bounded() {
        let v = json!({"result": records(50)});
        let (out, cut) = bound_output(&v, 800);
        assert!(cut && json_chars(&out) <= 800);
        assert!(out[TRUNCATED_KEY].as_str().is_some_and(|n| n.ends_with("of 50 records to fit the output limit; the rest of this page was dropped (a next-page cursor in meta skips them): ask for a smaller page, fewer fields (select_fields) or a narrower query")));

        let v = Value::Array(records(50));
        let (out, cut) = bound_output(&v, 800);
        assert!(cut && json_chars(&out) <= 800);
        let items = out.as_array().unwrap_or_else(|| panic!("{out}"));
        assert!(items.len() > 2);
        assert!(items[..items.len() - 1].iter().all(|r| r.get("id").is_some()));
        let last = &items[items.len() - 1];
        assert!(last[TRUNCATED_KEY]
            .as_str()
            .is_some_and(|n| n.starts_with(&format!("showing {} of 50", items.len() - 1))));
    }

    #[test]
    fn one_huge_record_keeps_its_start() {
        let v = json!({"data": [{"id": 1, "body": "x".repeat(5000)}, {"id": 2, "body": "y"}]});
        let (out, cut) = bound_output(&v, 1000);
        assert!(cut && json_chars(&out) <= 1000, "{out}");
        assert_eq!(out["data"][0]["id"], json!(1));
        assert!(out["data"][0]["body"].as_str().is_some_and(|b| b.starts_with("xxx") && b.ends_with('…')));
        assert!(out[TRUNCATED_KEY].as_str().is_some_and(|n| n.starts_with("showing 1 of 2 records, long text cut,")));
    }

    #[test]
    fn records_without_a_list_have_text_cut() {
        let v = json!({"id": 7, "content": "z".repeat(5000), "name": "short"});
        let (out, cut) = bound_output(&v, 600);
        assert!(cut && json_chars(&out) <= 600, "{out}");
        assert_eq!(out["id"], json!(7));
        assert_eq!(out["name"], json!("short"));
        assert!(out[TRUNCATED_KEY].as_str().is_some_and(|n| n.starts_with("long text values were cut")));

        let (out, cut) = bound_output(&json!("q".repeat(100)), 20);
        assert!(cut && json_chars(&out) <= 20, "{out}");
        assert_eq!(bound_output(&json!(12345), 2), (json!(12345), false));
    }
}
