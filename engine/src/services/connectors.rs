//! Connectors: created, listed, changed and deleted within the caller's organization and, for
//! scoped and widget tokens, their own workspace. Credentials are checked against the spec
//! ([`switchboard_core::validate`]) and sealed here; they are opened only to run an operation
//! (see [`super::execution`]) or to re-check them when a connector changes, and never answered.

use serde_json::{json, Map, Value};
use switchboard_core::connector::host_allowed;
use switchboard_core::validate::{
    check_name, normalize_credentials, normalize_replication_config, object_or_empty, validate_connector, FieldProblem,
};
use switchboard_core::wire::{
    self, ConnectorList, ConnectorQuery, CreateConnector, Instance, InstanceList, TemplateSummary, UpdateConnector,
};
use switchboard_core::{ConnectorSpec, ErrorCode};

use crate::crypto::Sealed;
use crate::db::{self, ConnectorFilter, ConnectorRow, Workspace};
use crate::error::{ApiError, ApiResult};
use crate::services::execution::allowed_hosts;
use crate::services::tokens::check_workspace_name;
use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::TokenKind::{Application, Scoped};

/// A stored connector as the API describes it.
fn describe(st: &AppState, c: &ConnectorRow) -> wire::Connector {
    let spec_name = st.registry.get(&c.slug).map(|s| s.display_name.clone()).unwrap_or_else(|_| c.slug.clone());
    wire::Connector {
        id: c.id.clone(),
        name: c.name.clone(),
        connector_type: spec_name.clone(),
        slug: c.slug.clone(),
        definition_id: c.definition_id.clone(),
        summarized_source_template: TemplateSummary { name: spec_name, slug: c.slug.clone() },
        workspace_id: c.workspace_id.clone(),
        workspace_name: c.workspace_name.clone(),
        created_at: c.created_at.clone(),
        updated_at: c.updated_at.clone(),
    }
}

/// The workspace a request acts in: the token's for scoped and widget tokens (naming another is
/// `forbidden`); for an application token the named one (created if `create`), or none.
pub(crate) async fn workspace_of(
    st: &AppState,
    caller: &Caller,
    named: Option<&str>,
    create: bool,
) -> ApiResult<Option<Workspace>> {
    match caller.workspace_id() {
        Some(id) => {
            let ws = st.db.get_workspace(caller.org(), id).await?.ok_or_else(|| ApiError::not_found("workspace"))?;
            if named.is_some_and(|n| n != ws.name) {
                return Err(
                    ApiError::forbidden("this token is bound to another workspace").with_reason("workspace_mismatch")
                );
            }
            Ok(Some(ws))
        }
        None => match named {
            Some(n) if create => {
                check_workspace_name(n)?;
                Ok(Some(st.db.workspace_for(caller.org(), n).await?))
            }
            Some(n) => {
                Ok(Some(st.db.find_workspace(caller.org(), n).await?.ok_or_else(|| ApiError::not_found("workspace"))?))
            }
            None => Ok(None),
        },
    }
}

/// The workspace with id `id`, for the older create call: a scoped or widget token's own (another
/// is `forbidden`), or for an application token one of its organization's (else `not_found`).
async fn workspace_by_id(st: &AppState, caller: &Caller, id: &str) -> ApiResult<Workspace> {
    if caller.workspace_id().is_some_and(|own| own != id) {
        return Err(ApiError::forbidden("this token is bound to another workspace").with_reason("workspace_mismatch"));
    }
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::not_found("workspace"));
    }
    st.db.get_workspace(caller.org(), id).await?.ok_or_else(|| ApiError::not_found("workspace"))
}

/// Connector `id` if the caller may see it: a foreign or malformed id is `not_found`, exactly
/// as one that does not exist.
pub(crate) async fn connector_for(st: &AppState, caller: &Caller, id: &str) -> ApiResult<ConnectorRow> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(ApiError::not_found("connector"));
    }
    st.db.get_connector(caller.org(), caller.workspace_id(), id).await?.ok_or_else(|| ApiError::not_found("connector"))
}

/// Credentials sealed for connector `id` (bound to it: they do not open in another row).
fn seal(st: &AppState, creds: &Map<String, Value>, id: &str) -> ApiResult<Sealed> {
    let plain = serde_json::to_vec(creds).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(st.keys.seal(&plain, id)?)
}

/// The stored credentials of a connector, opened.
pub(crate) fn open_credentials(st: &AppState, row: &ConnectorRow) -> ApiResult<Map<String, Value>> {
    let plain = st.keys.open(&row.credentials, &row.id)?;
    serde_json::from_slice(&plain).map_err(|_| ApiError::internal("stored credentials are not a JSON object"))
}

/// A stored JSON text column.
pub(crate) fn stored_json(text: Option<&str>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// The config fields that decide where the connector's requests, and so its credentials, go:
/// `base_url`, `token_url` (OAuth refreshes) and every variable of the spec's server URL.
fn url_fields(spec: &ConnectorSpec) -> Vec<&str> {
    let mut out = vec!["base_url", "token_url"];
    for v in spec.server_variables.keys() {
        if !out.contains(&v.as_str()) {
            out.push(v);
        }
    }
    out
}

/// The lower-cased host of an http(s) URL.
fn host_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    Some(host)
}

/// The config's URLs checked against the egress rules the connector will run under, so a
/// connector is never stored pointing its credentials at a host it may not send them to:
/// `config.base_url`, `config.token_url`, or the server URL filled from the config's variables
/// (with the credentials' and the spec's defaults), each named when its host is not allowed.
pub(super) fn egress_problems(
    st: &AppState,
    spec: &ConnectorSpec,
    creds: &Map<String, Value>,
    config: &Map<String, Value>,
    problems: &mut Vec<FieldProblem>,
) {
    let allowed = allowed_hosts(st, spec);
    let mut check = |field: &str, url: &str| {
        if let Some(host) = host_of(url).filter(|h| !host_allowed(&allowed, h)) {
            problems.push(FieldProblem::new(
                format!("config.{field}"),
                format!(
                    "points at host {host:?}, which this server's egress rules do not allow (an operator can allow it with --egress-allow)"
                ),
            ));
        }
    };
    if let Some(t) = config.get("token_url").and_then(Value::as_str) {
        check("token_url", t);
    }
    if let Some(b) = config.get("base_url").and_then(Value::as_str) {
        check("base_url", b);
        return;
    }
    let mut url = spec.server_url.clone();
    let mut from_config = None;
    for (name, default) in &spec.server_variables {
        let value = match config.get(name).and_then(Value::as_str) {
            Some(v) => {
                from_config.get_or_insert(name.as_str());
                Some(v)
            }
            None => creds.get(name).and_then(Value::as_str).or(default.as_deref()),
        };
        // A value only a token answer fills is checked when it arrives, at execution.
        let Some(value) = value else { return };
        url = url.replace(&format!("{{{name}}}"), value);
    }
    if let Some(field) = from_config {
        check(field, &url);
    }
}

/// Creates a connector: the type is resolved, the workspace is the token's (or, for application
/// tokens, the named one, created if new), and every missing or invalid field is named at once.
pub async fn create(st: &AppState, caller: &Caller, mut req: CreateConnector) -> ApiResult<wire::Connector> {
    req.merge_older_names();
    let config = req.take_config();
    let mut problems = Vec::new();
    let spec = match req.connector_type.as_deref().or(req.definition_id.as_deref()) {
        None => {
            problems
                .push(FieldProblem::new("connector_type", "is required (a slug like \"github\", or definition_id)"));
            None
        }
        Some(k) => match st.registry.get(k) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(FieldProblem::new("connector_type", e.message));
                None
            }
        },
    };
    if let Some(spec) = &spec {
        crate::widget::check_template_allowed(st, caller, spec).await?;
    }
    let named = wire::one_name(&[
        ("workspace_name", req.workspace_name.as_deref()),
        ("external_user_id", req.external_user_id.as_deref()),
    ])
    .unwrap_or_else(|e| {
        problems.push(FieldProblem::new("workspace_name", e));
        None
    });
    if let (Some(spec), Some(other)) = (&spec, req.connector_type.as_deref().and(req.definition_id.as_deref())) {
        if st.registry.get(other).map_or(true, |o| o.definition_id != spec.definition_id) {
            problems.push(FieldProblem::new(
                "definition_id",
                format!("names another connector type than connector_type {:?}: give one of them", spec.slug),
            ));
        }
    }
    if caller.kind() == Application && named.is_none() && req.workspace_id.is_none() {
        problems
            .push(FieldProblem::new("workspace_name", "is required with an application token (or external_user_id)"));
    }
    let mut creds = object_or_empty(req.credentials, "credentials", &mut problems);
    let config = object_or_empty(config, "config", &mut problems);
    if let Some(spec) = &spec {
        normalize_credentials(spec, &mut creds, &mut problems);
        if let Some(r) = req.replication_config.as_mut() {
            normalize_replication_config(spec, r);
        }
        if let Err(p) = validate_connector(spec, &creds, req.replication_config.as_ref(), &config) {
            problems.extend(p);
        }
        egress_problems(st, spec, &creds, &config, &mut problems);
    }
    check_name(req.name.as_deref(), &mut problems);
    let (Some(spec), true) = (spec, problems.is_empty()) else {
        return Err(ApiError::invalid_fields(&problems));
    };
    let ws = match req.workspace_id.as_deref() {
        Some(id) => {
            let ws = workspace_by_id(st, caller, id).await?;
            if named.is_some_and(|n| n != ws.name) {
                return Err(ApiError::validation(
                    "workspace_id and workspace_name name different workspaces: give one of them",
                ));
            }
            ws
        }
        None => workspace_of(st, caller, named, true)
            .await?
            .ok_or_else(|| ApiError::validation("workspace_name is required"))?,
    };
    let id = db::new_id();
    let now = db::now();
    let row = ConnectorRow {
        credentials: seal(st, &creds, &id)?,
        id,
        organization_id: caller.org().to_string(),
        workspace_id: ws.id,
        workspace_name: ws.name,
        definition_id: spec.definition_id.clone(),
        slug: spec.slug.clone(),
        name: req.name.map(|n| n.trim().to_string()).unwrap_or_else(|| spec.display_name.clone()),
        credential_version: 1,
        version: 1,
        replication_config: req.replication_config.filter(|v| !v.is_null()).map(|v| v.to_string()),
        config: (!config.is_empty()).then(|| Value::Object(config).to_string()),
        created_at: now.clone(),
        updated_at: now,
    };
    st.db.insert_connector(&row).await?;
    tracing::info!(connector_id = %row.id, connector = %row.slug, "connector created");
    Ok(describe(st, &row))
}

/// The connectors the caller may see in the named workspace (its own for scoped and widget
/// tokens); a workspace that does not exist has none.
async fn visible(st: &AppState, caller: &Caller, q: &ConnectorQuery) -> ApiResult<Vec<ConnectorRow>> {
    let ws = match workspace_of(st, caller, q.workspace(), false).await {
        Ok(ws) => ws,
        Err(e) if e.code == ErrorCode::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // Named as create takes it (a slug, a display name, a definition id in either case).
    let definition_id = q
        .definition_id
        .as_deref()
        .map(|d| st.registry.get(d).map_or_else(|_| d.to_string(), |s| s.definition_id.clone()));
    let filter = ConnectorFilter { workspace_id: ws.map(|w| w.id), definition_id };
    Ok(st.db.list_connectors(caller.org(), &filter).await?)
}

/// The connectors the caller can see; never credentials.
pub async fn list(st: &AppState, caller: &Caller, q: &ConnectorQuery) -> ApiResult<ConnectorList> {
    let rows = visible(st, caller, q).await?;
    Ok(ConnectorList { data: rows.iter().map(|r| describe(st, r)).collect() })
}

/// The older list: `{instances: [{id, name}]}`; an application token must name the workspace.
pub async fn instances(st: &AppState, caller: &Caller, q: &ConnectorQuery) -> ApiResult<InstanceList> {
    if caller.kind() == Application && q.workspace().is_none() {
        return Err(ApiError::validation("external_user_id is required with an application token"));
    }
    let rows = visible(st, caller, q).await?;
    Ok(InstanceList { instances: rows.into_iter().map(|r| Instance { id: r.id, name: r.name }).collect() })
}

/// One connector.
pub async fn get(st: &AppState, caller: &Caller, id: &str) -> ApiResult<wire::Connector> {
    Ok(describe(st, &connector_for(st, caller, id).await?))
}

/// How many times an update is applied again to a connector that changed under it.
const UPDATE_ATTEMPTS: usize = 4;

/// Renames a connector, replaces its credentials, config or replication config (application and
/// scoped tokens). The connector as it will be is checked whole; a config field that decides
/// where its credentials go (see [`url_fields`]) is changed by application tokens only. The
/// write is a compare-and-swap on the connector's version, so a change made meanwhile (through
/// any replica, or a token refresh) is never overwritten: the update is applied again to it.
/// The new version makes every replica's cached handle stale.
pub async fn update(st: &AppState, caller: &Caller, id: &str, req: UpdateConnector) -> ApiResult<wire::Connector> {
    caller.require(&[Application, Scoped])?;
    if req.is_empty() {
        // Nothing to change: the connector as it is, its version and updated_at untouched.
        return Ok(describe(st, &connector_for(st, caller, id).await?));
    }
    for _ in 0..UPDATE_ATTEMPTS {
        let row = connector_for(st, caller, id).await?;
        let expected = row.version;
        let row = updated(st, caller, row, &req)?;
        if st.db.update_connector(&row, expected).await? {
            st.handles.forget(&row.id);
            return Ok(describe(st, &row));
        }
    }
    Err(ApiError::conflict("the connector kept changing while this update was applied; retry it"))
}

/// `row` with the changes of `req` applied, checked.
fn updated(st: &AppState, caller: &Caller, mut row: ConnectorRow, req: &UpdateConnector) -> ApiResult<ConnectorRow> {
    let spec = st.registry.get(&row.slug)?;
    let stored_config = stored_json(row.config.as_deref()).and_then(|v| v.as_object().cloned()).unwrap_or_default();
    let mut problems = Vec::new();
    let new_creds = req.credentials.clone().map(|c| {
        let mut creds = object_or_empty(Some(c), "credentials", &mut problems);
        normalize_credentials(&spec, &mut creds, &mut problems);
        creds
    });
    let config = match &req.config {
        Some(c) => object_or_empty(Some(c.clone()), "config", &mut problems),
        None => stored_config.clone(),
    };
    // (A config that is not an object is a 422 below, not a change of every field.)
    if caller.kind() != Application && problems.is_empty() {
        if let Some(field) = url_fields(&spec).into_iter().find(|f| stored_config.get(*f) != config.get(*f)) {
            return Err(ApiError::forbidden(format!(
                "config.{field} decides where this connector's credentials are sent: only an application token may change it"
            ))
            .with_details(json!({"reason": "application_token_required", "field": format!("config.{field}")})));
        }
    }
    let replication = match &req.replication_config {
        Some(r) => {
            let mut r = r.clone();
            normalize_replication_config(&spec, &mut r);
            Some(r)
        }
        None => stored_json(row.replication_config.as_deref()),
    };
    let creds = match &new_creds {
        Some(c) => c.clone(),
        None => open_credentials(st, &row)?,
    };
    if let Err(p) = validate_connector(&spec, &creds, replication.as_ref(), &config) {
        problems.extend(p);
    }
    if req.config.is_some() || new_creds.is_some() {
        egress_problems(st, &spec, &creds, &config, &mut problems);
    }
    check_name(req.name.as_deref(), &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(&problems));
    }
    if let Some(n) = &req.name {
        row.name = n.trim().to_string();
    }
    if let Some(c) = new_creds {
        row.credentials = seal(st, &c, &row.id)?;
        row.credential_version += 1;
    }
    row.replication_config = replication.filter(|v| !v.is_null()).map(|v| v.to_string());
    row.config = (!config.is_empty()).then(|| Value::Object(config).to_string());
    row.updated_at = db::now();
    row.version += 1;
    Ok(row)
}

/// Deletes a connector and its credentials. Of many deletes racing, one succeeds and the others
/// find nothing to delete (`not_found`), across replicas too.
pub async fn delete(st: &AppState, caller: &Caller, id: &str) -> ApiResult<()> {
    let row = connector_for(st, caller, id).await?;
    let deleted = st.db.delete_connector(caller.org(), &row.id).await?;
    st.handles.forget(&row.id);
    if !deleted {
        return Err(ApiError::not_found("connector"));
    }
    // Its cached records go with it. The connector is gone either way: a failure here is logged,
    // and a sync still running removes them again when it stops.
    if let Err(e) = crate::context_store::forget_connector(st, &row).await {
        tracing::error!(connector_id = %row.id, error = %e.message, "could not remove a deleted connector's cached records");
    }
    tracing::info!(connector_id = %row.id, "connector deleted");
    Ok(())
}
