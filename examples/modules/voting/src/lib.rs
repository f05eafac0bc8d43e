//! Voting: the standard polypact governance module. Members propose, vote
//! (or delegate), and passed proposals run their messages.
//!
//! This crate owns proposals (including drafts that wait for a sponsor, the
//! anti-spam mode), votes, delegations, the decision table (a rule per kind
//! of proposal), the periods (voting, late-quorum extension, grace with
//! veto, expiry) and execution. It does not own who the members are or
//! their voting power: it asks the membership module (`voting_power_at`,
//! `total_voting_power_at`, `has_role`, with the types of `membership-api`),
//! fixing power at the height before the proposal opened for voting, so
//! units gained mid-vote do not count. The message formats and the exact
//! rules are in `README.md`.
//!
//! The code is laid out as in the other standard modules:
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages and answers, published in `voting-api` (`api/`) for the modules that talk to this one |
//! | `state.rs` | the storage layout |
//! | `error.rs` | [`VotingError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, `migrate`, and `handle` and `query` dispatching to one function per message |
//! | `kinds.rs` | which rules a proposal must meet, from the kinds of its messages |
//! | `outcome.rs` | quorum, thresholds and a proposal's status at a time |

pub mod contract;
pub mod error;
pub mod kinds;
pub mod msg;
pub mod outcome;
pub mod state;

pub use contract::{
    DEFAULT_PAGE, MAX_CHOICES, MAX_DESCRIPTION_LEN, MAX_MESSAGES, MAX_PAGE, MAX_TITLE_LEN, handle, init,
    migrate, query,
};
pub use error::VotingError;
pub use msg::*;

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query, migrate: contract::migrate);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "module_proposers");
