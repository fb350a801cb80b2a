//! Mirrors `switchboard_core::sdk::TextPages`: every page of an operation, one `next()` at a time.

use futures::lock::Mutex;
use futures::stream::{Fuse, StreamExt};
use switchboard_core::sdk;

use crate::error::SwitchboardException;
use crate::executor::ResultView;

/// The pages of one operation, following the connector's cursor. A failure ends the pages.
#[derive(uniffi::Object)]
pub struct Pages {
    /// Fused: `next()` after the last page keeps answering `None`.
    inner: Mutex<Fuse<sdk::TextPages>>,
}

impl Pages {
    pub(crate) fn new(pages: sdk::TextPages) -> Self {
        Self { inner: Mutex::new(pages.fuse()) }
    }
}

#[uniffi::export(async_runtime = "tokio")]
impl Pages {
    /// The next page; `None` after the last page.
    pub async fn next(&self) -> Result<Option<ResultView>, SwitchboardException> {
        match self.inner.lock().await.next().await {
            Some(page) => Ok(Some(page?.into())),
            None => Ok(None),
        }
    }
}
