//! The disputes module's messages: its config, calls, queries and answers.
//!
//! They are defined in the `disputes-api` crate (`api/` beside this crate),
//! so that the modules and clients that talk to disputes use the very same
//! types; this file re-exports them.

pub use disputes_api::*;
