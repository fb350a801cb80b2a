//! The app's token provider as core's [`TokenProvider`](core::TokenProvider): a Kotlin or Swift
//! object that fetches a scoped token from the app's own backend, so the client secret never
//! reaches the device. Core calls it for the first token and again when the engine rejects one.

use std::sync::Arc;

use futures::future::BoxFuture;
use switchboard_core::hosted as core;

use crate::error::SwitchboardException;

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
