//! The engine's HTTP contract: every request and response body, once. The engine's handlers
//! build and parse these types, core's hosted client sends and reads them, and the engine's
//! OpenAPI document is generated from them (`utoipa::ToSchema`), so the three cannot drift.
//!
//! Field names follow the reference product's API where it has one (`sourceDefinitionId`,
//! `connector_metadata`); aliases it accepts on input are `#[serde(alias)]` here.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::error::ErrorCode;

// ---------------------------------------------------------------- errors

/// The body of every error answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// One of the public codes (`authentication`, `validation`, `not_found`, ...).
    #[schema(value_type = String)]
    pub code: ErrorCode,
    /// What went wrong and how to fix it; never a secret.
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Structured details: `reason` for token failures, `fields` for invalid connectors,
    /// `upstream_status` for provider answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
    /// Seconds to wait (`rate_limited`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<f64>,
}

// ---------------------------------------------------------------- tokens

/// Client credentials of an application.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenRequest {
    pub client_id: String,
    pub client_secret: String,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

/// An application token.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct ApplicationToken {
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    pub organization_id: String,
}

/// Names a workspace; `external_user_id` and `customer_name` are accepted aliases.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_name: Option<String>,
    /// For widget tokens: the one origin the token works from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origin: Option<String>,
    /// For widget tokens: the connector types (slugs or definition ids) the widget lists and may
    /// create; none: every type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_templates: Option<Vec<String>>,
}

impl WorkspaceRef {
    /// The workspace named, by whichever field names it; fields that name different ones are
    /// an error ([`one_name`]).
    pub fn name(&self) -> Result<Option<&str>, String> {
        one_name(&[
            ("workspace_name", self.workspace_name.as_deref()),
            ("external_user_id", self.external_user_id.as_deref()),
            ("customer_name", self.customer_name.as_deref()),
        ])
    }
}

/// The one workspace name that aliased fields give, trimmed (blank ones count as not given):
/// none, or the same in every field that names one; two that differ are an error naming the
/// fields, never one silently chosen.
pub fn one_name<'a>(fields: &[(&str, Option<&'a str>)]) -> Result<Option<&'a str>, String> {
    let mut found: Option<(&str, &'a str)> = None;
    for (field, value) in fields {
        let Some(value) = value.map(str::trim).filter(|s| !s.is_empty()) else { continue };
        match found {
            None => found = Some((field, value)),
            Some((first, name)) if name != value => {
                return Err(format!("{first} and {field} name different workspaces: give one of them"))
            }
            Some(_) => {}
        }
    }
    Ok(found.map(|(_, name)| name))
}

/// A scoped token (or, with `allowed_origin`, a widget token) for one workspace.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceToken {
    pub token: String,
    /// Lifetime in seconds.
    pub expires_in: u64,
    pub workspace_id: String,
    pub workspace_name: String,
    /// Widget tokens only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origin: Option<String>,
}

/// What a scoped or widget token is.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub organization_id: String,
    pub workspace_id: Option<String>,
    pub workspace_name: Option<String>,
    /// The reference's name for the workspace.
    pub external_user_id: Option<String>,
    /// `scoped` or `widget`.
    pub kind: String,
    /// RFC 3339.
    pub expires_at: Option<String>,
    /// Widget tokens: the one origin they work from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_origin: Option<String>,
    /// Widget tokens limited to some connector types: their slugs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_templates: Option<Vec<String>>,
}

// ---------------------------------------------------------------- catalog

/// A connector definition the engine can run.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SourceDefinition {
    #[serde(rename = "sourceDefinitionId")]
    pub source_definition_id: String,
    pub name: String,
    pub slug: String,
    #[serde(rename = "iconUrl")]
    pub icon_url: Option<String>,
    #[serde(rename = "supportLevel")]
    pub support_level: String,
}

/// The query of `GET /api/v1/integrations/definitions/sources`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameFilter {
    /// Case-insensitive part of the connector name or slug.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `GET /api/v1/integrations/definitions/sources`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DefinitionList {
    pub definitions: Vec<SourceDefinition>,
}

/// One credential field of an auth method.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateField {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    pub required: bool,
    /// A secret: forms mask it. From the spec (`secret`, or the reference's `airbyte_secret`),
    /// else core's rule (`spec::credential_is_secret`); read as `true` when absent.
    #[serde(default = "secret_by_default")]
    pub secret: bool,
}

fn secret_by_default() -> bool {
    true
}

/// One way to authenticate a connector.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateAuth {
    /// The scheme's key.
    pub method: String,
    pub title: String,
    pub fields: Vec<TemplateField>,
}

/// A config value a connector needs.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateConfig {
    pub name: String,
    pub required: bool,
}

/// What a connector needs to be created.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub definition_id: String,
    pub auth: Vec<TemplateAuth>,
    pub config: Vec<TemplateConfig>,
    /// The replication config's JSON Schema, if the connector takes one.
    #[schema(value_type = Option<Object>)]
    pub replication_config: Option<Value>,
}

/// `GET /api/v1/integrations/templates/sources`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TemplateList {
    pub data: Vec<Template>,
}

/// A workspace of the organization.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceInfo {
    pub id: String,
    pub name: String,
    pub created_at: String,
}

/// The query of `GET /api/v1/workspaces`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkspaceFilter {
    /// Case-insensitive part of the workspace name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_contains: Option<String>,
}

/// `GET /api/v1/workspaces`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceList {
    pub data: Vec<WorkspaceInfo>,
}

// ---------------------------------------------------------------- connectors

/// A connector to create. `config` is also accepted as `environment` (the reference's name;
/// `config` wins when both are given). The older create call's names are accepted too:
/// `source_template_id` for `connector_type`, `auth_config` for `credentials`, and the
/// workspace by `workspace_id`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateConnector {
    /// Slug, display name or definition id, any case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector_type: Option<String>,
    /// The older create call's name for `connector_type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_template_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    /// The workspace by id (a scoped token's must be its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
    /// The older create call's name for `credentials`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub auth_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub replication_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
    /// The reference's name for `config`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub environment: Option<Value>,
}

impl CreateConnector {
    /// The connector's config, by whichever field gives it.
    pub fn take_config(&mut self) -> Option<Value> {
        self.config.take().or_else(|| self.environment.take())
    }

    /// The older call's names (`source_template_id`, `auth_config`) moved to ours, where ours
    /// are not given.
    pub fn merge_older_names(&mut self) {
        if self.connector_type.is_none() {
            self.connector_type = self.source_template_id.take();
        }
        if self.credentials.is_none() {
            self.credentials = self.auth_config.take();
        }
    }
}

/// Changes to a connector.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateConnector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub credentials: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub replication_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

impl UpdateConnector {
    /// Whether the update changes nothing (`{}`).
    pub fn is_empty(&self) -> bool {
        self.name.is_none() && self.credentials.is_none() && self.replication_config.is_none() && self.config.is_none()
    }
}

/// The definition a connector runs, in the reference's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemplateSummary {
    pub name: String,
    pub slug: String,
}

/// A stored connector as the engine describes it (never its credentials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Connector {
    pub id: String,
    pub name: String,
    /// The type's display name (`GitHub`), as the reference's SDK shows it.
    pub connector_type: String,
    /// The type's slug (`github`).
    pub slug: String,
    pub definition_id: String,
    pub summarized_source_template: TemplateSummary,
    pub workspace_id: String,
    pub workspace_name: String,
    pub created_at: String,
    pub updated_at: String,
}

/// The query of the connector lists: which workspace (application tokens; scoped and widget
/// tokens see their own) and which definition.
#[derive(Debug, Clone, Default, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConnectorQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    /// The reference's name for `workspace_name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_user_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub definition_id: Option<String>,
}

impl ConnectorQuery {
    /// The workspace named, by whichever field names it, trimmed as [`WorkspaceRef::name`]
    /// trims the name a workspace is created under.
    pub fn workspace(&self) -> Option<&str> {
        self.workspace_name.as_deref().or(self.external_user_id.as_deref()).map(str::trim)
    }
}

/// `GET /api/v1/integrations/connectors`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectorList {
    pub data: Vec<Connector>,
}

/// An item of the older connector list.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Instance {
    pub id: String,
    pub name: String,
}

/// `GET /api/v1/connectors/instances_for_user`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct InstanceList {
    pub instances: Vec<Instance>,
}

// ---------------------------------------------------------------- execution

/// One operation to run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExecuteBody {
    pub entity: String,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub params: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select_fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_fields: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skip_truncation: Option<bool>,
    /// Why the agent makes the call (for the caller's own records; not stored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// The page after this one: pass `cursor` as the param `param`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NextPage {
    pub param: String,
    /// A string or a number, as the API gave it.
    pub cursor: Value,
}

/// Meta values of an execution: the spec's meta fields at the top level (the reference's
/// shape), the same again under `pagination`, and `next_page` when there is one.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConnectorMetadata {
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub meta: Map<String, Value>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub pagination: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<NextPage>,
}

/// `POST .../execute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ExecuteResponse {
    /// Records (list, search) or the record (others).
    pub result: Value,
    pub connector_metadata: ConnectorMetadata,
}

/// [`ExecuteResponse`] as the engine writes it: the same JSON, with a list page's records
/// written from their text when they passed through ([`crate::Connector::execute_json`]).
#[derive(Debug, Serialize)]
pub struct ExecuteAnswer {
    pub result: crate::execution::JsonData,
    pub connector_metadata: ConnectorMetadata,
}

impl ExecuteAnswer {
    /// The answer as JSON, written into a buffer sized for the records' text once rather than
    /// grown (and copied) as they are written.
    pub fn to_json(&self) -> serde_json::Result<Vec<u8>> {
        self.write_json(self.result.text_len())
    }

    /// [`Self::to_json`] with the records' text length (`text_len`) already known.
    fn write_json(&self, text_len: usize) -> serde_json::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(text_len + 1024);
        serde_json::to_writer(&mut out, self)?;
        Ok(out)
    }

    /// [`Self::to_json`], written on one of the runtime's blocking threads when the records'
    /// text is long and the runtime single-threaded ([`crate::apart::runtime_to_leave_for`]),
    /// so the thread that answers goes on with its other tasks meanwhile.
    pub async fn into_json(self) -> serde_json::Result<Vec<u8>> {
        let text_len = self.result.text_len();
        let Some(runtime) = crate::apart::runtime_to_leave_for(text_len) else {
            return self.write_json(text_len);
        };
        crate::apart::on_a_blocking_thread(runtime, move || self.write_json(text_len))
            .await
            .unwrap_or_else(|e| Err(serde::ser::Error::custom(e)))
    }
}

impl From<ExecuteResponse> for ExecuteAnswer {
    fn from(r: ExecuteResponse) -> Self {
        ExecuteAnswer { result: crate::execution::JsonData::Value(r.result), connector_metadata: r.connector_metadata }
    }
}

/// An error in a check result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckError {
    #[schema(value_type = String)]
    pub code: ErrorCode,
    pub message: String,
}

/// `POST .../check`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CheckResponse {
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub checked_entity: Option<String>,
    pub checked_action: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<CheckError>,
}

/// `/healthz` and `/readyz`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Status {
    pub status: String,
}

// ---------------------------------------------------------------- OAuth consent

/// The app's own OAuth client for one connector type, as an operator sets it
/// (`PUT /api/v1/oauth/clients/{connector_type}`). The secret is sealed and never answered.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthClientRequest {
    pub client_id: String,
    pub client_secret: String,
    /// Scopes asked for at consent; the spec's scopes of the authorization-code flow when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
}

/// Without the secret: a `{:?}` in a log line never prints it.
impl std::fmt::Debug for OAuthClientRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthClientRequest")
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// A configured OAuth client, without its secret.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthClient {
    pub connector_type: String,
    pub client_id: String,
    /// The scopes asked for at consent (empty: the spec's).
    pub scopes: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// The organization's configured OAuth clients.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthClientList {
    pub data: Vec<OAuthClient>,
}

/// Starts an OAuth consent (`POST /api/v1/oauth/initiate`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthInitiate {
    /// Slug, display name or definition id of a connector with an OAuth authorization-code flow.
    pub connector_type: String,
    /// The workspace (application tokens only; scoped and widget tokens use their own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_user_id: Option<String>,
    /// Where the end user's browser goes after the callback (`?connector_id=...`): on the widget
    /// token's own origin, or on an origin the organization registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// The name of the connector the consent creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub replication_config: Option<Value>,
    /// The connector's config (`base_url`, server variables such as Jira's `subdomain`): checked
    /// here as creating the connector checks it, used for the provider's consent and token URLs,
    /// and stored with the connector the consent creates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub config: Option<Value>,
}

/// Where to send the end user to approve the app.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OAuthConsent {
    /// The provider's consent page with client id, redirect URI, scopes, state and PKCE challenge.
    pub consent_url: String,
    /// The single-use state bound to this consent (also in `consent_url`).
    pub state: String,
    /// Seconds the consent may take before the state expires.
    pub expires_in: u64,
}

/// What the provider sends back to the callback.
#[derive(Clone, Default, Serialize, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OAuthCallbackQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// Without the code and state (each a credential for a moment): a `{:?}` never prints them.
impl std::fmt::Debug for OAuthCallbackQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthCallbackQuery")
            .field("error", &self.error)
            .field("error_description", &self.error_description)
            .finish_non_exhaustive()
    }
}

/// `POST .../context-store/sync`: the entities of the connector to sync in full into its
/// workspace's context store (each needs a `list` action that takes no params of the caller's).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncRequest {
    pub entities: Vec<String>,
    /// Schedules a full sync of each entity this often (seconds, 60 to 31,622,400); `null`
    /// removes the entities' schedules; absent leaves them as they are. Here: `None` absent,
    /// `Some(None)` null.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "present")]
    #[schema(value_type = Option<i64>, minimum = 60, maximum = 31_622_400)]
    pub every_seconds: Option<Option<i64>>,
    /// `auto` (the default: incremental when the entity's list has `x-incremental` and a full
    /// sync is recent enough, else full), `full` (a full sync with reconciliation) or
    /// `incremental` (only the records updated since the last sync; 422 `not_incremental` for
    /// an entity without `x-incremental`, `full_sync_needed` before its first full sync).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(pattern = "^(auto|full|incremental)$")]
    pub mode: Option<String>,
    /// With `auto`, a full sync (which also removes the records deleted at the provider) runs
    /// instead of an incremental one once the last full sync is this old (seconds, 60 to
    /// 31,622,400; default 86,400). Kept per entity for later syncs, scheduled ones included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 60, maximum = 31_622_400)]
    pub full_every_seconds: Option<i64>,
}

/// A field that tells absent (`None`, through `#[serde(default)]`) from `null` (`Some(None)`).
fn present<'de, D, T>(d: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// A string schema of these values only, described (a status written as text, documented as
/// the values it takes: the OpenAPI document and every SDK's type show them).
fn strings(values: &[&str], description: &str) -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

/// The schema of [`SyncStart::status`].
fn start_statuses() -> utoipa::openapi::Object {
    let doc = "`started` (a new sync: full, or incremental as the request's `mode` and the entity's \
               state decide; the status's `mode` says which), `resumed` (an interrupted or failed one, \
               from its last committed page) or `already_running`.";
    strings(&["started", "resumed", "already_running"], doc)
}

/// The schema of [`EntityStatus::status`].
fn sync_statuses() -> utoipa::openapi::Object {
    let doc = "`running`, `succeeded`, `failed` or `interrupted` (the engine stopped mid-sync; a \
               restarted engine, or the next sync request, resumes it).";
    strings(&["running", "succeeded", "failed", "interrupted"], doc)
}

/// The schema of [`EntityStatus::mode`].
fn sync_modes() -> utoipa::openapi::Object {
    strings(&["full", "incremental"], "The mode of the current (or last) sync: `full` or `incremental`.")
}

/// How the sync of one entity started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncStart {
    pub entity: String,
    /// `started`, `resumed` or `already_running` (what each means: `start_statuses`).
    #[schema(schema_with = start_statuses)]
    pub status: String,
    /// The sync's generation (0 when `already_running`).
    pub generation: i64,
}

/// The answer to a sync request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncStarted {
    pub entities: Vec<SyncStart>,
}

/// The sync state of one entity of the context store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EntityStatus {
    pub entity: String,
    /// `running`, `succeeded`, `failed` or `interrupted` (what each means: `sync_statuses`).
    #[schema(schema_with = sync_statuses)]
    pub status: String,
    /// Bumped by every new full sync.
    pub generation: i64,
    /// Pages committed by the current (or last) sync.
    pub pages: i64,
    /// Records committed by the current (or last) sync.
    pub records_synced: i64,
    /// Records in the cache after the last completed sync.
    pub record_count: i64,
    /// Records the last completed sync deleted (gone at the provider).
    pub deleted: i64,
    /// Why the last sync failed, when it did.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// When the current (or last) sync started (RFC 3339).
    #[schema(required = true)]
    pub started_at: Option<String>,
    /// When the last sync finished (RFC 3339).
    #[schema(required = true)]
    pub finished_at: Option<String>,
    /// When the sync state last changed (RFC 3339).
    #[schema(required = true)]
    pub updated_at: Option<String>,
    /// Seconds between scheduled full syncs (the sync request's `every_seconds`); absent when
    /// the entity is not scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_seconds: Option<i64>,
    /// When the next scheduled sync is due (RFC 3339); absent when not scheduled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run_at: Option<String>,
    /// The mode of the current (or last) sync: `full` or `incremental`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = sync_modes)]
    pub mode: Option<String>,
    /// The latest update time (RFC 3339) of the records synced so far, read from the field
    /// `x-incremental` names; the next incremental sync asks from it, less the lookback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub high_water_mark: Option<String>,
    /// When the last full sync (with reconciliation) finished (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_sync_at: Option<String>,
    /// The `full_every_seconds` kept for the entity (absent: the default, 86,400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_every_seconds: Option<i64>,
}

/// `GET .../context-store/status`: the sync state of each synced entity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StoreStatus {
    pub entities: Vec<EntityStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `f`'s output, run on a fresh runtime of `builder` (`f` spawned onto it, so on a
    /// multi-threaded runtime it runs on a worker), and how many threads that runtime started
    /// meanwhile: a single-threaded runtime starts none but those of its blocking pool, a
    /// multi-threaded one its workers besides.
    fn threads_started_by<T: Send + 'static>(
        mut builder: tokio::runtime::Builder,
        f: impl std::future::Future<Output = T> + Send + 'static,
    ) -> (T, usize) {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let started = std::sync::Arc::new(AtomicUsize::new(0));
        let counter = started.clone();
        let rt = builder
            .on_thread_start(move || {
                counter.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        let out = rt.block_on(async { tokio::spawn(f).await.unwrap_or_else(|e| panic!("{e}")) });
        (out, started.load(Ordering::SeqCst))
    }

    #[test]
    fn a_long_answer_is_written_on_a_blocking_thread_of_a_single_threaded_runtime_only() {
        let answer = |records: usize| {
            let items: Vec<String> =
                (0..records).map(|i| format!(r#"{{"id":{i},"name":"record number {i} of the page"}}"#)).collect();
            let page = format!(r#"{{"data":[{}]}}"#, items.join(","));
            let (_, texts) = crate::extract::split_records(page.as_bytes(), &["data".to_string()])
                .unwrap_or_else(|| panic!("a page of records"));
            ExecuteAnswer { result: crate::execution::JsonData::Records(texts), connector_metadata: Default::default() }
        };
        for (records, long) in [(10, false), (20_000, true)] {
            let a = answer(records);
            assert_eq!(a.result.text_len() >= crate::apart::LONG_BYTES, long);
            let expected = a.to_json().unwrap_or_else(|e| panic!("{e}"));
            let (written, threads) = threads_started_by(tokio::runtime::Builder::new_current_thread(), a.into_json());
            assert_eq!(written.unwrap_or_else(|e| panic!("{e}")), expected);
            assert_eq!(threads > 0, long, "{records} records: {threads} threads started");
        }
        // On a multi-threaded runtime a long answer is written in place: its one worker is the
        // only thread it ever starts.
        let a = answer(20_000);
        let expected = a.to_json().unwrap_or_else(|e| panic!("{e}"));
        let mut one_worker = tokio::runtime::Builder::new_multi_thread();
        one_worker.worker_threads(1);
        let (written, threads) = threads_started_by(one_worker, a.into_json());
        assert_eq!(written.unwrap_or_else(|e| panic!("{e}")), expected);
        assert_eq!(threads, 1, "a thread besides the worker was started");
    }

    #[test]
    fn a_sync_request_tells_an_absent_schedule_from_a_null_one() -> crate::Result<()> {
        let cases = [
            (None, json!({"entities": ["a"]})),
            (Some(None), json!({"entities": ["a"], "every_seconds": null})),
            (Some(Some(3600)), json!({"entities": ["a"], "every_seconds": 3600})),
        ];
        for (every_seconds, wire) in cases {
            let request = SyncRequest { entities: vec!["a".into()], every_seconds, ..Default::default() };
            let v = serde_json::to_value(&request).map_err(|e| crate::Error::internal(e.to_string()))?;
            assert_eq!(v, wire);
            let back: SyncRequest = serde_json::from_value(v).map_err(|e| crate::Error::internal(e.to_string()))?;
            assert_eq!(back, request);
        }
        Ok(())
    }

    #[test]
    fn metadata_keeps_the_reference_shape() -> crate::Result<()> {
        let mut meta = Map::new();
        meta.insert("has_next_page".into(), json!(true));
        let body = ExecuteResponse {
            result: json!([]),
            connector_metadata: ConnectorMetadata {
                meta: meta.clone(),
                pagination: meta,
                next_page: Some(NextPage { param: "after".into(), cursor: json!("c1") }),
            },
        };
        let v = serde_json::to_value(&body).map_err(|e| crate::Error::internal(e.to_string()))?;
        assert_eq!(
            v,
            json!({"result": [], "connector_metadata": {"has_next_page": true, "pagination": {"has_next_page": true},
                "next_page": {"param": "after", "cursor": "c1"}}})
        );
        let back: ExecuteResponse = serde_json::from_value(v).map_err(|e| crate::Error::internal(e.to_string()))?;
        assert_eq!(back, body);
        Ok(())
    }

    #[test]
    fn an_answer_with_records_as_text_reads_as_the_response() -> crate::Result<()> {
        let fail = |e: serde_json::Error| crate::Error::internal(e.to_string());
        let records = ["{\"id\": 1, \"t\": \"\\u00e9\"}", "null", "{}"];
        let answer = ExecuteAnswer {
            result: crate::execution::JsonData::Records(
                records
                    .iter()
                    .map(|r| crate::execution::RecordText::checked(r))
                    .collect::<Result<_, _>>()
                    .map_err(fail)?,
            ),
            connector_metadata: ConnectorMetadata::default(),
        };
        let text = serde_json::to_string(&answer).map_err(fail)?;
        let back: ExecuteResponse = serde_json::from_str(&text).map_err(fail)?;
        assert_eq!(back.result, json!([{"id": 1, "t": "\u{e9}"}, null, {}]));
        let tree = ExecuteAnswer::from(back.clone());
        assert_eq!(
            serde_json::from_str::<ExecuteResponse>(&serde_json::to_string(&tree).map_err(fail)?).map_err(fail)?,
            back
        );
        Ok(())
    }

    #[test]
    fn create_accepts_environment_as_config_and_refuses_unknown_fields() {
        let c: Result<CreateConnector, _> =
            serde_json::from_value(json!({"connector_type": "github", "environment": {"a": 1}}));
        assert_eq!(c.ok().and_then(|mut c| c.take_config()), Some(json!({"a": 1})));
        let both: Result<CreateConnector, _> =
            serde_json::from_value(json!({"config": {"a": 1}, "environment": {"b": 2}}));
        assert_eq!(both.ok().and_then(|mut c| c.take_config()), Some(json!({"a": 1})));
        let bad: Result<CreateConnector, _> = serde_json::from_value(json!({"connector_type": "github", "bogus": 1}));
        assert!(bad.is_err());
    }
}
