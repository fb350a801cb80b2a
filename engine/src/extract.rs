//! Request extractors: JSON bodies with typed rejections, and the authenticated caller (from its
//! bearer token, organization header, widget origin and the organization's rate limit).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use switchboard_core::ErrorCode;

use crate::error::ApiError;
pub use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::TokenKind;

/// A JSON body; malformed JSON is `bad_request`, a wrong shape `validation`, too large
/// `payload_too_large`, each with a message saying what to fix.
pub struct Body<T>(pub T);

impl<S, T> FromRequest<S> for Body<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(rej) => Err(match &rej {
                JsonRejection::JsonDataError(e) => ApiError::validation(format!(
                    "the request body does not have the expected fields: {}",
                    inner_text(e)
                )),
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::bad_request(format!("the request body is not valid JSON: {}", inner_text(e)))
                }
                JsonRejection::MissingJsonContentType(_) => {
                    ApiError::bad_request("send the body as JSON with Content-Type: application/json")
                }
                _ if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(ErrorCode::PayloadTooLarge, "the request body is larger than this server accepts")
                }
                _ => ApiError::bad_request(format!("the request body could not be read: {}", rej.body_text())),
            }),
        }
    }
}

/// A query string; one it cannot read (a repeated field, a number that is not one) is
/// `validation`, in the error shape every answer has.
pub struct Params<T>(pub T);

impl<S, T> FromRequestParts<S> for Params<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Params(v)),
            Err(rej) => Err(ApiError::validation(format!("the query string could not be read: {}", inner_text(&rej)))),
        }
    }
}

/// The one segment a route takes (an id, a connector type); one that is not UTF-8 text names
/// nothing there is: `not_found`, as any other unknown id.
pub struct Segment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for Segment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Segment(v)),
            Err(_) => Err(ApiError::not_found("resource")),
        }
    }
}

/// The innermost message of `e`, without the values serde quotes in it (one may be a secret
/// sent in the wrong field: `switchboard_core::redact::without_values`).
fn inner_text(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    switchboard_core::redact::without_values(&msg)
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
        let token = match header.split_once(' ') {
            Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") && !t.trim().is_empty() => t.trim(),
            _ => {
                return Err(ApiError::unauthorized("send a token as 'Authorization: Bearer <token>'")
                    .with_reason("missing_token"));
            }
        };
        let claims = state.signer.verify(token, &state.db, &state.keys).await?;
        if let Some(org) = parts.headers.get("x-organization-id") {
            if org.to_str().ok() != Some(claims.org.as_str()) {
                return Err(ApiError::forbidden("X-Organization-Id does not match the token's organization")
                    .with_reason("organization_mismatch"));
            }
        }
        if claims.kind == TokenKind::Widget {
            // Its allowed origin, or the engine's own (the widget iframe): see crate::widget.
            let public_url = state.settings.public_url.as_deref();
            if !crate::widget::origin_accepted(&parts.method, &parts.headers, claims.origin.as_deref(), public_url) {
                return Err(ApiError::forbidden("this widget token is only valid from its allowed origin")
                    .with_reason("origin_mismatch"));
            }
        }
        // Tokens bound to a workspace (scoped, widget: held by end users' apps and browsers)
        // spend their workspace's budget, application tokens their organization's: one end
        // user cannot make the organization's backend, or other end users, wait.
        let (bucket, whose): (std::borrow::Cow<'_, str>, _) = match claims.ws.as_deref() {
            Some(ws) if claims.kind != TokenKind::Application => (format!("{}/{ws}", claims.org).into(), "workspace"),
            _ => (claims.org.as_str().into(), "organization"),
        };
        if let Err(wait) = state.limiter.take(&bucket, state.settings.rate_per_sec, state.settings.rate_burst) {
            let mut e = ApiError::new(
                ErrorCode::RateLimited,
                format!("this {whose} is sending requests faster than its rate limit"),
            );
            e.retry_after = Some(wait);
            return Err(e);
        }
        Ok(Caller { claims })
    }
}

/// The token kinds a route takes, for [`Allowed`].
pub trait Kinds: Send + Sync + 'static {
    const KINDS: &'static [TokenKind];
}

/// Application tokens only.
pub struct ApplicationOnly;

impl Kinds for ApplicationOnly {
    const KINDS: &'static [TokenKind] = &[TokenKind::Application];
}

/// Application and scoped tokens (execute, a connector's update).
pub struct ApplicationOrScoped;

impl Kinds for ApplicationOrScoped {
    const KINDS: &'static [TokenKind] = &[TokenKind::Application, TokenKind::Scoped];
}

/// A [`Caller`] whose token is of one of `K`'s kinds, checked before the route reads its body:
/// a token of another kind is refused (401 `wrong_token_kind`) whatever the body holds, where a
/// bad body would otherwise be answered first (400 or 422). The service checks the kind again.
pub struct Allowed<K>(pub Caller, pub std::marker::PhantomData<K>);

impl<K: Kinds> FromRequestParts<AppState> for Allowed<K> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        caller.require(K::KINDS)?;
        Ok(Allowed(caller, std::marker::PhantomData))
    }
}
