//! The interface of the standard exit module: what other modules and
//! clients send it and what it answers, as types.
//!
//! This crate owns the exit module's wire formats: its config ([`Config`],
//! with the leaver and buyout terms), calls ([`HandleMsg`]), queries
//! ([`QueryMsg`]) and their answers ([`StatusResponse`], [`Offer`],
//! [`Departure`] and the others). It does not own the rules (the `exit`
//! crate beside it, which re-exports these types as its `msg`).
//!
//! The term module, which dissolves the partnership when its term ends and
//! checks at init that the exit module accepts it, uses these types:
//!
//! ```
//! use exit_api::HandleMsg;
//!
//! let dissolve = HandleMsg::Dissolve { reason: "term ended".into() };
//! assert_eq!(
//!     serde_json::to_value(&dissolve).unwrap(),
//!     serde_json::json!({"dissolve": {"reason": "term ended"}})
//! );
//! ```
//!
//! The JSON forms and the leaver rules are in the module's `README.md`.

use serde::{Deserialize, Serialize};

/// Bad-leaver terms: who is one, and what it loses.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BadLeaverTerms {
    /// Percent (0–100) of the leaver's economic units forfeited (floored).
    pub forfeit_percent: u64,
    /// Whether a bad leaver keeps vested, unreleased grant units (good leavers always do).
    pub keep_vested: bool,
    /// Leaving while any vesting grant is before its cliff makes a bad leaver.
    pub inside_cliff: bool,
    /// Being kicked inside the lock-up makes a bad leaver (members cannot leave then).
    pub inside_lockup: bool,
}

/// How a buyout's per-unit price is set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Price {
    /// `{"fixed":{"asset":"EUR","per_unit":10}}`.
    Fixed {
        /// The asset the price is in.
        asset: String,
        /// Price of one economic unit.
        per_unit: u128,
    },
    /// `{"pool":{"asset":"EUR"}}`: floor(treasury pool of `asset` / all economic units), at the offer.
    Pool {
        /// The asset.
        asset: String,
    },
    /// `{"vote":{"asset":"EUR"}}`: governance sends `set_price` for each offer.
    Vote {
        /// The asset.
        asset: String,
    },
}

impl Price {
    /// The asset the price is in.
    pub fn asset(&self) -> &str {
        match self {
            Price::Fixed { asset, .. } | Price::Pool { asset } | Price::Vote { asset } => asset,
        }
    }
}

/// Buyout terms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuyoutTerms {
    /// The price rule.
    pub price: Price,
    /// The other members' exclusive window, pro rata, from the offer (ms).
    pub rofr_ms: u64,
    /// After the window, how long any member may buy and governance may name an outsider (ms).
    pub open_ms: u64,
    /// Whether `leave` offers the leaver's units (else the leaver keeps them as a claim).
    #[serde(default = "yes")]
    pub on_leave: bool,
}

fn yes() -> bool {
    true
}

/// The config (init).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The membership instance (this instance must be among its `managers`).
    pub membership: String,
    /// The governance (voting) instance.
    pub governance: String,
    /// The treasury instance (it must name this instance as `exit_module`).
    pub treasury: String,
    /// The vesting instance, if grants are cancelled on exit.
    #[serde(default)]
    pub vesting: Option<String>,
    /// The term instance, which may also dissolve.
    #[serde(default)]
    pub term_module: Option<String>,
    /// Notice period: `give_notice`, then `ragequit`/`leave` this long after (0: none).
    #[serde(default)]
    pub notice_ms: u64,
    /// No exit before this time, for everyone (0: none).
    #[serde(default)]
    pub lockup_until_ms: u64,
    /// Founders' lock-up from this module's installation (0: none); later
    /// members get theirs from governance's `set_lockup`.
    #[serde(default)]
    pub lockup_ms: u64,
    /// Bad-leaver terms.
    #[serde(default)]
    pub bad_leaver: BadLeaverTerms,
    /// Buyout terms; without them there are no offers.
    #[serde(default)]
    pub buyout: Option<BuyoutTerms>,
}

/// How a member left.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    /// Its own ragequit: paid its fair share.
    Ragequit,
    /// Kicked by governance: paid its fair share.
    Kick,
    /// `leave`: kept its units as a claim in membership (after any buyout).
    Leave,
}

/// A member who left through this module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Departure {
    /// How.
    pub how: How,
    /// Height of the op.
    pub height: u64,
    /// Time of the op.
    pub at_ms: u64,
    /// Why it is a bad leaver, if it is one.
    pub bad_leaver: Option<String>,
    /// Economic units it left with: paid out (ragequit, kick) or kept as a claim (leave).
    pub kept_units: u64,
    /// Economic units forfeited under the bad-leaver terms.
    pub forfeited_units: u64,
    /// The total its fair share was taken over (ragequit, kick).
    pub total_units: Option<u64>,
}

/// A buyout offer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The seller.
    pub seller: String,
    /// Units offered.
    pub units: u64,
    /// Units not yet bought.
    pub remaining: u64,
    /// The asset of the price.
    pub asset: String,
    /// Price per unit (`null` until governance sets it, for `vote` pricing).
    pub per_unit: Option<u128>,
    /// Opened at (ms).
    pub opened_ms: u64,
    /// First-refusal window end (ms): before it only members buy, pro rata.
    pub rofr_until_ms: u64,
    /// After this anyone may close the offer (ms).
    pub closes_ms: u64,
    /// Whether the seller is leaving (removed when the offer closes).
    pub leaving: bool,
    /// Sales so far: buyer, units.
    pub sales: Vec<(String, u64)>,
}

/// Set when the partnership was dissolved through this module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dissolution {
    /// Why.
    pub reason: String,
    /// `module:<name>` that asked.
    pub by: String,
    /// Height.
    pub height: u64,
    /// Time.
    pub at_ms: u64,
}

/// Handle messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HandleMsg {
    /// The caller gives notice (op of a member).
    GiveNotice {},
    /// The caller withdraws its notice.
    WithdrawNotice {},
    /// The caller leaves for its fair share of every asset now.
    Ragequit {},
    /// The caller leaves keeping its units as a claim (offered to the others first, if configured).
    Leave {},
    /// The caller offers some of its economic units to the other members.
    OfferUnits {
        /// Units offered.
        economic_units: u64,
    },
    /// The caller buys units of an open offer.
    AcceptOffer {
        /// The seller.
        seller: String,
        /// Units to buy.
        economic_units: u64,
    },
    /// Governance sells units of an offer to a named buyer, after the first-refusal window.
    SellToOutsider {
        /// The seller.
        seller: String,
        /// The buyer (already admitted to membership).
        buyer: String,
        /// Units.
        economic_units: u64,
    },
    /// Governance sets the per-unit price of an offer (`vote` pricing).
    SetPrice {
        /// The seller.
        seller: String,
        /// Price per unit.
        per_unit: u128,
    },
    /// Closes an offer (anyone once sold out or past `closes_ms`; the seller to withdraw a non-leaving offer).
    CloseOffer {
        /// The seller.
        seller: String,
    },
    /// A creditor confirms it was paid (part of) what a buyer owes it. For
    /// a creditor that is no longer a participant (a seller removed when
    /// its offer closed can sign nothing), another current partner than the
    /// debtor confirms, naming the `creditor` and citing a `reference`.
    ConfirmPayment {
        /// Who paid.
        debtor: String,
        /// The asset.
        asset: String,
        /// How much.
        amount: u128,
        /// The creditor, when a partner confirms for a former partner
        /// (the caller itself otherwise).
        #[serde(default)]
        creditor: Option<String>,
        /// What shows the money arrived; required with `creditor`.
        #[serde(default)]
        reference: Option<String>,
    },
    /// Governance declares a member a bad leaver.
    DeclareBadLeaver {
        /// The member.
        member: String,
        /// Why.
        reason: String,
    },
    /// Governance withdraws a bad-leaver declaration.
    ClearBadLeaver {
        /// The member.
        member: String,
    },
    /// Governance sets a member's lock-up end.
    SetLockup {
        /// The member.
        member: String,
        /// No exit before this time (ms).
        until_ms: u64,
    },
    /// Governance expels a member with its fair share (ragekick).
    Kick {
        /// The member.
        member: String,
    },
    /// The treasury (this module's `treasury`) removes a member that missed
    /// a capital call, under the charter's `bad_leaver` default terms: the
    /// member is a bad leaver for `reason` and is kicked on those terms
    /// (fair share of the units the terms leave it, vesting per
    /// `bad_leaver.keep_vested`).
    DefaultExit {
        /// The defaulter.
        member: String,
        /// Why (the call it missed; 1 to 256 bytes).
        reason: String,
    },
    /// Governance or the term module dissolves the partnership.
    Dissolve {
        /// Why (1 to 256 bytes).
        reason: String,
    },
}

/// Queries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum QueryMsg {
    /// A member's exit status.
    Status {
        /// The member.
        member: String,
    },
    /// An open offer.
    Offer {
        /// The seller.
        seller: String,
    },
    /// Every open offer.
    Offers {},
    /// Who a member owes and who owes it, from buyouts.
    Statement {
        /// The member.
        member: String,
    },
    /// The config.
    Config {},
    /// The dissolution record, or null.
    Dissolution {},
    /// The kind of one of this module's messages for the voting module's
    /// decision table (`voting_api::KindQuery`, answered with a
    /// `voting_api::KindResponse`): `dissolve` is `dissolve`, `kick` is
    /// `expel_member`.
    ProposalKind {
        /// The message, as a proposal carries it.
        msg: serde_json::Value,
    },
}

/// Answer of `status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// The member.
    pub member: String,
    /// When its notice was given, if it was.
    pub notice_given_ms: Option<u64>,
    /// Its lock-up end (0: none).
    pub lockup_until_ms: u64,
    /// Earliest time it may ragequit or leave (lock-up and notice), if it gave notice or needs none.
    pub may_leave_from_ms: Option<u64>,
    /// Governance's bad-leaver declaration, if any.
    pub declared_bad_leaver: Option<String>,
    /// Its open offer, if any.
    pub offer: Option<Offer>,
    /// Its departure, if it left through this module.
    pub departure: Option<Departure>,
}

/// One payable in a statement.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payable {
    /// The other party.
    pub counterparty: String,
    /// The asset.
    pub asset: String,
    /// The amount.
    pub amount: u128,
}

/// Answer of `statement`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementResponse {
    /// What the member owes (counterparty = creditor).
    pub owes: Vec<Payable>,
    /// What the member is owed (counterparty = debtor).
    pub owed: Vec<Payable>,
}

/// Answer of `offers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffersResponse {
    /// Open offers, by seller.
    pub offers: Vec<Offer>,
}

/// Data of `ragequit` and `kick`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitData {
    /// The leaver.
    pub member: String,
    /// Units paid out (ragequit, kick), kept as a claim or offered (leave).
    pub units: u64,
    /// The total the fair share is taken over (ragequit, kick).
    pub total_units: Option<u64>,
    /// Units forfeited.
    pub forfeited_units: u64,
    /// Why it is a bad leaver, if it is.
    pub bad_leaver: Option<String>,
}
