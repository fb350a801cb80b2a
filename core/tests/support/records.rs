//! The record-schema check of `core/tests/cases.rs`, shared with `core/tests/every_operation.rs`:
//! every record a fake sends has the JSON types its operation's record schema declares.
//! (Moved here verbatim; `cases.rs` still has its own copy until it switches to this module.)

use serde_json::Value;
use switchboard_core::spec::Operation;

/// The JSON type names `v` has (`integer` values are `number`s too).
fn json_types(v: &Value) -> &'static [&'static str] {
    match v {
        Value::Null => &["null"],
        Value::Bool(_) => &["boolean"],
        Value::Number(n) if n.is_i64() || n.is_u64() => &["integer", "number"],
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => &["integer", "number"],
        Value::Number(_) => &["number"],
        Value::String(_) => &["string"],
        Value::Array(_) => &["array"],
        Value::Object(_) => &["object"],
    }
}

/// `value` has the JSON types `schema` declares: `type` (a name or a list, `"null"` for
/// nullable), `anyOf`/`oneOf` (one alternative fits), the declared `properties` of an object
/// (others are allowed, checked against an `additionalProperties` schema when there is one) and
/// the `items` of an array. Formats, enums and `required` are not checked: this is about types.
pub fn conforms(schema: &Value, value: &Value, at: &str, errs: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else { return };
    if let Some(t) = schema.get("type") {
        let declared: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !declared.is_empty() && !json_types(value).iter().any(|t| declared.contains(t)) {
            let shown = value.to_string();
            let shown = if shown.chars().count() > 80 {
                format!("{}...", shown.chars().take(80).collect::<String>())
            } else {
                shown
            };
            errs.push(format!("{at}: the schema says {t}, the record has {shown}"));
            return;
        }
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(alts) = schema.get(key).and_then(Value::as_array) {
            let fits = alts.iter().any(|alt| {
                let mut e = Vec::new();
                conforms(alt, value, at, &mut e);
                e.is_empty()
            });
            if !fits {
                errs.push(format!("{at}: fits none of the {key} alternatives: {value}"));
            }
        }
    }
    match value {
        Value::Object(fields) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, v) in fields {
                match props.and_then(|p| p.get(k)) {
                    Some(sub) => conforms(sub, v, &format!("{at}.{k}"), errs),
                    None => {
                        if let Some(extra) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                            conforms(extra, v, &format!("{at}.{k}"), errs);
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    conforms(item, v, &format!("{at}[{i}]"), errs);
                }
            }
        }
        _ => {}
    }
}

/// Every record of a result has the JSON types of the operation's record schema.
pub fn check_record_types(op: &Operation, data: &Value, errs: &mut Vec<String>) {
    let Some(schema) = op.record_schema() else {
        return; // operations without one are listed in `every_record_operation_has_a_record_schema`
    };
    match (op.returns_list(), data) {
        (true, Value::Array(records)) => {
            for (i, r) in records.iter().enumerate() {
                conforms(schema, r, &format!("data[{i}]"), errs);
            }
        }
        (_, Value::Null) => {}
        (_, record) => conforms(schema, record, "data", errs),
    }
}
