//! The voting module's state: what is stored under which key.
//!
//! This file owns the storage layout. It does not own the rules that change
//! it (`contract.rs`) or how a stored proposal's status is read
//! (`outcome.rs`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config |
//! | `next_id` | `Item<u64>` | the id of the next proposal |
//! | `proposals` | `Map<u64, Proposal>` | proposals with their running tally |
//! | `votes` | `Map<(u64, &str), Ballot>` | each voter's ballot per proposal |
//! | `counted_via` | `Map<(u64, &str), String>` | delegator → the delegate whose ballot carries its power |
//! | `delegations` | `Map<&str, String>` | delegator → delegate |
//! | `delegators` | `Map<(&str, &str), ()>` | index: delegate, delegator |
//! | `yes_votes` | `Map<(&str, u64), ()>` | index: voter, proposal on which its own ballot is yes |

use polypact_sdk::{Item, Map};

use crate::msg::{Ballot, Config, Proposal};

/// The validated config.
pub const CONFIG: Item<Config> = Item::new("config");
/// The id of the next proposal.
pub const NEXT_ID: Item<u64> = Item::new("next_id");
/// Proposals by id, with their running tally.
pub const PROPOSALS: Map<u64, Proposal> = Map::new("proposals");
/// Ballots: (proposal, voter) → ballot.
pub const VOTES: Map<(u64, &str), Ballot> = Map::new("votes");
/// (proposal, delegator) → the delegate whose ballot carries its power.
pub const COUNTED_VIA: Map<(u64, &str), String> = Map::new("counted_via");
/// Delegator → delegate.
pub const DELEGATIONS: Map<&str, String> = Map::new("delegations");
/// Index of delegations: (delegate, delegator).
pub const DELEGATORS: Map<(&str, &str), ()> = Map::new("delegators");
/// Index of own yes ballots: (voter, proposal).
pub const YES_VOTES: Map<(&str, u64), ()> = Map::new("yes_votes");
