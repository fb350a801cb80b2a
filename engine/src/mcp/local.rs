//! `switchboard mcp`: the MCP server over stdio in local mode. Connectors run in this process
//! with credentials from a file (`--credentials-file`) or the environment
//! (`SWITCHBOARD_MCP_CONNECTORS`), both the same mapping, JSON or YAML:
//!
//! ```yaml
//! work_github:                 # tool name prefix: work_github_execute
//!   connector: github          # slug, display name or definition id (default: the key)
//!   credentials: {personal_access_token: ghp_...}
//!   config: {base_url: https://api.github.com}   # optional
//! ```
//!
//! Hosted mode over stdio (`--hosted`): the tools are a workspace's stored connectors, run
//! through the engine with core's hosted client (`SWITCHBOARD_API_URL` and
//! `SWITCHBOARD_CLIENT_ID` / `SWITCHBOARD_CLIENT_SECRET`, or `SWITCHBOARD_SCOPED_TOKEN`), named
//! by connector name as on `/mcp`.

use std::collections::BTreeMap;
use std::sync::Arc;

use rmcp::model::{CallToolRequestParams, CallToolResponse, ListToolsResult, PaginatedRequestParams, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer, ServerHandler, ServiceExt};
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::hosted::{HostedExecutor, Workspace};
use switchboard_core::sdk::{ClientSettings, ExecuteRequest, Executor};
use switchboard_core::{Connector, ConnectorOptions, Error, Registry};

use super::{
    describe_result, error_result, resolve, server_info, success_result, tools, unique_prefixes, Call, Entry, ToolStyle,
};

/// One connector of the credentials file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConnectorEntry {
    #[serde(default)]
    connector: Option<String>,
    #[serde(default)]
    credentials: Value,
    #[serde(default)]
    config: Value,
}

/// Parses the credentials mapping (JSON, or YAML); `what` names where it came from. The text is
/// never echoed: it holds secrets.
pub fn parse_connectors(what: &str, text: &str) -> Result<BTreeMap<String, Value>, Error> {
    let parsed: Result<BTreeMap<String, Value>, String> = if text.trim_start().starts_with('{') {
        serde_json::from_str(text).map_err(|e| format!("line {}, column {}", e.line(), e.column()))
    } else {
        serde_norway::from_str(text).map_err(|e| match e.location() {
            Some(l) => format!("line {}, column {}", l.line(), l.column()),
            None => "not a mapping".into(),
        })
    };
    parsed.map_err(|at| {
        Error::configuration(format!(
            "{what} is not a JSON or YAML mapping of name -> {{connector, credentials, config}} ({at})"
        ))
    })
}

/// The stdio server: the configured connectors (local) or a workspace's (hosted), each a tool.
#[derive(Clone)]
pub struct LocalServer {
    entries: Arc<Vec<Entry<Executor>>>,
    max_output_chars: usize,
    style: ToolStyle,
}

impl LocalServer {
    /// Opens every connector of `mapping` (name -> entry) with `registry`.
    pub fn new(
        registry: &Registry,
        mapping: BTreeMap<String, Value>,
        max_output_chars: usize,
        style: ToolStyle,
    ) -> Result<Self, Error> {
        if mapping.is_empty() {
            return Err(Error::configuration(
                "no connectors: give --credentials-file FILE or SWITCHBOARD_MCP_CONNECTORS (name -> {connector, \
                 credentials, config})",
            ));
        }
        let mut parsed = Vec::new();
        for (name, v) in mapping {
            let e: ConnectorEntry = serde_json::from_value(v).map_err(|e| {
                Error::configuration(format!("connector {name:?}: expected {{connector, credentials, config}}: {e}"))
            })?;
            let spec = registry.get(e.connector.as_deref().unwrap_or(&name))?;
            parsed.push((name, spec, e));
        }
        let keys: Vec<(&str, &str, &str)> =
            parsed.iter().map(|(n, s, _)| (n.as_str(), s.slug.as_str(), s.slug.as_str())).collect();
        let prefixes = unique_prefixes(&keys);
        let mut entries = Vec::new();
        for ((_, spec, e), prefix) in parsed.into_iter().zip(prefixes) {
            let or_empty = |v: Value| if v.is_null() { json!({}) } else { v };
            let c =
                Connector::new(spec.clone(), or_empty(e.credentials), or_empty(e.config), ConnectorOptions::default())?;
            entries.push(Entry { prefix, spec, label: None, target: Executor::from(c) });
        }
        Ok(Self { entries: Arc::new(entries), max_output_chars, style })
    }

    /// The connectors of workspace `workspace` (or a scoped token's own) in the engine that
    /// `settings` (and the environment) name; types `registry` does not load are left out.
    pub async fn hosted(
        registry: &Registry,
        settings: ClientSettings,
        workspace: Option<String>,
        max_output_chars: usize,
        style: ToolStyle,
    ) -> Result<Self, Error> {
        let client = settings.client(None)?;
        let ws = Workspace::for_client(client.clone(), workspace)?;
        let listed: Vec<_> = ws
            .list_connectors()
            .await?
            .into_iter()
            .filter_map(|c| registry.get(&c.slug).ok().map(|spec| (c, spec)))
            .collect();
        let keys: Vec<(&str, &str, &str)> =
            listed.iter().map(|(c, _)| (c.name.as_str(), c.slug.as_str(), c.id.as_str())).collect();
        let prefixes = unique_prefixes(&keys);
        let entries = listed
            .into_iter()
            .zip(prefixes)
            .map(|((c, spec), prefix)| {
                let label = format!("Connector \"{}\" ({}, id {})", c.name, c.connector_type, c.id);
                let target = Executor::from(HostedExecutor::by_id(client.clone(), c.id));
                Entry { prefix, spec, label: Some(label), target }
            })
            .collect();
        Ok(Self { entries: Arc::new(entries), max_output_chars, style })
    }

    /// Serves MCP on stdin / stdout until the client closes them.
    pub async fn serve_stdio(self) -> Result<(), Error> {
        let running = self
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| Error::internal(format!("the MCP session did not start: {e}")))?;
        running.waiting().await.map_err(|e| Error::internal(format!("the MCP session failed: {e}")))?;
        Ok(())
    }
}

impl ServerHandler for LocalServer {
    fn get_info(&self) -> ServerConfig {
        server_info()
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        Ok(ListToolsResult::with_all_items(tools(&self.entries, self.style)))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let result = match resolve(&self.entries, self.style, &request)? {
            Err(bad) => bad,
            Ok(Call::Describe(e)) => describe_result(e, self.max_output_chars),
            Ok(Call::Execute(e, args)) => {
                let opts = args.options();
                let request = ExecuteRequest {
                    params: args.params(),
                    select_fields: opts.select_fields,
                    exclude_fields: opts.exclude_fields,
                    ..ExecuteRequest::new(args.entity, args.action, serde_json::Value::Null)
                };
                match e.target.execute(request).await {
                    Ok(r) => success_result(&r, self.max_output_chars),
                    Err(err) => error_result(err.code, &err.message, err.details.as_ref()),
                }
            }
        };
        Ok(result.into())
    }
}
