//! The exit module's state: what is stored under which key.
//!
//! This file owns the storage layout and [`Installed`], the one record no
//! answer carries. It does not own the rules that change the state
//! (`contract.rs`, `buyout.rs`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config |
//! | `installed` | `Item<Installed>` | height and time of `init` (founders' lock-up start) |
//! | `notices` | `Map<&str, u64>` | member → time its notice was given |
//! | `lockups` | `Map<&str, u64>` | member → lock-up end set by governance |
//! | `bad_leavers` | `Map<&str, String>` | member → governance's reason |
//! | `departures` | `Map<&str, Departure>` | members who left through this module |
//! | `pending_departures` | `Map<&str, Departure>` | leavers whose units are still on offer |
//! | `offers` | `Map<&str, Offer>` | open buyout offers, by seller |
//! | `allotments` | `Map<(&str, &str), u64>` | seller, member → first-refusal units left |
//! | `payables` | `Map<(&str, (&str, &str)), u128>` | debtor, (creditor, asset) → amount owed |
//! | `receivables` | `Map<(&str, (&str, &str)), u128>` | creditor, (debtor, asset) → the same, indexed by creditor |
//! | `dissolution` | `Item<Dissolution>` | set when this module dissolved the partnership |

use polypact_sdk::{Item, Map};
use serde::{Deserialize, Serialize};

use crate::msg::{Config, Departure, Dissolution, Offer};

/// The validated config.
pub const CONFIG: Item<Config> = Item::new("config");
/// Height and time of `init`.
pub const INSTALLED: Item<Installed> = Item::new("installed");
/// Member → time its notice was given.
pub const NOTICES: Map<&str, u64> = Map::new("notices");
/// Member → lock-up end set by governance.
pub const LOCKUPS: Map<&str, u64> = Map::new("lockups");
/// Member → governance's bad-leaver reason.
pub const BAD_LEAVERS: Map<&str, String> = Map::new("bad_leavers");
/// Members who left through this module.
pub const DEPARTURES: Map<&str, Departure> = Map::new("departures");
/// Leavers whose units are still on offer.
pub const PENDING_DEPARTURES: Map<&str, Departure> = Map::new("pending_departures");
/// Open buyout offers, by seller.
pub const OFFERS: Map<&str, Offer> = Map::new("offers");
/// (seller, member) → first-refusal units left.
pub const ALLOTMENTS: Map<(&str, &str), u64> = Map::new("allotments");
/// (debtor, (creditor, asset)) → amount owed.
pub const PAYABLES: Map<(&str, (&str, &str)), u128> = Map::new("payables");
/// (creditor, (debtor, asset)) → the same amount, indexed by creditor.
pub const RECEIVABLES: Map<(&str, (&str, &str)), u128> = Map::new("receivables");
/// Set when this module dissolved the partnership.
pub const DISSOLUTION: Item<Dissolution> = Item::new("dissolution");

/// When this instance was installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Height of `init`.
    pub height: u64,
    /// Time of `init`.
    pub time_ms: u64,
}
