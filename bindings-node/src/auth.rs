//! JS functions as core's token hooks: `onTokenRefresh` as the [`TokenSink`] of a local
//! connector (it gets the `TokenUpdate` as JSON text) and `tokenProvider` as the
//! [`TokenProvider`] of a hosted client without a client secret (it gets the rejected token or
//! `null`). The facade wraps the user's function so that it always returns a promise. Both are
//! weak threadsafe functions: they never keep the event loop alive.

use std::sync::Arc;

use futures::future::BoxFuture;
use napi::bindgen_prelude::Promise;
use napi::threadsafe_function::ThreadsafeFunction;
use napi::Status;
use switchboard_core::hosted::TokenProvider;
use switchboard_core::{Error, TokenSink, TokenUpdate};

/// `(updateJson: string) => Promise<void>`.
pub type SinkFn = ThreadsafeFunction<String, Promise<()>, String, Status, false, true>;
/// `(rejected: string | null) => Promise<string>`.
pub type ProviderFn = ThreadsafeFunction<Option<String>, Promise<String>, Option<String>, Status, false, true>;

/// `onTokenRefresh` as a token sink.
pub struct JsTokenSink(SinkFn);

impl JsTokenSink {
    /// The sink as core takes it.
    pub fn shared(callback: SinkFn) -> Arc<dyn TokenSink> {
        Arc::new(Self(callback))
    }
}

impl TokenSink for JsTokenSink {
    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        let failed = |e: &dyn std::fmt::Display| Error::internal(format!("the onTokenRefresh callback failed: {e}"));
        Box::pin(async move {
            let json = serde_json::to_string(&update).map_err(|e| failed(&e))?;
            self.0.call_async(json).await.map_err(|e| failed(&e))?.await.map_err(|e| failed(&e))
        })
    }
}

/// `tokenProvider` as a core token provider.
pub struct JsTokenProvider(ProviderFn);

impl JsTokenProvider {
    /// The provider as core takes it.
    pub fn shared(callback: ProviderFn) -> Arc<dyn TokenProvider> {
        Arc::new(Self(callback))
    }
}

impl TokenProvider for JsTokenProvider {
    fn token(&self, rejected: Option<String>) -> BoxFuture<'_, switchboard_core::Result<String>> {
        let failed = |e: napi::Error| Error::configuration(format!("the tokenProvider callback failed: {}", e.reason));
        Box::pin(async move { self.0.call_async(rejected).await.map_err(failed)?.await.map_err(failed) })
    }
}
