//! The exit module's messages: its config, calls, queries and answers.
//!
//! They are defined in the `exit-api` crate (`api/` beside this crate), so
//! that the term module, which dissolves through exit and reads its config,
//! uses the very same types; this file re-exports them so the contract reads
//! them as `crate::msg::…`. The JSON forms are in `README.md`.

pub use exit_api::*;
