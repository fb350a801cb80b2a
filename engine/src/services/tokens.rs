//! Tokens: client credentials for an application token, an application token for a scoped or
//! widget token of one workspace (created if new), and what a scoped or widget token is.

use switchboard_core::wire::{ApplicationToken, TokenInfo, TokenRequest, WorkspaceRef, WorkspaceToken};

use crate::crypto::{hash_secret, verify_secret};
use crate::error::{ApiError, ApiResult};
use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::{claims, TokenKind};

use TokenKind::{Application, Scoped, Widget};

/// An application token for client credentials. An unknown client id is checked against a dummy
/// hash, so it takes as long as a wrong secret.
pub async fn application_token(st: &AppState, req: TokenRequest) -> ApiResult<ApplicationToken> {
    let app = st.db.find_application(&req.client_id).await?;
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let hash = match &app {
        Some(a) => a.secret_hash.clone(),
        None => DUMMY.get_or_init(|| hash_secret("switchboard-dummy-secret").unwrap_or_default()).clone(),
    };
    let secret = req.client_secret;
    let ok = tokio::task::spawn_blocking(move || verify_secret(&secret, &hash)).await.unwrap_or(false);
    let Some(app) = app.filter(|_| ok) else {
        return Err(ApiError::unauthorized("unknown client_id or wrong client_secret").with_reason("invalid_client"));
    };
    let ttl = st.settings.application_token_ttl;
    let token = st.signer.issue(claims(Application, &app.client_id, &app.organization_id, None, None), ttl)?;
    st.metrics.token("application");
    Ok(ApplicationToken {
        access_token: token,
        token_type: "bearer".into(),
        expires_in: ttl,
        organization_id: app.organization_id,
    })
}

/// A workspace name the engine stores: at most 256 characters, no control characters.
pub(crate) fn check_workspace_name(name: &str) -> ApiResult<()> {
    if name.len() > 256 || name.chars().any(char::is_control) {
        return Err(ApiError::validation("workspace_name must be at most 256 characters without control characters"));
    }
    Ok(())
}

/// The workspace a token request names, checked.
fn named_workspace(req: &WorkspaceRef) -> ApiResult<&str> {
    let name = req.name().ok_or_else(|| ApiError::validation("workspace_name is required (or external_user_id)"))?;
    check_workspace_name(name)?;
    Ok(name)
}

/// A scoped token for one workspace of the caller's organization (created if new); application
/// tokens only.
pub async fn scoped_token(st: &AppState, caller: &Caller, req: WorkspaceRef) -> ApiResult<WorkspaceToken> {
    caller.require(&[Application])?;
    let ws = st.db.workspace_for(caller.org(), named_workspace(&req)?).await?;
    let ttl = st.settings.scoped_token_ttl;
    let token =
        st.signer.issue(claims(Scoped, &caller.claims.sub, caller.org(), Some((&ws.id, &ws.name)), None), ttl)?;
    st.metrics.token("scoped");
    Ok(WorkspaceToken { token, expires_in: ttl, workspace_id: ws.id, workspace_name: ws.name, allowed_origin: None })
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

/// A widget token for one workspace, usable only from `allowed_origin` (which is registered for
/// CORS); application tokens only.
pub async fn widget_token(st: &AppState, caller: &Caller, req: WorkspaceRef) -> ApiResult<WorkspaceToken> {
    caller.require(&[Application])?;
    let name = named_workspace(&req)?;
    let origin = req.allowed_origin.as_deref().and_then(parse_origin).ok_or_else(|| {
        ApiError::validation(
            "allowed_origin is required: one exact origin like https://app.example.com (no path, no wildcard)",
        )
    })?;
    let ws = st.db.workspace_for(caller.org(), name).await?;
    st.origins.add(&st.db, caller.org(), &origin).await?;
    let ttl = st.settings.widget_token_ttl;
    let token = st
        .signer
        .issue(claims(Widget, &caller.claims.sub, caller.org(), Some((&ws.id, &ws.name)), Some(&origin)), ttl)?;
    st.metrics.token("widget");
    Ok(WorkspaceToken {
        token,
        expires_in: ttl,
        workspace_id: ws.id,
        workspace_name: ws.name,
        allowed_origin: Some(origin),
    })
}

/// What the caller's scoped or widget token is.
pub fn token_info(caller: &Caller) -> ApiResult<TokenInfo> {
    caller.require(&[Scoped, Widget])?;
    let c = &caller.claims;
    let expires_at = time::OffsetDateTime::from_unix_timestamp(c.exp as i64)
        .ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok());
    Ok(TokenInfo {
        organization_id: c.org.clone(),
        workspace_id: c.ws.clone(),
        workspace_name: c.wsn.clone(),
        external_user_id: c.wsn.clone(),
        kind: c.kind.as_str().into(),
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_exact() {
        assert_eq!(parse_origin("https://app.example.com").as_deref(), Some("https://app.example.com"));
        assert_eq!(parse_origin("https://app.example.com/").as_deref(), Some("https://app.example.com"));
        assert_eq!(parse_origin("http://127.0.0.1:8080").as_deref(), Some("http://127.0.0.1:8080"));
        for bad in ["*", "https://app.example.com/path", "ftp://x.example", "https://u@x.example", "app.example.com"] {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }
}
