//! The portfolio: one view, for the node's member, across every
//! partnership its node holds (DESIGN, "Between partnerships").
//!
//! [`gather`] reads each partnership through the node's handle and its
//! standard modules' queries and returns a [`Portfolio`]: typed,
//! serde-serialisable, sorted so that the same state always reads the same.
//! The JSON API's `GET /v1/portfolio`, the `polypact portfolio` command (a
//! client of that route, which reads the answer back into these types) and
//! the web console's portfolio page all show what this module computes;
//! none of them computes any of it.
//!
//! For each partnership ([`Holding`]):
//!
//! - its parent and children ([`lineage`]): today no partnership records a
//!   parent, so every `parent` is `None` and every `children` empty; the
//!   one function that reads a parent is [`lineage::parent_of`];
//! - what is owed to and by the member, per asset ([`AssetLine`]): the
//!   treasury's claims (`owed` and payouts waiting for the member's
//!   confirmation, from `statement`), buyout prices the exit module
//!   records between members (`statement`'s `owed` and `owes`), and payouts
//!   the member made that their payee has not confirmed yet;
//! - what waits for the member ([`Waiting`]): proposals open for its vote
//!   (and not yet voted), proposals that passed and wait for execution,
//!   terms to accept, entries and payouts to confirm;
//! - deadlines ([`Deadline`]): votes closing, execution windows, the term's
//!   end, the next KPI review and milestones (term), notice periods and
//!   lock-ups (exit, for the member), buyout offers' first-refusal and
//!   closing dates, vesting cliffs and full vesting (the member's grants),
//!   dispute negotiation and appeal windows. The standard modules have no
//!   capital calls, so there are none to show;
//! - the treasury's counterparties (clients, vendors, payees named in its
//!   entries).
//!
//! Across partnerships: totals per asset ([`AssetTotal`]) and
//! [`overlaps`]: counterparties (other members, and counterparties named in
//! treasury entries) that appear in more than one of the member's live
//! partnerships. No standard module declares exclusivity terms (the term
//! module has none), so there are no conflicting exclusivity terms to
//! report; only counterparty overlaps are.
//!
//! A partnership whose module is missing or whose query fails carries the
//! failure on its row ([`Problem`]) and shows what else it could read; it
//! never hides the other partnerships. Only a node that cannot list its
//! partnerships fails the whole view ([`PortfolioError`]).
//!
//! This module owns the portfolio's computation and its types. It reads
//! through [`NodeHandle`](crate::node::NodeHandle) and decides nothing: no
//! module rule, no state, no call; how figures are written for people is
//! [`crate::format`](mod@crate::format).

mod gather;
pub mod lineage;
pub mod overlaps;
pub(crate) mod read;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::node::NodeError;

pub use gather::gather;
pub use read::ReadError;

/// What [`gather`] reads and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    /// The clock the view is read at (Unix ms): what is open, passed,
    /// overdue or coming is decided against it.
    pub now_ms: u64,
    /// Read every partnership's final state instead of its optimistic one.
    pub final_state: bool,
}

/// Why the portfolio could not be read at all. A single partnership's
/// failure is not one: it is a [`Problem`] on its row.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PortfolioError {
    /// The node could not list its partnerships (it stopped, say).
    #[error("the node could not list its partnerships: {0}")]
    Node(#[from] NodeError),
}

/// An exact amount of an asset's minor units (cents for EUR with exponent
/// 2). In JSON, a string of decimal digits: amounts may exceed what a
/// JavaScript number holds exactly.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u128);

impl Amount {
    /// `self + other`, at most `u128::MAX` (sums of real balances never get there).
    #[must_use]
    pub fn plus(self, other: Amount) -> Amount {
        Amount(self.0.saturating_add(other.0))
    }

    /// Whether it is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(serde::de::Error::custom(format!("{text:?} is not an amount (decimal digits)")));
        }
        text.parse::<u128>().map(Amount).map_err(serde::de::Error::custom)
    }
}

/// The portfolio of the node's member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Portfolio {
    /// The node's member (`pm1…`).
    pub member: String,
    /// The clock it was read at (Unix ms).
    pub now_ms: u64,
    /// Whether it shows final states (else optimistic ones).
    #[serde(rename = "final")]
    pub final_state: bool,
    /// Every partnership the node holds, by name, then id.
    pub partnerships: Vec<Holding>,
    /// What is owed to and by the member over all partnerships, per asset.
    pub totals: Vec<AssetTotal>,
    /// Counterparties found in more than one of the member's live
    /// partnerships.
    pub overlaps: Vec<overlaps::Overlap>,
}

/// One partnership in the portfolio.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Holding {
    /// Its id (64 hex digits).
    pub id: String,
    /// The charter's name.
    pub name: String,
    /// The partnership it was spawned from, if it records one.
    pub parent: Option<String>,
    /// Partnerships on this node spawned from it, sorted.
    pub children: Vec<String>,
    /// `active`, `dissolved`, `halted`, or `unreadable` (the node could not
    /// show it; see `problems`).
    pub state: String,
    /// The member's status in it: `active`, `suspended`, `removed`; `None`
    /// if the partnership does not list it.
    pub my_status: Option<String>,
    /// Final height.
    pub final_height: u64,
    /// Optimistic (applied) height.
    pub optimistic_height: u64,
    /// Participants not removed (active and suspended), the member
    /// included, sorted.
    pub participants: Vec<String>,
    /// The participants finality waits for now, sorted.
    pub finality_waits_for: Vec<String>,
    /// The member's units and roles (membership module), if it is a member.
    pub units: Option<Units>,
    /// What is owed to and by the member, per asset (assets with nothing
    /// owed either way are left out), by asset.
    pub money: Vec<AssetLine>,
    /// What waits for the member, soonest first.
    pub waiting: Vec<Waiting>,
    /// Deadlines coming (and overdue ones that still wait for someone),
    /// soonest first.
    pub deadlines: Vec<Deadline>,
    /// Counterparties named in the treasury's entries (not rejected), by name.
    pub counterparties: Vec<String>,
    /// What could not be read, module by module.
    pub problems: Vec<Problem>,
}

/// The member's units and roles in a partnership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Units {
    /// Voting units.
    pub voting: u64,
    /// Economic units.
    pub economic: u64,
    /// Roles, sorted.
    pub roles: Vec<String>,
    /// Whether it is a current member (a former one keeps its economic
    /// units as a claim).
    pub active: bool,
}

/// One asset's figures for the member in one partnership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssetLine {
    /// Asset code.
    pub asset: String,
    /// Its minor-unit exponent, from the treasury's config (`None`: the
    /// partnership's treasury does not name it).
    pub exponent: Option<u8>,
    /// Owed to the member: its treasury claims, payouts to it it has not
    /// confirmed yet, buyout prices owed to it.
    pub owed_to_me: Amount,
    /// Owed by the member: buyout prices it owes other members.
    pub owed_by_me: Amount,
    /// Payouts the member recorded as paid that their payee has not
    /// confirmed yet (neither owed to nor by it; shown until confirmed).
    pub paid_unconfirmed: Amount,
    /// Where each figure comes from.
    pub items: Vec<MoneyItem>,
}

/// One source of an [`AssetLine`]'s figures.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MoneyItem {
    /// Which figure it adds to.
    pub flow: Flow,
    /// What it is.
    pub kind: MoneyKind,
    /// The module instance it was read from.
    pub module: String,
    /// The other side (a member id); `None` for the partnership itself
    /// (its treasury).
    pub counterparty: Option<String>,
    /// The amount.
    pub amount: Amount,
}

/// Which figure of an [`AssetLine`] a [`MoneyItem`] adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Flow {
    /// `owed_to_me`.
    OwedToMe,
    /// `owed_by_me`.
    OwedByMe,
    /// `paid_unconfirmed`.
    PaidUnconfirmed,
}

/// What a [`MoneyItem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MoneyKind {
    /// Distributed to the member and not yet paid (treasury `owed`).
    Claim,
    /// Paid to the member, waiting for its confirmation (treasury `pending`).
    PayoutToConfirm,
    /// A buyout price between members (exit payables).
    Buyout,
    /// A payout the member made, waiting for the payee's confirmation.
    Payout,
    /// The member's share of an open capital call, not yet paid (treasury).
    CapitalCall,
}

/// Something that waits for the member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Waiting {
    /// What to do.
    pub kind: WaitingKind,
    /// The module instance to do it with.
    pub module: String,
    /// The proposal, entry or payout number it is about, if any.
    pub id: Option<u64>,
    /// What, in words.
    pub what: String,
    /// From when it can be done, if not yet (a passed proposal in its
    /// grace period).
    pub from_ms: Option<u64>,
    /// By when it must be done, if there is a deadline (a vote's close, an
    /// execution window's end).
    pub until_ms: Option<u64>,
}

/// What a [`Waiting`] asks of the member.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum WaitingKind {
    /// Vote on an open proposal.
    Vote,
    /// Execute a proposal that passed.
    Execute,
    /// Accept the partnership's terms to become a member.
    AcceptTerms,
    /// Confirm (or reject) a treasury entry another member recorded.
    ConfirmEntry,
    /// Confirm a payout to the member arrived.
    ConfirmPayout,
    /// Pay the member's share of an open capital call (treasury `pay_call`).
    PayCall,
}

/// A date that matters to the member.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Deadline {
    /// When (Unix ms).
    pub at_ms: u64,
    /// What kind of date.
    pub kind: DeadlineKind,
    /// The module instance it comes from.
    pub module: String,
    /// What, in words.
    pub what: String,
    /// Already past, while something still waits on it (a milestone not
    /// done, a review or the term's end waiting for a `tick`).
    pub overdue: bool,
}

/// What a [`Deadline`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DeadlineKind {
    /// A proposal's vote closes (voting).
    VoteCloses,
    /// A passed proposal becomes executable (voting's grace period ends).
    ExecutableFrom,
    /// A passed proposal can no longer be executed (voting's expiry).
    ExecutionExpires,
    /// The term ends (term's sunset clause).
    TermEnds,
    /// A KPI review falls due (term).
    KpiReview,
    /// A milestone is due (term).
    Milestone,
    /// The member's notice period ends (exit).
    NoticeEnds,
    /// The member's lock-up ends (exit).
    LockupEnds,
    /// The members' first refusal on a buyout offer ends (exit).
    FirstRefusalEnds,
    /// A buyout offer closes (exit).
    OfferCloses,
    /// A vesting grant's cliff (vesting).
    VestingCliff,
    /// A vesting grant is fully vested (vesting).
    FullyVested,
    /// A dispute's negotiation ends; it may be escalated (disputes).
    NegotiationEnds,
    /// A ruling's appeal window ends (disputes).
    AppealEnds,
    /// The member's share of a capital call is due; past it, the charter's
    /// default terms may be applied (treasury).
    CallDue,
}

/// Something of a partnership that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Problem {
    /// The module instance whose read failed; `None` for the partnership itself.
    pub module: Option<String>,
    /// What went wrong.
    pub error: String,
}

/// One asset's figures over every partnership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct AssetTotal {
    /// Asset code.
    pub asset: String,
    /// Its exponent. Treasuries that give one code different exponents
    /// have a total each: their minor units are not the same unit.
    pub exponent: Option<u8>,
    /// Sum of the partnerships' `owed_to_me`.
    pub owed_to_me: Amount,
    /// Sum of the partnerships' `owed_by_me`.
    pub owed_by_me: Amount,
    /// Sum of the partnerships' `paid_unconfirmed`.
    pub paid_unconfirmed: Amount,
    /// The partnerships the figures come from, sorted.
    pub partnerships: Vec<String>,
}

impl Portfolio {
    /// The holding with id `id`.
    pub fn holding(&self, id: &str) -> Option<&Holding> {
        self.partnerships.iter().find(|h| h.id == id)
    }

    /// Every deadline of every partnership, soonest first, with the
    /// partnership it belongs to.
    pub fn timeline(&self) -> Vec<(&Holding, &Deadline)> {
        let mut all: Vec<(&Holding, &Deadline)> =
            self.partnerships.iter().flat_map(|h| h.deadlines.iter().map(move |d| (h, d))).collect();
        all.sort_by(|a, b| (a.1.at_ms, &a.0.name, &a.0.id).cmp(&(b.1.at_ms, &b.0.name, &b.0.id)));
        all
    }
}

impl Holding {
    /// The asset line of `asset`, if anything is owed in it.
    pub fn money_in(&self, asset: &str) -> Option<&AssetLine> {
        self.money.iter().find(|line| line.asset == asset)
    }
}

/// Adds the partnerships' asset lines into totals, by (asset, exponent).
fn totals(partnerships: &[Holding]) -> Vec<AssetTotal> {
    let mut sums: std::collections::BTreeMap<(String, Option<u8>), AssetTotal> = Default::default();
    for holding in partnerships {
        for line in &holding.money {
            let total = sums.entry((line.asset.clone(), line.exponent)).or_insert_with(|| AssetTotal {
                asset: line.asset.clone(),
                exponent: line.exponent,
                owed_to_me: Amount::default(),
                owed_by_me: Amount::default(),
                paid_unconfirmed: Amount::default(),
                partnerships: Vec::new(),
            });
            total.owed_to_me = total.owed_to_me.plus(line.owed_to_me);
            total.owed_by_me = total.owed_by_me.plus(line.owed_by_me);
            total.paid_unconfirmed = total.paid_unconfirmed.plus(line.paid_unconfirmed);
            total.partnerships.push(holding.id.clone());
        }
    }
    sums.into_values()
        .map(|mut total| {
            total.partnerships.sort();
            total.partnerships.dedup();
            total
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use super::*;

    #[test]
    fn amounts_are_strings_of_digits_in_json() {
        let big = Amount(u128::MAX);
        let json = serde_json::to_value(big).unwrap();
        assert_eq!(json, serde_json::json!("340282366920938463463374607431768211455"));
        assert_eq!(serde_json::from_value::<Amount>(json).unwrap(), big);
        for bad in
            [serde_json::json!("-1"), serde_json::json!(""), serde_json::json!("1.5"), serde_json::json!(5)]
        {
            assert!(serde_json::from_value::<Amount>(bad.clone()).is_err(), "{bad}");
        }
    }

    fn holding(id: &str, lines: &[(&str, Option<u8>, u128, u128)]) -> Holding {
        Holding {
            id: id.into(),
            name: id.into(),
            parent: None,
            children: Vec::new(),
            state: "active".into(),
            my_status: Some("active".into()),
            final_height: 0,
            optimistic_height: 0,
            participants: Vec::new(),
            finality_waits_for: Vec::new(),
            units: None,
            money: lines
                .iter()
                .map(|(asset, exponent, to, by)| AssetLine {
                    asset: (*asset).into(),
                    exponent: *exponent,
                    owed_to_me: Amount(*to),
                    owed_by_me: Amount(*by),
                    paid_unconfirmed: Amount(0),
                    items: Vec::new(),
                })
                .collect(),
            waiting: Vec::new(),
            deadlines: Vec::new(),
            counterparties: Vec::new(),
            problems: Vec::new(),
        }
    }

    #[test]
    fn totals_add_per_asset_and_keep_exponents_apart() {
        let rows = [
            holding("b", &[("EUR", Some(2), 100, 5), ("USD", Some(2), 7, 0)]),
            holding("a", &[("EUR", Some(2), 50, 0), ("EUR", Some(3), 1000, 0)]),
        ];
        let totals = totals(&rows);
        let summary: Vec<String> = totals
            .iter()
            .map(|t| {
                format!(
                    "{} {:?} {} {} {}",
                    t.asset,
                    t.exponent,
                    t.owed_to_me,
                    t.owed_by_me,
                    t.partnerships.join(",")
                )
            })
            .collect();
        assert_eq!(summary, ["EUR Some(2) 150 5 a,b", "EUR Some(3) 1000 0 a", "USD Some(2) 7 0 b"]);
    }
}
