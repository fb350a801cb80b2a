//! Tools for spec authors behind `switchboard connectors import` and `switchboard connectors
//! check`: a draft spec from a provider's OpenAPI document, and a check that places every
//! problem at its line in the file.

pub mod check;
pub mod import;
pub mod source_map;
