//! Outcomes, what a runner answers for one call, and the expectations they are checked against.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::format::{Expect, ExpectError, Shape};
use super::plan::Vars;

/// A runner's answer to one call: exactly one of `{"value": ...}`, `{"error": {...}}`,
/// `{"fail": "..."}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Outcome {
    /// The call succeeded; its value as the README's method table says.
    Value(Value),
    /// The call raised the SDK's typed error.
    Error(ErrorOutcome),
    /// The runner could not make the call (a bug of the runner or an untyped exception): the
    /// scenario fails whatever it expects.
    Fail(String),
}

/// A typed error as a runner reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorOutcome {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The language's exception class (e.g. `UpstreamAuthenticationError`), shown in messages.
    #[serde(default, rename = "class", skip_serializing_if = "Option::is_none")]
    pub class: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Value>,
}

impl ErrorOutcome {
    fn describe(&self) -> String {
        let class = self.class.as_ref().map(|c| format!(" ({c})")).unwrap_or_default();
        format!("{} (status {:?}){class}: {}", self.code, self.status_code, self.message)
    }
}

/// `expected` is a subset of `actual`: objects by keys, arrays of the same length element-wise,
/// numbers by value, other scalars equal (the semantics of `core/tests/cases.rs`).
pub fn subset(expected: &Value, actual: &Value, at: &str, errs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => subset(ev, av, &format!("{at}.{k}"), errs),
                    None => errs.push(format!("{at}.{k}: missing (expected {})", short(ev))),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errs.push(format!("{at}: expected {} items, got {}: {}", e.len(), a.len(), short(actual)));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{at}[{i}]"), errs);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => errs.push(format!("{at}: expected {}, got {}", short(e), short(a))),
    }
}

/// `a` equals `b`, numbers by value.
pub fn equal(a: &Value, b: &Value) -> bool {
    let mut errs = Vec::new();
    subset(a, b, "", &mut errs);
    subset(b, a, "", &mut errs);
    errs.is_empty()
}

/// The value at a dot path of `v`.
fn lookup<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(v, |cur, key| cur.get(key))
}

/// A value shortened for a message.
pub fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(300) {
        Some((i, _)) => format!("{}...", &s[..i]),
        None => s,
    }
}

/// What differs between `got` and what `exp` asks of a method with values of `shape`; empty
/// when the step passed.
pub fn check(exp: &Expect, shape: Shape, got: &Outcome, vars: &Vars) -> Vec<String> {
    let mut errs = Vec::new();
    match (&exp.error, got) {
        (_, Outcome::Fail(f)) => errs.push(format!("the runner could not make the call: {f}")),
        (Some(e), Outcome::Error(g)) => check_error(e, g, vars, &mut errs),
        (Some(e), Outcome::Value(v)) => {
            errs.push(format!("expected error {}, but the call succeeded: {}", e.code, short(v)))
        }
        (None, Outcome::Error(g)) => errs.push(format!("unexpected error {}", g.describe())),
        (None, Outcome::Value(v)) => {
            if let Err(e) = check_value(exp, shape, v, vars, &mut errs) {
                errs.push(e);
            }
        }
    }
    errs
}

fn check_error(exp: &ExpectError, got: &ErrorOutcome, vars: &Vars, errs: &mut Vec<String>) {
    if got.code != exp.code {
        errs.push(format!("expected error {}, got {}", exp.code, got.describe()));
        return;
    }
    let fill = |t: &str| vars.fill_str(t).unwrap_or_else(|e| format!("<{e}>"));
    if let Some(t) = exp.message_contains.as_deref().map(fill) {
        if !got.message.contains(&t) {
            errs.push(format!("error message should contain {t:?}: {}", got.message));
        }
    }
    for t in exp.message_excludes.iter().map(|t| fill(t)) {
        if got.message.contains(&t) {
            errs.push(format!("error message must not contain {t:?}: {}", got.message));
        }
    }
    if let Some(s) = exp.status_code.filter(|s| got.status_code != Some(*s)) {
        errs.push(format!("status_code: expected {s}, got {:?}", got.status_code));
    }
    if let Some(want) = exp.request_id {
        let has = got.request_id.as_deref().is_some_and(|r| !r.is_empty());
        if has != want {
            errs.push(format!("request_id: expected {}, got {:?}", if want { "one" } else { "none" }, got.request_id));
        }
    }
    if let Some(r) = exp.retry_after.filter(|r| got.retry_after != Some(*r)) {
        errs.push(format!("retry_after: expected {r}, got {:?}", got.retry_after));
    }
}

/// `{data, meta}` of an execute value.
fn exec_parts(v: &Value) -> Result<(&Value, Value), String> {
    let data = v.get("data").ok_or_else(|| format!("the value should be {{data, meta}}, got {}", short(v)))?;
    let meta = match v.get("meta") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(m) => m.clone(),
    };
    Ok((data, meta))
}

fn check_value(exp: &Expect, shape: Shape, v: &Value, vars: &Vars, errs: &mut Vec<String>) -> Result<(), String> {
    let fill = |v: &Option<Value>| v.as_ref().map(|v| vars.fill(v)).transpose();
    match shape {
        Shape::Exec => {
            let (data, meta) = exec_parts(v)?;
            if let Some(n) = exp.data_len {
                let len = data.as_array().map(Vec::len);
                if len != Some(n) {
                    errs.push(format!("data_len: expected {n}, got {len:?}"));
                }
            }
            if let Some(d) = fill(&exp.data)? {
                subset(&d, data, "data", errs);
            }
            if let Some(d) = fill(&exp.data_equals)?.filter(|d| !equal(d, data)) {
                errs.push(format!("data: expected exactly {}, got {}", short(&d), short(data)));
            }
            let records: Vec<&Value> = match data {
                Value::Array(a) => a.iter().collect(),
                other => vec![other],
            };
            for path in &exp.absent {
                for (i, rec) in records.iter().enumerate().filter(|(_, r)| lookup(r, path).is_some()) {
                    errs.push(format!("data record {i}: {path} should be absent: {}", short(rec)));
                }
            }
            if let Some(m) = fill(&exp.meta)? {
                subset(&m, &meta, "meta", errs);
            }
        }
        Shape::Pages => {
            let pages = v.as_array().ok_or_else(|| format!("the value should be a list of pages, got {}", short(v)))?;
            let mut all = Vec::new();
            let mut lengths = Vec::new();
            for p in pages {
                let (data, _) = exec_parts(p)?;
                let records = data.as_array().cloned().unwrap_or_default();
                lengths.push(records.len());
                all.extend(records);
            }
            if let Some(n) = exp.pages.filter(|n| *n != pages.len()) {
                errs.push(format!("pages: expected {n}, got {} (lengths {lengths:?})", pages.len()));
            }
            let total: usize = lengths.iter().sum();
            if let Some(n) = exp.total.filter(|n| *n != total) {
                errs.push(format!("total: expected {n} records, got {total} (lengths {lengths:?})"));
            }
            if let Some(l) = exp.page_lengths.as_ref().filter(|l| **l != lengths) {
                errs.push(format!("page_lengths: expected {l:?}, got {lengths:?}"));
            }
            if let Some(rec) = fill(&exp.records)? {
                subset(&rec, &Value::Array(all), "records", errs);
            }
        }
        Shape::Text => {
            let t = v.as_str().ok_or_else(|| format!("the value should be text, got {}", short(v)))?;
            for c in exp.contains.iter().filter(|c| !t.contains(c.as_str())) {
                errs.push(format!("the text should contain {c:?}"));
            }
        }
        Shape::Value => {
            if let Some(n) = exp.count {
                let len = v.as_array().map(Vec::len);
                if len != Some(n) {
                    errs.push(format!("count: expected {n}, got {len:?}: {}", short(v)));
                }
            }
            if let Some(e) = fill(&exp.value)? {
                subset(&e, v, "value", errs);
            }
        }
    }
    Ok(())
}
