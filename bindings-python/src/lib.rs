//! The python binding of Switchboard. It is a thin mirror of `switchboard-core`; the
//! exported surface arrives with the binding's own issue. Until then it re-exports the core
//! crate so the workspace builds the binding layout from day one.

pub use switchboard_core as core;
