//! Tokens: client credentials for an application token, an application token for a scoped or
//! widget token of one workspace (created if new), and what a scoped or widget token is.

use switchboard_core::wire::{ApplicationToken, TokenInfo, TokenRequest, WorkspaceRef, WorkspaceToken};
use switchboard_core::ErrorCode;

use crate::crypto::{Argon2Checker, CryptoError, KeyRing, SecretCheck, SecretHasher};
use crate::db::{Application as DbApplication, Db};
use crate::error::{ApiError, ApiResult};
use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::{claims, TokenKind};

use TokenKind::{Application, Scoped, Widget};

/// The name of the sealed server key the client secrets' HMAC is keyed with (also its
/// associated data).
const CLIENT_SECRET_KEY: &str = "client_secret_hmac";

/// How an engine checks client secrets: the keyed hash, and one worker for the Argon2 hashes
/// of rows stored before it.
#[derive(Debug)]
pub struct ClientSecrets {
    hasher: SecretHasher,
    argon2: Argon2Checker,
}

impl ClientSecrets {
    /// Loads the HMAC key (created on an empty store) and starts the Argon2 worker with room
    /// for `argon2_queue` waiting checks.
    pub async fn load(db: &Db, ring: &KeyRing, argon2_queue: usize) -> ApiResult<Self> {
        Ok(Self { hasher: secret_hasher(db, ring).await?, argon2: Argon2Checker::start(argon2_queue)? })
    }

    /// The keyed hash new client secrets are stored as.
    pub fn hasher(&self) -> &SecretHasher {
        &self.hasher
    }
}

/// The client secrets' keyed hash, its key read from storage (sealed under the master key,
/// resealed by a rotation like every record), or made and stored on first use.
pub async fn secret_hasher(db: &Db, ring: &KeyRing) -> ApiResult<SecretHasher> {
    if db.server_key(CLIENT_SECRET_KEY).await?.is_none() {
        let sealed = ring.seal(&SecretHasher::generate_key(), CLIENT_SECRET_KEY)?;
        db.insert_server_key(CLIENT_SECRET_KEY, &sealed).await?;
    }
    // Read back: of replicas starting together, the first one's key is kept.
    let sealed = db
        .server_key(CLIENT_SECRET_KEY)
        .await?
        .ok_or_else(|| ApiError::internal("the client secret key vanished after insert"))?;
    let raw: [u8; 32] = ring
        .open(&sealed, CLIENT_SECRET_KEY)
        .map_err(CryptoError::at_start)?
        .try_into()
        .map_err(|_| ApiError::internal("the stored client secret key is not 32 bytes"))?;
    Ok(SecretHasher::new(raw))
}

/// An application token for client credentials, checked by [`check_client`].
pub async fn application_token(st: &AppState, req: TokenRequest) -> ApiResult<ApplicationToken> {
    let app = check_client(st, &req.client_id, &req.client_secret).await?;
    let ttl = st.settings.application_token_ttl;
    // The token carries a fingerprint of the secret it was issued for: after a rotation it
    // mints no more scoped or widget tokens (see `require_current_secret`).
    let mut c = claims(Application, &app.client_id, &app.organization_id, None, None);
    c.sec = Some(super::console::secret_mark(&app.secret_hash));
    let token = st.signer.issue(c, ttl)?;
    st.metrics.token("application");
    Ok(ApplicationToken {
        access_token: token,
        token_type: "bearer".into(),
        expires_in: ttl,
        organization_id: app.organization_id,
    })
}

/// The application these client credentials belong to, or `invalid_client`. Each attempt takes
/// a token from the client id's bucket first; a secret is checked by its keyed hash, and an
/// unknown client id against a dummy one, at the same cost. A row still holding an Argon2 hash
/// is checked on the Argon2 worker and, when the secret matches, rewritten as the keyed hash.
/// Issues nothing: the token endpoint and the console's sign-in both start here.
pub(crate) async fn check_client(st: &AppState, client_id: &str, client_secret: &str) -> ApiResult<DbApplication> {
    st.token_limits.check_client(client_id)?;
    let app = st.db.find_application(client_id).await?;
    let mut rewritten = None;
    let stored = app.as_ref().map(|a| a.secret_hash.as_str());
    let ok = match st.secrets.hasher.check(client_id, client_secret, stored) {
        SecretCheck::Match => true,
        SecretCheck::Mismatch => false,
        SecretCheck::Legacy => {
            let hash = stored.unwrap_or_default().to_string();
            let Some(ok) = st.secrets.argon2.verify(client_secret.to_string(), hash.clone()).await else {
                let mut e = ApiError::new(ErrorCode::RateLimited, "too many sign-ins are being checked; retry shortly")
                    .with_reason("secret_checks_busy");
                e.retry_after = Some(1.0);
                return Err(e);
            };
            if ok {
                let new = st.secrets.hasher.hash(client_id, client_secret);
                match st.db.replace_application_secret(client_id, &hash, &new).await {
                    // What is stored now: tokens and sessions issued from here carry its mark.
                    Ok(true) => rewritten = Some(new),
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not store a client secret as its keyed hash; retried on next use")
                    }
                }
            }
            ok
        }
    };
    let app = app.map(|mut a| {
        if let Some(h) = rewritten {
            a.secret_hash = h;
        }
        a
    });
    app.filter(|_| ok)
        .ok_or_else(|| ApiError::unauthorized("unknown client_id or wrong client_secret").with_reason("invalid_client"))
}

/// A workspace name the engine stores: at most 256 characters, no control characters
/// (`validate::fits_name`, the rule of a connector's name).
pub(crate) fn check_workspace_name(name: &str) -> ApiResult<()> {
    if !switchboard_core::validate::fits_name(name) {
        return Err(ApiError::validation("workspace_name must be at most 256 characters without control characters"));
    }
    Ok(())
}

/// The workspace a token request names, checked.
fn named_workspace(req: &WorkspaceRef) -> ApiResult<&str> {
    let name = req
        .name()
        .map_err(ApiError::validation)?
        .ok_or_else(|| ApiError::validation("workspace_name is required (or external_user_id)"))?;
    check_workspace_name(name)?;
    Ok(name)
}

/// An application token issued for a client secret since rotated mints nothing more: a leaked
/// secret, rotated, cannot be stretched by the tokens it got into scoped or widget tokens that
/// outlive them. (A token issued before tokens carried the mark is taken as it is.)
async fn require_current_secret(st: &AppState, caller: &Caller) -> ApiResult<()> {
    let Some(mark) = caller.claims.sec.as_deref().filter(|_| caller.kind() == Application) else { return Ok(()) };
    let app = st.db.find_application(&caller.claims.sub).await?;
    if app.map(|a| super::console::secret_mark(&a.secret_hash)).as_deref() != Some(mark) {
        return Err(ApiError::unauthorized(
            "the application's client secret was changed since this token was issued: get a new token with the new secret",
        )
        .with_reason("secret_rotated"));
    }
    Ok(())
}

/// A scoped token for one workspace of the caller's organization (created if new); application
/// tokens only.
pub async fn scoped_token(st: &AppState, caller: &Caller, req: WorkspaceRef) -> ApiResult<WorkspaceToken> {
    caller.require(&[Application])?;
    require_current_secret(st, caller).await?;
    if req.allowed_templates.is_some() {
        return Err(ApiError::validation("allowed_templates is for widget tokens only"));
    }
    let ws = st.db.workspace_for(caller.org(), named_workspace(&req)?).await?;
    let ttl = st.settings.scoped_token_ttl;
    let token =
        st.signer.issue(claims(Scoped, &caller.claims.sub, caller.org(), Some((&ws.id, &ws.name)), None), ttl)?;
    st.metrics.token("scoped");
    Ok(WorkspaceToken { token, expires_in: ttl, workspace_id: ws.id, workspace_name: ws.name, allowed_origin: None })
}

/// `scheme://host[:port]`, nothing else.
pub(crate) fn parse_origin(s: &str) -> Option<String> {
    if s.len() > MAX_ORIGIN_CHARS {
        return None;
    }
    let u = url::Url::parse(s).ok()?;
    if !matches!(u.scheme(), "http" | "https")
        || !u.host().is_some_and(|h| match h {
            url::Host::Domain(d) => dns_name(d),
            url::Host::Ipv4(_) | url::Host::Ipv6(_) => true,
        })
        || u.path() != "/"
        || u.query().is_some()
        || !u.username().is_empty()
    {
        return None;
    }
    let origin = u.origin().ascii_serialization();
    (origin == s.trim_end_matches('/')).then_some(origin)
}

/// The longest origin taken: a scheme, a DNS name's 253 characters and a port.
const MAX_ORIGIN_CHARS: usize = 280;

/// Widget origins one organization may register (each is kept, and loaded by every replica for
/// CORS); a workspace registering an origin another one has already registered adds none.
pub const MAX_WIDGET_ORIGINS: i64 = 100;

/// A host name a browser can send as its origin (lowercase and punycode, as `url` writes it):
/// at most 253 characters of labels of 1 to 63 letters, digits, hyphens or underscores. No `*`,
/// `;`, quotes or other characters a `frame-ancestors` source or a CORS answer would read.
fn dns_name(d: &str) -> bool {
    d.len() <= 253
        && d.split('.').all(|l| {
            (1..=63).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// A widget token for one workspace, usable only from `allowed_origin` (which is registered for
/// CORS); application tokens only.
pub async fn widget_token(st: &AppState, caller: &Caller, req: WorkspaceRef) -> ApiResult<WorkspaceToken> {
    caller.require(&[Application])?;
    require_current_secret(st, caller).await?;
    let name = named_workspace(&req)?;
    let origin = req.allowed_origin.as_deref().and_then(parse_origin).ok_or_else(|| {
        ApiError::validation(
            "allowed_origin is required: one exact origin like https://app.example.com (no path, no wildcard)",
        )
    })?;
    let allowed = crate::widget::allowed_slugs(st, caller, req.allowed_templates.as_deref()).await?;
    let ws = st.db.workspace_for(caller.org(), name).await?;
    if !st.origins.add_in(&st.db, caller.org(), Some(&ws.id), &origin, MAX_WIDGET_ORIGINS).await? {
        return Err(ApiError::validation(format!(
            "this organization has registered {MAX_WIDGET_ORIGINS} widget origins, the most it may: mint widget \
             tokens for an origin already registered"
        )));
    }
    let ttl = st.settings.widget_token_ttl;
    let mut c = claims(Widget, &caller.claims.sub, caller.org(), Some((&ws.id, &ws.name)), Some(&origin));
    c.tpl = allowed;
    let token = st.signer.issue(c, ttl)?;
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
        allowed_origin: c.origin.clone(),
        allowed_templates: c.tpl.clone(),
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
        assert_eq!(parse_origin("https://[::1]:8443").as_deref(), Some("https://[::1]:8443"));
        assert_eq!(parse_origin("https://xn--bcher-kva.example").as_deref(), Some("https://xn--bcher-kva.example"));
        let long = format!("https://{}.example", vec!["a".repeat(63); 4].join("."));
        for bad in ["*", "https://app.example.com/path", "ftp://x.example", "https://u@x.example", "app.example.com"]
            .into_iter()
            .chain(["http://*", "https://*.com", "https://a;sandbox", "https://a'b", "https://a\"b", "https://a,b"])
            .chain(["https://a!$&()+=~{}.example", "https://a..b", &long, &format!("https://{}.x", "a".repeat(64))])
        {
            assert_eq!(parse_origin(bad), None, "{bad}");
        }
    }
}
