//! Running a connector's operations with its stored credentials: the same core runtime as local
//! mode, with the engine's credential store as the OAuth token sink, its egress rules, a handle
//! cache per credential version, and an audit record and metrics per execution.

use std::time::Instant;

use serde_json::{Map, Value};
use switchboard_core::wire::{CheckError, CheckResponse, ConnectorMetadata, ExecuteBody, ExecuteResponse};
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions};

use crate::db::{Audit, ConnectorRow};
use crate::error::{current_request_id, ApiError, ApiResult};
use crate::services::connectors::{connector_for, open_credentials};
use crate::services::Caller;
use crate::sink::StoreSink;
use crate::state::AppState;
use crate::tokens::TokenKind::{Application, Scoped};

/// A handle for a stored connector: the cached one of its credential version, else one made now
/// from its opened credentials (and cached).
fn handle(st: &AppState, row: &ConnectorRow) -> ApiResult<Connector> {
    if let Some(c) = st.handles.get(&row.id, row.credential_version) {
        return Ok(c);
    }
    let spec = st.registry.get(&row.slug)?;
    let creds = open_credentials(st, row)?;
    let config: Value = row.config.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(Value::Null);
    let mut allowed: Vec<String> = st.settings.egress_allow.clone();
    allowed.extend(spec.own_hosts());
    let sink = StoreSink::new(st.db.clone(), st.keys.clone(), row.id.clone(), row.credential_version, creds.clone());
    let options = ConnectorOptions {
        token_sink: Some(sink),
        timeout: st.settings.upstream_timeout,
        allowed_hosts: Some(allowed),
        ..ConnectorOptions::default()
    };
    let c = Connector::new(spec, Value::Object(creds), config, options)?;
    st.handles.put(&row.id, row.credential_version, c.clone());
    Ok(c)
}

/// Records one execution: metrics, and an audit record (who, connector, entity, action,
/// outcome, latency; never params or credentials). A failed audit write is logged, not answered.
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
        entity: body.entity.chars().take(128).collect(),
        action: body.action.chars().take(32).collect(),
        status: if error.is_none() { "success".into() } else { "error".into() },
        error_code: error.map(|e| e.as_str().to_string()),
        latency_ms: ms as i64,
        request_id: current_request_id().unwrap_or_default(),
    };
    if let Err(e) = st.db.audit(&record).await {
        tracing::error!(error = %e, "could not write an audit record");
    }
}

/// Runs one operation of connector `id` (application and scoped tokens). The meta values the
/// spec extracts are answered at the top of `connector_metadata` and again under `pagination`,
/// with `next_page` when there is a page after this one.
pub async fn execute(st: &AppState, caller: &Caller, id: &str, body: ExecuteBody) -> ApiResult<ExecuteResponse> {
    caller.require(&[Application, Scoped])?;
    let row = connector_for(st, caller, id).await?;
    let started = Instant::now();
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
    };
    let params = body.params.clone().unwrap_or(Value::Object(Map::new()));
    let res = connector.execute(&body.entity, &body.action, params, &opts).await;
    audit(st, caller, &row, &body, res.as_ref().err().map(|e| e.code), started).await;
    let res = res.map_err(ApiError::from)?;
    Ok(ExecuteResponse {
        result: res.data,
        connector_metadata: ConnectorMetadata {
            pagination: res.meta.clone(),
            meta: res.meta,
            next_page: res.next_page,
        },
    })
}

/// Runs connector `id`'s health check (application and scoped tokens). An unhealthy connector
/// is a 200 answer with the error inside.
pub async fn check(st: &AppState, caller: &Caller, id: &str) -> ApiResult<CheckResponse> {
    caller.require(&[Application, Scoped])?;
    let row = connector_for(st, caller, id).await?;
    let r = handle(st, &row)?.check().await;
    Ok(CheckResponse {
        status: r.status,
        checked_entity: r.checked_entity,
        checked_action: r.checked_action,
        error: r.error.map(|e| CheckError { code: e.code, message: e.message }),
    })
}
