//! The HTTP API of `../shared/spec/API.md`: tokens, catalog, workspaces, connectors, execution.

use std::time::Instant;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::auth::select_scheme;
use switchboard_core::spec::ConnectorSpec;
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions};
use utoipa::ToSchema;

use crate::crypto::{hash_secret, verify_secret};
use crate::db::{self, Audit, ConnectorFilter, ConnectorRow, Workspace};
use crate::error::{current_request_id, ApiError, ApiResult};
use crate::extract::{Body, Caller};
use crate::sink::StoreSink;
use crate::state::AppState;
use crate::tokens::{claims, TokenKind};

use TokenKind::{Application, Scoped, Widget};

// ---------------------------------------------------------------- tokens

/// Client credentials of an application.
#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
}

/// Exchanges client credentials for an application token.
#[utoipa::path(post, path = "/api/v1/account/applications/token", request_body = TokenRequest,
    responses((status = 200, description = "{access_token, token_type, expires_in, organization_id}"), (status = 401, description = "wrong client credentials")))]
pub async fn application_token(State(st): State<AppState>, Body(req): Body<TokenRequest>) -> ApiResult<Json<Value>> {
    let app = st.db.find_application(&req.client_id).await?;
    // Verify against a dummy hash when the client is unknown, so both cases take as long.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash_owned = match &app {
        Some(a) => a.secret_hash.clone(),
        None => DUMMY.get_or_init(|| hash_secret("switchboard-dummy-secret").unwrap_or_default()).clone(),
    };
    let secret = req.client_secret.clone();
    let ok = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash_owned)).await.unwrap_or(false);
    let Some(app) = app.filter(|_| ok) else {
        return Err(ApiError::unauthorized("unknown client_id or wrong client_secret").with_reason("invalid_client"));
    };
    let ttl = st.settings.application_token_ttl;
    let token = st.signer.issue(claims(Application, &app.client_id, &app.organization_id, None, None), ttl)?;
    st.metrics.token("application");
    Ok(Json(json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": ttl,
        "organization_id": app.organization_id,
    })))
}

/// Names a workspace; `external_user_id` and `customer_name` are accepted aliases.
#[derive(Deserialize, ToSchema, Default)]
pub struct WorkspaceRef {
    pub workspace_name: Option<String>,
    pub external_user_id: Option<String>,
    pub customer_name: Option<String>,
    /// For widget tokens: the one origin the token works from.
    pub allowed_origin: Option<String>,
}

impl WorkspaceRef {
    fn name(&self) -> Option<&str> {
        self.workspace_name
            .as_deref()
            .or(self.external_user_id.as_deref())
            .or(self.customer_name.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
}

fn check_workspace_name(name: &str) -> ApiResult<()> {
    if name.len() > 256 || name.chars().any(char::is_control) {
        return Err(ApiError::validation("workspace_name must be at most 256 characters without control characters"));
    }
    Ok(())
}

/// Issues a scoped token for one workspace (created if new).
#[utoipa::path(post, path = "/api/v1/embedded/scoped-token", request_body = WorkspaceRef,
    responses((status = 200, description = "{token, expires_in, workspace_id, workspace_name}")), security(("bearer" = [])))]
pub async fn scoped_token(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<WorkspaceRef>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Application])?;
    let name = req.name().ok_or_else(|| ApiError::validation("workspace_name is required (or external_user_id)"))?;
    check_workspace_name(name)?;
    let ws = st.db.workspace_for(caller.org(), name).await?;
    let ttl = st.settings.scoped_token_ttl;
    let token =
        st.signer.issue(claims(Scoped, &caller.claims.sub, caller.org(), Some((&ws.id, &ws.name)), None), ttl)?;
    st.metrics.token("scoped");
    Ok(Json(json!({"token": token, "expires_in": ttl, "workspace_id": ws.id, "workspace_name": ws.name})))
}

/// `scheme://host[:port]`, nothing else.
fn parse_origin(s: &str) -> Option<String> {
    let u = url::Url::parse(s).ok()?;
    if !matches!(u.scheme(), "http" | "https")
        || u.host_str().is_none()
        || u.path() != "/"
        || u.query().is_some()
        || !u.username().is_empty()
    {
        return None;
    }
    let origin = u.origin().ascii_serialization();
    (origin == s.trim_end_matches('/')).then_some(origin)
}

/// Issues a widget token for one workspace, usable only from `allowed_origin`.
#[utoipa::path(post, path = "/api/v1/embedded/widget-token", request_body = WorkspaceRef,
    responses((status = 200, description = "{token, expires_in, workspace_id, workspace_name, allowed_origin}")), security(("bearer" = [])))]
pub async fn widget_token(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<WorkspaceRef>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Application])?;
    let name = req.name().ok_or_else(|| ApiError::validation("workspace_name is required (or external_user_id)"))?;
    check_workspace_name(name)?;
    let origin = req.allowed_origin.as_deref().and_then(parse_origin).ok_or_else(|| {
        ApiError::validation(
            "allowed_origin is required: one exact origin like https://app.example.com (no path, no wildcard)",
        )
    })?;
    let ws = st.db.workspace_for(caller.org(), name).await?;
    st.db.add_widget_origin(caller.org(), &origin).await?;
    let ttl = st.settings.widget_token_ttl;
    let token = st
        .signer
        .issue(claims(Widget, &caller.claims.sub, caller.org(), Some((&ws.id, &ws.name)), Some(&origin)), ttl)?;
    st.metrics.token("widget");
    Ok(Json(
        json!({"token": token, "expires_in": ttl, "workspace_id": ws.id, "workspace_name": ws.name, "allowed_origin": origin}),
    ))
}

/// What a scoped or widget token is.
#[utoipa::path(get, path = "/api/v1/embedded/scoped-token/info",
    responses((status = 200, description = "{organization_id, workspace_id, workspace_name, external_user_id, kind, expires_at}")), security(("bearer" = [])))]
pub async fn token_info(caller: Caller) -> ApiResult<Json<Value>> {
    caller.require(&[Scoped, Widget])?;
    let c = &caller.claims;
    let expires_at = time::OffsetDateTime::from_unix_timestamp(c.exp as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    Ok(Json(json!({
        "organization_id": c.org,
        "workspace_id": c.ws,
        "workspace_name": c.wsn,
        "external_user_id": c.wsn,
        "kind": c.kind.as_str(),
        "expires_at": expires_at,
    })))
}

// ---------------------------------------------------------------- catalog

#[derive(Deserialize, utoipa::IntoParams)]
pub struct NameFilter {
    /// Case-insensitive part of the connector name or slug.
    pub name: Option<String>,
}

/// The connector definitions this engine can run.
#[utoipa::path(get, path = "/api/v1/integrations/definitions/sources", params(NameFilter),
    responses((status = 200, description = "{definitions: [...]}")), security(("bearer" = [])))]
pub async fn definitions(
    State(st): State<AppState>,
    _caller: Caller,
    Query(q): Query<NameFilter>,
) -> ApiResult<Json<Value>> {
    let needle = q.name.map(|n| n.to_lowercase());
    let defs: Vec<Value> = st
        .registry
        .all()
        .filter(|s| {
            needle.as_ref().is_none_or(|n| s.display_name.to_lowercase().contains(n) || s.slug.contains(n.as_str()))
        })
        .map(|s| {
            json!({
                "sourceDefinitionId": s.definition_id,
                "name": s.display_name,
                "slug": s.slug,
                "iconUrl": Value::Null,
                "supportLevel": "certified",
            })
        })
        .collect();
    Ok(Json(json!({"definitions": defs})))
}

fn template(s: &ConnectorSpec) -> Value {
    json!({
        "id": s.definition_id,
        "name": s.display_name,
        "slug": s.slug,
        "definition_id": s.definition_id,
        "auth": s.auth_schemes.iter().map(|a| json!({
            "method": a.name,
            "title": a.title,
            "fields": a.fields,
        })).collect::<Vec<_>>(),
        "config": s.required_config().iter().map(|c| json!({"name": c, "required": true})).collect::<Vec<_>>(),
        "replication_config": s.replication_config.clone().unwrap_or(Value::Null),
    })
}

/// What each connector needs to be created: credential fields per auth method, required
/// config, replication config schema.
#[utoipa::path(get, path = "/api/v1/integrations/templates/sources",
    responses((status = 200, description = "{data: [...]}")), security(("bearer" = [])))]
pub async fn templates(State(st): State<AppState>, _caller: Caller) -> ApiResult<Json<Value>> {
    Ok(Json(json!({"data": st.registry.all().map(|s| template(s)).collect::<Vec<_>>()})))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct WorkspaceFilter {
    /// Case-insensitive part of the workspace name.
    pub name_contains: Option<String>,
}

/// The organization's workspaces.
#[utoipa::path(get, path = "/api/v1/workspaces", params(WorkspaceFilter),
    responses((status = 200, description = "{data: [{id, name, created_at}]}")), security(("bearer" = [])))]
pub async fn workspaces(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<WorkspaceFilter>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Application])?;
    let list = st.db.list_workspaces(caller.org(), q.name_contains.as_deref()).await?;
    let data: Vec<Value> =
        list.iter().map(|w| json!({"id": w.id, "name": w.name, "created_at": w.created_at})).collect();
    Ok(Json(json!({"data": data})))
}

// ---------------------------------------------------------------- connectors

fn connector_json(c: &ConnectorRow, spec_name: &str) -> Value {
    json!({
        "id": c.id,
        "name": c.name,
        "connector_type": c.slug,
        "definition_id": c.definition_id,
        "summarized_source_template": {"name": spec_name, "slug": c.slug},
        "workspace_id": c.workspace_id,
        "workspace_name": c.workspace_name,
        "created_at": c.created_at,
        "updated_at": c.updated_at,
    })
}

impl AppState {
    fn spec_name(&self, slug: &str) -> String {
        self.registry.get(slug).map(|s| s.display_name.clone()).unwrap_or_else(|_| slug.to_string())
    }

    /// The workspace a request acts in: the token's for scoped and widget tokens; for an
    /// application token the named one (created if `create`), or none.
    async fn workspace_of(&self, caller: &Caller, named: Option<&str>, create: bool) -> ApiResult<Option<Workspace>> {
        match caller.workspace_id() {
            Some(id) => {
                let ws =
                    self.db.get_workspace(caller.org(), id).await?.ok_or_else(|| ApiError::not_found("workspace"))?;
                if let Some(n) = named {
                    if n != ws.name {
                        return Err(ApiError::forbidden("this token is bound to another workspace")
                            .with_reason("workspace_mismatch"));
                    }
                }
                Ok(Some(ws))
            }
            None => match named {
                Some(n) if create => {
                    check_workspace_name(n)?;
                    Ok(Some(self.db.workspace_for(caller.org(), n).await?))
                }
                Some(n) => Ok(Some(
                    self.db.find_workspace(caller.org(), n).await?.ok_or_else(|| ApiError::not_found("workspace"))?,
                )),
                None => Ok(None),
            },
        }
    }

    async fn connector_for(&self, caller: &Caller, id: &str) -> ApiResult<ConnectorRow> {
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::not_found("connector"));
        }
        self.db
            .get_connector(caller.org(), caller.workspace_id(), id)
            .await?
            .ok_or_else(|| ApiError::not_found("connector"))
    }
}

/// A connector to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnector {
    /// Slug, display name or definition id, any case.
    pub connector_type: Option<String>,
    pub definition_id: Option<String>,
    pub workspace_name: Option<String>,
    pub external_user_id: Option<String>,
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub credentials: Option<Value>,
    #[schema(value_type = Object)]
    pub replication_config: Option<Value>,
    #[schema(value_type = Object)]
    pub config: Option<Value>,
    #[schema(value_type = Object)]
    pub environment: Option<Value>,
}

/// Names a connector name's problem, if it has one.
fn check_name(name: Option<&str>, problems: &mut Vec<(String, String)>) {
    if name.is_some_and(|n| n.trim().is_empty() || n.len() > 256) {
        problems.push(("name".into(), "must be 1 to 256 characters".into()));
    }
}

/// Checks credentials, replication config and config against a spec; every problem is named.
fn validate_connector(
    spec: &ConnectorSpec,
    creds: &Map<String, Value>,
    replication: Option<&Value>,
    config: &Map<String, Value>,
    problems: &mut Vec<(String, String)>,
) {
    if let Err(e) = select_scheme(spec, creds) {
        let mut options = Vec::new();
        for s in &spec.auth_schemes {
            let missing: Vec<String> = s
                .required_fields()
                .iter()
                .filter(|f| !creds.contains_key(**f))
                .map(|f| format!("credentials.{f}"))
                .collect();
            options.push(missing);
        }
        // The method closest to what was given names its missing fields.
        match options.iter().filter(|m| !m.is_empty()).min_by_key(|m| m.len()) {
            Some(missing) => {
                for m in missing {
                    problems.push((m.clone(), "is required".into()));
                }
            }
            None => problems.push(("credentials".into(), e.message)),
        }
    }
    for (k, v) in creds {
        if !(v.is_string() || v.is_number() || v.is_boolean() || v.is_null()) {
            problems.push((format!("credentials.{k}"), "must be a string".into()));
        }
    }
    if let Some(schema) = &spec.replication_config {
        let given = replication.and_then(Value::as_object);
        for r in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if given.and_then(|g| g.get(r)).is_none_or(Value::is_null) {
                problems.push((format!("replication_config.{r}"), "is required".into()));
            }
        }
        if let (Some(props), Some(g)) = (schema.get("properties").and_then(Value::as_object), given) {
            for (k, v) in g {
                if let Some(t) = props.get(k).and_then(|p| p.get("type")).and_then(Value::as_str) {
                    let ok = match t {
                        "array" => v.is_array(),
                        "string" => v.is_string(),
                        "object" => v.is_object(),
                        "integer" | "number" => v.is_number(),
                        "boolean" => v.is_boolean(),
                        _ => true,
                    };
                    if !ok {
                        problems.push((format!("replication_config.{k}"), format!("must be of type {t}")));
                    }
                }
            }
        }
    }
    if config.get("base_url").is_none() {
        for var in spec.required_config() {
            if config.get(var).is_none_or(Value::is_null) {
                problems.push((format!("config.{var}"), "is required".into()));
            }
        }
    }
    if let Some(b) = config.get("base_url") {
        let ok =
            b.as_str().and_then(|s| url::Url::parse(s).ok()).is_some_and(|u| matches!(u.scheme(), "http" | "https"));
        if !ok {
            problems.push(("config.base_url".into(), "must be an http(s) URL".into()));
        }
    }
}

fn problems_error(problems: Vec<(String, String)>) -> ApiError {
    let text: Vec<String> = problems.iter().map(|(f, p)| format!("{f} {p}")).collect();
    ApiError::validation(format!("invalid connector: {}", text.join("; "))).with_details(json!({
        "fields": problems.iter().map(|(f, p)| json!({"field": f, "problem": p})).collect::<Vec<_>>()
    }))
}

fn object_or_empty(v: Option<Value>, field: &str, problems: &mut Vec<(String, String)>) -> Map<String, Value> {
    match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            problems.push((field.into(), "must be an object".into()));
            Map::new()
        }
    }
}

/// Creates a connector with encrypted credentials.
#[utoipa::path(post, path = "/api/v1/integrations/connectors", request_body = CreateConnector,
    responses((status = 201, description = "the connector"), (status = 422, description = "missing or invalid fields")), security(("bearer" = [])))]
pub async fn create_connector(
    State(st): State<AppState>,
    caller: Caller,
    Body(req): Body<CreateConnector>,
) -> ApiResult<impl IntoResponse> {
    let mut problems: Vec<(String, String)> = Vec::new();
    let type_key = req.connector_type.as_deref().or(req.definition_id.as_deref());
    let spec = match type_key {
        None => {
            problems.push(("connector_type".into(), "is required (a slug like \"github\", or definition_id)".into()));
            None
        }
        Some(k) => match st.registry.get(k) {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(("connector_type".into(), e.message));
                None
            }
        },
    };
    let named =
        req.workspace_name.as_deref().or(req.external_user_id.as_deref()).map(str::trim).filter(|s| !s.is_empty());
    if caller.kind() == Application && named.is_none() {
        problems.push(("workspace_name".into(), "is required with an application token (or external_user_id)".into()));
    }
    let creds = object_or_empty(req.credentials, "credentials", &mut problems);
    let config = object_or_empty(req.config.or(req.environment), "config", &mut problems);
    if let Some(spec) = &spec {
        validate_connector(spec, &creds, req.replication_config.as_ref(), &config, &mut problems);
    }
    check_name(req.name.as_deref(), &mut problems);
    let (Some(spec), true) = (spec, problems.is_empty()) else {
        return Err(problems_error(problems));
    };
    let ws = st
        .workspace_of(&caller, named, true)
        .await?
        .ok_or_else(|| ApiError::validation("workspace_name is required"))?;
    let id = db::new_id();
    let plain = serde_json::to_vec(&creds).map_err(|e| ApiError::internal(e.to_string()))?;
    let sealed = st.keys.seal(&plain, &id)?;
    let now = db::now();
    let row = ConnectorRow {
        id: id.clone(),
        organization_id: caller.org().to_string(),
        workspace_id: ws.id.clone(),
        workspace_name: ws.name.clone(),
        definition_id: spec.definition_id.clone(),
        slug: spec.slug.clone(),
        name: req.name.map(|n| n.trim().to_string()).unwrap_or_else(|| spec.display_name.clone()),
        credentials: sealed,
        credential_version: 1,
        replication_config: req.replication_config.filter(|v| !v.is_null()).map(|v| v.to_string()),
        config: (!config.is_empty()).then(|| Value::Object(config).to_string()),
        created_at: now.clone(),
        updated_at: now,
    };
    st.db.insert_connector(&row).await?;
    tracing::info!(connector_id = %row.id, connector = %row.slug, "connector created");
    Ok((StatusCode::CREATED, Json(connector_json(&row, &spec.display_name))))
}

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ConnectorQuery {
    pub workspace_name: Option<String>,
    pub external_user_id: Option<String>,
    pub definition_id: Option<String>,
}

/// The connectors the caller can see; never credentials.
#[utoipa::path(get, path = "/api/v1/integrations/connectors", params(ConnectorQuery),
    responses((status = 200, description = "{data: [...]}")), security(("bearer" = [])))]
pub async fn list_connectors(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<ConnectorQuery>,
) -> ApiResult<Json<Value>> {
    let rows = st.visible_connectors(&caller, &q).await?;
    let data: Vec<Value> = rows.iter().map(|r| connector_json(r, &st.spec_name(&r.slug))).collect();
    Ok(Json(json!({"data": data})))
}

impl AppState {
    /// The connectors the caller may see in the named workspace (its own for scoped and widget
    /// tokens); a workspace that does not exist has none.
    async fn visible_connectors(&self, caller: &Caller, q: &ConnectorQuery) -> ApiResult<Vec<ConnectorRow>> {
        let named = q.workspace_name.as_deref().or(q.external_user_id.as_deref());
        let ws = match self.workspace_of(caller, named, false).await {
            Ok(ws) => ws,
            Err(e) if e.code == ErrorCode::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let filter = ConnectorFilter { workspace_id: ws.map(|w| w.id), definition_id: q.definition_id.clone() };
        self.db.list_connectors(caller.org(), &filter).await
    }
}

/// One connector.
#[utoipa::path(get, path = "/api/v1/integrations/connectors/{id}", params(("id" = String, Path)),
    responses((status = 200, description = "the connector"), (status = 404, description = "not in the caller's scope")), security(("bearer" = [])))]
pub async fn get_connector(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let row = st.connector_for(&caller, &id).await?;
    Ok(Json(connector_json(&row, &st.spec_name(&row.slug))))
}

/// Changes to a connector.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnector {
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub credentials: Option<Value>,
    #[schema(value_type = Object)]
    pub replication_config: Option<Value>,
    #[schema(value_type = Object)]
    pub config: Option<Value>,
}

/// Renames a connector, replaces its credentials or its replication config.
#[utoipa::path(patch, path = "/api/v1/integrations/connectors/{id}", params(("id" = String, Path)), request_body = UpdateConnector,
    responses((status = 200, description = "the connector")), security(("bearer" = [])))]
pub async fn update_connector(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<UpdateConnector>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Application, Scoped])?;
    let mut row = st.connector_for(&caller, &id).await?;
    let spec = st.registry.get(&row.slug).map_err(ApiError::from)?;
    let mut problems = Vec::new();
    let creds = req.credentials.map(|c| object_or_empty(Some(c), "credentials", &mut problems));
    let config = match req.config {
        Some(c) => object_or_empty(Some(c), "config", &mut problems),
        None => row.config.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or_default(),
    };
    let replication: Option<Value> = match &req.replication_config {
        Some(r) => Some(r.clone()),
        None => row.replication_config.as_deref().and_then(|r| serde_json::from_str(r).ok()),
    };
    let creds_for_check = match &creds {
        Some(c) => c.clone(),
        None => {
            let plain = st.keys.open(&row.credentials, &row.id)?;
            serde_json::from_slice(&plain).unwrap_or_default()
        }
    };
    validate_connector(&spec, &creds_for_check, replication.as_ref(), &config, &mut problems);
    check_name(req.name.as_deref(), &mut problems);
    if !problems.is_empty() {
        return Err(problems_error(problems));
    }
    if let Some(n) = req.name {
        row.name = n.trim().to_string();
    }
    if let Some(c) = creds {
        let plain = serde_json::to_vec(&c).map_err(|e| ApiError::internal(e.to_string()))?;
        row.credentials = st.keys.seal(&plain, &row.id)?;
        row.credential_version += 1;
    }
    row.replication_config = replication.filter(|v| !v.is_null()).map(|v| v.to_string());
    row.config = (!config.is_empty()).then(|| Value::Object(config).to_string());
    row.updated_at = db::now();
    st.db.update_connector(&row).await?;
    st.handles.forget(&row.id);
    Ok(Json(connector_json(&row, &spec.display_name)))
}

/// Deletes a connector and its credentials.
#[utoipa::path(delete, path = "/api/v1/integrations/connectors/{id}", params(("id" = String, Path)),
    responses((status = 204, description = "deleted")), security(("bearer" = [])))]
pub async fn delete_connector(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let row = st.connector_for(&caller, &id).await?;
    st.db.delete_connector(caller.org(), &row.id).await?;
    st.handles.forget(&row.id);
    tracing::info!(connector_id = %row.id, "connector deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// Older form of the connector list: `{instances: [{id, name}]}`.
#[utoipa::path(get, path = "/api/v1/connectors/instances_for_user", params(ConnectorQuery),
    responses((status = 200, description = "{instances: [{id, name}]}")), security(("bearer" = [])))]
pub async fn instances_for_user(
    State(st): State<AppState>,
    caller: Caller,
    Query(q): Query<ConnectorQuery>,
) -> ApiResult<Json<Value>> {
    if caller.kind() == Application && q.external_user_id.is_none() && q.workspace_name.is_none() {
        return Err(ApiError::validation("external_user_id is required with an application token"));
    }
    let rows = st.visible_connectors(&caller, &q).await?;
    Ok(Json(json!({"instances": rows.iter().map(|r| json!({"id": r.id, "name": r.name})).collect::<Vec<_>>()})))
}

// ---------------------------------------------------------------- execution

/// One operation to run.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteRequest {
    pub entity: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub params: Option<Value>,
    pub select_fields: Option<Vec<String>>,
    pub exclude_fields: Option<Vec<String>>,
    pub skip_truncation: Option<bool>,
    /// Why the agent makes the call (kept for the caller's own records; not stored).
    pub intent: Option<String>,
}

impl AppState {
    /// A handle for a stored connector: cached by credential version, else decrypted now.
    fn handle(&self, row: &ConnectorRow) -> ApiResult<Connector> {
        if let Some(c) = self.handles.get(&row.id, row.credential_version) {
            return Ok(c);
        }
        let spec = self.registry.get(&row.slug).map_err(ApiError::from)?;
        let plain = self.keys.open(&row.credentials, &row.id)?;
        let creds: Map<String, Value> =
            serde_json::from_slice(&plain).map_err(|_| ApiError::internal("stored credentials are not JSON"))?;
        let config: Value = row.config.as_deref().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(Value::Null);
        let mut allowed: Vec<String> = self.settings.egress_allow.clone();
        allowed.extend(spec.own_hosts());
        let sink =
            StoreSink::new(self.db.clone(), self.keys.clone(), row.id.clone(), row.credential_version, creds.clone());
        let options = ConnectorOptions {
            token_sink: Some(sink),
            timeout: self.settings.upstream_timeout,
            allowed_hosts: Some(allowed),
            ..ConnectorOptions::default()
        };
        let c = Connector::new(spec, Value::Object(creds), config, options).map_err(ApiError::from)?;
        self.handles.put(&row.id, row.credential_version, c.clone());
        Ok(c)
    }

    async fn audit(
        &self,
        caller: &Caller,
        row: &ConnectorRow,
        entity: &str,
        action: &str,
        error: Option<ErrorCode>,
        started: Instant,
    ) {
        let ms = started.elapsed().as_millis() as u64;
        self.metrics.execution(&row.slug, error.map(|e| e.as_str()).unwrap_or("ok"), ms);
        let record = Audit {
            organization_id: row.organization_id.clone(),
            workspace_id: Some(row.workspace_id.clone()),
            connector_id: Some(row.id.clone()),
            token_kind: caller.kind().as_str().into(),
            entity: entity.chars().take(128).collect(),
            action: action.chars().take(32).collect(),
            status: if error.is_none() { "success".into() } else { "error".into() },
            error_code: error.map(|e| e.as_str().to_string()),
            latency_ms: ms as i64,
            request_id: current_request_id().unwrap_or_default(),
        };
        if let Err(e) = self.db.audit(&record).await {
            tracing::error!(error = %e.message, "could not write an audit record");
        }
    }
}

/// Runs one operation with the connector's stored credentials.
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/execute", params(("id" = String, Path)), request_body = ExecuteRequest,
    responses((status = 200, description = "{result, connector_metadata}")), security(("bearer" = [])))]
pub async fn execute(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(req): Body<ExecuteRequest>,
) -> ApiResult<Json<Value>> {
    caller.require(&[Application, Scoped])?;
    let row = st.connector_for(&caller, &id).await?;
    let started = Instant::now();
    let connector = match st.handle(&row) {
        Ok(c) => c,
        Err(e) => {
            st.audit(&caller, &row, &req.entity, &req.action, Some(e.code), started).await;
            return Err(e);
        }
    };
    let opts = ExecuteOptions {
        select_fields: req.select_fields.unwrap_or_default(),
        exclude_fields: req.exclude_fields.unwrap_or_default(),
        skip_truncation: req.skip_truncation.unwrap_or(false),
    };
    let params = req.params.unwrap_or(Value::Object(Map::new()));
    let res = connector.execute(&req.entity, &req.action, params, &opts).await;
    st.audit(&caller, &row, &req.entity, &req.action, res.as_ref().err().map(|e| e.code), started).await;
    let res = res.map_err(ApiError::from)?;
    let mut meta = res.meta.clone();
    meta.insert("pagination".into(), Value::Object(res.meta));
    Ok(Json(json!({"result": res.data, "connector_metadata": meta})))
}

/// Runs the connector's health check.
#[utoipa::path(post, path = "/api/v1/integrations/connectors/{id}/check", params(("id" = String, Path)),
    responses((status = 200, description = "{status, checked_entity, checked_action, error?}")), security(("bearer" = [])))]
pub async fn check(State(st): State<AppState>, caller: Caller, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    caller.require(&[Application, Scoped])?;
    let row = st.connector_for(&caller, &id).await?;
    let connector = st.handle(&row)?;
    let r = connector.check().await;
    let mut out = json!({"status": r.status, "checked_entity": r.checked_entity, "checked_action": r.checked_action});
    if let Some(e) = r.error {
        out["error"] = json!({"code": e.code.as_str(), "message": e.message});
    }
    Ok(Json(out))
}

// ---------------------------------------------------------------- operations

/// The process is up.
#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "ok")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Storage answers.
#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "ready"), (status = 503, description = "storage unreachable")))]
pub async fn readyz(State(st): State<AppState>) -> impl IntoResponse {
    if st.db.ping().await {
        (StatusCode::OK, Json(json!({"status": "ready"})))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable"})))
    }
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text")))]
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    ([("content-type", "text/plain; version=0.0.4")], st.metrics.render())
}

/// Hashes a new client secret (used when creating applications).
pub fn new_secret_hash(secret: &str) -> ApiResult<String> {
    hash_secret(secret)
}
