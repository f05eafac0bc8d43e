//! The interface of the standard treasury module: what other modules and
//! clients send it and what it answers, as types.
//!
//! This crate owns the treasury module's wire formats: [`Amount`] (exact
//! minor units and their JSON form, in `amount.rs`), its config
//! ([`InitConfig`], [`Split`]), calls ([`HandleMsg`]), queries
//! ([`QueryMsg`]) and their answers (ledger records such as [`Entry`] and
//! [`Payout`], and the `*Response` types). It does not own the rules (the
//! `treasury` crate beside it, which re-exports these types as its `msg`).
//!
//! A module that pays a leaver's fair share or reads the pool (exit), or
//! sets the split (term), depends on this crate, not on the treasury module
//! itself, and builds its messages from these types:
//!
//! ```
//! use treasury_api::{Amount, BaseSplit, HandleMsg, Split};
//!
//! let fair_share =
//!     HandleMsg::PayoutFairShare { member: "pm1bob".into(), units: Amount(60), total_units: Amount(200) };
//! assert_eq!(
//!     serde_json::to_value(&fair_share).unwrap(),
//!     serde_json::json!({"payout_fair_share": {"member": "pm1bob", "units": 60, "total_units": 200}})
//! );
//! let split = HandleMsg::SetSplit(Split::Waterfall { recoup: true, tranches: vec![], rest: BaseSplit::ProRata {} });
//! assert_eq!(
//!     serde_json::to_value(&split).unwrap(),
//!     serde_json::json!({"set_split": {"waterfall": {"recoup": true, "tranches": [], "rest": {"pro_rata": {}}}}})
//! );
//! ```
//!
//! The JSON forms are in the module's `README.md`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod amount;

pub use amount::Amount;

// ----- config -----

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
    /// How the tranche is shared: its `split`, or its `shares` as a fixed split.
    pub fn base(&self) -> BaseSplit {
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
    /// Its kind as in JSON: `pro_rata`, `fixed`, `capital` or `waterfall`.
    pub fn kind(&self) -> &'static str {
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
    /// The disputes module, which may freeze an entry or payout in dispute,
    /// release it, and reverse an entry by ruling.
    #[serde(default)]
    pub disputes: Option<String>,
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
    /// A share of every distribution that goes to another partnership
    /// first (a program's fee on its projects), paid into its treasury.
    #[serde(default)]
    pub program_fee: Option<ProgramFee>,
    /// What a pool cost the pool cannot cover does: `"refuse"` (default),
    /// `{"capital_call":{…}}` or `{"cap_and_vote":{…}}`.
    #[serde(default)]
    pub overrun: Overrun,
}

/// What happens to a cost paid from the pool that the pool cannot cover.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Overrun {
    /// `"refuse"`: the cost fails (`the EUR pool holds …`); nothing changes.
    #[default]
    Refuse,
    /// `{"capital_call":{"period_ms":…,"on_default":…}}`: the pool pays what
    /// it holds and the rest is called at once from the current members pro
    /// rata by economic units.
    CapitalCall(CallTerms),
    /// `{"cap_and_vote":{"period_ms":…,"on_default":…}}`: the pool pays what
    /// it holds; the rest waits on governance, which approves it (calls are
    /// opened, as with `capital_call`) or declines it (the cost is capped at
    /// what the pool paid).
    CapAndVote(CallTerms),
}

impl Overrun {
    /// Whether costs above the pool are refused (the default).
    pub fn is_refuse(&self) -> bool {
        *self == Overrun::Refuse
    }

    /// The call terms, unless overruns are refused.
    pub fn terms(&self) -> Option<&CallTerms> {
        match self {
            Overrun::Refuse => None,
            Overrun::CapitalCall(terms) | Overrun::CapAndVote(terms) => Some(terms),
        }
    }
}

/// How capital calls run: how long members have to pay, and what a member
/// that misses its call falls under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallTerms {
    /// How long (ms, op time) a call stays open from the op that opened it (> 0).
    pub period_ms: u64,
    /// The charter's default terms for a member that misses its call.
    pub on_default: DefaultTerms,
}

/// What a member that misses a capital call within its period falls under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultTerms {
    /// `{"dilution":{"penalty_bps":5000}}`: the defaulter loses
    /// `floor(units × penalty_bps × unpaid / (10000 × called))` economic
    /// units, moved to the members who paid their calls in full, pro rata
    /// to their economic units (largest remainder, ties by member id).
    Dilution {
        /// 0 to 10000: the share of its units a member loses for missing its whole call.
        penalty_bps: u32,
    },
    /// `{"bad_leaver":{}}`: the exit module removes the defaulter on its
    /// bad-leaver terms (exit `default_exit`), paying what those terms leave it.
    BadLeaver {},
}

/// A program fee: of every distribution, `bps` basis points (rounded
/// down) go to `partnership`'s treasury before the split, as a message
/// between partnerships; the rest is split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramFee {
    /// The partnership paid (`pp1…`), usually the program that spawned this one.
    pub partnership: String,
    /// Basis points of every distribution, 1 to 10000.
    pub bps: u32,
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
    /// Disputes instance.
    #[serde(default)]
    pub disputes: Option<String>,
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
    /// The program fee in force, if any.
    #[serde(default)]
    pub program_fee: Option<ProgramFee>,
    /// What a pool cost the pool cannot cover does.
    #[serde(default, skip_serializing_if = "Overrun::is_refuse")]
    pub overrun: Overrun,
}

// ----- records -----

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
    /// Held in the pool for entries in dispute: not distributed, not spent.
    #[serde(default)]
    pub frozen: Amount,
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
    /// Its name as in JSON: `revenue`, `cost`, `capital` or `spend`.
    pub fn name(self) -> &'static str {
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
    /// Undone by a ruling after it counted (entries).
    Reversed,
    /// A pool cost above the pool, waiting on its capital call (or on the
    /// vote about it); it counts once the call is funded.
    Called,
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
            Status::Reversed => "reversed",
            Status::Called => "called",
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
    /// For a cost above the pool, its capital call; for a member's payment
    /// of a call (a capital entry), the call it pays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<u64>,
}

/// Where a capital call stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallStatus {
    /// Under `cap_and_vote`: the rest of the cost waits on governance.
    AwaitingVote,
    /// Members pay their shares until `due_ms`.
    Open,
    /// Every share paid: the cost counts.
    Funded,
    /// A member missed its share: the default terms applied, and what was
    /// missed was called again from those who paid (`followed_by`).
    Defaulted,
    /// Governance declined the rest: the cost is capped at what the pool paid.
    Declined,
    /// Every member called missed its share: the cost is rejected and the
    /// money paid for it returns to the pool.
    Cancelled,
}

impl core::fmt::Display for CallStatus {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            CallStatus::AwaitingVote => "awaiting_vote",
            CallStatus::Open => "open",
            CallStatus::Funded => "funded",
            CallStatus::Defaulted => "defaulted",
            CallStatus::Declined => "declined",
            CallStatus::Cancelled => "cancelled",
        })
    }
}

/// One member's share of a capital call.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallShare {
    /// What it is called to pay.
    pub called: Amount,
    /// What it paid (payments that count).
    pub paid: Amount,
    /// Payments recorded and awaiting confirmation.
    pub pending: Amount,
}

/// A capital call: one round of calls for the part of a pool cost the pool
/// could not cover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapitalCall {
    /// Id (0, 1, 2…).
    pub id: u64,
    /// The cost entry it funds.
    pub entry: u64,
    /// Asset.
    pub asset: String,
    /// The whole cost.
    pub cost: Amount,
    /// What the cost already had when this round opened: the pool's part
    /// and every earlier round's payments.
    pub carried: Amount,
    /// What this round calls (the cost minus `carried`).
    pub amount: Amount,
    /// Per member, its share (empty while awaiting a vote).
    pub shares: BTreeMap<String, CallShare>,
    /// Where it stands.
    pub status: CallStatus,
    /// Op time it opened (or started waiting on the vote).
    pub opened_ms: u64,
    /// Height it opened.
    pub height: u64,
    /// Shares must be paid by this op time (0 while awaiting a vote).
    pub due_ms: u64,
    /// The round before this one, if this calls what others missed.
    pub follows: Option<u64>,
    /// The round that called what this one's defaulters missed.
    pub followed_by: Option<u64>,
    /// The members that missed their shares, once defaulted.
    pub defaulters: Vec<String>,
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

/// A move of pool money into claims, as recorded (the answer of
/// `distributions`): a `distribute` (one record per asset) or a leaver's
/// fair share.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DistributionRecord {
    /// Id (0, 1, 2…), in the order they happened.
    pub id: u64,
    /// Asset code.
    pub asset: String,
    /// The amount moved from the pool into claims.
    pub amount: Amount,
    /// For a fair share, the leaving member it went to; `None` for a
    /// distribution by the split.
    pub fair_share_of: Option<String>,
    /// Who sent it (a member, or `module:<name>`).
    pub by: String,
    /// Height.
    pub height: u64,
    /// Time (the op's).
    pub time_ms: u64,
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
    /// What a partner cited when it confirmed for a former partner.
    #[serde(default)]
    pub evidence: Option<String>,
}

// ----- messages -----

/// The treasury instance a partnership that is a member of another is paid
/// into: a distribution's share for a member `pp1…` is sent to that
/// partnership's module of this name.
pub const MEMBER_PARTNERSHIP_TREASURY: &str = "treasury";

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
    /// The payee confirms a payout arrived. For a payee that is no longer
    /// a participant (it can sign nothing), another current partner than
    /// the payer confirms, with `evidence` (a bank statement line, say).
    ConfirmPayout {
        /// Payout id.
        id: u64,
        /// What shows the money arrived; required when a partner confirms
        /// for a former partner.
        #[serde(default)]
        evidence: Option<String>,
    },
    /// Another partnership's treasury pays this partnership, a member of
    /// it, its share of a distribution there (sent by that treasury, so it
    /// arrives with that partnership, `pp1…`, as the caller). Recorded as a
    /// revenue entry from that partnership, pending until a current member
    /// confirms the money arrived.
    ReceivePayment {
        /// Asset code (this treasury must keep it).
        asset: String,
        /// Minor units.
        amount: Amount,
        /// The paying treasury's payout reference (1 to 64 bytes).
        reference: String,
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
    /// The disputes module holds a counted entry's amount (or a payout)
    /// while a dispute is about it: not distributed, not confirmed.
    Freeze {
        /// What is frozen.
        subject: Frozen,
        /// The dispute.
        dispute: u64,
    },
    /// The disputes module lets it go again.
    Release {
        /// What is released.
        subject: Frozen,
    },
    /// A ruling (the disputes module) or governance undoes a counted revenue
    /// or capital entry: its amount leaves the pool and the totals.
    ReverseEntry {
        /// Entry id.
        id: u64,
        /// Why.
        reason: String,
    },
    /// A member pays its own share of an open capital call (a capital
    /// entry; it counts as the config's `confirmation` says).
    PayCall {
        /// The call.
        call: u64,
        /// How much; what is left of its share if absent.
        #[serde(default)]
        amount: Option<Amount>,
        /// Bank reference (unique among capital entries).
        reference: String,
        /// Whose share; if given it must be the caller (each member pays its own).
        #[serde(default)]
        member: Option<String>,
    },
    /// A current member (or governance), once a call's period is over,
    /// applies the default terms to every member that missed its share and
    /// calls what they missed from those who paid.
    ApplyDefault {
        /// The call.
        call: u64,
    },
    /// Governance approves the rest of a cost above the pool
    /// (`cap_and_vote`): the calls open.
    ApproveOverrun {
        /// The call awaiting the vote.
        call: u64,
    },
    /// Governance declines the rest of a cost above the pool
    /// (`cap_and_vote`): the cost is capped at what the pool paid.
    DeclineOverrun {
        /// The call awaiting the vote.
        call: u64,
    },
    /// Governance or a split manager replaces the split (tranche progress restarts).
    SetSplit(Split),
    /// Governance ends the program fee: the partnership has outgrown its
    /// program (a decision of its own members, not the program's).
    EndProgramFee {},
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
    /// Distributions and fair shares in id order (oldest first):
    /// a list of [`DistributionRecord`].
    Distributions {
        /// Start after this id.
        #[serde(default)]
        start_after: Option<u64>,
        /// Page size.
        #[serde(default)]
        limit: Option<u32>,
    },
    /// One capital call: [`CapitalCall`].
    CapitalCall {
        /// Id.
        id: u64,
    },
    /// Capital calls in id order: a list of [`CapitalCall`].
    CapitalCalls {
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
    /// The kind of one of this module's messages for the voting module's
    /// decision table (`voting_api::KindQuery`, answered with a
    /// `voting_api::KindResponse`): a `spend` above the asset's limit is the
    /// config's `spend_vote_kind`, a `set_split` is `split_change`.
    ProposalKind {
        /// The message, as a proposal carries it.
        msg: serde_json::Value,
    },
}

/// What a dispute freezes in the treasury.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Frozen {
    /// A counted entry, by id.
    Entry(u64),
    /// A pending payout, by id.
    Payout(u64),
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

/// Answer data of `record_*`, `declare_contribution`, `pay_call`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedResponse {
    /// The new id.
    pub id: u64,
    /// Its status.
    pub status: Status,
    /// The capital call a cost above the pool opened (status `called`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<u64>,
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
