//! The Switchboard engine (in progress).
