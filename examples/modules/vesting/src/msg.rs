//! The vesting module's messages: its config, calls, queries and answers.
//!
//! They are defined in the `vesting-api` crate (`api/` beside this crate),
//! so that the exit module, which reads a leaver's vesting and cancels its
//! grants, uses the very same types; this file re-exports them so the
//! contract reads them as `crate::msg::…`. The JSON forms are in
//! `README.md`.

pub use vesting_api::*;
