//! Helpers shared by the integration tests in `core/tests/` (a folder, so cargo does not build it
//! as a test of its own). A test uses it with `mod support;`.

#![allow(dead_code)]

pub mod records;
