//! JSON text made into a language's own values in one pass, with no tree in between: how a
//! binding whose language has maps and lists of its own (Python's dicts and lists) reads a
//! result's data. The binding says how to make each kind of value ([`Builder`]); this module
//! reads the text and decides everything else.
//!
//! Keys are shared: a [`Reader`] makes each distinct key once and hands every object that has
//! it the same key value (the records of a page share theirs, as CPython's `json.loads` does:
//! one string and one hash per name instead of one per record). The records of a page list
//! their keys in the same order, so each key is first compared with the one that followed the
//! previous key last time, and looked up by hash only when that guess is wrong.

use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// How a language makes the values of a JSON text. `Object` is a map being filled; `Key` an
/// object key as the language keeps it (made once per distinct key and reused, so cheap to
/// borrow many times).
pub trait Builder {
    type Value;
    type Key;
    type Object;
    type Error;

    fn null(&mut self) -> Result<Self::Value, Self::Error>;
    fn bool(&mut self, v: bool) -> Result<Self::Value, Self::Error>;
    fn int(&mut self, v: i64) -> Result<Self::Value, Self::Error>;
    fn uint(&mut self, v: u64) -> Result<Self::Value, Self::Error>;
    fn float(&mut self, v: f64) -> Result<Self::Value, Self::Error>;
    fn string(&mut self, v: &str) -> Result<Self::Value, Self::Error>;
    fn list(&mut self, items: Vec<Self::Value>) -> Result<Self::Value, Self::Error>;
    /// An empty object; `record` when it is one of the records [`Reader::parse`] was asked
    /// for (a language may build those as instances of a record class).
    fn object(&mut self, record: bool) -> Result<Self::Object, Self::Error>;
    /// A key: called once per distinct key of a [`Reader`], and for each key written with
    /// escapes in the text (those are not shared).
    fn key(&mut self, k: &str) -> Result<Self::Key, Self::Error>;
    fn insert(&mut self, object: &mut Self::Object, key: &Self::Key, value: Self::Value) -> Result<(), Self::Error>;
    fn finish(&mut self, object: Self::Object) -> Result<Self::Value, Self::Error>;
}

/// Why [`Reader::parse`] stopped.
#[derive(Debug)]
pub enum Failed<E> {
    /// The builder failed; its error, as it was.
    Builder(E),
    /// The text is not one JSON value.
    Text(serde_json::Error),
}

/// Reads JSON texts into a [`Builder`]'s values, sharing keys across every text it reads
/// (`'a`: the texts, whose keys it remembers).
pub struct Reader<'a, B: Builder> {
    builder: B,
    /// The index in `names` of each distinct key.
    ids: FxHashMap<&'a str, usize>,
    names: Vec<Name<'a, B::Key>>,
    /// The guessed first key of an object that is not a key's value (a list item, the root).
    top: usize,
    /// The builder's error that stopped a parse (serde's error type cannot carry it).
    failed: Option<B::Error>,
}

/// No key (a guess not made yet, or an object that is not a key's value).
const NONE: usize = usize::MAX;

/// One distinct key, with the guesses that follow it.
struct Name<'a, K> {
    text: &'a str,
    key: K,
    /// The key read after this one in the same object, last time.
    next: usize,
    /// The first key of the object (or of the objects of the list) that was this key's value.
    child: usize,
}

/// Where the guess for the next key of an object is kept.
#[derive(Clone, Copy)]
enum Slot {
    /// The first key of an object that is the value of this key (`NONE`: of no key).
    Child(usize),
    /// The key after this one.
    Next(usize),
}

/// Which objects are records (see [`Builder::object`]).
#[derive(Clone, Copy)]
enum Shape {
    Plain,
    /// This object, or each object of this list.
    Records,
    /// This object.
    Record,
}

impl<'a, B: Builder> Reader<'a, B> {
    pub fn new(builder: B) -> Self {
        Self { builder, ids: FxHashMap::default(), names: Vec::new(), top: NONE, failed: None }
    }

    /// The values of `text`. With `records`, the root object, or each object of a root list,
    /// is made as a record.
    pub fn parse(&mut self, text: &'a str, records: bool) -> Result<B::Value, Failed<B::Error>> {
        let mut de = serde_json::Deserializer::from_str(text);
        let shape = if records { Shape::Records } else { Shape::Plain };
        let parsed = Node { r: self, shape, parent: NONE }.deserialize(&mut de).and_then(|v| de.end().map(|()| v));
        parsed.map_err(|e| self.failed.take().map_or(Failed::Text(e), Failed::Builder))
    }

    /// The index of key `k`, `guess` tried first.
    fn key(&mut self, k: &'a str, guess: usize) -> Result<usize, B::Error> {
        if self.names.get(guess).is_some_and(|n| n.text == k) {
            return Ok(guess);
        }
        if let Some(&id) = self.ids.get(k) {
            return Ok(id);
        }
        let key = self.builder.key(k)?;
        self.names.push(Name { text: k, key, next: NONE, child: NONE });
        self.ids.insert(k, self.names.len() - 1);
        Ok(self.names.len() - 1)
    }

    /// The guess kept at `slot`.
    fn guess(&mut self, slot: Slot) -> &mut usize {
        match slot {
            Slot::Child(at) if at != NONE => &mut self.names[at].child,
            Slot::Next(at) => &mut self.names[at].next,
            Slot::Child(_) => &mut self.top,
        }
    }

    /// Keeps a builder's error for [`Reader::parse`] and stops the parse.
    fn check<T, E: de::Error>(&mut self, r: Result<T, B::Error>) -> Result<T, E> {
        r.map_err(|e| {
            self.failed = Some(e);
            E::custom("the builder failed")
        })
    }
}

/// One JSON value of the text being read, made by the builder as serde reads it.
struct Node<'r, 'a, B: Builder> {
    r: &'r mut Reader<'a, B>,
    shape: Shape,
    /// The key whose value this is (or, for a list's items, the list's key); `NONE` if none.
    parent: usize,
}

impl<'r, 'a, B: Builder> DeserializeSeed<'a> for Node<'r, 'a, B> {
    type Value = B::Value;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'r, 'a, B: Builder> Visitor<'a> for Node<'r, 'a, B> {
    type Value = B::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        let v = self.r.builder.null();
        self.r.check(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        let v = self.r.builder.bool(v);
        self.r.check(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        let v = self.r.builder.int(v);
        self.r.check(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        let v = self.r.builder.uint(v);
        self.r.check(v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        let v = self.r.builder.float(v);
        self.r.check(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let v = self.r.builder.string(v);
        self.r.check(v)
    }

    fn visit_seq<A: SeqAccess<'a>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let shape = match self.shape {
            Shape::Records => Shape::Record,
            _ => Shape::Plain,
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element_seed(Node { r: &mut *self.r, shape, parent: self.parent })? {
            items.push(item);
        }
        let list = self.r.builder.list(items);
        self.r.check(list)
    }

    fn visit_map<A: MapAccess<'a>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let made = self.r.builder.object(!matches!(self.shape, Shape::Plain));
        let mut object = self.r.check(made)?;
        let mut slot = Slot::Child(self.parent);
        loop {
            let guess = *self.r.guess(slot);
            let Some(key) = map.next_key_seed(Key { r: &mut *self.r, guess })? else { break };
            match key {
                KeyOf::Name(id) => {
                    if id != guess {
                        *self.r.guess(slot) = id;
                    }
                    let value = map.next_value_seed(Node { r: &mut *self.r, shape: Shape::Plain, parent: id })?;
                    let r = &mut *self.r;
                    let set = r.builder.insert(&mut object, &r.names[id].key, value);
                    r.check(set)?;
                    slot = Slot::Next(id);
                }
                KeyOf::Escaped(key) => {
                    let value = map.next_value_seed(Node { r: &mut *self.r, shape: Shape::Plain, parent: NONE })?;
                    let set = self.r.builder.insert(&mut object, &key, value);
                    self.r.check(set)?;
                }
            }
        }
        let done = self.r.builder.finish(object);
        self.r.check(done)
    }
}

/// An object's key: shared through [`Reader::key`] when the text holds it unescaped.
struct Key<'r, 'a, B: Builder> {
    r: &'r mut Reader<'a, B>,
    guess: usize,
}

/// A key read: a shared name's index, or a key written with escapes, made for this object.
enum KeyOf<K> {
    Name(usize),
    Escaped(K),
}

impl<'r, 'a, B: Builder> DeserializeSeed<'a> for Key<'r, 'a, B> {
    type Value = KeyOf<B::Key>;

    fn deserialize<D: Deserializer<'a>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'r, 'a, B: Builder> Visitor<'a> for Key<'r, 'a, B> {
    type Value = KeyOf<B::Key>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'a str) -> Result<Self::Value, E> {
        let id = self.r.key(v, self.guess);
        self.r.check(id).map(KeyOf::Name)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        let key = self.r.builder.key(v);
        self.r.check(key).map(KeyOf::Escaped)
    }
}

#[cfg(test)]
mod tests {
    use std::rc::Rc;

    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use super::*;

    /// Builds `serde_json` values, marks records with `"@record": true`, and counts the keys it
    /// was asked to make; fails on the string "boom".
    #[derive(Default)]
    struct Values {
        keys_made: Vec<String>,
    }

    impl Builder for Values {
        type Value = Value;
        type Key = Rc<str>;
        type Object = Map<String, Value>;
        type Error = String;

        fn null(&mut self) -> Result<Value, String> {
            Ok(Value::Null)
        }
        fn bool(&mut self, v: bool) -> Result<Value, String> {
            Ok(Value::Bool(v))
        }
        fn int(&mut self, v: i64) -> Result<Value, String> {
            Ok(v.into())
        }
        fn uint(&mut self, v: u64) -> Result<Value, String> {
            Ok(v.into())
        }
        fn float(&mut self, v: f64) -> Result<Value, String> {
            Ok(v.into())
        }
        fn string(&mut self, v: &str) -> Result<Value, String> {
            if v == "boom" {
                return Err("the builder refused \"boom\"".to_string());
            }
            Ok(v.into())
        }
        fn list(&mut self, items: Vec<Value>) -> Result<Value, String> {
            Ok(Value::Array(items))
        }
        fn object(&mut self, record: bool) -> Result<Map<String, Value>, String> {
            let mut m = Map::new();
            if record {
                m.insert("@record".into(), true.into());
            }
            Ok(m)
        }
        fn key(&mut self, k: &str) -> Result<Rc<str>, String> {
            self.keys_made.push(k.to_string());
            Ok(k.into())
        }
        fn insert(&mut self, object: &mut Map<String, Value>, key: &Rc<str>, value: Value) -> Result<(), String> {
            object.insert(key.to_string(), value);
            Ok(())
        }
        fn finish(&mut self, object: Map<String, Value>) -> Result<Value, String> {
            Ok(Value::Object(object))
        }
    }

    fn read(text: &str, records: bool) -> (Result<Value, Failed<String>>, Vec<String>) {
        let mut r = Reader::new(Values::default());
        let v = r.parse(text, records);
        (v, r.builder.keys_made)
    }

    #[test]
    fn every_json_value_is_built_as_serde_reads_it() -> Result<(), serde_json::Error> {
        let text = r#"{"a": null, "b": [true, false], "c": -3, "d": 18446744073709551615, "e": 1.5,
                       "f": "x\u00e9\"", "g": {"h": {"i": []}}, "j": {}}"#;
        let (v, _) = read(text, false);
        assert_eq!(v.ok(), Some(serde_json::from_str::<Value>(text)?));
        Ok(())
    }

    #[test]
    fn each_distinct_key_is_made_once_whatever_the_order() -> Result<(), serde_json::Error> {
        // The second record lists its keys in another order (every guess wrong), the third
        // leaves one out and adds one, a nested object reuses a top-level name.
        let text = r#"[{"id": 1, "title": "a", "user": {"id": 7, "login": "o"}},
                       {"title": "b", "id": 2, "user": {"login": "p", "id": 8}},
                       {"id": 3, "labels": [{"id": 9}]}]"#;
        let (v, keys) = read(text, false);
        assert_eq!(v.ok(), Some(serde_json::from_str::<Value>(text)?));
        assert_eq!(keys, ["id", "title", "user", "login", "labels"]);
        Ok(())
    }

    #[test]
    fn keys_are_shared_across_the_texts_of_one_reader() {
        let mut r = Reader::new(Values::default());
        let (a, b) = (r#"{"cursor": "c1", "total": 2}"#.to_string(), r#"[{"cursor": 1}]"#.to_string());
        assert_eq!(r.parse(&a, false).ok(), Some(json!({"cursor": "c1", "total": 2})));
        assert_eq!(r.parse(&b, false).ok(), Some(json!([{"cursor": 1}])));
        assert_eq!(r.builder.keys_made, ["cursor", "total"]);
    }

    #[test]
    fn a_key_written_with_escapes_is_made_for_its_object() {
        let (v, keys) = read(r#"[{"a\"b": 1}, {"a\"b": 2}, {"plain": 3}]"#, false);
        assert_eq!(v.ok(), Some(json!([{"a\"b": 1}, {"a\"b": 2}, {"plain": 3}])));
        assert_eq!(keys, ["a\"b", "a\"b", "plain"]);
    }

    #[test]
    fn records_are_the_root_object_or_the_root_lists_objects() {
        let (list, _) = read(r#"[{"a": {"b": 1}}, {"a": [{"c": 2}]}]"#, true);
        assert_eq!(list.ok(), Some(json!([{"@record": true, "a": {"b": 1}}, {"@record": true, "a": [{"c": 2}]}])));
        let (one, _) = read(r#"{"a": {"b": 1}}"#, true);
        assert_eq!(one.ok(), Some(json!({"@record": true, "a": {"b": 1}})));
        let (nested, _) = read(r#"[[{"a": 1}]]"#, true);
        assert_eq!(nested.ok(), Some(json!([[{"a": 1}]])));
        let (plain, _) = read(r#"[{"a": 1}]"#, false);
        assert_eq!(plain.ok(), Some(json!([{"a": 1}])));
    }

    #[test]
    fn the_builders_error_comes_back_as_it_was() {
        let (v, _) = read(r#"[{"a": "ok"}, {"a": ["boom"]}]"#, false);
        match v {
            Err(Failed::Builder(e)) => assert_eq!(e, "the builder refused \"boom\""),
            other => panic!("expected the builder's error, got {other:?}"),
        }
    }

    #[test]
    fn text_that_is_not_one_json_value_is_a_text_error() {
        for bad in [r#"{"a": }"#, "[1, 2", "[1] [2]", "", r#"{"a": 1} x"#] {
            let (v, _) = read(bad, false);
            assert!(matches!(v, Err(Failed::Text(_))), "{bad:?} gave {v:?}");
        }
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        assert!(matches!(read(&deep, false).0, Err(Failed::Text(_))), "serde's recursion limit holds");
    }

    /// Arbitrary JSON values: odd strings (escapes, control characters, astral characters),
    /// numbers of every kind, and objects whose keys recur at other depths and in other orders,
    /// so the key guesses are wrong as often as right.
    fn json() -> impl Strategy<Value = Value> {
        let odd = ['"', '\\', '/', '\u{0}', '\u{1f}', '\n', '\u{7f}', '\u{e9}', '\u{2028}', '\u{1F600}', 'a'];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            "\\PC{0,12}".prop_map(Value::from),
            prop::collection::vec(prop::sample::select(odd.to_vec()), 0..8)
                .prop_map(|c| Value::from(c.into_iter().collect::<String>())),
        ];
        let key = prop_oneof![
            prop::sample::select(vec!["id", "name", "user", "a\"b", "é", ""]).prop_map(String::from),
            "\\PC{0,6}"
        ];
        leaf.prop_recursive(5, 48, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

        /// Whatever `serde_json` writes, compact or pretty, one text or several through one
        /// reader (keys shared across them), reads back as the value it was.
        #[test]
        fn any_value_reads_back_as_written(values in prop::collection::vec(json(), 1..4), records in any::<bool>()) {
            let texts: Vec<String> = values
                .iter()
                .flat_map(|v| [v.to_string(), serde_json::to_string_pretty(v).unwrap_or_default()])
                .collect();
            let mut r = Reader::new(Values::default());
            for (text, v) in texts.iter().zip(values.iter().flat_map(|v| [v, v])) {
                let got = r.parse(text, records).ok().map(|mut got| {
                    strip_marks(&mut got);
                    got
                });
                prop_assert_eq!(got.as_ref(), Some(v), "{}", text);
            }
        }
    }

    /// `got` without the `"@record"` marks the test builder adds to records (a value's own
    /// `"@record"` key, were one generated, would go too: the generator never makes one).
    fn strip_marks(got: &mut Value) {
        match got {
            Value::Object(m) => {
                m.remove("@record");
                m.values_mut().for_each(strip_marks);
            }
            Value::Array(items) => items.iter_mut().for_each(strip_marks),
            _ => {}
        }
    }
}
