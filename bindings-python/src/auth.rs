//! Python callables as core's token hooks: `on_token_refresh` as the [`TokenSink`] of a local
//! connector (it gets the `TokenUpdate` as JSON text; the facade passes a dict to the user's
//! function), and `token_provider` as the [`TokenProvider`] of a hosted client without a client
//! secret (it gets the rejected token or `None` and returns a scoped token). When a callable
//! returns an awaitable, it is awaited on the caller's event loop.

use std::sync::Arc;

use futures::future::BoxFuture;
use pyo3::prelude::*;
use switchboard_core::hosted::TokenProvider;
use switchboard_core::{Error, TokenSink, TokenUpdate};

use crate::runtime;

/// `on_token_refresh` as a token sink.
pub struct PyTokenSink {
    callback: Arc<Py<PyAny>>,
}

impl PyTokenSink {
    /// A sink calling `callback(update_json)`.
    pub fn shared(callback: Py<PyAny>) -> Arc<dyn TokenSink> {
        Arc::new(Self { callback: Arc::new(callback) })
    }
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::internal(format!("the on_token_refresh callback failed: {e}"))
}

/// Calls `callback(arg)` off the async workers (taking the GIL may wait), awaits what it
/// returns when that is awaitable (on the caller's event loop), and extracts the value.
async fn call_python<A, R>(
    callback: Arc<Py<PyAny>>,
    arg: A,
    locals: Option<pyo3_async_runtimes::TaskLocals>,
) -> PyResult<R>
where
    A: for<'py> IntoPyObject<'py> + Send + 'static,
    R: for<'a, 'py> FromPyObject<'a, 'py> + Send + 'static,
{
    let returned = tokio::task::spawn_blocking(move || {
        Python::attach(|py| -> PyResult<Result<R, _>> {
            let ret = callback.bind(py).call1((arg,))?;
            if !ret.hasattr("__await__")? {
                return Ok(Ok(ret.extract::<R>().map_err(Into::into)?));
            }
            let locals = locals.ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no running event loop"))?;
            Ok(Err(pyo3_async_runtimes::into_future_with_locals(&locals, ret)?))
        })
    })
    .await
    .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))??;
    match returned {
        Ok(value) => Ok(value),
        Err(awaitable) => {
            let value = awaitable.await?;
            tokio::task::spawn_blocking(move || Python::attach(|py| value.extract::<R>(py).map_err(Into::into)))
                .await
                .map_err(|e| pyo3::exceptions::PyRuntimeError::new_err(e.to_string()))?
        }
    }
}

impl TokenSink for PyTokenSink {
    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        let (callback, locals) = (self.callback.clone(), runtime::task_locals());
        Box::pin(async move {
            let json = serde_json::to_string(&update).map_err(failed)?;
            call_python::<_, Py<PyAny>>(callback, json, locals).await.map_err(failed)?;
            Ok(())
        })
    }
}

/// `token_provider` as a core token provider.
pub struct PyTokenProvider {
    callback: Arc<Py<PyAny>>,
}

impl PyTokenProvider {
    /// A provider calling `callback(rejected_token_or_none)`.
    pub fn shared(callback: Py<PyAny>) -> Arc<dyn TokenProvider> {
        Arc::new(Self { callback: Arc::new(callback) })
    }
}

impl TokenProvider for PyTokenProvider {
    fn token(&self, rejected: Option<String>) -> BoxFuture<'_, switchboard_core::Result<String>> {
        let (callback, locals) = (self.callback.clone(), runtime::task_locals());
        Box::pin(async move {
            let provider_failed = |e: PyErr| Error::configuration(format!("the token_provider callback failed: {e}"));
            call_python::<_, String>(callback, rejected, locals).await.map_err(provider_failed)
        })
    }
}
