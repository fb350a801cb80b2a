//! The binding-facing layer: everything a language binding needs, written once.
//!
//! A binding (Python, Node, Kotlin/Swift) translates arguments and results and maps errors to
//! its exception classes; it decides nothing. What would otherwise be decided in each language
//! lives here:
//!
//! - [`Executor`]: one facade over local and hosted mode, taking one [`ExecuteRequest`];
//! - [`ClientSettings`] and [`Target`]: the reference product's argument names as aliases,
//!   environment fallbacks, and the rules that find a hosted connector;
//! - [`ErrorCategory`]: how error codes group into each language's exception classes;
//! - [`model`]: the codegen model each binding's generator renders into typed connectors, and
//!   the SDK's data types ([`data_types_model`]) for languages that do not derive them;
//! - [`tool_output`]: a result bounded for a model's context;
//! - [`runtime_builder`]: a binding's tokio runtime, with [`runtime_workers`] threads;
//! - [`process`]: a runtime and HTTP client per process, for languages whose programs fork;
//! - [`tree`]: JSON text made into a language's own maps and lists in one pass, keys shared;
//! - [`wake`]: results handed to a language's event loop through a descriptor it watches.
//!
//! Public signatures use plain structs and enums; JSON (`serde_json::Value`) appears only
//! where the data is schemaless: params, records, credentials and config.

mod errors;
mod executor;
pub mod model;
pub mod process;
mod settings;
pub mod tree;
pub mod wake;

pub use errors::ErrorCategory;
pub use executor::{
    hosted_only, is_hosted_only, output_limit, tool_output, ExecuteRequest, Executor, Hooks, LocalSettings, Pages,
    ResultText, ResultView, SyncOptions, TextPages, HOSTED_ONLY_ACTIONS,
};
pub use model::{
    codegen_model, connector_model, connector_slug, data_types_model, ConnectorModel, DataTypeModel, TypeModel,
};
pub use settings::{
    arg, env, not_unicode, runtime_builder, runtime_workers, seconds, ClientSettings, ConnectorMode, ConnectorSettings,
    ResolvedTarget, Target,
};
