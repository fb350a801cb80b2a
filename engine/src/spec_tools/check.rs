//! `switchboard connectors check FILE`: loads a spec with core's own loader and reports each
//! problem with its file, line, column and JSON pointer, plus warnings that do not stop the
//! spec from loading (an operation defined twice, a record without a schema, draft notes left
//! by `connectors import`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use switchboard_core::spec::{parse_spec, ConnectorSpec, ParamLocation};

use super::source_map::SourceMap;

/// One problem, placed in the file.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Finding {
    /// 1-based line of the field (for a missing field, of the nearest enclosing one).
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// JSON pointer of the field (`/paths/~1pets/get/x-action`); empty for the whole file.
    pub pointer: String,
    /// What is wrong.
    pub message: String,
}

/// What `check` found in one file.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub file: String,
    /// True when the spec loads.
    pub ok: bool,
    /// The connector slug, when the spec loads.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slug: Option<String>,
    /// Operations the spec defines, when it loads.
    pub operations: usize,
    /// At most one: the loader stops at the first fault.
    pub errors: Vec<Finding>,
    pub warnings: Vec<Finding>,
}

impl Report {
    /// Compiler-style lines: `FILE:LINE:COL: error: POINTER: message`, then a summary line.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (kind, list) in [("error", &self.errors), ("warning", &self.warnings)] {
            for f in list {
                let ptr = if f.pointer.is_empty() { String::new() } else { format!("{}: ", f.pointer) };
                out.push_str(&format!("{}:{}:{}: {kind}: {ptr}{}\n", self.file, f.line, f.column, f.message));
            }
        }
        match &self.slug {
            Some(slug) if self.ok => out.push_str(&format!(
                "{}: ok: connector {slug}, {} operations, {} warnings\n",
                self.file,
                self.operations,
                self.warnings.len()
            )),
            _ => out.push_str(&format!("{}: failed\n", self.file)),
        }
        out
    }
}

/// Checks the spec file at `path`. Only an unreadable file is an `Err`; a bad spec is a report
/// with `ok: false`.
pub fn check_file(path: &Path) -> std::io::Result<Report> {
    let text = std::fs::read_to_string(path)?;
    Ok(check_text(&path.display().to_string(), &text))
}

/// Checks spec text; `file` names it in the messages.
pub fn check_text(file: &str, text: &str) -> Report {
    let map = SourceMap::new(text);
    let mut report = Report {
        file: file.to_string(),
        ok: false,
        slug: None,
        operations: 0,
        errors: Vec::new(),
        warnings: Vec::new(),
    };
    match parse_spec(file, text) {
        Err(e) => report.errors.push(locate_error(file, &e.message, &map)),
        Ok(spec) => {
            report.ok = true;
            report.slug = Some(spec.slug.clone());
            report.operations = spec.operations.len();
            // The loader accepted the text, so it decodes.
            let doc: Value = serde_norway::from_str(text).unwrap_or(Value::Null);
            report.warnings = warnings(&spec, &doc, &map);
        }
    }
    report
}

/// Places a loader error: `spec FILE: at POINTER: what` or `spec FILE: not valid YAML at line
/// L, column C: ...`.
fn locate_error(file: &str, message: &str, map: &SourceMap) -> Finding {
    let rest = message.strip_prefix(&format!("spec {file}: ")).unwrap_or(message);
    if let Some(yaml) = rest.strip_prefix("not valid YAML at line ") {
        let mut nums = yaml.splitn(2, ", column ");
        let line = nums.next().and_then(|n| n.trim().parse().ok()).unwrap_or(1);
        let column = nums
            .next()
            .and_then(|c| c.split(|ch: char| !ch.is_ascii_digit()).next())
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
        let what = yaml.split_once(": ").map_or(rest, |(_, w)| w);
        return Finding { line, column, pointer: String::new(), message: format!("not valid YAML: {what}") };
    }
    if let Some(at) = rest.strip_prefix("at ") {
        // The pointer ends at the first ": " that leaves a pointer found in the text (a path key
        // may itself hold ": "); failing that, at the first one.
        let splits: Vec<usize> = at.match_indices(": ").map(|(i, _)| i).collect();
        let pick = splits.iter().copied().find(|&i| map.locate(&at[..i]).exact).or_else(|| splits.first().copied());
        if let Some(i) = pick {
            let pointer = if &at[..i] == "/" { String::new() } else { at[..i].to_string() };
            let pos = map.locate(&pointer);
            let mut what = at[i + 2..].to_string();
            if !pos.exact {
                what.push_str(" (the line is that of the nearest enclosing field)");
            }
            return Finding { line: pos.line, column: pos.column, pointer, message: what };
        }
    }
    Finding { line: 1, column: 1, pointer: String::new(), message: rest.to_string() }
}

const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

fn ext<'v>(op: &'v serde_json::Map<String, Value>, name: &str) -> Option<&'v Value> {
    op.get(&format!("x-{name}")).or_else(|| op.get(&format!("x-airbyte-{name}")))
}

fn tok(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// Keys without a value that read as text (a space in them, or a closing `.` or `)`): in a
/// flow mapping (`{type: string, description: a, b}`) an unquoted comma ends the text, and what
/// follows becomes such a key, so the description a model reads stops at the comma.
fn cut_texts(v: &Value, pointer: String, map: &SourceMap, out: &mut Vec<Finding>) {
    match v {
        Value::Object(m) => {
            for (k, child) in m {
                let ptr = format!("{pointer}/{}", tok(k));
                if child.is_null() && (k.contains(char::is_whitespace) || k.ends_with(['.', ')'])) {
                    out.push(finding(
                        map,
                        ptr,
                        format!(
                            "`{k}` is a key without a value: text cut at an unquoted comma inside {{...}}? \
                             Quote the text before it (description: \"a, b\")"
                        ),
                    ));
                } else {
                    cut_texts(child, ptr, map, out);
                }
            }
        }
        Value::Array(a) => {
            for (i, child) in a.iter().enumerate() {
                cut_texts(child, format!("{pointer}/{i}"), map, out);
            }
        }
        _ => {}
    }
}

fn finding(map: &SourceMap, pointer: String, message: String) -> Finding {
    let pos = map.locate(&pointer);
    Finding { line: pos.line, column: pos.column, pointer, message }
}

/// The `x-review` notes an import left on `node` (the document's `info`, or an operation) at
/// `pointer`, one warning each.
fn review_notes(node: &serde_json::Map<String, Value>, pointer: &str, map: &SourceMap, out: &mut Vec<Finding>) {
    let notes: Vec<String> = match ext(node, "review") {
        None => return,
        Some(Value::Array(a)) => a.iter().map(|n| n.as_str().map_or_else(|| n.to_string(), str::to_string)).collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(other) => vec![other.to_string()],
    };
    for n in notes {
        out.push(finding(map, format!("{pointer}/x-review"), format!("draft, to review: {n}")));
    }
}

/// What loads but deserves a look.
fn warnings(spec: &ConnectorSpec, doc: &Value, map: &SourceMap) -> Vec<Finding> {
    let mut out = Vec::new();
    if let Some(info) = doc.get("info").and_then(Value::as_object) {
        review_notes(info, "/info", map, &mut out);
    }
    // Operations defined twice: the loader keeps the last one.
    let mut seen: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    if let Some(paths) = doc.get("paths").and_then(Value::as_object) {
        for (path, item) in paths {
            let Some(item) = item.as_object() else { continue };
            for (method, op) in item {
                if !METHODS.contains(&method.as_str()) {
                    continue;
                }
                let ptr = format!("/paths/{}/{method}", tok(path));
                let Some(op) = op.as_object() else { continue };
                review_notes(op, &ptr, map, &mut out);
                match (ext(op, "entity").and_then(Value::as_str), ext(op, "action").and_then(Value::as_str)) {
                    (Some(e), Some(a)) => seen.entry((e.to_string(), a.to_string())).or_default().push(ptr),
                    _ => out.push(finding(
                        map,
                        ptr,
                        "no x-entity and x-action: not a connector operation, ignored".to_string(),
                    )),
                }
            }
        }
    }
    for ((entity, action), ptrs) in &seen {
        if let Some((last, earlier)) = ptrs.split_last() {
            for p in earlier {
                out.push(finding(
                    map,
                    p.clone(),
                    format!("operation {entity}.{action} is defined again at {last}; the last definition is used"),
                ));
            }
        }
    }
    for op in &spec.operations {
        let records = matches!(op.action.as_str(), "list" | "search" | "get" | "create" | "update");
        if records && op.record_schema().is_none() {
            out.push(finding(
                map,
                op.pointer.clone(),
                format!(
                    "{}.{} declares no JSON response schema: its records have no schema (typed records, field checks)",
                    op.entity, op.action
                ),
            ));
        }
        let paging = ["page", "cursor", "after", "offset", "starting_after", "page_token", "pageToken"];
        if op.action == "list" && op.pagination.is_none() {
            if let Some(p) =
                op.params.iter().find(|p| p.location == ParamLocation::Query && paging.contains(&p.name.as_str()))
            {
                out.push(finding(
                    map,
                    op.pointer.clone(),
                    format!(
                        "{}.{} takes `{}` but has no x-pagination (nor one inferred): only the first page is read",
                        op.entity, op.action, p.name
                    ),
                ));
            }
        }
    }
    cut_texts(doc, String::new(), map, &mut out);
    if spec.auth_schemes.is_empty() {
        let ptr = if doc.pointer("/components").is_some() { "/components" } else { "" };
        out.push(finding(
            map,
            ptr.to_string(),
            "no components.securitySchemes: requests carry no credentials".to_string(),
        ));
    }
    out.sort_by_key(|f| (f.line, f.column));
    out
}
