//! The app's token hooks as core's traits: a [`TokenProvider`] (core's
//! [`TokenProvider`](core::TokenProvider)), a Kotlin or Swift object that fetches a scoped token
//! from the app's own backend, so the client secret never reaches the device (core calls it for
//! the first token and again when the engine rejects one); and a [`TokenRefreshListener`]
//! (core's [`TokenSink`]), a local connector's `on_token_refresh`, told each OAuth refresh so the
//! app can store the rotated tokens.

use std::sync::Arc;

use futures::future::BoxFuture;
use switchboard_core::hosted as core;
use switchboard_core::{TokenSink, TokenUpdate};

use crate::error::SwitchboardException;
use crate::json;

/// Supplies the engine token of a client without a client secret (implemented in Kotlin or
/// Swift).
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait TokenProvider: Send + Sync {
    /// A scoped token to send. `rejected` is the token the engine just refused (expired, say),
    /// so return a new one; `None` on the first call. Throw a `SwitchboardException` to fail
    /// the call that needed the token.
    async fn token(&self, rejected: Option<String>) -> Result<String, SwitchboardException>;
}

/// The foreign provider seen through core's trait.
pub(crate) struct Provider(pub Arc<dyn TokenProvider>);

impl Provider {
    pub(crate) fn shared(provider: Arc<dyn TokenProvider>) -> Arc<dyn core::TokenProvider> {
        Arc::new(Self(provider))
    }
}

impl core::TokenProvider for Provider {
    fn token(&self, rejected: Option<String>) -> BoxFuture<'_, switchboard_core::Result<String>> {
        Box::pin(async move { self.0.token(rejected).await.map_err(Into::into) })
    }
}

/// A local connector's `on_token_refresh` (implemented in Kotlin or Swift): told once per OAuth
/// refresh, before the new access token is used, so the app can store the rotated tokens.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait TokenRefreshListener: Send + Sync {
    /// `update_json` is core's `TokenUpdate`: `{"access_token", "refresh_token", "expires_at",
    /// "extracted"}`. Throwing fails the call that refreshed.
    async fn token_refreshed(&self, update_json: String) -> Result<(), SwitchboardException>;
}

/// The foreign listener seen through core's trait.
pub(crate) struct Sink(pub Arc<dyn TokenRefreshListener>);

impl Sink {
    pub(crate) fn shared(listener: Arc<dyn TokenRefreshListener>) -> Arc<dyn TokenSink> {
        Arc::new(Self(listener))
    }
}

impl TokenSink for Sink {
    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        Box::pin(async move {
            let text = json::text(&update)?;
            Ok(self.0.token_refreshed(text).await?)
        })
    }
}
