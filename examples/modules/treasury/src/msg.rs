//! The treasury module's messages: its config, calls, queries and answers,
//! and [`Amount`], the exact minor units they carry.
//!
//! They are defined in the `treasury-api` crate (`api/` beside this crate),
//! so that the modules that talk to the treasury (exit pays fair shares and
//! reads the pool, term sets the split) use the very same types; this file
//! re-exports them so the contract reads them as `crate::msg::…`. The JSON
//! forms are in `README.md`.

pub use treasury_api::*;
