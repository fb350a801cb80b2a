//! `paginate`: an async stream of pages that follows a connector's cursor, for local handles
//! and hosted executors alike.
//!
//! Where the next page's cursor comes from is the spec's business (`x-pagination`, or
//! inferred): [`next_page`] reads it from a page *before* any field trimming, and the runtime
//! puts it on the result ([`ExecutionResult::next_page`]); the engine forwards it as
//! `connector_metadata.next_page`. So the stream here needs no spec: local and hosted pages
//! carry their own next step, and trimming the cursor field away never ends the pages early.
//!
//! A cursor is read from the answer (an opaque token, the last record's field, or the next
//! page's URL) or computed from the request (the next offset or page number, see
//! [`PageStyle`]). A URL cursor is followed only on the connector's own server
//! ([`page_url`]): the credential never goes to a host the URL names.
//!
//! Dependencies flow one way: this module knows runners only through the [`Executor`] trait
//! (which [`crate::Connector`] and [`crate::HostedExecutor`] implement) and the plain call types
//! of [`crate::execution`]; it never imports the connector or hosted modules.

use std::borrow::Cow;

use futures::future::BoxFuture;
use futures::Stream;
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::execution::{ExecuteOptions, ExecutionResult, JsonExecution};
use crate::spec::{Operation, PageStyle, Pagination};
use crate::wire::NextPage;

/// Anything that runs one operation: a local [`crate::Connector`] or a hosted executor, each
/// for both kinds of page `P`: a tree ([`ExecutionResult`]) or JSON text ([`JsonExecution`]).
pub trait Executor<P>: Clone + Send + Sync + 'static {
    /// Runs one operation.
    fn execute_page<'a>(
        &'a self,
        entity: &'a str,
        action: &'a str,
        params: Value,
        options: &'a ExecuteOptions,
    ) -> BoxFuture<'a, Result<P>>;
}

/// A page: whatever it holds, it says how to ask for the next one.
pub trait Page: Send + 'static {
    fn next_page(&self) -> Option<&NextPage>;
}

impl Page for ExecutionResult {
    fn next_page(&self) -> Option<&NextPage> {
        self.next_page.as_ref()
    }
}

impl Page for JsonExecution {
    fn next_page(&self) -> Option<&NextPage> {
        self.next_page.as_ref()
    }
}

/// The page after one of `op`'s answers, if any: `params` the (validated) params the page was
/// asked with, `data` its records (after the record filter, before trimming), `meta` its meta
/// values and `fetched` the records the API sent on it before the record filter.
///
/// There is no next page when `has_more` says false (or `last_page` true), when the API sent no
/// records (unless the pagination says `empty_pages: follow`), when the
/// cursor is absent, null or empty, and for offset and page styles when `total` is reached
/// (or, without `total` and `has_more`, when the page is shorter than the `limit` asked for).
pub fn next_page(
    op: &Operation,
    params: &Map<String, Value>,
    data: &Value,
    meta: &Map<String, Value>,
    fetched: usize,
) -> Option<NextPage> {
    let pg = op.pagination.as_ref()?;
    let flag = |key: &Option<String>| key.as_ref().and_then(|k| meta.get(k)).and_then(Value::as_bool);
    // `last_page: true` (ClickUp) says the same as `has_more: false`.
    let more = flag(&pg.has_more).or_else(|| flag(&pg.last_page).map(|last| !last));
    if more == Some(false) {
        return None;
    }
    let cursor = match pg.style {
        PageStyle::Cursor => {
            if let Some(m) = &pg.meta {
                meta.get(m).cloned()
            } else if let Some(field) = &pg.from_last_record {
                data.as_array().and_then(|a| a.last()).and_then(|r| r.get(field)).cloned()
            } else {
                None
            }
        }
        PageStyle::Url => pg.meta.as_ref().and_then(|m| meta.get(m)).cloned(),
        PageStyle::Offset | PageStyle::Page => computed_cursor(op, pg, params, meta, fetched, more).map(Value::from),
    };
    let empty_page = op.returns_list() && fetched == 0;
    match cursor {
        Some(Value::Null) | None => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(_) if empty_page && !pg.follow_empty => None,
        Some(cursor) => Some(NextPage { param: pg.param.clone(), cursor }),
    }
}

/// A non-negative integer from a param or meta value (a number or its text).
fn whole(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => {
            n.as_u64().or_else(|| n.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64))
        }
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The next offset (this page's offset plus the records on it) or page number (this page's
/// plus one), unless this page is the last.
fn computed_cursor(
    op: &Operation,
    pg: &Pagination,
    params: &Map<String, Value>,
    meta: &Map<String, Value>,
    fetched: usize,
    more: Option<bool>,
) -> Option<u64> {
    if fetched == 0 {
        return None;
    }
    let fetched = fetched as u64;
    let given_or_default = |name: &str| -> Option<u64> {
        params.get(name).and_then(whole).or_else(|| op.param(name)?.default.as_ref().and_then(whole))
    };
    let first_page = op.param(&pg.param).and_then(|p| p.default.as_ref()).and_then(whole);
    let limit = pg.limit.as_deref().and_then(given_or_default);
    let (next, through) = match pg.style {
        PageStyle::Page => {
            let first = first_page.unwrap_or(1);
            let current = params.get(&pg.param).and_then(whole).unwrap_or(first);
            // Records up to the end of this page, counting from the first page.
            let through =
                current.saturating_sub(first).saturating_mul(limit.unwrap_or(fetched)).saturating_add(fetched);
            (current.saturating_add(1), through)
        }
        _ => {
            let current = params.get(&pg.param).and_then(whole).unwrap_or(first_page.unwrap_or(0));
            let next = current.saturating_add(fetched);
            (next, next)
        }
    };
    if let Some(total) = pg.total.as_ref().and_then(|t| meta.get(t)).and_then(whole) {
        return (through < total).then_some(next);
    }
    if more == Some(true) {
        return Some(next);
    }
    match limit {
        Some(limit) if fetched < limit => None,
        _ => Some(next),
    }
}

/// For a URL-style pagination: `params` without the param carrying the next page's URL, and
/// that URL when one is given. The rest of the params still shape the request (headers, body);
/// its path and query come from the URL.
pub fn split_url_cursor<'a>(
    op: &Operation,
    params: &'a Map<String, Value>,
) -> (Cow<'a, Map<String, Value>>, Option<String>) {
    let Some(pg) = op.pagination.as_ref().filter(|p| p.style == PageStyle::Url) else {
        return (Cow::Borrowed(params), None);
    };
    match params.get(&pg.param).and_then(Value::as_str).map(str::trim).filter(|u| !u.is_empty()) {
        None => (Cow::Borrowed(params), None),
        Some(url) => {
            let url = url.to_string();
            let mut rest = params.clone();
            rest.remove(&pg.param);
            (Cow::Owned(rest), Some(url))
        }
    }
}

/// The next page's URL `given` (absolute, an absolute path, or relative to `base`), checked to
/// be on the connector's server `base`: the same scheme, host and port, no user info, and a path
/// under the operation's own (`op_path` up to its first `{param}`, after the server's path), as
/// a provider's next-page links are. Any other is a `validation` error naming only the host or
/// path, so no request, and no credential, goes anywhere else: not to another host, and not to
/// another endpoint of the same API that the operation does not call. The URL's query is kept
/// as it is; its fragment is dropped.
pub fn page_url(base: &str, given: &str, param: &str, op_path: &str) -> Result<url::Url> {
    let refuse = |why: String| {
        Error::validation(format!("invalid params: param {param:?} {why}"))
            .with_details(serde_json::json!({"param": param}))
    };
    // A base ending in `/` keeps its last segment when a relative URL is joined to it.
    let server = url::Url::parse(&format!("{}/", base.trim_end_matches('/')))
        .map_err(|e| Error::configuration(format!("the connector's server URL is not a URL: {e}")))?;
    let mut url = server.join(given).map_err(|_| refuse("is not a URL or an absolute path".to_string()))?;
    let same_origin = url.scheme() == server.scheme()
        && url.host_str().map(str::to_ascii_lowercase) == server.host_str().map(str::to_ascii_lowercase)
        && url.port_or_known_default() == server.port_or_known_default();
    if !same_origin {
        let host = url.host_str().unwrap_or_default().to_string();
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        return Err(refuse(format!(
            "points at {}://{host}{port}, not the connector's server: a next-page URL is only followed on the server the connector talks to",
            url.scheme()
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("carries user info; a next-page URL may not".to_string()));
    }
    let prefix = format!("{}{}", server.path().trim_end_matches('/'), op_path.split('{').next().unwrap_or_default());
    // Dot segments were resolved by the URL parser; encoded ones (`%2e%2e`) are refused.
    let lowered = url.path().to_ascii_lowercase();
    if !url.path().starts_with(&prefix) || lowered.contains("%2e") || lowered.contains("%2f") {
        return Err(refuse(format!(
            "points at {}, outside this operation's path {prefix}: a next-page URL is only followed within it",
            url.path()
        )));
    }
    url.set_fragment(None);
    Ok(url)
}

/// The URL to send for a next page `url` (from [`page_url`]) with the auth's query params
/// (`auth`, an API key in the query) added: pairs of the URL's own query named like one of them
/// are dropped first, the rest are kept byte for byte.
pub fn page_request_url(url: &url::Url, auth: &[(String, String)]) -> String {
    let mut out = url.clone();
    let kept: Vec<&str> = url
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            let key =
                url::form_urlencoded::parse(key.as_bytes()).next().map(|(k, _)| k.into_owned()).unwrap_or_default();
            !auth.iter().any(|(name, _)| *name == key)
        })
        .collect();
    let mut query = kept.join("&");
    if !auth.is_empty() {
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&url::form_urlencoded::Serializer::new(String::new()).extend_pairs(auth).finish());
    }
    out.set_query((!query.is_empty()).then_some(query.as_str()));
    out.to_string()
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
pub fn pages<P: Page, E: Executor<P>>(
    exec: E,
    entity: &str,
    action: &str,
    params: Value,
    options: ExecuteOptions,
) -> impl Stream<Item = Result<P>> + Send + 'static {
    let st =
        State { exec, entity: entity.into(), action: action.into(), params, options, done: false, seen: Vec::new() };
    futures::stream::unfold(st, |mut st| async move {
        if st.done {
            return None;
        }
        // Paging runs an operation again and again: a write would be made once per page, and
        // even once is not what a caller asking for pages means.
        if matches!(st.action.as_str(), "create" | "update" | "delete") {
            st.done = true;
            let e = Error::validation(format!(
                "paginate reads the pages of a list, and {} {} writes: call execute to run it once",
                st.entity, st.action
            ))
            .with_details(serde_json::json!({"entity": st.entity, "action": st.action}));
            return Some((Err(e), st));
        }
        let page = match st.exec.execute_page(&st.entity, &st.action, st.params.clone(), &st.options).await {
            Err(e) => {
                st.done = true;
                return Some((Err(e), st));
            }
            Ok(page) => page,
        };
        match page.next_page() {
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
