//! Capital calls: what a pool cost above the pool does under the charter's
//! `overrun` terms.
//!
//! This file owns capital calls: opening one when a cost paid from the
//! pool is counted and the pool cannot cover it (the pool pays what it
//! holds; the rest is called from the current members pro rata by economic
//! units, exact to the unit by the largest-remainder rule of `split.rs`),
//! or, under `cap_and_vote`, holding the rest until governance approves or
//! declines it; members' payments of their own shares (`pay_call`, capital
//! entries that count as `confirmation` says); funding the cost once every
//! share is paid; and, once a call's period is over, the default terms for
//! the members that missed their shares (`apply_default`: dilution through
//! membership `transfer_units`, or removal on bad-leaver terms through the
//! exit module's `default_exit`), with what they missed called again from
//! those who paid. Every time is an op's time, never a clock.
//!
//! It does not own the entries themselves (`contract.rs` records and
//! confirms them and calls in here when one counts), the units (membership,
//! told with the types of `membership-api`) or how a member leaves (the
//! exit module, told with `exit-api`).

use std::collections::BTreeMap;

use exit_api::HandleMsg as ExitMsg;
use membership_api::HandleMsg as MembershipMsg;
use polypact_sdk::{Ctx, Event, QueryCtx, Response};

use crate::contract::{NewEntry, entry_event, is_governance, record_entry, require_member_op, who};
use crate::error::{Result, TreasuryError};
use crate::msg::{
    Amount, CallShare, CallStatus, CallTerms, CapitalCall, Config, Confirmation, DefaultTerms, Entry,
    EntryKind, Overrun, Status,
};
use crate::split::{SplitError, largest_remainder, mul_div};
use crate::state::{ACCOUNTS, CALL_COUNT, CALLS, ENTRIES, REFS, TOTALS, account, totals};
use crate::validate::{BPS, add, nonzero, sub};

// ----- opening -----

/// A pool cost the pool cannot cover is counted: the pool pays what it
/// holds (not in dispute), and the rest is called now (`capital_call`) or
/// waits on governance (`cap_and_vote`). Marks the entry `called`.
pub(crate) fn open_overrun(ctx: &mut Ctx, config: &Config, entry: &mut Entry) -> Result<Vec<Event>> {
    let terms = overrun_terms(config)?;
    let mut t = totals(ctx, &entry.asset)?;
    let free = sub(t.pool, t.frozen, "the pool not in dispute")?;
    let rest = sub(entry.amount, free, "the cost above the pool")?;
    t.pool = sub(t.pool, free, "the pool")?;
    t.costs = add(t.costs, free, "total costs")?;
    TOTALS.save(ctx, &entry.asset, &t)?;
    let now = ctx.time_ms();
    let (status, shares, due_ms) = match &config.overrun {
        Overrun::CapAndVote(_) => (CallStatus::AwaitingVote, BTreeMap::new(), 0),
        _ => (
            CallStatus::Open,
            shares_of(&entry.asset, rest, current_weights(ctx, config)?)?,
            due(now, terms)?,
        ),
    };
    let call = CapitalCall {
        id: next_call_id(ctx)?,
        entry: entry.id,
        asset: entry.asset.clone(),
        cost: entry.amount,
        carried: free,
        amount: rest,
        shares,
        status,
        opened_ms: now,
        height: ctx.height(),
        due_ms,
        follows: None,
        followed_by: None,
        defaulters: Vec::new(),
    };
    CALLS.save(ctx, call.id, &call)?;
    entry.status = Status::Called;
    entry.call = Some(call.id);
    let kind = if status == CallStatus::Open { "capital_call_opened" } else { "overrun_awaits_vote" };
    Ok(vec![call_event(kind, &call)])
}

/// `approve_overrun`: governance approves the rest of a cost above the
/// pool; its calls open now, for the charter's period.
pub fn execute_approve_overrun(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    require_governance(ctx, config, "approve an overrun")?;
    let terms = overrun_terms(config)?;
    let mut call = load_call(ctx, id, CallStatus::AwaitingVote)?;
    call.shares = shares_of(&call.asset, call.amount, current_weights(ctx, config)?)?;
    call.status = CallStatus::Open;
    call.opened_ms = ctx.time_ms();
    call.height = ctx.height();
    call.due_ms = due(call.opened_ms, terms)?;
    CALLS.save(ctx, id, &call)?;
    Ok(Response::new().add_event(call_event("capital_call_opened", &call).attr("by", who(ctx))))
}

/// `decline_overrun`: governance declines the rest of a cost above the
/// pool; the cost is capped at what the pool paid (rejected if it paid
/// nothing).
pub fn execute_decline_overrun(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    require_governance(ctx, config, "decline an overrun")?;
    let mut call = load_call(ctx, id, CallStatus::AwaitingVote)?;
    let mut entry = ENTRIES.load(ctx, call.entry)?;
    let reason = format!(
        "capped at the pool: {} of {} {} paid; governance declined the other {}",
        call.carried, call.cost, call.asset, call.amount
    );
    if call.carried.0 == 0 {
        entry.status = Status::Rejected;
        REFS.remove(ctx, (entry.kind.name(), entry.reference.as_str()));
    } else {
        entry.amount = call.carried;
        entry.status = Status::Counted;
    }
    entry.decided_by = Some(who(ctx));
    entry.reason = Some(reason);
    ENTRIES.save(ctx, entry.id, &entry)?;
    call.status = CallStatus::Declined;
    CALLS.save(ctx, id, &call)?;
    Ok(Response::new()
        .add_event(call_event("overrun_declined", &call).attr("entry_status", entry.status.to_string())))
}

// ----- paying -----

/// `pay_call`: a current member's own op pays (part of) its own share of
/// an open call, within the call's period. The payment is a capital entry;
/// it counts toward the share as the config's `confirmation` says (with a
/// confirmer, only once another member confirms the money arrived).
pub fn execute_pay_call(
    ctx: &mut Ctx,
    config: &Config,
    id: u64,
    amount: Option<Amount>,
    reference: String,
    member: Option<String>,
) -> Result<Response> {
    let payer = require_member_op(ctx, config, "pay a capital call")?;
    if let Some(other) = member.filter(|m| *m != payer) {
        return Err(TreasuryError::NotAllowed(format!(
            "{payer} may not pay {other}'s share of capital call {id}; each member pays its own share, in its own op"
        )));
    }
    let call = load_call(ctx, id, CallStatus::Open)?;
    let now = ctx.time_ms();
    if now > call.due_ms {
        return Err(TreasuryError::CallPeriod(format!(
            "the period of capital call {id} ended at {} (now {now}); it takes no more payments, and any member may \
             now apply the default terms (apply_default)",
            call.due_ms
        )));
    }
    let share = call.shares.get(&payer).ok_or_else(|| {
        TreasuryError::NotAllowed(format!(
            "{payer} has no share in capital call {id}; only the members called pay it"
        ))
    })?;
    let left = sub(sub(share.called, share.paid, "the share left")?, share.pending, "the share left")?;
    let amount = amount.unwrap_or(left);
    if left.0 == 0 {
        return Err(TreasuryError::ExceedsCall(format!(
            "{payer} has nothing left to pay on capital call {id} (called {}, paid {}, awaiting confirmation {})",
            share.called, share.paid, share.pending
        )));
    }
    nonzero(amount, "the amount")?;
    if amount > left {
        return Err(TreasuryError::ExceedsCall(format!(
            "{payer} has {left} {} left to pay on capital call {id} (called {}, paid {}, awaiting confirmation {}); \
             a payment of {amount} is more",
            call.asset, share.called, share.paid, share.pending
        )));
    }
    let new = NewEntry {
        kind: EntryKind::Capital,
        asset: call.asset.clone(),
        amount,
        reference,
        counterparty: String::new(),
        note: format!("capital call {id}"),
        call: Some(id),
    };
    let counted = config.confirmation == Confirmation::None;
    record_entry(ctx, config, new, None, payer, counted)
}

/// A payment of a call was recorded and awaits confirmation: it holds that
/// much of the member's share.
pub(crate) fn note_pending(ctx: &mut Ctx, payment: &Entry) -> Result<()> {
    let (mut call, share) = payment_share(ctx, payment)?;
    share_mut(&mut call, &payment.recorded_by)?.pending =
        add(share.pending, payment.amount, "pending payments")?;
    CALLS.save(ctx, call.id, &call)?;
    Ok(())
}

/// A pending payment of a call was rejected or withdrawn: its part of the
/// share is open again.
pub(crate) fn drop_pending(ctx: &mut Ctx, payment: &Entry) -> Result<()> {
    let (mut call, share) = payment_share(ctx, payment)?;
    share_mut(&mut call, &payment.recorded_by)?.pending =
        sub(share.pending, payment.amount, "pending payments")?;
    CALLS.save(ctx, call.id, &call)?;
    Ok(())
}

/// A payment of a call counts: the member's share and capital account
/// grow, the money goes to the cost (cash capital in, cost out; the pool
/// is untouched), and the cost counts once every share is paid.
pub(crate) fn count_payment(ctx: &mut Ctx, payment: &mut Entry, was_pending: bool) -> Result<Vec<Event>> {
    let (mut call, _) = payment_share(ctx, payment)?;
    if call.status != CallStatus::Open {
        return Err(TreasuryError::CallNotOpen { id: call.id, status: call.status, needed: "open" });
    }
    let a = payment.amount;
    let id = call.id;
    let share = share_mut(&mut call, &payment.recorded_by)?;
    if was_pending {
        share.pending = sub(share.pending, a, "pending payments")?;
    }
    share.paid = add(share.paid, a, "the share paid")?;
    if share.paid > share.called {
        return Err(TreasuryError::ExceedsCall(format!(
            "{} would pay {} of a {} share of capital call {}",
            payment.recorded_by, share.paid, share.called, id
        )));
    }
    let (paid, called) = (share.paid, share.called);
    let mut t = totals(ctx, &payment.asset)?;
    t.capital_cash = add(t.capital_cash, a, "total cash capital")?;
    t.costs = add(t.costs, a, "total costs")?;
    TOTALS.save(ctx, &payment.asset, &t)?;
    let mut acc = account(ctx, &payment.asset, &payment.recorded_by)?;
    acc.capital = add(acc.capital, a, "the member's capital")?;
    ACCOUNTS.save(ctx, (payment.asset.as_str(), payment.recorded_by.as_str()), &acc)?;
    payment.status = Status::Counted;
    let mut events = vec![
        Event::new("call_paid")
            .attr("call", call.id)
            .attr("member", &payment.recorded_by)
            .attr("amount", a)
            .attr("paid", paid)
            .attr("called", called),
    ];
    if call.shares.values().all(|s| s.paid == s.called) {
        call.status = CallStatus::Funded;
        let mut cost = ENTRIES.load(ctx, call.entry)?;
        cost.status = Status::Counted;
        ENTRIES.save(ctx, cost.id, &cost)?;
        events.push(call_event("capital_call_funded", &call));
        events.push(entry_event("entry_counted", &cost));
    }
    CALLS.save(ctx, call.id, &call)?;
    Ok(events)
}

// ----- defaults -----

/// `apply_default`: once a call's period is over (op time after `due_ms`),
/// a current member's own op (or governance) applies the charter's default
/// terms to every member that missed its share, then calls what they
/// missed from the members who paid theirs in full, pro rata to their
/// economic units after the default (a new round, for the same period). If
/// no one paid in full, the cost is rejected and what the pool and the
/// payments had put into it returns to the pool.
pub fn execute_apply_default(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let by = if is_governance(ctx, config) {
        who(ctx)
    } else {
        require_member_op(ctx, config, "apply the default terms of a capital call")?
    };
    let terms = overrun_terms(config)?.clone();
    let mut call = load_call(ctx, id, CallStatus::Open)?;
    let now = ctx.time_ms();
    if now <= call.due_ms {
        return Err(TreasuryError::CallPeriod(format!(
            "capital call {id} is open until {} (now {now}); its default terms apply only after its period ends",
            call.due_ms
        )));
    }
    if let Some((member, share)) = call.shares.iter().find(|(_, s)| s.pending.0 > 0) {
        return Err(TreasuryError::CallPeriod(format!(
            "{member}'s payment of {} {} to capital call {id} awaits confirmation; confirm or reject it first",
            share.pending, call.asset
        )));
    }
    let units = economic_units(ctx, config)?;
    // Who paid in full and is still a member, weighted by economic units.
    let mut weights: BTreeMap<String, u128> = BTreeMap::new();
    for (member, share) in &call.shares {
        if share.paid == share.called
            && let Some(&(true, u)) = units.get(member)
            && u > 0
        {
            weights.insert(member.clone(), u128::from(u));
        }
    }
    // Diluted units go by the units held before this default; the next
    // round weighs the units after it.
    let before = weights.clone();
    let mut response = Response::new();
    let mut missed = Amount(0);
    let mut paid = Amount(0);
    let mut defaulters = Vec::new();
    for (member, share) in &call.shares {
        paid = add(paid, share.paid, "the round's payments")?;
        if share.paid == share.called {
            continue;
        }
        let unpaid = sub(share.called, share.paid, "the unpaid share")?;
        missed = add(missed, unpaid, "the missed shares")?;
        defaulters.push(member.clone());
        let (active, held) = units.get(member).copied().unwrap_or((false, 0));
        let reason = format!("missed capital call {id} ({unpaid} of {} {} unpaid)", share.called, call.asset);
        match &terms.on_default {
            DefaultTerms::Dilution { penalty_bps } => {
                let lost = diluted_units(held, *penalty_bps, unpaid, share.called)?;
                let to = if lost > 0 && !before.is_empty() {
                    largest_remainder(u128::from(lost), &before).map_err(split_error)?
                } else {
                    BTreeMap::new()
                };
                for (to_member, n) in &to {
                    let n =
                        u64::try_from(*n).map_err(|_| TreasuryError::Overflow("the diluted units".into()))?;
                    let transfer = MembershipMsg::TransferUnits {
                        from: member.clone(),
                        to: to_member.clone(),
                        voting_units: 0,
                        economic_units: n,
                    };
                    response = response.add_message(&config.membership, &transfer)?;
                    if let Some(w) = weights.get_mut(to_member) {
                        *w = w
                            .checked_add(u128::from(n))
                            .ok_or_else(|| TreasuryError::Overflow("units".into()))?;
                    }
                }
                let moved: u128 = to.values().sum();
                response = response.add_event(
                    Event::new("member_diluted")
                        .attr("call", id)
                        .attr("member", member)
                        .attr("unpaid", unpaid)
                        .attr("called", share.called)
                        .attr("units_before", held)
                        .attr("units_lost", moved)
                        .attr("to", pairs(&to)),
                );
            }
            DefaultTerms::BadLeaver {} => {
                let exit = config
                    .exit_module
                    .as_deref()
                    .ok_or_else(|| TreasuryError::Config("on_default bad_leaver needs exit_module".into()))?;
                if active {
                    let msg = ExitMsg::DefaultExit { member: member.clone(), reason: reason.clone() };
                    response = response.add_message(exit, &msg)?;
                }
                response = response.add_event(
                    Event::new("member_defaulted")
                        .attr("call", id)
                        .attr("member", member)
                        .attr("unpaid", unpaid)
                        .attr("called", share.called)
                        .attr("terms", "bad_leaver")
                        .attr("removed", active),
                );
            }
        }
    }
    if defaulters.is_empty() {
        // Unreachable: a call whose every share is paid is funded.
        return Err(TreasuryError::CallNotOpen { id, status: CallStatus::Funded, needed: "open" });
    }
    let carried = add(call.carried, paid, "what the cost has")?;
    call.defaulters = defaulters;
    let mut entry = ENTRIES.load(ctx, call.entry)?;
    if weights.is_empty() {
        // No one paid in full: the cost is not the partnership's; what it had returns to the pool.
        let mut t = totals(ctx, &call.asset)?;
        t.pool = add(t.pool, carried, "the pool")?;
        t.costs = sub(t.costs, carried, "total costs")?;
        TOTALS.save(ctx, &call.asset, &t)?;
        entry.status = Status::Rejected;
        entry.decided_by = Some(by.clone());
        entry.reason = Some(format!(
            "every member called in capital call {id} missed its share; {carried} {} paid toward it returned to the pool",
            call.asset
        ));
        REFS.remove(ctx, (entry.kind.name(), entry.reference.as_str()));
        call.status = CallStatus::Cancelled;
        response = response.add_event(call_event("capital_call_cancelled", &call).attr("returned", carried));
    } else {
        let next = CapitalCall {
            id: next_call_id(ctx)?,
            entry: call.entry,
            asset: call.asset.clone(),
            cost: call.cost,
            carried,
            amount: missed,
            shares: shares_of(&call.asset, missed, weights)?,
            status: CallStatus::Open,
            opened_ms: now,
            height: ctx.height(),
            due_ms: due(now, &terms)?,
            follows: Some(id),
            followed_by: None,
            defaulters: Vec::new(),
        };
        call.status = CallStatus::Defaulted;
        call.followed_by = Some(next.id);
        entry.call = Some(next.id);
        CALLS.save(ctx, next.id, &next)?;
        response = response
            .add_event(call_event("capital_call_defaulted", &call).attr("by", &by))
            .add_event(call_event("capital_call_opened", &next));
    }
    ENTRIES.save(ctx, entry.id, &entry)?;
    CALLS.save(ctx, id, &call)?;
    Ok(response.set_data(&call)?)
}

/// The economic units a defaulter loses: `floor(units × penalty_bps ×
/// unpaid / (10000 × called))`, exact for every input.
pub fn diluted_units(units: u64, penalty_bps: u32, unpaid: Amount, called: Amount) -> Result<u64> {
    let overflow = || TreasuryError::Overflow("the diluted units".into());
    if called.0 == 0 {
        return Ok(0);
    }
    let weighted = u128::from(units) * u128::from(penalty_bps);
    // floor(floor(x / called) / 10000) = floor(x / (called × 10000)), and
    // this way nothing overflows: the quotient is at most `weighted`.
    let (per_call, _) = mul_div(weighted, unpaid.0, called.0).ok_or_else(overflow)?;
    let lost = per_call / u128::from(BPS);
    u64::try_from(lost).map_err(|_| overflow())
}

// ----- helpers -----

fn overrun_terms(config: &Config) -> Result<&CallTerms> {
    config.overrun.terms().ok_or_else(|| {
        TreasuryError::NotAllowed(
            "this treasury refuses costs above the pool (overrun \"refuse\"); it has no capital calls".into(),
        )
    })
}

fn require_governance(ctx: &Ctx, config: &Config, what: &str) -> Result<()> {
    if is_governance(ctx, config) {
        return Ok(());
    }
    Err(TreasuryError::NotAllowed(format!(
        "only the governance module \"{}\" may {what}; propose it there",
        config.governance
    )))
}

/// The call `id`, which must stand at `needed`.
fn load_call(ctx: &QueryCtx, id: u64, needed: CallStatus) -> Result<CapitalCall> {
    let call = CALLS.may_load(ctx, id)?.ok_or(TreasuryError::NoSuchCall(id))?;
    if call.status != needed {
        let needed = if needed == CallStatus::Open { "open" } else { "awaiting_vote" };
        return Err(TreasuryError::CallNotOpen { id, status: call.status, needed });
    }
    Ok(call)
}

/// The call a payment pays, and the payer's share of it.
fn payment_share(ctx: &QueryCtx, payment: &Entry) -> Result<(CapitalCall, CallShare)> {
    let id = payment.call.ok_or_else(|| TreasuryError::Config("the payment names no capital call".into()))?;
    let call = CALLS.may_load(ctx, id)?.ok_or(TreasuryError::NoSuchCall(id))?;
    let share = call.shares.get(&payment.recorded_by).cloned().ok_or_else(|| {
        TreasuryError::NotAllowed(format!("{} has no share in capital call {id}", payment.recorded_by))
    })?;
    Ok((call, share))
}

fn share_mut<'a>(call: &'a mut CapitalCall, member: &str) -> Result<&'a mut CallShare> {
    let id = call.id;
    call.shares
        .get_mut(member)
        .ok_or_else(|| TreasuryError::NotAllowed(format!("{member} has no share in capital call {id}")))
}

fn next_call_id(ctx: &mut Ctx) -> Result<u64> {
    let id = CALL_COUNT.may_load(ctx)?.unwrap_or(0);
    CALL_COUNT
        .save(ctx, &id.checked_add(1).ok_or_else(|| TreasuryError::Overflow("the call counter".into()))?)?;
    Ok(id)
}

fn due(now: u64, terms: &CallTerms) -> Result<u64> {
    now.checked_add(terms.period_ms).ok_or_else(|| TreasuryError::Overflow("the call's due time".into()))
}

/// Per member membership knows: whether it is current, and its economic units.
fn economic_units(ctx: &QueryCtx, config: &Config) -> Result<BTreeMap<String, (bool, u64)>> {
    Ok(membership_api::all_members(ctx, &config.membership)?
        .into_iter()
        .map(|m| (m.member, (m.record.active, m.record.economic_units)))
        .collect())
}

/// The current members with economic units, weighted by them.
fn current_weights(ctx: &QueryCtx, config: &Config) -> Result<BTreeMap<String, u128>> {
    Ok(economic_units(ctx, config)?
        .into_iter()
        .filter(|(_, (active, units))| *active && *units > 0)
        .map(|(member, (_, units))| (member, u128::from(units)))
        .collect())
}

/// Splits `amount` into shares by `weights` (largest remainder; a member
/// whose share rounds to 0 is not called).
fn shares_of(
    asset: &str,
    amount: Amount,
    weights: BTreeMap<String, u128>,
) -> Result<BTreeMap<String, CallShare>> {
    if weights.is_empty() {
        return Err(TreasuryError::NoOneToCall { asset: asset.into(), amount });
    }
    let split = largest_remainder(amount.0, &weights).map_err(split_error)?;
    Ok(split
        .into_iter()
        .map(|(member, called)| (member, CallShare { called: Amount(called), ..CallShare::default() }))
        .collect())
}

fn split_error(e: SplitError) -> TreasuryError {
    TreasuryError::Overflow(format!("the call's split ({e})"))
}

/// `pm1a:600,pm1b:400`.
fn pairs(m: &BTreeMap<String, u128>) -> String {
    m.iter().map(|(k, v)| format!("{k}:{v}")).collect::<Vec<_>>().join(",")
}

fn call_event(kind: &str, c: &CapitalCall) -> Event {
    let shares: BTreeMap<String, u128> = c.shares.iter().map(|(k, s)| (k.clone(), s.called.0)).collect();
    Event::new(kind)
        .attr("call", c.id)
        .attr("entry", c.entry)
        .attr("asset", &c.asset)
        .attr("cost", c.cost)
        .attr("carried", c.carried)
        .attr("amount", c.amount)
        .attr("due_ms", c.due_ms)
        .attr("status", c.status.to_string())
        .attr("shares", pairs(&shares))
}
