//! Treasury: the standard polypact module that keeps a partnership's money.
//!
//! This crate owns a multi-currency ledger in exact integer minor units
//! (per asset code, no floats), the entries that move it (revenue, costs,
//! cash capital, spends; with optional four-eyes confirmation before they
//! count), each partner's capital account (costs it paid, cash it put in,
//! in-kind contributions once governance valued them), the split (pro rata
//! by membership economic units, fixed basis points, capital-weighted, or
//! a waterfall: recoup, capped tranches, then the rest), distribution of
//! the pool into claims with exact largest-remainder rounding
//! ([`split`]), and payouts of claims confirmed by the payee.
//!
//! It does not own who the members are, their units or roles (it asks the
//! membership module: `members`, `member`, `has_role`), decisions (the
//! governance module, usually `voting`, sends `value_contribution`,
//! `set_split`, `spend` above the limit), or exits (the exit module sends
//! `payout_fair_share` and `distribute_all`). Money itself moves off the
//! ledger; this module records it. The message formats are in `README.md`.
//!
//! State layout:
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

use std::collections::BTreeMap;

use polypact_sdk::{Ctx, Event, Item, Json, Map, QueryCtx, Response, to_json};
use serde::{Deserialize, Serialize};

mod amount;
pub mod split;

pub use amount::Amount;
use split::{SplitError, TrancheInput};

/// Basis points in a whole.
pub const BPS: u32 = 10_000;
/// Most assets a treasury keeps.
pub const MAX_ASSETS: usize = 32;
/// Most tranches of a waterfall.
pub const MAX_TRANCHES: usize = 16;
/// Most members named in one set of shares.
pub const MAX_SHARES: usize = 200;
/// Longest reference (invoice number, bank reference), in bytes.
pub const MAX_REFERENCE_LEN: usize = 128;
/// Longest note, description or reason, in bytes.
pub const MAX_TEXT_LEN: usize = 1024;
/// Largest minor-unit exponent.
pub const MAX_EXPONENT: u8 = 18;
/// Page size of list queries when not set.
pub const DEFAULT_PAGE: u32 = 30;
/// The largest page.
pub const MAX_PAGE: u32 = 100;
/// Page size when reading membership's `members`.
const MEMBERS_PAGE: u32 = 100;

const CONFIG: Item<Config> = Item::new("config");
const SPLIT: Item<Split> = Item::new("split");
const COUNTERS: Item<Counters> = Item::new("counters");
const TOTALS: Map<&str, AssetTotals> = Map::new("totals");
const ACCOUNTS: Map<(&str, &str), Account> = Map::new("accounts");
const ENTRIES: Map<u64, Entry> = Map::new("entries");
const REFS: Map<(&str, &str), u64> = Map::new("refs");
const PAYOUTS: Map<u64, Payout> = Map::new("payouts");
const PAYOUT_REFS: Map<&str, u64> = Map::new("payout_refs");
const CONTRIBUTIONS: Map<u64, Contribution> = Map::new("contributions");
const TRANCHE_PAID: Map<(u64, &str), Amount> = Map::new("tranche_paid");
const USED_PROPOSALS: Map<u64, ()> = Map::new("used_proposals");

// ---------------------------------------------------------------- config

/// An asset in the init config: `"EUR"` (exponent 2) or `{"code":"JPY","exponent":0}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AssetSpec {
    /// Just the code; exponent 2.
    Code(String),
    /// Code and minor-unit exponent (display only: 2 means 150 is 1.50).
    Full {
        /// Asset code, 1 to 12 of `A-Z`, `0-9`.
        code: String,
        /// Minor-unit exponent, 0 to 18; 2 if absent.
        exponent: u8,
    },
}

fn default_exponent() -> u8 {
    2
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FullAsset {
    code: String,
    #[serde(default = "default_exponent")]
    exponent: u8,
}

impl<'de> Deserialize<'de> for AssetSpec {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> core::result::Result<Self, D::Error> {
        struct AssetVisitor;
        impl<'de> serde::de::Visitor<'de> for AssetVisitor {
            type Value = AssetSpec;

            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(r#"an asset: "EUR" or {"code":"EUR","exponent":2}"#)
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> core::result::Result<AssetSpec, E> {
                Ok(AssetSpec::Code(v.to_owned()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> core::result::Result<AssetSpec, A::Error> {
                let full = FullAsset::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(AssetSpec::Full { code: full.code, exponent: full.exponent })
            }
        }
        deserializer.deserialize_any(AssetVisitor)
    }
}

/// Who must confirm revenue, costs and capital before they count.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confirmation {
    /// `"none"`: entries count when recorded.
    #[default]
    None,
    /// `"other_member"`: any current member other than the recorder.
    OtherMember,
    /// `{"role":"auditor"}`: a current member with this membership role, not the recorder.
    Role(String),
}

/// Shares in basis points per member; they sum to 10000.
pub type Shares = BTreeMap<String, u32>;

/// The split after a waterfall's recoup and tranches (or a whole split's base).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseSplit {
    /// `{"pro_rata":{}}`: by membership `economic_units` (current and former members).
    ProRata {},
    /// `{"fixed":{"shares":{"pm1…":6000,"pm1…":4000}}}`: basis points summing to 10000.
    Fixed {
        /// Basis points per member.
        shares: Shares,
    },
    /// `{"capital":{}}`: by each member's capital account in the asset.
    Capital {},
}

/// One capped tranche of a waterfall.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tranche {
    /// The most this tranche pays in total, per asset (an asset not named: 0, skipped).
    pub cap: BTreeMap<String, Amount>,
    /// How the tranche is shared: basis points summing to 10000 (one member
    /// at 10000 for "first N to X"). Give either `shares` or `split`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shares: Shares,
    /// Or a base split (`pro_rata`, `capital`, `fixed`) for the tranche.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<BaseSplit>,
}

impl Tranche {
    fn base(&self) -> BaseSplit {
        match &self.split {
            Some(base) => base.clone(),
            None => BaseSplit::Fixed { shares: self.shares.clone() },
        }
    }
}

fn default_rest() -> BaseSplit {
    BaseSplit::ProRata {}
}

/// How distributed money is split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// By membership `economic_units`.
    ProRata {},
    /// Fixed basis points.
    Fixed {
        /// Basis points per member, summing to 10000.
        shares: Shares,
    },
    /// By capital accounts in the asset.
    Capital {},
    /// Recoup, then capped tranches in order, then `rest`.
    Waterfall {
        /// First pay back each member's outstanding capital (costs paid,
        /// cash put in, valued in-kind contributions) in the asset.
        #[serde(default)]
        recoup: bool,
        /// Capped tranches, in order; their caps count over all distributions.
        #[serde(default)]
        tranches: Vec<Tranche>,
        /// What is left; `pro_rata` if absent.
        #[serde(default = "default_rest")]
        rest: BaseSplit,
    },
}

impl Split {
    fn kind(&self) -> &'static str {
        match self {
            Split::ProRata {} => "pro_rata",
            Split::Fixed { .. } => "fixed",
            Split::Capital {} => "capital",
            Split::Waterfall { .. } => "waterfall",
        }
    }
}

/// The init config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitConfig {
    /// The membership module's instance name.
    pub membership: String,
    /// The governance module's instance name.
    pub governance: String,
    /// The exit module's instance name (may send `payout_fair_share`, `distribute_all`).
    #[serde(default)]
    pub exit_module: Option<String>,
    /// Module instances that may send `set_split`.
    #[serde(default)]
    pub split_managers: Vec<String>,
    /// The assets kept.
    pub assets: Vec<AssetSpec>,
    /// The membership role that may spend up to the limit; `treasurer` if absent.
    #[serde(default)]
    pub treasurer_role: Option<String>,
    /// Who confirms entries before they count.
    #[serde(default)]
    pub confirmation: Confirmation,
    /// Per asset, the largest spend a treasurer may make alone; above it only
    /// governance. An asset not named: every spend needs governance.
    #[serde(default)]
    pub spend_vote_above: BTreeMap<String, Amount>,
    /// If set, a spend above the limit must name an executed governance
    /// proposal of this kind that carries exactly this spend.
    #[serde(default)]
    pub spend_vote_kind: Option<String>,
    /// The split in force at the start.
    pub split: Split,
}

/// The stored, validated config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// Membership instance.
    pub membership: String,
    /// Governance instance.
    pub governance: String,
    /// Exit instance.
    pub exit_module: Option<String>,
    /// Split managers.
    pub split_managers: Vec<String>,
    /// Asset code → minor-unit exponent.
    pub assets: BTreeMap<String, u8>,
    /// Treasurer role.
    pub treasurer_role: String,
    /// Confirmation rule.
    pub confirmation: Confirmation,
    /// Spend limits per asset.
    pub spend_vote_above: BTreeMap<String, Amount>,
    /// Required proposal kind for spends above the limit.
    pub spend_vote_kind: Option<String>,
}

// ---------------------------------------------------------------- state

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

/// Per asset: the pool and running totals (counted entries only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssetTotals {
    /// Undistributed money held for the partnership.
    pub pool: Amount,
    /// Distributed but not yet paid out (owed + pending payouts), over all members.
    pub claims: Amount,
    /// Counted revenue.
    pub revenue: Amount,
    /// Counted costs paid from the pool.
    pub costs: Amount,
    /// Counted costs paid by members (added to their capital, not to the pool).
    pub member_costs: Amount,
    /// Counted cash capital put into the pool.
    pub capital_cash: Amount,
    /// Valued in-kind contributions (capital only; no cash).
    pub in_kind: Amount,
    /// Spent from the pool.
    pub spent: Amount,
    /// Moved from the pool into claims (distributions and fair shares).
    pub distributed: Amount,
    /// Confirmed payouts of claims.
    pub paid_out: Amount,
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

/// Kinds of ledger entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// Money in.
    Revenue,
    /// Money out for the venture, from the pool or a member's pocket.
    Cost,
    /// Cash a member put into the pool as capital.
    Capital,
    /// Money out by a treasurer or governance.
    Spend,
}

impl EntryKind {
    fn name(self) -> &'static str {
        match self {
            EntryKind::Revenue => "revenue",
            EntryKind::Cost => "cost",
            EntryKind::Capital => "capital",
            EntryKind::Spend => "spend",
        }
    }
}

/// Who paid a cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaidFrom {
    /// `"pool"`: the partnership's money.
    #[default]
    Pool,
    /// `"member"`: the recording member paid it; it becomes its recoupable capital.
    Member,
}

/// Where an entry, payout or contribution stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Recorded, not counted yet.
    Pending,
    /// Counts (entries).
    Counted,
    /// Refused or withdrawn; never counts.
    Rejected,
    /// Valued by governance (contributions).
    Valued,
    /// Confirmed by the payee (payouts).
    Confirmed,
    /// Cancelled before confirmation (payouts).
    Cancelled,
}

impl core::fmt::Display for Status {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Status::Pending => "pending",
            Status::Counted => "counted",
            Status::Rejected => "rejected",
            Status::Valued => "valued",
            Status::Confirmed => "confirmed",
            Status::Cancelled => "cancelled",
        })
    }
}

/// A ledger entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Id (0, 1, 2…).
    pub id: u64,
    /// Kind.
    pub kind: EntryKind,
    /// Asset code.
    pub asset: String,
    /// Amount in minor units.
    pub amount: Amount,
    /// Invoice number, contract or bank reference; unique per kind.
    pub reference: String,
    /// Client, vendor or payee.
    pub counterparty: String,
    /// Free text.
    pub note: String,
    /// Who recorded it (a member, or `module:<name>`).
    pub recorded_by: String,
    /// For costs: who paid.
    pub paid_from: Option<PaidFrom>,
    /// For spends by governance: the proposal.
    pub proposal: Option<u64>,
    /// Pending, counted or rejected.
    pub status: Status,
    /// Who confirmed or rejected it.
    pub decided_by: Option<String>,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// Height recorded.
    pub height: u64,
    /// Time recorded.
    pub time_ms: u64,
}

/// An in-kind contribution (IP, staff time, infrastructure).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contribution {
    /// Id.
    pub id: u64,
    /// The contributing member.
    pub member: String,
    /// Asset its value is stated in.
    pub asset: String,
    /// The value the member declared.
    pub declared: Amount,
    /// The value governance gave it (counts in capital).
    pub value: Option<Amount>,
    /// What it is.
    pub description: String,
    /// `ip`, `staff_time`, `infrastructure`… (free text).
    pub category: String,
    /// Pending, valued or rejected.
    pub status: Status,
    /// Why it was rejected.
    pub reason: Option<String>,
    /// Height declared.
    pub height: u64,
}

/// A payout of a claim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payout {
    /// Id.
    pub id: u64,
    /// The payee.
    pub member: String,
    /// Asset.
    pub asset: String,
    /// Amount.
    pub amount: Amount,
    /// Bank reference; unique.
    pub reference: String,
    /// Who recorded it (the payer).
    pub payer: String,
    /// Pending, confirmed or cancelled.
    pub status: Status,
    /// Who confirmed or cancelled.
    pub decided_by: Option<String>,
    /// Why it was cancelled.
    pub reason: Option<String>,
    /// Height recorded.
    pub height: u64,
}

// ---------------------------------------------------------------- messages

/// Calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleMsg {
    /// A member records revenue received by the partnership.
    RecordRevenue {
        /// Asset code.
        asset: String,
        /// Minor units.
        amount: Amount,
        /// Invoice number (unique among revenue entries).
        reference: String,
        /// The client.
        #[serde(default)]
        counterparty: String,
        /// Free text.
        #[serde(default)]
        note: String,
    },
    /// A member records a cost, paid from the pool or by itself.
    RecordCost {
        /// Asset code.
        asset: String,
        /// Minor units.
        amount: Amount,
        /// Invoice number (unique among costs).
        reference: String,
        /// The vendor.
        #[serde(default)]
        counterparty: String,
        /// Free text.
        #[serde(default)]
        note: String,
        /// `pool` (default) or `member` (the recorder paid: recoupable capital).
        #[serde(default)]
        paid_from: PaidFrom,
    },
    /// A member records cash it put into the pool as capital.
    ContributeCapital {
        /// Asset code.
        asset: String,
        /// Minor units.
        amount: Amount,
        /// Bank reference (unique among capital entries).
        reference: String,
        /// Free text.
        #[serde(default)]
        note: String,
    },
    /// Confirms a pending entry, which then counts.
    ConfirmEntry {
        /// Entry id.
        id: u64,
    },
    /// Rejects a pending entry (a confirmer), or withdraws it (its recorder).
    RejectEntry {
        /// Entry id.
        id: u64,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// A member declares an in-kind contribution; it counts once governance values it.
    DeclareContribution {
        /// Asset the value is stated in.
        asset: String,
        /// Declared value in minor units.
        value: Amount,
        /// What it is.
        description: String,
        /// `ip`, `staff_time`, `infrastructure`…
        #[serde(default)]
        category: String,
    },
    /// Governance values a contribution (at `value`, or as declared).
    ValueContribution {
        /// Contribution id.
        id: u64,
        /// The value; the declared one if absent.
        #[serde(default)]
        value: Option<Amount>,
    },
    /// Governance rejects a contribution.
    RejectContribution {
        /// Contribution id.
        id: u64,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Moves the pool (of one asset, or all) into claims by the split.
    Distribute {
        /// One asset; every asset if absent.
        #[serde(default)]
        asset: Option<String>,
        /// Only this much of that asset's pool (needs `asset`); all of it if absent.
        #[serde(default)]
        amount: Option<Amount>,
    },
    /// Exit module or governance: distributes every asset's whole pool.
    DistributeAll {},
    /// Exit module only: moves `floor(pool * units / total_units)` of every asset into `member`'s claim.
    PayoutFairShare {
        /// The leaving member.
        member: String,
        /// Its units.
        units: Amount,
        /// All units.
        total_units: Amount,
    },
    /// The payer records a payout of a member's claim; the payee confirms it.
    RecordPayout {
        /// The payee.
        member: String,
        /// Asset code.
        asset: String,
        /// Minor units.
        amount: Amount,
        /// Bank reference (unique among payouts).
        reference: String,
    },
    /// The payee confirms a payout arrived.
    ConfirmPayout {
        /// Payout id.
        id: u64,
    },
    /// The payer or payee cancels a pending payout.
    CancelPayout {
        /// Payout id.
        id: u64,
        /// Why.
        #[serde(default)]
        reason: String,
    },
    /// Spends from the pool: up to the limit a treasurer; above it only governance.
    Spend {
        /// Asset code.
        asset: String,
        /// Minor units.
        amount: Amount,
        /// The recipient.
        to: String,
        /// Reference (unique among spends).
        reference: String,
        /// The governance proposal carrying this spend (needed above the
        /// limit when the config sets `spend_vote_kind`).
        #[serde(default)]
        proposal: Option<u64>,
    },
    /// Governance or a split manager replaces the split (tranche progress restarts).
    SetSplit(Split),
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryMsg {
    /// The config.
    Config {},
    /// Pool and claims per asset, with running totals.
    Balances {},
    /// A member's account per asset.
    Statement {
        /// The member.
        member: String,
    },
    /// The split in force.
    Split {},
    /// Waterfall progress: what each tranche has paid, capital outstanding.
    Waterfall {},
    /// What distributing `amount` (the whole pool if absent) of `asset` would pay now.
    Preview {
        /// Asset code.
        asset: String,
        /// Minor units.
        #[serde(default)]
        amount: Option<Amount>,
    },
    /// One entry.
    Entry {
        /// Id.
        id: u64,
    },
    /// Entries in id order.
    Entries {
        /// Start after this id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// One payout.
    Payout {
        /// Id.
        id: u64,
    },
    /// Payouts in id order.
    Payouts {
        /// Start after this id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// One contribution.
    Contribution {
        /// Id.
        id: u64,
    },
    /// Contributions in id order.
    Contributions {
        /// Start after this id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
}

/// Answer of `balances`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalancesResponse {
    /// Undistributed pool per asset.
    pub pool: BTreeMap<String, Amount>,
    /// Distributed, not yet paid out, per asset.
    pub claims_total: BTreeMap<String, Amount>,
    /// Running totals per asset.
    pub totals: BTreeMap<String, AssetTotals>,
}

/// One asset of a `statement`: `earned = paid + pending + owed`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementRow {
    /// Everything distributed to the member.
    pub earned: Amount,
    /// Confirmed payouts.
    pub paid: Amount,
    /// Payouts awaiting the member's confirmation.
    pub pending: Amount,
    /// Still owed and not yet being paid.
    pub owed: Amount,
    /// Capital account.
    pub capital: Amount,
    /// Capital paid back by a waterfall.
    pub recouped: Amount,
    /// Capital still to recoup.
    pub recoupable: Amount,
}

/// Answer of `statement`: asset → row (every configured asset).
pub type StatementResponse = BTreeMap<String, StatementRow>;

/// A tranche with its progress, in `waterfall`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrancheProgress {
    /// Cap per asset.
    pub cap: BTreeMap<String, Amount>,
    /// Paid so far per asset.
    pub paid: BTreeMap<String, Amount>,
    /// Shares (if the tranche has them).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub shares: Shares,
    /// Base split (if the tranche has one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<BaseSplit>,
}

/// Answer of `waterfall`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaterfallResponse {
    /// Whether the split recoups capital first.
    pub recoup: bool,
    /// Capital still to recoup per asset, over all members.
    pub recoupable: BTreeMap<String, Amount>,
    /// Tranches with progress (empty unless the split is a waterfall).
    pub tranches: Vec<TrancheProgress>,
}

/// Answer of `preview`, and per asset the data of `distribute`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionView {
    /// Asset.
    pub asset: String,
    /// Amount distributed.
    pub amount: Amount,
    /// Per member, everything it gets.
    pub shares: BTreeMap<String, Amount>,
    /// Per member, the part that recoups capital.
    pub recouped: BTreeMap<String, Amount>,
    /// Per tranche, what it took.
    pub tranches: Vec<Amount>,
    /// What went to the rest split.
    pub rest: Amount,
}

/// Answer data of `record_*`, `declare_contribution`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// The new id.
    pub id: u64,
    /// Its status.
    pub status: Status,
}

/// Answer data of `payout_fair_share`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FairShareResponse {
    /// Per asset, what moved into the member's claim.
    pub paid: BTreeMap<String, Amount>,
}

/// Answer data of `distribute` and `distribute_all`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributeResponse {
    /// Per asset distributed (assets with an empty pool are left out).
    pub distributed: BTreeMap<String, DistributionView>,
}

// ---------------------------------------------------------------- errors

/// Why a treasury call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TreasuryError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid treasury config: {0}")]
    Config(String),
    /// A bad split.
    #[error("invalid split: {0}")]
    BadSplit(String),
    /// An asset the config does not list.
    #[error("unknown asset {asset:?}; this treasury keeps {known}")]
    UnknownAsset {
        /// The code given.
        asset: String,
        /// The configured codes.
        known: String,
    },
    /// A zero amount where one is needed.
    #[error("{what} must be above 0")]
    Zero {
        /// What was zero.
        what: &'static str,
    },
    /// A bad text field.
    #[error("{0}")]
    BadText(String),
    /// Arithmetic would overflow.
    #[error("{0} would overflow u128; nothing was changed")]
    Overflow(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// A reference used before.
    #[error(
        "a {kind} with reference {reference:?} already exists (id {id}); use a distinct reference, e.g. per instalment"
    )]
    DuplicateReference {
        /// Entry kind or `payout`.
        kind: &'static str,
        /// The reference.
        reference: String,
        /// The existing id.
        id: u64,
    },
    /// No such entry, payout or contribution.
    #[error("there is no {what} {id}")]
    NotFound {
        /// `entry`, `payout`, `contribution`.
        what: &'static str,
        /// The id.
        id: u64,
    },
    /// It is not pending any more.
    #[error("{what} {id} is already {status}, not pending")]
    NotPending {
        /// `entry`, `payout`, `contribution`.
        what: &'static str,
        /// The id.
        id: u64,
        /// Its status.
        status: Status,
    },
    /// The pool cannot cover it.
    #[error("the {asset} pool holds {pool}, less than the {needed} needed for {what}")]
    InsufficientPool {
        /// Asset.
        asset: String,
        /// Pool now.
        pool: Amount,
        /// Needed.
        needed: Amount,
        /// What needed it.
        what: String,
    },
    /// A payout above what is owed.
    #[error("{0}")]
    ExceedsOwed(String),
    /// A spend above the limit not from governance.
    #[error(
        "a spend of {amount} {asset} is above the {limit} a treasurer may spend alone; only the governance module \"{governance}\" may make it: propose it there"
    )]
    SpendNeedsVote {
        /// Amount.
        amount: Amount,
        /// Asset.
        asset: String,
        /// Limit.
        limit: Amount,
        /// Governance instance.
        governance: String,
    },
    /// The governance proposal behind a spend does not check out.
    #[error("spend not authorised by proposal: {0}")]
    BadProposal(String),
    /// Nothing to distribute.
    #[error("the {0} pool is empty; nothing to distribute")]
    EmptyPool(String),
    /// Distribution with no one to pay.
    #[error("cannot distribute {amount} {asset}: {why}")]
    NoOneToPay {
        /// Asset.
        asset: String,
        /// Amount.
        amount: Amount,
        /// Why.
        why: String,
    },
}

type Result<T> = core::result::Result<T, TreasuryError>;

fn add(a: Amount, b: Amount, what: &str) -> Result<Amount> {
    a.0.checked_add(b.0).map(Amount).ok_or_else(|| TreasuryError::Overflow(what.into()))
}

fn sub(a: Amount, b: Amount, what: &str) -> Result<Amount> {
    a.0.checked_sub(b.0).map(Amount).ok_or_else(|| TreasuryError::Overflow(format!("{what} (below 0)")))
}

fn nonzero(amount: Amount, what: &'static str) -> Result<()> {
    if amount.0 == 0 { Err(TreasuryError::Zero { what }) } else { Ok(()) }
}

fn check_text(value: &str, field: &str, required: bool, max: usize) -> Result<()> {
    if required && value.trim().is_empty() {
        return Err(TreasuryError::BadText(format!("{field} must not be empty")));
    }
    if value.len() > max {
        return Err(TreasuryError::BadText(format!("{field} is {} bytes; the most is {max}", value.len())));
    }
    Ok(())
}

fn check_member_id(member: &str, field: &str) -> Result<()> {
    if !member.starts_with("pm1") || member.len() > MAX_REFERENCE_LEN {
        return Err(TreasuryError::BadText(format!("{field} must be a member id (pm1…), got {member:?}")));
    }
    Ok(())
}

fn check_asset(config: &Config, asset: &str) -> Result<()> {
    if config.assets.contains_key(asset) {
        Ok(())
    } else {
        Err(TreasuryError::UnknownAsset {
            asset: asset.into(),
            known: config.assets.keys().cloned().collect::<Vec<_>>().join(", "),
        })
    }
}

fn check_shares(shares: &Shares, what: &str) -> Result<()> {
    if shares.is_empty() || shares.len() > MAX_SHARES {
        return Err(TreasuryError::BadSplit(format!("{what} must name 1 to {MAX_SHARES} members")));
    }
    let mut sum: u64 = 0;
    for (member, bps) in shares {
        check_member_id(member, what).map_err(|e| TreasuryError::BadSplit(e.to_string()))?;
        if *bps == 0 {
            return Err(TreasuryError::BadSplit(format!(
                "{what}: {member} has 0 basis points; leave it out"
            )));
        }
        sum += u64::from(*bps);
    }
    if sum != u64::from(BPS) {
        return Err(TreasuryError::BadSplit(format!("{what} add up to {sum} basis points, not {BPS}")));
    }
    Ok(())
}

fn check_base(base: &BaseSplit, what: &str) -> Result<()> {
    match base {
        BaseSplit::Fixed { shares } => check_shares(shares, what),
        BaseSplit::ProRata {} | BaseSplit::Capital {} => Ok(()),
    }
}

/// Checks a split against the config's assets.
pub fn check_split(config: &Config, split: &Split) -> Result<()> {
    match split {
        Split::ProRata {} | Split::Capital {} => Ok(()),
        Split::Fixed { shares } => check_shares(shares, "fixed shares"),
        Split::Waterfall { tranches, rest, .. } => {
            if tranches.len() > MAX_TRANCHES {
                return Err(TreasuryError::BadSplit(format!("at most {MAX_TRANCHES} tranches")));
            }
            for (i, t) in tranches.iter().enumerate() {
                match &t.split {
                    None => check_shares(&t.shares, &format!("tranche {i} shares"))?,
                    Some(_) if !t.shares.is_empty() => {
                        return Err(TreasuryError::BadSplit(format!(
                            "tranche {i} has both shares and a split; give one"
                        )));
                    }
                    Some(base) => check_base(base, &format!("tranche {i} split shares"))?,
                }
                if t.cap.is_empty() {
                    return Err(TreasuryError::BadSplit(format!(
                        "tranche {i} has no cap; give one per asset"
                    )));
                }
                for (asset, cap) in &t.cap {
                    check_asset(config, asset)?;
                    if cap.0 == 0 {
                        return Err(TreasuryError::BadSplit(format!(
                            "tranche {i} caps {asset} at 0; leave it out"
                        )));
                    }
                }
            }
            check_base(rest, "rest shares")
        }
    }
}

fn check_asset_code(code: &str) -> Result<()> {
    if code.is_empty()
        || code.len() > 12
        || !code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(TreasuryError::Config(format!("asset code {code:?} must be 1 to 12 of A-Z and 0-9")));
    }
    Ok(())
}

fn validate(config: InitConfig) -> Result<(Config, Split)> {
    if config.membership.trim().is_empty() || config.governance.trim().is_empty() {
        return Err(TreasuryError::Config("membership and governance must name module instances".into()));
    }
    if config.assets.is_empty() || config.assets.len() > MAX_ASSETS {
        return Err(TreasuryError::Config(format!("list 1 to {MAX_ASSETS} assets, e.g. [\"EUR\",\"USD\"]")));
    }
    let mut assets = BTreeMap::new();
    for spec in &config.assets {
        let (code, exponent) = match spec {
            AssetSpec::Code(code) => (code.clone(), 2),
            AssetSpec::Full { code, exponent } => (code.clone(), *exponent),
        };
        check_asset_code(&code)?;
        if exponent > MAX_EXPONENT {
            return Err(TreasuryError::Config(format!(
                "{code}: exponent {exponent} is above {MAX_EXPONENT}"
            )));
        }
        if assets.insert(code.clone(), exponent).is_some() {
            return Err(TreasuryError::Config(format!("asset {code} is listed twice")));
        }
    }
    let treasurer_role = config.treasurer_role.unwrap_or_else(|| "treasurer".into());
    if treasurer_role.trim().is_empty() {
        return Err(TreasuryError::Config("treasurer_role must not be empty".into()));
    }
    if let Confirmation::Role(role) = &config.confirmation
        && role.trim().is_empty()
    {
        return Err(TreasuryError::Config("the confirmation role must not be empty".into()));
    }
    if config.spend_vote_kind.as_deref().is_some_and(|k| k.trim().is_empty()) {
        return Err(TreasuryError::Config("spend_vote_kind must not be empty; leave it out instead".into()));
    }
    let stored = Config {
        membership: config.membership,
        governance: config.governance,
        exit_module: config.exit_module,
        split_managers: config.split_managers,
        assets,
        treasurer_role,
        confirmation: config.confirmation,
        spend_vote_above: config.spend_vote_above,
        spend_vote_kind: config.spend_vote_kind,
    };
    for asset in stored.spend_vote_above.keys() {
        check_asset(&stored, asset).map_err(|e| TreasuryError::Config(format!("spend_vote_above: {e}")))?;
    }
    check_split(&stored, &config.split)?;
    Ok((stored, config.split))
}

// ---------------------------------------------------------------- membership

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum MembershipQuery<'a> {
    Member { member: &'a str },
    Members { start_after: Option<&'a str>, limit: u32 },
    HasRole { member: &'a str, role: &'a str },
}

#[derive(Deserialize)]
struct MemberAnswer {
    member: String,
    economic_units: u64,
    active: bool,
}

#[derive(Deserialize)]
struct MembersAnswer {
    members: Vec<MemberAnswer>,
}

#[derive(Deserialize)]
struct HasRoleAnswer {
    has_role: bool,
}

fn is_current_member(ctx: &QueryCtx, config: &Config, member: &str) -> Result<bool> {
    match ctx.query::<MemberAnswer>(&config.membership, &MembershipQuery::Member { member }) {
        Ok(m) => Ok(m.active),
        Err(polypact_sdk::Error::Query { reason, .. }) if reason.ends_with("is not a member") => Ok(false),
        Err(e) => Err(e.into()),
    }
}

fn has_role(ctx: &QueryCtx, config: &Config, member: &str, role: &str) -> Result<bool> {
    let answer: HasRoleAnswer = ctx.query(&config.membership, &MembershipQuery::HasRole { member, role })?;
    Ok(answer.has_role)
}

/// Economic units of every member with some (current and former), in id order.
fn economic_units(ctx: &QueryCtx, config: &Config) -> Result<BTreeMap<String, u128>> {
    let mut out = BTreeMap::new();
    let mut start_after: Option<String> = None;
    loop {
        let page: MembersAnswer = ctx.query(
            &config.membership,
            &MembershipQuery::Members { start_after: start_after.as_deref(), limit: MEMBERS_PAGE },
        )?;
        let full = page.members.len() as u32 >= MEMBERS_PAGE;
        for m in page.members {
            if m.economic_units > 0 {
                out.insert(m.member.clone(), u128::from(m.economic_units));
            }
            start_after = Some(m.member);
        }
        if !full {
            return Ok(out);
        }
    }
}

// ---------------------------------------------------------------- authority

/// The caller, if this is a member's own op (not a module message) and it is a current member.
fn require_member_op(ctx: &Ctx, config: &Config, what: &str) -> Result<String> {
    if let Some(module) = ctx.sender_module() {
        return Err(TreasuryError::NotAllowed(format!(
            "{what} is done by a member's own op, not by module \"{module}\""
        )));
    }
    let caller = ctx.caller().to_owned();
    if !is_current_member(ctx, config, &caller)? {
        return Err(TreasuryError::NotAllowed(format!(
            "only a current member may {what}; {caller} is not one"
        )));
    }
    Ok(caller)
}

fn is_governance(ctx: &Ctx, config: &Config) -> bool {
    ctx.sender_module() == Some(config.governance.as_str())
}

fn is_exit(ctx: &Ctx, config: &Config) -> bool {
    config.exit_module.is_some() && ctx.sender_module() == config.exit_module.as_deref()
}

fn who(ctx: &Ctx) -> String {
    match ctx.sender_module() {
        Some(m) => format!("module:{m}"),
        None => ctx.caller().to_owned(),
    }
}

// ---------------------------------------------------------------- state helpers

fn totals(ctx: &QueryCtx, asset: &str) -> Result<AssetTotals> {
    Ok(TOTALS.may_load(ctx, asset)?.unwrap_or_default())
}

fn account(ctx: &QueryCtx, asset: &str, member: &str) -> Result<Account> {
    Ok(ACCOUNTS.may_load(ctx, (asset, member))?.unwrap_or_default())
}

fn next_id(ctx: &mut Ctx, pick: impl FnOnce(&mut Counters) -> &mut u64) -> Result<u64> {
    let mut counters = COUNTERS.may_load(ctx)?.unwrap_or_default();
    let slot = pick(&mut counters);
    let id = *slot;
    *slot = id.checked_add(1).ok_or_else(|| TreasuryError::Overflow("the id counter".into()))?;
    COUNTERS.save(ctx, &counters)?;
    Ok(id)
}

fn take_from_pool(t: &mut AssetTotals, asset: &str, amount: Amount, what: &str) -> Result<()> {
    if t.pool < amount {
        return Err(TreasuryError::InsufficientPool {
            asset: asset.into(),
            pool: t.pool,
            needed: amount,
            what: what.into(),
        });
    }
    t.pool = sub(t.pool, amount, "the pool")?;
    Ok(())
}

/// Makes a counted entry's effect on the pool, totals and capital.
fn apply_entry(ctx: &mut Ctx, entry: &Entry) -> Result<()> {
    let asset = entry.asset.as_str();
    let mut t = totals(ctx, asset)?;
    let a = entry.amount;
    match entry.kind {
        EntryKind::Revenue => {
            t.pool = add(t.pool, a, "the pool")?;
            t.revenue = add(t.revenue, a, "total revenue")?;
        }
        EntryKind::Cost => match entry.paid_from.unwrap_or_default() {
            PaidFrom::Pool => {
                take_from_pool(&mut t, asset, a, &format!("cost {}", entry.id))?;
                t.costs = add(t.costs, a, "total costs")?;
            }
            PaidFrom::Member => {
                t.member_costs = add(t.member_costs, a, "total member-paid costs")?;
                let mut acc = account(ctx, asset, &entry.recorded_by)?;
                acc.capital = add(acc.capital, a, "the member's capital")?;
                ACCOUNTS.save(ctx, (asset, entry.recorded_by.as_str()), &acc)?;
            }
        },
        EntryKind::Capital => {
            t.pool = add(t.pool, a, "the pool")?;
            t.capital_cash = add(t.capital_cash, a, "total cash capital")?;
            let mut acc = account(ctx, asset, &entry.recorded_by)?;
            acc.capital = add(acc.capital, a, "the member's capital")?;
            ACCOUNTS.save(ctx, (asset, entry.recorded_by.as_str()), &acc)?;
        }
        EntryKind::Spend => {
            take_from_pool(&mut t, asset, a, &format!("spend {}", entry.id))?;
            t.spent = add(t.spent, a, "total spent")?;
        }
    }
    TOTALS.save(ctx, asset, &t)?;
    Ok(())
}

fn entry_event(kind: &str, e: &Entry) -> Event {
    Event::new(kind)
        .attr("id", e.id)
        .attr("kind", e.kind.name())
        .attr("asset", &e.asset)
        .attr("amount", e.amount)
        .attr("reference", &e.reference)
        .attr("recorded_by", &e.recorded_by)
}

// ---------------------------------------------------------------- init

/// `init`: validates and stores the config and the initial split.
pub fn init(ctx: &mut Ctx, config: InitConfig) -> Result<Response> {
    let (config, split) = validate(config)?;
    CONFIG.save(ctx, &config)?;
    SPLIT.save(ctx, &split)?;
    COUNTERS.save(ctx, &Counters::default())?;
    Ok(Response::new().add_event(
        Event::new("treasury_created")
            .attr("assets", config.assets.keys().cloned().collect::<Vec<_>>().join(","))
            .attr("split", split.kind())
            .attr("membership", &config.membership)
            .attr("governance", &config.governance),
    ))
}

// ---------------------------------------------------------------- handle

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    match msg {
        HandleMsg::RecordRevenue { asset, amount, reference, counterparty, note } => {
            let new = NewEntry { kind: EntryKind::Revenue, asset, amount, reference, counterparty, note };
            record_entry(ctx, &config, new, None)
        }
        HandleMsg::RecordCost { asset, amount, reference, counterparty, note, paid_from } => {
            let new = NewEntry { kind: EntryKind::Cost, asset, amount, reference, counterparty, note };
            record_entry(ctx, &config, new, Some(paid_from))
        }
        HandleMsg::ContributeCapital { asset, amount, reference, note } => {
            let new = NewEntry {
                kind: EntryKind::Capital,
                asset,
                amount,
                reference,
                counterparty: String::new(),
                note,
            };
            record_entry(ctx, &config, new, None)
        }
        HandleMsg::ConfirmEntry { id } => confirm_entry(ctx, &config, id),
        HandleMsg::RejectEntry { id, reason } => reject_entry(ctx, &config, id, reason),
        HandleMsg::DeclareContribution { asset, value, description, category } => {
            let member = require_member_op(ctx, &config, "declare a contribution")?;
            check_asset(&config, &asset)?;
            nonzero(value, "the declared value")?;
            check_text(&description, "description", true, MAX_TEXT_LEN)?;
            check_text(&category, "category", false, MAX_REFERENCE_LEN)?;
            let id = next_id(ctx, |c| &mut c.contribution)?;
            let c = Contribution {
                id,
                member,
                asset,
                declared: value,
                value: None,
                description,
                category,
                status: Status::Pending,
                reason: None,
                height: ctx.height(),
            };
            CONTRIBUTIONS.save(ctx, id, &c)?;
            Ok(Response::new()
                .add_event(
                    Event::new("contribution_declared")
                        .attr("id", id)
                        .attr("member", &c.member)
                        .attr("asset", &c.asset)
                        .attr("declared", c.declared)
                        .attr("category", &c.category),
                )
                .set_data(&RecordedResponse { id, status: Status::Pending })?)
        }
        HandleMsg::ValueContribution { id, value } => {
            if !is_governance(ctx, &config) {
                return Err(TreasuryError::NotAllowed(format!(
                    "only the governance module \"{}\" may value a contribution; propose it there",
                    config.governance
                )));
            }
            let mut c = pending_contribution(ctx, id)?;
            let value = value.unwrap_or(c.declared);
            nonzero(value, "the value")?;
            let mut acc = account(ctx, &c.asset, &c.member)?;
            acc.capital = add(acc.capital, value, "the member's capital")?;
            let mut t = totals(ctx, &c.asset)?;
            t.in_kind = add(t.in_kind, value, "total in-kind capital")?;
            ACCOUNTS.save(ctx, (c.asset.as_str(), c.member.as_str()), &acc)?;
            TOTALS.save(ctx, &c.asset, &t)?;
            c.value = Some(value);
            c.status = Status::Valued;
            CONTRIBUTIONS.save(ctx, id, &c)?;
            Ok(Response::new().add_event(
                Event::new("contribution_valued")
                    .attr("id", id)
                    .attr("member", &c.member)
                    .attr("asset", &c.asset)
                    .attr("value", value)
                    .attr("capital", acc.capital),
            ))
        }
        HandleMsg::RejectContribution { id, reason } => {
            if !is_governance(ctx, &config) {
                return Err(TreasuryError::NotAllowed(format!(
                    "only the governance module \"{}\" may reject a contribution",
                    config.governance
                )));
            }
            check_text(&reason, "reason", false, MAX_TEXT_LEN)?;
            let mut c = pending_contribution(ctx, id)?;
            c.status = Status::Rejected;
            c.reason = Some(reason);
            CONTRIBUTIONS.save(ctx, id, &c)?;
            Ok(Response::new()
                .add_event(Event::new("contribution_rejected").attr("id", id).attr("member", &c.member)))
        }
        HandleMsg::Distribute { asset, amount } => {
            if !(is_governance(ctx, &config) || is_exit(ctx, &config)) {
                require_member_op(ctx, &config, "distribute")?;
            }
            match (asset, amount) {
                (None, Some(_)) => Err(TreasuryError::BadText(
                    "an amount needs an asset: {\"distribute\":{\"asset\":\"EUR\",\"amount\":100}}".into(),
                )),
                (None, None) => distribute_all(ctx, &config),
                (Some(asset), amount) => {
                    check_asset(&config, &asset)?;
                    let pool = totals(ctx, &asset)?.pool;
                    if pool.0 == 0 {
                        return Err(TreasuryError::EmptyPool(asset));
                    }
                    let amount = amount.unwrap_or(pool);
                    nonzero(amount, "the amount to distribute")?;
                    if amount > pool {
                        return Err(TreasuryError::InsufficientPool {
                            asset,
                            pool,
                            needed: amount,
                            what: "this distribution".into(),
                        });
                    }
                    let split = SPLIT.load(ctx)?;
                    let view = distribute_one(ctx, &config, &split, &asset, amount)?;
                    let mut data = DistributeResponse::default();
                    let event = distributed_event(&view, &who(ctx));
                    data.distributed.insert(asset, view);
                    Ok(Response::new().add_event(event).set_data(&data)?)
                }
            }
        }
        HandleMsg::DistributeAll {} => {
            if !(is_governance(ctx, &config) || is_exit(ctx, &config)) {
                return Err(TreasuryError::NotAllowed(format!(
                    "only the exit module or the governance module \"{}\" may send distribute_all; members use distribute",
                    config.governance
                )));
            }
            distribute_all(ctx, &config)
        }
        HandleMsg::PayoutFairShare { member, units, total_units } => {
            payout_fair_share(ctx, &config, member, units, total_units)
        }
        HandleMsg::RecordPayout { member, asset, amount, reference } => {
            record_payout(ctx, &config, member, asset, amount, reference)
        }
        HandleMsg::ConfirmPayout { id } => confirm_payout(ctx, &config, id),
        HandleMsg::CancelPayout { id, reason } => cancel_payout(ctx, id, reason),
        HandleMsg::Spend { asset, amount, to, reference, proposal } => {
            let msg = HandleMsg::Spend {
                asset: asset.clone(),
                amount,
                to: to.clone(),
                reference: reference.clone(),
                proposal,
            };
            spend(ctx, &config, &msg, asset, amount, to, reference, proposal)
        }
        HandleMsg::SetSplit(split) => {
            let by_manager =
                ctx.sender_module().is_some_and(|m| config.split_managers.iter().any(|s| s == m));
            if !(is_governance(ctx, &config) || by_manager) {
                return Err(TreasuryError::NotAllowed(format!(
                    "only the governance module \"{}\" or a split manager may set the split; propose it there",
                    config.governance
                )));
            }
            check_split(&config, &split)?;
            let progress: Vec<(u64, String)> =
                TRANCHE_PAID.iter(ctx).map(|r| r.map(|(k, _)| k)).collect::<core::result::Result<_, _>>()?;
            for (i, asset) in progress {
                TRANCHE_PAID.remove(ctx, (i, asset.as_str()));
            }
            SPLIT.save(ctx, &split)?;
            Ok(Response::new()
                .add_event(Event::new("split_set").attr("split", split.kind()).attr("by", who(ctx))))
        }
    }
}

struct NewEntry {
    kind: EntryKind,
    asset: String,
    amount: Amount,
    reference: String,
    counterparty: String,
    note: String,
}

fn record_entry(
    ctx: &mut Ctx,
    config: &Config,
    new: NewEntry,
    paid_from: Option<PaidFrom>,
) -> Result<Response> {
    let recorder = require_member_op(ctx, config, &format!("record {}", new.kind.name()))?;
    check_asset(config, &new.asset)?;
    nonzero(new.amount, "the amount")?;
    check_text(&new.reference, "reference", true, MAX_REFERENCE_LEN)?;
    check_text(&new.counterparty, "counterparty", false, MAX_REFERENCE_LEN)?;
    check_text(&new.note, "note", false, MAX_TEXT_LEN)?;
    if let Some(id) = REFS.may_load(ctx, (new.kind.name(), new.reference.as_str()))? {
        return Err(TreasuryError::DuplicateReference {
            kind: new.kind.name(),
            reference: new.reference,
            id,
        });
    }
    let id = next_id(ctx, |c| &mut c.entry)?;
    let counted = config.confirmation == Confirmation::None;
    let mut entry = Entry {
        id,
        kind: new.kind,
        asset: new.asset,
        amount: new.amount,
        reference: new.reference,
        counterparty: new.counterparty,
        note: new.note,
        recorded_by: recorder,
        paid_from,
        proposal: None,
        status: Status::Pending,
        decided_by: None,
        reason: None,
        height: ctx.height(),
        time_ms: ctx.time_ms(),
    };
    if counted {
        apply_entry(ctx, &entry)?;
        entry.status = Status::Counted;
    }
    REFS.save(ctx, (entry.kind.name(), entry.reference.as_str()), &id)?;
    ENTRIES.save(ctx, id, &entry)?;
    Ok(Response::new()
        .add_event(
            entry_event("entry_recorded", &entry).attr("status", if counted { "counted" } else { "pending" }),
        )
        .set_data(&RecordedResponse { id, status: entry.status })?)
}

fn pending_entry(ctx: &QueryCtx, id: u64) -> Result<Entry> {
    let e = ENTRIES.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "entry", id })?;
    if e.status != Status::Pending {
        return Err(TreasuryError::NotPending { what: "entry", id, status: e.status });
    }
    Ok(e)
}

fn pending_contribution(ctx: &QueryCtx, id: u64) -> Result<Contribution> {
    let c = CONTRIBUTIONS.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "contribution", id })?;
    if c.status != Status::Pending {
        return Err(TreasuryError::NotPending { what: "contribution", id, status: c.status });
    }
    Ok(c)
}

/// Whether `caller` may confirm or reject others' entries under the config.
fn require_confirmer(ctx: &Ctx, config: &Config, entry: &Entry, what: &str) -> Result<String> {
    let caller = require_member_op(ctx, config, what)?;
    if caller == entry.recorded_by {
        return Err(TreasuryError::NotAllowed(format!(
            "{caller} recorded entry {} and may not {what} it; another member must",
            entry.id
        )));
    }
    match &config.confirmation {
        Confirmation::None | Confirmation::OtherMember => Ok(caller),
        Confirmation::Role(role) => {
            if has_role(ctx, config, &caller, role)? {
                Ok(caller)
            } else {
                Err(TreasuryError::NotAllowed(format!("only a member with role {role:?} may {what} entries")))
            }
        }
    }
}

fn confirm_entry(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let mut entry = pending_entry(ctx, id)?;
    let by = require_confirmer(ctx, config, &entry, "confirm")?;
    apply_entry(ctx, &entry)?;
    entry.status = Status::Counted;
    entry.decided_by = Some(by.clone());
    ENTRIES.save(ctx, id, &entry)?;
    Ok(Response::new().add_event(entry_event("entry_confirmed", &entry).attr("by", by)))
}

fn reject_entry(ctx: &mut Ctx, config: &Config, id: u64, reason: String) -> Result<Response> {
    check_text(&reason, "reason", false, MAX_TEXT_LEN)?;
    let mut entry = pending_entry(ctx, id)?;
    let by = if ctx.sender_module().is_none() && ctx.caller() == entry.recorded_by {
        entry.recorded_by.clone() // withdrawn by its recorder
    } else {
        require_confirmer(ctx, config, &entry, "reject")?
    };
    REFS.remove(ctx, (entry.kind.name(), entry.reference.as_str()));
    entry.status = Status::Rejected;
    entry.decided_by = Some(by.clone());
    entry.reason = Some(reason);
    ENTRIES.save(ctx, id, &entry)?;
    Ok(Response::new().add_event(entry_event("entry_rejected", &entry).attr("by", by)))
}

// ---------------------------------------------------------------- distribution

/// The weights of a base split in `asset`.
fn base_weights(
    ctx: &QueryCtx,
    config: &Config,
    base: &BaseSplit,
    asset: &str,
) -> Result<BTreeMap<String, u128>> {
    match base {
        BaseSplit::ProRata {} => economic_units(ctx, config),
        BaseSplit::Fixed { shares } => Ok(shares.iter().map(|(m, b)| (m.clone(), u128::from(*b))).collect()),
        BaseSplit::Capital {} => {
            let mut out = BTreeMap::new();
            for item in ACCOUNTS.prefix(asset).iter(ctx) {
                let (member, acc) = item?;
                if acc.capital.0 > 0 {
                    out.insert(member, acc.capital.0);
                }
            }
            Ok(out)
        }
    }
}

fn outstanding_capital(ctx: &QueryCtx, asset: &str) -> Result<BTreeMap<String, u128>> {
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

fn tranche_paid(ctx: &QueryCtx, index: usize, asset: &str) -> Result<Amount> {
    Ok(TRANCHE_PAID.may_load(ctx, (index as u64, asset))?.unwrap_or_default())
}

/// What distributing `amount` of `asset` by `split` pays now (no writes).
pub fn plan(
    ctx: &QueryCtx,
    config: &Config,
    split: &Split,
    asset: &str,
    amount: Amount,
) -> Result<DistributionView> {
    let (recoup, tranches, rest) = match split {
        Split::ProRata {} => (BTreeMap::new(), &[][..], BaseSplit::ProRata {}),
        Split::Capital {} => (BTreeMap::new(), &[][..], BaseSplit::Capital {}),
        Split::Fixed { shares } => (BTreeMap::new(), &[][..], BaseSplit::Fixed { shares: shares.clone() }),
        Split::Waterfall { recoup, tranches, rest } => {
            let recoup = if *recoup { outstanding_capital(ctx, asset)? } else { BTreeMap::new() };
            (recoup, &tranches[..], rest.clone())
        }
    };
    // How much reaches each step: weights are read (pro rata asks membership)
    // only for steps the amount reaches, and a step it reaches must have someone to pay.
    let no_one = |base: &BaseSplit, step: &str| TreasuryError::NoOneToPay {
        asset: asset.into(),
        amount,
        why: match base {
            BaseSplit::ProRata {} => format!("{step} is pro rata and no member holds economic units"),
            BaseSplit::Capital {} => format!("{step} is by capital and no member has capital in {asset}"),
            BaseSplit::Fixed { .. } => format!("{step} has no shares"),
        },
    };
    let mut reached = recoup.values().fold(0u128, |acc, v| acc.saturating_add(*v));
    let mut inputs = Vec::with_capacity(tranches.len());
    for (i, t) in tranches.iter().enumerate() {
        let cap = t.cap.get(asset).copied().unwrap_or_default();
        let remaining = cap.0.saturating_sub(tranche_paid(ctx, i, asset)?.0);
        let base = t.base();
        let weights = if remaining > 0 && amount.0 > reached {
            let w = base_weights(ctx, config, &base, asset)?;
            if w.values().all(|v| *v == 0) {
                return Err(no_one(&base, &format!("tranche {i}")));
            }
            w
        } else {
            BTreeMap::new()
        };
        reached = reached.saturating_add(remaining);
        inputs.push(TrancheInput { remaining, weights });
    }
    let rest_weights =
        if amount.0 > reached { base_weights(ctx, config, &rest, asset)? } else { BTreeMap::new() };
    let allocation = split::allocate(amount.0, &recoup, &inputs, &rest_weights).map_err(|e| match e {
        SplitError::NoWeight { .. } => no_one(&rest, "the rest"),
        SplitError::Overflow => TreasuryError::Overflow("the split's weights".into()),
    })?;
    let amounts = |m: BTreeMap<String, u128>| m.into_iter().map(|(k, v)| (k, Amount(v))).collect();
    Ok(DistributionView {
        asset: asset.into(),
        amount,
        shares: amounts(allocation.total),
        recouped: amounts(allocation.recouped),
        tranches: allocation.tranches.into_iter().map(Amount).collect(),
        rest: Amount(allocation.rest),
    })
}

fn distribute_one(
    ctx: &mut Ctx,
    config: &Config,
    split: &Split,
    asset: &str,
    amount: Amount,
) -> Result<DistributionView> {
    let view = plan(ctx, config, split, asset, amount)?;
    let mut check = Amount::ZERO;
    for (member, share) in &view.shares {
        let mut acc = account(ctx, asset, member)?;
        acc.earned = add(acc.earned, *share, "a member's earnings")?;
        if let Some(r) = view.recouped.get(member) {
            acc.recouped = add(acc.recouped, *r, "a member's recouped capital")?;
        }
        ACCOUNTS.save(ctx, (asset, member.as_str()), &acc)?;
        check = add(check, *share, "the distribution")?;
    }
    if check != amount {
        // The split arithmetic guarantees this; refuse rather than lose a unit.
        return Err(TreasuryError::Overflow(format!("a split of {amount} that paid {check}")));
    }
    for (i, take) in view.tranches.iter().enumerate() {
        if take.0 > 0 {
            let paid = add(tranche_paid(ctx, i, asset)?, *take, "a tranche's progress")?;
            TRANCHE_PAID.save(ctx, (i as u64, asset), &paid)?;
        }
    }
    let mut t = totals(ctx, asset)?;
    take_from_pool(&mut t, asset, amount, "this distribution")?;
    t.claims = add(t.claims, amount, "claims")?;
    t.distributed = add(t.distributed, amount, "total distributed")?;
    TOTALS.save(ctx, asset, &t)?;
    Ok(view)
}

fn distributed_event(view: &DistributionView, by: &str) -> Event {
    let recouped = view.recouped.values().fold(0u128, |a, v| a.saturating_add(v.0));
    Event::new("distributed")
        .attr("asset", &view.asset)
        .attr("amount", view.amount)
        .attr("members", view.shares.len())
        .attr("recouped", recouped)
        .attr("rest", view.rest)
        .attr("by", by)
}

fn distribute_all(ctx: &mut Ctx, config: &Config) -> Result<Response> {
    let split = SPLIT.load(ctx)?;
    let mut data = DistributeResponse::default();
    let mut response = Response::new();
    let by = who(ctx);
    for asset in config.assets.keys() {
        let pool = totals(ctx, asset)?.pool;
        if pool.0 == 0 {
            continue;
        }
        let view = distribute_one(ctx, config, &split, asset, pool)?;
        response = response.add_event(distributed_event(&view, &by));
        data.distributed.insert(asset.clone(), view);
    }
    Ok(response.set_data(&data)?)
}

fn payout_fair_share(
    ctx: &mut Ctx,
    config: &Config,
    member: String,
    units: Amount,
    total_units: Amount,
) -> Result<Response> {
    if !is_exit(ctx, config) {
        return Err(TreasuryError::NotAllowed(match &config.exit_module {
            Some(exit) => format!("only the exit module \"{exit}\" may pay a fair share"),
            None => "this treasury has no exit_module configured, so no one may pay a fair share".into(),
        }));
    }
    check_member_id(&member, "member")?;
    nonzero(total_units, "total_units")?;
    if units > total_units {
        return Err(TreasuryError::BadText(format!("units {units} exceed total_units {total_units}")));
    }
    let mut paid = BTreeMap::new();
    for asset in config.assets.keys() {
        let mut t = totals(ctx, asset)?;
        let (share, _) = split::mul_div(t.pool.0, units.0, total_units.0)
            .ok_or_else(|| TreasuryError::Overflow("a fair share".into()))?;
        let share = Amount(share);
        if share.0 > 0 {
            take_from_pool(&mut t, asset, share, "a fair share")?;
            t.claims = add(t.claims, share, "claims")?;
            t.distributed = add(t.distributed, share, "total distributed")?;
            TOTALS.save(ctx, asset, &t)?;
            let mut acc = account(ctx, asset, &member)?;
            acc.earned = add(acc.earned, share, "the member's earnings")?;
            ACCOUNTS.save(ctx, (asset.as_str(), member.as_str()), &acc)?;
        }
        paid.insert(asset.clone(), share);
    }
    let listed: Vec<String> = paid.iter().map(|(a, v)| format!("{a}:{v}")).collect();
    Ok(Response::new()
        .add_event(
            Event::new("fair_share_paid")
                .attr("member", &member)
                .attr("units", units)
                .attr("total_units", total_units)
                .attr("paid", listed.join(",")),
        )
        .set_data(&FairShareResponse { paid })?)
}

// ---------------------------------------------------------------- payouts

fn record_payout(
    ctx: &mut Ctx,
    config: &Config,
    member: String,
    asset: String,
    amount: Amount,
    reference: String,
) -> Result<Response> {
    let payer = require_member_op(ctx, config, "record a payout")?;
    if payer == member {
        return Err(TreasuryError::NotAllowed(format!(
            "{payer} may not record a payout to itself; the member or treasurer who pays records it, and the payee confirms"
        )));
    }
    check_asset(config, &asset)?;
    nonzero(amount, "the amount")?;
    check_text(&reference, "reference", true, MAX_REFERENCE_LEN)?;
    if let Some(id) = PAYOUT_REFS.may_load(ctx, &reference)? {
        return Err(TreasuryError::DuplicateReference { kind: "payout", reference, id });
    }
    let mut acc = account(ctx, &asset, &member)?;
    let owed = sub(sub(acc.earned, acc.paid, "owed")?, acc.pending, "owed")?;
    if amount > owed {
        return Err(TreasuryError::ExceedsOwed(format!(
            "{member} is owed {owed} {asset} not already being paid (earned {}, paid {}, pending {}); a payout of {amount} is more",
            acc.earned, acc.paid, acc.pending
        )));
    }
    acc.pending = add(acc.pending, amount, "pending payouts")?;
    ACCOUNTS.save(ctx, (asset.as_str(), member.as_str()), &acc)?;
    let id = next_id(ctx, |c| &mut c.payout)?;
    let p = Payout {
        id,
        member,
        asset,
        amount,
        reference,
        payer,
        status: Status::Pending,
        decided_by: None,
        reason: None,
        height: ctx.height(),
    };
    PAYOUT_REFS.save(ctx, &p.reference, &id)?;
    PAYOUTS.save(ctx, id, &p)?;
    Ok(Response::new()
        .add_event(payout_event("payout_recorded", &p).attr("payer", &p.payer))
        .set_data(&RecordedResponse { id, status: Status::Pending })?)
}

fn payout_event(kind: &str, p: &Payout) -> Event {
    Event::new(kind)
        .attr("id", p.id)
        .attr("member", &p.member)
        .attr("asset", &p.asset)
        .attr("amount", p.amount)
        .attr("reference", &p.reference)
}

fn load_pending_payout(ctx: &QueryCtx, id: u64) -> Result<Payout> {
    let p = PAYOUTS.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "payout", id })?;
    if p.status != Status::Pending {
        return Err(TreasuryError::NotPending { what: "payout", id, status: p.status });
    }
    Ok(p)
}

fn confirm_payout(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let mut p = load_pending_payout(ctx, id)?;
    let by = if ctx.sender_module().is_none() && ctx.caller() == p.member {
        p.member.clone()
    } else if is_governance(ctx, config) && !ctx.is_participant(&p.member)? {
        who(ctx) // the payee has left the partnership and cannot sign any more
    } else {
        return Err(TreasuryError::NotAllowed(format!(
            "only the payee {} confirms payout {id} (governance only once the payee is no longer a participant)",
            p.member
        )));
    };
    let mut acc = account(ctx, &p.asset, &p.member)?;
    acc.pending = sub(acc.pending, p.amount, "pending payouts")?;
    acc.paid = add(acc.paid, p.amount, "paid")?;
    let mut t = totals(ctx, &p.asset)?;
    t.claims = sub(t.claims, p.amount, "claims")?;
    t.paid_out = add(t.paid_out, p.amount, "total paid out")?;
    ACCOUNTS.save(ctx, (p.asset.as_str(), p.member.as_str()), &acc)?;
    TOTALS.save(ctx, &p.asset, &t)?;
    p.status = Status::Confirmed;
    p.decided_by = Some(by.clone());
    PAYOUTS.save(ctx, id, &p)?;
    Ok(Response::new().add_event(payout_event("payout_confirmed", &p).attr("by", by)))
}

fn cancel_payout(ctx: &mut Ctx, id: u64, reason: String) -> Result<Response> {
    check_text(&reason, "reason", false, MAX_TEXT_LEN)?;
    let mut p = load_pending_payout(ctx, id)?;
    let caller = ctx.caller().to_owned();
    if ctx.sender_module().is_some() || (caller != p.payer && caller != p.member) {
        return Err(TreasuryError::NotAllowed(format!(
            "only the payer {} or the payee {} may cancel payout {id}",
            p.payer, p.member
        )));
    }
    let mut acc = account(ctx, &p.asset, &p.member)?;
    acc.pending = sub(acc.pending, p.amount, "pending payouts")?;
    ACCOUNTS.save(ctx, (p.asset.as_str(), p.member.as_str()), &acc)?;
    PAYOUT_REFS.remove(ctx, &p.reference);
    p.status = Status::Cancelled;
    p.decided_by = Some(caller.clone());
    p.reason = Some(reason);
    PAYOUTS.save(ctx, id, &p)?;
    Ok(Response::new().add_event(payout_event("payout_cancelled", &p).attr("by", caller)))
}

// ---------------------------------------------------------------- spending

#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum GovernanceQuery {
    Proposal { id: u64 },
}

#[derive(Deserialize)]
struct ProposalAnswer {
    kind: String,
    status: String,
    #[serde(default)]
    messages: Vec<serde_json::Value>,
}

/// Checks that `proposal` is an executed governance proposal of `kind`
/// carrying exactly `msg` to this module, not used before.
fn check_spend_proposal(
    ctx: &Ctx,
    config: &Config,
    kind: &str,
    msg: &HandleMsg,
    proposal: Option<u64>,
) -> Result<u64> {
    let id = proposal.ok_or_else(|| {
        TreasuryError::BadProposal(format!(
            "a spend above the limit must name its {kind:?} proposal: add \"proposal\": <id> to the spend message"
        ))
    })?;
    if USED_PROPOSALS.has(ctx, id)? {
        return Err(TreasuryError::BadProposal(format!("proposal {id} already authorised a spend")));
    }
    let p: ProposalAnswer = ctx.query(&config.governance, &GovernanceQuery::Proposal { id })?;
    if p.kind != kind {
        return Err(TreasuryError::BadProposal(format!(
            "proposal {id} is of kind {:?}; spends above the limit need kind {kind:?}",
            p.kind
        )));
    }
    if p.status != "executed" {
        return Err(TreasuryError::BadProposal(format!("proposal {id} is {}, not executed", p.status)));
    }
    let carries = p.messages.iter().any(|m| {
        let Some(call) = m.get("call") else { return false };
        call.get("module").and_then(|v| v.as_str()) == Some(ctx.module())
            && call.get("msg").is_some_and(|inner| {
                serde_json::from_value::<HandleMsg>(inner.clone()).ok().as_ref() == Some(msg)
            })
    });
    if !carries {
        return Err(TreasuryError::BadProposal(format!("proposal {id} does not carry this exact spend")));
    }
    Ok(id)
}

#[allow(clippy::too_many_arguments)]
fn spend(
    ctx: &mut Ctx,
    config: &Config,
    msg: &HandleMsg,
    asset: String,
    amount: Amount,
    to: String,
    reference: String,
    proposal: Option<u64>,
) -> Result<Response> {
    check_asset(config, &asset)?;
    nonzero(amount, "the amount")?;
    check_text(&to, "to", true, MAX_REFERENCE_LEN)?;
    check_text(&reference, "reference", true, MAX_REFERENCE_LEN)?;
    let limit = config.spend_vote_above.get(&asset).copied().unwrap_or_default();
    let governance = is_governance(ctx, config);
    let mut used = None;
    if amount > limit {
        if !governance {
            return Err(TreasuryError::SpendNeedsVote {
                amount,
                asset,
                limit,
                governance: config.governance.clone(),
            });
        }
        if let Some(kind) = &config.spend_vote_kind {
            used = Some(check_spend_proposal(ctx, config, kind, msg, proposal)?);
        }
    } else if !governance {
        let caller = require_member_op(ctx, config, "spend")?;
        if !has_role(ctx, config, &caller, &config.treasurer_role)? {
            return Err(TreasuryError::NotAllowed(format!(
                "only a member with role {:?} (or governance) may spend; {caller} does not have it",
                config.treasurer_role
            )));
        }
    }
    if let Some(id) = REFS.may_load(ctx, (EntryKind::Spend.name(), reference.as_str()))? {
        return Err(TreasuryError::DuplicateReference { kind: "spend", reference, id });
    }
    let id = next_id(ctx, |c| &mut c.entry)?;
    let entry = Entry {
        id,
        kind: EntryKind::Spend,
        asset,
        amount,
        reference,
        counterparty: to,
        note: String::new(),
        recorded_by: who(ctx),
        paid_from: None,
        proposal,
        status: Status::Counted,
        decided_by: None,
        reason: None,
        height: ctx.height(),
        time_ms: ctx.time_ms(),
    };
    apply_entry(ctx, &entry)?;
    if let Some(p) = used {
        USED_PROPOSALS.save(ctx, p, &())?;
    }
    REFS.save(ctx, (EntryKind::Spend.name(), entry.reference.as_str()), &id)?;
    ENTRIES.save(ctx, id, &entry)?;
    Ok(Response::new()
        .add_event(entry_event("spent", &entry).attr("to", &entry.counterparty).attr("limit", limit))
        .set_data(&RecordedResponse { id, status: Status::Counted })?)
}

// ---------------------------------------------------------------- query

fn page(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    let answer = match msg {
        QueryMsg::Config {} => to_json(&config)?,
        QueryMsg::Balances {} => {
            let mut out = BalancesResponse::default();
            for asset in config.assets.keys() {
                let t = totals(ctx, asset)?;
                out.pool.insert(asset.clone(), t.pool);
                out.claims_total.insert(asset.clone(), t.claims);
                out.totals.insert(asset.clone(), t);
            }
            to_json(&out)?
        }
        QueryMsg::Statement { member } => {
            let mut out = StatementResponse::new();
            for asset in config.assets.keys() {
                let acc = account(ctx, asset, &member)?;
                let owed = sub(sub(acc.earned, acc.paid, "owed")?, acc.pending, "owed")?;
                out.insert(
                    asset.clone(),
                    StatementRow {
                        earned: acc.earned,
                        paid: acc.paid,
                        pending: acc.pending,
                        owed,
                        capital: acc.capital,
                        recouped: acc.recouped,
                        recoupable: Amount(acc.capital.0.saturating_sub(acc.recouped.0)),
                    },
                );
            }
            to_json(&out)?
        }
        QueryMsg::Split {} => to_json(&SPLIT.load(ctx)?)?,
        QueryMsg::Waterfall {} => {
            let split = SPLIT.load(ctx)?;
            let mut recoupable = BTreeMap::new();
            for asset in config.assets.keys() {
                let sum = outstanding_capital(ctx, asset)?.values().fold(0u128, |a, v| a.saturating_add(*v));
                recoupable.insert(asset.clone(), Amount(sum));
            }
            let (recoup, tranches) = match &split {
                Split::Waterfall { recoup, tranches, .. } => {
                    let mut out = Vec::new();
                    for (i, t) in tranches.iter().enumerate() {
                        let mut paid = BTreeMap::new();
                        for asset in t.cap.keys() {
                            paid.insert(asset.clone(), tranche_paid(ctx, i, asset)?);
                        }
                        out.push(TrancheProgress {
                            cap: t.cap.clone(),
                            paid,
                            shares: t.shares.clone(),
                            split: t.split.clone(),
                        });
                    }
                    (*recoup, out)
                }
                _ => (false, Vec::new()),
            };
            to_json(&WaterfallResponse { recoup, recoupable, tranches })?
        }
        QueryMsg::Preview { asset, amount } => {
            check_asset(&config, &asset)?;
            let pool = totals(ctx, &asset)?.pool;
            let amount = amount.unwrap_or(pool);
            to_json(&plan(ctx, &config, &SPLIT.load(ctx)?, &asset, amount)?)?
        }
        QueryMsg::Entry { id } => {
            to_json(&ENTRIES.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "entry", id })?)?
        }
        QueryMsg::Entries { start_after, limit } => {
            let items: Vec<Entry> =
                ENTRIES.range(ctx, start_after, page(limit))?.into_iter().map(|(_, e)| e).collect();
            to_json(&items)?
        }
        QueryMsg::Payout { id } => {
            to_json(&PAYOUTS.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "payout", id })?)?
        }
        QueryMsg::Payouts { start_after, limit } => {
            let items: Vec<Payout> =
                PAYOUTS.range(ctx, start_after, page(limit))?.into_iter().map(|(_, p)| p).collect();
            to_json(&items)?
        }
        QueryMsg::Contribution { id } => to_json(
            &CONTRIBUTIONS.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "contribution", id })?,
        )?,
        QueryMsg::Contributions { start_after, limit } => {
            let items: Vec<Contribution> =
                CONTRIBUTIONS.range(ctx, start_after, page(limit))?.into_iter().map(|(_, c)| c).collect();
            to_json(&items)?
        }
    };
    Ok(answer)
}

polypact_sdk::export!(init: init, handle: handle, query: query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "exit_module", "split_managers");
