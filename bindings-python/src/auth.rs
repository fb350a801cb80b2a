//! Mirrors `switchboard_core::auth`: a Python `on_token_refresh` callable wired in as the core
//! [`TokenSink`]. The callable gets the `TokenUpdate` as JSON text (the facade passes a dict to
//! the user's function); when it returns an awaitable, it is awaited on the caller's event loop.

use std::sync::Arc;

use futures::future::BoxFuture;
use pyo3::prelude::*;
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

impl TokenSink for PyTokenSink {
    fn token_refreshed(&self, update: TokenUpdate) -> BoxFuture<'_, switchboard_core::Result<()>> {
        let callback = self.callback.clone();
        let locals = runtime::task_locals();
        Box::pin(async move {
            let json = serde_json::to_string(&update).map_err(failed)?;
            // Python runs off the async workers: taking the GIL may wait.
            let awaited = tokio::task::spawn_blocking(move || {
                Python::attach(|py| -> PyResult<Option<_>> {
                    let ret = callback.bind(py).call1((json,))?;
                    if !ret.hasattr("__await__")? {
                        return Ok(None);
                    }
                    let locals =
                        locals.ok_or_else(|| pyo3::exceptions::PyRuntimeError::new_err("no running event loop"))?;
                    pyo3_async_runtimes::into_future_with_locals(&locals, ret).map(Some)
                })
            })
            .await
            .map_err(failed)?
            .map_err(failed)?;
            if let Some(fut) = awaited {
                fut.await.map_err(failed)?;
            }
            Ok(())
        })
    }
}
