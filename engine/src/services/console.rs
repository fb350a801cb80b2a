//! What the operator console decides ([`crate::console`] parses and answers): signing in with
//! an application's client credentials, the session token and its CSRF token, the read-only
//! views of the session's own organization, and rotating the application's client secret.
//!
//! A session is a signed token of kind [`TokenKind::Console`] (the engine's signing keys, a
//! fixed lifetime of [`SESSION_TTL_SECS`]); bearer checks refuse that kind and the console
//! refuses every other, so a session opens the console only and a bearer token never does.
//! Its CSRF token is derived from the session token itself (SHA-256 over a label and the
//! signed token), so only a holder of the session, which the page never sees (HttpOnly), can
//! know it. Signing out records a hash of the session's id in the main store (kept until the
//! session would have expired), and every console request looks it up there, so a session signed
//! out on one replica is refused by every replica on the same store at once. A session also
//! carries a fingerprint of its application's stored secret hash, checked on every request: a
//! rotated secret ends every session signed in with the old one, on every replica, except the
//! rotating session, which gets a new session for the new secret.

use sha2::{Digest, Sha256};
use switchboard_core::ErrorCode;

use crate::crypto::random_token;
use crate::db::console::{AuditEntry, AuditFilter};
use crate::db::{Application, Audit, AuditOutcome, ConnectorFilter, ConnectorRow, Workspace};
use crate::error::{current_request_id, ApiError, ApiResult};
use crate::state::AppState;
use crate::tokens::{claims, Claims, TokenKind};

/// How long a console session lasts, fixed from sign-in (not extended by use): 30 minutes.
pub const SESSION_TTL_SECS: u64 = 30 * 60;

/// Most audit records one page holds.
pub const MAX_AUDIT_PAGE: i64 = 200;

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Hex of the first `bytes` bytes of SHA-256 over `label`, a NUL and `value`: each console
/// value below hashes under its own label, so no two can be confused.
fn labelled_hash(label: &str, value: &str, bytes: usize) -> String {
    let mut h = Sha256::new();
    h.update(label.as_bytes());
    h.update([0u8]);
    h.update(value.as_bytes());
    hex::encode(&h.finalize()[..bytes])
}

/// What the store keeps of a signed-out session: a hash of its id (`jti`), never the token.
fn session_hash(claims: &Claims) -> String {
    labelled_hash("switchboard-console-session", &claims.jti, 32)
}

/// What a session (and an application token) keeps of its application's client secret: a
/// fingerprint of the stored keyed hash (the hash is not the secret, and this is not the hash).
pub(crate) fn secret_mark(secret_hash: &str) -> String {
    labelled_hash("switchboard-console-secret", secret_hash, 16)
}

/// A new console session for `app` as it is stored now.
async fn new_session(st: &AppState, app: &Application) -> ApiResult<NewSession> {
    let mut c = claims(TokenKind::Console, &app.client_id, &app.organization_id, None, None);
    c.sec = Some(secret_mark(&app.secret_hash));
    let token = st.signer.issue(c, SESSION_TTL_SECS)?;
    let claims = st.signer.verify_console(&token, &st.db, &st.keys).await?;
    st.metrics.token("console");
    Ok(NewSession { csrf_token: csrf_for(&token), token, claims })
}

/// A new console session: the signed token, its CSRF token and the organization.
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub claims: Claims,
}

/// Signs in with client credentials, checked by the token endpoint's own check (the same
/// per-client limit, keyed hash and legacy Argon2 path; the caller has taken the per-address
/// limit): a wrong pair is the same `invalid_client` refusal. No application token is issued:
/// the session token is the only token a sign-in makes.
pub async fn login(st: &AppState, client_id: String, client_secret: String) -> ApiResult<NewSession> {
    if client_id.is_empty() || client_secret.is_empty() || client_id.len() > 256 || client_secret.len() > 1024 {
        return Err(ApiError::unauthorized("unknown client_id or wrong client_secret").with_reason("invalid_client"));
    }
    let checked = super::tokens::check_client(st, &client_id, &client_secret).await?;
    // Read again: the check may have just stored a legacy hash as its keyed hash.
    let app = st.db.find_application(&checked.client_id).await?.ok_or_else(|| {
        ApiError::unauthorized("unknown client_id or wrong client_secret").with_reason("invalid_client")
    })?;
    new_session(st, &app).await
}

/// The session a console token is: signed by the engine, of kind console, not expired, not
/// signed out on any replica (the main store says).
pub async fn session(st: &AppState, token: &str) -> ApiResult<Claims> {
    let claims = st.signer.verify_console(token, &st.db, &st.keys).await?;
    let stored = st.db.console_session(&session_hash(&claims), &claims.sub).await?;
    if stored.as_ref().is_some_and(|(_, ended)| *ended) {
        return Err(
            ApiError::unauthorized("this console session was signed out; sign in again").with_reason("session_ended")
        );
    }
    let app = stored.map(|(app, _)| app).filter(|a| a.organization_id == claims.org);
    if app.map(|a| secret_mark(&a.secret_hash)) != claims.sec {
        return Err(ApiError::unauthorized(
            "the application's client secret was changed since this session signed in; sign in again with the new secret",
        )
        .with_reason("session_ended"));
    }
    if let Err(wait) = st.limiter.take(&claims.org, st.settings.rate_per_sec, st.settings.rate_burst) {
        let mut e =
            ApiError::new(ErrorCode::RateLimited, "this organization is sending requests faster than its rate limit");
        e.retry_after = Some(wait);
        return Err(e);
    }
    Ok(claims)
}

/// Ends a session on every replica: its id's hash is stored until the session would have
/// expired (plus the verifier's leeway), and older records are dropped.
pub async fn logout(st: &AppState, claims: &Claims) -> ApiResult<()> {
    let keep_until = claims.exp.saturating_add(crate::tokens::LEEWAY_SECS);
    let (keep_until, now) = (i64::try_from(keep_until).unwrap_or(i64::MAX), i64::try_from(unix_now()).unwrap_or(0));
    st.db.end_console_session(&session_hash(claims), keep_until, now).await?;
    Ok(())
}

/// The CSRF token of a session token.
pub fn csrf_for(session_token: &str) -> String {
    labelled_hash("switchboard-console-csrf", session_token, 20)
}

/// Whether `sent` is the CSRF token of `session_token` (compared in constant time).
pub fn csrf_matches(session_token: &str, sent: &str) -> bool {
    let want = csrf_for(session_token);
    want.len() == sent.len() && want.bytes().zip(sent.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The organization's workspaces, each with how many connectors it holds.
pub async fn workspaces(st: &AppState, org: &str) -> ApiResult<Vec<(Workspace, usize)>> {
    let list = st.db.list_workspaces(org, None).await?;
    let connectors = st.db.list_connectors(org, &ConnectorFilter::default()).await?;
    Ok(list
        .into_iter()
        .map(|w| {
            let n = connectors.iter().filter(|c| c.workspace_id == w.id).count();
            (w, n)
        })
        .collect())
}

/// The organization's connectors (the caller shows no credentials or configuration), of one
/// workspace when named.
pub async fn connectors(st: &AppState, org: &str, workspace_id: Option<&str>) -> ApiResult<Vec<ConnectorRow>> {
    let filter = ConnectorFilter { workspace_id: workspace_id.map(str::to_string), ..ConnectorFilter::default() };
    Ok(st.db.list_connectors(org, &filter).await?)
}

/// A page of the organization's audit log: the records, and the cursor of the next page when
/// there may be one.
pub async fn audit(st: &AppState, org: &str, mut f: AuditFilter) -> ApiResult<(Vec<AuditEntry>, Option<String>)> {
    for (name, v) in [("since", &f.since), ("until", &f.until)] {
        if let Some(t) = v {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).map_err(|_| {
                ApiError::validation(format!("{name} must be an RFC 3339 time like 2026-01-31T12:00:00Z"))
            })?;
        }
    }
    if !(1..=MAX_AUDIT_PAGE).contains(&f.limit) {
        return Err(ApiError::validation(format!("limit must be 1 to {MAX_AUDIT_PAGE}")));
    }
    if f.outcome.as_deref().is_some_and(|o| o != "success" && o != "error") {
        return Err(ApiError::validation("outcome must be success or error"));
    }
    // One record more than the page: a cursor only when another page has records.
    let limit = f.limit as usize;
    f.limit += 1;
    let mut rows = st.db.console_audit(org, &f).await?;
    let more = rows.len() > limit;
    rows.truncate(limit);
    let next = more.then(|| rows.last().map(|r| encode_cursor(&r.created_at, &r.id))).flatten();
    Ok((rows, next))
}

/// A page cursor: the last record's time and id, as opaque text.
fn encode_cursor(created_at: &str, id: &str) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, format!("{created_at}|{id}"))
}

/// A cursor read back; anything else is `validation`.
pub fn decode_cursor(cursor: &str) -> ApiResult<(String, String)> {
    let bad = || ApiError::validation("cursor is not one this console handed out");
    let raw = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (at, id) = text.split_once('|').ok_or_else(bad)?;
    Ok((at.to_string(), id.to_string()))
}

/// A few of the engine's counters, summed from its Prometheus text (engine-wide, as
/// `/metrics` shows them: no organization's ids are in them).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Glance {
    pub requests: u64,
    pub server_errors: u64,
    pub executions: u64,
    pub failed_executions: u64,
    pub tokens_issued: u64,
    pub audit_dropped: u64,
    pub connections_open: u64,
}

/// Sums the counters of [`Glance`] from a Prometheus text exposition.
pub fn glance(text: &str) -> Glance {
    let mut g = Glance::default();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        let Ok(n) = value.trim().parse::<u64>() else { continue };
        let name = series.split('{').next().unwrap_or_default();
        match name {
            "switchboard_http_requests_total" => {
                g.requests += n;
                if series.contains("status=\"5") {
                    g.server_errors += n;
                }
            }
            "switchboard_executions_total" => {
                g.executions += n;
                if !series.contains("outcome=\"ok\"") {
                    g.failed_executions += n;
                }
            }
            "switchboard_tokens_issued_total" => g.tokens_issued += n,
            "switchboard_audit_dropped_total" => g.audit_dropped += n,
            "switchboard_connections_open" => g.connections_open += n,
            _ => {}
        }
    }
    g
}

/// A new client secret for the session's application: stored as its keyed hash at once (the
/// old secret stops working, and every console session signed in with it ends), returned once
/// with a new session for the rotating operator. Application tokens issued before keep working
/// until they expire. Written to the audit log (never the secret).
pub async fn rotate_secret(st: &AppState, claims: &Claims) -> ApiResult<(String, NewSession)> {
    let app =
        st.db.find_application(&claims.sub).await?.filter(|a| a.organization_id == claims.org).ok_or_else(|| {
            ApiError::unauthorized("this session's application no longer exists").with_reason("session_ended")
        })?;
    let secret = random_token(32);
    let hash = st.secrets.hasher().hash(&app.client_id, &secret);
    if !st.db.replace_application_secret(&app.client_id, &app.secret_hash, &hash).await? {
        return Err(ApiError::new(ErrorCode::Conflict, "the secret was changed at the same moment; try again"));
    }
    let record = Audit {
        organization_id: claims.org.clone(),
        workspace_id: None,
        connector_id: None,
        token_kind: TokenKind::Console.as_str().into(),
        entity: "application".into(),
        action: "rotate_secret".into(),
        status: "success".into(),
        error_code: None,
        latency_ms: 0,
        request_id: current_request_id().unwrap_or_default(),
    };
    match st.db.audit(record).await {
        Ok(AuditOutcome::Queued | AuditOutcome::Written | AuditOutcome::Dropped) => {}
        Err(e) => tracing::error!(error = %e, "could not write an audit record"),
    }
    tracing::info!(client_id = %app.client_id, "client secret rotated from the console");
    let session = new_session(st, &Application { secret_hash: hash, ..app }).await?;
    Ok((secret, session))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_belong_to_one_session() {
        let a = csrf_for("session-a");
        assert_eq!(a.len(), 40);
        assert!(csrf_matches("session-a", &a));
        assert!(!csrf_matches("session-b", &a));
        assert!(!csrf_matches("session-a", ""));
        assert!(!csrf_matches("session-a", &a[..39]));
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let c = encode_cursor("2026-01-01T00:00:00Z", "abc");
        assert_eq!(decode_cursor(&c).ok(), Some(("2026-01-01T00:00:00Z".to_string(), "abc".to_string())));
        assert!(decode_cursor("!!").is_err());
        assert!(decode_cursor(&encode_cursor_raw("no-separator")).is_err());
    }

    fn encode_cursor_raw(s: &str) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s)
    }

    #[test]
    fn glance_sums_the_counters() {
        let text = "# HELP x\nswitchboard_http_requests_total{method=\"GET\",route=\"/a\",status=\"200\"} 3\n\
                    switchboard_http_requests_total{method=\"GET\",route=\"/a\",status=\"503\"} 2\n\
                    switchboard_executions_total{connector=\"github\",outcome=\"ok\"} 4\n\
                    switchboard_executions_total{connector=\"github\",outcome=\"upstream_error\"} 1\n\
                    switchboard_tokens_issued_total{kind=\"application\"} 5\n\
                    switchboard_audit_dropped_total 0\nswitchboard_connections_open 1\n";
        let g = glance(text);
        assert_eq!(
            g,
            Glance {
                requests: 5,
                server_errors: 2,
                executions: 5,
                failed_executions: 1,
                tokens_issued: 5,
                audit_dropped: 0,
                connections_open: 1
            }
        );
    }
}
