//! Mirrors `switchboard_core::sdk::TextPages`: the page stream, one `next()` promise per page.

use std::sync::Arc;

use futures::StreamExt;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use switchboard_core::sdk::TextPages;

use crate::error::to_js;
use crate::executor::{Cancel, Outcome};
use crate::settle::Settler;

/// Each page as an `Outcome`, then `null`; a failure rejects once and ends the stream.
#[napi]
pub struct PageIterator {
    pages: Arc<tokio::sync::Mutex<TextPages>>,
}

impl PageIterator {
    /// Wraps a core page stream.
    pub fn new(pages: TextPages) -> Self {
        Self { pages: Arc::new(tokio::sync::Mutex::new(pages)) }
    }
}

#[napi]
impl PageIterator {
    /// Starts reading the next page; `settler` answers call `id` with an `Outcome` holding its
    /// result, `null` after the last page, or the error. `cancel.cancel()` drops the page's
    /// request and ends the stream.
    #[napi]
    pub fn next(&self, env: Env, settler: &Settler, id: u32, cancel: Option<&Cancel>) -> Result<()> {
        let registration = cancel.map(Cancel::registration).transpose()?;
        let pages = Arc::clone(&self.pages);
        settler.start(&env, id, async move {
            let page = Cancel::until(registration, async { pages.lock().await.next().await }).await;
            if page.is_err() {
                *pages.lock().await = futures::stream::empty().boxed(); // drops the request in flight
            }
            match page? {
                Some(Ok(page)) => Ok(Some(Outcome::new(page))),
                Some(Err(e)) => Err(to_js(e)),
                None => Ok(None),
            }
        })
    }
}
