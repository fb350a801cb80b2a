//! Mirrors `switchboard_core::sdk::TextPages`: the page stream, one `next()` promise per page.

use futures::StreamExt;
use napi::bindgen_prelude::*;
use napi_derive::napi;
use switchboard_core::sdk::TextPages;

use crate::error::to_js;
use crate::executor::{Cancel, Outcome};

/// Each page as an `Outcome`, then `null`; a failure rejects once and ends the stream.
#[napi]
pub struct PageIterator {
    pages: tokio::sync::Mutex<TextPages>,
}

impl PageIterator {
    /// Wraps a core page stream.
    pub fn new(pages: TextPages) -> Self {
        Self { pages: tokio::sync::Mutex::new(pages) }
    }
}

#[napi]
impl PageIterator {
    /// The next page (an `Outcome` holding its result), or `null` after the last.
    /// `cancel.cancel()` drops the page's request and ends the stream.
    #[napi]
    pub async fn next(&self, cancel: Option<&Cancel>) -> Result<Option<Outcome>> {
        let page = Cancel::run(cancel, async { self.pages.lock().await.next().await }).await;
        if page.is_err() {
            *self.pages.lock().await = futures::stream::empty().boxed(); // drops the request in flight
        }
        match page? {
            Some(Ok(page)) => Ok(Some(Outcome::new(page))),
            Some(Err(e)) => Err(to_js(e)),
            None => Ok(None),
        }
    }
}
