//! Connector specs: the parsed, validated form of `connectors/<slug>.yaml`.
//!
//! A spec is parsed once (at start for the embedded ones) into these types; the runtime never
//! looks at YAML again. [`load`] turns a document into a [`ConnectorSpec`], naming the file and
//! the JSON pointer of any fault.

mod incremental;
mod load;
mod secret;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::Value;
use serde_json_path::JsonPath;

use crate::template::RecordFilter;

pub use incremental::{Incremental, TimeFormat};
pub use load::{parse_spec, parse_spec_value, URL_CURSOR_PARAM};
pub use secret::credential_is_secret;

/// A connector, as its spec describes it.
#[derive(Debug)]
pub struct ConnectorSpec {
    /// The slug (`github`).
    pub slug: String,
    /// Stable definition id (UUID), the reference's where one exists.
    pub definition_id: String,
    /// Human name (`GitHub`).
    pub display_name: String,
    /// What the API is, for descriptions.
    pub description: Option<String>,
    /// The spec's own version (`info.version`), shown as the connector's version.
    pub version: String,
    /// `servers[0].url`, possibly with `{variables}`.
    pub server_url: String,
    /// The URLs of the other `servers` entries: hosts the API is also served at (Jira's OAuth
    /// apps call `api.atlassian.com`), which count among [`Self::own_hosts`]; requests go to
    /// `server_url` unless config's `base_url` names another.
    pub other_server_urls: Vec<String>,
    /// Server variables and their defaults.
    pub server_variables: BTreeMap<String, Option<String>>,
    /// Server variables that default from a credential (`x-from-credential`); config still
    /// wins, and the variable's own `default` comes after.
    pub server_variable_sources: BTreeMap<String, CredentialPart>,
    /// Auth schemes in document order.
    pub auth_schemes: Vec<AuthScheme>,
    /// Operations in document order.
    pub operations: Vec<Operation>,
    /// The replication config schema the engine asks for, if any.
    pub replication_config: Option<Value>,
    /// Default retry behaviour of the connector.
    pub retry: RetryConfig,
    /// Where the spec came from (file name), for messages.
    pub source: String,
    index: HashMap<(String, String), usize>,
}

impl ConnectorSpec {
    /// `url` with the server's `{variables}` filled from `config`, else from their defaults: an
    /// OAuth URL on the tenant's own host (`https://{subdomain}.zendesk.com/oauth/tokens`,
    /// `https://{api_url}/oauth/token`). A variable with neither stays as it is.
    pub fn fill_server_variables(&self, url: &str, config: &serde_json::Map<String, serde_json::Value>) -> String {
        let mut url = url.to_string();
        for (name, default) in &self.server_variables {
            let placeholder = format!("{{{name}}}");
            if url.contains(&placeholder) {
                let value = config.get(name).and_then(|v| v.as_str()).or(default.as_deref());
                if let Some(v) = value {
                    url = url.replace(&placeholder, v.trim_end_matches('/'));
                }
            }
        }
        url
    }

    /// The operation for `entity` / `action`, if any.
    pub fn operation(&self, entity: &str, action: &str) -> Option<&Operation> {
        self.index.get(&(entity.to_string(), action.to_string())).map(|&i| &self.operations[i])
    }

    /// Entity names in document order, without repeats.
    pub fn entities(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for op in &self.operations {
            if !out.contains(&op.entity.as_str()) {
                out.push(&op.entity);
            }
        }
        out
    }

    /// Actions available on `entity`.
    pub fn actions(&self, entity: &str) -> Vec<&str> {
        self.operations.iter().filter(|o| o.entity == entity).map(|o| o.action.as_str()).collect()
    }

    /// The operation `check()` runs, among those it can call without params: the one marked
    /// preferred, else the first list.
    pub fn check_operation(&self) -> Option<&Operation> {
        let runnable = |o: &&Operation| !o.params.iter().any(|p| p.is_required_from_caller());
        let mut candidates = self.operations.iter().filter(runnable);
        candidates.clone().find(|o| o.preferred_for_check).or_else(|| candidates.find(|o| o.action == "list"))
    }

    /// The credential fields of every auth scheme, for templates and messages.
    pub fn credential_fields(&self) -> Vec<&CredentialField> {
        self.auth_schemes.iter().flat_map(|s| s.fields.iter()).collect()
    }

    /// The hosts this connector talks to by design, as egress rules: the servers' hosts (a
    /// `{variable}` label becomes `*`, e.g. `*.atlassian.net`) and the OAuth token hosts. A
    /// server URL whose whole host is a variable adds nothing: an operator must allow it.
    pub fn own_hosts(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut urls = vec![self.server_url.clone()];
        urls.extend(self.other_server_urls.iter().cloned());
        for s in &self.auth_schemes {
            if let AuthKind::OAuth2(c) = &s.kind {
                urls.extend(c.token_url.clone());
            }
        }
        for u in urls {
            let rest = u.split_once("://").map(|x| x.1).unwrap_or(&u);
            let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = host.rsplit_once('@').map(|x| x.1).unwrap_or(host);
            let host = if host.starts_with('[') { host } else { host.split(':').next().unwrap_or_default() };
            let labels: Vec<String> = host
                .split('.')
                .map(|l| if l.starts_with('{') && l.ends_with('}') { "*".to_string() } else { l.to_ascii_lowercase() })
                .collect();
            // Exact hosts, or one leading variable label under a fixed domain (`*.atlassian.net`).
            let fixed = |ls: &[String]| ls.iter().all(|l| l != "*" && !l.contains('{') && !l.is_empty());
            let ok = match labels.split_first() {
                Some((first, rest)) if first == "*" => rest.len() >= 2 && fixed(rest),
                _ => fixed(&labels),
            };
            let pattern = labels.join(".");
            if ok && !out.contains(&pattern) {
                out.push(pattern);
            }
        }
        out
    }

    /// Server variables that must come from config (no default, and no credential to take
    /// them from).
    pub fn required_config(&self) -> Vec<&str> {
        self.server_variables
            .iter()
            .filter(|(k, d)| d.is_none() && !self.server_variable_sources.contains_key(*k))
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

/// `x-from-credential: {field, after, before}` on a server variable: the value is a part of a
/// credential field, the text after the last `after` and then before the first `before`
/// (Mailchimp's data center is the key's suffix: `{field: api_key, after: "-"}` takes `us21`
/// from `...-us21`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CredentialPart {
    /// The credential field.
    pub field: String,
    /// Take the text after the last occurrence of this.
    pub after: Option<String>,
    /// Take the text before the first occurrence of this.
    pub before: Option<String>,
}

impl CredentialPart {
    /// The part of `creds`' field this names; `None` when the field is missing or a separator
    /// is not in it, or the part is empty.
    pub fn value(&self, creds: &serde_json::Map<String, Value>) -> Option<String> {
        let text = creds.get(&self.field)?.as_str()?.trim();
        let text = match self.after.as_deref() {
            Some(sep) => text.rsplit_once(sep)?.1,
            None => text,
        };
        let text = match self.before.as_deref() {
            Some(sep) => text.split_once(sep)?.0,
            None => text,
        };
        (!text.is_empty()).then(|| text.to_string())
    }
}

/// How one auth scheme authenticates.
#[derive(Debug, Clone)]
pub struct AuthScheme {
    /// The scheme's key in `securitySchemes`.
    pub name: String,
    /// Title for people (`Personal Access Token`).
    pub title: String,
    /// Other titles callers may name it by in `credentials.option_title` (`PAT Credentials`).
    pub title_aliases: Vec<String>,
    /// What it sends.
    pub kind: AuthKind,
    /// The credential fields a user supplies.
    pub fields: Vec<CredentialField>,
    /// Scheme input (`token`, `username`, ...) -> template over credential fields, e.g.
    /// `${api_key}`, `${email}/token` or a literal.
    pub mapping: BTreeMap<String, String>,
    /// Headers sent with every request beside the scheme's own (`additional_headers`): name ->
    /// template over credential fields and the current `access_token`, `{{ field }}`
    /// (`Harvest-Account-Id: "{{ account_id }}"`). A header whose field is missing is not sent;
    /// one named like the scheme's own header replaces it.
    pub headers: Vec<(String, String)>,
}

/// `template` with every `{{ name }}` filled by `value(name)` (an additional header's value);
/// `None` when a name has no value.
pub fn render_braces(template: &str, value: impl Fn(&str) -> Option<String>) -> Option<String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let end = rest[start..].find("}}")? + start;
        out.push_str(&rest[..start]);
        out.push_str(&value(rest[start + 2..end].trim())?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Some(out)
}

/// The `{{ name }}` names an additional header's template refers to (as [`render_braces`] reads
/// them).
pub fn brace_fields(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let Some(end) = rest[start..].find("}}") else { break };
        out.push(rest[start + 2..start + end].trim());
        rest = &rest[start + end + 2..];
    }
    out
}

/// The `${field}` names a mapping template refers to.
pub fn template_fields(template: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else { break };
        out.push(&rest[start + 2..start + end]);
        rest = &rest[start + end + 1..];
    }
    out
}

impl AuthScheme {
    /// The credential field an input maps to when its template is exactly `${field}`.
    pub fn field_name(&self, input: &str) -> Option<&str> {
        let t = self.mapping.get(input)?.trim();
        let inner = t.strip_prefix("${")?.strip_suffix('}')?;
        (!inner.contains("${")).then_some(inner)
    }

    /// The value of a scheme input: its template with every `${field}` filled from `creds`;
    /// `None` when a referenced field is missing or empty.
    pub fn render_input(&self, input: &str, creds: &serde_json::Map<String, Value>) -> Option<String> {
        let t = self.mapping.get(input)?;
        let mut out = t.clone();
        for f in template_fields(t) {
            let v = match creds.get(f)? {
                Value::String(s) if !s.is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return None,
            };
            out = out.replace(&format!("${{{f}}}"), &v);
        }
        Some(out)
    }

    /// Names of the required credential fields.
    pub fn required_fields(&self) -> Vec<&str> {
        self.fields.iter().filter(|f| f.required).map(|f| f.name.as_str()).collect()
    }
}

/// One credential field of an auth scheme.
#[derive(Debug, Clone, Serialize)]
pub struct CredentialField {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    /// Whether the value is a secret (masked in forms, never shown back): the field's own
    /// `secret` (or the reference format's `airbyte_secret`) when the spec says, else
    /// [`credential_is_secret`] of its name.
    pub secret: bool,
    /// Other names a caller may give it under (the reference's `token` for GitHub's
    /// `personal_access_token`); renamed to `name` before use.
    pub aliases: Vec<String>,
}

/// What an auth scheme puts on the wire.
#[derive(Debug, Clone)]
pub enum AuthKind {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// `Authorization: Basic ...`.
    Basic,
    /// An API key in a header (with an optional prefix) or in the query.
    ApiKey { in_query: bool, name: String, prefix: String },
    /// OAuth2 access token, refreshed with the refresh-token grant.
    OAuth2(OAuth2Config),
}

/// OAuth2 refresh settings.
#[derive(Debug, Clone)]
pub struct OAuth2Config {
    /// Where the refresh-token grant is sent.
    pub token_url: Option<String>,
    /// The `authorizationCode` flow's consent page (`authorizationUrl`), where an end user
    /// approves the app; the engine's OAuth consent flow sends browsers there.
    pub authorization_url: Option<String>,
    /// The scopes the `authorizationCode` flow lists, in document order.
    pub scopes: Vec<String>,
    /// Client credentials in a Basic header (else in the body).
    pub basic_client_auth: bool,
    /// JSON body (else form).
    pub json_body: bool,
    /// Token-answer fields that fill server variables (e.g. `instance_url`).
    pub extract: Vec<String>,
    /// Where the access token goes when not `Authorization: Bearer`: a header name and the
    /// prefix before the token (Shopify's `X-Shopify-Access-Token`, no prefix).
    pub token_header: Option<(String, String)>,
    /// The scheme's flows include `clientCredentials`: with no refresh token, an access token
    /// is obtained from the client id and secret alone (`grant_type=client_credentials`,
    /// PayPal's `/v1/oauth2/token`).
    pub client_credentials: bool,
}

/// Where a param goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamLocation {
    Path,
    Query,
    Header,
    Body,
    /// Only an input of a template (GraphQL variables).
    Template,
}

/// JSON types a param may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    String,
    Integer,
    Number,
    Boolean,
    Array,
    Object,
}

impl ParamType {
    /// The word used in messages (`an integer`).
    pub fn article(self) -> &'static str {
        match self {
            ParamType::String => "a string",
            ParamType::Integer => "an integer",
            ParamType::Number => "a number",
            ParamType::Boolean => "a boolean",
            ParamType::Array => "an array",
            ParamType::Object => "an object",
        }
    }

    /// The JSON Schema type name.
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::Integer => "integer",
            ParamType::Number => "number",
            ParamType::Boolean => "boolean",
            ParamType::Array => "array",
            ParamType::Object => "object",
        }
    }
}

/// One param of an operation.
#[derive(Debug, Clone, Serialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "in")]
    pub location: ParamLocation,
    pub required: bool,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub ty: Option<ParamType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub items: Option<ParamType>,
    #[serde(rename = "enum", skip_serializing_if = "Option::is_none")]
    pub enum_values: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The full JSON Schema of the param (for tool schemas).
    #[serde(skip)]
    pub schema: Value,
    /// `style: deepObject` (query objects as `name[key]=value`).
    #[serde(skip)]
    pub deep_object: bool,
    /// `explode: false` (query arrays as `a,b`).
    #[serde(skip)]
    pub no_explode: bool,
    /// Other names a caller may give the param by (`x-aliases`): the reference's spelling where
    /// the API's differs (Orb's `invoice_date_gt` for the wire's `invoice_date[gt]`).
    #[serde(skip)]
    pub aliases: Vec<String>,
    /// `allowReserved: true` (a query param): the value keeps RFC 3986's reserved characters
    /// that do not split a query (`( ) , : / ? @ ! $ ' * ; [ ]`) as they are, as LinkedIn's
    /// Rest.li values need (`dateRange=(start:(year:2024,month:1,day:1))`).
    #[serde(skip)]
    pub allow_reserved: bool,
    /// A form body's array sent as the key repeated (`MediaUrl=a&MediaUrl=b`, the request
    /// body's `encoding: {<name>: {explode: true}}`), instead of `key[0]=a&key[1]=b`.
    #[serde(skip)]
    pub form_repeat: bool,
    /// The value is the whole request body.
    #[serde(skip)]
    pub body_root: bool,
}

impl Param {
    /// Whether a caller must give it (required and no default).
    pub fn is_required_from_caller(&self) -> bool {
        self.required && self.default.is_none()
    }
}

/// How a request body is made.
#[derive(Debug, Clone)]
pub enum BodyKind {
    None,
    Json,
    Form,
    GraphQl(GraphQlBody),
}

/// A GraphQL body: query template, variable templates, default selected fields.
#[derive(Debug, Clone)]
pub struct GraphQlBody {
    pub query: String,
    pub variables: Vec<(String, Value)>,
    pub default_fields: Option<String>,
    /// Whether the document is a query (not a mutation), so safe to retry.
    pub is_query: bool,
}

/// Where a meta value comes from.
#[derive(Debug, Clone)]
pub enum MetaSource {
    /// A JSONPath into the response body.
    Path(JsonPath),
    /// The URL of a `Link` header relation.
    Link(String),
    /// A response header.
    Header(String),
    /// The first of these that gives a value other than null (a YAML list in the spec): an API
    /// that puts its next page in one place or another depending on how it was asked, as
    /// Zendesk's `next_page` (page numbers) and `links.next` (cursor paging).
    FirstOf(Vec<MetaSource>),
}

impl MetaSource {
    /// Where a value of this source is written first: the source itself, or its first one.
    pub fn primary(&self) -> &MetaSource {
        match self {
            MetaSource::FirstOf(list) => list.first().map_or(self, MetaSource::primary),
            other => other,
        }
    }
}

/// Where the next page's cursor comes from and how it is sent (`x-pagination`'s `style`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PageStyle {
    /// The API hands out an opaque cursor (a meta value, or a field of the last record), passed
    /// back as `param`.
    #[default]
    Cursor,
    /// `param` is the index of the first record: the next page starts at this page's offset
    /// plus the records the API sent on it (Jira's `startAt`).
    Offset,
    /// `param` is a page number: the next page is this page's number plus one (Zendesk's and
    /// Freshdesk's `page`).
    Page,
    /// The API hands out the next page's URL, absolute or an absolute path (a `Link` header,
    /// Salesforce's `nextRecordsUrl`): the next request goes to that URL, with the query it
    /// carries, and only when it is on the connector's own server (scheme, host and port).
    Url,
}

/// How `paginate` asks for the next page.
#[derive(Debug, Clone, Serialize)]
pub struct Pagination {
    /// The param that takes the cursor (for [`PageStyle::Url`], the next page's URL).
    pub param: String,
    /// How the cursor is made and sent.
    #[serde(skip_serializing_if = "is_cursor_style")]
    pub style: PageStyle,
    /// Take the cursor from this meta key ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<String>,
    /// ... or from this field of the last record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_last_record: Option<String>,
    /// A boolean meta key that says whether there is a next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub has_more: Option<String>,
    /// A boolean meta key that is `true` on the last page (ClickUp's `last_page`): the inverse
    /// of `has_more`, any style.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_page: Option<String>,
    /// Offset and page styles: a meta key holding the number of records in all pages; paging
    /// stops once this page reaches it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<String>,
    /// Offset and page styles: the param that sets the page size; a page shorter than it is
    /// the last (used when neither `total` nor `has_more` says).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<String>,
    /// `empty_pages: follow`: a page without records that still names a next page is not the
    /// last (Google's APIs may answer empty pages before the end, AIP-158); by default an empty
    /// page ends the list. A repeated cursor still ends it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub follow_empty: bool,
    /// `cursor_alone: true`: a request carrying the cursor sends no other query param (Amazon
    /// SP-API refuses a `nextToken` with any other); the first page takes the caller's params.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub cursor_alone: bool,
}

fn is_cursor_style(s: &PageStyle) -> bool {
    *s == PageStyle::Cursor
}

/// `x-response-error-check`: how an answer with a success status says it failed (Slack answers
/// HTTP 200 `{"ok": false, "error": "channel_not_found"}`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseErrorCheck {
    /// The body field (a dot path) that tells: `ok`.
    pub field: String,
    /// The value of `field` that means failure: `false` (with [`Self::on_other`], the value
    /// that means success).
    pub on_value: Value,
    /// The `ok_value` form: `on_value` is the success value and any other value of `field` is a
    /// failure (TikTok's `code`, 0 on success). An answer without `field` is no failure.
    pub on_other: bool,
    /// The body field (a dot path) with the provider's reason: `error`.
    pub message_field: Option<String>,
    /// Reasons, or values of `field` (as text: `"40105"`), mapped to public error codes,
    /// beyond the well-known reasons ([`crate::upstream::reason_code`]).
    pub codes: Vec<(String, crate::error::ErrorCode)>,
}

impl ResponseErrorCheck {
    /// The provider's reason when `body` is a failure by this check (`Some("")` when it gives
    /// none), else `None`.
    pub fn failure(&self, body: &Value) -> Option<String> {
        let at = |path: &str| path.split('.').try_fold(body, |v, k| v.get(k));
        let failed = match at(&self.field) {
            _ if !body.is_object() => false,
            Some(v) if self.on_other => !v.is_null() && !same_value(v, &self.on_value),
            v => v == Some(&self.on_value),
        };
        if !failed {
            return None;
        }
        let reason = match self.message_field.as_deref().and_then(at) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => String::new(),
            Some(other) => other.to_string(),
        };
        Some(reason)
    }
}

/// Whether two JSON values are equal, numbers by value (`0` and `0.0`).
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64().is_some_and(|x| Some(x) == y.as_f64()),
        _ => a == b,
    }
}

/// Retry bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    pub max_attempts: u32,
    pub initial_delay_ms: u64,
    pub max_delay_ms: u64,
    pub max_elapsed_ms: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self { max_attempts: 4, initial_delay_ms: 300, max_delay_ms: 10_000, max_elapsed_ms: 30_000 }
    }
}

/// One connector operation.
#[derive(Debug, Clone)]
pub struct Operation {
    pub entity: String,
    pub action: String,
    /// Upper-case HTTP method.
    pub method: String,
    /// The real request path, with `{param}` placeholders.
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub params: Vec<Param>,
    pub body: BodyKind,
    /// The JSON body's media type when the spec names another than `application/json` (a
    /// vendor type such as Amazon Ads' `application/vnd.spCampaign.v3+json`).
    pub body_media_type: Option<String>,
    /// `x-upload-file-param`: the body param holding a file's content (base64); when given, the
    /// body is sent as `multipart/related`: the other body params as JSON metadata, then the
    /// file's bytes typed by the `file_mime_type` param (Google Drive's multipart upload).
    pub upload_param: Option<String>,
    pub record_extractor: Option<JsonPath>,
    pub meta: Vec<(String, MetaSource)>,
    /// `x-record-filter`, compiled when the spec was loaded.
    pub record_filter: Option<RecordFilter>,
    pub pagination: Option<Pagination>,
    /// `x-incremental` (lists only): the param that asks for the records updated since a time
    /// and the record field holding the update time; the engine's incremental syncs use it.
    pub incremental: Option<Incremental>,
    /// `x-response-error-check` (the operation's, else the document's in `info`): a success
    /// status whose body says it failed is an error.
    pub error_check: Option<ResponseErrorCheck>,
    pub preferred_for_check: bool,
    /// `x-empty-when-not-found`: the API answers 404 when a list matches nothing; that is an
    /// empty page, not an error.
    pub empty_when_not_found: bool,
    /// For `download`: where in the first answer the file's URL is (`x-file-url`); the file
    /// is then fetched from that URL without credentials (pre-signed links).
    pub file_url: Option<JsonPath>,
    pub idempotent: bool,
    /// A header that carries a fresh idempotency key per call (kept across its retries), which
    /// makes a write safe to retry (`x-idempotency-key`, e.g. Stripe's `Idempotency-Key`).
    pub idempotency_header: Option<String>,
    pub retry: RetryConfig,
    /// JSON pointer of the operation in its spec, for messages.
    pub pointer: String,
    /// The JSON Schema of one record, worked out once at load (see [`Operation::record_schema`]).
    record_schema: Option<Value>,
    /// Where a list's records are, as object keys from the root, when their JSON text can be
    /// passed on as the API sent it (see [`Operation::raw_record_path`]).
    raw_record_path: Option<Vec<String>>,
}

impl Operation {
    /// The param called `name`.
    pub fn param(&self, name: &str) -> Option<&Param> {
        self.params.iter().find(|p| p.name == name)
    }

    /// Whether the action returns a list of records.
    pub fn returns_list(&self) -> bool {
        matches!(self.action.as_str(), "list" | "search")
    }

    /// The JSON Schema of one record this operation returns (one item of a list or search, the
    /// record of the other actions), every `$ref` and `allOf` resolved.
    ///
    /// It is the success response's schema (the `application/json` content of `200`, else
    /// `201`, else the first other `2xx` that has one) followed along the record extractor: a property step goes into
    /// `properties.<name>`, `[*]` into `items`, and a list's array into its `items`. A primitive
    /// record is described as the `{"value": ...}` object the runtime wraps it in. `None` when
    /// the spec declares no response schema or the extractor's path cannot be followed in it.
    /// A `$ref` that comes back inside itself (a recursive type) is left open (`{}`) there.
    pub fn record_schema(&self) -> Option<&Value> {
        self.record_schema.as_ref()
    }

    /// The object keys that lead from a response body's root to a list's array of records,
    /// when nothing but that array is read from the records: a list or search without a
    /// record filter, whose extractor is plain keys (`$.data.repository.issues.nodes`, or `$`),
    /// and whose meta paths and error check read only outside the records. `None` otherwise.
    /// Such a page can be answered with each record's text as the API sent it
    /// ([`crate::Connector::execute_json`]) instead of parsing it into a tree and writing the
    /// tree out again.
    pub fn raw_record_path(&self) -> Option<&[String]> {
        self.raw_record_path.as_deref()
    }
}

/// [`Operation::raw_record_path`] for an operation, from its extractor's text and the dot paths
/// its meta values and error check read.
pub(crate) fn raw_record_path(
    list: bool,
    filtered: bool,
    extractor: Option<&str>,
    meta_paths: &[String],
    error_check: Option<&ResponseErrorCheck>,
) -> Option<Vec<String>> {
    if !list || filtered {
        return None;
    }
    let path = match extractor {
        None => Vec::new(),
        Some(text) => {
            let (keys, rest) = leading_keys(text.strip_prefix('$')?);
            if !rest.is_empty() {
                return None;
            }
            keys
        }
    };
    // Another path reads into the records when neither it nor the records' path leaves the other
    // before one of them ends: the two share every key up to the shorter one.
    let apart = |keys: &[String]| keys.iter().zip(&path).any(|(a, b)| a != b);
    for text in meta_paths {
        let after_root = text.strip_prefix('$')?;
        if !apart(&leading_keys(after_root).0) {
            return None;
        }
    }
    if let Some(check) = error_check {
        for field in std::iter::once(&check.field).chain(check.message_field.as_ref()) {
            let keys: Vec<String> = field.split('.').map_while(|k| (!k.contains('[')).then(|| k.to_string())).collect();
            if !apart(&keys) {
                return None;
            }
        }
    }
    Some(path)
}

/// The plain keys a JSONPath (after its `$`) starts with (`.name` steps), and the rest of it.
fn leading_keys(mut text: &str) -> (Vec<String>, &str) {
    let mut keys = Vec::new();
    while let Some(after) = text.strip_prefix('.') {
        let end = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(after.len());
        if end == 0 {
            break;
        }
        keys.push(after[..end].to_string());
        text = &after[end..];
    }
    (keys, text)
}
