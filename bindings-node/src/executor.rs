//! Mirrors `switchboard_core::sdk::Executor`: one handle for local and hosted mode. Requests,
//! settings and targets arrive as JS objects shaped like core's own structs (snake_case keys;
//! the facade maps the camelCase names).

use std::future::Future;
use std::sync::Mutex;

use futures::future::{AbortHandle, AbortRegistration, Abortable};
use napi::bindgen_prelude::*;
use napi_derive::napi;
use serde_json::Value;
use switchboard_core::sdk::{
    self, ConnectorSettings, ExecuteRequest, Hooks, LocalSettings, ResultText, ResultView, Target,
};

use crate::auth::{JsTokenProvider, JsTokenSink, ProviderFn, SinkFn};
use crate::error::{arg, text, to_js, value};
use crate::hosted::HostedClient;
use crate::paginate::PageIterator;
use crate::settle::Settler;

/// Cancels one in-flight call: the facade makes one per call that has an `AbortSignal` and
/// calls `cancel()` when the signal fires; the call's Rust future is dropped at once (its
/// connection closes) and the promise rejects.
#[napi]
pub struct Cancel {
    handle: AbortHandle,
    registration: Mutex<Option<AbortRegistration>>,
}

#[napi]
impl Cancel {
    #[napi(constructor)]
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let (handle, registration) = AbortHandle::new_pair();
        Self { handle, registration: Mutex::new(Some(registration)) }
    }

    /// Drops the call's future.
    #[napi]
    pub fn cancel(&self) {
        self.handle.abort();
    }

    /// This canceller's registration: a `Cancel` serves one call.
    pub(crate) fn registration(&self) -> Result<AbortRegistration> {
        let registration = self.registration.lock().ok().and_then(|mut r| r.take());
        registration.ok_or_else(|| to_js(switchboard_core::Error::validation("a Cancel serves one call")))
    }

    /// Runs `call` to its end, or until the registration's `cancel()` drops it.
    pub(crate) async fn until<T>(registration: Option<AbortRegistration>, call: impl Future<Output = T>) -> Result<T> {
        let Some(registration) = registration else { return Ok(call.await) };
        Abortable::new(call, registration)
            .await
            .map_err(|_| to_js(switchboard_core::Error::internal("the call was aborted")))
    }
}

/// A finished call's result, kept in Rust until the facade reads it: what a call resolves to.
/// The JavaScript string of its data is made just before `JSON.parse` reads it, not when the
/// call settles; with 1,000 calls in flight V8 then promotes about half as many bytes out of
/// its young generation and the calls run about a tenth faster. The data is handed over as core
/// wrote it: assembling the whole result's text around a page on the runtime, one more copy of
/// it, took about a tenth of the runtime's CPU per call (benches/PROFILE.md, section 3).
#[napi]
pub struct Outcome {
    result: Option<ResultText>,
}

/// A result as [`Outcome::take`] hands it over: `data` and `meta` as JSON text.
#[napi(object)]
pub struct ResultParts {
    pub success: bool,
    /// The data as JSON text.
    pub data: String,
    pub error: Option<String>,
    /// The meta (pagination, counts) as JSON text.
    pub meta: String,
}

impl Outcome {
    pub(crate) fn new(result: ResultText) -> Self {
        Self { result: Some(result) }
    }
}

#[napi]
impl Outcome {
    /// The result, once; a second `take()` throws.
    #[napi]
    pub fn take(&mut self) -> Result<ResultParts> {
        let r = self
            .result
            .take()
            .ok_or_else(|| to_js(switchboard_core::Error::internal("this outcome was already read")))?;
        Ok(ResultParts { success: r.success, data: r.data, error: r.error, meta: text(&r.meta)? })
    }
}

/// Runs operations of one connector, locally or through the engine. Cheap to share.
#[napi]
pub struct Executor {
    inner: sdk::Executor,
}

impl Executor {
    /// Wraps a core executor.
    pub fn new(inner: sdk::Executor) -> Self {
        Self { inner }
    }
}

#[napi]
impl Executor {
    /// A local connector from `LocalSettings`, with an optional `on_token_refresh` callback
    /// (gets the `TokenUpdate` as JSON text, returns a promise).
    #[napi(factory, ts_args_type = "settings: string, onTokenRefresh?: ((update: string) => Promise<void>) | null")]
    pub fn local(settings: String, on_token_refresh: Option<SinkFn>) -> Result<Self> {
        let hooks = Hooks { http: None, token_sink: on_token_refresh.map(JsTokenSink::shared) };
        let inner = sdk::Executor::local(arg::<LocalSettings>("settings", &settings)?, hooks).map_err(to_js)?;
        Ok(Self::new(inner))
    }

    /// A typed connector's executor from `ConnectorSettings`: local with credentials, else
    /// through the engine (core decides), with the optional `on_token_refresh` and
    /// `token_provider` callbacks.
    #[napi(
        factory,
        ts_args_type = "settings: string, onTokenRefresh?: ((update: string) => Promise<void>) | null, tokenProvider?: ((rejected: string | null) => Promise<string>) | null"
    )]
    pub fn open(
        settings: String,
        on_token_refresh: Option<SinkFn>,
        token_provider: Option<ProviderFn>,
    ) -> Result<Self> {
        let hooks = Hooks { http: None, token_sink: on_token_refresh.map(JsTokenSink::shared) };
        let provider = token_provider.map(JsTokenProvider::shared);
        let inner = sdk::Executor::open(arg::<ConnectorSettings>("settings", &settings)?, hooks, provider);
        Ok(Self::new(inner.map_err(to_js)?))
    }

    /// A stored connector from a `Target` (`connector_id`, or workspace and type).
    #[napi(factory)]
    pub fn hosted(client: &HostedClient, target: String) -> Result<Self> {
        let target: Target = arg("target", &target)?;
        let inner = sdk::Executor::hosted(client.inner.clone(), &target).map_err(to_js)?;
        Ok(Self::new(inner))
    }

    /// The local connector's slug; `null` in hosted mode.
    #[napi(getter)]
    pub fn slug(&self) -> Option<String> {
        self.inner.slug()
    }

    /// Whether operations run through the engine.
    #[napi(getter)]
    pub fn is_hosted(&self) -> bool {
        self.inner.is_hosted()
    }

    /// How many application tokens the engine client fetched (0 in local mode).
    #[napi]
    pub fn token_fetches(&self) -> u32 {
        self.inner.token_fetches() as u32
    }

    /// Resolves to the stored connector's `ConnectorInfo` (`null` in local mode).
    #[napi]
    pub async fn connector_info(&self) -> Result<Value> {
        value(&self.inner.connector_info().await.map_err(to_js)?)
    }

    /// Starts one `ExecuteRequest`; `settler` answers call `id` with an `Outcome` holding its
    /// result, or its error. With `cancel`, `cancel.cancel()` drops the call. Bad arguments
    /// throw here, before anything starts.
    #[napi]
    pub fn execute(
        &self,
        env: Env,
        settler: &Settler,
        id: u32,
        request: String,
        cancel: Option<&Cancel>,
    ) -> Result<()> {
        let request: ExecuteRequest = arg("request", &request)?;
        let registration = cancel.map(Cancel::registration).transpose()?;
        let inner = self.inner.clone();
        settler.start(&env, id, async move {
            Ok(Some(Outcome::new(Cancel::until(registration, inner.execute_text(request)).await?.map_err(to_js)?)))
        })
    }

    /// An async iterator over every page of an `ExecuteRequest`.
    #[napi]
    pub fn paginate(&self, request: String) -> Result<PageIterator> {
        Ok(PageIterator::new(self.inner.paginate_text(arg("request", &request)?)))
    }

    /// Starts (or resumes) context store syncs of `entities` on the engine as `options` (core's
    /// `SyncOptions`) say; resolves to core's `SyncStarted`. Local mode fails with core's
    /// `hosted_only` error before any request.
    #[napi]
    pub async fn context_store_sync(&self, entities: Vec<String>, options: String) -> Result<Value> {
        let options = arg("options", &options)?;
        value(&self.inner.context_store_sync(entities, options).await.map_err(to_js)?)
    }

    /// Resolves to core's `StoreStatus` of the connector's context store (hosted mode only).
    #[napi]
    pub async fn context_store_status(&self) -> Result<Value> {
        value(&self.inner.context_store_status().await.map_err(to_js)?)
    }

    /// Runs the health check; resolves to its `Outcome` (`success` when healthy).
    #[napi]
    pub async fn check(&self) -> Result<Outcome> {
        Ok(Outcome::new(ResultView::from(self.inner.check().await.map_err(to_js)?).into()))
    }
}
