//! The membership module's messages: its init config, calls, queries and
//! answers.
//!
//! They are defined in the `membership-api` crate (`api/` beside this
//! crate), so that the modules that talk to membership (voting, treasury,
//! exit, vesting, term) use the very same types; this file re-exports them
//! so the contract reads them as `crate::msg::…`. The JSON forms are in
//! `README.md`.

pub use membership_api::*;
