//! The voting module's messages: its config, calls, queries and answers.
//!
//! They are defined in the `voting-api` crate (`api/` beside this crate),
//! so that the modules that talk to voting (term proposes reviews, treasury
//! reads the proposal behind a spend, exit reads a voter's open yes votes)
//! use the very same types; this file re-exports them so the contract reads
//! them as `crate::msg::…`. The JSON forms are in `README.md`.

pub use voting_api::*;
