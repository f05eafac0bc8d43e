//! The treasury module's state: what is stored under which key, and the
//! reads that default what is not stored yet.
//!
//! This file owns the storage layout, the two records only this module
//! reads ([`Counters`], [`Account`]) and the plain reads of a total, an
//! account, a tranche's progress and outstanding capital. It does not own
//! the rules that change the state (`contract.rs`, `distribute.rs`).
//!
//! | name | type | what |
//! |---|---|---|
//! | `config` | `Item<Config>` | validated config |
//! | `split` | `Item<Split>` | the split in force |
//! | `counters` | `Item<Counters>` | next ids of entries, payouts, contributions |
//! | `totals` | `Map<&str, AssetTotals>` | per asset: pool, claims and running totals |
//! | `accounts` | `Map<(&str, &str), Account>` | per (asset, member): earned, paid, pending, capital, recouped |
//! | `entries` | `Map<u64, Entry>` | revenue, costs, capital, spends |
//! | `refs` | `Map<(&str, &str), u64>` | (entry kind, reference) → entry id, for duplicates |
//! | `payouts` | `Map<u64, Payout>` | payouts of claims |
//! | `payout_refs` | `Map<&str, u64>` | payout reference → id |
//! | `contributions` | `Map<u64, Contribution>` | in-kind contributions |
//! | `tranche_paid` | `Map<(u64, &str), Amount>` | per (tranche index, asset), what the tranche has paid |
//! | `used_proposals` | `Map<u64, ()>` | governance proposals that already paid a spend |
//! | `distributions` | `Map<u64, DistributionRecord>` | every move of pool money into claims, for history |
//! | `distribution_count` | `Item<u64>` | next distribution record id (apart from `counters`, so state stored before it reads unchanged) |
//! | `calls` | `Map<u64, CapitalCall>` | capital calls (one per round) for costs above the pool |
//! | `call_count` | `Item<u64>` | next capital call id (apart from `counters`, as above) |

use std::collections::BTreeMap;

use polypact_sdk::{Error, Item, Map, QueryCtx};
use serde::{Deserialize, Serialize};

use crate::msg::{
    Amount, AssetTotals, CapitalCall, Config, Contribution, DistributionRecord, Entry, Payout, Split,
};

/// The validated config.
pub const CONFIG: Item<Config> = Item::new("config");
/// The split in force.
pub const SPLIT: Item<Split> = Item::new("split");
/// Next ids.
pub const COUNTERS: Item<Counters> = Item::new("counters");
/// Per asset: pool, claims and running totals.
pub const TOTALS: Map<&str, AssetTotals> = Map::new("totals");
/// Per (asset, member): the member's account.
pub const ACCOUNTS: Map<(&str, &str), Account> = Map::new("accounts");
/// Ledger entries by id.
pub const ENTRIES: Map<u64, Entry> = Map::new("entries");
/// (entry kind, reference) → entry id, to refuse duplicates.
pub const REFS: Map<(&str, &str), u64> = Map::new("refs");
/// Payouts by id.
pub const PAYOUTS: Map<u64, Payout> = Map::new("payouts");
/// Payout reference → id.
pub const PAYOUT_REFS: Map<&str, u64> = Map::new("payout_refs");
/// In-kind contributions by id.
pub const CONTRIBUTIONS: Map<u64, Contribution> = Map::new("contributions");
/// Per (tranche index, asset): what the tranche has paid.
pub const TRANCHE_PAID: Map<(u64, &str), Amount> = Map::new("tranche_paid");
/// Governance proposals that already paid a spend.
pub const USED_PROPOSALS: Map<u64, ()> = Map::new("used_proposals");
/// Entries (`"entry"`) and payouts (`"payout"`) frozen by a dispute → the dispute.
pub const FROZEN: Map<(&str, u64), u64> = Map::new("frozen");

/// Capital calls by id, one per round.
pub const CALLS: Map<u64, CapitalCall> = Map::new("calls");
/// The next capital call id.
pub const CALL_COUNT: Item<u64> = Item::new("call_count");

/// Next ids.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Next entry id.
    pub entry: u64,
    /// Next payout id.
    pub payout: u64,
    /// Next contribution id.
    pub contribution: u64,
}

/// A member's account in one asset.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Everything distributed to it.
    pub earned: Amount,
    /// Payouts it confirmed.
    pub paid: Amount,
    /// Payouts recorded, awaiting its confirmation.
    pub pending: Amount,
    /// Capital: costs it paid, cash it put in, valued in-kind contributions.
    pub capital: Amount,
    /// The part of its capital a waterfall has paid back.
    pub recouped: Amount,
}

/// Every move of pool money into claims (distributions and fair shares).
pub const DISTRIBUTIONS: Map<u64, DistributionRecord> = Map::new("distributions");
/// The next distribution record id.
pub const DISTRIBUTION_COUNT: Item<u64> = Item::new("distribution_count");

/// An asset's totals (all zero before its first entry).
pub fn totals(ctx: &QueryCtx, asset: &str) -> Result<AssetTotals, Error> {
    Ok(TOTALS.may_load(ctx, asset)?.unwrap_or_default())
}

/// A member's account in an asset (all zero before anything reached it).
pub fn account(ctx: &QueryCtx, asset: &str, member: &str) -> Result<Account, Error> {
    Ok(ACCOUNTS.may_load(ctx, (asset, member))?.unwrap_or_default())
}

/// What tranche `index` of the split in force has paid in `asset`.
pub fn tranche_paid(ctx: &QueryCtx, index: usize, asset: &str) -> Result<Amount, Error> {
    Ok(TRANCHE_PAID.may_load(ctx, (index as u64, asset))?.unwrap_or_default())
}

/// Per member with some, its capital in `asset` not yet recouped.
pub fn outstanding_capital(ctx: &QueryCtx, asset: &str) -> Result<BTreeMap<String, u128>, Error> {
    let mut out = BTreeMap::new();
    for item in ACCOUNTS.prefix(asset).iter(ctx) {
        let (member, acc) = item?;
        let left = acc.capital.0.saturating_sub(acc.recouped.0);
        if left > 0 {
            out.insert(member, left);
        }
    }
    Ok(out)
}
