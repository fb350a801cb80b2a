//! Switchboard for Kotlin and Swift: a thin UniFFI mirror of `switchboard_core::sdk`, one
//! module per core module: [`executor`] (the one executor over local and hosted mode),
//! [`paginate`] (its pages), [`hosted`] (engine client and workspace), [`auth`] (the app's
//! token provider and `on_token_refresh` listener), [`tools`] (`describe` and the codegen model
//! the typed Kotlin connectors are generated from) and [`error`] (one error enum, a case per
//! `ErrorCode`).
//!
//! Params, settings and requests cross as JSON text of core's own structs (`LocalSettings`,
//! `ConnectorSettings`, `ClientSettings`, `Target`, `ExecuteRequest`, `NewConnector`); results
//! and stored connectors leave as records mirroring core's `ResultView` and `ConnectorInfo`,
//! with the schemaless parts (records, meta) as JSON text. Core resolves aliases, environment
//! fallbacks and targets. Async methods run on tokio (`async_runtime = "tokio"`): Kotlin
//! `suspend`, Swift `async throws`; cancelling the caller drops the Rust future.

uniffi::setup_scaffolding!();

pub mod auth;
pub mod error;
pub mod executor;
pub mod hosted;
mod json;
pub mod paginate;
pub mod tools;

pub use auth::{TokenProvider, TokenRefreshListener};
pub use error::SwitchboardException;
pub use executor::{connect, Executor, ResultView};
pub use hosted::{HostedClient, Workspace};
pub use paginate::Pages;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
