//! The vesting module's state: what is stored under which key.
//!
//! This file owns the storage layout. It does not own the rules that change
//! it (`contract.rs`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config |
//! | `next_id` | `Item<u64>` | id of the next grant |
//! | `grants` | `Map<u64, Grant>` | every grant, cancelled ones too |
//! | `by_member` | `Map<(&str, u64), ()>` | index: member, grant id |

use polypact_sdk::{Item, Map};

use crate::msg::{Config, Grant};

/// The validated config.
pub const CONFIG: Item<Config> = Item::new("config");
/// The id of the next grant.
pub const NEXT_ID: Item<u64> = Item::new("next_id");
/// Every grant by id, cancelled ones too.
pub const GRANTS: Map<u64, Grant> = Map::new("grants");
/// Index of grants: (member, grant id).
pub const BY_MEMBER: Map<(&str, u64), ()> = Map::new("by_member");
