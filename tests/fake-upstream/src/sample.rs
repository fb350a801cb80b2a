//! Sample params for any operation, from its schemas: what the tests that run every operation
//! of every connector (core's every-operation, injection and leak tests, the engine's leak and
//! secrets scans) send when a call needs params.

use serde_json::{json, Map, Value};
use switchboard_core::spec::Operation;

/// A value for a param schema: its example, default or first enum value, else one of its type.
pub fn sample(schema: &Value, name: &str, depth: usize) -> Value {
    if let Some(v) = schema.get("example").or_else(|| schema.get("examples").and_then(|e| e.get(0))) {
        return v.clone();
    }
    if let Some(v) = schema.get("default").or_else(|| schema.get("const")) {
        return v.clone();
    }
    if let Some(v) = schema.get("enum").and_then(Value::as_array).and_then(|e| e.iter().find(|v| !v.is_null())) {
        return v.clone();
    }
    if let Some(alt) = schema.get("anyOf").or_else(|| schema.get("oneOf")).and_then(|a| a.get(0)) {
        return sample(alt, name, depth + 1);
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("string"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "integer" => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1).max(1)),
        "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0).max(1.0)),
        "boolean" => json!(true),
        "array" if depth < 4 => json!([sample(schema.get("items").unwrap_or(&json!({})), name, depth + 1)]),
        "array" => json!([]),
        "object" => {
            let mut out = Map::new();
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props.iter().filter(|(k, _)| required.contains(&k.as_str())) {
                    if depth < 4 {
                        out.insert(k.clone(), sample(v, k, depth + 1));
                    }
                }
            }
            Value::Object(out)
        }
        _ => json!(match schema.get("format").and_then(Value::as_str).unwrap_or("") {
            "date-time" => "2024-01-01T00:00:00Z".to_string(),
            "date" => "2024-01-01".to_string(),
            "email" => "user@example.com".to_string(),
            "uri" | "url" => "https://example.com/x".to_string(),
            "uuid" => "00000000-0000-4000-8000-000000000001".to_string(),
            _ => format!("{name}-1"),
        }),
    }
}

/// Every param a caller must give, each with [`sample`]'s value.
pub fn required_params(op: &Operation) -> Value {
    let required = op.params.iter().filter(|p| p.is_required_from_caller());
    Value::Object(required.map(|p| (p.name.clone(), sample(&p.schema, &p.name, 0))).collect())
}
