//! `paginate`: an async stream of pages that follows a connector's cursor, for local handles
//! and hosted executors alike.
//!
//! Where the next page's cursor comes from is the spec's business (`x-pagination`, or
//! inferred): [`next_page`] reads it from a page *before* any field trimming, and the runtime
//! puts it on the result ([`ExecutionResult::next_page`]); the engine forwards it as
//! `connector_metadata.next_page`. So the stream here needs no spec: local and hosted pages
//! carry their own next step, and trimming the cursor field away never ends the pages early.
//!
//! Dependencies flow one way: this module knows runners only through the [`Executor`] trait
//! (which [`crate::Connector`] and [`crate::HostedExecutor`] implement) and the plain call types
//! of [`crate::execution`]; it never imports the connector or hosted modules.

use futures::future::BoxFuture;
use futures::Stream;
use serde_json::{Map, Value};

use crate::error::Result;
use crate::execution::{ExecuteOptions, ExecutionResult};
use crate::spec::Operation;
use crate::wire::NextPage;

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

/// The page after one of `op`'s answers (records `data`, meta `meta`, untrimmed), if any.
pub fn next_page(op: &Operation, data: &Value, meta: &Map<String, Value>) -> Option<NextPage> {
    let pg = op.pagination.as_ref()?;
    if let Some(flag) = &pg.has_more {
        if meta.get(flag).and_then(Value::as_bool) == Some(false) {
            return None;
        }
    }
    let cursor = if let Some(m) = &pg.meta {
        meta.get(m).cloned()
    } else if let Some(field) = &pg.from_last_record {
        data.as_array().and_then(|a| a.last()).and_then(|r| r.get(field)).cloned()
    } else {
        None
    };
    let empty_page = data.as_array().is_some_and(Vec::is_empty);
    match cursor {
        Some(Value::Null) | None => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(_) if empty_page => None,
        Some(cursor) => Some(NextPage { param: pg.param.clone(), cursor }),
    }
}

struct State<E> {
    exec: E,
    entity: String,
    action: String,
    params: Value,
    options: ExecuteOptions,
    done: bool,
    seen: Vec<Value>,
}

/// Pages through `entity` / `action` until the last page (or a repeated cursor, or an error,
/// which ends the stream after it is yielded).
pub fn pages<E: Executor>(
    exec: E,
    entity: &str,
    action: &str,
    params: Value,
    options: ExecuteOptions,
) -> impl Stream<Item = Result<ExecutionResult>> + Send + 'static {
    let st =
        State { exec, entity: entity.into(), action: action.into(), params, options, done: false, seen: Vec::new() };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        let page = match st.exec.execute_page(&st.entity, &st.action, st.params.clone(), &st.options).await {
            Err(e) => {
                st.done = true;
                return Some((Err(e), st));
            }
            Ok(page) => page,
        };
        match &page.next_page {
            Some(next) if !st.seen.contains(&next.cursor) => {
                st.seen.push(next.cursor.clone());
                if !st.params.is_object() {
                    st.params = Value::Object(Map::new());
                }
                if let Value::Object(m) = &mut st.params {
                    m.insert(next.param.clone(), next.cursor.clone());
                }
            }
            _ => st.done = true,
        }
        Some((Ok(page), st))
    })
}
