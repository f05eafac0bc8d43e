//! The exit module's rules: its entry points and one function per call
//! and query, except buyouts (`buyout.rs`).
//!
//! This file owns notice, lock-ups, ragequit and ragekick (a fair share of
//! every asset through the treasury's `payout_fair_share`), leaving with a
//! claim, the leaver terms (good or bad leaver, what is forfeited, vesting
//! cancelled through `cancel_on_exit`), bad-leaver declarations and
//! dissolution; it asks and tells membership, voting, vesting and the
//! treasury with the types of their `-api` crates. `handle` and `query`
//! only dispatch. It does not own the message formats (`msg.rs`, from
//! `exit-api`), the storage layout (`state.rs`) or the error texts
//! (`error.rs`).

use membership_api::{HandleMsg as MembershipMsg, MemberInfo, QueryMsg as MembershipQuery, Totals};
use polypact_sdk::{Ctx, Event, Json, QueryCtx, Response, SystemMsg, to_json};
use treasury_api::{Amount, HandleMsg as TreasuryMsg};
use vesting_api::{HandleMsg as VestingMsg, QueryMsg as VestingQuery, VestedResponse};
use voting_api::{OpenYesVotesResponse, QueryMsg as GovernanceQuery};

use crate::buyout::{
    execute_accept_offer, execute_close_offer, execute_confirm_payment, execute_offer_units,
    execute_sell_to_outsider, execute_set_price, load_offer, open_offer, other_holders, withdraw_for_default,
};
use crate::error::{ExitError, Result};
use crate::msg::{
    Config, Departure, Dissolution, ExitData, HandleMsg, How, OffersResponse, Payable, QueryMsg,
    StatementResponse, StatusResponse,
};
use crate::state::{
    BAD_LEAVERS, CONFIG, DEPARTURES, DISSOLUTION, INSTALLED, Installed, LOCKUPS, NOTICES, OFFERS, PAYABLES,
    PENDING_DEPARTURES, RECEIVABLES,
};

/// Longest dissolution or bad-leaver reason, in bytes.
pub const MAX_REASON_LEN: usize = 256;

// ----- entry points -----

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

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    require_not_dissolved(ctx)?;
    match msg {
        HandleMsg::GiveNotice {} => execute_give_notice(ctx, &config),
        HandleMsg::WithdrawNotice {} => execute_withdraw_notice(ctx, &config),
        HandleMsg::Ragequit {} => execute_ragequit(ctx, &config),
        HandleMsg::Kick { member } => execute_kick(ctx, &config, member),
        HandleMsg::DefaultExit { member, reason } => execute_default_exit(ctx, &config, member, reason),
        HandleMsg::Leave {} => execute_leave(ctx, &config),
        HandleMsg::OfferUnits { economic_units } => execute_offer_units(ctx, &config, economic_units),
        HandleMsg::AcceptOffer { seller, economic_units } => {
            execute_accept_offer(ctx, &config, seller, economic_units)
        }
        HandleMsg::SellToOutsider { seller, buyer, economic_units } => {
            execute_sell_to_outsider(ctx, &config, seller, buyer, economic_units)
        }
        HandleMsg::SetPrice { seller, per_unit } => execute_set_price(ctx, &config, seller, per_unit),
        HandleMsg::CloseOffer { seller } => execute_close_offer(ctx, &config, seller),
        HandleMsg::ConfirmPayment { debtor, asset, amount, creditor, reference } => {
            execute_confirm_payment(ctx, debtor, asset, amount, creditor, reference)
        }
        HandleMsg::DeclareBadLeaver { member, reason } => {
            execute_declare_bad_leaver(ctx, &config, member, reason)
        }
        HandleMsg::ClearBadLeaver { member } => execute_clear_bad_leaver(ctx, &config, member),
        HandleMsg::SetLockup { member, until_ms } => execute_set_lockup(ctx, &config, member, until_ms),
        HandleMsg::Dissolve { reason } => execute_dissolve(ctx, &config, reason),
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    Ok(match msg {
        QueryMsg::Status { member } => to_json(&query_status(ctx, &config, &member)?)?,
        QueryMsg::Offer { seller } => to_json(&load_offer(ctx, &seller)?)?,
        QueryMsg::Offers {} => to_json(&query_offers(ctx)?)?,
        QueryMsg::Statement { member } => to_json(&query_statement(ctx, &member)?)?,
        QueryMsg::Config {} => to_json(&config)?,
        QueryMsg::Dissolution {} => to_json(&DISSOLUTION.may_load(ctx)?)?,
        QueryMsg::ProposalKind { msg } => to_json(&query_proposal_kind(&msg))?,
    })
}

/// `proposal_kind`: the decision-table kind of one of this module's
/// messages: dissolving is `dissolve`, kicking a member out `expel_member`.
pub fn query_proposal_kind(msg: &serde_json::Value) -> voting_api::KindResponse {
    let kind = match voting_api::call_msg_name(msg) {
        Some("dissolve") => Some("dissolve"),
        Some("kick") => Some("expel_member"),
        _ => None,
    };
    voting_api::KindResponse { kind: kind.map(str::to_owned) }
}

// ----- calls -----

/// `give_notice`: the caller, a current member, gives notice.
pub fn execute_give_notice(ctx: &mut Ctx, config: &Config) -> Result<Response> {
    let member = member_op(ctx, "give notice")?;
    active_member(ctx, config, &member)?;
    if let Some(given) = NOTICES.may_load(ctx, &member)? {
        return Err(ExitError::Notice(format!("{member} already gave notice at {given} ms")));
    }
    NOTICES.save(ctx, &member, &ctx.time_ms())?;
    let effective = ctx.time_ms().saturating_add(config.notice_ms);
    Ok(Response::new()
        .add_event(Event::new("notice_given").attr("member", member).attr("effective_ms", effective)))
}

/// `withdraw_notice`: the caller withdraws its notice.
pub fn execute_withdraw_notice(ctx: &mut Ctx, config: &Config) -> Result<Response> {
    let member = member_op(ctx, "withdraw notice")?;
    active_member(ctx, config, &member)?;
    if !NOTICES.has(ctx, &member)? {
        return Err(ExitError::Notice(format!("{member} has given no notice")));
    }
    NOTICES.remove(ctx, &member);
    Ok(Response::new().add_event(Event::new("notice_withdrawn").attr("member", member)))
}

/// `ragequit`: the caller leaves for its fair share of every asset now,
/// unless a proposal it voted yes on is still pending.
pub fn execute_ragequit(ctx: &mut Ctx, config: &Config) -> Result<Response> {
    let member = member_op(ctx, "ragequit")?;
    let m = active_member(ctx, config, &member)?;
    check_may_exit(ctx, config, &m, true)?;
    let open: OpenYesVotesResponse =
        ctx.query(&config.governance, &GovernanceQuery::OpenYesVotes { voter: member.clone() })?;
    if !open.proposals.is_empty() {
        let list: Vec<String> = open.proposals.iter().map(u64::to_string).collect();
        return Err(ExitError::Blocked { member, list: list.join(", ") });
    }
    pay_out(ctx, config, &m, How::Ragequit, None)
}

/// `kick`: governance expels a member with its fair share (ragekick).
pub fn execute_kick(ctx: &mut Ctx, config: &Config, member: String) -> Result<Response> {
    require_governance(ctx, config, "kick a member")?;
    let m = active_member(ctx, config, &member)?;
    pay_out(ctx, config, &m, How::Kick, None)
}

/// `default_exit`: the treasury removes a member that missed a capital
/// call, under the charter's bad-leaver default terms: a kick on
/// bad-leaver terms, whatever else the member's standing (an open buyout
/// offer of its units is withdrawn first).
pub fn execute_default_exit(
    ctx: &mut Ctx,
    config: &Config,
    member: String,
    reason: String,
) -> Result<Response> {
    if ctx.sender_module() != Some(config.treasury.as_str()) {
        return Err(ExitError::NotAllowed(format!(
            "only the treasury module \"{}\" removes a member that defaulted on a capital call",
            config.treasury
        )));
    }
    if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
        return Err(ExitError::Invalid(format!("a reason of 1 to {MAX_REASON_LEN} bytes is needed")));
    }
    let m = active_member(ctx, config, &member)?;
    // An open offer must not shelter a defaulter from its terms.
    let withdrawn = match OFFERS.may_load(ctx, &member)? {
        Some(offer) => Some(withdraw_for_default(ctx, &offer)?),
        None => None,
    };
    let response = pay_out(ctx, config, &m, How::Kick, Some(&reason))?;
    Ok(match withdrawn {
        Some(event) => response.add_event(event),
        None => response,
    })
}

/// `leave`: the caller leaves keeping its units as a claim, offered to the
/// other members first if the buyout terms say so.
pub fn execute_leave(ctx: &mut Ctx, config: &Config) -> Result<Response> {
    let member = member_op(ctx, "leave")?;
    let m = active_member(ctx, config, &member)?;
    if let Some(o) = OFFERS.may_load(ctx, &member)? {
        return Err(ExitError::Offer(if o.leaving {
            format!("{member} is already leaving; its units are on offer until {} ms", o.closes_ms)
        } else {
            format!("{member} has an open buyout offer; close it first (close_offer)")
        }));
    }
    check_may_exit(ctx, config, &m, true)?;
    let terms = leaver_terms(ctx, config, &m, None)?;
    let mut response = cancel_vesting(Response::new(), config, &member, &terms)?;
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
        && !other_holders(ctx, config, &member)?.is_empty();
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
                &MembershipMsg::SetUnits {
                    member: member.clone(),
                    voting_units: None,
                    economic_units: Some(terms.kept),
                },
            )?;
        }
        let (_, opened) = open_offer(ctx, config, &member, terms.kept, true)?;
        response = response.add_event(opened);
        // The departure is final when the offer closes; until then
        // the seller is still a member and its terms wait here.
        PENDING_DEPARTURES.save(ctx, &member, &departure)?;
    } else {
        response = response.add_message(
            &config.membership,
            &MembershipMsg::RemoveMember { member: member.clone(), economic_units: terms.kept },
        )?;
        forget(ctx, &member);
        DEPARTURES.save(ctx, &member, &departure)?;
        response = response
            .add_event(Event::new("member_left").attr("member", &member).attr("claim_units", terms.kept));
    }
    Ok(response.set_data(&ExitData {
        member,
        units: terms.kept,
        total_units: None,
        forfeited_units: terms.forfeited,
        bad_leaver: terms.bad,
    })?)
}

/// `declare_bad_leaver`: governance declares a member a bad leaver.
pub fn execute_declare_bad_leaver(
    ctx: &mut Ctx,
    config: &Config,
    member: String,
    reason: String,
) -> Result<Response> {
    require_governance(ctx, config, "declare a bad leaver")?;
    if reason.trim().is_empty() || reason.len() > MAX_REASON_LEN {
        return Err(ExitError::Invalid(format!("a reason of 1 to {MAX_REASON_LEN} bytes is needed")));
    }
    active_member(ctx, config, &member)?;
    BAD_LEAVERS.save(ctx, &member, &reason)?;
    Ok(Response::new()
        .add_event(Event::new("bad_leaver_declared").attr("member", member).attr("reason", reason)))
}

/// `clear_bad_leaver`: governance withdraws a bad-leaver declaration.
pub fn execute_clear_bad_leaver(ctx: &mut Ctx, config: &Config, member: String) -> Result<Response> {
    require_governance(ctx, config, "clear a bad-leaver declaration")?;
    if !BAD_LEAVERS.has(ctx, &member)? {
        return Err(ExitError::Invalid(format!("{member} is not declared a bad leaver")));
    }
    BAD_LEAVERS.remove(ctx, &member);
    Ok(Response::new().add_event(Event::new("bad_leaver_cleared").attr("member", member)))
}

/// `set_lockup`: governance sets a member's lock-up end.
pub fn execute_set_lockup(ctx: &mut Ctx, config: &Config, member: String, until_ms: u64) -> Result<Response> {
    require_governance(ctx, config, "set a lock-up")?;
    active_member(ctx, config, &member)?;
    LOCKUPS.save(ctx, &member, &until_ms)?;
    Ok(Response::new().add_event(Event::new("lockup_set").attr("member", member).attr("until_ms", until_ms)))
}

/// `dissolve`: governance or the term module dissolves the partnership,
/// distributing the treasury first.
pub fn execute_dissolve(ctx: &mut Ctx, config: &Config, reason: String) -> Result<Response> {
    let sender = ctx.sender_module().unwrap_or("");
    let allowed = sender == config.governance || config.term_module.as_deref() == Some(sender);
    if !allowed {
        let term =
            config.term_module.as_ref().map(|t| format!(" or the term module \"{t}\"")).unwrap_or_default();
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
        .add_message(&config.treasury, &TreasuryMsg::DistributeAll {})?
        .add_system(SystemMsg::Dissolve { reason: reason.clone() })
        .add_event(Event::new("dissolved").attr("reason", reason).attr("by", record.by)))
}

// ----- leaving -----

/// What a leaver keeps.
struct Terms {
    bad: Option<String>,
    keep_vested: bool,
    /// Economic units released from vesting on the way out.
    released: u64,
    kept: u64,
    forfeited: u64,
}

/// The terms `m` leaves on now; `defaulted` (the treasury's reason) makes
/// it a bad leaver whatever else holds.
fn leaver_terms(ctx: &QueryCtx, config: &Config, m: &MemberInfo, defaulted: Option<&str>) -> Result<Terms> {
    let now = ctx.time_ms();
    let vested: Option<VestedResponse> = match &config.vesting {
        Some(v) => Some(ctx.query(v, &VestingQuery::Vested { member: m.member.clone(), at_ms: Some(now) })?),
        None => None,
    };
    let mut bad = BAD_LEAVERS.may_load(ctx, &m.member)?.map(|r| format!("declared by governance: {r}"));
    if let Some(reason) = defaulted {
        bad = Some(format!("defaulted: {reason}"));
    }
    if bad.is_none() && config.bad_leaver.inside_cliff && vested.as_ref().is_some_and(|v| v.in_cliff) {
        bad = Some("left inside a vesting cliff".into());
    }
    if bad.is_none()
        && config.bad_leaver.inside_lockup
        && now < lockup_end(ctx, config, &m.member, m.record.joined_at)?
    {
        bad = Some("left inside the lock-up".into());
    }
    let keep_vested = bad.is_none() || config.bad_leaver.keep_vested;
    let released = match (&vested, keep_vested) {
        (Some(v), true) => v.economic.releasable,
        _ => 0,
    };
    let base = m.record.economic_units.checked_add(released).ok_or(ExitError::Overflow)?;
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
            &VestingMsg::CancelOnExit { member: member.into(), keep_vested: terms.keep_vested },
        )?),
        None => Ok(response),
    }
}

pub(crate) fn forget(ctx: &mut Ctx, member: &str) {
    NOTICES.remove(ctx, member);
    LOCKUPS.remove(ctx, member);
    BAD_LEAVERS.remove(ctx, member);
}

/// Ragequit and kick: fair share of every asset, then removal.
fn pay_out(
    ctx: &mut Ctx,
    config: &Config,
    m: &MemberInfo,
    how: How,
    defaulted: Option<&str>,
) -> Result<Response> {
    if let Some(o) = OFFERS.may_load(ctx, &m.member)? {
        return Err(ExitError::Offer(match o.leaving {
            true => {
                format!("{} is already leaving; its units are on offer until {} ms", m.member, o.closes_ms)
            }
            false => format!("{} has an open buyout offer; close it first (close_offer)", m.member),
        }));
    }
    let terms = leaver_terms(ctx, config, m, defaulted)?;
    let totals: Totals = ctx.query(&config.membership, &MembershipQuery::Totals {})?;
    let total = totals
        .economic_units
        .checked_add(totals.former_economic_units)
        .and_then(|t| t.checked_add(terms.released))
        .ok_or(ExitError::Overflow)?;
    let mut response = cancel_vesting(Response::new(), config, &m.member, &terms)?;
    if terms.kept > 0 {
        response = response.add_message(
            &config.treasury,
            &TreasuryMsg::PayoutFairShare {
                member: m.member.clone(),
                units: Amount(u128::from(terms.kept)),
                total_units: Amount(u128::from(total)),
            },
        )?;
    }
    response = response.add_message(
        &config.membership,
        &MembershipMsg::RemoveMember { member: m.member.clone(), economic_units: 0 },
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

// ----- lookups -----

/// A current member's record, from membership; `None` for a stranger or a
/// former member.
pub(crate) fn member_view(ctx: &QueryCtx, config: &Config, member: &str) -> Result<Option<MemberInfo>> {
    Ok(membership_api::member(ctx, &config.membership, member)?.filter(|m| m.record.active))
}

/// A current member who has not left through this module. A member who
/// left and was admitted again later (membership `joined_at` after the
/// departure) counts as current.
pub(crate) fn active_member(ctx: &QueryCtx, config: &Config, member: &str) -> Result<MemberInfo> {
    let view = member_view(ctx, config, member)?;
    match (view, DEPARTURES.may_load(ctx, member)?) {
        (Some(m), Some(d)) if d.height < m.record.joined_at => Ok(m),
        (_, Some(d)) => Err(ExitError::AlreadyLeft { member: member.into(), how: d.how, height: d.height }),
        (Some(m), None) => Ok(m),
        (None, None) => Err(ExitError::NotMember(member.into())),
    }
}

/// Every member membership knows, current and former.
pub(crate) fn all_members(ctx: &QueryCtx, config: &Config) -> Result<Vec<MemberInfo>> {
    Ok(membership_api::all_members(ctx, &config.membership)?)
}

pub(crate) fn lockup_end(ctx: &QueryCtx, config: &Config, member: &str, joined_at: u64) -> Result<u64> {
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

pub(crate) fn member_op(ctx: &Ctx, what: &str) -> Result<String> {
    if ctx.sender_module().is_some() {
        return Err(ExitError::NotAllowed(format!(
            "a member must {what} with its own op, not through a module"
        )));
    }
    Ok(ctx.caller().to_owned())
}

pub(crate) fn require_governance(ctx: &Ctx, config: &Config, what: &str) -> Result<()> {
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
pub(crate) fn check_may_exit(
    ctx: &QueryCtx,
    config: &Config,
    m: &MemberInfo,
    needs_notice: bool,
) -> Result<()> {
    let now = ctx.time_ms();
    let until = lockup_end(ctx, config, &m.member, m.record.joined_at)?;
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

fn check_name(what: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(ExitError::Config(format!("{what} must name a module instance")));
    }
    Ok(())
}

// ----- queries -----

/// `status`: a member's exit status.
pub fn query_status(ctx: &QueryCtx, config: &Config, member: &str) -> Result<StatusResponse> {
    let notice = NOTICES.may_load(ctx, member)?;
    let joined_at = member_view(ctx, config, member)?.map_or(u64::MAX, |m| m.record.joined_at);
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

/// `statement`: who a member owes and who owes it, from buyouts.
pub fn query_statement(ctx: &QueryCtx, member: &str) -> Result<StatementResponse> {
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

/// `offers`: every open offer.
pub fn query_offers(ctx: &QueryCtx) -> Result<OffersResponse> {
    let offers =
        crate::state::OFFERS.iter(ctx).map(|r| r.map(|(_, o)| o)).collect::<core::result::Result<_, _>>()?;
    Ok(OffersResponse { offers })
}
