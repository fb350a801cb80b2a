//! The OAuth consent flow: an end user approves the app at the provider and the engine creates
//! the connector, so nobody pastes a refresh token.
//!
//! 1. An operator sets the app's own OAuth client per connector type ([`put_client`]); the
//!    secret is sealed like connector credentials and never answered.
//! 2. [`initiate`] binds a random, single-use, short-lived `state` to the organization, the
//!    workspace, the connector type and the origin allowed to hear the result, keeps a PKCE
//!    verifier (sealed) and answers the provider's consent URL.
//! 3. [`callback`] checks the state (unknown, replayed, expired and provider refusals are
//!    refused), exchanges the code at the token URL with the verifier, and creates the
//!    connector in the bound workspace with the tokens sealed as any OAuth connector's.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use switchboard_core::connector::host_allowed;
use switchboard_core::http::{HttpRequest, NetClient};
use switchboard_core::spec::{AuthKind, OAuth2Config};
use switchboard_core::validate::{
    check_config, check_name, check_replication_config, normalize_replication_config, object_or_empty, FieldProblem,
};
use switchboard_core::wire::{
    CreateConnector, OAuthCallbackQuery, OAuthClient, OAuthClientList, OAuthClientRequest, OAuthConsent, OAuthInitiate,
};
use switchboard_core::{ConnectorSpec, ErrorCode};

use crate::crypto::random_token;
use crate::db::{self, OAuthClientRow, OAuthStateRow};
use crate::error::{ApiError, ApiResult};
use crate::services::connectors::workspace_of;
use crate::services::execution::allowed_hosts;
use crate::services::{connectors, Caller};
use crate::state::AppState;
use crate::tokens::{claims, TokenKind};

/// The callback's path on this engine.
pub const CALLBACK_PATH: &str = "/api/v1/oauth/callback";

/// Consents expired longer ago than this are deleted (until then a late callback is told
/// "expired" rather than "unknown").
const KEEP_EXPIRED: Duration = Duration::from_secs(24 * 3600);

/// The spec's OAuth scheme with an authorization-code flow.
fn code_flow(spec: &ConnectorSpec) -> Option<&OAuth2Config> {
    spec.auth_schemes.iter().find_map(|s| match &s.kind {
        AuthKind::OAuth2(c) if c.authorization_url.is_some() => Some(c),
        _ => None,
    })
}

/// The connector type `key` names, if it has an authorization-code flow (else `validation`).
fn oauth_spec(st: &AppState, key: &str) -> ApiResult<std::sync::Arc<ConnectorSpec>> {
    // An unknown type is the caller's to fix (`validation`, as in a create), not a stored
    // connector that cannot run (`configuration`).
    let spec =
        st.registry.get(key).map_err(|e| ApiError::validation(e.message).with_reason("unknown_connector_type"))?;
    if code_flow(&spec).is_none() {
        return Err(ApiError::validation(format!(
            "connector type {} has no OAuth authorization-code flow to consent to",
            spec.slug
        ))
        .with_reason("no_oauth_flow"));
    }
    Ok(spec)
}

/// The associated data an OAuth client secret is sealed with.
fn client_aad(org: &str, slug: &str) -> String {
    format!("oauth_client:{org}:{slug}")
}

fn describe(row: &OAuthClientRow) -> OAuthClient {
    OAuthClient {
        connector_type: row.connector_type.clone(),
        client_id: row.client_id.clone(),
        scopes: row.scopes.split_whitespace().map(str::to_string).collect(),
        created_at: row.created_at.clone(),
        updated_at: row.updated_at.clone(),
    }
}

/// Sets the organization's OAuth client of a connector type (application tokens).
pub async fn put_client(
    st: &AppState,
    caller: &Caller,
    connector_type: &str,
    req: OAuthClientRequest,
) -> ApiResult<OAuthClient> {
    caller.require(&[TokenKind::Application])?;
    let spec = oauth_spec(st, connector_type)?;
    let mut problems = Vec::new();
    let client_id = req.client_id.trim();
    if client_id.is_empty() || client_id.len() > 512 || client_id.chars().any(char::is_control) {
        problems.push(FieldProblem::new("client_id", "must be 1 to 512 printable characters"));
    }
    if req.client_secret.is_empty() || req.client_secret.len() > 4096 {
        problems.push(FieldProblem::new("client_secret", "must be 1 to 4096 characters"));
    }
    let scopes = req.scopes.unwrap_or_default();
    if scopes.iter().any(|s| s.is_empty() || s.len() > 200 || s.chars().any(|c| c.is_whitespace() || c.is_control())) {
        problems.push(FieldProblem::new("scopes", "each scope must be 1 to 200 characters without spaces"));
    }
    if !problems.is_empty() {
        return Err(ApiError::validation(format!(
            "invalid OAuth client: {}",
            problems.iter().map(|p| format!("{} {}", p.field, p.problem)).collect::<Vec<_>>().join("; ")
        ))
        .with_details(json!({ "fields": problems })));
    }
    let org = caller.org();
    let now = db::now();
    let created_at = match st.db.oauth_client(org, &spec.slug).await? {
        Some(old) => old.created_at,
        None => now.clone(),
    };
    let row = OAuthClientRow {
        organization_id: org.to_string(),
        connector_type: spec.slug.clone(),
        client_id: client_id.to_string(),
        secret: st.keys.seal(req.client_secret.as_bytes(), &client_aad(org, &spec.slug))?,
        scopes: scopes.join(" "),
        created_at,
        updated_at: now,
    };
    st.db.put_oauth_client(&row).await?;
    tracing::info!(connector = %row.connector_type, "OAuth client set");
    Ok(describe(&row))
}

/// The organization's OAuth clients, without secrets (application tokens).
pub async fn list_clients(st: &AppState, caller: &Caller) -> ApiResult<OAuthClientList> {
    caller.require(&[TokenKind::Application])?;
    let rows = st.db.oauth_clients(caller.org()).await?;
    Ok(OAuthClientList { data: rows.iter().map(describe).collect() })
}

/// Deletes the organization's OAuth client of a connector type (application tokens).
pub async fn delete_client(st: &AppState, caller: &Caller, connector_type: &str) -> ApiResult<()> {
    caller.require(&[TokenKind::Application])?;
    let slug =
        st.registry.get(connector_type).map(|s| s.slug.clone()).map_err(|_| ApiError::not_found("OAuth client"))?;
    if !st.db.delete_oauth_client(caller.org(), &slug).await? {
        return Err(ApiError::not_found("OAuth client"));
    }
    tracing::info!(connector = %slug, "OAuth client deleted");
    Ok(())
}

/// Hex SHA-256 of a state: the key a consent is stored under.
pub fn state_hash(state: &str) -> String {
    hex::encode(Sha256::digest(state.as_bytes()))
}

/// The S256 PKCE challenge of a verifier.
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// `scheme://host[:port]` of an http(s) URL without credentials.
pub fn origin_of(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() || !u.username().is_empty() {
        return None;
    }
    Some(u.origin().ascii_serialization())
}

/// A URL of the spec with the server's variables filled from the consent's config (else their
/// defaults: GitLab's `{api_url}` is gitlab.com), moved onto the operator's
/// `--upstream-base-url` for the connector, as core moves the token URL for refreshes: a URL on
/// the spec's server keeps its path under the base; one on another host of the provider
/// (HubSpot's consent page is on app.hubspot.com) is served by the same stand-in, at its own
/// path under the base.
fn resolve(st: &AppState, spec: &ConnectorSpec, url: &str, config: Option<&Map<String, Value>>) -> String {
    let url = &spec.fill_server_variables(url, config.unwrap_or(&Map::new()));
    let server = spec.server_url.trim_end_matches('/');
    // A URL on the spec's server follows the consent's `config.base_url`, as core moves the
    // token URL of refreshes.
    if let Some(base) = config.and_then(|c| c.get("base_url")).and_then(Value::as_str) {
        if let Some(rest) = url.strip_prefix(server).filter(|r| r.is_empty() || r.starts_with('/')) {
            return format!("{}{rest}", base.trim_end_matches('/'));
        }
    }
    let Some(base) = st.settings.upstream_base_urls.get(&spec.slug) else { return url.to_string() };
    let base = base.trim_end_matches('/');
    if let Some(rest) = url.strip_prefix(server).filter(|r| r.is_empty() || r.starts_with('/')) {
        return format!("{base}{rest}");
    }
    match url::Url::parse(url) {
        Ok(u) => {
            let mut rest = u.path().to_string();
            if let Some(q) = u.query() {
                rest = format!("{rest}?{q}");
            }
            format!("{base}{rest}")
        }
        Err(_) => url.to_string(),
    }
}

/// The config of the connector a consent creates, checked as creating it will check it (a
/// refusal after the end user's consent would lose the provider's grant): every server variable
/// without a default (Jira's `subdomain`) but those the token answer fills (Salesforce's
/// `instance_url`), and hosts the egress rules allow. A server variable given in the
/// replication config, where consents took them before `config` existed, is taken as config.
///
/// Only an application token may give `base_url` or `token_url`: the connector a consent
/// creates holds the organization's OAuth client secret, which its refreshes send to the token
/// URL, so an end user's token (scoped, widget) names the spec's server variables only.
fn consent_config(
    st: &AppState,
    caller: &Caller,
    spec: &ConnectorSpec,
    cfg: &OAuth2Config,
    config: Option<Value>,
    replication_config: Option<&Value>,
    problems: &mut Vec<FieldProblem>,
) -> Map<String, Value> {
    let mut config = object_or_empty(config, "config", problems);
    if caller.kind() != TokenKind::Application {
        for field in ["base_url", "token_url"].into_iter().filter(|f| config.contains_key(*f)) {
            problems.push(FieldProblem::new(
                format!("config.{field}"),
                "decides where the organization's OAuth client secret is sent: only an application token may give it",
            ));
        }
    }
    for (var, v) in server_variables_in(spec, replication_config) {
        config.entry(var).or_insert(v);
    }
    let filled_by_token_answer: Map<String, Value> =
        cfg.extract.iter().map(|k| (k.clone(), Value::String(String::new()))).collect();
    check_config(spec, &filled_by_token_answer, &config, problems);
    connectors::egress_problems(st, spec, &Map::new(), &config, problems);
    config
}

/// Consents of one workspace waiting for their end user at once.
pub const MAX_PENDING_CONSENTS: i64 = 20;

/// Starts a consent: checks the caller's workspace and the result's origin, stores the bound
/// state with its sealed PKCE verifier, and answers the provider's consent URL. `own_base` is
/// this engine's address as the request reached it (used when no `--public-url` is set);
/// `request_origin` the request's `Origin`, which for a widget token the extractor already
/// checked is the token's `allowed_origin` or the engine's own (the widget's iframe): the
/// window that opens the consent popup, so the one the result is posted to.
pub async fn initiate(
    st: &AppState,
    caller: &Caller,
    own_base: &str,
    request_origin: Option<&str>,
    mut req: OAuthInitiate,
) -> ApiResult<OAuthConsent> {
    let spec = oauth_spec(st, &req.connector_type)?;
    // A widget token limited to some templates starts no consent for another type.
    crate::widget::check_template_allowed(st, caller, &spec).await?;
    let Some(cfg) = code_flow(&spec) else { return Err(ApiError::internal("no authorization-code flow")) };
    let named = switchboard_core::wire::one_name(&[
        ("workspace_name", req.workspace_name.as_deref()),
        ("external_user_id", req.external_user_id.as_deref()),
    ])
    .map_err(|e| ApiError::invalid_fields(&[FieldProblem::new("workspace_name", e)]))?;
    if caller.kind() == TokenKind::Application && named.is_none() {
        return Err(ApiError::invalid_fields(&[FieldProblem::new(
            "workspace_name",
            "is required with an application token (or external_user_id)",
        )]));
    }
    let mut problems = Vec::new();
    check_name(req.name.as_deref(), &mut problems);
    // Checked now, as creating the connector will check it: after the end user's consent a
    // refusal would lose the provider's grant.
    if let Some(r) = req.replication_config.as_mut() {
        normalize_replication_config(&spec, r);
    }
    check_replication_config(&spec, req.replication_config.as_ref(), &mut problems);
    let config =
        consent_config(st, caller, &spec, cfg, req.config.take(), req.replication_config.as_ref(), &mut problems);
    if !problems.is_empty() {
        return Err(ApiError::invalid_fields(&problems));
    }
    // The workspace when it exists; one this call names anew is made only once every check
    // passed, so a refused consent leaves nothing behind.
    let existing = match workspace_of(st, caller, named, false).await {
        Ok(ws) => ws,
        Err(e) if e.code == switchboard_core::ErrorCode::NotFound => None,
        Err(e) => return Err(e),
    };
    let client = st.db.oauth_client(caller.org(), &spec.slug).await?.ok_or_else(|| {
        ApiError::validation(format!(
            "no OAuth client is configured for {}: an operator sets one with PUT /api/v1/oauth/clients/{}",
            spec.slug, spec.slug
        ))
        .with_reason("oauth_client_missing")
    })?;
    // Who may hear the result: the widget's own origin, or the redirect URL's registered origin.
    let redirect_origin = match req.redirect_url.as_deref() {
        Some(r) => Some(origin_of(r).ok_or_else(|| {
            ApiError::invalid_fields(&[FieldProblem::new("redirect_url", "must be an absolute http(s) URL")])
        })?),
        None => None,
    };
    let origin = match caller.kind() {
        TokenKind::Widget => {
            let allowed = caller.claims.origin.as_deref();
            if redirect_origin.as_deref().is_some_and(|r| Some(r) != allowed && Some(r) != request_origin) {
                return Err(ApiError::forbidden("redirect_url must be on this widget token's allowed origin")
                    .with_reason("origin_mismatch"));
            }
            request_origin.or(allowed).map(str::to_string)
        }
        _ => match redirect_origin {
            // A workspace not made yet has no origins of its own: only the organization's apply.
            Some(o)
                if st.origins.allows(&st.db, &o, caller.org(), Some(existing.as_ref().map_or("", |w| &w.id))).await =>
            {
                Some(o)
            }
            Some(_) => {
                return Err(ApiError::forbidden(
                    "redirect_url must be on an origin this organization registered for its widgets",
                )
                .with_reason("origin_not_registered"))
            }
            None => None,
        },
    };
    let ws = match existing {
        Some(ws) => ws,
        None => workspace_of(st, caller, named, true)
            .await?
            .ok_or_else(|| ApiError::validation("workspace_name is required"))?,
    };
    let base = st.settings.public_url.as_deref().unwrap_or(own_base).trim_end_matches('/');
    let redirect_uri = format!("{base}{CALLBACK_PATH}");
    let state = random_token(32);
    let verifier = random_token(48);
    let hash = state_hash(&state);
    let ttl = st.settings.oauth_state_ttl;
    let now = db::now_ms();
    let _ = st.db.prune_oauth_states(now - KEEP_EXPIRED.as_millis() as i64).await;
    // Each consent is a row kept a day: a loop of initiates by one end user's token would
    // fill the store.
    let row = OAuthStateRow {
        verifier: st.keys.seal(verifier.as_bytes(), &hash)?,
        state_hash: hash,
        organization_id: caller.org().to_string(),
        workspace_id: ws.id.clone(),
        connector_type: spec.slug.clone(),
        origin,
        redirect_url: req.redirect_url.clone(),
        redirect_uri: redirect_uri.clone(),
        name: req.name.clone(),
        replication_config: req.replication_config.as_ref().filter(|v| !v.is_null()).map(Value::to_string),
        config: (!config.is_empty()).then(|| Value::Object(config.clone()).to_string()),
        expires_at: now + ttl.as_millis() as i64,
        used_at: None,
    };
    if !st.db.insert_oauth_state_within(&row, now, MAX_PENDING_CONSENTS).await? {
        let mut e = ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "this workspace has {MAX_PENDING_CONSENTS} consents waiting for the end user: complete one, or wait \
                 for one to expire"
            ),
        )
        .with_reason("too_many_pending_consents");
        e.retry_after = Some(60.0);
        return Err(e);
    }
    let scopes = if client.scopes.is_empty() { cfg.scopes.join(" ") } else { client.scopes.clone() };
    let authorization_url = resolve(st, &spec, cfg.authorization_url.as_deref().unwrap_or_default(), Some(&config));
    let mut url = url::Url::parse(&authorization_url)
        .map_err(|_| ApiError::new(ErrorCode::Configuration, "the connector's authorization URL is not a URL"))?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("client_id", &client.client_id)
            .append_pair("redirect_uri", &redirect_uri)
            .append_pair("response_type", "code")
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        if !scopes.is_empty() {
            q.append_pair("scope", &scopes);
        }
    }
    tracing::info!(connector = %spec.slug, workspace_id = %ws.id, "OAuth consent started");
    Ok(OAuthConsent { consent_url: url.to_string(), state, expires_in: ttl.as_secs() })
}

/// Why a callback was refused. The message is for the end user's page: no secret, nothing
/// the provider or the caller wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No state, or a state this engine never issued.
    UnknownState,
    /// The state's consent was completed already.
    Replayed,
    Expired,
    /// The provider refused (the end user denied, or the provider failed): `error=...`.
    Denied,
    /// The code did not turn into tokens at the provider.
    ExchangeFailed,
    /// The tokens did not make a valid connector (or storage failed).
    CreateFailed,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::UnknownState => "This authorization link is not valid. Start the connection again.",
            Refusal::Replayed => "This authorization was already completed. Start the connection again to add another.",
            Refusal::Expired => "This authorization took too long and expired. Start the connection again.",
            Refusal::Denied => "The provider did not grant access. Start the connection again to retry.",
            Refusal::ExchangeFailed => "The provider did not accept the authorization. Start the connection again.",
            Refusal::CreateFailed => "The connection could not be saved. Start the connection again.",
        }
    }

    /// The `error` posted to the opener.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownState => "unknown_state",
            Refusal::Replayed => "state_used",
            Refusal::Expired => "state_expired",
            Refusal::Denied => "access_denied",
            Refusal::ExchangeFailed => "exchange_failed",
            Refusal::CreateFailed => "create_failed",
        }
    }
}

/// What a callback came to.
#[derive(Debug, Clone)]
pub struct CallbackOutcome {
    /// The connector created, or why none was.
    pub result: Result<String, Refusal>,
    /// The origin the page may post the result to (a known, unexpired state's only).
    pub origin: Option<String>,
    /// Where to send the browser, when the consent named a place.
    pub redirect_url: Option<String>,
}

impl CallbackOutcome {
    pub fn refused(r: Refusal) -> Self {
        Self { result: Err(r), origin: None, redirect_url: None }
    }
}

/// Handles the provider's redirect back: the state is the credential.
pub async fn callback(st: &AppState, q: &OAuthCallbackQuery) -> ApiResult<CallbackOutcome> {
    let Some(state) = q.state.as_deref().filter(|s| !s.is_empty() && s.len() <= 512) else {
        return Ok(CallbackOutcome::refused(Refusal::UnknownState));
    };
    let hash = state_hash(state);
    let Some(row) = st.db.oauth_state(&hash).await? else {
        return Ok(CallbackOutcome::refused(Refusal::UnknownState));
    };
    let now = db::now_ms();
    if row.used_at.is_some() {
        return Ok(CallbackOutcome::refused(Refusal::Replayed));
    }
    if row.expires_at <= now {
        return Ok(CallbackOutcome::refused(Refusal::Expired));
    }
    if !st.db.use_oauth_state(&hash, now).await? {
        return Ok(CallbackOutcome::refused(Refusal::Replayed));
    }
    let bound = |result| CallbackOutcome { result, origin: row.origin.clone(), redirect_url: row.redirect_url.clone() };
    let code = q.code.as_deref().filter(|c| !c.is_empty());
    let (true, Some(code)) = (q.error.is_none(), code) else {
        tracing::info!(connector = %row.connector_type, "OAuth consent refused by the provider");
        return Ok(bound(Err(Refusal::Denied)));
    };
    let tokens = match exchange(st, &row, code).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(connector = %row.connector_type, error = %e.message, "OAuth code exchange failed");
            return Ok(bound(Err(Refusal::ExchangeFailed)));
        }
    };
    match create(st, &row, tokens).await {
        Ok(id) => {
            tracing::info!(connector_id = %id, connector = %row.connector_type, "connector created by OAuth consent");
            Ok(bound(Ok(id)))
        }
        Err(e) => {
            tracing::warn!(connector = %row.connector_type, error = %e.message, "connector from OAuth consent refused");
            Ok(bound(Err(Refusal::CreateFailed)))
        }
    }
}

/// The credentials an exchange produced: the client's and the provider's tokens.
struct Tokens(Map<String, Value>);

/// The authorization-code grant at the connector's token URL, with the PKCE verifier and the
/// client authenticated as the spec's scheme says (Basic header or body, form or JSON).
async fn exchange(st: &AppState, row: &OAuthStateRow, code: &str) -> ApiResult<Tokens> {
    let spec = st.registry.get(&row.connector_type)?;
    let cfg = code_flow(&spec).ok_or_else(|| ApiError::internal("the connector lost its OAuth flow"))?;
    let client = st
        .db
        .oauth_client(&row.organization_id, &row.connector_type)
        .await?
        .ok_or_else(|| ApiError::validation("the OAuth client was deleted during the consent"))?;
    let secret = st.keys.open(&client.secret, &client_aad(&row.organization_id, &row.connector_type))?;
    let secret = String::from_utf8(secret).map_err(|_| ApiError::internal("stored OAuth client secret is not text"))?;
    let verifier = st.keys.open(&row.verifier, &row.state_hash)?;
    let verifier = String::from_utf8(verifier).map_err(|_| ApiError::internal("stored PKCE verifier is not text"))?;
    // A consent started before its config was stored apart kept the variables in the
    // replication config.
    let stored = row.config.as_deref().or(row.replication_config.as_deref());
    let config = super::connectors::stored_json(stored).and_then(|v| v.as_object().cloned());
    // Where the connector's refreshes will go (core's rule): `config.token_url`, else the flow's.
    let given = config.as_ref().and_then(|c| c.get("token_url")).and_then(Value::as_str).map(str::to_string);
    let token_url = given
        .or_else(|| cfg.token_url.as_deref().map(|u| resolve(st, &spec, u, config.as_ref())))
        .ok_or_else(|| ApiError::new(ErrorCode::Configuration, "the connector's OAuth scheme has no token URL"))?;
    let host = url::Url::parse(&token_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase()))
        .unwrap_or_default();
    if !host_allowed(&allowed_hosts(st, &spec), &host) {
        return Err(ApiError::forbidden(format!("the token URL's host {host:?} is not allowed by the egress rules")));
    }
    let mut fields: Vec<(&str, String)> = vec![
        ("grant_type", "authorization_code".into()),
        ("code", code.to_string()),
        ("redirect_uri", row.redirect_uri.clone()),
        ("code_verifier", verifier),
    ];
    let mut headers = vec![("accept".to_string(), "application/json".to_string())];
    if cfg.basic_client_auth {
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", client.client_id, secret));
        headers.push(("authorization".into(), format!("Basic {enc}")));
    } else {
        fields.push(("client_id", client.client_id.clone()));
        fields.push(("client_secret", secret.clone()));
    }
    let body = if cfg.json_body {
        headers.push(("content-type".into(), "application/json".into()));
        let m: Map<String, Value> = fields.iter().map(|(k, v)| (k.to_string(), Value::String(v.clone()))).collect();
        Value::Object(m).to_string().into_bytes()
    } else {
        headers.push(("content-type".into(), "application/x-www-form-urlencoded".into()));
        url::form_urlencoded::Serializer::new(String::new()).extend_pairs(fields.iter()).finish().into_bytes()
    };
    let http = NetClient::shared();
    let resp = http
        .send(HttpRequest {
            method: "POST".into(),
            url: token_url.clone(),
            headers,
            body: Some(body),
            timeout: st.settings.upstream_timeout,
        })
        .await
        .map_err(|_| ApiError::new(ErrorCode::Network, format!("the token endpoint at {host} could not be reached")))?;
    let parsed: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    if !(200..300).contains(&resp.status) {
        // The provider's own words are not repeated: they may echo what was sent.
        let error = parsed
            .get("error")
            .and_then(Value::as_str)
            .filter(|e| e.len() <= 64 && e.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        return Err(ApiError::new(
            ErrorCode::UpstreamAuthentication,
            format!("the token endpoint at {host} answered {} ({})", resp.status, error.unwrap_or("no error code")),
        ));
    }
    let text = |k: &str| parsed.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string);
    let access_token = text("access_token");
    let refresh_token = text("refresh_token");
    if access_token.is_none() && refresh_token.is_none() {
        return Err(ApiError::new(
            ErrorCode::UpstreamAuthentication,
            format!("the token endpoint at {host} answered no token"),
        ));
    }
    let mut creds = Map::new();
    creds.insert("client_id".into(), Value::String(client.client_id));
    creds.insert("client_secret".into(), Value::String(secret));
    if let Some(r) = refresh_token {
        creds.insert("refresh_token".into(), Value::String(r));
    }
    if let Some(a) = access_token {
        creds.insert("access_token".into(), Value::String(a));
        if let Some(at) = switchboard_core::auth::expiry(parsed.get("expires_in"), db::now_ms() / 1000) {
            creds.insert("expires_at".into(), Value::from(at));
        }
    }
    // Checked as a refresh checks them: a value that fills the API's URL (Salesforce's
    // `instance_url`) is https under the token endpoint's domain, or the bearer token would
    // follow it anywhere.
    for k in &cfg.extract {
        if let Some(v) = text(k) {
            switchboard_core::auth::check_extracted(k, &v, &token_url, &host)?;
            creds.insert(k.clone(), Value::String(v));
        }
    }
    Ok(Tokens(creds))
}

/// The config a consent's connector is created with: the one stored with the consent, or, for a
/// consent started before configs were stored apart, the spec's server variables its
/// replication config gave.
fn consent_row_config(st: &AppState, row: &OAuthStateRow) -> Option<Value> {
    if let Some(c) = row.config.as_deref() {
        return serde_json::from_str(c).ok();
    }
    let spec = st.registry.get(&row.connector_type).ok()?;
    let given = super::connectors::stored_json(row.replication_config.as_deref());
    let vars = server_variables_in(&spec, given.as_ref());
    (!vars.is_empty()).then_some(Value::Object(vars))
}

/// The spec's server variables a replication config gives as text, where consents took them
/// before `config` existed.
fn server_variables_in(spec: &ConnectorSpec, replication_config: Option<&Value>) -> Map<String, Value> {
    let Some(given) = replication_config.and_then(Value::as_object) else { return Map::new() };
    given
        .iter()
        .filter(|(k, v)| spec.server_variables.contains_key(*k) && v.is_string())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Creates the connector in the consent's workspace, through the same checks and sealing as
/// `POST /api/v1/integrations/connectors` by a scoped token of that workspace.
async fn create(st: &AppState, row: &OAuthStateRow, tokens: Tokens) -> ApiResult<String> {
    let ws = st
        .db
        .get_workspace(&row.organization_id, &row.workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let caller = Caller {
        claims: claims(TokenKind::Scoped, "oauth-consent", &row.organization_id, Some((&ws.id, &ws.name)), None),
    };
    let req = CreateConnector {
        connector_type: Some(row.connector_type.clone()),
        name: row.name.clone(),
        credentials: Some(Value::Object(tokens.0)),
        replication_config: row.replication_config.as_deref().and_then(|r| serde_json::from_str(r).ok()),
        config: consent_row_config(st, row),
        ..CreateConnector::default()
    };
    Ok(connectors::create(st, &caller, req).await?.id)
}
