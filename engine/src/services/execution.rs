//! Running a connector's operations with its stored credentials: the same core runtime as local
//! mode, with the engine's credential store as the OAuth token sink, its egress rules, a handle
//! cache per connector version, and an audit record and metrics per execution.
//!
//! The request path does no write of its own: the connector row comes from storage's connector
//! cache (SQLite; see [`Db::connector`]), the credentials and compiled spec from the handle
//! cache, and the audit record goes to a queue that a writer task drains in batches (see
//! [`Db::audit`]). Audit records are kept by age and count: [`spawn_audit_pruner`] prunes the
//! rest in small batches.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use switchboard_core::wire::{
    CheckError, CheckResponse, ConnectorMetadata, ExecuteAnswer, ExecuteBody, ExecuteResponse,
};
use switchboard_core::{
    Connector, ConnectorOptions, ConnectorSpec, ErrorCode, ExecuteOptions, JsonData, JsonExecution,
};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::db::{Audit, AuditOutcome, ConnectorRow, Db, StoreResult};
use crate::error::{current_request_id, ApiError, ApiResult};
use crate::services::connectors::open_credentials;
use crate::services::Caller;
use crate::sink::StoreSink;
use crate::state::{AppState, Settings};
use crate::tokens::TokenKind::{Application, Scoped};

/// The hosts a connector of `spec` may send credentials to: the spec's own, and the operator's
/// `--egress-allow` hosts.
pub(crate) fn allowed_hosts(st: &AppState, spec: &ConnectorSpec) -> Vec<String> {
    let mut allowed: Vec<String> = st.settings.egress_allow.clone();
    allowed.extend(spec.own_hosts());
    allowed
}

/// A handle for a stored connector: the cached one of its version (any change of the
/// connector, through any replica, is a new version), else one made now from its opened
/// credentials and config (and cached).
pub(crate) fn handle(st: &AppState, row: &ConnectorRow) -> ApiResult<Connector> {
    if let Some(c) = st.handles.get(&row.id, row.version) {
        return Ok(c);
    }
    let spec = st.registry.get(&row.slug)?;
    let creds = open_credentials(st, row)?;
    let mut config: Value = row.config.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(Value::Null);
    if let Some(base) = st.settings.upstream_base_urls.get(&spec.slug) {
        match &mut config {
            Value::Object(m) => {
                m.entry("base_url").or_insert_with(|| Value::String(base.clone()));
            }
            _ => config = serde_json::json!({ "base_url": base }),
        }
    }
    let allowed = allowed_hosts(st, &spec);
    let sink = StoreSink::new(st.db.clone(), st.keys.clone(), row.id.clone(), row.credential_version, creds.clone());
    let options = ConnectorOptions {
        http: Some(st.connector_http(&row.id)),
        token_sink: Some(sink),
        timeout: st.settings.upstream_timeout,
        allowed_hosts: Some(allowed),
        ..ConnectorOptions::default()
    };
    let c = Connector::new(spec, Value::Object(creds), config, options)?;
    st.handles.put(&row.id, row.version, c.clone());
    Ok(c)
}

/// Connector `id` if the caller may see it: a foreign or malformed id is `not_found`, exactly as
/// one that does not exist, whether the row was read now or kept from an earlier call.
pub(crate) async fn stored_connector(st: &AppState, caller: &Caller, id: &str) -> ApiResult<Arc<ConnectorRow>> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::not_found("connector"));
    }
    st.db.connector(caller.org(), caller.workspace_id(), id).await?.ok_or_else(|| ApiError::not_found("connector"))
}

/// Records one execution: metrics, and an audit record (who, connector, entity, action,
/// outcome, latency; never params or credentials), queued for the writer task. A record that
/// could not be queued or written is logged (and counted), not answered.
async fn audit(
    st: &AppState,
    caller: &Caller,
    row: &ConnectorRow,
    body: &ExecuteBody,
    error: Option<ErrorCode>,
    started: Instant,
) {
    let ms = started.elapsed().as_millis() as u64;
    st.metrics.execution(&row.slug, error.map(|e| e.as_str()).unwrap_or("ok"), ms);
    let record = Audit {
        organization_id: row.organization_id.clone(),
        workspace_id: Some(row.workspace_id.clone()),
        connector_id: Some(row.id.clone()),
        token_kind: caller.kind().as_str().into(),
        entity: Audit::caller_text(&body.entity, 128),
        action: Audit::caller_text(&body.action, 32),
        status: if error.is_none() { "success".into() } else { "error".into() },
        error_code: error.map(|e| e.as_str().to_string()),
        latency_ms: ms as i64,
        request_id: current_request_id().unwrap_or_default(),
    };
    match st.db.audit(record).await {
        // A dropped record was counted and logged where the queue decided.
        Ok(AuditOutcome::Queued | AuditOutcome::Written | AuditOutcome::Dropped) => {}
        Err(e) => tracing::error!(error = %e, "could not write an audit record"),
    }
}

/// Runs one operation of connector `id` (application and scoped tokens). The meta values the
/// spec extracts are answered at the top of `connector_metadata` and again under `pagination`,
/// with `next_page` when there is a page after this one.
pub async fn execute(st: &AppState, caller: &Caller, id: &str, body: ExecuteBody) -> ApiResult<ExecuteResponse> {
    let answer = run(st, caller, id, body, false).await?;
    let result =
        answer.result.into_value().map_err(|e| ApiError::internal(format!("a record could not be read: {e}")))?;
    Ok(ExecuteResponse { result, connector_metadata: answer.connector_metadata })
}

/// [`execute`] for the HTTP answer: a list page's records pass through as the text the API
/// sent where the operation allows it ([`switchboard_core::Connector::execute_json`]).
pub async fn execute_json(st: &AppState, caller: &Caller, id: &str, body: ExecuteBody) -> ApiResult<ExecuteAnswer> {
    run(st, caller, id, body, true).await
}

async fn run(st: &AppState, caller: &Caller, id: &str, body: ExecuteBody, raw: bool) -> ApiResult<ExecuteAnswer> {
    caller.require(&[Application, Scoped])?;
    let row = stored_connector(st, caller, id).await?;
    let started = Instant::now();
    if crate::context_store::is_store_action(&body.action) {
        // Answered from the workspace's context store (the entity cache), not the provider.
        let res = crate::context_store::execute(st, &row, &body).await;
        audit(st, caller, &row, &body, res.as_ref().err().map(|e| e.code), started).await;
        return res.map(ExecuteAnswer::from);
    }
    let connector = match handle(st, &row) {
        Ok(c) => c,
        Err(e) => {
            audit(st, caller, &row, &body, Some(e.code), started).await;
            return Err(e);
        }
    };
    let opts = ExecuteOptions {
        select_fields: body.select_fields.clone().unwrap_or_default(),
        exclude_fields: body.exclude_fields.clone().unwrap_or_default(),
        skip_truncation: body.skip_truncation.unwrap_or(false),
        intent: body.intent.clone(),
    };
    let params = body.params.clone().unwrap_or(Value::Object(Map::new()));
    let res = match raw {
        true => connector.execute_json(&body.entity, &body.action, params, &opts).await,
        false => connector.execute(&body.entity, &body.action, params, &opts).await.map(|r| JsonExecution {
            data: JsonData::Value(r.data),
            meta: r.meta,
            next_page: r.next_page,
        }),
    };
    let res = match res {
        Err(e) => Err(interrupted_refresh(st, &row, e).await),
        ok => ok,
    };
    audit(st, caller, &row, &body, res.as_ref().err().map(|e| e.code), started).await;
    let res = res.map_err(ApiError::from)?;
    let pagination = res.pagination();
    Ok(ExecuteAnswer {
        result: res.data,
        connector_metadata: ConnectorMetadata { pagination, meta: res.meta, next_page: res.next_page },
    })
}

/// Runs connector `id`'s health check (application and scoped tokens). An unhealthy connector
/// is a 200 answer with the error inside.
pub async fn check(st: &AppState, caller: &Caller, id: &str) -> ApiResult<CheckResponse> {
    caller.require(&[Application, Scoped])?;
    let row = stored_connector(st, caller, id).await?;
    let r = handle(st, &row)?.check().await;
    let error = match r.error {
        Some(e) => Some(interrupted_refresh(st, &row, e).await),
        None => None,
    };
    Ok(CheckResponse {
        status: r.status,
        checked_entity: r.checked_entity,
        checked_action: r.checked_action,
        error: error.map(|e| CheckError { code: e.code, message: e.message }),
    })
}

/// `e`, or, when the provider refused the connector's credentials after an earlier refresh of
/// them died between sending the refresh token and storing the answer (an engine killed
/// mid-refresh: see [`crate::sink`]), an `upstream_authentication` error that says so, with
/// `details.reason` `refresh_interrupted`: against a provider with single-use refresh tokens the
/// stored one may have been spent, and only the end user re-authorizing brings the connector
/// back.
async fn interrupted_refresh(st: &AppState, row: &ConnectorRow, e: switchboard_core::Error) -> switchboard_core::Error {
    if e.code != ErrorCode::UpstreamAuthentication {
        return e;
    }
    match st.db.refresh_interrupted(&row.id, None).await {
        Ok(true) => {
            let mut details = e.details.clone().unwrap_or_else(|| serde_json::json!({}));
            if let Some(d) = details.as_object_mut() {
                d.insert("reason".into(), Value::from("refresh_interrupted"));
            }
            switchboard_core::Error {
                message: format!(
                    "the connector needs to be re-authorized: a refresh of its OAuth token was interrupted (the engine \
                     stopped after sending the refresh token and before storing the answer), and the provider now \
                     refuses the stored refresh token, which that refresh may have spent ({})",
                    e.message
                ),
                details: Some(details),
                ..e
            }
        }
        Ok(false) => e,
        Err(store) => {
            tracing::warn!(connector_id = %row.id, error = %store, "could not read the refresh mark");
            e
        }
    }
}

/// What one pass of the audit retention policy removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Records older than `audit_max_age`.
    pub by_age: u64,
    /// The oldest records beyond `audit_max_rows`.
    pub by_count: u64,
}

/// The pause between two delete batches, so requests' writes get the database in between.
const PRUNE_PAUSE: Duration = Duration::from_millis(10);

/// One pass of the audit retention policy of `settings`: deletes the records older than
/// `audit_max_age`, then the oldest beyond `audit_max_rows`, each `audit_prune_batch` records
/// at a time with a short pause between batches. Replicas may run it at once: a record is
/// deleted once whoever gets to it.
pub async fn prune_audit(db: &Db, settings: &Settings) -> StoreResult<Pruned> {
    let batch = settings.audit_prune_batch.max(1);
    let mut pruned = Pruned::default();
    let cutoff = time::Duration::try_from(settings.audit_max_age)
        .ok()
        .filter(|age| !age.is_zero())
        .and_then(|age| OffsetDateTime::now_utc().checked_sub(age))
        .and_then(|t| t.format(&Rfc3339).ok());
    if let Some(cutoff) = cutoff {
        loop {
            let n = db.delete_oldest_audit(Some(&cutoff), batch).await?;
            pruned.by_age += n;
            if n < batch as u64 {
                break;
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }
    if settings.audit_max_rows > 0 {
        let max = i64::try_from(settings.audit_max_rows).unwrap_or(i64::MAX);
        // A bound from the ends of an index, not a count: a pass never reads the whole table.
        let mut excess = db.audit_count_bound().await?.saturating_sub(max);
        while excess > 0 {
            let n = db.delete_oldest_audit(None, excess.min(batch)).await?;
            if n == 0 {
                break;
            }
            pruned.by_count += n;
            excess -= n as i64;
            if excess > 0 {
                tokio::time::sleep(PRUNE_PAUSE).await;
            }
        }
    }
    Ok(pruned)
}

/// Runs [`prune_audit`] every `audit_prune_interval` (the first pass at once) until the
/// runtime stops or the task is aborted. A failed pass is logged and tried again next time.
pub fn spawn_audit_pruner(db: Db, settings: Settings) -> tokio::task::JoinHandle<()> {
    let settings = Arc::new(settings);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(settings.audit_prune_interval.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match prune_audit(&db, &settings).await {
                Ok(p) if p != Pruned::default() => {
                    tracing::info!(by_age = p.by_age, by_count = p.by_count, "audit records pruned")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune audit records; trying again later"),
            }
        }
    })
}
