//! The term module's messages: its init config, calls, queries and
//! answers, and the records those answers carry.
//!
//! They are defined in the `term-api` crate (`api/` beside this crate), so
//! that the node's portfolio, which reads the term, its reviews and its
//! milestones as deadlines, uses the very same types; this file re-exports
//! them so the contract reads them as `crate::msg::…`. The JSON forms are
//! in `README.md`.

pub use term_api::*;
