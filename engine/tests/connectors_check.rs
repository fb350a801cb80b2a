//! `switchboard connectors check` as a user runs it: the shipped specs pass, and each kind of
//! fault is reported at its exact line and JSON pointer, with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn switchboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env_remove("SWITCHBOARD_SPECS");
    c
}

/// A good spec in block style, with a flow-style operation and a flow-style scheme.
const GOOD: &str = r##"openapi: 3.1.0
info:
  title: Widgets API
  version: 1.0.0
  x-connector-name: widgets
  x-connector-definition-id: 6a9b6a7e-8c2f-4a57-9c33-0f0d2b1e9a11
servers:
  - url: https://api.widgets.example
paths:
  /widgets:
    get:
      x-entity: widgets
      x-action: list
      parameters:
        - {name: cursor, in: query, schema: {type: string}}
      x-meta-extractor: {next_cursor: $.next_cursor}
      x-pagination: {param: cursor, meta: next_cursor}
      x-record-extractor: $.data
      responses:
        "200":
          description: Widgets.
          content:
            application/json:
              schema:
                type: object
                properties:
                  data: {type: array, items: {$ref: "#/components/schemas/Widget"}}
                  next_cursor: {type: [string, "null"]}
  /widgets/{id}: {get: {x-entity: widgets, x-action: get, parameters: [{name: id, in: path, required: true, schema: {type: string}}], responses: {"200": {description: One widget., content: {application/json: {schema: {$ref: "#/components/schemas/Widget"}}}}}}}
components:
  securitySchemes:
    token: {type: http, scheme: bearer}
  schemas:
    Widget:
      type: object
      properties:
        id: {type: string}
        name: {type: string}
"##;

fn temp(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("switchboard-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let f = dir.join(name);
    std::fs::write(&f, text).unwrap_or_else(|e| panic!("{e}"));
    f
}

/// 1-based line of the first line containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("{needle:?} not in the text")) + 1
}

fn replace(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "{from:?} not in the text");
    text.replacen(from, to, 1)
}

/// Runs `check --json` on files; exit success and the reports.
fn check(files: &[&Path]) -> (bool, Vec<Value>) {
    let o =
        switchboard().args(["connectors", "check", "--json"]).args(files).output().unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    let reports: Vec<Value> = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout}\nstderr: {}", String::from_utf8_lossy(&o.stderr)));
    (o.status.success(), reports)
}

/// The one error of a bad spec: (line, column, pointer, message).
fn error_of(name: &str, text: &str) -> (usize, usize, String, String) {
    let f = temp(name, text);
    let (ok, reports) = check(&[&f]);
    assert!(!ok, "{name}: check must fail: {reports:?}");
    assert_eq!(reports[0]["ok"], false);
    let errors = reports[0]["errors"].as_array().cloned().unwrap_or_default();
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    (
        e["line"].as_u64().unwrap_or(0) as usize,
        e["column"].as_u64().unwrap_or(0) as usize,
        e["pointer"].as_str().unwrap_or_default().to_string(),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn the_shipped_specs_pass() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "{files:?}");
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let (ok, reports) = check(&refs);
    assert!(ok, "{reports:#?}");
    for r in &reports {
        assert_eq!(r["ok"], true, "{r}");
        assert!(r["errors"].as_array().is_some_and(Vec::is_empty), "{r}");
        assert!(r["operations"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    let slugs: Vec<&str> = reports.iter().filter_map(|r| r["slug"].as_str()).collect();
    for s in ["github", "gong", "hubspot", "linear", "stripe"] {
        assert!(slugs.contains(&s), "{slugs:?}");
    }
    // No key without a value anywhere: in our specs one is always a mistake, most often a
    // description cut at an unquoted comma inside `{...}` (the check warns of those).
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{e}"));
        let doc: Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let mut nulls = Vec::new();
        null_keys(&doc, String::new(), &mut nulls);
        assert!(nulls.is_empty(), "{}: keys without a value (quote the text before them): {nulls:?}", f.display());
    }
}

fn null_keys(v: &Value, pointer: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            if c.is_null() {
                out.push(format!("{pointer}/{k}"));
            }
            null_keys(c, format!("{pointer}/{k}"), out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| null_keys(c, format!("{pointer}/{i}"), out)),
        _ => {}
    }
}

#[test]
fn a_description_cut_at_an_unquoted_comma_is_a_warning_at_its_line() {
    let text = replace(
        GOOD,
        "        name: {type: string}\n",
        "        name: {type: string, description: The name, as shown.}\n",
    );
    let f = temp("cut.yaml", &text);
    let (ok, reports) = check(&[&f]);
    assert!(ok, "{reports:?}");
    let warnings = reports[0]["warnings"].as_array().cloned().unwrap_or_default();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0]["pointer"], "/components/schemas/Widget/properties/name/as shown.");
    assert_eq!(warnings[0]["line"].as_u64(), Some(line_of(&text, "as shown.") as u64));
    assert!(
        warnings[0]["message"].as_str().is_some_and(|m| m.contains("`as shown.` is a key without a value")),
        "{warnings:?}"
    );
    // Quoted, the text is whole and nothing is said.
    let quoted = replace(&text, "description: The name, as shown.}", "description: \"The name, as shown.\"}");
    let f = temp("quoted.yaml", &quoted);
    let (_, reports) = check(&[&f]);
    assert_eq!(reports[0]["warnings"], Value::Array(vec![]), "{}", reports[0]);
}

#[test]
fn a_good_spec_passes_without_warnings_and_says_so_in_text() {
    let f = temp("good.yaml", GOOD);
    let (ok, reports) = check(&[&f]);
    assert!(ok);
    assert_eq!(reports[0]["slug"], "widgets");
    assert_eq!(reports[0]["operations"], 2);
    assert_eq!(reports[0]["warnings"], Value::Array(vec![]), "{}", reports[0]);
    let o = switchboard().args(["connectors", "check"]).arg(&f).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("{}: ok: connector widgets, 2 operations, 0 warnings\n", f.display())
    );
}

#[test]
fn invalid_yaml_is_placed_by_the_parser() {
    let text = replace(GOOD, "  version: 1.0.0\n", "  version: 1.0.0\n   bad: indent\n");
    let (line, _, pointer, message) = error_of("yaml.yaml", &text);
    assert_eq!(line, line_of(&text, "bad: indent"), "{message}");
    assert_eq!(pointer, "");
    assert!(message.starts_with("not valid YAML"), "{message}");
}

#[test]
fn an_unknown_action_is_placed_at_its_key_in_block_style() {
    let text = replace(GOOD, "x-action: list", "x-action: fetch");
    let (line, column, pointer, message) = error_of("action.yaml", &text);
    assert_eq!((line, column), (line_of(&text, "x-action: fetch"), 7));
    assert_eq!(pointer, "/paths/~1widgets/get/x-action");
    assert!(message.contains("unknown action \"fetch\""), "{message}");
}

#[test]
fn a_fault_inside_a_flow_mapping_is_placed_at_its_key() {
    let text = replace(GOOD, "x-entity: widgets, x-action: get", "x-entity: widgets, x-action: got");
    let (line, column, pointer, _) = error_of("flow.yaml", &text);
    let l = line_of(&text, "x-action: got");
    assert_eq!(line, l);
    assert_eq!(column, text.lines().nth(l - 1).and_then(|s| s.find("x-action: got")).unwrap_or(0) + 1);
    assert_eq!(pointer, "/paths/~1widgets~1{id}/get/x-action");
}

#[test]
fn a_missing_field_is_placed_at_its_parent() {
    let text = replace(GOOD, "  x-connector-name: widgets\n", "");
    let (line, _, pointer, message) = error_of("missing.yaml", &text);
    assert_eq!(line, line_of(&text, "info:"));
    assert_eq!(pointer, "/info/x-connector-name");
    assert!(message.contains("missing") && message.contains("nearest enclosing field"), "{message}");
}

#[test]
fn an_invalid_jsonpath_is_placed() {
    let text = replace(GOOD, "x-record-extractor: $.data", "x-record-extractor: \"$.data[\"");
    let (line, _, pointer, message) = error_of("jsonpath.yaml", &text);
    assert_eq!(line, line_of(&text, "x-record-extractor"));
    assert_eq!(pointer, "/paths/~1widgets/get/x-record-extractor");
    assert!(message.contains("invalid JSONPath"), "{message}");
}

#[test]
fn a_pagination_param_that_is_not_a_param_is_placed_in_a_flow_mapping() {
    let text = replace(GOOD, "x-pagination: {param: cursor,", "x-pagination: {param: after,");
    let (line, column, pointer, message) = error_of("pagination.yaml", &text);
    let l = line_of(&text, "x-pagination");
    assert_eq!((line, column), (l, text.lines().nth(l - 1).and_then(|s| s.find("param: after")).unwrap_or(0) + 1));
    assert_eq!(pointer, "/paths/~1widgets/get/x-pagination/param");
    assert!(message.contains("\"after\""), "{message}");
}

#[test]
fn an_unsupported_scheme_a_dangling_ref_and_an_undeclared_path_param_are_placed() {
    let text = replace(GOOD, "token: {type: http, scheme: bearer}", "token: {type: http, scheme: digest}");
    let (line, _, pointer, _) = error_of("scheme.yaml", &text);
    assert_eq!(
        (line, pointer.as_str()),
        (line_of(&text, "scheme: digest"), "/components/securitySchemes/token/scheme")
    );

    let text = replace(
        GOOD,
        "items: {$ref: \"#/components/schemas/Widget\"}",
        "items: {$ref: \"#/components/schemas/Gadget\"}",
    );
    let (line, _, pointer, message) = error_of("ref.yaml", &text);
    assert!(message.contains("points at nothing"), "{message}");
    assert_eq!(line, line_of(&text, "Gadget"), "{pointer}: {message}");

    let text = replace(GOOD, "  /widgets:\n", "  /widgets/{shop}:\n");
    let (line, column, pointer, message) = error_of("pathparam.yaml", &text);
    assert_eq!(pointer, "/paths/~1widgets~1{shop}/get");
    assert_eq!((line, column), (line_of(&text, "/widgets/{shop}:") + 1, 5), "{message}");
}

#[test]
fn json_specs_are_placed_too() {
    let doc: Value = serde_norway::from_str(GOOD).unwrap_or_else(|e| panic!("{e}"));
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text = replace(&text, "\"x-action\": \"list\"", "\"x-action\": \"lists\"");
    let (line, column, pointer, _) = error_of("spec.json", &text);
    assert_eq!(pointer, "/paths/~1widgets/get/x-action");
    assert_eq!((line, column), (line_of(&text, "\"lists\""), 9));
}

#[test]
fn warnings_do_not_fail_and_are_placed() {
    // The same entity and action twice, and a get without a response schema.
    let text = replace(
        GOOD,
        "components:\n",
        "  /things/{id}:\n    get:\n      x-entity: widgets\n      x-action: get\n      parameters: [{name: id, in: path, required: true, schema: {type: string}}]\n      responses: {\"204\": {description: none}}\ncomponents:\n",
    );
    let f = temp("warn.yaml", &text);
    let (ok, reports) = check(&[&f]);
    assert!(ok, "{reports:?}");
    let warnings = reports[0]["warnings"].as_array().cloned().unwrap_or_default();
    let find = |needle: &str| {
        warnings
            .iter()
            .find(|w| w["message"].as_str().is_some_and(|m| m.contains(needle)))
            .unwrap_or_else(|| panic!("no warning with {needle:?}: {warnings:?}"))
            .clone()
    };
    let twice = find("is defined again at /paths/~1things~1{id}/get");
    assert_eq!(twice["pointer"], "/paths/~1widgets~1{id}/get");
    assert_eq!(twice["line"].as_u64(), Some(line_of(&text, "/widgets/{id}:") as u64));
    let schema = find("declares no JSON response schema");
    assert_eq!(schema["pointer"], "/paths/~1things~1{id}/get");
    assert_eq!(schema["line"].as_u64(), Some(line_of(&text, "/things/{id}:") as u64 + 1));
    // Text output: compiler-style lines.
    let o = switchboard().args(["connectors", "check"]).arg(&f).output().unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success());
    let first = format!("{}:{}:", f.display(), line_of(&text, "/widgets/{id}:"));
    assert!(
        stdout.lines().any(|l| l.starts_with(&first) && l.contains(": warning: /paths/~1widgets~1{id}/get: ")),
        "{stdout}"
    );
}

#[test]
fn an_imported_draft_lists_its_review_notes_as_warnings() {
    let pet = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/openapi/petstore-3.0.yaml");
    // An existing --out (a draft someone may have edited) is kept unless --force.
    let out = temp("draft.yaml", "edited: true\n");
    let import = |force: bool| {
        let mut cmd = switchboard();
        cmd.args(["connectors", "import", "--out"]).arg(&out).arg(&pet);
        if force {
            cmd.arg("--force");
        }
        cmd.output().unwrap_or_else(|e| panic!("{e}"))
    };
    let refused = import(false);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("already exists: pass --force"), "{stderr}");
    assert!(stderr.contains(r#""code":"conflict""#), "{stderr}");
    assert_eq!(std::fs::read_to_string(&out).unwrap_or_default(), "edited: true\n");
    let o = import(true);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (ok, reports) = check(&[&out]);
    assert!(ok, "{reports:?}");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let warnings = reports[0]["warnings"].as_array().cloned().unwrap_or_default();
    // The document's own note (under info) is listed too, at its line.
    let doc_note = warnings
        .iter()
        .find(|w| w["message"].as_str().is_some_and(|m| m.starts_with("draft, to review: x-connector-definition-id")))
        .unwrap_or_else(|| panic!("{warnings:?}"));
    assert_eq!(doc_note["pointer"], "/info/x-review");
    assert_eq!(doc_note["line"].as_u64(), Some(line_of(&text, "x-review:") as u64));
    let note = warnings
        .iter()
        .find(|w| w["message"].as_str().is_some_and(|m| m.starts_with("draft, to review: pagination guessed")))
        .unwrap_or_else(|| panic!("{warnings:?}"));
    assert_eq!(note["pointer"], "/paths/~1pets/get/x-review");
    // The note's key is the first `x-review:` under /pets get (the info one comes first).
    let pets_get = line_of(&text, "  /pets:");
    let x_review = text
        .lines()
        .enumerate()
        .skip(pets_get)
        .find(|(_, l)| l.trim_start().starts_with("x-review:"))
        .map(|(i, _)| i + 1);
    assert_eq!(note["line"].as_u64(), x_review.map(|l| l as u64));
}
