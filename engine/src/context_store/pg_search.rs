//! `context_store_search` and `context_store_sql_query` over a workspace's PostgreSQL cache
//! ([`super::pg`]).
//!
//! Search compiles the typed filter tree of `switchboard_core::store_filter` (the one the SQLite
//! cache compiles) to SQL over the `jsonb` column, every field path and value a bound
//! parameter, with the SQLite compiler's semantics: a field path is a chain of `->` keys (an
//! array is never indexed by a key, as with SQLite's quoted paths), comparisons are
//! type-strict, strings compare by code point (`COLLATE "C"`), numbers exactly, and every
//! condition is true or false, never NULL, so `not` is a plain negation. The text operators
//! need the shared Rust semantics (Unicode lowercase, words, fuzzy): for each one, the distinct
//! strings found at its field are matched in Rust with [`text_match`] (the function SQLite
//! calls) and the condition becomes "the field is one of the matching strings", bound as a
//! JSON array; sorting, limits and cursors then run in SQL as on SQLite.
//!
//! SQL runs in a `READ ONLY` transaction with `statement_timeout`, as the workspace's read-only
//! role (`SET LOCAL ROLE`), through the role's `SECURITY DEFINER` function `sb_sql`: the
//! database refuses writes, DDL, other schemas, server files and changing the role back. The
//! connector's synced entities are temporary views named by the entity, created (and rolled
//! back) in the query's transaction.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Map, Value};
use sqlx::{Any, Transaction};
use switchboard_core::store_filter::{project, text_match, CmpOp, Direction, FieldPath, Filter, Scalar};
use switchboard_core::ErrorCode;

use super::pg::{table_name, PgCache, SCHEMA_PREFIX};
use super::refused;
use super::search::{ANSWER_LIMIT, TIME_LIMIT};
use super::store::valid_entity;
use crate::error::{ApiError, ApiResult};

fn invalid(reason: &str, message: impl Into<String>) -> ApiError {
    refused(ErrorCode::Validation, reason, message)
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("context store (postgres): {}", scrub(&e.to_string())))
}

fn time_limit() -> ApiError {
    invalid(
        "time_limit",
        format!("the query ran longer than the {} s limit and was stopped; narrow it", TIME_LIMIT.as_secs()),
    )
}

/// `text` with every cache schema or role name replaced, so no answer names a workspace's.
fn scrub(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(SCHEMA_PREFIX) {
        out.push_str(&rest[..i]);
        let after = &rest[i + SCHEMA_PREFIX.len()..];
        let hex = after.bytes().take_while(u8::is_ascii_hexdigit).count();
        if hex >= 8 {
            out.push_str("<cache>");
            let mut tail = &after[hex..];
            if let Some(t) = tail.strip_prefix("_ro") {
                tail = t;
            }
            rest = tail;
        } else {
            out.push_str(SCHEMA_PREFIX);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

// ---------------------------------------------------------------- compiling

/// SQL text with `$n` parameters, every one bound as text (cast in the SQL).
#[derive(Default)]
struct Sql {
    text: String,
    params: Vec<String>,
}

impl Sql {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    /// Binds `v` and writes `$n::ty`.
    fn param(&mut self, v: String, ty: &str) {
        self.params.push(v);
        self.text.push_str(&format!("${}::{ty}", self.params.len()));
    }
}

/// A number operand as exact decimal text (its shortest round-trip form, as JSON writes it).
fn number_text(v: &Scalar) -> Option<String> {
    match v {
        Scalar::Int(i) => Some(i.to_string()),
        Scalar::Float(f) if f.is_finite() => Some(format!("{f:?}")),
        _ => None,
    }
}

/// The matching strings of each text condition, in the tree's order, as JSON arrays.
type TextSets = Vec<String>;

struct Compiler<'a> {
    sql: Sql,
    alias: usize,
    sets: &'a [String],
    next_set: usize,
}

impl Compiler<'_> {
    /// The jsonb value at `field` under `base` (`base -> $1::text -> $2::text`).
    fn value(&mut self, base: &str, field: &FieldPath) -> String {
        let mut s = format!("({base}");
        for seg in &field.0 {
            self.sql.params.push(seg.clone());
            s.push_str(&format!(" -> ${}::text", self.sql.params.len()));
        }
        s.push(')');
        s
    }

    fn filter(&mut self, f: &Filter, base: &str, root: bool) {
        match f {
            Filter::And(parts) | Filter::Or(parts) => {
                let join = if matches!(f, Filter::And(_)) { " AND " } else { " OR " };
                self.sql.push("(");
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        self.sql.push(join);
                    }
                    self.filter(p, base, root);
                }
                self.sql.push(")");
            }
            Filter::Not(inner) => {
                self.sql.push("(NOT ");
                self.filter(inner, base, root);
                self.sql.push(")");
            }
            Filter::Compare { field, op: CmpOp::Neq, value } => {
                self.sql.push("(NOT ");
                self.compare(base, field, CmpOp::Eq, value);
                self.sql.push(")");
            }
            Filter::Compare { field, op: CmpOp::Eq, value } if keyed(root, field, std::slice::from_ref(value)) => {
                let Scalar::Str(s) = value else { return };
                self.sql.push("(id = ");
                self.sql.param(s.clone(), "text");
                self.sql.push(" AND ");
                self.is_string(base, field);
                self.sql.push(")");
            }
            Filter::Compare { field, op, value } => self.compare(base, field, *op, value),
            Filter::In { field, values } if keyed(root, field, values) => {
                self.sql.push("(id IN (");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.sql.push(", ");
                    }
                    if let Scalar::Str(s) = v {
                        self.sql.param(s.clone(), "text");
                    }
                }
                self.sql.push(") AND ");
                self.is_string(base, field);
                self.sql.push(")");
            }
            Filter::In { field, values } => {
                self.sql.push("(");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        self.sql.push(" OR ");
                    }
                    self.compare(base, field, CmpOp::Eq, v);
                }
                self.sql.push(")");
            }
            Filter::Text { field, .. } => {
                let set = self.sets.get(self.next_set).cloned().unwrap_or_else(|| "[]".into());
                self.next_set += 1;
                let v = self.value(base, field);
                self.sql.push(&format!("(CASE WHEN jsonb_typeof({v}) = 'string' THEN ({v} #>> '{{}}') IN (SELECT jsonb_array_elements_text("));
                self.sql.param(set, "jsonb");
                self.sql.push(")) ELSE false END)");
            }
            Filter::ArrayContains { field, value } => {
                let v = self.value(base, field);
                let a = self.next_alias();
                self.sql.push(&format!(
                    "(CASE WHEN jsonb_typeof({v}) = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({v}) AS {a}(v) WHERE "
                ));
                self.typed_eq(&format!("{a}.v"), value);
                self.sql.push(") ELSE false END)");
            }
            Filter::Any { field, cond } => {
                let v = self.value(base, field);
                let a = self.next_alias();
                self.sql.push(&format!(
                    "(CASE WHEN jsonb_typeof({v}) = 'array' THEN EXISTS (SELECT 1 FROM jsonb_array_elements({v}) AS {a}(v) \
                     WHERE jsonb_typeof({a}.v) = 'object' AND "
                ));
                self.filter(cond, &format!("{a}.v"), false);
                self.sql.push(") ELSE false END)");
            }
        }
    }

    fn next_alias(&mut self) -> String {
        self.alias += 1;
        format!("e{}", self.alias)
    }

    fn is_string(&mut self, base: &str, field: &FieldPath) {
        let v = self.value(base, field);
        self.sql.push(&format!("COALESCE(jsonb_typeof({v}) = 'string', false)"));
    }

    /// A typed comparison, true or false (SQLite's: a null operand holds for null or missing, a
    /// boolean one for that boolean, whatever the operator).
    fn compare(&mut self, base: &str, field: &FieldPath, op: CmpOp, value: &Scalar) {
        let v = self.value(base, field);
        let sym = match op {
            CmpOp::Eq | CmpOp::Neq => "=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
        };
        match value {
            Scalar::Null => self.sql.push(&format!("COALESCE(jsonb_typeof({v}) = 'null', true)")),
            Scalar::Bool(b) => self.sql.push(&format!("COALESCE({v} = '{b}'::jsonb, false)")),
            Scalar::Str(s) => {
                self.sql.push(&format!(
                    "(CASE WHEN jsonb_typeof({v}) = 'string' THEN ({v} #>> '{{}}') COLLATE \"C\" {sym} "
                ));
                self.sql.param(s.clone(), "text");
                self.sql.push(" ELSE false END)");
            }
            Scalar::Int(_) | Scalar::Float(_) => {
                let Some(n) = number_text(value) else {
                    self.sql.push("false");
                    return;
                };
                self.sql.push(&format!("(CASE WHEN jsonb_typeof({v}) = 'number' THEN ({v})::numeric {sym} "));
                self.sql.param(n, "numeric");
                self.sql.push(" ELSE false END)");
            }
        }
    }

    /// Array element `elem` (jsonb) equal to `value`, typed.
    fn typed_eq(&mut self, elem: &str, value: &Scalar) {
        match value {
            Scalar::Null => self.sql.push(&format!("jsonb_typeof({elem}) = 'null'")),
            Scalar::Bool(b) => self.sql.push(&format!("{elem} = '{b}'::jsonb")),
            Scalar::Str(s) => {
                self.sql.push(&format!("(CASE WHEN jsonb_typeof({elem}) = 'string' THEN ({elem} #>> '{{}}') = "));
                self.sql.param(s.clone(), "text");
                self.sql.push(" ELSE false END)");
            }
            Scalar::Int(_) | Scalar::Float(_) => match number_text(value) {
                Some(n) => {
                    self.sql.push(&format!("(CASE WHEN jsonb_typeof({elem}) = 'number' THEN ({elem})::numeric = "));
                    self.sql.param(n, "numeric");
                    self.sql.push(" ELSE false END)");
                }
                None => self.sql.push("false"),
            },
        }
    }

    /// ORDER BY terms of the sort keys as SQLite orders `json_extract` values: missing and null
    /// first, then numbers (booleans as 0 and 1), then text by code point (objects and arrays as
    /// their JSON text).
    fn order(&mut self, sort: &[(FieldPath, Direction)]) -> String {
        let mut parts = Vec::new();
        for (field, dir) in sort {
            let d = if *dir == Direction::Asc { "ASC" } else { "DESC" };
            let v = self.value("record", field);
            parts.push(format!(
                "(CASE jsonb_typeof({v}) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1 WHEN 'string' THEN 2 \
                 WHEN 'object' THEN 2 WHEN 'array' THEN 2 ELSE 0 END) {d}"
            ));
            parts.push(format!(
                "(CASE jsonb_typeof({v}) WHEN 'number' THEN ({v})::numeric \
                 WHEN 'boolean' THEN (CASE WHEN {v} = 'true'::jsonb THEN 1 ELSE 0 END)::numeric END) {d}"
            ));
            parts.push(format!(
                "(CASE jsonb_typeof({v}) WHEN 'string' THEN ({v} #>> '{{}}') WHEN 'object' THEN {v}::text \
                 WHEN 'array' THEN {v}::text END) COLLATE \"C\" {d}"
            ));
        }
        parts.join(", ")
    }
}

/// Whether an `eq`/`in` of `field` with `values` (all strings) can use the `id` column.
fn keyed(root: bool, field: &FieldPath, values: &[Scalar]) -> bool {
    root && field.0.len() == 1 && field.0[0] == "id" && values.iter().all(|v| matches!(v, Scalar::Str(_)))
}

/// The text conditions of `f` in the tree's order, each with the `any` fields above it.
fn text_leaves<'a>(f: &'a Filter, chain: &mut Vec<&'a FieldPath>, out: &mut Vec<(Vec<&'a FieldPath>, &'a Filter)>) {
    match f {
        Filter::And(parts) | Filter::Or(parts) => parts.iter().for_each(|p| text_leaves(p, chain, out)),
        Filter::Not(inner) => text_leaves(inner, chain, out),
        Filter::Text { .. } => out.push((chain.clone(), f)),
        Filter::Any { field, cond } => {
            chain.push(field);
            text_leaves(cond, chain, out);
            chain.pop();
        }
        _ => {}
    }
}

/// For each text condition, the strings at its field (under its `any` fields) that satisfy it,
/// as a JSON array: read from the table, matched in Rust by [`text_match`].
async fn text_sets(
    tx: &mut Transaction<'static, Any>,
    table: &str,
    filter: &Filter,
    started: Instant,
) -> ApiResult<TextSets> {
    use futures::TryStreamExt;
    let mut leaves = Vec::new();
    text_leaves(filter, &mut Vec::new(), &mut leaves);
    let mut sets = Vec::with_capacity(leaves.len());
    // The strings read for all the conditions together, bounded as an answer is.
    let mut read = 0;
    for (chain, leaf) in leaves {
        let Filter::Text { field, op, value } = leaf else { continue };
        let mut c = Compiler { sql: Sql::default(), alias: 0, sets: &[], next_set: 0 };
        let mut from = format!("{table} AS t0");
        let mut base = "t0.record".to_string();
        for (i, any) in chain.iter().enumerate() {
            let v = c.value(&base, any);
            from.push_str(&format!(
                ", LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof({v}) = 'array' THEN {v} ELSE '[]'::jsonb END) \
                 AS a{i}(v)"
            ));
            base = format!("a{i}.v");
        }
        let v = c.value(&base, field);
        let sql = format!("SELECT DISTINCT ({v} #>> '{{}}') FROM {from} WHERE jsonb_typeof({v}) = 'string'");
        let mut q = sqlx::query_scalar::<_, String>(&sql);
        for p in &c.sql.params {
            q = q.bind(p.clone());
        }
        time_left(tx, started).await?;
        let mut values = q.fetch(&mut **tx);
        let mut matching = Vec::new();
        while let Some(s) = values.try_next().await.map_err(search_error)? {
            read += s.len();
            if read > ANSWER_LIMIT {
                return Err(invalid(
                    "too_broad",
                    format!(
                        "the text conditions (contains, like, keyword, fuzzy...) reach more than {} MiB of distinct \
                         strings at their fields; narrow the search with eq or in conditions, or fewer text conditions",
                        ANSWER_LIMIT >> 20
                    ),
                ));
            }
            if text_match(op.name(), &s, value) {
                matching.push(Value::String(s));
            }
        }
        sets.push(Value::Array(matching).to_string());
    }
    Ok(sets)
}

/// Gives the next statement of a search what is left of the search's time limit: the limit
/// bounds the search, not each of its statements.
async fn time_left(tx: &mut Transaction<'_, Any>, started: Instant) -> ApiResult<()> {
    let left = TIME_LIMIT.saturating_sub(started.elapsed()).as_millis();
    if left == 0 {
        return Err(time_limit());
    }
    sqlx::query(&format!("SET LOCAL statement_timeout = {left}")).execute(&mut **tx).await.map_err(internal)?;
    Ok(())
}

/// A turn among this engine's tenant queries ([`crate::db::Db::tenant_queries`]), waited for
/// within the query's time limit; none by then is `unavailable` (retry in a moment): the query
/// itself was not at fault.
async fn turn(queries: &Arc<tokio::sync::Semaphore>, started: Instant) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
    let left = TIME_LIMIT.saturating_sub(started.elapsed());
    match tokio::time::timeout(left, queries.clone().acquire_owned()).await {
        Ok(permit) => permit.map_err(internal),
        Err(_) => {
            let mut e = refused(
                ErrorCode::Unavailable,
                "busy",
                "the engine's database is busy with other context store queries; retry in a moment",
            );
            e.retry_after = Some(1.0);
            Err(e)
        }
    }
}

fn search_error(e: sqlx::Error) -> ApiError {
    if sqlstate(&e).as_deref() == Some("57014") {
        return time_limit();
    }
    internal(e)
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(d) => d.code().map(|c| c.into_owned()),
        _ => None,
    }
}

// ---------------------------------------------------------------- search

/// Runs a search on the PostgreSQL cache; the same params, answer and errors as
/// [`super::search::search`].
pub async fn search(
    cache: PgCache,
    connector_id: String,
    entity: String,
    params: Value,
    fields: Option<BTreeSet<String>>,
    started: Instant,
) -> ApiResult<Value> {
    let parsed = super::search::parse_search(params, fields.as_ref())?;
    if !valid_entity(&entity) || !cache.exists().await? || !cache.table_exists(&connector_id, &entity).await? {
        return Err(super::search::not_synced(&entity));
    }
    let table = cache.qualified(&table_name(&connector_id, &entity));
    let permit = turn(&cache.queries, started).await?;
    // A task of its own from here, the turn moved in: a search holds its turn and its
    // connection until the database is done with it (its time limit at most), even when its
    // caller goes away, or the turns would no longer bound the statements running on the server.
    let task = tokio::spawn(async move {
        let _turn = permit;
        let mut tx = cache.pool().begin().await.map_err(internal)?;
        let sets = match &parsed.query.filter {
            Some(f) => text_sets(&mut tx, &table, f, started).await?,
            None => Vec::new(),
        };
        let mut c = Compiler { sql: Sql::default(), alias: 0, sets: &sets, next_set: 0 };
        c.sql.push(&format!("SELECT record::text FROM {table}"));
        if let Some(f) = &parsed.query.filter {
            c.sql.push(" WHERE ");
            c.filter(f, "record", true);
        }
        let order = c.order(&parsed.query.sort);
        c.sql.push(" ORDER BY ");
        if !order.is_empty() {
            c.sql.push(&order);
            c.sql.push(", ");
        }
        c.sql.push("id COLLATE \"C\" ASC LIMIT ");
        c.sql.param((parsed.limit + 1).to_string(), "bigint");
        c.sql.push(" OFFSET ");
        c.sql.param(parsed.offset.to_string(), "bigint");
        let mut q = sqlx::query_scalar::<_, String>(&c.sql.text);
        for p in &c.sql.params {
            q = q.bind(p.clone());
        }
        time_left(&mut tx, started).await?;
        // Read row by row, and no further than the answer's bound (one record at least).
        let (mut data, mut bytes, mut has_more) = (Vec::new(), 0, false);
        {
            use futures::TryStreamExt;
            let mut rows = q.fetch(&mut *tx);
            while let Some(text) = rows.try_next().await.map_err(search_error)? {
                bytes += text.len();
                if data.len() as u64 == parsed.limit || (bytes > ANSWER_LIMIT && !data.is_empty()) {
                    has_more = true;
                    break;
                }
                let record: Value = serde_json::from_str(&text).map_err(internal)?;
                data.push(match &parsed.paths {
                    Some(p) => project(&record, p),
                    None => record,
                });
            }
        }
        let _ = tx.rollback().await;
        let cursor = has_more.then(|| super::search::encode_cursor(parsed.offset + data.len() as u64, &parsed.digest));
        Ok(json!({
            "data": data,
            "meta": {"has_more": has_more, "cursor": cursor, "took_ms": started.elapsed().as_millis() as u64},
        }))
    });
    task.await.map_err(internal)?
}

// ---------------------------------------------------------------- SQL

/// The typed error of a refused or failed SQL query, naming no schema or role. `readable` are
/// the relations the role may SELECT (the entities' views, the workspace's tables): a privilege
/// it lacks on one of them is a write.
fn sql_refusal(e: &sqlx::Error, readable: &[String]) -> ApiError {
    let sqlx::Error::Database(d) = e else { return internal(e) };
    let code = d.code().map(|c| c.into_owned()).unwrap_or_default();
    let message = d.message().to_string();
    let read_only = "the context store is read-only: only SELECT statements run";
    match code.as_str() {
        // query_canceled: the statement timeout.
        "57014" => time_limit(),
        // read_only_sql_transaction: a write or DDL.
        "25006" => invalid("write_refused", read_only),
        // invalid_cursor_definition: a statement that returns no rows (a write, DDL, SET,
        // COPY...), or several statements.
        "42P11" if message.contains("multi-query") => invalid("multiple_statements", "run one statement per query"),
        "42P11" if message.contains("open SET query") || message.contains("open RESET query") => {
            invalid("pragma_refused", "settings (SET, RESET) cannot be changed by a query")
        }
        "42P11" => invalid("write_refused", read_only),
        "42601" if message.contains("multiple commands") => {
            invalid("multiple_statements", "run one statement per query")
        }
        // insufficient_privilege.
        "42501" if message.starts_with("permission denied for function") => {
            invalid("function_refused", format!("the function is not allowed: {}", scrub(&message)))
        }
        "42501" if message.contains("parameter") => {
            invalid("pragma_refused", format!("settings cannot be changed by a query: {}", scrub(&message)))
        }
        "42501"
            if ["table", "view"].iter().any(|kind| {
                message
                    .strip_prefix(&format!("permission denied for {kind} "))
                    .is_some_and(|name| readable.iter().any(|r| r == name))
            }) =>
        {
            invalid("write_refused", read_only)
        }
        "42501" => {
            invalid("sql_error", "SQL error: permission denied: a query reads only its own workspace's cached tables")
        }
        _ => invalid("sql_error", format!("SQL error: {}", scrub(&message))),
    }
}

/// Runs one read-only SQL statement on the PostgreSQL cache; the same params and answer as
/// [`super::search::sql_query`].
pub async fn sql_query(
    cache: PgCache,
    connector_id: String,
    entity: String,
    params: Value,
    started: Instant,
) -> ApiResult<Value> {
    let (sql, limit) = super::search::parse_sql(params)?;
    let entities = cache.synced_entities(&connector_id).await?;
    if entities.is_empty() {
        return Err(super::search::not_synced(&entity));
    }
    let permit = turn(&cache.queries, started).await?;
    // A task of its own, the turn moved in, as a search's.
    let task = tokio::spawn(async move {
        let _turn = permit;
        let mut conn = cache.pool().acquire().await.map_err(internal)?;
        let result = run_sql(&mut conn, &cache, &connector_id, &entities, &sql, limit, started).await;
        // Session state a query could leave on the pooled connection despite the rollback.
        if sqlx::query("SELECT count(*) FROM (SELECT pg_advisory_unlock_all()) AS u").execute(&mut *conn).await.is_err()
        {
            conn.detach();
        }
        result
    });
    let rows = task.await.map_err(internal)??;
    let has_more = rows.len() as u64 > limit;
    let mut data = Vec::with_capacity(rows.len());
    for text in rows.into_iter().take(limit as usize) {
        let row: Value = serde_json::from_str(&text).map_err(internal)?;
        data.push(match row {
            Value::Object(m) => Value::Object(m),
            other => Value::Object(Map::from_iter([("value".to_string(), other)])),
        });
    }
    Ok(json!({
        "data": data,
        "meta": {"has_more": has_more, "cursor": null, "took_ms": started.elapsed().as_millis() as u64},
    }))
}

async fn run_sql(
    conn: &mut sqlx::pool::PoolConnection<Any>,
    cache: &PgCache,
    connector_id: &str,
    entities: &[String],
    sql: &str,
    limit: u64,
    started: Instant,
) -> ApiResult<Vec<String>> {
    use sqlx::Connection;
    let mut tx = conn.begin().await.map_err(internal)?;
    // What is left of the query's time limit after its wait for a turn and a connection.
    time_left(&mut tx, started).await?;
    let setup = async {
        // The connector's entities, by name: temporary views, gone with the rollback.
        for e in entities {
            let table = cache.qualified(&table_name(connector_id, e));
            sqlx::query(&format!("CREATE TEMPORARY VIEW \"{e}\" AS SELECT id, record, synced_at FROM {table}"))
                .persistent(false)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!("GRANT SELECT ON pg_temp.\"{e}\" TO \"{}\"", cache.role))
                .persistent(false)
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("SET TRANSACTION READ ONLY").execute(&mut *tx).await?;
        sqlx::query(&format!("SET LOCAL ROLE \"{}\"", cache.role)).persistent(false).execute(&mut *tx).await?;
        sqlx::query(&format!("SET LOCAL search_path = \"{}\"", cache.schema))
            .persistent(false)
            .execute(&mut *tx)
            .await?;
        Ok::<(), sqlx::Error>(())
    }
    .await;
    setup.map_err(internal)?;
    // Each row cut one character past the answer's bound, so no row longer than that (at most 4
    // bytes a character) reaches this process; rows are read one by one until the bound.
    let rows = {
        use futures::TryStreamExt;
        let text = format!("SELECT left(r, $3::integer) FROM \"{}\".sb_sql($1, $2) AS r", cache.schema);
        let mut stream = sqlx::query_scalar::<_, String>(&text)
            .bind(sql)
            .bind(limit as i64 + 1)
            .bind(ANSWER_LIMIT as i64 + 1)
            .fetch(&mut *tx);
        let (mut rows, mut bytes) = (Vec::new(), 0);
        loop {
            match stream.try_next().await {
                Ok(Some(r)) => {
                    bytes += r.len();
                    if bytes > ANSWER_LIMIT {
                        break Ok(None);
                    }
                    rows.push(r);
                }
                Ok(None) => break Ok(Some(rows)),
                Err(e) => break Err(e),
            }
        }
    };
    let _ = tx.rollback().await;
    let mut readable: Vec<String> = entities.iter().map(|e| table_name(connector_id, e)).collect();
    readable.extend(entities.iter().cloned());
    readable.push("sync_state".into());
    rows.map_err(|e| sql_refusal(&e, &readable))?.ok_or_else(super::search::too_large)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use switchboard_core::ErrorCode;
    use tokio::sync::Semaphore;

    use super::{scrub, search_error, time_left, turn, TIME_LIMIT};

    fn reason(e: &crate::error::ApiError) -> Option<&str> {
        e.details.as_ref().and_then(|d| d["reason"].as_str())
    }

    /// A search waits for a turn among the engine's tenant queries within what is left of its
    /// own time limit, then gives up with `unavailable` (reason `busy`, retry in a second): the
    /// query was not at fault. A turn freed while it waits is taken.
    #[tokio::test]
    async fn a_turn_is_waited_for_within_the_searchs_time_limit() {
        let queries = Arc::new(Semaphore::new(0));
        let started = Instant::now() - (TIME_LIMIT - Duration::from_millis(150));
        let waited = Instant::now();
        let e = turn(&queries, started).await.err().unwrap_or_else(|| panic!("a turn out of none"));
        assert!(waited.elapsed() < Duration::from_secs(2), "waited {:?}, past the search's limit", waited.elapsed());
        assert_eq!((e.code, reason(&e), e.retry_after), (ErrorCode::Unavailable, Some("busy"), Some(1.0)));

        let freed = queries.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            freed.add_permits(1);
        });
        let permit = turn(&queries, Instant::now()).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(queries.available_permits(), 0);
        drop(permit);
        assert_eq!(queries.available_permits(), 1, "the turn is given back");
        // A search whose time is up is not kept waiting for one.
        let e = turn(&Arc::new(Semaphore::new(0)), Instant::now() - TIME_LIMIT).await.err();
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::Unavailable));
    }

    /// The time limit bounds a search as a whole: each statement gets what is left of it, and
    /// none once it is spent. A statement that would have fit the whole limit is stopped when
    /// the search's earlier steps used most of it. On the PostgreSQL the tests start (under
    /// `CI` it must be there).
    #[tokio::test]
    async fn each_statement_of_a_search_gets_what_is_left_of_its_limit() {
        let Ok(url) = std::env::var("SWITCHBOARD_TEST_DATABASE_URL") else {
            assert!(std::env::var_os("CI").is_none(), "SWITCHBOARD_TEST_DATABASE_URL must be set in CI");
            eprintln!("left out: SWITCHBOARD_TEST_DATABASE_URL is not set");
            return;
        };
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&url).await.unwrap_or_else(|e| panic!("{e}"));
        let sleep = "SELECT pg_sleep(1)::text";

        // A fresh search: a one-second statement runs.
        let mut tx = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
        time_left(&mut tx, Instant::now()).await.unwrap_or_else(|e| panic!("{e:?}"));
        sqlx::query(sleep).execute(&mut *tx).await.unwrap_or_else(|e| panic!("{e}"));
        let _ = tx.rollback().await;

        // The same statement, 300 ms before the search's limit: stopped, as `time_limit`.
        let mut tx = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
        time_left(&mut tx, Instant::now() - (TIME_LIMIT - Duration::from_millis(300)))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        let ran = Instant::now();
        let e = sqlx::query(sleep).execute(&mut *tx).await.map_err(search_error).err();
        let e = e.unwrap_or_else(|| panic!("the statement outlived the search's limit"));
        assert_eq!((e.code, reason(&e)), (ErrorCode::Validation, Some("time_limit")), "{e:?}");
        assert!(ran.elapsed() < Duration::from_millis(900), "stopped after {:?}", ran.elapsed());
        let _ = tx.rollback().await;

        // Spent: no statement at all.
        let mut tx = pool.begin().await.unwrap_or_else(|e| panic!("{e}"));
        let e = time_left(&mut tx, Instant::now() - TIME_LIMIT).await.err();
        assert_eq!(e.as_ref().and_then(reason), Some("time_limit"));
        let _ = tx.rollback().await;
        pool.close().await;
    }

    #[test]
    fn scrub_hides_cache_names() {
        let s = "permission denied for schema sb_cs_0123456789abcdef0123456789abcdef and role sb_cs_0123456789abcdef0123456789abcdef_ro; sb_cs_x stays";
        assert_eq!(scrub(s), "permission denied for schema <cache> and role <cache>; sb_cs_x stays");
    }
}
