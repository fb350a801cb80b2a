//! Switchboard core: the one implementation of connector specs and their runtime.
//!
//! Every SDK binding and the engine call into this crate; nothing about connectors is written
//! twice. The path of a call: [`Connector::execute`] -> operation table ([`spec`]) -> validate
//! params and build the request ([`request`]) -> auth ([`auth`]) -> the HTTP seam ([`http`]) ->
//! retries and error mapping ([`upstream`]) -> records and meta ([`extract`]).

pub mod apart;
pub mod auth;
pub mod connector;
pub mod error;
pub mod execution;
pub mod extract;
pub mod hosted;
pub mod http;
pub mod paginate;
pub mod redact;
pub mod registry;
pub mod request;
pub mod sdk;
pub mod spec;
pub mod store_filter;
pub mod template;
pub mod tools;
pub mod upstream;
pub mod validate;
pub mod wire;

/// Text and JSON descriptions of a connector. The module lives in [`tools`], next to the one
/// param renderer it shares with the tool schemas; this path is kept for callers.
pub use tools::describe;

pub use auth::{RefreshStart, TokenSink, TokenUpdate};
pub use connector::{Connector, ConnectorOptions};
pub use error::{Error, ErrorCode, Result};
pub use execution::{CheckResult, ExecuteOptions, ExecutionResult, JsonData, JsonExecution};
pub use hosted::{
    connect, ConnectorInfo, ConnectorLookup, HostedClient, HostedConfig, HostedExecutor, NewConnector, Workspace,
};
pub use registry::Registry;
pub use spec::ConnectorSpec;
