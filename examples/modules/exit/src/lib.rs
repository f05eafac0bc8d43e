//! Exit: the standard polypact module for how a partner leaves, and how the
//! partnership ends.
//!
//! This crate owns the exit rules of a charter: **ragequit** (a member gives
//! up its units for its floor fair share of every asset in the treasury pool,
//! in one op, blocked while a proposal it voted yes on is pending, as in
//! Moloch), **ragekick** (the same, forced by governance), **notice periods**
//! and **lock-ups**, **good- and bad-leaver terms** (what a leaver keeps:
//! vested units, a forfeited percentage; vesting grants are cancelled through
//! the vesting module's `cancel_on_exit`), **buyouts** of a member's
//! economic units at a formula or voted price with a **right of first
//! refusal** for the other members, the resulting **payables** (who owes
//! whom for bought units; settled off the ledger and confirmed here), and
//! **dissolution** (treasury `distribute_all`, then the runtime's
//! `Dissolve`). It does not own units (membership: this instance must be
//! among its `managers`), money (treasury: it must name this instance as its
//! `exit_module`), votes (voting) or vesting schedules (vesting). Message
//! formats are in `README.md`.
//!
//! State layout:
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

use std::collections::BTreeMap;

use polypact_sdk::{Ctx, Event, Item, Json, Map, QueryCtx, Response, SystemMsg, to_json};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Page size used to read membership's member list.
const MEMBER_PAGE: u32 = 100;
/// Longest dissolution or bad-leaver reason, in bytes.
pub const MAX_REASON_LEN: usize = 256;

const CONFIG: Item<Config> = Item::new("config");
const INSTALLED: Item<Installed> = Item::new("installed");
const NOTICES: Map<&str, u64> = Map::new("notices");
const LOCKUPS: Map<&str, u64> = Map::new("lockups");
const BAD_LEAVERS: Map<&str, String> = Map::new("bad_leavers");
const DEPARTURES: Map<&str, Departure> = Map::new("departures");
const PENDING_DEPARTURES: Map<&str, Departure> = Map::new("pending_departures");
const OFFERS: Map<&str, Offer> = Map::new("offers");
const ALLOTMENTS: Map<(&str, &str), u64> = Map::new("allotments");
const PAYABLES: Map<(&str, (&str, &str)), u128> = Map::new("payables");
const RECEIVABLES: Map<(&str, (&str, &str)), u128> = Map::new("receivables");
const DISSOLUTION: Item<Dissolution> = Item::new("dissolution");

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
    fn asset(&self) -> &str {
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

/// When this instance was installed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installed {
    /// Height of `init`.
    pub height: u64,
    /// Time of `init`.
    pub time_ms: u64,
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
    /// A creditor confirms it was paid (part of) what a buyer owes it.
    ConfirmPayment {
        /// Who paid.
        debtor: String,
        /// The asset.
        asset: String,
        /// How much.
        amount: u128,
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

/// Why an exit call failed; the caller sees the text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExitError {
    /// Storage, decoding or a query failed.
    #[error(transparent)]
    Sdk(#[from] polypact_sdk::Error),
    /// A bad config.
    #[error("invalid exit config: {0}")]
    Config(String),
    /// The caller may not do this.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// Not a current member.
    #[error("{0} is not a member")]
    NotMember(String),
    /// Already left.
    #[error("{member} has already left ({how:?} at height {height})")]
    AlreadyLeft {
        /// The member.
        member: String,
        /// How.
        how: How,
        /// When.
        height: u64,
    },
    /// Inside the lock-up.
    #[error("{member} is locked up until {until_ms} ms (now {now_ms}); no exit or sale before then")]
    LockedUp {
        /// The member.
        member: String,
        /// Lock-up end.
        until_ms: u64,
        /// Now.
        now_ms: u64,
    },
    /// Notice missing or running.
    #[error("{0}")]
    Notice(String),
    /// Ragequit blocked by pending yes votes.
    #[error(
        "{member} voted yes on proposals still pending ({list}); ragequit is blocked until they are executed, rejected, vetoed or expired"
    )]
    Blocked {
        /// The member.
        member: String,
        /// The proposal ids, comma-separated.
        list: String,
    },
    /// An offer problem.
    #[error("{0}")]
    Offer(String),
    /// No buyout terms.
    #[error("this partnership has no buyout terms (config `buyout`)")]
    NoBuyout,
    /// A bad argument.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Arithmetic overflow.
    #[error("amount would overflow")]
    Overflow,
}

type Result<T> = core::result::Result<T, ExitError>;

/// The part of membership's member record this module reads.
#[derive(Clone, Debug, Deserialize)]
struct MemberView {
    member: String,
    voting_units: u64,
    economic_units: u64,
    active: bool,
    joined_at: u64,
}

#[derive(Deserialize)]
struct MembersPage {
    members: Vec<MemberView>,
}

#[derive(Deserialize)]
struct Totals {
    economic_units: u64,
    #[serde(default)]
    former_economic_units: u64,
}

#[derive(Deserialize)]
struct OpenYes {
    proposals: Vec<u64>,
}

#[derive(Deserialize, Default)]
struct Releasable {
    #[serde(default)]
    releasable: u64,
}

#[derive(Deserialize)]
struct Vested {
    #[serde(default)]
    in_cliff: bool,
    #[serde(default)]
    economic: Releasable,
}

/// Treasury's `balances` answer: amounts are JSON numbers up to `u64::MAX`,
/// decimal strings above.
#[derive(Deserialize)]
struct Balances {
    pool: BTreeMap<String, serde_json::Value>,
}

fn amount(value: &serde_json::Value) -> Result<u128> {
    let parsed = match value {
        serde_json::Value::Number(n) => n.as_u64().map(u128::from),
        serde_json::Value::String(s) => s.parse::<u128>().ok(),
        _ => None,
    };
    parsed.ok_or_else(|| {
        ExitError::Invalid(format!("the treasury answered an amount that is not an integer: {value}"))
    })
}

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(ExitError::Config(format!("{what} must name a module instance")));
    }
    Ok(())
}

/// `init`: validates and stores the config.
pub fn init(ctx: &mut Ctx, config: Config) -> Result<Response> {
    check_name("membership", &config.membership)?;
    check_name("governance", &config.governance)?;
    check_name("treasury", &config.treasury)?;
    if let Some(v) = &config.vesting {
        check_name("vesting", v)?;
    }
    if let Some(t) = &config.term_module {
        check_name("term_module", t)?;
    }
    if config.bad_leaver.forfeit_percent > 100 {
        return Err(ExitError::Config(format!(
            "bad_leaver.forfeit_percent must be 0 to 100, got {}",
            config.bad_leaver.forfeit_percent
        )));
    }
    if let Some(b) = &config.buyout {
        if b.price.asset().trim().is_empty() {
            return Err(ExitError::Config("buyout.price needs an asset".into()));
        }
        if b.rofr_ms.checked_add(b.open_ms).is_none() {
            return Err(ExitError::Config("buyout.rofr_ms + open_ms overflows".into()));
        }
    }
    CONFIG.save(ctx, &config)?;
    INSTALLED.save(ctx, &Installed { height: ctx.height(), time_ms: ctx.time_ms() })?;
    Ok(Response::new().add_event(
        Event::new("exit_configured")
            .attr("notice_ms", config.notice_ms)
            .attr("lockup_until_ms", config.lockup_until_ms)
            .attr("lockup_ms", config.lockup_ms)
            .attr("buyout", config.buyout.is_some()),
    ))
}

// ----- lookups -----

fn member_view(ctx: &QueryCtx, config: &Config, member: &str) -> Result<Option<MemberView>> {
    let answer: core::result::Result<MemberView, _> =
        ctx.query(&config.membership, &json!({"member": {"member": member}}));
    match answer {
        Ok(m) if m.active => Ok(Some(m)),
        Ok(_) => Ok(None),
        Err(polypact_sdk::Error::Query { reason, .. }) if reason.contains("is not a member") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A current member who has not left through this module. A member who
/// left and was admitted again later (membership `joined_at` after the
/// departure) counts as current.
fn active_member(ctx: &QueryCtx, config: &Config, member: &str) -> Result<MemberView> {
    let view = member_view(ctx, config, member)?;
    match (view, DEPARTURES.may_load(ctx, member)?) {
        (Some(m), Some(d)) if d.height < m.joined_at => Ok(m),
        (_, Some(d)) => Err(ExitError::AlreadyLeft { member: member.into(), how: d.how, height: d.height }),
        (Some(m), None) => Ok(m),
        (None, None) => Err(ExitError::NotMember(member.into())),
    }
}

fn all_members(ctx: &QueryCtx, config: &Config) -> Result<Vec<MemberView>> {
    let mut out = Vec::new();
    let mut start_after: Option<String> = None;
    loop {
        let page: MembersPage = ctx.query(
            &config.membership,
            &json!({"members": {"start_after": start_after, "limit": MEMBER_PAGE}}),
        )?;
        let n = page.members.len();
        start_after = page.members.last().map(|m| m.member.clone());
        out.extend(page.members);
        if n < MEMBER_PAGE as usize {
            return Ok(out);
        }
    }
}

fn lockup_end(ctx: &QueryCtx, config: &Config, member: &str, joined_at: u64) -> Result<u64> {
    let mut end = config.lockup_until_ms;
    if let Some(until) = LOCKUPS.may_load(ctx, member)? {
        end = end.max(until);
    }
    let installed = INSTALLED.load(ctx)?;
    if config.lockup_ms > 0 && joined_at <= installed.height {
        end = end.max(installed.time_ms.saturating_add(config.lockup_ms));
    }
    Ok(end)
}

fn member_op(ctx: &Ctx, what: &str) -> Result<String> {
    if ctx.sender_module().is_some() {
        return Err(ExitError::NotAllowed(format!(
            "a member must {what} with its own op, not through a module"
        )));
    }
    Ok(ctx.caller().to_owned())
}

fn require_governance(ctx: &Ctx, config: &Config, what: &str) -> Result<()> {
    if ctx.sender_module() == Some(config.governance.as_str()) {
        return Ok(());
    }
    Err(ExitError::NotAllowed(format!(
        "only the governance module \"{}\" may {what}; propose it there",
        config.governance
    )))
}

fn require_not_dissolved(ctx: &QueryCtx) -> Result<()> {
    if let Some(d) = DISSOLUTION.may_load(ctx)? {
        return Err(ExitError::NotAllowed(format!("the partnership was dissolved ({})", d.reason)));
    }
    Ok(())
}

/// Lock-up and notice: may `member` exit (or sell) now?
fn check_may_exit(ctx: &QueryCtx, config: &Config, m: &MemberView, needs_notice: bool) -> Result<()> {
    let now = ctx.time_ms();
    let until = lockup_end(ctx, config, &m.member, m.joined_at)?;
    if now < until {
        return Err(ExitError::LockedUp { member: m.member.clone(), until_ms: until, now_ms: now });
    }
    if needs_notice && config.notice_ms > 0 {
        match NOTICES.may_load(ctx, &m.member)? {
            None => {
                return Err(ExitError::Notice(format!(
                    "{} must give notice first ({} ms): send give_notice, then leave when it has run",
                    m.member, config.notice_ms
                )));
            }
            Some(given) => {
                let from = given.saturating_add(config.notice_ms);
                if now < from {
                    return Err(ExitError::Notice(format!(
                        "{}'s notice period runs until {from} ms (now {now}); leave after that",
                        m.member
                    )));
                }
            }
        }
    }
    Ok(())
}

/// What a leaver keeps.
struct Terms {
    bad: Option<String>,
    keep_vested: bool,
    /// Economic units released from vesting on the way out.
    released: u64,
    kept: u64,
    forfeited: u64,
}

fn leaver_terms(ctx: &QueryCtx, config: &Config, m: &MemberView) -> Result<Terms> {
    let now = ctx.time_ms();
    let vested: Option<Vested> = match &config.vesting {
        Some(v) => Some(ctx.query(v, &json!({"vested": {"member": m.member, "at_ms": now}}))?),
        None => None,
    };
    let mut bad = BAD_LEAVERS.may_load(ctx, &m.member)?.map(|r| format!("declared by governance: {r}"));
    if bad.is_none() && config.bad_leaver.inside_cliff && vested.as_ref().is_some_and(|v| v.in_cliff) {
        bad = Some("left inside a vesting cliff".into());
    }
    if bad.is_none()
        && config.bad_leaver.inside_lockup
        && now < lockup_end(ctx, config, &m.member, m.joined_at)?
    {
        bad = Some("left inside the lock-up".into());
    }
    let keep_vested = bad.is_none() || config.bad_leaver.keep_vested;
    let released = match (&vested, keep_vested) {
        (Some(v), true) => v.economic.releasable,
        _ => 0,
    };
    let base = m.economic_units.checked_add(released).ok_or(ExitError::Overflow)?;
    let forfeited = match bad {
        Some(_) => {
            let f = u128::from(base) * u128::from(config.bad_leaver.forfeit_percent) / 100;
            u64::try_from(f).map_err(|_| ExitError::Overflow)?
        }
        None => 0,
    };
    Ok(Terms { bad, keep_vested, released, kept: base - forfeited, forfeited })
}

fn cancel_vesting(response: Response, config: &Config, member: &str, terms: &Terms) -> Result<Response> {
    match &config.vesting {
        Some(v) => Ok(response.add_message(
            v,
            &json!({"cancel_on_exit": {"member": member, "keep_vested": terms.keep_vested}}),
        )?),
        None => Ok(response),
    }
}

fn forget(ctx: &mut Ctx, member: &str) {
    NOTICES.remove(ctx, member);
    LOCKUPS.remove(ctx, member);
    BAD_LEAVERS.remove(ctx, member);
}

/// Ragequit and kick: fair share of every asset, then removal.
fn pay_out(ctx: &mut Ctx, config: &Config, m: &MemberView, how: How) -> Result<Response> {
    if let Some(o) = OFFERS.may_load(ctx, &m.member)? {
        return Err(ExitError::Offer(match o.leaving {
            true => {
                format!("{} is already leaving; its units are on offer until {} ms", m.member, o.closes_ms)
            }
            false => format!("{} has an open buyout offer; close it first (close_offer)", m.member),
        }));
    }
    let terms = leaver_terms(ctx, config, m)?;
    let totals: Totals = ctx.query(&config.membership, &json!({"totals": {}}))?;
    let total = totals
        .economic_units
        .checked_add(totals.former_economic_units)
        .and_then(|t| t.checked_add(terms.released))
        .ok_or(ExitError::Overflow)?;
    let mut response = cancel_vesting(Response::new(), config, &m.member, &terms)?;
    if terms.kept > 0 {
        response = response.add_message(
            &config.treasury,
            &json!({"payout_fair_share": {"member": m.member, "units": terms.kept, "total_units": total}}),
        )?;
    }
    response = response.add_message(
        &config.membership,
        &json!({"remove_member": {"member": m.member, "economic_units": 0}}),
    )?;
    let departure = Departure {
        how,
        height: ctx.height(),
        at_ms: ctx.time_ms(),
        bad_leaver: terms.bad.clone(),
        kept_units: terms.kept,
        forfeited_units: terms.forfeited,
        total_units: Some(total),
    };
    forget(ctx, &m.member);
    DEPARTURES.save(ctx, &m.member, &departure)?;
    let kind = if how == How::Kick { "member_kicked" } else { "ragequit" };
    let event = Event::new(kind)
        .attr("member", &m.member)
        .attr("units", terms.kept)
        .attr("total_units", total)
        .attr("forfeited_units", terms.forfeited)
        .attr("bad_leaver", terms.bad.as_deref().unwrap_or(""));
    Ok(response.add_event(event).set_data(&ExitData {
        member: m.member.clone(),
        units: terms.kept,
        total_units: Some(total),
        forfeited_units: terms.forfeited,
        bad_leaver: terms.bad,
    })?)
}

// ----- buyouts -----

fn buyout_terms(config: &Config) -> Result<&BuyoutTerms> {
    config.buyout.as_ref().ok_or(ExitError::NoBuyout)
}

/// Opens an offer of `units` of `seller`, with pro-rata allotments for the
/// other current members.
fn open_offer(
    ctx: &mut Ctx,
    config: &Config,
    seller: &str,
    units: u64,
    leaving: bool,
) -> Result<(Offer, Event)> {
    let terms = buyout_terms(config)?;
    let now = ctx.time_ms();
    let per_unit = match &terms.price {
        Price::Fixed { per_unit, .. } => Some(*per_unit),
        Price::Vote { .. } => None,
        Price::Pool { asset } => {
            let balances: Balances = ctx.query(&config.treasury, &json!({"balances": {}}))?;
            let totals: Totals = ctx.query(&config.membership, &json!({"totals": {}}))?;
            let all =
                totals.economic_units.checked_add(totals.former_economic_units).ok_or(ExitError::Overflow)?;
            if all == 0 {
                return Err(ExitError::Offer("there are no economic units to price a unit by".into()));
            }
            let pool = match balances.pool.get(asset) {
                Some(v) => amount(v)?,
                None => 0,
            };
            Some(pool / u128::from(all))
        }
    };
    let others = other_holders(ctx, config, seller)?;
    let sum: u128 = others.iter().map(|m| u128::from(m.economic_units)).sum();
    if sum == 0 {
        return Err(ExitError::Offer(format!(
            "no other member holds economic units, so no member can exercise first refusal on {seller}'s units"
        )));
    }
    for m in &others {
        let share = u128::from(units) * u128::from(m.economic_units) / sum;
        let share = u64::try_from(share).map_err(|_| ExitError::Overflow)?;
        ALLOTMENTS.save(ctx, (seller, &m.member), &share)?;
    }
    let rofr_until_ms = now.checked_add(terms.rofr_ms).ok_or(ExitError::Overflow)?;
    let offer = Offer {
        seller: seller.into(),
        units,
        remaining: units,
        asset: terms.price.asset().into(),
        per_unit,
        opened_ms: now,
        rofr_until_ms,
        closes_ms: rofr_until_ms.checked_add(terms.open_ms).ok_or(ExitError::Overflow)?,
        leaving,
        sales: Vec::new(),
    };
    OFFERS.save(ctx, seller, &offer)?;
    let event = Event::new("offer_opened")
        .attr("seller", seller)
        .attr("units", units)
        .attr("asset", &offer.asset)
        .attr("per_unit", offer.per_unit.map_or_else(|| "vote".to_string(), |p| p.to_string()))
        .attr("rofr_until_ms", offer.rofr_until_ms)
        .attr("closes_ms", offer.closes_ms)
        .attr("leaving", leaving);
    Ok((offer, event))
}

/// Current members other than `seller` holding economic units: the first-refusal holders.
fn other_holders(ctx: &QueryCtx, config: &Config, seller: &str) -> Result<Vec<MemberView>> {
    Ok(all_members(ctx, config)?
        .into_iter()
        .filter(|m| m.active && m.member != seller && m.economic_units > 0)
        .collect())
}

fn load_offer(ctx: &QueryCtx, seller: &str) -> Result<Offer> {
    OFFERS.may_load(ctx, seller)?.ok_or_else(|| ExitError::Offer(format!("{seller} has no open offer")))
}

fn add_payable(ctx: &mut Ctx, debtor: &str, creditor: &str, asset: &str, amount: u128) -> Result<()> {
    if amount == 0 {
        return Ok(());
    }
    let owed = PAYABLES.may_load(ctx, (debtor, (creditor, asset)))?.unwrap_or(0);
    let owed = owed.checked_add(amount).ok_or(ExitError::Overflow)?;
    PAYABLES.save(ctx, (debtor, (creditor, asset)), &owed)?;
    RECEIVABLES.save(ctx, (creditor, (debtor, asset)), &owed)?;
    Ok(())
}

/// Moves `units` of `offer` to `buyer`, records the payable, and closes
/// the offer when it is sold out.
fn sell(ctx: &mut Ctx, config: &Config, mut offer: Offer, buyer: &str, units: u64) -> Result<Response> {
    if units == 0 {
        return Err(ExitError::Invalid("economic_units must be above 0".into()));
    }
    if units > offer.remaining {
        return Err(ExitError::Offer(format!(
            "{}'s offer has {} units left, fewer than the {units} asked for",
            offer.seller, offer.remaining
        )));
    }
    let per_unit = offer.per_unit.ok_or_else(|| {
        ExitError::Offer(format!(
            "{}'s offer has no price yet; governance sets it with set_price",
            offer.seller
        ))
    })?;
    let amount = u128::from(units).checked_mul(per_unit).ok_or(ExitError::Overflow)?;
    add_payable(ctx, buyer, &offer.seller, &offer.asset, amount)?;
    offer.remaining -= units;
    offer.sales.push((buyer.into(), units));
    let mut response = Response::new()
        .add_message(
            &config.membership,
            &json!({"transfer_units": {"from": offer.seller, "to": buyer, "voting_units": 0, "economic_units": units}}),
        )?
        .add_event(
            Event::new("units_bought")
                .attr("seller", &offer.seller)
                .attr("buyer", buyer)
                .attr("units", units)
                .attr("asset", &offer.asset)
                .attr("amount", amount)
                .attr("remaining", offer.remaining),
        );
    if offer.remaining == 0 {
        // The transfer above runs after this call: what the seller keeps is what it holds minus it.
        let left = match offer.leaving {
            true => {
                member_view(ctx, config, &offer.seller)?.map_or(0, |m| m.economic_units).saturating_sub(units)
            }
            false => 0,
        };
        response = close(ctx, config, offer, response, left)?;
    } else {
        OFFERS.save(ctx, &offer.seller.clone(), &offer)?;
    }
    Ok(response)
}

/// Closes `offer`; a leaving seller is removed, keeping `left_units` as its claim.
fn close(
    ctx: &mut Ctx,
    config: &Config,
    offer: Offer,
    response: Response,
    left_units: u64,
) -> Result<Response> {
    let seller = offer.seller.as_str();
    OFFERS.remove(ctx, seller);
    let allotted: Vec<String> = ALLOTMENTS
        .prefix(seller)
        .iter(ctx)
        .map(|r| r.map(|(member, _)| member))
        .collect::<core::result::Result<_, _>>()?;
    for member in allotted {
        ALLOTMENTS.remove(ctx, (seller, &member));
    }
    let mut response = response.add_event(
        Event::new("offer_closed")
            .attr("seller", seller)
            .attr("sold", offer.units - offer.remaining)
            .attr("unsold", offer.remaining),
    );
    if offer.leaving {
        response = response.add_message(
            &config.membership,
            &json!({"remove_member": {"member": seller, "economic_units": left_units}}),
        )?;
        if let Some(mut d) = PENDING_DEPARTURES.may_load(ctx, seller)? {
            d.kept_units = left_units;
            d.height = ctx.height();
            d.at_ms = ctx.time_ms();
            PENDING_DEPARTURES.remove(ctx, seller);
            DEPARTURES.save(ctx, seller, &d)?;
        }
        forget(ctx, seller);
        response = response
            .add_event(Event::new("member_left").attr("member", seller).attr("claim_units", left_units));
    }
    Ok(response)
}

// ----- handle -----

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    require_not_dissolved(ctx)?;
    match msg {
        HandleMsg::GiveNotice {} => {
            let member = member_op(ctx, "give notice")?;
            active_member(ctx, &config, &member)?;
            if let Some(given) = NOTICES.may_load(ctx, &member)? {
                return Err(ExitError::Notice(format!("{member} already gave notice at {given} ms")));
            }
            NOTICES.save(ctx, &member, &ctx.time_ms())?;
            let effective = ctx.time_ms().saturating_add(config.notice_ms);
            Ok(Response::new()
                .add_event(Event::new("notice_given").attr("member", member).attr("effective_ms", effective)))
        }
        HandleMsg::WithdrawNotice {} => {
            let member = member_op(ctx, "withdraw notice")?;
            active_member(ctx, &config, &member)?;
            if !NOTICES.has(ctx, &member)? {
                return Err(ExitError::Notice(format!("{member} has given no notice")));
            }
            NOTICES.remove(ctx, &member);
            Ok(Response::new().add_event(Event::new("notice_withdrawn").attr("member", member)))
        }
        HandleMsg::Ragequit {} => {
            let member = member_op(ctx, "ragequit")?;
            let m = active_member(ctx, &config, &member)?;
            check_may_exit(ctx, &config, &m, true)?;
            let open: OpenYes =
                ctx.query(&config.governance, &json!({"open_yes_votes": {"voter": member}}))?;
            if !open.proposals.is_empty() {
                let list: Vec<String> = open.proposals.iter().map(u64::to_string).collect();
                return Err(ExitError::Blocked { member, list: list.join(", ") });
            }
            pay_out(ctx, &config, &m, How::Ragequit)
        }
        HandleMsg::Kick { member } => {
            require_governance(ctx, &config, "kick a member")?;
            let m = active_member(ctx, &config, &member)?;
            pay_out(ctx, &config, &m, How::Kick)
        }
        HandleMsg::Leave {} => {
            let member = member_op(ctx, "leave")?;
            let m = active_member(ctx, &config, &member)?;
            if let Some(o) = OFFERS.may_load(ctx, &member)? {
                return Err(ExitError::Offer(if o.leaving {
                    format!("{member} is already leaving; its units are on offer until {} ms", o.closes_ms)
                } else {
                    format!("{member} has an open buyout offer; close it first (close_offer)")
                }));
            }
            check_may_exit(ctx, &config, &m, true)?;
            let terms = leaver_terms(ctx, &config, &m)?;
            let mut response = cancel_vesting(Response::new(), &config, &member, &terms)?;
            let departure = Departure {
                how: How::Leave,
                height: ctx.height(),
                at_ms: ctx.time_ms(),
                bad_leaver: terms.bad.clone(),
                kept_units: terms.kept,
                forfeited_units: terms.forfeited,
                total_units: None,
            };
            // Offer the units if configured and someone could buy them; else keep them as a claim.
            let offer_units = config.buyout.as_ref().is_some_and(|b| b.on_leave)
                && terms.kept > 0
                && !other_holders(ctx, &config, &member)?.is_empty();
            let event = Event::new("leaving")
                .attr("member", &member)
                .attr("units", terms.kept)
                .attr("forfeited_units", terms.forfeited)
                .attr("bad_leaver", terms.bad.as_deref().unwrap_or(""))
                .attr("offered", offer_units);
            response = response.add_event(event);
            if offer_units {
                if terms.forfeited > 0 {
                    response = response.add_message(
                        &config.membership,
                        &json!({"set_units": {"member": member, "economic_units": terms.kept}}),
                    )?;
                }
                let (_, opened) = open_offer(ctx, &config, &member, terms.kept, true)?;
                response = response.add_event(opened);
                // The departure is final when the offer closes; until then
                // the seller is still a member and its terms wait here.
                PENDING_DEPARTURES.save(ctx, &member, &departure)?;
            } else {
                response = response.add_message(
                    &config.membership,
                    &json!({"remove_member": {"member": member, "economic_units": terms.kept}}),
                )?;
                forget(ctx, &member);
                DEPARTURES.save(ctx, &member, &departure)?;
                response = response.add_event(
                    Event::new("member_left").attr("member", &member).attr("claim_units", terms.kept),
                );
            }
            Ok(response.set_data(&ExitData {
                member,
                units: terms.kept,
                total_units: None,
                forfeited_units: terms.forfeited,
                bad_leaver: terms.bad,
            })?)
        }
        HandleMsg::OfferUnits { economic_units } => {
            let member = member_op(ctx, "offer units")?;
            let m = active_member(ctx, &config, &member)?;
            buyout_terms(&config)?;
            if OFFERS.has(ctx, &member)? {
                return Err(ExitError::Offer(format!("{member} already has an open offer")));
            }
            if economic_units == 0 || economic_units > m.economic_units {
                return Err(ExitError::Invalid(format!(
                    "economic_units must be 1 to {} (what {member} holds), got {economic_units}",
                    m.economic_units
                )));
            }
            if economic_units == m.economic_units && m.voting_units == 0 {
                return Err(ExitError::Invalid(format!(
                    "{member} would hold no units after selling all; use leave to sell everything"
                )));
            }
            check_may_exit(ctx, &config, &m, false)?;
            let (_, opened) = open_offer(ctx, &config, &member, economic_units, false)?;
            Ok(Response::new().add_event(opened))
        }
        HandleMsg::AcceptOffer { seller, economic_units } => {
            let buyer = member_op(ctx, "accept an offer")?;
            let offer = load_offer(ctx, &seller)?;
            if buyer == seller {
                return Err(ExitError::Offer("a seller cannot buy its own units".into()));
            }
            if member_view(ctx, &config, &buyer)?.is_none() {
                return Err(ExitError::NotAllowed(format!(
                    "{buyer} is not a member; an outsider buys only through governance (sell_to_outsider) after the first-refusal window"
                )));
            }
            let now = ctx.time_ms();
            if now >= offer.closes_ms {
                return Err(ExitError::Offer(format!("{seller}'s offer closed at {} ms", offer.closes_ms)));
            }
            if now < offer.rofr_until_ms {
                let allotment = ALLOTMENTS.may_load(ctx, (&seller, &buyer))?.unwrap_or(0);
                if economic_units > allotment {
                    return Err(ExitError::Offer(format!(
                        "in the first-refusal window (until {} ms) {buyer} may buy at most its pro-rata {allotment} units of {seller}'s offer",
                        offer.rofr_until_ms
                    )));
                }
                ALLOTMENTS.save(ctx, (&seller, &buyer), &(allotment - economic_units))?;
            }
            sell(ctx, &config, offer, &buyer, economic_units)
        }
        HandleMsg::SellToOutsider { seller, buyer, economic_units } => {
            require_governance(ctx, &config, "sell units to an outsider")?;
            let offer = load_offer(ctx, &seller)?;
            if ctx.time_ms() < offer.rofr_until_ms {
                return Err(ExitError::Offer(format!(
                    "the members' right of first refusal on {seller}'s units runs until {} ms; no outsider may be named before",
                    offer.rofr_until_ms
                )));
            }
            if buyer == seller {
                return Err(ExitError::Offer("a seller cannot buy its own units".into()));
            }
            if member_view(ctx, &config, &buyer)?.is_none() {
                return Err(ExitError::Offer(format!(
                    "{buyer} must be admitted to membership before it buys (admit it earlier in the same proposal)"
                )));
            }
            sell(ctx, &config, offer, &buyer, economic_units)
        }
        HandleMsg::SetPrice { seller, per_unit } => {
            require_governance(ctx, &config, "set an offer's price")?;
            let mut offer = load_offer(ctx, &seller)?;
            if !matches!(buyout_terms(&config)?.price, Price::Vote { .. }) {
                return Err(ExitError::Offer("the price is set by the config's formula, not by vote".into()));
            }
            if !offer.sales.is_empty() {
                return Err(ExitError::Offer(format!(
                    "{seller}'s offer already has sales; its price is fixed"
                )));
            }
            offer.per_unit = Some(per_unit);
            OFFERS.save(ctx, &seller, &offer)?;
            Ok(Response::new()
                .add_event(Event::new("price_set").attr("seller", seller).attr("per_unit", per_unit)))
        }
        HandleMsg::CloseOffer { seller } => {
            let offer = load_offer(ctx, &seller)?;
            let now = ctx.time_ms();
            let withdraw = ctx.sender_module().is_none() && ctx.caller() == seller && !offer.leaving;
            if !(offer.remaining == 0 || now >= offer.closes_ms || withdraw) {
                return Err(ExitError::Offer(format!(
                    "{seller}'s offer is open until {} ms; only the seller may withdraw a non-leaving offer before",
                    offer.closes_ms
                )));
            }
            // The seller keeps, as its claim, whatever economic units it still holds.
            let left = match offer.leaving {
                true => member_view(ctx, &config, &seller)?.map_or(0, |m| m.economic_units),
                false => 0,
            };
            close(ctx, &config, offer, Response::new(), left)
        }
        HandleMsg::ConfirmPayment { debtor, asset, amount } => {
            let creditor = member_op(ctx, "confirm a payment")?;
            let owed = PAYABLES.may_load(ctx, (&debtor, (&creditor, &asset)))?.unwrap_or(0);
            if amount == 0 || amount > owed {
                return Err(ExitError::Invalid(format!(
                    "{debtor} owes {creditor} {owed} {asset}; confirm 1 to {owed}, not {amount}"
                )));
            }
            let rest = owed - amount;
            if rest == 0 {
                PAYABLES.remove(ctx, (&debtor, (&creditor, &asset)));
                RECEIVABLES.remove(ctx, (&creditor, (&debtor, &asset)));
            } else {
                PAYABLES.save(ctx, (&debtor, (&creditor, &asset)), &rest)?;
                RECEIVABLES.save(ctx, (&creditor, (&debtor, &asset)), &rest)?;
            }
            Ok(Response::new().add_event(
                Event::new("payment_confirmed")
                    .attr("debtor", debtor)
                    .attr("creditor", creditor)
                    .attr("asset", asset)
                    .attr("amount", amount)
                    .attr("still_owed", rest),
            ))
        }
        HandleMsg::DeclareBadLeaver { member, reason } => {
            require_governance(ctx, &config, "declare a bad leaver")?;
            if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
                return Err(ExitError::Invalid(format!("a reason of 1 to {MAX_REASON_LEN} bytes is needed")));
            }
            active_member(ctx, &config, &member)?;
            BAD_LEAVERS.save(ctx, &member, &reason)?;
            Ok(Response::new()
                .add_event(Event::new("bad_leaver_declared").attr("member", member).attr("reason", reason)))
        }
        HandleMsg::ClearBadLeaver { member } => {
            require_governance(ctx, &config, "clear a bad-leaver declaration")?;
            if !BAD_LEAVERS.has(ctx, &member)? {
                return Err(ExitError::Invalid(format!("{member} is not declared a bad leaver")));
            }
            BAD_LEAVERS.remove(ctx, &member);
            Ok(Response::new().add_event(Event::new("bad_leaver_cleared").attr("member", member)))
        }
        HandleMsg::SetLockup { member, until_ms } => {
            require_governance(ctx, &config, "set a lock-up")?;
            active_member(ctx, &config, &member)?;
            LOCKUPS.save(ctx, &member, &until_ms)?;
            Ok(Response::new()
                .add_event(Event::new("lockup_set").attr("member", member).attr("until_ms", until_ms)))
        }
        HandleMsg::Dissolve { reason } => {
            let sender = ctx.sender_module().unwrap_or("");
            let allowed = sender == config.governance || config.term_module.as_deref() == Some(sender);
            if !allowed {
                let term = config
                    .term_module
                    .as_ref()
                    .map(|t| format!(" or the term module \"{t}\""))
                    .unwrap_or_default();
                return Err(ExitError::NotAllowed(format!(
                    "only the governance module \"{}\"{term} may dissolve the partnership",
                    config.governance
                )));
            }
            if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
                return Err(ExitError::Invalid(format!(
                    "a dissolution needs a reason of 1 to {MAX_REASON_LEN} bytes"
                )));
            }
            let record = Dissolution {
                reason: reason.clone(),
                by: format!("module:{sender}"),
                height: ctx.height(),
                at_ms: ctx.time_ms(),
            };
            DISSOLUTION.save(ctx, &record)?;
            Ok(Response::new()
                .add_message(&config.treasury, &json!({"distribute_all": {}}))?
                .add_system(SystemMsg::Dissolve { reason: reason.clone() })
                .add_event(Event::new("dissolved").attr("reason", reason).attr("by", record.by)))
        }
    }
}

// ----- queries -----

fn statement(ctx: &QueryCtx, member: &str) -> Result<StatementResponse> {
    let mut out = StatementResponse::default();
    for entry in PAYABLES.prefix(member).iter(ctx) {
        let ((creditor, asset), amount) = entry?;
        out.owes.push(Payable { counterparty: creditor, asset, amount });
    }
    for entry in RECEIVABLES.prefix(member).iter(ctx) {
        let ((debtor, asset), amount) = entry?;
        out.owed.push(Payable { counterparty: debtor, asset, amount });
    }
    Ok(out)
}

fn status(ctx: &QueryCtx, config: &Config, member: &str) -> Result<StatusResponse> {
    let notice = NOTICES.may_load(ctx, member)?;
    let joined_at = member_view(ctx, config, member)?.map_or(u64::MAX, |m| m.joined_at);
    let lockup = lockup_end(ctx, config, member, joined_at)?;
    let may_leave_from_ms = if config.notice_ms == 0 {
        Some(lockup)
    } else {
        notice.map(|n| lockup.max(n.saturating_add(config.notice_ms)))
    };
    let departure = match DEPARTURES.may_load(ctx, member)? {
        Some(d) => Some(d),
        None => PENDING_DEPARTURES.may_load(ctx, member)?,
    };
    Ok(StatusResponse {
        member: member.into(),
        notice_given_ms: notice,
        lockup_until_ms: lockup,
        may_leave_from_ms,
        declared_bad_leaver: BAD_LEAVERS.may_load(ctx, member)?,
        offer: OFFERS.may_load(ctx, member)?,
        departure,
    })
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    Ok(match msg {
        QueryMsg::Status { member } => to_json(&status(ctx, &config, &member)?)?,
        QueryMsg::Offer { seller } => to_json(&load_offer(ctx, &seller)?)?,
        QueryMsg::Offers {} => {
            let offers =
                OFFERS.iter(ctx).map(|r| r.map(|(_, o)| o)).collect::<core::result::Result<_, _>>()?;
            to_json(&OffersResponse { offers })?
        }
        QueryMsg::Statement { member } => to_json(&statement(ctx, &member)?)?,
        QueryMsg::Config {} => to_json(&config)?,
        QueryMsg::Dissolution {} => to_json(&DISSOLUTION.may_load(ctx)?)?,
    })
}

polypact_sdk::export!(init: init, handle: handle, query: query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "treasury", "vesting", "term_module");
