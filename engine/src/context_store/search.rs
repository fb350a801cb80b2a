//! `context_store_search` and `context_store_sql_query` over one workspace's cache file.
//!
//! Search parses the reference's `{query: {filter, sort}, limit, cursor, fields}` with
//! `switchboard_core::store_filter` and runs the compiled SQL (values bound, never spliced).
//! SQL runs on a connection opened read-only (`SQLITE_OPEN_READONLY`, `query_only`, no attached
//! databases allowed by `SQLITE_LIMIT_ATTACHED = 0`) with an authorizer that allows reads,
//! selects, functions (bar a few) and information pragmas only, so a write, ATTACH/DETACH, a
//! transaction or a state-changing pragma is refused by SQLite while the statement is prepared;
//! a progress handler stops a statement past [`TIME_LIMIT`], and at most `limit` rows are read.
//! The connector's synced entities are temp views named by the entity (`customers`), with
//! columns `id`, `record` (the JSON) and `synced_at`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::limits::Limit;
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{params_from_iter, Connection};
use serde_json::{json, Map, Value};
use switchboard_core::spec::ConnectorSpec;
use switchboard_core::store_filter::{compile_order, compile_where, parse_fields, parse_query, project, SqlParam};
use switchboard_core::ErrorCode;

use super::refused;
use super::store::{open_ro, table_exists, table_name, valid_entity};
use crate::error::{ApiError, ApiResult};

/// Longest a search or SQL statement may run.
pub const TIME_LIMIT: Duration = Duration::from_secs(5);
/// Records a search answers when the caller gives no limit, and the most it may ask for.
pub const SEARCH_LIMIT: u64 = 1000;
/// Rows a SQL query answers when the caller gives no limit.
pub const SQL_DEFAULT_LIMIT: u64 = 1000;
/// Most rows a SQL query may ask for.
pub const SQL_MAX_LIMIT: u64 = 10_000;
/// Longest SQL text.
pub const SQL_MAX_LEN: usize = 100_000;
/// Most bytes of records or rows one answer holds (about: JSON's own punctuation aside). A
/// search page stops before it (`has_more`, with a cursor for the rest); a SQL query that would
/// pass it is refused, and SQLite refuses to build a longer value (`SQLITE_LIMIT_LENGTH`), so a
/// query such as `printf('%.*c', 1e9, 'x')` cannot make the engine hold it.
pub const ANSWER_LIMIT: usize = 16 << 20;

/// The top-level field names of `entity`'s records, when its list declares a record schema.
pub fn entity_fields(spec: &ConnectorSpec, entity: &str) -> Option<BTreeSet<String>> {
    let op = spec.operation(entity, "list").or_else(|| spec.operation(entity, "get"))?;
    let props = op.record_schema()?.get("properties")?.as_object()?;
    let mut names: BTreeSet<String> = props.keys().cloned().collect();
    names.insert("id".into());
    Some(names)
}

fn invalid(reason: &str, message: impl Into<String>) -> ApiError {
    refused(ErrorCode::Validation, reason, message)
}

pub(super) fn not_synced(entity: &str) -> ApiError {
    invalid(
        "not_synced",
        format!(
            "{entity} of this connector is not in the context store: sync it first \
             (POST /api/v1/integrations/connectors/{{id}}/context-store/sync with {{\"entities\": [\"{entity}\"]}})"
        ),
    )
}

fn params_object(params: Value, allowed: &[&str]) -> ApiResult<Map<String, Value>> {
    let m = match params {
        Value::Null => Map::new(),
        Value::Object(m) => m,
        _ => return Err(invalid("invalid_params", "params must be an object")),
    };
    if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(
            "invalid_params",
            format!("unknown param {k:?}; this action takes {}", allowed.join(", ")),
        ));
    }
    Ok(m)
}

fn limit_of(m: &Map<String, Value>, default: u64, max: u64) -> ApiResult<u64> {
    match m.get("limit") {
        None | Some(Value::Null) => Ok(default),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(invalid("invalid_params", format!("limit is an integer from 1 to {max}"))),
        },
    }
}

/// A search cursor: the offset of the next page and a digest of the query it pages, so a
/// cursor given with another query is refused rather than silently misread.
pub(super) fn encode_cursor(offset: u64, digest: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}:{digest}"))
}

/// The largest offset a cursor may carry: far past any table's rows, and small enough that
/// the offset plus a page stays a SQL `bigint` (a cursor is the caller's text, so an offset
/// past `i64::MAX` would be a negative SQLite offset, a PostgreSQL range error, or an overflow).
const MAX_CURSOR_OFFSET: u64 = 1 << 48;

fn decode_cursor(c: &str, digest: &str) -> Option<u64> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(c).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (offset, d) = text.strip_prefix("o:")?.split_once(':')?;
    (d == digest).then_some(())?;
    offset.parse().ok().filter(|o| *o <= MAX_CURSOR_OFFSET)
}

fn query_digest(query: Option<&Value>) -> String {
    use sha2::{Digest, Sha256};
    let text = query.map(Value::to_string).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

fn to_sql(p: &SqlParam) -> SqlValue {
    match p {
        SqlParam::Null => SqlValue::Null,
        SqlParam::Int(i) => SqlValue::Integer(*i),
        SqlParam::Float(f) => SqlValue::Real(*f),
        SqlParam::Text(s) => SqlValue::Text(s.clone()),
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("context store: {e}"))
}

fn interrupted(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::OperationInterrupted)
}

pub(super) fn too_large() -> ApiError {
    invalid(
        "answer_too_large",
        format!(
            "the answer would pass {} MiB: select fewer columns or rows, or shorten long values (substr)",
            ANSWER_LIMIT >> 20
        ),
    )
}

fn time_limit() -> ApiError {
    invalid(
        "time_limit",
        format!("the query ran longer than the {} s limit and was stopped; narrow it", TIME_LIMIT.as_secs()),
    )
}

/// A search's params, checked: the parsed query, the page, and the fields to keep.
pub(super) struct SearchParams {
    pub query: switchboard_core::store_filter::Query,
    pub limit: u64,
    pub offset: u64,
    /// Of the query, binding its cursors to it.
    pub digest: String,
    pub paths: Option<Vec<Vec<String>>>,
}

/// Checks a search's params (`query`, `limit`, `cursor`, `fields`), the same for every cache.
pub(super) fn parse_search(mut params: Value, fields: Option<&BTreeSet<String>>) -> ApiResult<SearchParams> {
    nul_free(&mut params);
    let m = params_object(params, &["query", "limit", "cursor", "fields"])?;
    let query = parse_query(m.get("query").unwrap_or(&Value::Null), fields).map_err(|e| {
        invalid("invalid_query", e.to_string()).with_details(json!({"reason": "invalid_query", "at": e.at}))
    })?;
    let limit = limit_of(&m, SEARCH_LIMIT, SEARCH_LIMIT)?;
    let digest = query_digest(m.get("query"));
    let offset = match m.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(Value::String(c)) => decode_cursor(c, &digest)
            .ok_or_else(|| invalid("invalid_cursor", "cursor is not one this search answered for this query"))?,
        Some(_) => return Err(invalid("invalid_cursor", "cursor is the string meta.cursor of the previous answer")),
    };
    let paths = match m.get("fields") {
        None | Some(Value::Null) => None,
        Some(f) => Some(parse_fields(f).map_err(|e| invalid("invalid_params", e.to_string()))?),
    };
    Ok(SearchParams { query, limit, offset, digest, paths })
}

/// Every NUL in the strings and keys of `v` as U+FFFD: what either cache holds for a NUL in a
/// record (`sync::without_nul`), so a search for one finds it (PostgreSQL would refuse it).
fn nul_free(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('\0') => *s = crate::db::storable_text(s).into_owned(),
        Value::Array(a) => a.iter_mut().for_each(nul_free),
        Value::Object(m) => {
            if m.keys().any(|k| k.contains('\0')) {
                *m = std::mem::take(m)
                    .into_iter()
                    .map(|(k, v)| (crate::db::storable_text(&k).into_owned(), v))
                    .collect();
            }
            m.values_mut().for_each(nul_free);
        }
        _ => {}
    }
}

/// Runs a search; answers `{data, meta: {has_more, cursor, took_ms}}`.
pub async fn search(
    file: PathBuf,
    connector_id: String,
    entity: String,
    params: Value,
    fields: Option<BTreeSet<String>>,
    started: Instant,
) -> ApiResult<Value> {
    let SearchParams { query, limit, offset, digest, paths } = parse_search(params, fields.as_ref())?;
    if !valid_entity(&entity) || !file.exists() {
        return Err(not_synced(&entity));
    }
    let table = table_name(&connector_id, &entity);
    tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let conn = open_ro(&file).map_err(internal)?;
        if !table_exists(&conn, &table).map_err(internal)? {
            return Err(not_synced(&entity));
        }
        let deadline = Instant::now() + TIME_LIMIT;
        conn.progress_handler(10_000, Some(move || Instant::now() > deadline));
        let mut sql = format!("SELECT json(record) FROM \"{table}\"");
        let mut binds: Vec<SqlValue> = Vec::new();
        if let Some(f) = &query.filter {
            let w = compile_where(f, "record", Some("id"));
            sql.push_str(" WHERE ");
            sql.push_str(&w.text);
            binds.extend(w.params.iter().map(to_sql));
        }
        let order = compile_order(&query.sort, "record");
        sql.push_str(" ORDER BY ");
        if !order.text.is_empty() {
            sql.push_str(&order.text);
            sql.push_str(", ");
            binds.extend(order.params.iter().map(to_sql));
        }
        sql.push_str("id ASC LIMIT ? OFFSET ?");
        binds.push(SqlValue::Integer(limit as i64 + 1));
        binds.push(SqlValue::Integer(offset as i64));
        let mut stmt = conn.prepare(&sql).map_err(internal)?;
        let mut rows = stmt.query(params_from_iter(binds.iter())).map_err(internal)?;
        let (mut data, mut has_more, mut bytes) = (Vec::new(), false, 0);
        loop {
            let row = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) if interrupted(&e) => return Err(time_limit()),
                Err(e) => return Err(internal(e)),
            };
            if data.len() as u64 == limit {
                has_more = true;
                break;
            }
            let text: String = row.get(0).map_err(internal)?;
            bytes += text.len();
            if bytes > ANSWER_LIMIT && !data.is_empty() {
                has_more = true;
                break;
            }
            let record: Value = serde_json::from_str(&text).map_err(internal)?;
            data.push(match &paths {
                Some(p) => project(&record, p),
                None => record,
            });
        }
        let cursor = has_more.then(|| encode_cursor(offset + data.len() as u64, &digest));
        Ok(json!({
            "data": data,
            "meta": {"has_more": has_more, "cursor": cursor, "took_ms": started.elapsed().as_millis() as u64},
        }))
    })
    .await
    .map_err(internal)?
}

/// Pragmas a SQL query may run: they read the schema and change nothing.
const READ_PRAGMAS: [&str; 6] = ["table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo"];
/// Functions a SQL query may not call.
const DENIED_FUNCTIONS: [&str; 3] = ["load_extension", "fts3_tokenizer", "sqlite_offset"];

/// What the authorizer refused first, for the error.
type Refusal = Arc<Mutex<Option<(&'static str, String)>>>;

fn authorize(ctx: AuthContext<'_>, refusal: &Refusal) -> Authorization {
    let deny = |reason: &'static str, what: String| {
        let mut r = refusal.lock().unwrap_or_else(|e| e.into_inner());
        if r.is_none() {
            *r = Some((reason, what));
        }
        Authorization::Deny
    };
    match ctx.action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => Authorization::Allow,
        AuthAction::Function { function_name } => {
            if DENIED_FUNCTIONS.contains(&function_name.to_ascii_lowercase().as_str()) {
                deny("function_refused", format!("the function {function_name} is not allowed"))
            } else {
                Authorization::Allow
            }
        }
        AuthAction::Pragma { pragma_name, .. } => {
            if READ_PRAGMAS.contains(&pragma_name.to_ascii_lowercase().as_str()) {
                Authorization::Allow
            } else {
                deny(
                    "pragma_refused",
                    format!("PRAGMA {pragma_name} is not allowed (only {})", READ_PRAGMAS.join(", ")),
                )
            }
        }
        AuthAction::Attach { .. } | AuthAction::Detach { .. } => {
            deny("attach_refused", "ATTACH and DETACH are not allowed: a query reads only its workspace's cache".into())
        }
        _ => deny("write_refused", "the context store is read-only: only SELECT statements run".into()),
    }
}

/// Opens `file` read-only for one SQL query: temp views of the connector's synced entities,
/// then the authorizer, `query_only`, no attachments and the time limit.
fn sql_connection(file: &std::path::Path, connector_id: &str, refusal: Refusal) -> ApiResult<Connection> {
    let conn = open_ro(file).map_err(internal)?;
    let prefix = table_name(connector_id, "");
    let tables: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT name FROM main.sqlite_master WHERE type = 'table' AND substr(name, 1, length(?1)) = ?1")
            .map_err(internal)?;
        let rows = stmt.query_map([&prefix], |r| r.get::<_, String>(0)).map_err(internal)?;
        rows.collect::<Result<_, _>>().map_err(internal)?
    };
    for t in &tables {
        let entity = &t[prefix.len()..];
        if valid_entity(entity) {
            conn.execute_batch(&format!(
                "CREATE TEMP VIEW \"{entity}\" AS SELECT id, json(record) AS record, synced_at FROM main.\"{t}\""
            ))
            .map_err(internal)?;
        }
    }
    conn.pragma_update(None, "query_only", true).map_err(internal)?;
    conn.set_limit(Limit::SQLITE_LIMIT_ATTACHED, 0);
    conn.set_limit(Limit::SQLITE_LIMIT_LENGTH, i32::try_from(ANSWER_LIMIT).unwrap_or(i32::MAX));
    conn.authorizer(Some(move |ctx: AuthContext<'_>| authorize(ctx, &refusal)));
    let deadline = Instant::now() + TIME_LIMIT;
    conn.progress_handler(10_000, Some(move || Instant::now() > deadline));
    Ok(conn)
}

fn json_of(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => json!(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map(Value::Number).unwrap_or(Value::Null),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
    }
}

/// Checks a SQL query's params (`sql`, `limit`): the statement and the row limit.
pub(super) fn parse_sql(params: Value) -> ApiResult<(String, u64)> {
    let m = params_object(params, &["sql", "limit"])?;
    let sql = match m.get("sql") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= SQL_MAX_LEN => s.clone(),
        _ => {
            return Err(invalid("invalid_params", format!("sql is a SQL SELECT statement of 1 to {SQL_MAX_LEN} bytes")))
        }
    };
    Ok((sql, limit_of(&m, SQL_DEFAULT_LIMIT, SQL_MAX_LIMIT)?))
}

/// Runs one read-only SQL statement; answers `{data: [row objects], meta: {has_more, cursor:
/// null, took_ms}}`.
pub async fn sql_query(
    file: PathBuf,
    connector_id: String,
    entity: String,
    params: Value,
    started: Instant,
) -> ApiResult<Value> {
    let (sql, limit) = parse_sql(params)?;
    if !file.exists() {
        return Err(not_synced(&entity));
    }
    tokio::task::spawn_blocking(move || -> ApiResult<Value> {
        let refusal: Refusal = Arc::new(Mutex::new(None));
        let conn = sql_connection(&file, &connector_id, refusal.clone())?;
        let refused_or = |e: rusqlite::Error| -> ApiError {
            if let Some((reason, what)) = refusal.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return invalid(reason, what);
            }
            if interrupted(&e) {
                return time_limit();
            }
            if matches!(&e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::TooBig) {
                return too_large();
            }
            match e {
                rusqlite::Error::MultipleStatement => invalid("multiple_statements", "run one statement per query"),
                rusqlite::Error::SqliteFailure(_, Some(msg)) => invalid("sql_error", format!("SQL error: {msg}")),
                other => invalid("sql_error", format!("SQL error: {other}")),
            }
        };
        // One statement: a second one (even a harmless one) is refused, not ignored.
        let mut batch = rusqlite::Batch::new(&conn, &sql);
        let mut stmt = match batch.next() {
            Ok(Some(s)) => s,
            Ok(None) => return Err(invalid("invalid_params", "sql holds no statement")),
            Err(e) => return Err(refused_or(e)),
        };
        if !matches!(batch.next(), Ok(None)) {
            refusal.lock().unwrap_or_else(|e| e.into_inner()).take();
            return Err(invalid("multiple_statements", "run one statement per query"));
        }
        if !stmt.readonly() {
            return Err(invalid("write_refused", "the context store is read-only: only SELECT statements run"));
        }
        let names: Vec<String> = stmt.column_names().into_iter().map(str::to_string).collect();
        let mut rows = stmt.query([]).map_err(refused_or)?;
        let (mut data, mut has_more, mut bytes) = (Vec::new(), false, 0);
        loop {
            let row = match rows.next() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return Err(refused_or(e)),
            };
            if data.len() as u64 == limit {
                has_more = true;
                break;
            }
            let mut obj = Map::new();
            for (i, n) in names.iter().enumerate() {
                let value = row.get_ref(i).map_err(refused_or)?;
                bytes += n.len()
                    + 8
                    + match value {
                        ValueRef::Text(t) => t.len(),
                        ValueRef::Blob(b) => b.len().div_ceil(3) * 4,
                        _ => 16,
                    };
                if bytes > ANSWER_LIMIT {
                    return Err(too_large());
                }
                obj.insert(n.clone(), json_of(value));
            }
            data.push(Value::Object(obj));
        }
        Ok(json!({
            "data": data,
            "meta": {"has_more": has_more, "cursor": null, "took_ms": started.elapsed().as_millis() as u64},
        }))
    })
    .await
    .map_err(internal)?
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn cursors_carry_offsets_a_query_can_use() {
        let d = query_digest(None);
        assert_eq!(decode_cursor(&encode_cursor(1000, &d), &d), Some(1000));
        assert_eq!(decode_cursor(&encode_cursor(1000, &d), "another"), None);
        assert_eq!(decode_cursor(&encode_cursor(MAX_CURSOR_OFFSET, &d), &d), Some(MAX_CURSOR_OFFSET));
        for forged in [MAX_CURSOR_OFFSET + 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(decode_cursor(&encode_cursor(forged, &d), &d), None, "{forged}");
        }
    }
}
