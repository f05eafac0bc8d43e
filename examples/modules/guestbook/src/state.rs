//! The guestbook's state: what is stored under which key.
//!
//! This file owns the storage layout. It does not own the rules that change
//! it (`contract.rs`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | limits, set by init and migrate |
//! | `next_id` | `Item<u64>` | the id the next entry gets (ids are never reused) |
//! | `count` | `Item<u64>` | how many entries there are now |
//! | `version` | `Item<u32>` | the state layout version, written by init and migrate |
//! | `entries` | `Map<u64, Entry>` | the entries, by id (so in signing order) |
//! | `by_author` | `Map<(&str, u64), ()>` | index: author, then id |

use polypact_sdk::{Item, Map};

use crate::msg::{Config, Entry};

/// The config.
pub const CONFIG: Item<Config> = Item::new("config");
/// The id the next entry gets.
pub const NEXT_ID: Item<u64> = Item::new("next_id");
/// How many entries there are now.
pub const COUNT: Item<u64> = Item::new("count");
/// The state layout version.
pub const VERSION: Item<u32> = Item::new("version");
/// The entries, by id.
pub const ENTRIES: Map<u64, Entry> = Map::new("entries");
/// Index of entries: (author, id).
pub const BY_AUTHOR: Map<(&str, u64), ()> = Map::new("by_author");
