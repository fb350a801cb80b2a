//! Checks a connector's credentials, config and replication config against its spec, naming
//! every problem field at once, before anything is stored or sent. The engine runs it when a
//! connector is created or changed (and answers `validation` with the list); local mode runs the
//! credential and config part in [`Connector::new`](crate::Connector::new) (and fails with
//! `configuration`), so a connector the engine accepts is one local mode can run, and a wrong
//! credential set fails before any network call.
//!
//! Messages name fields, never their values: a value may be a secret.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::select_scheme;
use crate::error::Error;
use crate::request::header_cannot_carry;
use crate::spec::{brace_fields, template_fields, AuthKind, AuthScheme, ConnectorSpec};

/// One field that is missing or invalid, e.g. `{field: "credentials.api_key", problem: "is
/// required"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldProblem {
    /// A dot path: `credentials.api_key`, `config.base_url`, `replication_config.repositories`.
    pub field: String,
    /// What is wrong, phrased to follow the field name (`is required`, `must be a string`).
    pub problem: String,
}

impl FieldProblem {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { field: field.into(), problem: problem.into() }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.problem)
    }
}

/// Every problem as one sentence: `credentials.api_key is required; config.base_url must be ...`.
pub fn summary(problems: &[FieldProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}

/// Makes the reference product's spellings ours, before anything is checked or stored:
/// `option_title` (which auth option the caller means, by its title or scheme name) is taken out
/// of the credentials, and a credential given under an alias its spec declares (`x-aliases`,
/// e.g. GitHub's `token` for `personal_access_token`) gets the field's own name. An
/// `option_title` naming no auth option is a problem.
pub fn normalize_credentials(spec: &ConnectorSpec, creds: &mut Map<String, Value>, problems: &mut Vec<FieldProblem>) {
    if let Some(title) = creds.remove("option_title") {
        let title = title.as_str().unwrap_or_default().trim();
        let known = spec.auth_schemes.iter().any(|s| {
            s.title.eq_ignore_ascii_case(title)
                || s.name.eq_ignore_ascii_case(title)
                || s.title_aliases.iter().any(|a| a.eq_ignore_ascii_case(title))
        });
        if !known {
            let titles: Vec<&str> = spec.auth_schemes.iter().map(|s| s.title.as_str()).collect();
            problems
                .push(FieldProblem::new("credentials.option_title", format!("must be one of: {}", titles.join(", "))));
        }
    }
    // An alias that is itself a field of another auth option (HubSpot's private-app token is
    // also reached as `access_token`, the OAuth option's field) is copied, not moved: the
    // option the credentials fit best still finds its own field.
    let is_field = |name: &str| spec.auth_schemes.iter().flat_map(|s| &s.fields).any(|f| f.name == name);
    for field in spec.auth_schemes.iter().flat_map(|s| &s.fields) {
        if creds.contains_key(&field.name) {
            continue;
        }
        if let Some(alias) = field.aliases.iter().find(|a| creds.contains_key(a.as_str())) {
            let v = if is_field(alias) { creds.get(alias.as_str()).cloned() } else { creds.remove(alias.as_str()) };
            if let Some(v) = v {
                creds.insert(field.name.clone(), v);
            }
        }
    }
}

/// A single value where the replication config's schema wants a list becomes a one-item list
/// (`"repositories": "octo/hello"`, as the reference accepts).
pub fn normalize_replication_config(spec: &ConnectorSpec, replication: &mut Value) {
    let Some(props) = spec.replication_config.as_ref().and_then(|s| s.get("properties")).and_then(Value::as_object)
    else {
        return;
    };
    let Some(given) = replication.as_object_mut() else { return };
    for (k, v) in given.iter_mut() {
        let wants_list = props.get(k).and_then(|p| p.get("type")).and_then(Value::as_str) == Some("array");
        if wants_list && (v.is_string() || v.is_number() || v.is_boolean()) {
            *v = Value::Array(vec![v.take()]);
        }
    }
}

/// Checks everything a stored connector needs: credentials, replication config and config.
pub fn validate_connector(
    spec: &ConnectorSpec,
    credentials: &Map<String, Value>,
    replication_config: Option<&Value>,
    config: &Map<String, Value>,
) -> Result<(), Vec<FieldProblem>> {
    let mut problems = Vec::new();
    check_credentials(spec, credentials, &mut problems);
    check_replication_config(spec, replication_config, &mut problems);
    check_config(spec, credentials, config, &mut problems);
    into_result(problems)
}

/// Checks what a connector handle needs to run: credentials and config. The replication config
/// is left out: it says what a hosted connector syncs, and a local handle has none.
pub fn validate_handle(
    spec: &ConnectorSpec,
    credentials: &Map<String, Value>,
    config: &Map<String, Value>,
) -> Result<(), Vec<FieldProblem>> {
    let mut problems = Vec::new();
    check_credentials(spec, credentials, &mut problems);
    check_config(spec, credentials, config, &mut problems);
    into_result(problems)
}

/// The `configuration` error of a handle that cannot run: every problem named, and listed under
/// `details.fields`.
pub fn configuration_error(spec: &ConnectorSpec, problems: &[FieldProblem]) -> Error {
    Error::configuration(format!("invalid credentials or config for {}: {}", spec.slug, summary(problems)))
        .with_details(serde_json::json!({ "fields": problems }))
}

fn into_result(problems: Vec<FieldProblem>) -> Result<(), Vec<FieldProblem>> {
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// Whether a credential field counts as given (as [`select_scheme`] counts it).
fn given(creds: &Map<String, Value>, field: &str) -> bool {
    creds.get(field).is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
}

/// The credentials fit one auth method of the spec (else the method closest to them names its
/// missing fields), and every value is a scalar.
pub fn check_credentials(spec: &ConnectorSpec, creds: &Map<String, Value>, problems: &mut Vec<FieldProblem>) {
    match select_scheme(spec, creds) {
        // A value sent in a header as it is must be one a header can carry: a token pasted with
        // its line break is refused when it is stored, not at every later call.
        Ok(scheme) => {
            for field in header_fields(scheme) {
                if creds.get(field).and_then(Value::as_str).is_some_and(header_cannot_carry) {
                    problems.push(FieldProblem::new(
                        format!("credentials.{field}"),
                        "holds a character an HTTP header cannot carry (a line break, NUL or another control \
                         character): give the value without it",
                    ));
                }
            }
        }
        Err(e) => check_missing(spec, creds, e, problems),
    }
    // A number is taken as its text (an account id given as 12345); a boolean, a list or an
    // object is no credential any spec declares.
    for (k, v) in creds {
        if !(v.is_string() || v.is_number() || v.is_null()) {
            problems.push(FieldProblem::new(format!("credentials.{k}"), "must be a string"));
        }
    }
}

/// The credential fields `scheme` sends in a header as they are (not encoded, as Basic
/// credentials are): the bearer token or header API key its mapping fills, an OAuth access
/// token, and the fields of its additional headers.
fn header_fields(scheme: &AuthScheme) -> Vec<&str> {
    let mut fields: Vec<&str> = match &scheme.kind {
        AuthKind::Bearer | AuthKind::ApiKey { in_query: false, .. } => {
            scheme.mapping.values().flat_map(|t| template_fields(t)).collect()
        }
        AuthKind::OAuth2(_) => vec![scheme.field_name("access_token").unwrap_or("access_token")],
        AuthKind::Basic | AuthKind::ApiKey { in_query: true, .. } => Vec::new(),
    };
    fields.extend(scheme.headers.iter().flat_map(|(_, template)| brace_fields(template)));
    fields
}

/// The auth method closest to `creds` (fewest missing required fields) names them; with none
/// missing, `e` says what is wrong.
fn check_missing(spec: &ConnectorSpec, creds: &Map<String, Value>, e: Error, problems: &mut Vec<FieldProblem>) {
    let closest = spec
        .auth_schemes
        .iter()
        .map(|s| s.required_fields().into_iter().filter(|f| !given(creds, f)).collect::<Vec<_>>())
        .filter(|missing| !missing.is_empty())
        .min_by_key(Vec::len);
    match closest {
        Some(missing) => {
            for f in missing {
                problems.push(FieldProblem::new(format!("credentials.{f}"), "is required"));
            }
        }
        None => problems.push(FieldProblem::new("credentials", e.message)),
    }
}

/// The largest replication config stored with a connector (or an OAuth consent), in bytes of
/// JSON: what a connector syncs fits in far less.
pub const MAX_REPLICATION_CONFIG_BYTES: usize = 64 * 1024;

/// The replication config has every field the spec's schema requires, each of its type.
pub fn check_replication_config(spec: &ConnectorSpec, replication: Option<&Value>, problems: &mut Vec<FieldProblem>) {
    if replication.is_some_and(|r| !r.is_null() && !r.is_object()) {
        problems.push(FieldProblem::new("replication_config", "must be an object"));
    }
    let size = replication.filter(|r| r.is_object()).map_or(0, |r| r.to_string().len());
    if size > MAX_REPLICATION_CONFIG_BYTES {
        problems.push(FieldProblem::new(
            "replication_config",
            format!("is {size} bytes of JSON; at most {MAX_REPLICATION_CONFIG_BYTES} are kept"),
        ));
    }
    let Some(schema) = &spec.replication_config else { return };
    let given = replication.and_then(Value::as_object);
    for r in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        if given.and_then(|g| g.get(r)).is_none_or(Value::is_null) {
            problems.push(FieldProblem::new(format!("replication_config.{r}"), "is required"));
        }
    }
    let (Some(props), Some(g)) = (schema.get("properties").and_then(Value::as_object), given) else { return };
    for (k, v) in g {
        let Some(t) = props.get(k).and_then(|p| p.get("type")).and_then(Value::as_str) else { continue };
        let ok = match t {
            "array" => v.is_array(),
            "string" => v.is_string(),
            "object" => v.is_object(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            _ => true,
        };
        if !ok {
            problems.push(FieldProblem::new(format!("replication_config.{k}"), format!("must be of type {t}")));
        }
    }
}

/// The config fills every server variable without a default (unless `base_url` replaces the
/// server URL; a value an OAuth token answer fills may also come with the credentials), and
/// `base_url`, when given, is an http(s) URL.
pub fn check_config(
    spec: &ConnectorSpec,
    creds: &Map<String, Value>,
    config: &Map<String, Value>,
    problems: &mut Vec<FieldProblem>,
) {
    match config.get("base_url") {
        None => {
            for var in spec.required_config() {
                if config.get(var).is_none_or(Value::is_null) && !creds.get(var).is_some_and(Value::is_string) {
                    problems.push(FieldProblem::new(format!("config.{var}"), "is required"));
                }
            }
        }
        Some(b) => match b.as_str().and_then(|s| url::Url::parse(s).ok()) {
            Some(u) if !matches!(u.scheme(), "http" | "https") => {
                problems.push(FieldProblem::new("config.base_url", "must be an http(s) URL"))
            }
            // A password in the URL would be stored and logged as config, which is not sealed
            // like credentials (the URL itself is never quoted back).
            Some(u) if !u.username().is_empty() || u.password().is_some() => problems.push(FieldProblem::new(
                "config.base_url",
                "must not hold a user or password: give them as the connector's credentials",
            )),
            Some(_) => {}
            None => problems.push(FieldProblem::new("config.base_url", "must be an http(s) URL")),
        },
    }
}

/// Whether `name` fits as a stored name (a connector's, a workspace's): at most 256 characters,
/// none of them a control character (a NUL, which PostgreSQL's text refuses, among them).
pub fn fits_name(name: &str) -> bool {
    name.chars().count() <= 256 && !name.chars().any(char::is_control)
}

/// A connector's display name, when one is given, is 1 to 256 characters, none of them a control
/// character ([`fits_name`]).
pub fn check_name(name: Option<&str>, problems: &mut Vec<FieldProblem>) {
    if name.is_some_and(|n| n.trim().is_empty() || !fits_name(n)) {
        problems.push(FieldProblem::new("name", "must be 1 to 256 characters without control characters"));
    }
}

/// `v` as a JSON object (null or absent: empty); anything else is a problem of `field`.
pub fn object_or_empty(v: Option<Value>, field: &str, problems: &mut Vec<FieldProblem>) -> Map<String, Value> {
    match v {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(_) => {
            problems.push(FieldProblem::new(field, "must be an object"));
            Map::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Registry;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn fields(r: Result<(), Vec<FieldProblem>>) -> Vec<String> {
        r.err().unwrap_or_default().into_iter().map(|p| p.field).collect()
    }

    #[test]
    fn every_problem_is_named() -> crate::Result<()> {
        let gh = Registry::builtin()?.get("github")?;
        let r = validate_connector(&gh, &Map::new(), None, &obj(json!({"base_url": "ftp://x"})));
        assert_eq!(
            fields(r),
            ["credentials.personal_access_token", "replication_config.repositories", "config.base_url"]
        );
        let ok = validate_connector(
            &gh,
            &obj(json!({"personal_access_token": "ghp_x"})),
            Some(&json!({"repositories": ["octo/hello"]})),
            &obj(json!({"base_url": "http://127.0.0.1:1/github"})),
        );
        assert_eq!(ok, Ok(()));
        for with_user in ["http://user:SECRET@127.0.0.1:1/github", "https://token@api.example"] {
            let r = validate_connector(
                &gh,
                &obj(json!({"personal_access_token": "ghp_x"})),
                Some(&json!({"repositories": ["octo/hello"]})),
                &obj(json!({"base_url": with_user})),
            );
            let problems = r.err().unwrap_or_default();
            assert_eq!(problems.len(), 1, "{with_user}");
            assert!(problems[0].problem.contains("must not hold a user or password"), "{problems:?}");
            assert!(!format!("{problems:?}").contains("SECRET"));
        }
        let typed = validate_connector(
            &gh,
            &obj(json!({"personal_access_token": {"nested": 1}})),
            Some(&json!({"repositories": {"octo": "hello"}})),
            &Map::new(),
        );
        assert_eq!(fields(typed), ["credentials.personal_access_token", "replication_config.repositories"]);
        Ok(())
    }

    #[test]
    fn reference_spellings_are_made_ours() -> crate::Result<()> {
        let gh = Registry::builtin()?.get("github")?;
        let mut problems = Vec::new();
        let mut creds = obj(json!({"token": "ghp_x", "option_title": "PAT Credentials"}));
        normalize_credentials(&gh, &mut creds, &mut problems);
        assert_eq!(creds, obj(json!({"personal_access_token": "ghp_x"})));
        let mut creds = obj(json!({"personal_access_token": "ghp_x", "option_title": "personal access token"}));
        normalize_credentials(&gh, &mut creds, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let mut creds = obj(json!({"personal_access_token": "ghp_x", "option_title": "Carrier pigeon"}));
        normalize_credentials(&gh, &mut creds, &mut problems);
        assert_eq!(problems[0].field, "credentials.option_title");
        assert!(problems[0].problem.contains("Personal Access Token"), "{}", problems[0].problem);
        let mut replication = json!({"repositories": "octo/hello"});
        normalize_replication_config(&gh, &mut replication);
        assert_eq!(replication, json!({"repositories": ["octo/hello"]}));
        Ok(())
    }

    #[test]
    fn an_alias_that_is_another_options_field_is_copied_not_moved() -> crate::Result<()> {
        // HubSpot's shape: the private-app token is also reached as `access_token`, which is a
        // field of the OAuth option too.
        let spec = crate::spec::parse_spec(
            "h.yaml",
            r#"
openapi: 3.1.0
info: {title: H, version: "1", x-connector-name: h, x-connector-definition-id: 00000000-0000-0000-0000-000000000009}
servers: [{url: "https://api.example.com"}]
components:
  securitySchemes:
    oauth2:
      type: oauth2
      flows: {authorizationCode: {tokenUrl: "https://api.example.com/token", authorizationUrl: "https://x", scopes: {}}}
      x-airbyte-auth-config:
        required: [refresh_token]
        properties: {refresh_token: {type: string}, access_token: {type: string}}
        auth_mapping: {refresh_token: "${refresh_token}", access_token: "${access_token}"}
    privateApp:
      type: http
      scheme: bearer
      x-airbyte-auth-config:
        required: [private_app_token]
        properties: {private_app_token: {type: string}}
        auth_mapping: {token: "${private_app_token}"}
        replication_auth_key_mapping: {credentials.access_token: private_app_token}
paths:
  /things:
    get: {x-entity: things, x-action: list, responses: {"200": {description: ok}}}
"#,
        )?;
        let mut problems = Vec::new();
        let mut oauth = obj(json!({"refresh_token": "r", "access_token": "at"}));
        normalize_credentials(&spec, &mut oauth, &mut problems);
        assert_eq!(oauth.get("access_token"), Some(&json!("at")), "the OAuth option keeps its access token");
        assert_eq!(crate::auth::select_scheme(&spec, &oauth)?.name, "oauth2");
        let mut app = obj(json!({"access_token": "pat"}));
        normalize_credentials(&spec, &mut app, &mut problems);
        assert_eq!(crate::auth::select_scheme(&spec, &app)?.name, "privateApp");
        assert!(problems.is_empty(), "{problems:?}");
        Ok(())
    }

    #[test]
    fn the_closest_auth_method_names_its_missing_fields() -> crate::Result<()> {
        let gong = Registry::builtin()?.get("gong")?;
        let r = validate_handle(&gong, &obj(json!({"access_key": "k"})), &Map::new());
        assert_eq!(fields(r), ["credentials.access_key_secret"]);
        // An empty value counts as missing, as it does when the auth method is picked.
        let r = validate_handle(&gong, &obj(json!({"access_key": "k", "access_key_secret": ""})), &Map::new());
        assert_eq!(fields(r), ["credentials.access_key_secret"]);
        Ok(())
    }

    #[test]
    fn credential_values_are_text() -> crate::Result<()> {
        let gh = Registry::builtin()?.get("github")?;
        // A number is taken as its text; a boolean, list or object is refused at once (a
        // boolean read as "is required" at the first call).
        assert_eq!(validate_handle(&gh, &obj(json!({"personal_access_token": 12345})), &Map::new()), Ok(()));
        for bad in [json!(true), json!(["ghp_x"]), json!({"t": "ghp_x"})] {
            let r = validate_handle(&gh, &obj(json!({"personal_access_token": bad})), &Map::new());
            assert_eq!(
                r,
                Err(vec![FieldProblem::new("credentials.personal_access_token", "must be a string")]),
                "{bad}"
            );
        }
        Ok(())
    }

    /// A value sent in a header as it is (a bearer token, a header's field) must be one HTTP
    /// can carry; one Basic encodes may hold anything.
    #[test]
    fn header_values_hold_only_what_a_header_carries() -> crate::Result<()> {
        let reg = Registry::builtin()?;
        let gh = reg.get("github")?;
        for bad in ["ghp_x\r\nX-Evil: 1", "ghp_x\n", "ghp_\u{0}x", "ghp_\u{7f}"] {
            let r = validate_handle(&gh, &obj(json!({"personal_access_token": bad})), &Map::new());
            let problems = r.err().unwrap_or_default();
            assert_eq!(problems.len(), 1, "{bad:?}");
            assert_eq!(problems[0].field, "credentials.personal_access_token");
            assert!(problems[0].problem.contains("an HTTP header cannot carry"), "{problems:?}");
        }
        assert_eq!(validate_handle(&gh, &obj(json!({"personal_access_token": "ghp_a\tb ~é"})), &Map::new()), Ok(()));
        // Harvest sends the account id in its own header.
        let harvest = reg.get("harvest")?;
        let r = validate_handle(&harvest, &obj(json!({"token": "t", "account_id": "12\n"})), &Map::new());
        assert_eq!(fields(r), ["credentials.account_id"]);
        // Basic credentials travel base64-encoded.
        let amplitude = reg.get("amplitude")?;
        let creds = obj(json!({"api_key": "k\né", "secret_key": "s\r\n"}));
        assert_eq!(validate_handle(&amplitude, &creds, &Map::new()), Ok(()));
        Ok(())
    }

    #[test]
    fn local_handles_need_no_replication_config_and_messages_hold_no_values() -> crate::Result<()> {
        let gh = Registry::builtin()?.get("github")?;
        assert_eq!(validate_handle(&gh, &obj(json!({"personal_access_token": "ghp_x"})), &Map::new()), Ok(()));
        let problems =
            validate_handle(&gh, &obj(json!({"password": "hunter2"})), &Map::new()).err().unwrap_or_default();
        let e = configuration_error(&gh, &problems);
        assert_eq!(e.code, crate::ErrorCode::Configuration);
        assert!(e.message.contains("credentials.personal_access_token is required"), "{}", e.message);
        assert!(!e.message.contains("hunter2"));
        Ok(())
    }

    #[test]
    fn names_and_objects() {
        let mut p = Vec::new();
        check_name(Some("  "), &mut p);
        check_name(Some("ok"), &mut p);
        check_name(Some("Zoë's CRM (prod)"), &mut p);
        check_name(None, &mut p);
        assert_eq!(object_or_empty(Some(json!([1])), "config", &mut p), Map::new());
        assert_eq!(object_or_empty(Some(Value::Null), "config", &mut p), Map::new());
        assert_eq!(
            summary(&p),
            "name must be 1 to 256 characters without control characters; config must be an object"
        );
        for bad in ["a\u{0}b", "line\nbreak", "tab\t", "\u{7f}"] {
            let mut p = Vec::new();
            check_name(Some(bad), &mut p);
            assert_eq!(p.len(), 1, "{bad:?}");
        }
    }
}
