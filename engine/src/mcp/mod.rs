//! The MCP server (Model Context Protocol), on the official Rust SDK `rmcp`: the same tools over
//! stdio (`switchboard mcp`, local mode, see [`local`]) and over streamable HTTP at `/mcp` on the
//! engine (a workspace's stored connectors, see [`hosted`]).
//!
//! Tools: one `<name>_execute` per connector, whose input schema and description are core's
//! connector tool ([`switchboard_core::tools::tool_schema`]: `entity` and `action` as enums,
//! every operation's params listed in the description), and one `describe` tool giving a
//! connector's entities, actions and params as text (core's [`describe`](switchboard_core::describe)).
//! With [`ToolStyle::Operation`] (`--tools operation`, `/mcp?tools=operation`) each operation is a
//! tool instead, with core's operation tool schema (exactly its params).
//! Results are core's bounded tool output ([`tool_output`]); failures are tool results with
//! `isError: true` whose text is `{"code", "message", "details"?}` with the public error code. A
//! tool name that does not exist is a JSON-RPC `invalid params` error, as the MCP spec says.

pub mod hosted;
pub mod local;
mod stdio;
mod synced;

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
};
use rmcp::ErrorData as McpError;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::sdk::tool_output;
use switchboard_core::tools::{operation_tools, tool_schema, ToolFormat, MAX_TOOL_NAME_CHARS};
use switchboard_core::{ConnectorSpec, ErrorCode, ExecuteOptions, ExecutionResult};

/// Default bound on one tool result, in characters of JSON text.
pub const DEFAULT_MAX_OUTPUT_CHARS: usize = 25_000;

/// Largest `arguments` object of a tool call, in bytes of JSON; a larger one is a
/// `payload_too_large` tool error (over HTTP the engine's body limit applies first).
pub const MAX_ARGUMENT_BYTES: usize = 256 * 1024;

/// The name of the tool describing a connector.
pub const DESCRIBE_TOOL: &str = "describe";

/// How a hosted tool's description names its connector (and its workspace, when the list spans
/// several). The names are end users' words: quoted as JSON strings, so none can end its quote
/// and read as the description's own text.
pub fn connector_label(name: &str, connector_type: &str, id: &str, workspace: Option<&str>) -> String {
    let mut label = format!("Connector {} ({connector_type}, id {id})", Value::from(name));
    if let Some(w) = workspace {
        label.push_str(&format!(" of workspace {}", Value::from(w)));
    }
    label
}

/// Most tools in one `tools/list` answer; more come on pages (`nextCursor`).
pub const TOOLS_PER_PAGE: usize = 500;

/// One page of `list` for a `tools/list` request: from the request's cursor (the offset this
/// server gave as `nextCursor`; any other is invalid params, as MCP's pagination says), at most
/// [`TOOLS_PER_PAGE`] tools, with the next page's cursor when there are more. The list's order
/// is stable (the store's), so pages follow each other.
pub fn tools_page(mut list: Vec<Tool>, request: Option<&PaginatedRequestParams>) -> Result<ListToolsResult, McpError> {
    let start = match request.and_then(|r| r.cursor.as_deref()) {
        None => 0,
        Some(c) => c.parse::<usize>().ok().filter(|n| *n > 0 && *n < list.len()).ok_or_else(|| {
            McpError::invalid_params("the cursor is not one this server gave: list from the start", None)
        })?,
    };
    let end = list.len().min(start + TOOLS_PER_PAGE);
    let more = end < list.len();
    list.truncate(end);
    let mut page = ListToolsResult::with_all_items(list.split_off(start));
    if more {
        page.next_cursor = Some(end.to_string());
    }
    Ok(page)
}

const SUFFIX: &str = "_execute";

/// One connector offered as a tool: its tool name prefix (`<prefix>_execute`), its spec, and a
/// line saying which connector it is (for hosted connectors: name, type and workspace).
#[derive(Clone)]
pub struct Entry<T> {
    pub prefix: String,
    pub spec: Arc<ConnectorSpec>,
    pub label: Option<String>,
    pub target: T,
}

/// A tool-name-safe form of `raw`: lowercase ASCII letters, digits, `_` and `-`, other runs of
/// characters as one `_`, at most `max` characters; empty when nothing is left.
pub fn safe_name(raw: &str, max: usize) -> String {
    let mut out = String::new();
    for c in raw.trim().chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_alphanumeric() || c == '-' {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_');
    out.chars().take(max).collect::<String>().trim_end_matches('_').to_string()
}

/// The most characters of a tool name prefix, so `<prefix>_<8 id chars>_execute` fits
/// [`MAX_TOOL_NAME_CHARS`].
pub const MAX_PREFIX_CHARS: usize = MAX_TOOL_NAME_CHARS - SUFFIX.len() - 9;

/// Tool name prefixes for `items` (each `(wanted name, fallback, stable id)`, in a stable order):
/// the safe form of the wanted name, else of the fallback; a prefix already taken (or `describe`)
/// gets the first 8 safe characters of the id appended, then a counter. With `always_id` every
/// prefix carries its id's characters: a name then never comes to mean another item when the
/// one holding it is deleted or renamed (a client keeps the names it listed for its session).
pub fn unique_prefixes(items: &[(&str, &str, &str)], always_id: bool) -> Vec<String> {
    let mut used: HashSet<String> = HashSet::from([DESCRIBE_TOOL.to_string()]);
    items
        .iter()
        .map(|(name, fallback, id)| {
            let mut base = safe_name(name, MAX_PREFIX_CHARS);
            if base.is_empty() {
                base = safe_name(fallback, MAX_PREFIX_CHARS);
            }
            if base.is_empty() {
                base = "connector".into();
            }
            let mut prefix = base.clone();
            if always_id || used.contains(&prefix) {
                let id: String = safe_name(id, 8);
                prefix = format!("{base}_{id}");
                let mut n = 2;
                while used.contains(&prefix) {
                    // The counter's digits come off the base, so the name still fits.
                    let digits = n.to_string();
                    let cut = &base[..base.len().saturating_sub(digits.len())];
                    prefix = format!("{cut}_{id}{digits}");
                    n += 1;
                }
            }
            used.insert(prefix.clone());
            prefix
        })
        .collect()
}

/// How connectors become tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ToolStyle {
    /// One `<name>_execute` tool per connector (core's connector tool).
    #[default]
    Connector,
    /// One `<name>_<entity>_<action>` tool per operation, taking exactly its params (core's
    /// operation tools).
    Operation,
}

impl std::str::FromStr for ToolStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "connector" => Ok(Self::Connector),
            "operation" => Ok(Self::Operation),
            other => Err(format!("{other:?} is not a tool style: connector or operation")),
        }
    }
}

/// The operation tools' names, each with its entry and operation index: `<prefix>_<entity>_<action>`,
/// made safe; a name over [`MAX_TOOL_NAME_CHARS`] keeps 55 characters and 8 hex digits of a hash of
/// the whole, and a name already taken gets `_2`, `_3`, ...
pub fn operation_names<T>(entries: &[Entry<T>]) -> Vec<(String, usize, usize)> {
    let mut used: HashSet<String> = HashSet::from([DESCRIBE_TOOL.to_string()]);
    let mut out = Vec::new();
    for (ei, e) in entries.iter().enumerate() {
        for (oi, op) in e.spec.operations.iter().enumerate() {
            let raw = format!("{}_{}_{}", e.prefix, safe_name(&op.entity, 64), safe_name(&op.action, 64));
            let base = if raw.len() <= MAX_TOOL_NAME_CHARS - 3 {
                raw
            } else {
                let hash = raw
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3));
                format!("{}_{:08x}", &raw[..MAX_TOOL_NAME_CHARS - 12], hash as u32)
            };
            let mut name = base.clone();
            let mut n = 2;
            while used.contains(&name) {
                name = format!("{base}_{n}");
                n += 1;
            }
            used.insert(name.clone());
            out.push((name, ei, oi));
        }
    }
    out
}

/// The MCP tools of `entries` in `style`, then `describe`.
pub fn tools<T>(entries: &[Entry<T>], style: ToolStyle) -> Vec<Tool> {
    let labelled = |e: &Entry<T>, mut t: Value| {
        if let (Some(label), Some(d)) = (&e.label, t["description"].as_str()) {
            t["description"] = json!(format!("{label}. {d}"));
        }
        mcp_tool(t)
    };
    let mut out: Vec<Tool> = match style {
        ToolStyle::Connector => entries
            .iter()
            .map(|e| {
                let mut t = tool_schema(&e.spec, ToolFormat::Mcp);
                t["name"] = json!(format!("{}{SUFFIX}", e.prefix));
                labelled(e, t)
            })
            .collect(),
        ToolStyle::Operation => {
            let per_entry: Vec<Vec<Value>> =
                entries.iter().map(|e| operation_tools(&e.spec, ToolFormat::Mcp)).collect();
            operation_names(entries)
                .into_iter()
                .map(|(name, ei, oi)| {
                    let mut t = per_entry[ei][oi].clone();
                    t["name"] = json!(name);
                    labelled(&entries[ei], t)
                })
                .collect()
        }
    };
    let names: Vec<&str> = entries.iter().map(|e| e.prefix.as_str()).collect();
    let mut connector = json!({
        "type": "string",
        "description": "The connector: the name its tools start with (the part before _execute, or before _<entity>_<action>).",
    });
    if !names.is_empty() {
        connector["enum"] = json!(names);
    }
    out.push(mcp_tool(json!({
        "name": DESCRIBE_TOOL,
        "description": "Describes one connector: every entity, action and param, with paging hints.",
        "inputSchema": {
            "type": "object",
            "properties": {"connector": connector},
            "required": ["connector"],
            "additionalProperties": false,
        },
    })));
    out
}

fn mcp_tool(v: Value) -> Tool {
    let name = v["name"].as_str().unwrap_or_default().to_string();
    let description = v["description"].as_str().unwrap_or_default().to_string();
    let schema: JsonObject = v.get("inputSchema").and_then(Value::as_object).cloned().unwrap_or_default();
    Tool::new(name, description, Arc::new(schema))
}

/// The server's `initialize` answer: tools only.
pub fn server_info() -> ServerConfig {
    ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
        .with_server_info(Implementation::new("switchboard", env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "A <name>_execute tool runs one operation of one connector: pick entity and action from the \
             pairs its description lists and put that operation's params in params (with one tool per \
             operation, <name>_<entity>_<action>, the arguments are the params). Call describe for a \
             connector's full list. A failed call answers {\"code\", \"message\"}: the code is one of the \
             public error codes (validation, not_found, authentication, rate_limited, upstream_http, ...).",
        )
}

/// What a tool call asks for.
pub enum Call<'a, T> {
    /// `describe` of this entry.
    Describe(&'a Entry<T>),
    /// An operation of this entry's connector.
    Execute(&'a Entry<T>, ExecuteArgs),
}

/// The arguments of a `<name>_execute` tool.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExecuteArgs {
    pub entity: String,
    pub action: String,
    #[serde(default)]
    pub params: Option<Map<String, Value>>,
    #[serde(default)]
    pub select_fields: Option<Vec<String>>,
    #[serde(default)]
    pub exclude_fields: Option<Vec<String>>,
}

impl ExecuteArgs {
    pub fn options(&self) -> ExecuteOptions {
        ExecuteOptions {
            select_fields: self.select_fields.clone().unwrap_or_default(),
            exclude_fields: self.exclude_fields.clone().unwrap_or_default(),
            skip_truncation: false,
            intent: None,
        }
    }

    pub fn params(&self) -> Value {
        Value::Object(self.params.clone().unwrap_or_default())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DescribeArgs {
    connector: String,
}

/// Resolves a tool call against `entries`: an unknown tool is a protocol error (`Err`); bad
/// arguments are a `validation` (or `payload_too_large`) tool result (`Ok(Err)`).
pub fn resolve<'a, T>(
    entries: &'a [Entry<T>],
    style: ToolStyle,
    request: &CallToolRequestParams,
) -> Result<Result<Call<'a, T>, CallToolResult>, McpError> {
    let name = request.name.as_ref();
    let entry_of = |prefix: &str| entries.iter().find(|e| e.prefix == prefix);
    // Operation style: (entry, operation) of the tool.
    let mut operation = None;
    let kind = if name == DESCRIBE_TOOL {
        None
    } else {
        let found = match style {
            ToolStyle::Connector => name.strip_suffix(SUFFIX).and_then(entry_of),
            ToolStyle::Operation => {
                operation_names(entries).into_iter().find(|(n, _, _)| n == name).map(|(_, ei, oi)| {
                    operation = Some(&entries[ei].spec.operations[oi]);
                    &entries[ei]
                })
            }
        };
        match found {
            Some(e) => Some(e),
            None => {
                return Err(McpError::invalid_params(
                    format!("unknown tool {:?}: tools/list names the tools of this server", truncate(name, 80)),
                    None,
                ))
            }
        }
    };
    let args = Value::Object(request.arguments.clone().unwrap_or_default());
    let size = serde_json::to_vec(&args).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_ARGUMENT_BYTES {
        return Ok(Err(error_result(
            ErrorCode::PayloadTooLarge,
            &format!("the arguments are {size} bytes of JSON; at most {MAX_ARGUMENT_BYTES} are accepted"),
            None,
        )));
    }
    let invalid = |e: serde_json::Error| {
        error_result(ErrorCode::Validation, &format!("the arguments do not match the tool's input schema: {e}"), None)
    };
    Ok(match (kind, operation) {
        (Some(entry), Some(op)) => match args {
            Value::Object(params) => Ok(Call::Execute(
                entry,
                ExecuteArgs {
                    entity: op.entity.clone(),
                    action: op.action.clone(),
                    params: Some(params),
                    select_fields: None,
                    exclude_fields: None,
                },
            )),
            _ => Err(error_result(ErrorCode::Validation, "the arguments must be an object", None)),
        },
        (Some(entry), None) => {
            serde_json::from_value::<ExecuteArgs>(args).map(|a| Call::Execute(entry, a)).map_err(invalid)
        }
        (None, _) => match serde_json::from_value::<DescribeArgs>(args) {
            Ok(a) => match entry_of(&a.connector) {
                Some(e) => Ok(Call::Describe(e)),
                None => {
                    let names: Vec<&str> = entries.iter().map(|e| e.prefix.as_str()).collect();
                    Err(error_result(
                        ErrorCode::NotFound,
                        &format!(
                            "no connector {:?} here; the connectors are: {}",
                            truncate(&a.connector, 80),
                            names.join(", ")
                        ),
                        None,
                    ))
                }
            },
            Err(e) => Err(invalid(e)),
        },
    })
}

/// The `describe` tool's answer for `entry`.
pub fn describe_result<T>(entry: &Entry<T>, style: ToolStyle, max_chars: usize) -> CallToolResult {
    let mut text = switchboard_core::describe(&entry.spec);
    if let Some(label) = &entry.label {
        let tools = match style {
            ToolStyle::Connector => format!("Tool {}{SUFFIX}", entry.prefix),
            ToolStyle::Operation => format!("Tools {}_<entity>_<action>", entry.prefix),
        };
        text = format!("{label}. {tools}.\n{text}");
    }
    CallToolResult::success(vec![ContentBlock::text(truncate(&text, max_chars))])
}

/// A successful operation as a tool result: core's bounded `{"data", "meta"}` text.
pub fn success_result(result: &ExecutionResult, max_chars: usize) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(tool_output(result, max_chars))])
}

/// A failure as a tool result (`isError: true`): `{"code", "message", "details"?}`.
pub fn error_result(code: ErrorCode, message: &str, details: Option<&Value>) -> CallToolResult {
    error_result_with(code, message, details, None, None)
}

/// [`error_result`] with `retry_after` (seconds to wait, for `rate_limited` and `unavailable`,
/// as the HTTP API's body and `Retry-After` say) and `request_id` (what an `internal` message
/// refers to) when there are.
pub fn error_result_with(
    code: ErrorCode,
    message: &str,
    details: Option<&Value>,
    retry_after: Option<f64>,
    request_id: Option<&str>,
) -> CallToolResult {
    let mut body = json!({"code": code.as_str(), "message": message});
    if let Some(d) = details {
        body["details"] = d.clone();
    }
    if let Some(secs) = retry_after {
        body["retry_after"] = json!(secs);
    }
    if let Some(id) = request_id.filter(|id| !id.is_empty()) {
        body["request_id"] = json!(id);
    }
    CallToolResult::error(vec![ContentBlock::text(body.to_string())])
}

fn truncate(s: &str, max: usize) -> Cow<'_, str> {
    if s.chars().count() <= max {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(format!("{}…", s.chars().take(max.saturating_sub(1)).collect::<String>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::Registry;

    fn entry(prefix: &str, slug: &str) -> Entry<()> {
        let spec = Registry::builtin().and_then(|r| r.get(slug)).unwrap_or_else(|e| panic!("{e:?}"));
        Entry { prefix: prefix.into(), spec, label: None, target: () }
    }

    #[test]
    fn names_are_safe_distinct_and_stable() {
        let items = [
            ("Acme GitHub!", "github", "0a1b2c3d-ffff"),
            ("acme github", "github", "99887766-eeee"),
            ("", "stripe", "x"),
        ];
        let p = unique_prefixes(&items, false);
        assert_eq!(p, ["acme_github", "acme_github_99887766", "stripe"]);
        // The same list gives the same names.
        assert_eq!(unique_prefixes(&items, false), p);
        // `describe` is taken by the describe tool.
        assert_eq!(unique_prefixes(&[("describe", "github", "abc")], false), ["describe_abc"]);
        // Long names, also when ids share their first characters (a counter then).
        let long = "x".repeat(200);
        for always_id in [false, true] {
            let items: Vec<(&str, &str, &str)> = (0..12).map(|_| (long.as_str(), "github", "same-id-0")).collect();
            let p = unique_prefixes(&items, always_id);
            assert!(p.iter().all(|n| format!("{n}{SUFFIX}").len() <= MAX_TOOL_NAME_CHARS), "{p:?}");
            assert_eq!(p.iter().collect::<HashSet<_>>().len(), 12, "{p:?}");
        }
    }

    /// `tools/list` comes in pages of [`TOOLS_PER_PAGE`], each naming the next; a cursor this
    /// server did not give is invalid params.
    #[test]
    fn tools_come_in_pages_that_follow_each_other() {
        let tool = |i: usize| Tool::new(format!("t{i}"), "d", Arc::new(JsonObject::new()));
        let all: Vec<Tool> = (0..TOOLS_PER_PAGE * 2 + 7).map(tool).collect();
        let (mut seen, mut cursor, mut pages) = (Vec::new(), None::<String>, 0);
        loop {
            let request = cursor.clone().map(|c| PaginatedRequestParams::default().with_cursor(Some(c)));
            let page = tools_page(all.clone(), request.as_ref()).unwrap_or_else(|e| panic!("{e:?}"));
            pages += 1;
            seen.extend(page.tools.iter().map(|t| t.name.to_string()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(pages, 3);
        assert_eq!(seen, all.iter().map(|t| t.name.to_string()).collect::<Vec<_>>());
        let one = tools_page(all[..3].to_vec(), None).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((one.tools.len(), one.next_cursor), (3, None));
        for bad in ["x", "0", "-1", "99999"] {
            let request = PaginatedRequestParams::default().with_cursor(Some(bad.into()));
            let e = tools_page(all.clone(), Some(&request)).err().map(|e| e.code.0);
            assert_eq!(e, Some(-32602), "{bad}");
        }
    }

    /// `describe` names the tools the listing has: `<prefix>_execute` in connector style, the
    /// operation tools in operation style (where no `_execute` tool exists).
    #[test]
    fn describe_names_the_tools_of_the_style() {
        let mut e = entry("work_gh", "github");
        e.label = Some("Connector \"Work GH\"".into());
        let text = |style| {
            let r = describe_result(&e, style, 100_000);
            serde_json::to_value(&r).unwrap_or_default()["content"][0]["text"].as_str().unwrap_or_default().to_string()
        };
        assert!(text(ToolStyle::Connector).starts_with("Connector \"Work GH\". Tool work_gh_execute.\n"));
        let op = text(ToolStyle::Operation);
        assert!(
            op.starts_with("Connector \"Work GH\". Tools work_gh_<entity>_<action>.\n") && !op.contains("_execute"),
            "{op}"
        );
    }

    /// With `always_id` (an application token's list, which spans end users) a name is its
    /// connector's for life: deleting or renaming the first of two same-named connectors does
    /// not hand its name to the other, as it does without.
    #[test]
    fn names_carrying_ids_are_never_handed_on() {
        let items = [("GitHub", "github", "0a1b2c3d-ffff"), ("GitHub", "github", "99887766-eeee")];
        let p = unique_prefixes(&items, true);
        assert_eq!(p, ["github_0a1b2c3d", "github_99887766"]);
        assert_eq!(unique_prefixes(&items[1..], true), ["github_99887766"], "after a delete");
        let renamed = [("GitHub Work", "github", "0a1b2c3d-ffff"), ("GitHub", "github", "99887766-eeee")];
        assert_eq!(unique_prefixes(&renamed, true), ["github_work_0a1b2c3d", "github_99887766"], "after a rename");
        assert_eq!(unique_prefixes(&items[1..], false), ["github"], "without: the bare name moves on");
    }

    #[test]
    fn tools_come_from_core_schema_with_enums_and_describe() {
        let entries = [entry("work_gh", "github"), entry("stripe", "stripe")];
        let tools = tools(&entries, ToolStyle::Connector);
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, ["work_gh_execute", "stripe_execute", "describe"]);
        let core = tool_schema(&entries[0].spec, ToolFormat::Mcp);
        assert_eq!(Value::Object((*tools[0].input_schema).clone()), core["inputSchema"]);
        assert!(tools[0].input_schema["properties"]["entity"]["enum"].as_array().is_some_and(|a| !a.is_empty()));
        assert_eq!(tools[2].input_schema["properties"]["connector"]["enum"], json!(["work_gh", "stripe"]));
    }

    #[test]
    fn operation_tools_are_core_schemas_under_the_connector_name() {
        let entries = [entry("work_gh", "github")];
        let tools = tools(&entries, ToolStyle::Operation);
        let spec = &entries[0].spec;
        assert_eq!(tools.len(), spec.operations.len() + 1);
        let core = operation_tools(spec, ToolFormat::Mcp);
        for (t, c) in tools.iter().zip(&core) {
            assert!(t.name.starts_with("work_gh_") && t.name.len() <= MAX_TOOL_NAME_CHARS, "{}", t.name);
            assert_eq!(Value::Object((*t.input_schema).clone()), c["inputSchema"]);
        }
        let list = tools.iter().find(|t| t.name == "work_gh_issues_list").map(|t| t.name.to_string());
        let mut r = CallToolRequestParams::new(list.unwrap_or_default());
        r.arguments = json!({"owner": "o", "repo": "r"}).as_object().cloned();
        match resolve(&entries, ToolStyle::Operation, &r) {
            Ok(Ok(Call::Execute(_, a))) => assert_eq!((a.entity.as_str(), a.action.as_str()), ("issues", "list")),
            _ => panic!("work_gh_issues_list does not resolve to issues.list"),
        }
        assert!(resolve(&entries, ToolStyle::Operation, &CallToolRequestParams::new("work_gh_execute")).is_err());
    }

    #[test]
    fn bad_calls_are_tool_errors_and_unknown_tools_protocol_errors() {
        let entries = [entry("gh", "github")];
        let call = |name: &str, args: Value| {
            let mut r = CallToolRequestParams::new(name.to_string());
            r.arguments = args.as_object().cloned();
            resolve(&entries, ToolStyle::Connector, &r).map(|r| r.err().map(|e| e.is_error))
        };
        assert!(call("nope_execute", json!({})).is_err());
        assert_eq!(
            call("gh_execute", json!({"entity": 5, "action": "list"})).unwrap_or_else(|e| panic!("{e:?}")),
            Some(Some(true))
        );
        assert_eq!(
            call("gh_execute", json!({"entity": "issues", "action": "list"})).unwrap_or_else(|e| panic!("{e:?}")),
            None
        );
        let big = "x".repeat(MAX_ARGUMENT_BYTES);
        assert_eq!(
            call("gh_execute", json!({"entity": "issues", "action": "list", "params": {"q": big}}))
                .unwrap_or_else(|e| panic!("{e:?}")),
            Some(Some(true))
        );
        assert_eq!(
            call("describe", json!({"connector": "other"})).unwrap_or_else(|e| panic!("{e:?}")),
            Some(Some(true))
        );
    }
}
