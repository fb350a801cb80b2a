//! From a response to a result: records by JSONPath, meta from the body, `Link` or headers,
//! record filters, field trimming and truncation of long text.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::http::HttpResponse;
use crate::spec::{MetaSource, Operation};

/// Text longer than this in list results is cut unless the caller asks for everything.
pub const TRUNCATE_CHARS: usize = 4000;

fn wrap(v: Value) -> Value {
    match v {
        Value::Object(_) | Value::Null => v,
        other => serde_json::json!({ "value": other }),
    }
}

/// The records (list, search) or the record (other actions) of a response body.
pub fn records(op: &Operation, body: &Value) -> Result<Value> {
    page(op, body).map(|(data, _)| data)
}

/// [`records`], and how many records the API sent before the record filter dropped any (for a
/// list; for other actions 1 when the body held the record, else 0). Offset pagination
/// advances by that count, and only a page the API sent empty ends a cursor's pages.
pub fn page(op: &Operation, body: &Value) -> Result<(Value, usize)> {
    let matched: Vec<Value> = match &op.record_extractor {
        Some(path) => path.query(body).all().into_iter().cloned().collect(),
        None => vec![body.clone()],
    };
    if op.returns_list() {
        let mut items: Vec<Value> = match matched.len() {
            0 => Vec::new(),
            1 => match matched.into_iter().next() {
                Some(Value::Array(a)) => a,
                Some(Value::Null) | None => Vec::new(),
                Some(other) => vec![other],
            },
            _ => matched,
        };
        items = items.into_iter().map(wrap).collect();
        let fetched = items.len();
        if let Some(filter) = &op.record_filter {
            let mut kept = Vec::with_capacity(items.len());
            for it in items {
                if filter.matches(&it)? {
                    kept.push(it);
                }
            }
            items = kept;
        }
        Ok((Value::Array(items), fetched))
    } else {
        let record = wrap(matched.into_iter().next().unwrap_or(Value::Null));
        let fetched = usize::from(!record.is_null());
        Ok((record, fetched))
    }
}

/// The meta values of a response.
pub fn meta(op: &Operation, resp: &HttpResponse, body: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for (name, src) in &op.meta {
        let v = match src {
            MetaSource::Path(p) => p.query(body).all().first().map(|v| (*v).clone()),
            MetaSource::Header(h) => resp.header(h).map(|s| Value::String(s.to_string())),
            MetaSource::Link(rel) => resp.header("link").and_then(|l| link_rel(l, rel)).map(Value::String),
        };
        out.insert(name.clone(), v.unwrap_or(Value::Null));
    }
    out
}

/// The URL of relation `rel` in a `Link` header (RFC 8288).
pub fn link_rel(header: &str, rel: &str) -> Option<String> {
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let url = url.strip_prefix('<')?.strip_suffix('>')?;
        for attr in pieces {
            let attr = attr.trim();
            if let Some(v) = attr.strip_prefix("rel=") {
                if v.trim_matches('"').split_whitespace().any(|r| r == rel) {
                    return Some(url.to_string());
                }
            }
        }
    }
    None
}

/// Keeps only the dot paths in `select` (when any), then removes those in `exclude`.
pub fn trim_fields(record: &mut Value, select: &[String], exclude: &[String]) {
    if !select.is_empty() {
        let paths: Vec<Vec<&str>> = select.iter().map(|s| s.split('.').collect()).collect();
        *record = keep(record, &paths);
    }
    for path in exclude {
        let parts: Vec<&str> = path.split('.').collect();
        remove(record, &parts);
    }
}

fn keep(v: &Value, paths: &[Vec<&str>]) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|x| keep(x, paths)).collect()),
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, x) in m {
                let sub: Vec<Vec<&str>> =
                    paths.iter().filter(|p| p.first() == Some(&k.as_str())).map(|p| p[1..].to_vec()).collect();
                if sub.is_empty() {
                    continue;
                }
                if sub.iter().any(|p| p.is_empty()) {
                    out.insert(k.clone(), x.clone());
                } else {
                    out.insert(k.clone(), keep(x, &sub));
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn remove(v: &mut Value, path: &[&str]) {
    match v {
        Value::Array(items) => items.iter_mut().for_each(|x| remove(x, path)),
        Value::Object(m) => match path {
            [] => {}
            [last] => {
                m.remove(*last);
            }
            [first, rest @ ..] => {
                if let Some(x) = m.get_mut(*first) {
                    remove(x, rest);
                }
            }
        },
        _ => {}
    }
}

/// Cuts strings longer than `max` chars, saying how much was cut. Returns whether any was.
pub fn truncate_strings(v: &mut Value, max: usize) -> bool {
    match v {
        Value::String(s) => {
            let count = s.chars().count();
            if count > max {
                let cut: String = s.chars().take(max).collect();
                *s = format!(
                    "{cut}... [truncated {} more characters; pass skip_truncation to get everything]",
                    count - max
                );
                true
            } else {
                false
            }
        }
        Value::Array(a) => a.iter_mut().fold(false, |acc, x| truncate_strings(x, max) | acc),
        Value::Object(m) => m.values_mut().fold(false, |acc, x| truncate_strings(x, max) | acc),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const FILTERED: &str = r#"
openapi: 3.1.0
info: {title: F, version: "1", x-connector-name: f, x-connector-definition-id: 00000000-0000-0000-0000-000000000003}
servers: [{url: "https://api.example.com"}]
components:
  securitySchemes:
    pat: {type: http, scheme: bearer}
paths:
  /repos:
    get:
      x-entity: repos
      x-action: list
      x-record-extractor: $.items
      x-record-filter: "{{ not record.private }}"
      responses: {"200": {description: ok}}
"#;

    #[test]
    fn record_filters_compile_once_per_spec_not_per_record() {
        use crate::template::FILTER_COMPILES;
        let compiles = || FILTER_COMPILES.with(|n| n.get());
        let before = compiles();
        let spec = crate::spec::parse_spec("f.yaml", FILTERED).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(compiles() - before, 1, "the filter compiles once, when the spec is loaded");
        let op = spec.operation("repos", "list").unwrap_or_else(|| panic!("no repos.list"));
        assert_eq!(op.record_filter.as_ref().map(|f| f.source()), Some("not record.private"));

        let loaded = compiles();
        let items: Vec<Value> = (0..500).map(|i| json!({"id": i, "private": i % 2 == 1})).collect();
        let body = json!({ "items": items });
        for _ in 0..3 {
            let data = records(op, &body).unwrap_or_else(|e| panic!("{e}"));
            let kept = data.as_array().map_or(0, Vec::len);
            assert_eq!(kept, 250);
            assert!(data.as_array().into_iter().flatten().all(|r| r["private"] == json!(false)));
        }
        assert_eq!(compiles(), loaded, "filtering 3 x 500 records compiled nothing");
    }

    #[test]
    fn link_header_relations() {
        let h = r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#;
        assert_eq!(link_rel(h, "next").as_deref(), Some("https://api.github.com/x?page=2"));
        assert_eq!(link_rel(h, "last").as_deref(), Some("https://api.github.com/x?page=5"));
        assert_eq!(link_rel(h, "prev"), None);
    }

    #[test]
    fn select_and_exclude_dot_paths() {
        let mut r =
            json!({"id": 1, "title": "t", "user": {"login": "u", "id": 9}, "labels": [{"name": "a", "color": "f"}]});
        trim_fields(&mut r, &["id".into(), "user.login".into(), "labels.name".into()], &[]);
        assert_eq!(r, json!({"id": 1, "user": {"login": "u"}, "labels": [{"name": "a"}]}));
        trim_fields(&mut r, &[], &["user.login".into()]);
        assert_eq!(r, json!({"id": 1, "user": {}, "labels": [{"name": "a"}]}));
    }

    #[test]
    fn truncation_says_what_it_cut() {
        let mut v = json!([{"body": "abcdef"}]);
        assert!(truncate_strings(&mut v, 3));
        let body = v[0]["body"].as_str().unwrap_or_default();
        assert!(body.starts_with("abc... [truncated 3 more characters"), "{body}");
    }
}
