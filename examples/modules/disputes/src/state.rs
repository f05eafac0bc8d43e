//! The disputes module's storage layout: the config, the next id, and the
//! disputes by id. It owns nothing else; `contract.rs` decides what is
//! written.

use polypact_sdk::{Item, Map};

use crate::msg::{Config, Dispute};

/// The config.
pub const CONFIG: Item<Config> = Item::new("config");
/// The id the next dispute gets.
pub const NEXT_ID: Item<u64> = Item::new("next_id");
/// Every dispute, by id.
pub const DISPUTES: Map<u64, Dispute> = Map::new("disputes");
