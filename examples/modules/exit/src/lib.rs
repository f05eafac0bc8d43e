//! Exit: the standard polypact module for how a partner leaves, and how the
//! partnership ends.
//!
//! This crate owns the exit rules of a charter: **ragequit** (a member gives
//! up its units for its floor fair share of every asset in the treasury pool,
//! in one op, blocked while a proposal it voted yes on is pending, as in
//! Moloch), **ragekick** (the same, forced by governance), **notice periods**
//! and **lock-ups**, **good- and bad-leaver terms** (what a leaver keeps:
//! vested units, a forfeited percentage; vesting grants are cancelled through
//! the vesting module's `cancel_on_exit`), **buyouts** of a member's
//! economic units at a formula or voted price with a **right of first
//! refusal** for the other members, the resulting **payables** (who owes
//! whom for bought units; settled off the ledger and confirmed here), and
//! **dissolution** (treasury `distribute_all`, then the runtime's
//! `Dissolve`). It does not own units (membership: this instance must be
//! among its `managers`), money (treasury: it must name this instance as its
//! `exit_module`), votes (voting) or vesting schedules (vesting); it talks to
//! each with the types of its `-api` crate. Message formats are in
//! `README.md`.
//!
//! The code is laid out as in the other standard modules:
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages and answers, published in `exit-api` (`api/`) for the term module |
//! | `state.rs` | the storage layout |
//! | `error.rs` | [`ExitError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, and `handle` and `query` dispatching to one function per message; leaving and its terms |
//! | `buyout.rs` | offers, first refusal, sales and payables |

pub mod buyout;
pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use contract::{MAX_REASON_LEN, handle, init, query};
pub use error::ExitError;
pub use msg::*;
pub use state::Installed;

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "treasury", "vesting", "term_module");
