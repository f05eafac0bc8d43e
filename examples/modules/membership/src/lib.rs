//! Membership: the standard polypact module that says who the partners are
//! and what they hold.
//!
//! This crate owns the member registry: each member's `voting_units`
//! (decide), `economic_units` (share in revenue and exit; kept apart from
//! voting, like Moloch's shares and loot) and roles; admission by
//! invitation or by sponsored application, resignation, expulsion, unit and
//! role changes; and a per-height history of voting units so that a vote
//! can fix voting power at a past height. It does not own voting (the
//! governance module, usually `voting`, decides and then sends messages
//! here), nor the runtime's participant registry, which it only asks to
//! follow with `AddParticipant` / `RemoveParticipant` system messages. The
//! message formats are in `README.md`.
//!
//! The code is laid out as in the other standard modules:
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages and answers, published in `membership-api` (`api/`) for the modules that talk to this one |
//! | `state.rs` | the storage layout and the voting-power checkpoints |
//! | `error.rs` | [`MembershipError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, and `handle` and `query` dispatching to one function per message |

pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use contract::{ADMIN_ROLE, MAX_ROLE_LEN, handle, init, query};
pub use error::MembershipError;
pub use msg::*;
pub use state::{total_units_at, units_at};

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("governance", "managers");
