//! Fake github API (skeleton; filled in with the github connector).

use axum::Router;

use crate::Shared;

/// Seeded data of the fake.
#[derive(Debug, Default)]
pub struct Data {}

impl Data {
    /// The initial data after start or reset.
    pub fn seed() -> Self {
        Self::default()
    }
}

/// Routes under `/github`.
pub fn routes() -> Router<Shared> {
    Router::new()
}
