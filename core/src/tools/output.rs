//! Bounding of tool results so they fit a model's context, with a note saying what was cut.

use serde_json::{json, Value};

/// The key of the note [`bound_output`] adds when it cuts a result.
pub const TRUNCATED_KEY: &str = "_truncated";

/// Bounds a tool result to `max_chars` characters of compact JSON, for a model's context.
/// Returns the bounded value and whether anything was cut.
///
/// A value that fits is returned as it is. Otherwise:
/// - a list of records (the value itself if it is an array, else its top-level `data` or, failing
///   that, `result` array) loses trailing records until it fits. The note goes in a
///   `"_truncated"` key next to `data` / `result`, or, for a bare array, as a last element
///   `{"_truncated": "..."}`: `"showing N of M records to fit the output limit; ..."`. The rest
///   of the page is gone, and a next-page cursor in `meta` points past it, so the note asks for a
///   smaller page, fewer fields or a narrower query rather than the next page. When not even one
///   record fits, the first is kept with its long strings cut (ending in `…`).
/// - any other value has its long strings cut (ending in `…`), with a `"_truncated"` key when it
///   is an object.
///
/// Best effort: a value that cannot be made small enough (the note alone is ~200 characters) is
/// returned as small as this gets it.
pub fn bound_output(value: &Value, max_chars: usize) -> (Value, bool) {
    if json_chars(value) <= max_chars {
        return (value.clone(), false);
    }
    let slot = if value.is_array() {
        Some(None)
    } else {
        ["data", "result"].into_iter().find(|k| value.get(k).is_some_and(Value::is_array)).map(Some)
    };
    match slot {
        Some(key) => (bound_list(value, key, max_chars), true),
        None => bound_other(value, max_chars),
    }
}

/// The records of `value` at `key` (or `value` itself) cut to the most that fit.
fn bound_list(value: &Value, key: Option<&str>, max_chars: usize) -> Value {
    let items: &[Value] = match key {
        None => value.as_array(),
        Some(k) => value.get(k).and_then(Value::as_array),
    }
    .map(Vec::as_slice)
    .unwrap_or_default();
    let total = items.len();
    let assemble = |kept: Vec<Value>, cut_text: bool| {
        let note = format!(
            "showing {} of {total} records{} to fit the output limit; the rest of this page was dropped \
             (the next page, next_page_params or a cursor in meta, skips them): ask for a smaller page, fewer \
             fields (select_fields) or a narrower query",
            kept.len(),
            if cut_text { ", long text cut," } else { "" },
        );
        with_note(value, key, kept, note)
    };
    let fits = |v: &Value| json_chars(v) <= max_chars;
    // The largest count that fits: the whole list does not (it did not fit without the note).
    let (mut lo, mut hi) = (0usize, total.saturating_sub(1));
    let mut best: Option<Value> = None;
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        let candidate = assemble(items[..mid].to_vec(), false);
        if fits(&candidate) {
            best = Some(candidate);
            lo = mid + 1;
        } else if mid == 0 {
            break;
        } else {
            hi = mid - 1;
        }
    }
    let kept = best.as_ref().map_or(0, |b| kept_count(b, key));
    if kept > 0 {
        return best.unwrap_or_else(|| assemble(Vec::new(), false));
    }
    // Not one whole record fits: keep the first with its text cut, if that fits.
    if let Some(first) = items.first() {
        if let Some(v) = fit_by_cutting(first, max_chars, |r| assemble(vec![r], true)) {
            return v;
        }
    }
    best.unwrap_or_else(|| assemble(Vec::new(), false))
}

/// How many records a value made by `bound_list` holds.
fn kept_count(v: &Value, key: Option<&str>) -> usize {
    match key {
        None => v.as_array().map_or(0, |a| a.len().saturating_sub(1)),
        Some(k) => v.get(k).and_then(Value::as_array).map_or(0, Vec::len),
    }
}

/// `value` with its records replaced by `kept` and the note added.
fn with_note(value: &Value, key: Option<&str>, kept: Vec<Value>, note: String) -> Value {
    match (key, value) {
        (Some(k), Value::Object(m)) => {
            let mut m = m.clone();
            m.insert(k.to_string(), Value::Array(kept));
            m.insert(TRUNCATED_KEY.to_string(), Value::String(note));
            Value::Object(m)
        }
        _ => {
            let mut kept = kept;
            kept.push(json!({ TRUNCATED_KEY: note }));
            Value::Array(kept)
        }
    }
}

/// A value with no list: its long strings cut, a note added to an object.
fn bound_other(value: &Value, max_chars: usize) -> (Value, bool) {
    if longest_string(value) == 0 {
        return (value.clone(), false);
    }
    let assemble = |v: Value| match v {
        Value::Object(mut m) => {
            m.insert(
                TRUNCATED_KEY.to_string(),
                json!("long text values were cut (ending in …) to fit the output limit; ask for fewer fields (select_fields) or a narrower request"),
            );
            Value::Object(m)
        }
        other => other,
    };
    let out = fit_by_cutting(value, max_chars, assemble).unwrap_or_else(|| assemble(cut_strings(value, 0)));
    (out, true)
}

/// `assemble(v with every string cut to the longest length that makes the result fit)`, or
/// `None` when even cutting every string to nothing does not.
fn fit_by_cutting(v: &Value, max_chars: usize, assemble: impl Fn(Value) -> Value) -> Option<Value> {
    let attempt = |len: usize| {
        let candidate = assemble(cut_strings(v, len));
        (json_chars(&candidate) <= max_chars).then_some(candidate)
    };
    let mut best = attempt(0)?;
    let (mut lo, mut hi) = (1usize, longest_string(v));
    while lo <= hi {
        let mid = lo + (hi - lo) / 2;
        match attempt(mid) {
            Some(c) => {
                best = c;
                lo = mid + 1;
            }
            None => hi = mid - 1,
        }
    }
    Some(best)
}

/// `v` with every string longer than `len` characters cut to `len` plus `…`.
fn cut_strings(v: &Value, len: usize) -> Value {
    match v {
        Value::String(s) if s.chars().count() > len => {
            Value::String(format!("{}…", s.chars().take(len).collect::<String>()))
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| cut_strings(x, len)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), cut_strings(x, len))).collect()),
        other => other.clone(),
    }
}

/// The length in characters of the longest string in `v`.
fn longest_string(v: &Value) -> usize {
    match v {
        Value::String(s) => s.chars().count(),
        Value::Array(a) => a.iter().map(longest_string).max().unwrap_or(0),
        Value::Object(m) => m.values().map(longest_string).max().unwrap_or(0),
        _ => 0,
    }
}

/// The length of `v` as compact JSON, in characters.
fn json_chars(v: &Value) -> usize {
    serde_json::to_string(v).map_or(usize::MAX, |s| s.chars().count())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"id": i, "title": format!("record number {i}")})).collect()
    }

    #[test]
    fn small_output_is_untouched() {
        let v = json!({"data": records(3), "meta": {"end_cursor": "c"}});
        assert_eq!(bound_output(&v, 10_000), (v.clone(), false));
    }

    #[test]
    fn data_lists_lose_trailing_records() {
        let v = json!({"data": records(100), "meta": {"end_cursor": "c"}});
        let (out, cut) = bound_output(&v, 1000);
        assert!(cut);
        assert!(json_chars(&out) <= 1000, "{}", json_chars(&out));
        let kept = out["data"].as_array().map_or(0, Vec::len);
        assert!(kept > 5 && kept < 100, "{kept}");
        assert_eq!(out["data"][0], v["data"][0]);
        assert_eq!(out["meta"], v["meta"]);
        let note = out[TRUNCATED_KEY].as_str().unwrap_or_default();
        assert!(note.starts_with(&format!("showing {kept} of 100 records to fit")), "{note}");
        // One more record would not have fitted.
        let more =
            with_note(&v, Some("data"), records(kept + 1), note.replace(&kept.to_string(), &(kept + 1).to_string()));
        assert!(json_chars(&more) > 1000);
    }

    #[test]
    fn result_lists_and_bare_arrays_are_bounded() {
        let v = json!({"result": records(50)});
        let (out, cut) = bound_output(&v, 800);
        assert!(cut && json_chars(&out) <= 800);
        assert!(out[TRUNCATED_KEY].as_str().is_some_and(|n| n.ends_with("of 50 records to fit the output limit; the rest of this page was dropped (the next page, next_page_params or a cursor in meta, skips them): ask for a smaller page, fewer fields (select_fields) or a narrower query")));

        let v = Value::Array(records(50));
        let (out, cut) = bound_output(&v, 800);
        assert!(cut && json_chars(&out) <= 800);
        let items = out.as_array().unwrap_or_else(|| panic!("{out}"));
        assert!(items.len() > 2);
        assert!(items[..items.len() - 1].iter().all(|r| r.get("id").is_some()));
        let last = &items[items.len() - 1];
        assert!(last[TRUNCATED_KEY]
            .as_str()
            .is_some_and(|n| n.starts_with(&format!("showing {} of 50", items.len() - 1))));
    }

    #[test]
    fn one_huge_record_keeps_its_start() {
        let v = json!({"data": [{"id": 1, "body": "x".repeat(5000)}, {"id": 2, "body": "y"}]});
        let (out, cut) = bound_output(&v, 1000);
        assert!(cut && json_chars(&out) <= 1000, "{out}");
        assert_eq!(out["data"][0]["id"], json!(1));
        assert!(out["data"][0]["body"].as_str().is_some_and(|b| b.starts_with("xxx") && b.ends_with('…')));
        assert!(out[TRUNCATED_KEY].as_str().is_some_and(|n| n.starts_with("showing 1 of 2 records, long text cut,")));
    }

    #[test]
    fn records_without_a_list_have_text_cut() {
        let v = json!({"id": 7, "content": "z".repeat(5000), "name": "short"});
        let (out, cut) = bound_output(&v, 600);
        assert!(cut && json_chars(&out) <= 600, "{out}");
        assert_eq!(out["id"], json!(7));
        assert_eq!(out["name"], json!("short"));
        assert!(out[TRUNCATED_KEY].as_str().is_some_and(|n| n.starts_with("long text values were cut")));

        let (out, cut) = bound_output(&json!("q".repeat(100)), 20);
        assert!(cut && json_chars(&out) <= 20, "{out}");
        assert_eq!(bound_output(&json!(12345), 2), (json!(12345), false));
    }
}
