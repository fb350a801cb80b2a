//! What one call of an operation takes and gives back, whoever runs it: a local
//! [`Connector`](crate::Connector), a [`HostedExecutor`](crate::HostedExecutor) or the page
//! stream of [`paginate`](crate::paginate). Plain data with no behaviour, so every runner
//! depends on this module and it depends on none of them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::Error;
pub use crate::wire::NextPage;

/// The result of one operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionResult {
    /// Records (list, search) or the record (others).
    pub data: Value,
    /// Pagination and other meta values the spec extracts.
    pub meta: Map<String, Value>,
    /// How to ask for the page after this one, when there is one (read before any field
    /// trimming, so it survives `select_fields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_page: Option<NextPage>,
}

impl ExecutionResult {
    /// The paging values as the reference shows them: the spec's meta values, and `cursor`
    /// always (the next page's, or null on the last page).
    pub fn pagination(&self) -> Map<String, Value> {
        let mut pagination = self.meta.clone();
        let cursor = self.next_page.as_ref().map(|n| n.cursor.clone()).unwrap_or(Value::Null);
        pagination.insert("cursor".into(), cursor);
        pagination
    }
}

/// Per-call options.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExecuteOptions {
    /// Keep only these dot paths of each record.
    #[serde(default)]
    pub select_fields: Vec<String>,
    /// Drop these dot paths from each record.
    #[serde(default)]
    pub exclude_fields: Vec<String>,
    /// Return long text in list results whole.
    #[serde(default)]
    pub skip_truncation: bool,
}

/// The outcome of `check()`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// `healthy` or `unhealthy`.
    pub status: String,
    pub checked_entity: Option<String>,
    pub checked_action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Error>,
}
