//! From a response to a result: records by JSONPath, meta from the body, `Link` or headers,
//! record filters, field trimming and truncation of long text.

use serde_json::{Map, Value};

use crate::error::Result;
use crate::execution::RecordText;
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

/// The four hex digits of a `\u` escape at `at`.
fn hex4(s: &[u8], at: usize) -> Option<u16> {
    let digits = std::str::from_utf8(s.get(at..at + 4)?).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u16::from_str_radix(digits, 16).ok()
}

/// JSON text with each lone UTF-16 surrogate escape (`\ud83d` without the second half of its
/// pair after it, or a second half alone) written as `\ufffd`, the character a JavaScript
/// `TextEncoder` writes for one. Some APIs cut strings by UTF-16 units and send such halves;
/// a Rust string cannot hold them, so [`parse_json`] refuses the text, where Python's
/// `json.loads` reads it. `None` when the text is not UTF-8 or holds none.
pub fn mend_lone_surrogates(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (mut out, mut copied, mut i) = (String::new(), 0, 0);
    while let Some(found) = text.get(i..).and_then(|rest| rest.find('\\')) {
        let at = i + found;
        // Any escape but `\u` is two bytes (an escaped backslash among them, so the text after
        // it is never read as an escape).
        i = at + 2;
        if bytes.get(at + 1) != Some(&b'u') {
            continue;
        }
        let Some(unit) = hex4(bytes, at + 2) else { continue };
        i = at + 6;
        let paired = match unit {
            0xD800..=0xDBFF if bytes.get(at + 6..at + 8) == Some(b"\\u".as_slice()) => {
                hex4(bytes, at + 8).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low))
            }
            0xD800..=0xDFFF => false,
            _ => continue,
        };
        if paired {
            i = at + 12;
        } else {
            out.push_str(&text[copied..at]);
            out.push_str("\\ufffd");
            copied = at + 6;
        }
    }
    (copied > 0).then(|| {
        out.push_str(&text[copied..]);
        out
    })
}

/// The key serde_json reads as a [`serde_json::value::RawValue`] inside a `Value` (its
/// `raw_value` feature is on in this workspace): an object whose first key it is stands for the
/// JSON text of its value, as `serde_json::from_slice` reads it.
pub(crate) const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

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
        read_object(map, self.entries, self.items)
    }
}

/// Reads an object, its entries left open on the shared stack and taken off, in one map, when
/// it closes.
fn read_object<'de, A: serde::de::MapAccess<'de>>(
    mut map: A,
    entries: &mut Vec<(String, Value)>,
    items: &mut Vec<Value>,
) -> std::result::Result<Value, A::Error> {
    let Some(first) = map.next_key::<String>()? else { return Ok(Value::Object(Map::new())) };
    if first == RAW_VALUE_TOKEN {
        let raw = map.next_value_seed(RawText)?;
        return serde_json::from_str(&raw).map_err(serde::de::Error::custom);
    }
    let start = entries.len();
    let mut key = Some(first);
    while let Some(k) = key {
        let v = map.next_value_seed(Exact { entries: &mut *entries, items: &mut *items })?;
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

/// Deepest nesting of a record passed through as text, and of any value on the way to it; a
/// deeper one sends its page down the parsing path, whose depth limit (128 levels from the
/// body's root) then applies as before.
const RAW_DEPTH: usize = 64;

/// A response body read as [`parse_json`] reads it, except the array at `path` (object keys
/// from the root): its items are kept as their JSON text (see [`RecordText`]), and an empty
/// array stands in the body where they were.
///
/// The whole text is read once, checked as JSON as the parsing path checks it (the grammar,
/// string escapes and surrogate pairs, numbers a parse would refuse), while the records' texts
/// and their longest strings are noted; then the body without the records (small, for a list
/// page) is parsed. `None` when the page must take the parsing path instead, which then fails
/// or reads it as it always did: the text is not JSON, `path` does not end at an array, a key
/// on the path repeats, or something nests deeper than [`RAW_DEPTH`] levels.
pub fn split_records(bytes: &[u8], path: &[String]) -> Option<(Value, Vec<RecordText>)> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut w = Walk { s: bytes, i: 0, longest: 0, found: None, records: Vec::new() };
    w.ws();
    w.value(0, Some(path))?;
    w.ws();
    if w.i != bytes.len() {
        return None;
    }
    let (open, close) = w.found?;
    let records = w
        .records
        .into_iter()
        .map(|(start, end, longest)| {
            let t = &text[start..end];
            // An object or `null` as it is; anything else as `{"value": ...}` (as take_page
            // wraps it).
            let t = if t.starts_with('{') || t == "null" { t.into() } else { format!("{{\"value\":{t}}}").into() };
            RecordText { text: t, longest }
        })
        .collect();
    let mut rest = String::with_capacity(text.len() - (close - open) + 2);
    rest.push_str(&text[..open]);
    rest.push_str("[]");
    rest.push_str(&text[close..]);
    Some((parse_json(rest.as_bytes()).ok()?, records))
}

/// One pass over a body's text for [`split_records`]: every failure is `None`.
struct Walk<'t> {
    s: &'t [u8],
    i: usize,
    /// Bytes of the longest string (key or value, as written) of the record being read.
    longest: usize,
    /// Where the records' array opens and where it ends.
    found: Option<(usize, usize)>,
    /// Each record's text (start and end) and its longest string.
    records: Vec<(usize, usize, usize)>,
}

impl Walk<'_> {
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.s.get(self.i) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    /// A value nested `depth` levels down; `path` (the keys still to follow) when it lies on
    /// the way to the records.
    fn value(&mut self, depth: usize, path: Option<&[String]>) -> Option<()> {
        match *self.s.get(self.i)? {
            b'{' => self.object(depth, path),
            b'[' => self.array(depth, path),
            b'"' => self.string(),
            b't' => self.word(b"true"),
            b'f' => self.word(b"false"),
            b'n' => self.word(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn word(&mut self, w: &[u8]) -> Option<()> {
        (self.s.get(self.i..self.i + w.len())? == w).then(|| self.i += w.len())
    }

    fn object(&mut self, depth: usize, path: Option<&[String]>) -> Option<()> {
        if depth >= RAW_DEPTH {
            return None;
        }
        self.i += 1;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let next = path.and_then(|p| p.split_first());
        let mut seen = false;
        loop {
            let start = self.i + 1;
            if self.s.get(self.i) != Some(&b'"') {
                return None;
            }
            self.string()?;
            let key = &self.s[start..self.i - 1];
            let on_path = match next {
                // A key with an escape is compared by its value (rare: a spec's keys are plain).
                Some((k, rest)) if key == k.as_bytes() || (key.contains(&b'\\') && unescaped(key)? == *k) => {
                    if std::mem::replace(&mut seen, true) {
                        return None; // Which of the two holds the records is the parse's call.
                    }
                    Some(rest)
                }
                _ => None,
            };
            self.ws();
            self.eat(b':')?;
            self.ws();
            self.value(depth + 1, on_path)?;
            if !self.more(b'}')? {
                return Some(());
            }
        }
    }

    /// After an item of an array or an entry of an object: `true` past a comma (more to
    /// come), `false` past the closing bracket.
    fn more(&mut self, close: u8) -> Option<bool> {
        self.ws();
        match *self.s.get(self.i)? {
            b',' => {
                self.i += 1;
                self.ws();
                Some(true)
            }
            c if c == close => {
                self.i += 1;
                Some(false)
            }
            _ => None,
        }
    }

    fn array(&mut self, depth: usize, path: Option<&[String]>) -> Option<()> {
        if depth >= RAW_DEPTH {
            return None;
        }
        let open = self.i;
        let records = path.is_some_and(<[String]>::is_empty);
        self.i += 1;
        self.ws();
        if self.eat(b']').is_none() {
            loop {
                let start = self.i;
                if records {
                    // A record's own nesting counts from its start.
                    self.longest = 0;
                    self.value(1, None)?;
                    self.records.push((start, self.i, self.longest));
                } else {
                    self.value(depth + 1, None)?;
                }
                if !self.more(b']')? {
                    break;
                }
            }
        }
        if records {
            self.found = Some((open, self.i));
        }
        Some(())
    }

    /// A string at its opening quote; its bytes as written count toward `longest`. Inlined in
    /// its two callers, with its position kept in a local: most strings of a page are a few
    /// bytes long, and the call and the stores of `self.i` cost more than scanning them (the
    /// whole walk of a 30-issue GitHub page takes 15% less time; benches/PROFILE.md, section 1).
    #[inline(always)]
    fn string(&mut self) -> Option<()> {
        let start = self.i + 1;
        let mut i = start;
        loop {
            let rest = self.s.get(i..)?;
            let run = plain_run(rest);
            i += run;
            match *rest.get(run)? {
                b'"' => break,
                b'\\' => {
                    self.i = i;
                    self.escape()?;
                    i = self.i;
                }
                _ => return None, // a control character
            }
        }
        self.longest = self.longest.max(i - start);
        self.i = i + 1;
        Some(())
    }

    /// An escape at its backslash. A `\u` escape of half a surrogate pair must be the first half
    /// followed by the second: the parse refuses a lone half in a string.
    fn escape(&mut self) -> Option<()> {
        match *self.s.get(self.i + 1)? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.i += 2;
                Some(())
            }
            b'u' => {
                let unit = self.hex4(self.i + 2)?;
                self.i += 6;
                match unit {
                    0xD800..=0xDBFF => {
                        if self.s.get(self.i..self.i + 2)? != b"\\u" {
                            return None;
                        }
                        let low = self.hex4(self.i + 2)?;
                        self.i += 6;
                        (0xDC00..=0xDFFF).contains(&low).then_some(())
                    }
                    0xDC00..=0xDFFF => None,
                    _ => Some(()),
                }
            }
            _ => None,
        }
    }

    fn hex4(&self, at: usize) -> Option<u16> {
        hex4(self.s, at)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> Option<()> {
        let start = self.i;
        self.eat(b'-');
        match *self.s.get(self.i)? {
            b'0' => {
                self.i += 1;
                if self.s.get(self.i).is_some_and(u8::is_ascii_digit) {
                    return None;
                }
            }
            b'1'..=b'9' => {
                self.digits();
            }
            _ => return None,
        }
        if self.eat(b'.').is_some() && self.digits() == 0 {
            return None;
        }
        let exponent = matches!(self.s.get(self.i), Some(b'e' | b'E'));
        if exponent {
            self.i += 1;
            if let Some(b'+' | b'-') = self.s.get(self.i) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return None;
            }
        }
        // Short numbers without an exponent are in range; any other is read as the parse
        // reads it (it refuses one beyond `f64`'s range).
        if exponent || self.i - start > 20 {
            serde_json::from_slice::<Value>(&self.s[start..self.i]).ok()?;
        }
        Some(())
    }
}

/// The value of a key written with escapes.
fn unescaped(key: &[u8]) -> Option<String> {
    let mut quoted = Vec::with_capacity(key.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(key);
    quoted.push(b'"');
    serde_json::from_slice(&quoted).ok()
}

/// How many bytes of `s` come before its first quote, backslash or control character (all of
/// them when it has none), read eight at a time: the lowest byte that matches ends the step at
/// once, with no byte-by-byte walk to it.
fn plain_run(s: &[u8]) -> usize {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);
    // The high bit of each byte of `x` below `n` (at most 0x80). A byte above a marked one may
    // be marked too (the borrow runs up), never one below the lowest: the lowest mark is exact.
    let below = |x: u64, n: u8| x.wrapping_sub(ONES * u64::from(n)) & !x & HIGHS;
    let mut at = 0;
    while let Some(&word) = s.get(at..).and_then(|rest| rest.first_chunk::<8>()) {
        let word = u64::from_le_bytes(word);
        let marks =
            below(word ^ (ONES * u64::from(b'"')), 1) | below(word ^ (ONES * u64::from(b'\\')), 1) | below(word, 0x20);
        if marks != 0 {
            return at + (marks.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    let rest = s.get(at..).unwrap_or_default();
    at + rest.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20).unwrap_or(rest.len())
}

/// A record from [`split_records`] with its strings longer than `max` chars cut, as
/// [`truncate_strings`] cuts them; as it is (not even copied) when none is that long.
pub fn truncate_record(record: RecordText, max: usize) -> serde_json::Result<RecordText> {
    // A string has no more chars than bytes, nor more bytes than its text.
    if record.longest <= max {
        return Ok(record);
    }
    let mut v = parse_json(record.get().as_bytes())?;
    truncate_strings(&mut v, max);
    Ok(RecordText::of(&v))
}

/// Answers of at most this many bytes hold too few values to count them
/// ([`holds_more_values_than`]): a megabyte holds at most half a million.
pub const COUNT_VALUES_OVER_BYTES: usize = 1 << 20;

/// Whether the JSON text `bytes` holds more than `max` values, counted without reading it: one
/// per `[`, `{` and `,` outside strings (each value but a container's first follows a comma,
/// and each first follows its container's opening), so scalars at the root are not counted.
/// Text that is not JSON counts as what it looks like; the parse says what it is.
pub fn holds_more_values_than(bytes: &[u8], max: usize) -> bool {
    let (mut n, mut i, mut in_string) = (0usize, 0usize, false);
    while let Some(&b) = bytes.get(i) {
        match (in_string, b) {
            (true, b'\\') => i += 1,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'[' | b'{' | b',') => {
                n += 1;
                if n > max {
                    return true;
                }
            }
            _ => {}
        }
        i += 1;
    }
    false
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
        out.insert(name.clone(), meta_value(src, resp, body).unwrap_or(Value::Null));
    }
    out
}

fn meta_value(src: &MetaSource, resp: &HttpResponse, body: &Value) -> Option<Value> {
    match src {
        MetaSource::Path(p) => p.query(body).all().first().map(|v| (*v).clone()),
        MetaSource::Header(h) => resp.header(h).map(|s| Value::String(s.to_string())),
        MetaSource::Link(rel) => resp.header("link").and_then(|l| link_rel(l, rel)).map(Value::String),
        MetaSource::FirstOf(list) => list.iter().filter_map(|s| meta_value(s, resp, body)).find(|v| !v.is_null()),
    }
}

/// The URL of relation `rel` in a `Link` header (RFC 8288). A link marked `results="false"`
/// (Sentry's, which names a next page on every answer and says so on the last) names none.
pub fn link_rel(header: &str, rel: &str) -> Option<String> {
    for part in header.split(',') {
        let mut pieces = part.split(';');
        let url = pieces.next()?.trim();
        let url = url.strip_prefix('<')?.strip_suffix('>')?;
        let (mut this_rel, mut no_results) = (false, false);
        for attr in pieces {
            let (name, value) = attr.split_once('=').unwrap_or((attr, ""));
            let value = value.trim().trim_matches('"');
            match name.trim() {
                "rel" => this_rel |= value.split_whitespace().any(|r| r == rel),
                "results" => no_results = value.eq_ignore_ascii_case("false"),
                _ => {}
            }
        }
        if this_rel {
            return (!no_results).then(|| url.to_string());
        }
    }
    None
}

/// The most field names [`unselectable`] quotes back.
const FIELDS_QUOTED: usize = 40;

/// When `select` names no field of any record in `data` (a list of records, or one) while the
/// records have fields: their field names, sorted (at most [`FIELDS_QUOTED`]), for a message
/// that lets the caller fix the paths. `None` when a path's first name is a field of a record,
/// or when there is no record with a field to name.
pub fn unselectable(data: &Value, select: &[String]) -> Option<Vec<String>> {
    if select.is_empty() {
        return None;
    }
    let records: Vec<&Map<String, Value>> = match data {
        Value::Array(items) => items.iter().filter_map(Value::as_object).collect(),
        Value::Object(m) => vec![m],
        _ => Vec::new(),
    };
    let roots: Vec<&str> = select.iter().filter_map(|p| p.split('.').next()).collect();
    if records.iter().any(|r| roots.iter().any(|k| r.contains_key(*k))) {
        return None;
    }
    // A name an API made of data (a map keyed by ids) is left out past 80 characters.
    let names: std::collections::BTreeSet<&str> =
        records.iter().flat_map(|r| r.keys().map(String::as_str)).filter(|k| k.chars().count() <= 80).collect();
    (!names.is_empty()).then(|| names.into_iter().take(FIELDS_QUOTED).map(str::to_string).collect())
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

    /// `split_records` reads what `parse_json` reads: the records kept as text, parsed and put
    /// back where they were, make the body `parse_json` gives (keys in the same order, repeated
    /// keys, numbers). A text `parse_json` refuses is never split (its page takes the parsing
    /// path, which refuses it as before).
    #[test]
    fn splitting_the_records_out_loses_nothing() {
        let paths: Vec<Vec<String>> = [&[][..], &["a"], &["b", "a"], &["id"], &["a", "b"], &["d"], &["c\u{e9}"]]
            .iter()
            .map(|p| p.iter().map(|k| k.to_string()).collect())
            .collect();
        let mut kept = 0;
        let mut check = |bytes: &[u8]| -> usize {
            let whole = parse_json(bytes);
            let mut split = 0;
            for path in &paths {
                let shown = String::from_utf8_lossy(bytes);
                let Some((mut body, records)) = split_records(bytes, path) else { continue };
                let Ok(whole) = &whole else {
                    panic!("{shown:?} at {path:?}: parse_json refuses it, the records pass")
                };
                split += 1;
                let mut slot = &mut body;
                for k in path {
                    slot = slot.get_mut(k.as_str()).unwrap_or_else(|| panic!("{shown:?}: no {k}"));
                }
                assert_eq!(*slot, json!([]), "{shown:?} at {path:?}");
                // Records are wrapped as take_page wraps them: compare with its records.
                let items: Vec<Value> =
                    records.iter().map(|r| parse_json(r.get().as_bytes()).unwrap_or_else(|e| panic!("{e}"))).collect();
                for (r, item) in records.iter().zip(&items) {
                    let mut cut = item.clone();
                    assert!(!truncate_strings(&mut cut, r.longest), "{shown:?}: a string longer than {}", r.longest);
                }
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
            kept += split;
            split
        };
        let deep = format!("{{\"a\": [{}{}]}}", "[".repeat(100), "]".repeat(100));
        // Each text, and at how many of the paths its records pass as text.
        let fixed: Vec<(&[u8], usize)> = vec![
            (b"[]", 1),
            (b"[1, \"x\", null, {\"a\": 2}, [3]]", 1),
            (b"{\"a\": [1e400]}", 0),
            (b"{\"a\": [{\"x\": 1E400}], \"b\": 1}", 0),
            (b"{\"a\": [{\"x\": 1.5e2, \"t\": true, \"f\": false}]}", 1),
            (b"{\"a\": [123456789012345678901234567890]}", 1),
            (b"{\"a\": [\"\\ud800\"]}", 0),
            (b"{\"a\": [\"\\udc00\"]}", 0),
            (b"{\"a\": [\"\\ud800\\u0041\"]}", 0),
            (b"{\"a\": [\"\\uD83D\\uDE00 \\ud83d\\ude00\"]}", 1),
            (b"{\"a\": [{\"k\\\"\": \"v\\\\\"}]}", 1),
            (b"{\"a\": [\"tab\there\"]}", 0),
            (b"{\"a\": [1], \"a\": 5}", 0),
            (b"{\"a\": 5, \"a\": [1, 2]}", 0),
            (b"{\"b\": {\"a\": [1]}, \"b\": {\"c\": 2}}", 0),
            (b"{\"\\u0061\": [1]}", 1),
            (b"{\"a\": null}", 0),
            (b"{\"a\": {\"x\": 1}}", 0),
            (b"{\"a\": [1]} x", 0),
            (b"{\"a\": [01]}", 0),
            (b"{\"a\": [1.]}", 0),
            (b"{\"a\": [-]}", 0),
            (b"{\"a\": [tru]}", 0),
            (b"{\"a\": [\"\\x\"]}", 0),
            (b"{\"a\": [1,]}", 0),
            (deep.as_bytes(), 0),
        ];
        for (text, split) in fixed {
            assert_eq!(check(text), split, "{:?}", String::from_utf8_lossy(text));
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
                *b = [b'"', b'}', b',', 0xc3, b'\\', 0x1f][(round % 6) as usize];
            }
            check(&changed);
        }
        assert!(kept > 300, "records were kept as text {kept} times");
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
        let read = |text: &str| {
            let (_, mut records) =
                split_records(format!("[{text}]").as_bytes(), &[]).unwrap_or_else(|| panic!("{text}"));
            records.pop().unwrap_or_else(|| panic!("{text}: no record"))
        };
        for max in [0, 1, 3, 4, 5, 8, 12, 100] {
            for text in records {
                let cut = truncate_record(read(text), max).unwrap_or_else(|e| panic!("{e}"));
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
        // Strings of every length with an escape (or a control character) at every place: the
        // eight-byte steps end at the right quote, see every escape and refuse what the parse
        // refuses.
        for len in 0..40 {
            for at in 0..=len {
                for esc in [r#"\""#, r"\\", r"\ud800", r"\u0041", r"\ud83d\ude00", "\u{1f}", r"\q"] {
                    let inner = format!("{}{esc}{}", "x".repeat(at), "y".repeat(len - at));
                    let text = format!(r#"[{{"k": "{inner}", "n": 1e5, "z": [1]}}]"#);
                    let split = split_records(text.as_bytes(), &[]);
                    assert_eq!(split.is_some(), parse_json(text.as_bytes()).is_ok(), "{text}");
                    match split {
                        Some((_, records)) => {
                            assert!(!matches!(esc, r"\ud800" | "\u{1f}" | r"\q"), "{text}");
                            assert_eq!(records.first().map(|r| r.longest), Some(inner.len()), "{text}");
                        }
                        None => assert!(matches!(esc, r"\ud800" | "\u{1f}" | r"\q"), "{text}"),
                    }
                }
            }
        }
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
        // Sentry: a next link on every page, the last saying it has no results.
        let sentry = |more: &str| {
            format!(
                "<https://sentry.io/api/0/p/?&cursor=0:0:1>; rel=\"previous\"; results=\"false\"; cursor=\"0:0:1\", \
                 <https://sentry.io/api/0/p/?&cursor=0:100:0>; rel=\"next\"; results=\"{more}\"; cursor=\"0:100:0\""
            )
        };
        assert_eq!(link_rel(&sentry("true"), "next").as_deref(), Some("https://sentry.io/api/0/p/?&cursor=0:100:0"));
        assert_eq!(link_rel(&sentry("false"), "next"), None);
        assert_eq!(link_rel(&sentry("true"), "previous"), None);
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
    fn paths_naming_no_field_are_told_with_the_fields() {
        let paths = |ps: &[&str]| ps.iter().map(|p| p.to_string()).collect::<Vec<_>>();
        let page = json!([{"id": 1, "title": "t"}, {"id": 2, "user": {"login": "u"}}, "odd"]);
        let fields = Some(vec!["id".to_string(), "title".to_string(), "user".to_string()]);
        assert_eq!(unselectable(&page, &paths(&["titel", "usr.login"])), fields);
        // One path naming a field of one record is enough, as is no path at all.
        assert_eq!(unselectable(&page, &paths(&["titel", "user.name"])), None);
        assert_eq!(unselectable(&page, &[]), None);
        // A record alone; and nothing to name: no record, or records without fields.
        assert_eq!(unselectable(&json!({"id": 1}), &paths(&["nope"])), Some(vec!["id".to_string()]));
        assert_eq!(unselectable(&json!([]), &paths(&["nope"])), None);
        assert_eq!(unselectable(&json!([{}, 3]), &paths(&["nope"])), None);
        // Names an API made of data are left out past 80 characters.
        let long = "k".repeat(81);
        assert_eq!(unselectable(&json!([{ long: 1 }]), &paths(&["nope"])), None);
    }

    #[test]
    fn truncation_says_what_it_cut() {
        let mut v = json!([{"body": "abcdef"}]);
        assert!(truncate_strings(&mut v, 3));
        let body = v[0]["body"].as_str().unwrap_or_default();
        assert!(body.starts_with("abc... [truncated 3 more characters"), "{body}");
    }
}
