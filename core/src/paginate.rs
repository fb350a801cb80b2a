//! `paginate`: an async stream of pages that follows a connector's cursor, for local handles
//! and hosted executors alike. The spec says which param takes the cursor and where it comes
//! from (`x-pagination`, or inferred).

use std::sync::Arc;

use futures::future::BoxFuture;
use futures::Stream;
use serde_json::{Map, Value};

use crate::connector::{ExecuteOptions, ExecutionResult};
use crate::error::Result;
use crate::request;
use crate::spec::ConnectorSpec;

/// Anything that runs one operation: a local [`crate::Connector`] or a hosted executor.
pub trait Executor: Clone + Send + Sync + 'static {
    /// Runs one operation.
    fn execute_page<'a>(
        &'a self,
        entity: &'a str,
        action: &'a str,
        params: Value,
        options: &'a ExecuteOptions,
    ) -> BoxFuture<'a, Result<ExecutionResult>>;
}

/// The `(param, cursor)` that asks for the page after `result`, if there is one.
pub fn next_cursor(
    spec: &ConnectorSpec,
    entity: &str,
    action: &str,
    result: &ExecutionResult,
) -> Result<Option<(String, Value)>> {
    let op = request::find_operation(spec, entity, action)?;
    let Some(pg) = &op.pagination else {
        return Ok(None);
    };
    if let Some(flag) = &pg.has_more {
        if result.meta.get(flag).and_then(Value::as_bool) == Some(false) {
            return Ok(None);
        }
    }
    let cursor = if let Some(m) = &pg.meta {
        result.meta.get(m).cloned()
    } else if let Some(field) = &pg.from_last_record {
        result.data.as_array().and_then(|a| a.last()).and_then(|r| r.get(field)).cloned()
    } else {
        None
    };
    let empty_page = result.data.as_array().is_some_and(Vec::is_empty);
    match cursor {
        Some(Value::Null) | None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(_) if empty_page => Ok(None),
        Some(c) => Ok(Some((pg.param.clone(), c))),
    }
}

struct State<E> {
    exec: E,
    spec: Arc<ConnectorSpec>,
    entity: String,
    action: String,
    params: Value,
    options: ExecuteOptions,
    /// A field requested only to read the cursor, removed before the page is yielded.
    strip: Option<String>,
    done: bool,
    seen: Vec<Value>,
}

/// Options that keep `field` in the records; returns the field when the caller's options
/// would have dropped it (so it is stripped again afterwards).
fn keep_field(mut options: ExecuteOptions, field: &str) -> (ExecuteOptions, Option<String>) {
    let mut strip = None;
    if !options.select_fields.is_empty() && !options.select_fields.iter().any(|f| f == field) {
        options.select_fields.push(field.to_string());
        strip = Some(field.to_string());
    }
    if options.exclude_fields.iter().any(|f| f == field) {
        options.exclude_fields.retain(|f| f != field);
        strip = Some(field.to_string());
    }
    (options, strip)
}

/// Pages through `entity` / `action` until the last page (or a repeated cursor, or an error,
/// which ends the stream after it is yielded).
///
/// When the cursor is a field of the last record (Stripe's `starting_after`), that field is
/// requested even if `select_fields` / `exclude_fields` would drop it, and dropped from the
/// records afterwards, so trimming never ends the pages early.
pub fn pages<E: Executor>(
    exec: E,
    spec: Arc<ConnectorSpec>,
    entity: &str,
    action: &str,
    params: Value,
    options: ExecuteOptions,
) -> impl Stream<Item = Result<ExecutionResult>> + Send + 'static {
    let cursor_field = request::find_operation(&spec, entity, action)
        .ok()
        .and_then(|op| op.pagination.as_ref())
        .and_then(|pg| pg.from_last_record.clone());
    let (options, strip) = match cursor_field {
        Some(f) => keep_field(options, &f),
        None => (options, None),
    };
    let st = State {
        exec,
        spec,
        entity: entity.into(),
        action: action.into(),
        params,
        options,
        strip,
        done: false,
        seen: Vec::new(),
    };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        let res = st.exec.execute_page(&st.entity, &st.action, st.params.clone(), &st.options).await;
        let mut page = match res {
            Err(e) => {
                st.done = true;
                return Some((Err(e), st));
            }
            Ok(page) => page,
        };
        let next = next_cursor(&st.spec, &st.entity, &st.action, &page);
        if let (Some(f), Value::Array(records)) = (&st.strip, &mut page.data) {
            for r in records.iter_mut().filter_map(Value::as_object_mut) {
                r.remove(f);
            }
        }
        match next {
            Ok(Some((param, cursor))) if !st.seen.contains(&cursor) => {
                st.seen.push(cursor.clone());
                match &mut st.params {
                    Value::Object(m) => {
                        m.insert(param, cursor);
                    }
                    other => {
                        let mut m = Map::new();
                        m.insert(param, cursor);
                        *other = Value::Object(m);
                    }
                }
            }
            _ => st.done = true,
        }
        Some((Ok(page), st))
    })
}
