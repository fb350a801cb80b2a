//! From a response to a result: records by JSONPath, meta from the body, `Link` or headers,
//! record filters, field trimming and truncation of long text.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::http::HttpResponse;
use crate::spec::{MetaSource, Operation};

/// A response body as JSON: the same value as `serde_json::from_slice` (the same numbers, key
/// order, duplicate keys, depth limit and errors), built for less. The text's UTF-8 is checked
/// once instead of string by string, and every object and array is made at its final size:
/// entries are gathered on a stack shared by the whole parse, so no map grows and rehashes
/// key by key (growing maps and their hashing were a fifth of a call's CPU).
pub fn parse_json(bytes: &[u8]) -> serde_json::Result<Value> {
    use serde::de::DeserializeSeed as _;
    // Not UTF-8: the reader that checks each string says where, as before.
    let Ok(text) = std::str::from_utf8(bytes) else { return serde_json::from_slice(bytes) };
    let mut de = serde_json::Deserializer::from_str(text);
    let (mut entries, mut items) = (Vec::new(), Vec::new());
    let value = Exact { entries: &mut entries, items: &mut items }.deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The key serde_json reads as a [`serde_json::value::RawValue`] inside a `Value` (its
/// `raw_value` feature is on in this workspace): an object whose first key it is stands for the
/// JSON text of its value, as `serde_json::from_slice` reads it.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

/// The string after [`RAW_VALUE_TOKEN`], read (and refused) as serde_json reads it.
struct RawText;

impl<'de> serde::de::DeserializeSeed<'de> for RawText {
    type Value = String;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<String, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RawText {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("raw value")
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<String, E> {
        Ok(v)
    }
}

/// Reads one JSON value, leaving the entries of the objects and the items of the arrays still
/// open on the shared stacks, and taking them off, in one allocation, when each closes.
struct Exact<'s> {
    entries: &'s mut Vec<(String, Value)>,
    items: &'s mut Vec<Value>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Exact<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Exact<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> std::result::Result<Value, E> {
        serde::Deserialize::deserialize(serde::de::value::I128Deserializer::<E>::new(v)).map(Value::Number)
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> std::result::Result<Value, E> {
        serde::Deserialize::deserialize(serde::de::value::U128Deserializer::<E>::new(v)).map(Value::Number)
    }

    fn visit_f64<E>(self, v: f64) -> std::result::Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_none<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }

    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let start = self.items.len();
        while let Some(v) = seq.next_element_seed(Exact { entries: &mut *self.entries, items: &mut *self.items })? {
            self.items.push(v);
        }
        Ok(Value::Array(self.items.drain(start..).collect()))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> std::result::Result<Value, A::Error> {
        read_object(map, self.entries, self.items, None)
    }
}

/// The path still to follow toward the records, and where to put them (see [`parse_split`]).
type Toward<'s, 'p> = (&'p [String], &'s mut Option<Vec<Box<RawValue>>>);

/// Reads an object, its entries left open on the shared stack and taken off, in one map, when
/// it closes. With `toward`, the value of the path's next key is read by [`Split`] (a later
/// value of the key replacing an earlier one's records as it replaces the value), every other
/// value by [`Exact`].
fn read_object<'de, A: serde::de::MapAccess<'de>>(
    mut map: A,
    entries: &mut Vec<(String, Value)>,
    items: &mut Vec<Value>,
    mut toward: Option<Toward<'_, '_>>,
) -> std::result::Result<Value, A::Error> {
    let Some(first) = map.next_key::<String>()? else { return Ok(Value::Object(Map::new())) };
    if first == RAW_VALUE_TOKEN {
        let raw = map.next_value_seed(RawText)?;
        return serde_json::from_str(&raw).map_err(serde::de::Error::custom);
    }
    let start = entries.len();
    let mut key = Some(first);
    while let Some(k) = key {
        let exact = Exact { entries: &mut *entries, items: &mut *items };
        let v = match &mut toward {
            Some((path, records)) if path.first() == Some(&k) => {
                **records = None;
                map.next_value_seed(Split { path: &path[1..], records, exact })?
            }
            _ => map.next_value_seed(exact)?,
        };
        entries.push((k, v));
        key = map.next_key::<String>()?;
    }
    let mut out = Map::with_capacity(entries.len() - start);
    // In order, a repeated key keeping its first place and its last value, as before.
    for (k, v) in entries.drain(start..) {
        out.insert(k, v);
    }
    Ok(Value::Object(out))
}

/// A response body parsed as [`parse_json`] parses it, except the array at `path` (object keys
/// from the root): its items are kept as their JSON text, and an empty array stands in the body
/// where they were. `None` for the records when `path` does not end at an array: the body is
/// then complete. When a key repeats, its last value counts, as in [`parse_json`]'s objects.
pub fn parse_split(bytes: &[u8], path: &[String]) -> serde_json::Result<(Value, Option<Vec<Box<RawValue>>>)> {
    use serde::de::DeserializeSeed as _;
    let Ok(text) = std::str::from_utf8(bytes) else { return Err(serde::de::Error::custom("the body is not UTF-8")) };
    let mut de = serde_json::Deserializer::from_str(text);
    let (mut entries, mut items, mut records) = (Vec::new(), Vec::new(), None);
    let value = Split { path, records: &mut records, exact: Exact { entries: &mut entries, items: &mut items } }
        .deserialize(&mut de)?;
    de.end()?;
    Ok((value, records))
}

/// Reads a value on the way to the records: an object's key on the path leads on; at the end
/// of the path an array's items are kept as text (and an empty array left in the body);
/// everything else is read by [`Exact`].
struct Split<'s, 'p> {
    path: &'p [String],
    records: &'s mut Option<Vec<Box<RawValue>>>,
    exact: Exact<'s>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Split<'_, '_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> std::result::Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Split<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> std::result::Result<Value, A::Error> {
        let Split { path, records, exact } = self;
        let toward = (!path.is_empty()).then_some((path, records));
        read_object(map, exact.entries, exact.items, toward)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        if !self.path.is_empty() {
            return self.exact.visit_seq(seq);
        }
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element::<Box<RawValue>>()? {
            out.push(item);
        }
        *self.records = Some(out);
        Ok(Value::Array(Vec::new()))
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> std::result::Result<Value, E> {
        self.exact.visit_bool(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> std::result::Result<Value, E> {
        self.exact.visit_i64(v)
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> std::result::Result<Value, E> {
        self.exact.visit_u64(v)
    }

    fn visit_i128<E: serde::de::Error>(self, v: i128) -> std::result::Result<Value, E> {
        self.exact.visit_i128(v)
    }

    fn visit_u128<E: serde::de::Error>(self, v: u128) -> std::result::Result<Value, E> {
        self.exact.visit_u128(v)
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        self.exact.visit_f64(v)
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> std::result::Result<Value, E> {
        self.exact.visit_str(v)
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> std::result::Result<Value, E> {
        self.exact.visit_string(v)
    }

    fn visit_unit<E: serde::de::Error>(self) -> std::result::Result<Value, E> {
        self.exact.visit_unit()
    }
}

/// Deepest nesting of a record passed through as text; a deeper one sends its page down the
/// parsing path, whose depth limit (128 levels from the body's root) then applies as before.
const RAW_DEPTH: usize = 64;

/// A page's records, as [`parse_split`] kept them, made into a list's records: an object or
/// `null` as it is, anything else as `{"value": ...}` (as [`take_page`] wraps it). `None` when
/// some record holds what the parsing path would refuse (a number out of `f64`'s range, a lone
/// surrogate escape, nesting past its depth limit): the page must then be parsed whole, so
/// that it fails as it always did.
pub fn pass_records(records: Vec<Box<RawValue>>) -> Option<Vec<Box<RawValue>>> {
    let mut out = Vec::with_capacity(records.len());
    for raw in records {
        let scan = scan(raw.get().as_bytes(), None);
        if scan.too_deep {
            return None;
        }
        // Exponents and `\uD8xx` escapes are rare: such a record is parsed to see that it can be.
        let parsed = if scan.check { Some(parse_json(raw.get().as_bytes()).ok()?) } else { None };
        let text = raw.get();
        if text.starts_with('{') || text == "null" {
            out.push(raw);
            continue;
        }
        let wrapped = match parsed {
            Some(v) => serde_json::value::to_raw_value(&wrap(v)).ok()?,
            None => RawValue::from_string(format!("{{\"value\":{text}}}")).ok()?,
        };
        out.push(wrapped);
    }
    Some(out)
}

/// A record from [`pass_records`] with its strings longer than `max` chars cut, as
/// [`truncate_strings`] cuts them; as it is (not even copied) when none is that long.
pub fn truncate_record(raw: Box<RawValue>, max: usize) -> serde_json::Result<Box<RawValue>> {
    // No string is longer than the whole text.
    if raw.get().len() <= max || !scan(raw.get().as_bytes(), Some(max)).long {
        return Ok(raw);
    }
    let mut v = parse_json(raw.get().as_bytes())?;
    truncate_strings(&mut v, max);
    serde_json::value::to_raw_value(&v)
}

/// What [`scan`] finds in a record's text.
#[derive(Debug, Default, PartialEq)]
struct Scan {
    /// A string (a key or a value) of more bytes than asked, as written. Its value has no more
    /// bytes than its text (an escape is never shorter than what it stands for) and no more
    /// chars than bytes: without such a string, no string has more chars than that.
    long: bool,
    /// A number with an exponent or a `\uD800`-`\uDFFF` escape: what a parse may refuse.
    check: bool,
    /// Nesting deeper than [`RAW_DEPTH`].
    too_deep: bool,
}

/// Reads valid JSON text once: the strings (their length and escapes, eight bytes at a time)
/// and the brackets and exponents between them. (Records are mostly short strings: calling
/// `memchr` once per string cost more than this loop.)
fn scan(text: &[u8], long_over: Option<usize>) -> Scan {
    let mut out = Scan::default();
    let mut depth = 0usize;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => {
                let start = i + 1;
                i = start;
                loop {
                    i += quote_or_backslash(text.get(i..).unwrap_or_default());
                    if text.get(i) != Some(&b'\\') {
                        break; // the closing quote (or the end of a text cut short)
                    }
                    if text.get(i + 1) == Some(&b'u')
                        && text.get(i + 2).is_some_and(|c| c.eq_ignore_ascii_case(&b'd'))
                        && text.get(i + 3).is_some_and(|c| matches!(c.to_ascii_lowercase(), b'8'..=b'9' | b'a'..=b'f'))
                    {
                        out.check = true;
                    }
                    i += 2;
                }
                out.long |= long_over.is_some_and(|max| i.min(text.len()) - start > max);
            }
            b'[' | b'{' => {
                depth += 1;
                out.too_deep |= depth > RAW_DEPTH;
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'e' | b'E' if i > 0 && text[i - 1].is_ascii_digit() => out.check = true,
            _ => {}
        }
        i += 1;
    }
    out
}

/// How many bytes of `s` come before its first quote or backslash (all of them when it has
/// neither), read eight at a time: the lowest byte that matches ends the step at once, with no
/// byte-by-byte walk to it.
fn quote_or_backslash(s: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each zero byte of `x`. A byte above a zero byte may be marked too (the
    // borrow runs up), never one below the lowest: the lowest mark is exact.
    let zeros = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut at = 0;
    while let Some(&word) = s.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(word);
        let marks = zeros(word ^ (ONES * u64::from(b'"'))) | zeros(word ^ (ONES * u64::from(b'\\')));
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = s.get(at..).unwrap_or_default();
    at + rest.iter().position(|&b| b == b'"' || b == b'\\').unwrap_or(rest.len())
}

/// Text longer than this in list results is cut unless the caller asks for everything.
pub const TRUNCATE_CHARS: usize = 4000;

/// A record as results hold it: an object or `null` as it is, anything else as `{"value": ...}`.
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
    shape(op, matched)
}

/// [`page`] of a body the caller no longer needs: the records are moved out of it instead of
/// copied (the same result; a page of records is most of a body, and copying it was a fifth of
/// a call's CPU).
pub fn take_page(op: &Operation, body: Value) -> Result<(Value, usize)> {
    let matched: Vec<Value> = match &op.record_extractor {
        Some(path) => take_matches(path, body),
        None => vec![body],
    };
    shape(op, matched)
}

/// One step of a matched node's location.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    Index(usize),
    Name(String),
}

/// The nodes `path` matches in `body`, in match order, moved out of it. When one match lies
/// inside another (`$..x` can match both a node and its descendant) or one node matches twice,
/// moving cannot give both, so those are copied as [`page`] does.
fn take_matches(path: &serde_json_path::JsonPath, mut body: Value) -> Vec<Value> {
    let located = path.query_located(&body);
    let steps: Vec<Vec<Step>> = located
        .iter()
        .map(|n| {
            n.location()
                .iter()
                .map(|e| match e {
                    serde_json_path::PathElement::Name(k) => Step::Name((*k).to_string()),
                    serde_json_path::PathElement::Index(i) => Step::Index(*i),
                })
                .collect()
        })
        .collect();
    if steps.len() > 1 {
        // In sorted order a location that is a prefix of another (or equal to it) is followed
        // by one it is a prefix of, so neighbours tell.
        let mut sorted: Vec<&Vec<Step>> = steps.iter().collect();
        sorted.sort_unstable();
        if sorted.windows(2).any(|w| w[1].starts_with(w[0])) {
            return located.nodes().cloned().collect();
        }
    }
    drop(located);
    steps.iter().map(|s| take_at(&mut body, s)).collect()
}

/// Moves the node at `steps` out of `v`, leaving `null` there.
fn take_at(v: &mut Value, steps: &[Step]) -> Value {
    let mut node = v;
    for step in steps {
        let next = match (step, node) {
            (Step::Name(k), Value::Object(m)) => m.get_mut(k.as_str()),
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            // Unreachable: every location was just read from this body and none lies inside
            // another, so no earlier move touched it.
            None => return Value::Null,
        }
    }
    std::mem::take(node)
}

/// The records or the record of the matched nodes, and how many the API sent.
fn shape(op: &Operation, matched: Vec<Value>) -> Result<(Value, usize)> {
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
        // No more bytes than `max` is no more chars: most strings are not even counted.
        Value::String(s) if s.len() <= max => false,
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

    /// JSON text from a seed: objects (with repeated keys), arrays, every kind of number,
    /// strings with escapes and non-ASCII, odd whitespace.
    fn json_text(rng: &mut u64, depth: u32, out: &mut String) {
        fn below(rng: &mut u64, n: u64) -> u64 {
            *rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (*rng >> 33) % n
        }
        let pick = if depth >= 4 { 2 + below(rng, 7) } else { below(rng, 9) };
        match pick {
            0 => {
                out.push('{');
                let n = below(rng, 6);
                for i in 0..n {
                    if i > 0 {
                        out.push(',');
                    }
                    // Few names, so keys repeat.
                    out.push_str(["\"a\"", "\"b\"", "\"c\\u00e9\"", "\"id\"", " \"d\" "][below(rng, 5) as usize]);
                    out.push(':');
                    let mut r = *rng ^ i;
                    json_text(&mut r, depth + 1, out);
                    *rng = rng.wrapping_add(r);
                }
                out.push('}');
            }
            1 => {
                out.push_str("[ ");
                for i in 0..below(rng, 5) {
                    if i > 0 {
                        out.push_str(" ,\n");
                    }
                    let mut r = *rng ^ (i + 7);
                    json_text(&mut r, depth + 1, out);
                    *rng = rng.wrapping_add(r);
                }
                out.push(']');
            }
            2 => out.push_str(
                [
                    "0",
                    "-0",
                    "-0.0",
                    "1e2",
                    "1.5E-3",
                    "18446744073709551615",
                    "-9223372036854775808",
                    "18446744073709551616",
                    "1e400",
                    "3.141592653589793238462643383",
                ][below(rng, 10) as usize],
            ),
            3 => out.push_str(
                ["\"\"", "\"plain\"", "\"esc \\\" \\\\ \\n \\u0041\"", "\"héllo ✓\"", "\"\\ud83d\\ude00\""]
                    [below(rng, 5) as usize],
            ),
            4 => out.push_str(["true", "false", "null"][below(rng, 3) as usize]),
            _ => out.push_str(&below(rng, 1_000_000).to_string()),
        }
    }

    /// `parse_json` gives exactly what `serde_json::from_slice` gives: equal values with the keys
    /// in the same order, and an error for the same texts, with the same message.
    #[test]
    fn parse_json_is_serde_jsons_parse() {
        let same = |bytes: &[u8]| {
            let ours = parse_json(bytes);
            let theirs = serde_json::from_slice::<Value>(bytes);
            match (ours, theirs) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(a, b, "{:?}", String::from_utf8_lossy(bytes));
                    assert_eq!(a.to_string(), b.to_string(), "key order, for {:?}", String::from_utf8_lossy(bytes));
                    true
                }
                (Err(a), Err(b)) => {
                    assert_eq!(a.to_string(), b.to_string());
                    false
                }
                (a, b) => panic!("{:?}: ours {a:?}, serde_json {b:?}", String::from_utf8_lossy(bytes)),
            }
        };
        let fixed: &[&[u8]] = &[
            b"",
            b" ",
            b"{}",
            b"[]",
            b"{\"a\":1,\"b\":2,\"a\":3}",
            b"{\"$serde_json::private::RawValue\":\"[1, {\\\"x\\\": 2}]\"}",
            b"{\"$serde_json::private::RawValue\":5}",
            b"[1, 2,]",
            b"{\"a\" 1}",
            b"[1] x",
            b"\"\\ud800\"",
            b"[\"\xff\"]",
            b"\xef\xbb\xbf{}",
            b"{\"a\":[{\"b\":null}]}  \n",
        ];
        for text in fixed {
            same(text);
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(!same(deep.as_bytes()), "past the depth limit");
        let mut parsed = 0;
        let mut rng = 0x5eed_u64;
        for round in 0..3000u64 {
            let mut text = String::new();
            json_text(&mut rng, 0, &mut text);
            parsed += usize::from(same(text.as_bytes()));
            // The same text cut short, or with one byte changed: errors must agree too.
            let bytes = text.as_bytes();
            let at = (round as usize * 7919) % bytes.len().max(1);
            same(&bytes[..at]);
            let mut changed = bytes.to_vec();
            if let Some(b) = changed.get_mut(at) {
                *b = [b'"', b'}', b',', 0xc3, b'\\'][(round % 5) as usize];
            }
            same(&changed);
        }
        assert!(parsed > 2500, "the generator made mostly valid JSON ({parsed})");
    }

    /// `parse_split` with `pass_records` reads what `parse_json` reads: the records kept as text,
    /// parsed and put back where they were, make the body `parse_json` gives (keys in the same
    /// order, repeated keys, numbers). A text `parse_json` refuses is refused too, or its records
    /// send it down the parsing path (`pass_records` gives `None`).
    #[test]
    fn splitting_the_records_out_loses_nothing() {
        let paths: Vec<Vec<String>> = [&[][..], &["a"], &["b", "a"], &["id"], &["a", "b"], &["d"], &["c\u{e9}"]]
            .iter()
            .map(|p| p.iter().map(|k| k.to_string()).collect())
            .collect();
        let (mut kept, mut refused_by_records) = (0, 0);
        let mut check = |bytes: &[u8]| {
            let whole = parse_json(bytes);
            for path in &paths {
                let split = parse_split(bytes, path);
                let shown = String::from_utf8_lossy(bytes);
                let (mut body, records) = match (split, &whole) {
                    (Ok(split), _) => split,
                    (Err(_), Err(_)) => continue,
                    (Err(e), Ok(_)) => panic!("{shown:?} at {path:?}: parse_json reads it, parse_split says {e}"),
                };
                let Some(records) = records else {
                    match &whole {
                        Ok(whole) => assert_eq!(body.to_string(), whole.to_string(), "{shown:?} at {path:?}"),
                        Err(e) => panic!("{shown:?} at {path:?}: parse_json says {e}, parse_split reads it"),
                    }
                    continue;
                };
                let Some(records) = pass_records(records) else {
                    refused_by_records += 1;
                    continue;
                };
                let Ok(whole) = &whole else {
                    panic!("{shown:?} at {path:?}: parse_json refuses it, the records pass")
                };
                kept += 1;
                let mut slot = &mut body;
                for k in path {
                    slot = slot.get_mut(k.as_str()).unwrap_or_else(|| panic!("{shown:?}: no {k}"));
                }
                assert_eq!(*slot, json!([]), "{shown:?} at {path:?}");
                // Records are wrapped as take_page wraps them: compare with its records.
                let items: Vec<Value> =
                    records.iter().map(|r| parse_json(r.get().as_bytes()).unwrap_or_else(|e| panic!("{e}"))).collect();
                let mut expected = whole.clone();
                let mut at = &mut expected;
                for k in path {
                    at = at.get_mut(k.as_str()).unwrap_or_else(|| panic!("{shown:?}: no {k}"));
                }
                let Value::Array(originals) = std::mem::take(at) else { panic!("{shown:?} at {path:?}: not an array") };
                *at = Value::Array(originals.into_iter().map(wrap).collect());
                *slot = Value::Array(items);
                assert_eq!(body.to_string(), expected.to_string(), "{shown:?} at {path:?}");
            }
        };
        let deep = format!("{{\"a\": [{}{}]}}", "[".repeat(100), "]".repeat(100));
        let fixed: Vec<&[u8]> = vec![
            b"[]",
            b"[1, \"x\", null, {\"a\": 2}, [3]]",
            b"{\"a\": [1e400]}",
            b"{\"a\": [{\"x\": 1E400}], \"b\": 1}",
            b"{\"a\": [{\"x\": 1.5e2, \"t\": true, \"f\": false}]}",
            b"{\"a\": [\"\\ud800\"]}",
            b"{\"a\": [\"\\uD83D\\uDE00 \\ud83d\\ude00\"]}",
            b"{\"a\": [{\"k\\\"\": \"v\\\\\"}]}",
            b"{\"a\": [1], \"a\": 5}",
            b"{\"a\": 5, \"a\": [1, 2]}",
            b"{\"b\": {\"a\": [1]}, \"b\": {\"c\": 2}}",
            b"{\"a\": null}",
            b"{\"a\": {\"x\": 1}}",
            deep.as_bytes(),
        ];
        for text in fixed {
            check(text);
        }
        let mut rng = 0x5117_u64;
        for round in 0..3000u64 {
            let mut text = String::new();
            json_text(&mut rng, 0, &mut text);
            check(text.as_bytes());
            let bytes = text.as_bytes();
            let at = (round as usize * 7919) % bytes.len().max(1);
            check(&bytes[..at]);
            let mut changed = bytes.to_vec();
            if let Some(b) = changed.get_mut(at) {
                *b = [b'"', b'}', b',', 0xc3, b'\\'][(round % 5) as usize];
            }
            check(&changed);
        }
        assert!(kept > 300, "records were kept as text {kept} times");
        assert!(refused_by_records > 10, "records sent a page down the parsing path {refused_by_records} times");
    }

    /// A record passed as text is cut as its tree is: the same text after, and untouched when no
    /// string is long enough.
    #[test]
    fn records_as_text_are_cut_as_trees_are() {
        let records = [
            r#"{"a": "abcdef", "b": ["xyz", "abcd"], "abcdefgh": 1}"#,
            r#"{"a": "h\u00e9llo w\u00f6rld", "b": "\ud83d\ude00\ud83d\ude00\ud83d\ude00\ud83d\ude00"}"#,
            r#"{"a": "héllo wörld ✓✓✓", "q": "a\"b\\c\nd"}"#,
            r#"{"n": 12345678, "e": "", "t": true}"#,
            r#"null"#,
        ];
        for max in [0, 1, 3, 4, 5, 8, 12, 100] {
            for text in records {
                let raw = RawValue::from_string(text.to_string()).unwrap_or_else(|e| panic!("{e}"));
                let cut = truncate_record(raw, max).unwrap_or_else(|e| panic!("{e}"));
                let mut tree = parse_json(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
                let changed = truncate_strings(&mut tree, max);
                let got = parse_json(cut.get().as_bytes()).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(got.to_string(), tree.to_string(), "{text} at {max}");
                if !changed && max >= 4 {
                    // Nothing to cut and no escape longer than max: the text itself.
                    assert!(cut.get() == text || text.contains('\\'), "{text} at {max}: rewritten as {}", cut.get());
                }
            }
        }
        // Strings of every length with an escape at every place: the eight-byte steps end at
        // the right quote and see every escape.
        for len in 0..40 {
            for at in 0..=len {
                for esc in [r#"\""#, r"\\", r"\ud800", r"\u0041"] {
                    let inner = format!("{}{esc}{}", "x".repeat(at), "y".repeat(len - at));
                    let text = format!(r#"{{"k": "{inner}", "n": 1e5, "z": [1]}}"#);
                    let written = inner.len();
                    for max in [written - 1, written] {
                        let got = scan(text.as_bytes(), Some(max));
                        assert_eq!(got.long, written > max, "{text} at {max}");
                        assert!(got.check, "{text}: the exponent after it");
                    }
                    let surrogate = scan(format!(r#"["{inner}"]"#).as_bytes(), None).check;
                    assert_eq!(surrogate, esc == r"\ud800", "{inner}");
                }
            }
        }
        assert_eq!(scan(br#"{"a": "x\"y"}"#, Some(3)), Scan { long: true, check: false, too_deep: false });
        assert_eq!(scan(br#"{"a": "x\"y"}"#, Some(4)), Scan::default());
        assert_eq!(scan(br#"[1e5, "1e5"]"#, None), Scan { check: true, ..Scan::default() });
        assert_eq!(scan(br#"["1e5", true, false]"#, None), Scan::default());
    }

    /// Records pass through as text only where nothing else reads into them.
    #[test]
    fn records_pass_as_text_only_where_nothing_reads_into_them() {
        let plain = FILTERED.replace("      x-record-filter: \"{{ not record.private }}\"\n", "");
        let with = |extractor: &str, extra: &str, action: &str| -> Option<Vec<String>> {
            let text = plain
                .replace("x-record-extractor: $.items", &format!("x-record-extractor: \"{extractor}\"\n      {extra}"))
                .replace("x-action: list", &format!("x-action: {action}"));
            let spec = crate::spec::parse_spec("f.yaml", &text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            spec.operations.first().and_then(|op| op.raw_record_path().map(<[String]>::to_vec))
        };
        let keys = |k: &[&str]| Some(k.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(with("$.items", "", "list"), keys(&["items"]));
        assert_eq!(with("$", "", "search"), keys(&[]));
        assert_eq!(
            with("$.data.items", "x-meta-extractor: {total: $.data.total, next: $.next}", "list"),
            keys(&["data", "items"])
        );
        assert_eq!(with("$.items", "x-meta-extractor: {next: \"@link.next\"}", "list"), keys(&["items"]));
        assert_eq!(with("$.items", "x-response-error-check: {field: ok, on_value: false}", "list"), keys(&["items"]));
        // Not plain keys, not a list, or something reads inside the records.
        assert_eq!(with("$.items[*]", "", "list"), None);
        assert_eq!(with("$.items", "", "get"), None);
        assert_eq!(with("$", "x-meta-extractor: {next: $.next}", "list"), None);
        assert_eq!(with("$.items", "x-meta-extractor: {last: \"$.items[-1:].id\"}", "list"), None);
        assert_eq!(with("$.data.items", "x-meta-extractor: {c: $..cursor}", "list"), None);
        assert_eq!(with("$.data.items", "x-meta-extractor: {d: $.data}", "list"), None);
        assert_eq!(with("$.items", "x-response-error-check: {field: items.ok, on_value: false}", "list"), None);
        let filtered = crate::spec::parse_spec("f.yaml", FILTERED).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(filtered.operations.first().and_then(|op| op.raw_record_path()), None);
    }

    /// Records moved out of a body are the records a copy gives, also when one match lies
    /// inside another.
    #[test]
    fn taking_records_gives_what_copying_gives() {
        let body = json!({"data": {"items": [{"id": 1, "x": {"id": 2}}, {"id": 3}]}, "id": 4});
        for (path, list) in [
            ("$.data.items", true),
            ("$.data.items[*]", true),
            ("$..id", true),
            ("$..items", true),
            ("$..*", true),
            ("$['data','data'].items", true),
            ("$.data.items[0]", false),
            ("$.missing", true),
            ("$.missing", false),
        ] {
            let spec = FILTERED
                .replace("x-record-extractor: $.items", &format!("x-record-extractor: \"{path}\""))
                .replace("      x-record-filter: \"{{ not record.private }}\"\n", "")
                .replace("x-action: list", if list { "x-action: list" } else { "x-action: get" });
            let spec = crate::spec::parse_spec("f.yaml", &spec).unwrap_or_else(|e| panic!("{e}"));
            let op = spec.operations.first().unwrap_or_else(|| panic!("no operation"));
            let copied = page(op, &body).unwrap_or_else(|e| panic!("{e}"));
            let taken = take_page(op, body.clone()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(taken, copied, "{path}");
            assert_eq!(taken.0.to_string(), copied.0.to_string(), "{path}");
        }
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
