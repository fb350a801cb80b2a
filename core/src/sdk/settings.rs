//! What a binding's constructors take, resolved once here: the reference product's argument
//! names as aliases of ours, the environment as the fallback for anything not passed, and the
//! rules that turn "which connector" into a target. A binding passes its arguments through
//! unchanged; it never decides which one wins.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::hosted::{HostedClient, HostedConfig, TokenProvider};
use crate::http::HttpClient;

/// A variable's trimmed value, when set and not empty.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Worker threads for a binding's tokio runtime: tokio's own `TOKIO_WORKER_THREADS` when it
/// is set to a positive number, else one fewer than the cores this process may use, at least
/// one. The language's own thread (Python's, which holds the GIL, or Node's main thread) works
/// on every call too, making its objects: with a worker per core, the workers a finished call
/// wakes to look for more work take cores from it. On two cores one worker made Python's
/// awaited call about 9% cheaper and Node's throughput at 1,000 in flight about 20% higher
/// (benches/PROFILE.md, section 2).
pub fn runtime_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    workers_for(env("TOKIO_WORKER_THREADS").as_deref(), cores)
}

/// A binding's tokio runtime, before the binding's own hooks: multi-threaded with
/// [`runtime_workers`] workers named `switchboard`, its I/O and time drivers on.
pub fn runtime_builder() -> tokio::runtime::Builder {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(runtime_workers()).thread_name("switchboard").enable_all();
    builder
}

fn workers_for(asked: Option<&str>, cores: usize) -> usize {
    match asked.and_then(|v| v.parse::<usize>().ok()).filter(|n| *n > 0) {
        Some(n) => n,
        None => cores.saturating_sub(1).max(1),
    }
}

/// The first of our name and the reference's alias that is given; both given and different
/// is an error, so a typo does not silently pick one.
fn one_of(ours: Option<String>, ours_name: &str, alias: Option<String>, alias_name: &str) -> Result<Option<String>> {
    match (ours, alias) {
        (Some(a), Some(b)) if a != b => {
            Err(Error::configuration(format!("pass {ours_name} or {alias_name}, not both with different values")))
        }
        (Some(a), _) => Ok(Some(a)),
        (None, b) => Ok(b),
    }
}

/// The first variable of `names` that is set.
fn env_any(names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| env(n))
}

/// Where the engine is and who calls it, as every binding's `Workspace`, `HostedExecutor` and
/// `connect` take it. Unset fields fall back to the environment: `SWITCHBOARD_API_URL`,
/// `SWITCHBOARD_CLIENT_ID` (else `AIRBYTE_CLIENT_ID`), `SWITCHBOARD_CLIENT_SECRET` (else
/// `AIRBYTE_CLIENT_SECRET`), `SWITCHBOARD_ORGANIZATION_ID` (else `AIRBYTE_ORGANIZATION_ID`).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClientSettings {
    pub base_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    /// The reference SDK's name for `client_id`.
    pub airbyte_client_id: Option<String>,
    /// The reference SDK's name for `client_secret`.
    pub airbyte_client_secret: Option<String>,
    /// A scoped token for one workspace, instead of client credentials (mobile and browser
    /// apps; or `SWITCHBOARD_SCOPED_TOKEN`). A binding may plug a token provider in instead.
    pub scoped_token: Option<String>,
    pub organization_id: Option<String>,
    /// Seconds allowed for one call to the engine.
    pub timeout: Option<f64>,
}

impl std::fmt::Debug for ClientSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientSettings")
            .field("base_url", &self.base_url.as_deref().map(crate::redact::shown_url))
            .field("client_id", &self.client_id.as_ref().or(self.airbyte_client_id.as_ref()))
            .field("organization_id", &self.organization_id)
            .finish_non_exhaustive()
    }
}

/// JSON text a binding was handed (params, settings, a target...) as a core type; a mismatch is
/// a `validation` error naming the argument and the field in it (`settings.timeout: invalid
/// type: string, expected f64`), never the value. Text holding a lone UTF-16 surrogate escape
/// (what a language's JSON writer makes of a string that is not Unicode text, e.g. Python's
/// `"\ud800"`) is said to be that, and a `NaN` or `Infinity` (Python's `json.dumps` writes them)
/// likewise, instead of serde's "unexpected end of hex escape" or "expected value".
pub fn arg<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T> {
    // Every argument is an object; serde would read a list as a struct's fields in order (`[]`
    // as settings with nothing set).
    if text.trim_start().starts_with('[') {
        return Err(Error::validation(format!("{what} must be a JSON object, not a list")));
    }
    serde_json::from_str(text).map_err(|_| {
        if crate::extract::mend_lone_surrogates(text.as_bytes()).is_some() {
            return not_unicode(what);
        }
        // Parsed again on this failing path only, to learn where the mismatch is.
        let e = serde_path_to_error::deserialize::<_, T>(&mut serde_json::Deserializer::from_str(text))
            .err()
            .map(|e| (e.path().to_string(), e.into_inner()));
        let Some((path, inner)) = e else { return Error::validation(format!("{what}: cannot be read")) };
        let at = if path == "." { what.to_string() } else { format!("{what}.{path}") };
        let rest =
            text.lines().nth(inner.line().saturating_sub(1)).and_then(|l| l.get(inner.column().saturating_sub(1)..));
        if rest.is_some_and(|r| ["NaN", "Infinity", "-Infinity"].iter().any(|n| r.starts_with(n))) {
            return Error::validation(format!("{at}: NaN and infinities are not JSON numbers; send a finite number"));
        }
        let message = inner.to_string();
        let message = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]);
        Error::validation(format!("{at}: {}", crate::redact::without_values(message)))
    })
}

/// The `validation` error of an argument whose text holds a lone UTF-16 surrogate, which a
/// language's strings may hold and Unicode text may not: a binding that finds one says this.
pub fn not_unicode(what: &str) -> Error {
    Error::validation(format!(
        "{what}: a string holds a lone UTF-16 surrogate (\\ud800 to \\udfff without its pair), which is not \
         Unicode text; remove it or replace it with U+FFFD"
    ))
}

/// Seconds from a binding as a duration, or a `validation` error naming the argument.
pub fn seconds(what: &str, secs: Option<f64>) -> Result<Option<Duration>> {
    secs.map(|s| {
        Duration::try_from_secs_f64(s)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| Error::validation(format!("{what} must be a positive number of seconds, got {s}")))
    })
    .transpose()
}

impl ClientSettings {
    /// The engine client these settings describe, sending through `http` (the shared client
    /// when `None`).
    pub fn client(self, http: Option<std::sync::Arc<dyn HttpClient>>) -> Result<HostedClient> {
        HostedClient::new(self.resolve(http)?)
    }

    /// The engine client with `provider` supplying (and renewing) its token.
    pub fn client_with_provider(
        self,
        provider: std::sync::Arc<dyn TokenProvider>,
        http: Option<std::sync::Arc<dyn HttpClient>>,
    ) -> Result<HostedClient> {
        HostedClient::new(HostedConfig { token_provider: Some(provider), ..self.resolve(http)? })
    }

    /// Aliases merged and the environment applied.
    pub fn resolve(self, http: Option<std::sync::Arc<dyn HttpClient>>) -> Result<HostedConfig> {
        let client_id = one_of(self.client_id, "client_id", self.airbyte_client_id, "airbyte_client_id")?;
        let client_secret =
            one_of(self.client_secret, "client_secret", self.airbyte_client_secret, "airbyte_client_secret")?;
        let scoped_token = self.scoped_token.or_else(|| env("SWITCHBOARD_SCOPED_TOKEN"));
        Ok(HostedConfig {
            base_url: self.base_url.or_else(|| env("SWITCHBOARD_API_URL")),
            scoped_token,
            token_provider: None,
            client_id: client_id.or_else(|| env_any(&["SWITCHBOARD_CLIENT_ID", "AIRBYTE_CLIENT_ID"])),
            client_secret: client_secret.or_else(|| env_any(&["SWITCHBOARD_CLIENT_SECRET", "AIRBYTE_CLIENT_SECRET"])),
            organization_id: self
                .organization_id
                .or_else(|| env_any(&["SWITCHBOARD_ORGANIZATION_ID", "AIRBYTE_ORGANIZATION_ID"])),
            timeout: seconds("timeout", self.timeout)?,
            http,
        })
    }
}

/// Which stored connector a hosted executor runs: by `connector_id`, or by workspace and
/// connector type. The workspace is `workspace_name`, or the reference's `external_user_id`,
/// or `SWITCHBOARD_WORKSPACE_NAME`; the type is `connector` (a slug such as `github`, a display
/// name or a definition id), or the reference's `connector_definition_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Target {
    pub connector_id: Option<String>,
    pub workspace_name: Option<String>,
    /// The reference SDK's name for the workspace.
    pub external_user_id: Option<String>,
    pub connector: Option<String>,
    /// The reference SDK's name for the connector type.
    pub connector_definition_id: Option<String>,
}

/// A target with its rules applied.
#[derive(Debug, Clone, PartialEq)]
pub enum ResolvedTarget {
    /// One connector by id.
    Id(String),
    /// The one connector of a type in a workspace (`None`: a scoped token's own), looked up on
    /// first use.
    Lookup { workspace_name: Option<String>, connector_type: String },
}

impl Target {
    /// The workspace name, from the argument, its alias or the environment.
    pub fn workspace(&self) -> Result<Option<String>> {
        let ws =
            one_of(self.workspace_name.clone(), "workspace_name", self.external_user_id.clone(), "external_user_id")?;
        Ok(ws.or_else(|| env("SWITCHBOARD_WORKSPACE_NAME")).filter(|w| !w.trim().is_empty()))
    }

    /// Applies the rules: an id wins; else a type and a workspace are needed (a `scoped`
    /// client's token names its workspace).
    pub fn resolve(&self, scoped: bool) -> Result<ResolvedTarget> {
        if let Some(id) = self.connector_id.as_ref().filter(|id| !id.trim().is_empty()) {
            return Ok(ResolvedTarget::Id(id.clone()));
        }
        let ty = one_of(
            self.connector.clone(),
            "connector",
            self.connector_definition_id.clone(),
            "connector_definition_id",
        )?;
        match (self.workspace()?, ty) {
            (Some(w), Some(connector_type)) => Ok(ResolvedTarget::Lookup { workspace_name: Some(w), connector_type }),
            // No workspace: a scoped token's own, else the default one (the reference's rule).
            (None, Some(connector_type)) => Ok(ResolvedTarget::Lookup {
                workspace_name: (!scoped).then(|| crate::hosted::DEFAULT_WORKSPACE.to_string()),
                connector_type,
            }),
            (None, None) => Err(Error::configuration(
                "pass connector_id, or a connector type (slug such as \"github\" or connector_definition_id)",
            )),
            (Some(_), None) => Err(Error::configuration(
                "pass connector_id, or a connector type (slug such as \"github\" or connector_definition_id) with the \
                 workspace",
            )),
        }
    }
}

/// What a typed connector's constructor takes (`GithubConnector(...)` in every language): the
/// connector's credentials run it in this process; without them it runs through the engine, on
/// the one connector of its type in the workspace (or `connector_id`), with the client settings
/// of [`ClientSettings`] (their aliases and environment fallbacks included).
#[derive(Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectorSettings {
    /// Slug, display name or definition id (the typed connector's own).
    pub connector: String,
    /// Local mode: the connector's credentials.
    pub credentials: Option<serde_json::Value>,
    /// Local mode: config such as `base_url`.
    pub config: Option<serde_json::Value>,
    /// Seconds allowed for one upstream exchange (local) or one engine call (hosted).
    pub timeout: Option<f64>,
    /// Local mode: at most this many of the connector's requests in progress at once.
    pub max_concurrent_requests: Option<u64>,
    pub connector_id: Option<String>,
    pub workspace_name: Option<String>,
    pub external_user_id: Option<String>,
    pub base_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub airbyte_client_id: Option<String>,
    pub airbyte_client_secret: Option<String>,
    pub scoped_token: Option<String>,
    pub organization_id: Option<String>,
}

impl std::fmt::Debug for ConnectorSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectorSettings").field("connector", &self.connector).finish_non_exhaustive()
    }
}

/// Where a typed connector runs, by [`ConnectorSettings::mode`].
#[derive(Debug)]
pub enum ConnectorMode {
    Local(crate::sdk::LocalSettings),
    Hosted(ClientSettings, Target),
}

impl ConnectorSettings {
    /// Credentials mean local mode, and then no hosted argument may be given (it would be
    /// silently ignored); otherwise hosted mode.
    pub fn mode(self) -> Result<ConnectorMode> {
        let hosted_args = [
            ("connector_id", self.connector_id.is_some()),
            ("workspace_name", self.workspace_name.is_some()),
            ("external_user_id", self.external_user_id.is_some()),
            ("base_url", self.base_url.is_some()),
            ("client_id", self.client_id.is_some() || self.airbyte_client_id.is_some()),
            ("client_secret", self.client_secret.is_some() || self.airbyte_client_secret.is_some()),
            ("scoped_token", self.scoped_token.is_some()),
            ("organization_id", self.organization_id.is_some()),
        ];
        match self.credentials.filter(|c| !c.is_null()) {
            Some(credentials) => {
                if let Some((name, _)) = hosted_args.iter().find(|(_, given)| *given) {
                    return Err(Error::configuration(format!(
                        "credentials run the connector in this process, and {name} is for the engine: pass one or the other"
                    )));
                }
                Ok(ConnectorMode::Local(crate::sdk::LocalSettings {
                    connector: self.connector,
                    credentials,
                    config: self.config.unwrap_or_default(),
                    timeout: self.timeout,
                    max_concurrent_requests: self.max_concurrent_requests,
                }))
            }
            None => {
                if self.config.as_ref().is_some_and(|c| !c.is_null()) {
                    return Err(Error::configuration(
                        "config goes with credentials (local mode); a hosted connector's config is stored in the engine",
                    ));
                }
                if self.max_concurrent_requests.is_some() {
                    return Err(Error::configuration(
                        "max_concurrent_requests goes with credentials (local mode); the engine bounds a stored \
                         connector's requests itself (serve --upstream-exchanges-per-connector)",
                    ));
                }
                let client = ClientSettings {
                    base_url: self.base_url,
                    client_id: self.client_id,
                    client_secret: self.client_secret,
                    airbyte_client_id: self.airbyte_client_id,
                    airbyte_client_secret: self.airbyte_client_secret,
                    scoped_token: self.scoped_token,
                    organization_id: self.organization_id,
                    timeout: self.timeout,
                };
                let target = Target {
                    connector_id: self.connector_id,
                    workspace_name: self.workspace_name,
                    external_user_id: self.external_user_id,
                    connector: Some(self.connector),
                    connector_definition_id: None,
                };
                Ok(ConnectorMode::Hosted(client, target))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_argument_that_is_not_unicode_text_is_said_to_be_that() {
        let refused = |text: &str| match arg::<serde_json::Value>("params", text) {
            Err(e) => e,
            Ok(v) => panic!("{text} read as {v}"),
        };
        let err = refused("[]");
        assert_eq!(err.message, "params must be a JSON object, not a list");
        let settings = arg::<ConnectorSettings>("settings", " [\"github\"]").err().map(|e| e.message);
        assert_eq!(settings.as_deref(), Some("settings must be a JSON object, not a list"));
        let err = refused(r#"{"owner": "a\ud800"}"#);
        assert_eq!(err.code, crate::ErrorCode::Validation);
        assert!(err.message.contains("params: a string holds a lone UTF-16 surrogate"), "{}", err.message);
        let err = refused(r#"{"owner\udc00": 1}"#);
        assert!(err.message.contains("lone UTF-16 surrogate"), "{}", err.message);
        // A pair is text; other mistakes keep serde's message.
        let ok: serde_json::Value = arg("params", r#"{"owner": "\ud83d\ude00"}"#).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ok["owner"], "\u{1f600}");
        let err = refused(r#"{"owner": }"#);
        assert_eq!(err.message, "params.owner: expected value");
        // Python's json.dumps writes NaN and infinities; they are said to be what they are.
        for text in [r#"{"per_page": NaN}"#, r#"{"a": [1, -Infinity]}"#] {
            let err = refused(text);
            assert!(err.message.contains("NaN and infinities are not JSON numbers"), "{text}: {}", err.message);
        }
        assert!(refused(r#"{"per_page": NaN}"#).message.starts_with("params.per_page: "));
    }

    #[test]
    fn a_mismatch_names_the_field_and_never_the_value() {
        let e = arg::<crate::sdk::LocalSettings>(
            "settings",
            r#"{"connector": "github", "credentials": {}, "timeout": "tok-9f8e7d"}"#,
        )
        .err()
        .map(|e| e.message);
        assert_eq!(e.as_deref(), Some("settings.timeout: invalid type: string, expected f64"));
        let e = arg::<ClientSettings>("settings", r#"{"client_secret": 987654321}"#).err().map(|e| e.message);
        assert_eq!(e.as_deref(), Some("settings.client_secret: invalid type: integer, expected a string"));
    }

    #[test]
    fn a_bindings_runtime_leaves_a_core_to_the_languages_thread() {
        assert_eq!(workers_for(None, 1), 1);
        assert_eq!(workers_for(None, 2), 1);
        assert_eq!(workers_for(None, 8), 7);
        // tokio's own variable, when it names a positive number, decides.
        assert_eq!(workers_for(Some("3"), 2), 3);
        assert_eq!(workers_for(Some("0"), 8), 7);
        assert_eq!(workers_for(Some("many"), 8), 7);
    }

    #[test]
    fn credentials_mean_local_mode_and_exclude_hosted_arguments() {
        let local = ConnectorSettings {
            connector: "github".into(),
            credentials: Some(serde_json::json!({"token": "x"})),
            ..Default::default()
        };
        assert!(matches!(local.clone().mode(), Ok(ConnectorMode::Local(_))));
        let both = ConnectorSettings { external_user_id: Some("acme".into()), ..local };
        let e = both.mode().err().map(|e| e.message).unwrap_or_default();
        assert!(e.contains("external_user_id"), "{e}");
        let hosted = ConnectorSettings {
            connector: "gong".into(),
            external_user_id: Some("acme".into()),
            airbyte_client_id: Some("id".into()),
            ..Default::default()
        };
        match hosted.mode() {
            Ok(ConnectorMode::Hosted(c, t)) => {
                assert_eq!(c.airbyte_client_id.as_deref(), Some("id"));
                assert_eq!(t.connector.as_deref(), Some("gong"));
                assert_eq!(t.external_user_id.as_deref(), Some("acme"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn aliases_merge_and_conflicts_are_named() -> Result<()> {
        let s = ClientSettings {
            base_url: Some("http://127.0.0.1:1".into()),
            airbyte_client_id: Some("id".into()),
            airbyte_client_secret: Some("secret".into()),
            ..Default::default()
        };
        let c = s.resolve(None)?;
        assert_eq!(c.client_id.as_deref(), Some("id"));
        assert_eq!(c.client_secret.as_deref(), Some("secret"));
        let both =
            ClientSettings { client_id: Some("a".into()), airbyte_client_id: Some("b".into()), ..Default::default() };
        let e = both.resolve(None).err().map(|e| e.message).unwrap_or_default();
        assert!(e.contains("client_id") && e.contains("airbyte_client_id"), "{e}");
        Ok(())
    }

    #[test]
    fn targets_follow_the_rules() {
        let by_id = Target { connector_id: Some("c1".into()), connector: Some("github".into()), ..Default::default() };
        assert_eq!(by_id.resolve(false).ok(), Some(ResolvedTarget::Id("c1".into())));
        let by_type = Target {
            external_user_id: Some("acme".into()),
            connector_definition_id: Some("ef69ef6e-aa7f-4af1-a01d-ef775033524e".into()),
            ..Default::default()
        };
        assert_eq!(
            by_type.resolve(false).ok(),
            Some(ResolvedTarget::Lookup {
                workspace_name: Some("acme".into()),
                connector_type: "ef69ef6e-aa7f-4af1-a01d-ef775033524e".into()
            })
        );
        let no_type = Target { workspace_name: Some("acme".into()), ..Default::default() };
        let e = no_type.resolve(false).err().map(|e| e.message).unwrap_or_default();
        assert!(e.contains("connector type"), "{e}");
        // No workspace: the default one for an application's client, the token's own for a
        // scoped one (unless SWITCHBOARD_WORKSPACE_NAME names one).
        let by_slug = Target { connector: Some("github".into()), ..Default::default() };
        let env = std::env::var("SWITCHBOARD_WORKSPACE_NAME").ok().filter(|w| !w.trim().is_empty());
        let lookup = |workspace_name: Option<&str>| ResolvedTarget::Lookup {
            workspace_name: workspace_name.map(str::to_string),
            connector_type: "github".into(),
        };
        assert_eq!(by_slug.resolve(false).ok(), Some(lookup(Some(env.as_deref().unwrap_or("default")))));
        assert_eq!(by_slug.resolve(true).ok(), Some(lookup(env.as_deref())));
        let e = Target::default().resolve(false).err().map(|e| e.message).unwrap_or_default();
        assert!(e.contains("pass connector_id, or a connector type"), "{e}");
    }

    #[test]
    fn seconds_must_be_positive() {
        assert!(seconds("timeout", Some(-1.0)).is_err());
        assert!(seconds("timeout", Some(0.0)).is_err());
        assert_eq!(seconds("timeout", Some(1.5)).ok().flatten(), Some(Duration::from_millis(1500)));
        assert_eq!(seconds("timeout", None).ok().flatten(), None);
    }
}
