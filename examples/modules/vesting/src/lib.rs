//! Vesting: the standard polypact module for grants of membership units that
//! vest over time.
//!
//! This crate owns vesting grants: a number of economic (or voting) units
//! promised to a current member, vesting linearly or in equal steps from
//! `start_ms` over `duration_ms`, with nothing vested before the cliff
//! (`start_ms + cliff_ms`). It owns the schedule maths (integers only:
//! `vested = units * elapsed / duration`, floored; in steps,
//! `units * k / steps` with `k = elapsed * steps / duration`, floored, so the
//! last step is exact), releases (moving vested units into the member's
//! membership record with membership `set_units`, which needs this instance
//! among membership's `managers`), and cancellation (by governance, or by
//! the exit module when a member leaves, keeping or forfeiting what had
//! vested per the leaver terms), and milestone gates (a grant naming a
//! milestone of the term module vests nothing until governance approved
//! it there). It does not own the units themselves
//! (membership does, asked and told with the types of `membership-api`) nor
//! who is a good or bad leaver (the exit module decides and says
//! `keep_vested`). Message formats are in `README.md`.
//!
//! The code is laid out as in the other standard modules:
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages, answers and schedule maths, published in `vesting-api` (`api/`) for the exit module |
//! | `state.rs` | the storage layout |
//! | `error.rs` | [`VestingError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, and `handle` and `query` dispatching to one function per message |

pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use contract::{MAX_GRANTS_PER_MEMBER, MAX_STEPS, handle, init, query, vested};
pub use error::VestingError;
pub use msg::*;

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "exit_module", "term_module");
