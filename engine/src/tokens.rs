//! Token issuing and checking: HS256 JWTs with a key id, signing keys stored sealed in the
//! database so every replica shares them and they can rotate.
//!
//! A token naming a key this process has not loaded makes it re-read the keys (another replica
//! may have added one), but at most once per reload interval and one reload at a time: the key
//! id is read before the signature is checked, so forged key ids must not turn every
//! unauthenticated request into a database query.
//!
//! A token that passed every check is remembered by its exact text (at most
//! [`REMEMBERED_TOKENS`], forgotten all at once when full), so the next request with it skips
//! decoding and the signature: its expiry is checked again each time, and its key must still be
//! loaded. A token that failed is never remembered, so forged tokens cannot fill the memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::{decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::crypto::{random_token, KeyRing};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::metrics::Metrics;

/// Allowed clock skew when checking expiry, in seconds.
pub const LEEWAY_SECS: u64 = 5;

/// How far in the future a token's `iat` (issued at) may be, in seconds: the clock skew between
/// replicas that sign and check tokens. A token issued later than that was not issued by a
/// replica with a sane clock, and is refused as `not_yet_valid`.
pub const IAT_LEEWAY_SECS: u64 = 60;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// Everything in its organization.
    Application,
    /// One workspace's connectors.
    Scoped,
    /// The embeddable auth UI of one workspace, from one origin.
    Widget,
    /// An operator console session (the `sb_console` cookie, see [`crate::console`]): accepted
    /// by the console's routes only ([`Signer::verify_console`]); [`Signer::verify`] refuses it.
    Console,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::Application => "application",
            TokenKind::Scoped => "scoped",
            TokenKind::Widget => "widget",
            TokenKind::Console => "console",
        }
    }
}

/// The claims of every token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The application's client id.
    pub sub: String,
    pub org: String,
    pub kind: TokenKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wsn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Widget tokens: the slugs of the connector types the widget may list and create (none:
    /// every type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tpl: Option<Vec<String>>,
    /// Console sessions: a fingerprint of the application's stored secret hash at sign-in
    /// (never the secret); a session whose application's secret changed since is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sec: Option<String>,
    pub iat: u64,
    pub exp: u64,
    /// Not before: this engine issues none, but checks one a token carries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub jti: String,
}

const ISSUER: &str = "switchboard";

/// The id of the key new tokens are signed with, and every loaded key by id.
type Keys = (String, HashMap<String, Vec<u8>>);

/// Most tokens remembered as verified (about a kilobyte each).
pub const REMEMBERED_TOKENS: usize = 4096;

/// A token that passed [`Signer::verify_signed`]'s checks, and the key that signed it.
struct Verified {
    claims: Claims,
    kid: String,
}

/// Signing keys by id, and the one new tokens use.
pub struct Signer {
    keys: RwLock<Keys>,
    /// When the keys were last re-read for an unknown key id; held while re-reading, so
    /// concurrent requests share one reload.
    last_reload: tokio::sync::Mutex<Option<Instant>>,
    /// Least time between two reloads for unknown key ids.
    reload_interval: Duration,
    metrics: Arc<Metrics>,
    /// Verified tokens by their text (see the module's documentation).
    verified: Mutex<HashMap<String, Verified>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

/// How often a serving engine re-reads the signing keys ([`keep_keys_fresh`]): a key
/// `switchboard admin rotate-signing-key` adds signs on every engine within this, and a key it
/// retires stops verifying.
pub const KEYS_REREAD: Duration = Duration::from_secs(60);

/// Re-reads the signing keys every [`KEYS_REREAD`], in the background (`serve` runs it).
pub fn keep_keys_fresh(st: &crate::state::AppState) -> tokio::task::JoinHandle<()> {
    let st = st.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(KEYS_REREAD).await;
            if let Err(e) = st.signer.reread(&st.db, &st.keys).await {
                tracing::warn!(error = %e.message, "cannot re-read the signing keys; keeping the loaded ones");
            }
        }
    })
}

/// A new signing key's id and its secret, sealed.
fn sealed_signing_key(ring: &KeyRing) -> ApiResult<(String, crate::crypto::Sealed)> {
    let kid = format!("k{}", &random_token(6));
    let secret = random_token(48);
    let sealed = ring.seal(secret.as_bytes(), &format!("signing_key:{kid}"))?;
    Ok((kid, sealed))
}

/// `switchboard admin rotate-signing-key`: adds a signing key, which signs from then on (on
/// every engine within [`KEYS_REREAD`]; tokens signed before stay valid until they expire). With
/// `retire_old`, every other key is deleted, so every token signed with one is refused (on every
/// engine within [`KEYS_REREAD`]): after a leak of the database and the master key, which lets
/// anyone holding them sign tokens. Answers the new key's id and how many keys were retired.
pub async fn rotate_signing_key(db: &Db, ring: &KeyRing, retire_old: bool) -> ApiResult<(String, u64)> {
    let (kid, sealed) = sealed_signing_key(ring)?;
    let retired = db.add_signing_key(&kid, &sealed, retire_old).await?;
    Ok((kid, retired))
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl Signer {
    /// Loads the signing keys, creating the first one on an empty store. A token with a key id
    /// not loaded re-reads the keys at most once per `reload_interval`.
    pub async fn load(db: &Db, ring: &KeyRing, reload_interval: Duration, metrics: Arc<Metrics>) -> ApiResult<Self> {
        let s = Self {
            keys: RwLock::new((String::new(), HashMap::new())),
            last_reload: tokio::sync::Mutex::new(None),
            reload_interval,
            metrics,
            verified: Mutex::new(HashMap::new()),
        };
        s.reload(db, ring, true).await?;
        if s.read().1.is_empty() {
            let (kid, sealed) = sealed_signing_key(ring)?;
            db.add_signing_key(&kid, &sealed, false).await?;
            s.reload(db, ring, true).await?;
        }
        Ok(s)
    }

    /// Re-reads the signing keys now: a key added since signs from then on, and a deleted one
    /// no longer verifies (see [`keep_keys_fresh`]).
    pub async fn reread(&self, db: &Db, ring: &KeyRing) -> ApiResult<()> {
        self.reload(db, ring, false).await
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Keys> {
        self.keys.read().unwrap_or_else(|e| e.into_inner())
    }

    fn secret(&self, kid: &str) -> Option<Vec<u8>> {
        self.read().1.get(kid).cloned()
    }

    /// Re-reads the keys from the database. The newest key signs. At start, a key the ring
    /// does not open means the wrong master key ([`CryptoError::at_start`]).
    async fn reload(&self, db: &Db, ring: &KeyRing, starting: bool) -> ApiResult<()> {
        self.metrics.signing_key_reload();
        let rows = db.signing_keys().await?;
        if rows.is_empty() && !starting {
            // A store without keys (deleted by hand): keep signing with the loaded ones rather
            // than refuse every token until a restart makes a new key.
            tracing::warn!("the store holds no signing key; keeping the loaded ones");
            return Ok(());
        }
        let mut map = HashMap::new();
        // The newest by its time (RFC 3339 text does not sort by time when fractions differ in
        // length), then by key id.
        let created = |at: &str| OffsetDateTime::parse(at, &Rfc3339).ok();
        let mut newest: Option<(Option<OffsetDateTime>, String)> = None;
        for (kid, sealed, at) in rows {
            let secret =
                ring.open(&sealed, &format!("signing_key:{kid}"))
                    .map_err(|e| if starting { e.at_start() } else { e })?;
            map.insert(kid.clone(), secret);
            let this = (created(&at), kid);
            if newest.as_ref().is_none_or(|n| this > *n) {
                newest = Some(this);
            }
        }
        let newest = newest.map(|(_, kid)| kid).unwrap_or_default();
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = (newest, map);
        Ok(())
    }

    /// The secret of a key this process has not loaded: re-reads the keys unless they were
    /// re-read less than the reload interval ago. Requests arriving during a reload wait for
    /// it and use its result.
    async fn secret_after_reload(&self, kid: &str, db: &Db, ring: &KeyRing) -> ApiResult<Option<Vec<u8>>> {
        let mut last = self.last_reload.lock().await;
        if let Some(secret) = self.secret(kid) {
            return Ok(Some(secret));
        }
        if last.is_some_and(|t| t.elapsed() < self.reload_interval) {
            return Ok(None);
        }
        // Stamped before reading, so a failing database is not asked again at once either.
        *last = Some(Instant::now());
        self.reload(db, ring, false).await?;
        Ok(self.secret(kid))
    }

    /// Issues a token.
    pub fn issue(&self, claims: Claims, ttl_secs: u64) -> ApiResult<String> {
        let now = unix_now();
        self.issue_at(claims, now, now + ttl_secs)
    }

    /// Issues a token with explicit times (tests use it to make expired tokens).
    pub fn issue_at(&self, mut claims: Claims, iat: u64, exp: u64) -> ApiResult<String> {
        claims.iss = ISSUER.into();
        claims.iat = iat;
        claims.exp = exp;
        claims.jti = random_token(12);
        let keys = self.read();
        let secret = keys.1.get(&keys.0).ok_or_else(|| ApiError::internal("no signing key loaded"))?;
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(keys.0.clone());
        encode(&header, &claims, &EncodingKey::from_secret(secret))
            .map_err(|e| ApiError::internal(format!("cannot sign a token: {e}")))
    }

    /// Checks a bearer token (see [`Signer::verify_signed`]): a console session token is not one
    /// and is refused here, so no route but the console's accepts it.
    pub async fn verify(&self, token: &str, db: &Db, ring: &KeyRing) -> ApiResult<Claims> {
        let claims = self.verify_signed(token, db, ring).await?;
        if claims.kind == TokenKind::Console {
            return Err(
                ApiError::unauthorized("a console session is not a bearer token").with_reason("wrong_token_kind")
            );
        }
        Ok(claims)
    }

    /// Checks a console session token (see [`Signer::verify_signed`]); any other kind is refused.
    pub async fn verify_console(&self, token: &str, db: &Db, ring: &KeyRing) -> ApiResult<Claims> {
        let claims = self.verify_signed(token, db, ring).await?;
        if claims.kind != TokenKind::Console {
            return Err(ApiError::unauthorized("not a console session").with_reason("wrong_token_kind"));
        }
        Ok(claims)
    }

    /// Checks a token's signature, key id, algorithm, issuer, expiry and, when it has one, its
    /// `nbf` (not before), each with [`LEEWAY_SECS`] of clock skew, and that its `iat` (issued
    /// at) is not more than [`IAT_LEEWAY_SECS`] ahead.
    async fn verify_signed(&self, token: &str, db: &Db, ring: &KeyRing) -> ApiResult<Claims> {
        let now = unix_now();
        if let Some(known) = self.remembered(token, now) {
            return known;
        }
        // Look at the raw header first: `alg: none` and other algorithms are named as such.
        let raw_alg = token
            .split('.')
            .next()
            .and_then(|h| {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, h.trim_end_matches('=')).ok()
            })
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|h| h.get("alg").and_then(|a| a.as_str()).map(str::to_string));
        match raw_alg.as_deref() {
            None => return Err(ApiError::unauthorized("the token is malformed").with_reason("malformed_token")),
            Some("HS256") => {}
            Some(_) => {
                return Err(ApiError::unauthorized("the token's algorithm is not accepted").with_reason("bad_algorithm"))
            }
        }
        let header = decode_header(token)
            .map_err(|_| ApiError::unauthorized("the token is malformed").with_reason("malformed_token"))?;
        let kid = header
            .kid
            .ok_or_else(|| ApiError::unauthorized("the token has no key id").with_reason("malformed_token"))?;
        let secret = match self.secret(&kid) {
            Some(s) => Some(s),
            None => self.secret_after_reload(&kid, db, ring).await?,
        };
        let secret = secret.ok_or_else(|| {
            ApiError::unauthorized("the token was signed with an unknown key").with_reason("unknown_key")
        })?;
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = LEEWAY_SECS;
        v.validate_nbf = true;
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "iss", "sub"]);
        match decode::<Claims>(token, &DecodingKey::from_secret(&secret), &v) {
            // Signed by us, yet issued in the future: a signing clock far ahead, or a token made
            // with a leaked key to outlive its rotation. Refused like an early `nbf`.
            Ok(d) if d.claims.iat > now.saturating_add(IAT_LEEWAY_SECS) => {
                Err(ApiError::unauthorized("the token is not valid yet").with_reason("not_yet_valid"))
            }
            Ok(d) => {
                // A `nbf` still ahead (within the leeway) is checked on every use: not remembered.
                if d.claims.nbf.is_none_or(|nbf| nbf <= now) {
                    self.remember(token, &d.claims, kid);
                }
                Ok(d.claims)
            }
            Err(e) => {
                use jsonwebtoken::errors::ErrorKind;
                Err(match e.kind() {
                    ErrorKind::ExpiredSignature => expired(),
                    ErrorKind::ImmatureSignature => {
                        ApiError::unauthorized("the token is not valid yet").with_reason("not_yet_valid")
                    }
                    ErrorKind::InvalidSignature => {
                        ApiError::unauthorized("the token's signature is invalid").with_reason("bad_signature")
                    }
                    _ => ApiError::unauthorized("the token is invalid").with_reason("malformed_token"),
                })
            }
        }
    }
}

fn expired() -> ApiError {
    ApiError::unauthorized("the token has expired; request a new one").with_reason("expired")
}

impl Signer {
    fn verified(&self) -> std::sync::MutexGuard<'_, HashMap<String, Verified>> {
        self.verified.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The claims of `token` if it passed every check before: `None` when it did not (or its
    /// key is no longer loaded), an expired error when it has expired since (as `decode` would
    /// say, with the same leeway). Its `iat` and `nbf` were checked then and stay passed.
    fn remembered(&self, token: &str, now: u64) -> Option<ApiResult<Claims>> {
        let mut map = self.verified();
        let known = map.get(token)?;
        if !self.read().1.contains_key(&known.kid) {
            map.remove(token);
            return None;
        }
        if known.claims.exp.saturating_add(LEEWAY_SECS) < now {
            map.remove(token);
            return Some(Err(expired()));
        }
        Some(Ok(known.claims.clone()))
    }

    fn remember(&self, token: &str, claims: &Claims, kid: String) {
        let mut map = self.verified();
        if map.len() >= REMEMBERED_TOKENS {
            map.clear();
        }
        map.insert(token.to_string(), Verified { claims: claims.clone(), kid });
    }
}

/// Claims for a new token (times and id are set when issued).
pub fn claims(kind: TokenKind, client_id: &str, org: &str, ws: Option<(&str, &str)>, origin: Option<&str>) -> Claims {
    Claims {
        iss: String::new(),
        sub: client_id.into(),
        org: org.into(),
        kind,
        ws: ws.map(|w| w.0.to_string()),
        wsn: ws.map(|w| w.1.to_string()),
        origin: origin.map(str::to_string),
        tpl: None,
        sec: None,
        iat: 0,
        exp: 0,
        nbf: None,
        jti: String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::Key;

    async fn signer() -> (Signer, Db, KeyRing) {
        let dir = std::env::temp_dir().join(format!("sb-tokens-{}", uuid::Uuid::new_v4()));
        let db = Db::open(None, &dir).await.unwrap_or_else(|e| panic!("{e}"));
        let ring = KeyRing::new(Key::generate(), vec![]);
        let s = Signer::load(&db, &ring, Duration::from_secs(5), Arc::new(Metrics::default()))
            .await
            .unwrap_or_else(|e| panic!("{e:?}"));
        (s, db, ring)
    }

    fn scoped() -> Claims {
        claims(TokenKind::Scoped, "client", "org", Some(("ws", "Workspace")), None)
    }

    fn reason(r: ApiResult<Claims>) -> String {
        match r {
            Ok(c) => panic!("accepted: {c:?}"),
            Err(e) => e.details.and_then(|d| d["reason"].as_str().map(str::to_string)).unwrap_or_default(),
        }
    }

    /// A verified token is remembered and answers the same claims; its expiry is still checked
    /// on each use; a failed one is never remembered; a remembered one whose key is gone is
    /// checked in full again; the memory is bounded.
    #[tokio::test]
    async fn verified_tokens_are_remembered_and_still_expire() {
        let (s, db, ring) = signer().await;
        let now = unix_now();
        let token = s.issue_at(scoped(), now - 100, now + 1000).unwrap_or_else(|e| panic!("{e:?}"));
        let first = s.verify(&token, &db, &ring).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(s.verified().contains_key(&token));
        let again = s.verify(&token, &db, &ring).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((first.jti.as_str(), first.exp, first.ws.as_deref()), (again.jti.as_str(), again.exp, Some("ws")));

        // Within the leeway after `exp` it still passes; past it, expired, and forgotten.
        assert!(matches!(s.remembered(&token, now + 1000 + LEEWAY_SECS), Some(Ok(_))));
        assert_eq!(
            reason(s.remembered(&token, now + 1001 + LEEWAY_SECS).unwrap_or_else(|| panic!("forgotten"))),
            "expired"
        );
        assert!(!s.verified().contains_key(&token));

        // A token with its last character changed fails and is not remembered.
        let mut forged = token.clone();
        let last = forged.pop().unwrap_or('A');
        forged.push(if last == 'A' { 'B' } else { 'A' });
        assert!(s.verify(&forged, &db, &ring).await.is_err());
        assert!(!s.verified().contains_key(&forged));

        // Its key unloaded: not answered from memory (the full check then reloads the keys).
        s.verify(&token, &db, &ring).await.unwrap_or_else(|e| panic!("{e:?}"));
        let keys = std::mem::take(&mut *s.keys.write().unwrap_or_else(|e| e.into_inner()));
        assert!(s.remembered(&token, now).is_none());
        assert!(!s.verified().contains_key(&token));
        *s.keys.write().unwrap_or_else(|e| e.into_inner()) = keys;

        // A `nbf` ahead, within the leeway: accepted, not remembered.
        let mut early = scoped();
        early.nbf = Some(now + 3);
        let early = s.issue_at(early, now, now + 1000).unwrap_or_else(|e| panic!("{e:?}"));
        s.verify(&early, &db, &ring).await.unwrap_or_else(|e| panic!("{e:?}"));
        assert!(!s.verified().contains_key(&early));

        for i in 0..=REMEMBERED_TOKENS {
            let t = s.issue_at(scoped(), now - i as u64, now + 1000).unwrap_or_else(|e| panic!("{e:?}"));
            s.verify(&t, &db, &ring).await.unwrap_or_else(|e| panic!("{e:?}"));
            assert!(s.verified().len() <= REMEMBERED_TOKENS);
        }
    }

    /// An expired token is refused with the same reason whether or not it was remembered.
    #[tokio::test]
    async fn expired_tokens_are_refused_alike() {
        let (s, db, ring) = signer().await;
        let now = unix_now();
        let old = s.issue_at(scoped(), now - 3600, now - 60).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(reason(s.verify(&old, &db, &ring).await), "expired");
        assert!(!s.verified().contains_key(&old));
    }
}
