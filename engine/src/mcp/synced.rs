//! Which entities of the listed connectors have records in the context store, for `/mcp`'s tool
//! list: read fresh on every call (so a sync that just ended is seen at once, by every replica),
//! but with one query per workspace cache rather than a full status per connector. A workspace's
//! cache is its SQLite file, or its schema when the main store is PostgreSQL.

use std::collections::{BTreeSet, HashMap};

use crate::context_store::pg::PgCache;
use crate::context_store::store::{open_ro, table_exists, workspace_file};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Rows of a cache's `sync_state` whose entity is searchable: the last sync succeeded, or an
/// earlier one left records (the rule `sync::status` readers applied, from the columns every
/// cache has had since the first increment).
const SYNCED: &str = "SELECT connector_id, entity FROM {table} WHERE status = 'succeeded' OR record_count > 0 \
                      ORDER BY entity";

fn store_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("context store: {e}"))
}

/// For each of `connectors` (connector id, workspace id, all of organization `org`), in order,
/// the names of its synced entities (sorted). One read per distinct workspace: a query of its
/// SQLite file, or on PostgreSQL a check that its schema exists and a query of it.
pub async fn synced_entities(st: &AppState, org: &str, connectors: &[(&str, &str)]) -> ApiResult<Vec<Vec<String>>> {
    let workspaces: BTreeSet<&str> = connectors.iter().map(|(_, ws)| *ws).collect();
    let mut found: HashMap<String, Vec<String>> = HashMap::new();
    for ws in workspaces {
        for (connector, entity) in workspace_rows(st, org, ws).await? {
            found.entry(connector).or_default().push(entity);
        }
    }
    Ok(connectors.iter().map(|(id, _)| found.get(*id).cloned().unwrap_or_default()).collect())
}

/// `(connector id, entity)` of the synced entities in the cache of workspace `ws`.
async fn workspace_rows(st: &AppState, org: &str, ws: &str) -> ApiResult<Vec<(String, String)>> {
    if let Some(cache) = PgCache::of_workspace(&st.db, org, ws) {
        if !cache.exists().await? {
            return Ok(Vec::new());
        }
        let sql = SYNCED.replace("{table}", &cache.qualified("sync_state"));
        return sqlx::query_as::<_, (String, String)>(&sql).fetch_all(cache.pool()).await.map_err(store_error);
    }
    let file = workspace_file(&st.settings.data_dir, org, ws);
    if !file.exists() {
        return Ok(Vec::new());
    }
    tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<(String, String)>> {
        let c = open_ro(&file)?;
        // A file a sync is creating this instant may not have its tables yet.
        if !table_exists(&c, "sync_state")? {
            return Ok(Vec::new());
        }
        let mut stmt = c.prepare(&SYNCED.replace("{table}", "sync_state"))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect()
    })
    .await
    .map_err(store_error)?
    .map_err(store_error)
}
