//! Tests of the tool schemas: names, formats, descriptions and input schemas.

use std::collections::HashSet;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::operation_tools::operation_tool_names;
use super::text::sanitize_name;
use super::*;
use crate::spec::{parse_spec, ConnectorSpec};
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
                assert_eq!((name, description, schema), schema_of(reference, ToolFormat::OpenAi), "{format} differs");
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
