//! Switchboard core: the one implementation of connector specs and their runtime.
//!
//! Every SDK binding and the engine call into this crate; nothing about connectors is written
//! twice. The path of a call: [`Connector::execute`] -> operation table ([`spec`]) -> validate
//! params and build the request ([`request`]) -> auth ([`auth`]) -> the HTTP seam ([`http`]) ->
//! retries and error mapping ([`upstream`]) -> records and meta ([`extract`]).

pub mod auth;
pub mod connector;
pub mod describe;
pub mod error;
pub mod extract;
pub mod hosted;
pub mod http;
pub mod paginate;
pub mod registry;
pub mod request;
pub mod spec;
pub mod template;
pub mod tools;
pub mod upstream;

pub use auth::{RefreshStart, TokenSink, TokenUpdate};
pub use connector::{CheckResult, Connector, ConnectorOptions, ExecuteOptions, ExecutionResult};
pub use error::{Error, ErrorCode, Result};
pub use hosted::{
    connect, ConnectorInfo, ConnectorLookup, HostedClient, HostedConfig, HostedExecutor, NewConnector, Workspace,
};
pub use registry::Registry;
pub use spec::ConnectorSpec;
