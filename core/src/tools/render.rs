//! The one renderer of params, shared by [`describe`](mod@super::describe) and the tool schemas:
//! which params a caller sees ([`visible_params`]) and how each is written
//! ([`ParamRenderer`]): as a `describe()` line, as a compact signature in the connector tool's
//! description, or as the JSON Schema of an operation tool's input. The few operation facts
//! shown next to params (what an operation returns, how to get the next page) live here too.

use std::fmt::Write as _;

use serde_json::{json, Map, Number, Value};

use crate::spec::{Operation, Pagination, Param, ParamLocation, ParamType};

/// Most enum values a param's signature shows.
const MAX_ENUM_VALUES_SHOWN: usize = 12;

/// Params a caller may pass (headers with defaults are the connector's business).
pub fn visible_params(op: &Operation) -> impl Iterator<Item = &Param> {
    op.params.iter().filter(|p| !(p.location == ParamLocation::Header && p.default.is_some()))
}

/// Writes one param in each of the forms it is shown in. Every place that shows a param to a
/// person or a model goes through here.
#[derive(Debug, Clone, Copy)]
pub struct ParamRenderer<'a>(pub &'a Param);

impl ParamRenderer<'_> {
    /// The `describe()` line: `per_page: integer, default 30, 1..100 - Results per page.`
    /// (`array of string` for typed arrays; `, required` when the caller must give it).
    pub fn line(self) -> String {
        let p = self.0;
        let ty = declared_type(p, |items| format!("array of {items}")).unwrap_or_else(|| "any".into());
        let mut s = format!("{}: {ty}", p.name);
        if p.is_required_from_caller() {
            s.push_str(", required");
        }
        if let Some(e) = &p.enum_values {
            let vals: Vec<String> =
                e.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect();
            let _ = write!(s, ", one of [{}]", vals.join(", "));
        }
        if let Some(d) = &p.default {
            let _ = write!(s, ", default {d}");
        }
        s.push_str(&range_text(p.minimum, p.maximum, RangeStyle::Line));
        if let Some(d) = &p.description {
            let first = d.lines().next().unwrap_or_default();
            let _ = write!(s, " - {first}");
        }
        s
    }

    /// The compact signature in the connector tool's operation lines: `per_page?: integer
    /// 1..100 = 10`, `states?: [OPEN|CLOSED]` (`*` marks a param the caller must give).
    pub fn signature(self) -> String {
        let p = self.0;
        let marker = if p.is_required_from_caller() { '*' } else { '?' };
        let mut s = format!("{}{marker}: {}", p.name, compact_type(p));
        if let Some(d) = &p.default {
            let _ = write!(s, " = {}", value_text(d));
        }
        s
    }

    /// The param's JSON Schema for a tool: its spec schema without vendor extensions, plus what
    /// the parsed param knows that the schema does not say (e.g. a description on the parameter).
    pub fn json_schema(self) -> Value {
        let p = self.0;
        let mut s = match clean_schema(&p.schema) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let typed = ["type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref"].iter().any(|k| s.contains_key(*k));
        if let (false, Some(t)) = (typed, p.ty) {
            s.insert("type".into(), json!(t.as_str()));
            if let (ParamType::Array, Some(it), false) = (t, p.items, s.contains_key("items")) {
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
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The doc-comment form, for typed SDK methods (the codegen model): one line of the param's
/// JSON Schema as [`ParamRenderer::json_schema`] writes it: description, range, default.
pub fn param_doc(schema: &Value) -> String {
    let mut parts = Vec::new();
    let desc = one_line(schema.get("description").and_then(Value::as_str).unwrap_or_default());
    parts.push(desc.trim_end_matches('.').to_string());
    let (lo, hi) = (schema.get("minimum"), schema.get("maximum"));
    if lo.is_some() || hi.is_some() {
        let bound = |b: Option<&Value>| b.and_then(Value::as_f64).map(number_text).unwrap_or_default();
        parts.push(format!("{}..{}", bound(lo), bound(hi)));
    }
    if let Some(d) = schema.get("default") {
        parts.push(format!("default {}", serde_json::to_string(d).unwrap_or_default()));
    }
    let line = parts.into_iter().filter(|p| !p.is_empty()).collect::<Vec<_>>().join("; ");
    if line.is_empty() {
        "(no description)".to_string()
    } else {
        line
    }
}

/// What an operation's `data` is, in a word.
pub(super) fn returns(op: &Operation) -> Option<&'static str> {
    if op.returns_list() {
        return Some("list");
    }
    matches!(op.action.as_str(), "get" | "create" | "update").then_some("record")
}

/// `next page: pass meta.end_cursor as after`, when the pagination says where the cursor is.
pub(super) fn next_page_hint(pg: &Pagination) -> Option<String> {
    let from = pg
        .meta
        .as_ref()
        .map(|m| format!("meta.{m}"))
        .or_else(|| pg.from_last_record.as_ref().map(|f| format!("the last record's {f}")))?;
    Some(format!("next page: pass {from} as {}", pg.param))
}

/// The type the parsed param declares (not its full schema): `string`, or `array_of(items)`
/// for an array with typed items; `None` when it declares none.
fn declared_type(p: &Param, array_of: impl Fn(&str) -> String) -> Option<String> {
    match (p.ty, p.items) {
        (Some(ParamType::Array), Some(it)) => Some(array_of(it.as_str())),
        (Some(t), _) => Some(t.as_str().to_string()),
        (None, _) => None,
    }
}

/// The compact type of a param, from its schema (falling back to the parsed fields).
fn compact_type(p: &Param) -> String {
    if p.schema.as_object().is_some_and(|m| !m.is_empty()) {
        return schema_type(&p.schema, 0);
    }
    if let Some(e) = &p.enum_values {
        return enum_text(e);
    }
    let typed_array = matches!((p.ty, p.items), (Some(ParamType::Array), Some(_)));
    match declared_type(p, |items| format!("[{items}]")) {
        Some(t) if typed_array => t,
        Some(t) => format!("{t}{}", range_text(p.minimum, p.maximum, RangeStyle::Compact)),
        None => "any".into(),
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
            let (min, max) = (s.get("minimum").and_then(Value::as_f64), s.get("maximum").and_then(Value::as_f64));
            format!("{t}{}", range_text(min, max, RangeStyle::Compact))
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

/// How a range is written after a type.
#[derive(Clone, Copy)]
enum RangeStyle {
    /// `, 1..100`, `, >= 1`, `, <= 100` (describe lines).
    Line,
    /// ` 1..100`, ` >=1`, ` <=100` (signatures).
    Compact,
}

/// A param's allowed range, or nothing when it has none.
fn range_text(min: Option<f64>, max: Option<f64>, style: RangeStyle) -> String {
    let (lead, at_least, at_most) = match style {
        RangeStyle::Line => (", ", ">= ", "<= "),
        RangeStyle::Compact => (" ", ">=", "<="),
    };
    match (min, max) {
        (Some(a), Some(b)) => format!("{lead}{}..{}", number_text(a), number_text(b)),
        (Some(a), None) => format!("{lead}{at_least}{}", number_text(a)),
        (None, Some(b)) => format!("{lead}{at_most}{}", number_text(b)),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn param(schema: Value) -> Param {
        Param {
            name: "per_page".into(),
            location: ParamLocation::Query,
            required: false,
            ty: Some(ParamType::Integer),
            items: None,
            enum_values: None,
            default: Some(json!(30)),
            minimum: Some(1.0),
            maximum: Some(100.0),
            description: Some("Results per page.\nMore text.".into()),
            schema,
            deep_object: false,
            no_explode: false,
            form_repeat: false,
            allow_reserved: false,
            aliases: Vec::new(),
            body_root: false,
        }
    }

    #[test]
    fn one_param_in_every_form() {
        let schema = json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 30, "x-vendor": 1});
        let r = ParamRenderer(&param(schema));
        assert_eq!(r.line(), "per_page: integer, default 30, 1..100 - Results per page.");
        assert_eq!(r.signature(), "per_page?: integer 1..100 = 30");
        assert_eq!(
            r.json_schema(),
            json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 30,
                   "description": "Results per page.\nMore text."})
        );
        // Without a schema, the signature falls back to the parsed fields, as the line does.
        let bare = param(json!({}));
        assert_eq!(ParamRenderer(&bare).signature(), "per_page?: integer 1..100 = 30");
        let mut arr = param(json!({}));
        (arr.ty, arr.items, arr.minimum, arr.maximum, arr.default) =
            (Some(ParamType::Array), Some(ParamType::String), None, Some(3.0), None);
        assert_eq!(ParamRenderer(&arr).line(), "per_page: array of string, <= 3 - Results per page.");
        assert_eq!(ParamRenderer(&arr).signature(), "per_page?: [string]");
    }
}
