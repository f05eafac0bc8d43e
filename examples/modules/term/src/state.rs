//! The term module's state: what is stored under which key.
//!
//! This file owns the storage layout and [`TermState`], the running state
//! of the term. It does not own the rules that change it (`contract.rs`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config (without milestones and split rule) |
//! | `term` | `Item<TermState>` | end, renewals, the next review to open, the last applied, the end record |
//! | `split_rule` | `Item<SplitRule>` | how reviews compute the split (absent: reviews do not touch the split) |
//! | `milestones` | `Map<&str, Milestone>` | milestones by id |
//! | `kpis` | `Map<(&str, &str), KpiRecord>` | KPI values by metric, then period |
//! | `reviews` | `Map<u64, Review>` | opened reviews by number |
//! | `review_by_period` | `Map<&str, u64>` | KPI period → the review that used it (freezes corrections) |

use polypact_sdk::{Item, Map};
use serde::{Deserialize, Serialize};

use crate::msg::{Config, Ended, KpiRecord, Milestone, Renewal, Review, SplitRule};

/// The validated config.
pub const CONFIG: Item<Config> = Item::new("config");
/// The term's running state.
pub const TERM: Item<TermState> = Item::new("term");
/// How reviews compute the split, if they do.
pub const SPLIT_RULE: Item<SplitRule> = Item::new("split_rule");
/// Milestones by id.
pub const MILESTONES: Map<&str, Milestone> = Map::new("milestones");
/// KPI values: (metric, period) → record.
pub const KPIS: Map<(&str, &str), KpiRecord> = Map::new("kpis");
/// Opened reviews by number.
pub const REVIEWS: Map<u64, Review> = Map::new("reviews");
/// KPI period → the review that used it.
pub const REVIEW_BY_PERIOD: Map<&str, u64> = Map::new("review_by_period");

/// The term's running state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TermState {
    /// The current end.
    pub end_ms: u64,
    /// Every renewal, oldest first.
    pub renewals: Vec<Renewal>,
    /// The number of the first review not opened yet (reviews count from 1).
    pub next_review: u64,
    /// The number of the last applied review (0: none).
    pub last_applied: u64,
    /// Set when `tick` ended the term.
    pub ended: Option<Ended>,
}
