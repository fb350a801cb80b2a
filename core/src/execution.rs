//! What one call of an operation takes and gives back, whoever runs it: a local
//! [`Connector`](crate::Connector), a [`HostedExecutor`](crate::HostedExecutor) or the page
//! stream of [`paginate`](crate::paginate). Plain data with no behaviour, so every runner
//! depends on this module and it depends on none of them.

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
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
        pagination(&self.meta, self.next_page.as_ref())
    }
}

fn pagination(meta: &Map<String, Value>, next_page: Option<&NextPage>) -> Map<String, Value> {
    let mut pagination = meta.clone();
    let cursor = next_page.map(|n| n.cursor.clone()).unwrap_or(Value::Null);
    pagination.insert("cursor".into(), cursor);
    pagination
}

/// A list record as the JSON text the API sent (an object or `null`; any other value as
/// `{"value": ...}`), checked as JSON when its page was read
/// ([`crate::extract::split_records`]) and written out as it is.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordText {
    pub(crate) text: Box<str>,
    /// Bytes of its longest string as written (an upper bound of its chars).
    pub(crate) longest: usize,
}

impl RecordText {
    /// The record's JSON text.
    pub fn get(&self) -> &str {
        &self.text
    }

    /// A record written from its tree.
    pub(crate) fn of(v: &Value) -> Self {
        let text = v.to_string();
        let longest = text.len();
        Self { text: text.into(), longest }
    }

    /// A record from JSON text, checked here (tests build records this way).
    #[cfg(test)]
    pub(crate) fn checked(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str::<serde::de::IgnoredAny>(text)?;
        Ok(Self { text: text.into(), longest: text.len() })
    }
}

impl Serialize for RecordText {
    /// The text as it is: serde_json writes a struct of this name and field raw (the protocol
    /// of its own `RawValue`, whose constructors would check the text once more).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        let mut s = serializer.serialize_struct(crate::extract::RAW_VALUE_TOKEN, 1)?;
        s.serialize_field(crate::extract::RAW_VALUE_TOKEN, &*self.text)?;
        s.end()
    }
}

/// An execution's data for a caller that writes it out as JSON (the engine's answer): a tree,
/// or a list page's records as the JSON text the API sent (each an object or `null`, long
/// strings cut unless asked otherwise), which it writes as an array without parsing them.
#[derive(Debug)]
pub enum JsonData {
    Value(Value),
    Records(Vec<RecordText>),
    /// The whole data as JSON text another party checked and sent (the engine's answer to
    /// the hosted client).
    Text(Box<RawValue>),
}

impl JsonData {
    /// Bytes the data's text takes (0 for a tree): what its JSON needs at least.
    pub fn text_len(&self) -> usize {
        match self {
            JsonData::Value(_) => 0,
            JsonData::Records(records) => records.iter().map(|r| r.get().len() + 1).sum(),
            JsonData::Text(text) => text.get().len(),
        }
    }

    /// The data as a tree (the records parsed).
    pub fn into_value(self) -> serde_json::Result<Value> {
        match self {
            JsonData::Value(v) => Ok(v),
            JsonData::Records(records) => {
                let items = records.iter().map(|r| crate::extract::parse_json(r.get().as_bytes()));
                Ok(Value::Array(items.collect::<serde_json::Result<Vec<Value>>>()?))
            }
            JsonData::Text(text) => crate::extract::parse_json(text.get().as_bytes()),
        }
    }
}

impl Serialize for JsonData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            JsonData::Value(v) => v.serialize(serializer),
            JsonData::Records(records) => serializer.collect_seq(records),
            JsonData::Text(text) => text.serialize(serializer),
        }
    }
}

/// The result of one operation as [`crate::Connector::execute_json`] gives it.
#[derive(Debug)]
pub struct JsonExecution {
    pub data: JsonData,
    pub meta: Map<String, Value>,
    pub next_page: Option<NextPage>,
}

impl JsonExecution {
    /// As [`ExecutionResult::pagination`].
    pub fn pagination(&self) -> Map<String, Value> {
        pagination(&self.meta, self.next_page.as_ref())
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
    /// Why the agent makes the call, at most [`MAX_INTENT_CHARS`] characters: sent to the
    /// engine in hosted mode (the reference SDK's `intent`); local mode has no use for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent: Option<String>,
}

/// The longest `intent` taken, in characters (the reference SDK's bound).
pub const MAX_INTENT_CHARS: usize = 512;

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
