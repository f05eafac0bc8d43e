//! Disputes: the standard polypact module for disagreements between
//! partners. A member raises a dispute about a treasury entry or payout, a
//! KPI, a milestone or a member, with a reference to its evidence; what it
//! is about is frozen (an entry in dispute is not distributed, a payout in
//! dispute is not confirmed); the parties negotiate for a period; either
//! may then escalate to the mediators the charter names (participants who
//! need hold no units, a quorum of them for a panel); the ruling is a set
//! of messages that runs atomically once the appeal window has passed,
//! unless a governance vote (a reserved matter, under `appeal_kind`)
//! overturns it.
//!
//! This crate owns disputes, rulings and appeals. It does not own the
//! money (the treasury freezes, releases and reverses on its messages), who
//! the members are (membership) or how an appeal is voted (voting). The
//! JSON forms and rules are in `README.md`.
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages and answers, published in `disputes-api` (`api/`) |
//! | `state.rs` | the storage layout |
//! | `error.rs` | [`DisputesError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, and `handle` and `query` dispatching to one function per message |

pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use contract::{handle, init, query};
pub use error::DisputesError;
pub use msg::*;

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "treasury");
