//! What the engine decides. Handlers ([`crate::api`]) parse a request into a
//! [`wire`](switchboard_core::wire) type, call one function here and answer its result; the
//! functions here apply the rules (token kinds, tenancy and workspace scope, connector
//! validation, sealing credentials, the handle cache, audit records) and call storage
//! ([`crate::db`]), which only stores.
//!
//! - [`tokens`]: application, scoped and widget tokens, and what a token is.
//! - [`catalog`]: the connector definitions and templates, the organization's workspaces.
//! - [`connectors`]: creating, listing, changing and deleting connectors, within the caller's
//!   organization and workspace.
//! - [`execution`]: running an operation or a health check with a connector's stored
//!   credentials.

pub mod catalog;
pub mod connectors;
pub mod console;
pub mod execution;
pub mod oauth;
pub mod tokens;

use crate::error::ApiError;
use crate::tokens::{Claims, TokenKind};

/// The authenticated caller of a request (the extractor is in [`crate::extract`]).
#[derive(Debug, Clone)]
pub struct Caller {
    pub claims: Claims,
}

impl Caller {
    pub fn kind(&self) -> TokenKind {
        self.claims.kind
    }

    pub fn org(&self) -> &str {
        &self.claims.org
    }

    /// The workspace a scoped or widget token is bound to.
    pub fn workspace_id(&self) -> Option<&str> {
        match self.claims.kind {
            TokenKind::Application => None,
            _ => self.claims.ws.as_deref(),
        }
    }

    /// Fails with `authentication` (reason `wrong_token_kind`) unless the token is one of `kinds`.
    pub fn require(&self, kinds: &[TokenKind]) -> Result<(), ApiError> {
        if kinds.contains(&self.claims.kind) {
            return Ok(());
        }
        let names: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        Err(ApiError::unauthorized(format!(
            "a {} token cannot do this; it needs a {} token",
            self.claims.kind.as_str(),
            names.join(" or ")
        ))
        .with_reason("wrong_token_kind"))
    }
}
