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
}

impl WorkspaceRef {
    /// The workspace named, by whichever field names it.
    pub fn name(&self) -> Option<&str> {
        self.workspace_name
            .as_deref()
            .or(self.external_user_id.as_deref())
            .or(self.customer_name.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty())
    }
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
    /// The workspace named, by whichever field names it.
    pub fn workspace(&self) -> Option<&str> {
        self.workspace_name.as_deref().or(self.external_user_id.as_deref())
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
