//! The treasury module's rules: its entry points and one function per call
//! and query.
//!
//! This file owns what each message does, except distribution
//! (`distribute.rs`) and capital calls (`calls.rs`, called from here when a
//! cost above the pool or a payment of a call counts): recording,
//! confirming and rejecting ledger entries, in-kind contributions, payouts
//! of claims, spending, replacing the split, and the queries; who may send each (a current member's own op, a
//! confirmer, a treasurer, governance, the exit module), asking membership
//! with the types of `membership-api` and reading a spend's proposal with
//! those of `voting-api`. `handle` and `query` only dispatch. It does not
//! own the message formats (`msg.rs`, from `treasury-api`), the storage
//! layout (`state.rs`), the input checks (`validate.rs`) or the error texts
//! (`error.rs`).

use std::collections::BTreeMap;

use polypact_sdk::{Ctx, Event, Json, QueryCtx, Response, to_json};
use voting_api::{ProposalMsg, ProposalView, QueryMsg as GovernanceQuery, Status as ProposalStatus};

use crate::calls::{
    count_payment, drop_pending, execute_apply_default, execute_approve_overrun, execute_decline_overrun,
    execute_pay_call, note_pending, open_overrun,
};
use crate::distribute::{execute_distribute, execute_distribute_all, execute_payout_fair_share, plan};
use crate::error::{Result, TreasuryError};
use crate::msg::{
    Amount, AssetTotals, BalancesResponse, Config, Confirmation, Contribution, DistributionRecord, Entry,
    EntryKind, Frozen, HandleMsg, InitConfig, PaidFrom, Payout, QueryMsg, RecordedResponse, Split,
    StatementResponse, StatementRow, Status, TrancheProgress, WaterfallResponse,
};
use crate::state::{
    ACCOUNTS, CALLS, CONFIG, CONTRIBUTIONS, COUNTERS, Counters, DISTRIBUTIONS, ENTRIES, FROZEN, PAYOUT_REFS,
    PAYOUTS, REFS, SPLIT, TOTALS, TRANCHE_PAID, USED_PROPOSALS, account, outstanding_capital, totals,
    tranche_paid,
};
use crate::validate::{
    MAX_REFERENCE_LEN, MAX_TEXT_LEN, add, check_asset, check_split, check_text, nonzero, sub, validate,
};

/// Page size of list queries when not set.
pub const DEFAULT_PAGE: u32 = 30;
/// The largest page.
pub const MAX_PAGE: u32 = 100;

// ----- entry points -----

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

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    match msg {
        HandleMsg::RecordRevenue { asset, amount, reference, counterparty, note } => {
            let new = NewEntry {
                kind: EntryKind::Revenue,
                asset,
                amount,
                reference,
                counterparty,
                note,
                call: None,
            };
            execute_record_entry(ctx, &config, new, None)
        }
        HandleMsg::RecordCost { asset, amount, reference, counterparty, note, paid_from } => {
            let new =
                NewEntry { kind: EntryKind::Cost, asset, amount, reference, counterparty, note, call: None };
            execute_record_entry(ctx, &config, new, Some(paid_from))
        }
        HandleMsg::ContributeCapital { asset, amount, reference, note } => {
            let counterparty = String::new();
            let new = NewEntry {
                kind: EntryKind::Capital,
                asset,
                amount,
                reference,
                counterparty,
                note,
                call: None,
            };
            execute_record_entry(ctx, &config, new, None)
        }
        HandleMsg::ConfirmEntry { id } => execute_confirm_entry(ctx, &config, id),
        HandleMsg::RejectEntry { id, reason } => execute_reject_entry(ctx, &config, id, reason),
        HandleMsg::DeclareContribution { asset, value, description, category } => {
            execute_declare_contribution(ctx, &config, asset, value, description, category)
        }
        HandleMsg::ValueContribution { id, value } => execute_value_contribution(ctx, &config, id, value),
        HandleMsg::RejectContribution { id, reason } => execute_reject_contribution(ctx, &config, id, reason),
        HandleMsg::Distribute { asset, amount } => execute_distribute(ctx, &config, asset, amount),
        HandleMsg::DistributeAll {} => execute_distribute_all(ctx, &config),
        HandleMsg::PayoutFairShare { member, units, total_units } => {
            execute_payout_fair_share(ctx, &config, member, units, total_units)
        }
        HandleMsg::RecordPayout { member, asset, amount, reference } => {
            execute_record_payout(ctx, &config, member, asset, amount, reference)
        }
        HandleMsg::ConfirmPayout { id, evidence } => execute_confirm_payout(ctx, &config, id, evidence),
        HandleMsg::ReceivePayment { asset, amount, reference } => {
            execute_receive_payment(ctx, &config, asset, amount, reference)
        }
        HandleMsg::Freeze { subject, dispute } => execute_freeze(ctx, &config, subject, dispute),
        HandleMsg::Release { subject } => execute_release(ctx, &config, subject),
        HandleMsg::ReverseEntry { id, reason } => execute_reverse_entry(ctx, &config, id, reason),
        HandleMsg::CancelPayout { id, reason } => execute_cancel_payout(ctx, id, reason),
        HandleMsg::Spend { asset, amount, to, reference, proposal } => {
            execute_spend(ctx, &config, asset, amount, to, reference, proposal)
        }
        HandleMsg::PayCall { call, amount, reference, member } => {
            execute_pay_call(ctx, &config, call, amount, reference, member)
        }
        HandleMsg::ApplyDefault { call } => execute_apply_default(ctx, &config, call),
        HandleMsg::ApproveOverrun { call } => execute_approve_overrun(ctx, &config, call),
        HandleMsg::DeclineOverrun { call } => execute_decline_overrun(ctx, &config, call),
        HandleMsg::SetSplit(split) => execute_set_split(ctx, &config, split),
        HandleMsg::EndProgramFee {} => execute_end_program_fee(ctx, config),
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    let answer = match msg {
        QueryMsg::Config {} => to_json(&config)?,
        QueryMsg::Balances {} => to_json(&query_balances(ctx, &config)?)?,
        QueryMsg::Statement { member } => to_json(&query_statement(ctx, &config, &member)?)?,
        QueryMsg::Split {} => to_json(&SPLIT.load(ctx)?)?,
        QueryMsg::Waterfall {} => to_json(&query_waterfall(ctx, &config)?)?,
        QueryMsg::Preview { asset, amount } => {
            check_asset(&config, &asset)?;
            let amount = amount.unwrap_or(totals(ctx, &asset)?.pool);
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
        QueryMsg::ProposalKind { msg } => to_json(&query_proposal_kind(&config, &msg))?,
        QueryMsg::Payouts { start_after, limit } => {
            let items: Vec<Payout> =
                PAYOUTS.range(ctx, start_after, page(limit))?.into_iter().map(|(_, p)| p).collect();
            to_json(&items)?
        }
        QueryMsg::Distributions { start_after, limit } => {
            let items: Vec<DistributionRecord> =
                DISTRIBUTIONS.range(ctx, start_after, page(limit))?.into_iter().map(|(_, d)| d).collect();
            to_json(&items)?
        }
        QueryMsg::CapitalCall { id } => {
            to_json(&CALLS.may_load(ctx, id)?.ok_or(TreasuryError::NoSuchCall(id))?)?
        }
        QueryMsg::CapitalCalls { start_after, limit } => {
            let items: Vec<crate::msg::CapitalCall> =
                CALLS.range(ctx, start_after, page(limit))?.into_iter().map(|(_, c)| c).collect();
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

// ----- entries -----

/// What a member records with `record_revenue`, `record_cost`,
/// `contribute_capital` or `pay_call`: the fields of the [`Entry`] it becomes.
pub(crate) struct NewEntry {
    pub(crate) kind: EntryKind,
    pub(crate) asset: String,
    pub(crate) amount: Amount,
    pub(crate) reference: String,
    pub(crate) counterparty: String,
    pub(crate) note: String,
    /// The capital call a payment pays.
    pub(crate) call: Option<u64>,
}

/// `record_revenue`, `record_cost` and `contribute_capital`: a member's own
/// op records an entry; it counts now, or once confirmed if the config asks.
fn execute_record_entry(
    ctx: &mut Ctx,
    config: &Config,
    new: NewEntry,
    paid_from: Option<PaidFrom>,
) -> Result<Response> {
    let recorder = require_member_op(ctx, config, &format!("record {}", new.kind.name()))?;
    let counted = config.confirmation == Confirmation::None;
    record_entry(ctx, config, new, paid_from, recorder, counted)
}

/// The longest reference a paying partnership may give a payment.
const MAX_PAYMENT_REFERENCE_LEN: usize = 64;

/// `receive_payment`: another partnership (a message from it, `pp1…`)
/// pays this one; a revenue entry from it, pending until a current member
/// confirms the money arrived, whatever `confirmation` says (the sender is
/// no member here, and nothing it says counts by itself).
pub fn execute_receive_payment(
    ctx: &mut Ctx,
    config: &Config,
    asset: String,
    amount: Amount,
    reference: String,
) -> Result<Response> {
    let from = ctx.caller().to_owned();
    if ctx.sender_module().is_some() || !polypact_sdk::is_partnership_member(&from) {
        return Err(TreasuryError::NotAllowed(
            "receive_payment comes from another partnership (pp1…), sent by its treasury".into(),
        ));
    }
    check_text(&reference, "reference", true, MAX_PAYMENT_REFERENCE_LEN)?;
    let new = NewEntry {
        kind: EntryKind::Revenue,
        asset,
        amount,
        reference: format!("{from}/{reference}"),
        counterparty: from.clone(),
        note: "payment from a partnership this one is a member of".into(),
        call: None,
    };
    record_entry(ctx, config, new, None, from, false)
}

/// Records an entry by `recorder`; it counts now if `counted`, else once
/// confirmed.
pub(crate) fn record_entry(
    ctx: &mut Ctx,
    config: &Config,
    new: NewEntry,
    paid_from: Option<PaidFrom>,
    recorder: String,
    counted: bool,
) -> Result<Response> {
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
        call: new.call,
    };
    let events = if counted {
        count_entry(ctx, config, &mut entry, false)?
    } else {
        if entry.call.is_some() {
            note_pending(ctx, &entry)?;
        }
        Vec::new()
    };
    REFS.save(ctx, (entry.kind.name(), entry.reference.as_str()), &id)?;
    ENTRIES.save(ctx, id, &entry)?;
    let call = if entry.status == Status::Called { entry.call } else { None };
    let mut response = Response::new()
        .add_event(entry_event("entry_recorded", &entry).attr("status", entry.status.to_string()));
    for event in events {
        response = response.add_event(event);
    }
    Ok(response.set_data(&RecordedResponse { id, status: entry.status, call })?)
}

/// Makes an entry count: a pool cost the pool cannot cover opens its
/// capital call (or waits on the vote) under the config's `overrun`; a
/// payment of a call counts toward it; anything else takes effect now.
/// Returns the events of what it set off.
fn count_entry(ctx: &mut Ctx, config: &Config, entry: &mut Entry, was_pending: bool) -> Result<Vec<Event>> {
    if entry.kind == EntryKind::Cost
        && entry.paid_from.unwrap_or_default() == PaidFrom::Pool
        && config.overrun.terms().is_some()
    {
        let t = totals(ctx, &entry.asset)?;
        if sub(t.pool, t.frozen, "the pool not in dispute")? < entry.amount {
            return open_overrun(ctx, config, entry);
        }
    }
    if entry.kind == EntryKind::Capital && entry.call.is_some() {
        return count_payment(ctx, entry, was_pending);
    }
    apply_entry(ctx, entry)?;
    entry.status = Status::Counted;
    Ok(Vec::new())
}

fn pending_entry(ctx: &QueryCtx, id: u64) -> Result<Entry> {
    let e = ENTRIES.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "entry", id })?;
    if e.status != Status::Pending {
        return Err(TreasuryError::NotPending { what: "entry", id, status: e.status });
    }
    Ok(e)
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

/// `confirm_entry`: a confirmer (not the recorder) makes a pending entry count.
pub fn execute_confirm_entry(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let mut entry = pending_entry(ctx, id)?;
    let by = require_confirmer(ctx, config, &entry, "confirm")?;
    let events = count_entry(ctx, config, &mut entry, true)?;
    entry.decided_by = Some(by.clone());
    ENTRIES.save(ctx, id, &entry)?;
    let mut response = Response::new().add_event(
        entry_event("entry_confirmed", &entry).attr("by", by).attr("status", entry.status.to_string()),
    );
    for event in events {
        response = response.add_event(event);
    }
    let call = if entry.status == Status::Called { entry.call } else { None };
    Ok(response.set_data(&RecordedResponse { id, status: entry.status, call })?)
}

/// `reject_entry`: a confirmer rejects a pending entry, or its recorder withdraws it.
pub fn execute_reject_entry(ctx: &mut Ctx, config: &Config, id: u64, reason: String) -> Result<Response> {
    check_text(&reason, "reason", false, MAX_TEXT_LEN)?;
    let mut entry = pending_entry(ctx, id)?;
    let by = if ctx.sender_module().is_none() && ctx.caller() == entry.recorded_by {
        entry.recorded_by.clone() // withdrawn by its recorder
    } else {
        require_confirmer(ctx, config, &entry, "reject")?
    };
    if entry.call.is_some() {
        drop_pending(ctx, &entry)?;
    }
    REFS.remove(ctx, (entry.kind.name(), entry.reference.as_str()));
    entry.status = Status::Rejected;
    entry.decided_by = Some(by.clone());
    entry.reason = Some(reason);
    ENTRIES.save(ctx, id, &entry)?;
    Ok(Response::new().add_event(entry_event("entry_rejected", &entry).attr("by", by)))
}

// ----- contributions -----

/// `declare_contribution`: a member's own op declares an in-kind contribution.
pub fn execute_declare_contribution(
    ctx: &mut Ctx,
    config: &Config,
    asset: String,
    value: Amount,
    description: String,
    category: String,
) -> Result<Response> {
    let member = require_member_op(ctx, config, "declare a contribution")?;
    check_asset(config, &asset)?;
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
        .set_data(&RecordedResponse { id, status: Status::Pending, call: None })?)
}

/// `value_contribution`: governance values a contribution (as declared if
/// `value` is absent), which adds to the member's capital.
pub fn execute_value_contribution(
    ctx: &mut Ctx,
    config: &Config,
    id: u64,
    value: Option<Amount>,
) -> Result<Response> {
    if !is_governance(ctx, config) {
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

/// `reject_contribution`: governance rejects a contribution.
pub fn execute_reject_contribution(
    ctx: &mut Ctx,
    config: &Config,
    id: u64,
    reason: String,
) -> Result<Response> {
    if !is_governance(ctx, config) {
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

fn pending_contribution(ctx: &QueryCtx, id: u64) -> Result<Contribution> {
    let c = CONTRIBUTIONS.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "contribution", id })?;
    if c.status != Status::Pending {
        return Err(TreasuryError::NotPending { what: "contribution", id, status: c.status });
    }
    Ok(c)
}

// ----- payouts -----

/// `record_payout`: the payer's own op records a payout of a member's claim.
pub fn execute_record_payout(
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
        evidence: None,
    };
    PAYOUT_REFS.save(ctx, &p.reference, &id)?;
    PAYOUTS.save(ctx, id, &p)?;
    Ok(Response::new()
        .add_event(payout_event("payout_recorded", &p).attr("payer", &p.payer))
        .set_data(&RecordedResponse { id, status: Status::Pending, call: None })?)
}

pub(crate) fn payout_event(kind: &str, p: &Payout) -> Event {
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

/// `confirm_payout`: the payee confirms a payout arrived (governance, once
/// the payee is no longer a participant).
pub fn execute_confirm_payout(
    ctx: &mut Ctx,
    config: &Config,
    id: u64,
    evidence: Option<String>,
) -> Result<Response> {
    let mut p = load_pending_payout(ctx, id)?;
    if let Some(dispute) = FROZEN.may_load(ctx, ("payout", id))? {
        return Err(TreasuryError::NotAllowed(format!(
            "payout {id} is in dispute {dispute}; it is confirmed once the dispute is over"
        )));
    }
    let own_op = ctx.sender_module().is_none();
    // A partnership payee is never a participant: it is gone once it is no
    // longer a member.
    let payee_gone = if polypact_sdk::is_partnership_member(&p.member) {
        !is_current_member(ctx, config, &p.member)?
    } else {
        !ctx.is_participant(&p.member)?
    };
    let by = if own_op && ctx.caller() == p.member {
        p.member.clone()
    } else if is_governance(ctx, config) && payee_gone {
        who(ctx) // the payee has left the partnership and cannot sign any more
    } else if own_op && payee_gone && ctx.caller() != p.payer && ctx.is_participant(ctx.caller())? {
        // A former partner is still paid: another partner than the payer
        // confirms, citing what shows the money arrived.
        let cited = evidence.as_deref().unwrap_or("");
        check_text(cited, "evidence", true, MAX_REFERENCE_LEN)?;
        p.evidence = Some(cited.to_owned());
        ctx.caller().to_owned()
    } else {
        return Err(TreasuryError::NotAllowed(format!(
            "only the payee {} confirms payout {id}; once the payee is no longer a participant, another partner \
             than the payer {} confirms it with evidence (or governance does)",
            p.member, p.payer
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

/// `cancel_payout`: the payer or payee cancels a pending payout.
pub fn execute_cancel_payout(ctx: &mut Ctx, id: u64, reason: String) -> Result<Response> {
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

// ----- disputes -----

/// Whether the disputes module sent this message.
fn is_disputes(ctx: &Ctx, config: &Config) -> bool {
    config.disputes.is_some() && ctx.sender_module() == config.disputes.as_deref()
}

fn require_disputes(ctx: &Ctx, config: &Config, what: &str) -> Result<()> {
    if is_disputes(ctx, config) {
        return Ok(());
    }
    Err(TreasuryError::NotAllowed(format!(
        "only the disputes module {:?} may {what}",
        config.disputes.as_deref().unwrap_or("(none configured)")
    )))
}

/// `freeze`: a counted entry's amount is held in the pool (not distributed
/// or spent), or a pending payout cannot be confirmed, while a dispute is
/// about it.
pub fn execute_freeze(ctx: &mut Ctx, config: &Config, subject: Frozen, dispute: u64) -> Result<Response> {
    require_disputes(ctx, config, "freeze")?;
    let (kind, id) = frozen_key(subject);
    if let Some(other) = FROZEN.may_load(ctx, (kind, id))? {
        return Err(TreasuryError::NotAllowed(format!("{kind} {id} is already in dispute {other}")));
    }
    if let Frozen::Entry(id) = subject {
        let entry = ENTRIES.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "entry", id })?;
        if entry.status == Status::Counted && adds_to_pool(&entry) {
            let mut t = totals(ctx, &entry.asset)?;
            let free = sub(t.pool, t.frozen, "the pool not in dispute")?;
            if free < entry.amount {
                return Err(TreasuryError::NotAllowed(format!(
                    "entry {id}'s {} {} is no longer in the pool (only {free} is, not in dispute): it was distributed",
                    entry.amount, entry.asset
                )));
            }
            t.frozen = add(t.frozen, entry.amount, "frozen")?;
            TOTALS.save(ctx, &entry.asset, &t)?;
        }
    } else {
        load_pending_payout(ctx, id)?;
    }
    FROZEN.save(ctx, (kind, id), &dispute)?;
    Ok(Response::new()
        .add_event(Event::new("frozen").attr("what", kind).attr("id", id).attr("dispute", dispute)))
}

/// `release`: the dispute is over; the entry's amount (or the payout) is free again.
pub fn execute_release(ctx: &mut Ctx, config: &Config, subject: Frozen) -> Result<Response> {
    require_disputes(ctx, config, "release")?;
    let (kind, id) = frozen_key(subject);
    let Some(dispute) = FROZEN.may_load(ctx, (kind, id))? else {
        return Err(TreasuryError::NotAllowed(format!("{kind} {id} is not in dispute")));
    };
    if let Frozen::Entry(id) = subject
        && let Some(entry) = ENTRIES.may_load(ctx, id)?
        && entry.status == Status::Counted
        && adds_to_pool(&entry)
    {
        let mut t = totals(ctx, &entry.asset)?;
        t.frozen = Amount(t.frozen.0.saturating_sub(entry.amount.0));
        TOTALS.save(ctx, &entry.asset, &t)?;
    }
    FROZEN.remove(ctx, (kind, id));
    Ok(Response::new()
        .add_event(Event::new("released").attr("what", kind).attr("id", id).attr("dispute", dispute)))
}

/// `reverse_entry`: a ruling (or governance) undoes a counted revenue or
/// capital entry whose amount is still in the pool.
pub fn execute_reverse_entry(ctx: &mut Ctx, config: &Config, id: u64, reason: String) -> Result<Response> {
    if !(is_disputes(ctx, config) || is_governance(ctx, config)) {
        return Err(TreasuryError::NotAllowed(
            "only a ruling (the disputes module) or governance reverses an entry".into(),
        ));
    }
    check_text(&reason, "reason", true, MAX_TEXT_LEN)?;
    let mut entry = ENTRIES.may_load(ctx, id)?.ok_or(TreasuryError::NotFound { what: "entry", id })?;
    if entry.status != Status::Counted || !adds_to_pool(&entry) {
        return Err(TreasuryError::NotAllowed(format!(
            "entry {id} is not a counted revenue or capital entry"
        )));
    }
    let mut t = totals(ctx, &entry.asset)?;
    if FROZEN.may_load(ctx, ("entry", id))?.is_some() {
        // Reversing ends what the dispute held.
        t.frozen = Amount(t.frozen.0.saturating_sub(entry.amount.0));
        FROZEN.remove(ctx, ("entry", id));
    }
    take_from_pool(&mut t, &entry.asset, entry.amount, "reversing this entry")?;
    match entry.kind {
        EntryKind::Revenue => t.revenue = sub(t.revenue, entry.amount, "revenue")?,
        _ => t.capital_cash = sub(t.capital_cash, entry.amount, "capital")?,
    }
    TOTALS.save(ctx, &entry.asset, &t)?;
    entry.status = Status::Reversed;
    entry.decided_by = Some(who(ctx));
    entry.reason = Some(reason);
    ENTRIES.save(ctx, id, &entry)?;
    Ok(Response::new().add_event(entry_event("entry_reversed", &entry)))
}

fn frozen_key(subject: Frozen) -> (&'static str, u64) {
    match subject {
        Frozen::Entry(id) => ("entry", id),
        Frozen::Payout(id) => ("payout", id),
    }
}

/// Whether a counted entry put its amount into the pool (a payment of a
/// capital call went to its cost, not into the pool).
fn adds_to_pool(entry: &Entry) -> bool {
    matches!(entry.kind, EntryKind::Revenue | EntryKind::Capital) && entry.call.is_none()
}

// ----- spending -----

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
    let p: ProposalView = ctx.query(&config.governance, &GovernanceQuery::Proposal { id })?;
    if p.proposal.kind != kind && !p.proposal.rules.contains_key(kind) {
        return Err(TreasuryError::BadProposal(format!(
            "proposal {id} is of kind {:?}; spends above the limit need kind {kind:?}",
            p.proposal.kind
        )));
    }
    if p.status != ProposalStatus::Executed {
        return Err(TreasuryError::BadProposal(format!("proposal {id} is {}, not executed", p.status)));
    }
    let carries = p.proposal.messages.iter().any(|m| match m {
        ProposalMsg::Call { module, msg: inner } => {
            module == ctx.module()
                && serde_json::from_value::<HandleMsg>(inner.clone()).ok().as_ref() == Some(msg)
        }
        ProposalMsg::System(_) | ProposalMsg::Partnership { .. } => false,
    });
    if !carries {
        return Err(TreasuryError::BadProposal(format!("proposal {id} does not carry this exact spend")));
    }
    Ok(id)
}

/// `spend`: spends from the pool; up to the asset's limit a treasurer's own
/// op, above it only governance (with the proposal that carries exactly
/// this spend, if the config names a `spend_vote_kind`).
pub fn execute_spend(
    ctx: &mut Ctx,
    config: &Config,
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
            let msg = HandleMsg::Spend {
                asset: asset.clone(),
                amount,
                to: to.clone(),
                reference: reference.clone(),
                proposal,
            };
            used = Some(check_spend_proposal(ctx, config, kind, &msg, proposal)?);
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
        call: None,
    };
    apply_entry(ctx, &entry)?;
    if let Some(p) = used {
        USED_PROPOSALS.save(ctx, p, &())?;
    }
    REFS.save(ctx, (EntryKind::Spend.name(), entry.reference.as_str()), &id)?;
    ENTRIES.save(ctx, id, &entry)?;
    Ok(Response::new()
        .add_event(entry_event("spent", &entry).attr("to", &entry.counterparty).attr("limit", limit))
        .set_data(&RecordedResponse { id, status: Status::Counted, call: None })?)
}

/// `end_program_fee`: governance (this partnership's own decision) ends the
/// program fee.
pub fn execute_end_program_fee(ctx: &mut Ctx, mut config: Config) -> Result<Response> {
    if !is_governance(ctx, &config) {
        return Err(TreasuryError::NotAllowed(format!(
            "only the governance module \"{}\" ends the program fee: propose it there",
            config.governance
        )));
    }
    let Some(fee) = config.program_fee.take() else {
        return Err(TreasuryError::NotAllowed("there is no program fee to end".into()));
    };
    CONFIG.save(ctx, &config)?;
    Ok(Response::new()
        .add_event(Event::new("program_fee_ended").attr("partnership", fee.partnership).attr("bps", fee.bps)))
}

/// Takes the program fee, if any, off `amount` of `asset` about to be
/// distributed: a counted spend to the program and a `receive_payment` to
/// its treasury. Returns what is left to split.
pub(crate) fn take_program_fee(
    ctx: &mut Ctx,
    config: &Config,
    asset: &str,
    amount: Amount,
    response: Response,
) -> Result<(Amount, Response)> {
    let Some(fee) = &config.program_fee else { return Ok((amount, response)) };
    let (share, _) = crate::split::mul_div(amount.0, u128::from(fee.bps), 10_000)
        .ok_or_else(|| TreasuryError::Overflow("the program fee".into()))?;
    if share == 0 {
        return Ok((amount, response));
    }
    let share = Amount(share);
    let id = next_id(ctx, |c| &mut c.entry)?;
    let reference = format!("program-fee-{id}");
    let entry = Entry {
        id,
        kind: EntryKind::Spend,
        asset: asset.to_owned(),
        amount: share,
        reference: reference.clone(),
        counterparty: fee.partnership.clone(),
        note: format!("program fee, {} bps", fee.bps),
        recorded_by: who(ctx),
        paid_from: None,
        proposal: None,
        status: Status::Counted,
        decided_by: None,
        reason: None,
        height: ctx.height(),
        time_ms: ctx.time_ms(),
        call: None,
    };
    apply_entry(ctx, &entry)?;
    REFS.save(ctx, (EntryKind::Spend.name(), entry.reference.as_str()), &id)?;
    ENTRIES.save(ctx, id, &entry)?;
    let payment = HandleMsg::ReceivePayment { asset: asset.to_owned(), amount: share, reference };
    let response = response
        .add_event(entry_event("program_fee_paid", &entry).attr("to", &fee.partnership))
        .send_to_partnership(
        fee.partnership.clone(),
        crate::msg::MEMBER_PARTNERSHIP_TREASURY,
        &payment,
    )?;
    let rest = crate::validate::sub(amount, share, "the amount after the program fee")?;
    Ok((rest, response))
}

/// `set_split`: governance or a split manager replaces the split; tranche
/// progress restarts.
pub fn execute_set_split(ctx: &mut Ctx, config: &Config, split: Split) -> Result<Response> {
    let by_manager = ctx.sender_module().is_some_and(|m| config.split_managers.iter().any(|s| s == m));
    if !(is_governance(ctx, config) || by_manager) {
        return Err(TreasuryError::NotAllowed(format!(
            "only the governance module \"{}\" or a split manager may set the split; propose it there",
            config.governance
        )));
    }
    check_split(config, &split)?;
    let progress: Vec<(u64, String)> =
        TRANCHE_PAID.iter(ctx).map(|r| r.map(|(k, _)| k)).collect::<core::result::Result<_, _>>()?;
    for (i, asset) in progress {
        TRANCHE_PAID.remove(ctx, (i, asset.as_str()));
    }
    SPLIT.save(ctx, &split)?;
    Ok(Response::new().add_event(Event::new("split_set").attr("split", split.kind()).attr("by", who(ctx))))
}

// ----- helpers -----

pub(crate) fn next_id(ctx: &mut Ctx, pick: impl FnOnce(&mut Counters) -> &mut u64) -> Result<u64> {
    let mut counters = COUNTERS.may_load(ctx)?.unwrap_or_default();
    let slot = pick(&mut counters);
    let id = *slot;
    *slot = id.checked_add(1).ok_or_else(|| TreasuryError::Overflow("the id counter".into()))?;
    COUNTERS.save(ctx, &counters)?;
    Ok(id)
}

/// Takes `amount` from an asset's pool, or refuses if the pool holds less.
pub(crate) fn take_from_pool(t: &mut AssetTotals, asset: &str, amount: Amount, what: &str) -> Result<()> {
    let free = sub(t.pool, t.frozen, "the pool not in dispute")?;
    if free < amount && !what.starts_with("reversing") {
        return Err(TreasuryError::InsufficientPool {
            asset: asset.into(),
            pool: free,
            needed: amount,
            what: if t.frozen.0 > 0 {
                format!("{what} (entries in dispute hold {} of the pool)", t.frozen)
            } else {
                what.to_owned()
            },
        });
    }
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

pub(crate) fn entry_event(kind: &str, e: &Entry) -> Event {
    Event::new(kind)
        .attr("id", e.id)
        .attr("kind", e.kind.name())
        .attr("asset", &e.asset)
        .attr("amount", e.amount)
        .attr("reference", &e.reference)
        .attr("recorded_by", &e.recorded_by)
}

// ----- who may -----

/// The caller, if this is a member's own op (not a module message) and it is a current member.
pub(crate) fn require_member_op(ctx: &Ctx, config: &Config, what: &str) -> Result<String> {
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

/// Whether the governance module sent this message.
pub(crate) fn is_governance(ctx: &Ctx, config: &Config) -> bool {
    ctx.sender_module() == Some(config.governance.as_str())
}

/// Whether the exit module sent this message.
pub(crate) fn is_exit(ctx: &Ctx, config: &Config) -> bool {
    config.exit_module.is_some() && ctx.sender_module() == config.exit_module.as_deref()
}

/// Who sent this call, as recorded: a member id, or `module:<name>`.
pub(crate) fn who(ctx: &Ctx) -> String {
    match ctx.sender_module() {
        Some(m) => format!("module:{m}"),
        None => ctx.caller().to_owned(),
    }
}

/// Whether `member` is a current member, asking membership.
fn is_current_member(ctx: &QueryCtx, config: &Config, member: &str) -> Result<bool> {
    Ok(membership_api::member(ctx, &config.membership, member)?.is_some_and(|m| m.record.active))
}

/// Whether `member` is current and has `role`, asking membership.
fn has_role(ctx: &QueryCtx, config: &Config, member: &str, role: &str) -> Result<bool> {
    let query = membership_api::QueryMsg::HasRole { member: member.into(), role: role.into() };
    let answer: membership_api::HasRoleResponse = ctx.query(&config.membership, &query)?;
    Ok(answer.has_role)
}

// ----- queries -----

/// `proposal_kind`: the decision-table kind of one of this module's
/// messages. By content: a spend is the config's `spend_vote_kind` only
/// above the asset's limit (below it a treasurer spends alone).
pub fn query_proposal_kind(config: &Config, msg: &serde_json::Value) -> voting_api::KindResponse {
    let kind = match serde_json::from_value::<HandleMsg>(msg.clone()) {
        Ok(HandleMsg::Spend { asset, amount, .. })
            if amount > config.spend_vote_above.get(&asset).copied().unwrap_or_default() =>
        {
            config.spend_vote_kind.clone()
        }
        Ok(HandleMsg::SetSplit(_)) => Some("split_change".to_owned()),
        _ => None,
    };
    voting_api::KindResponse { kind }
}

fn page(limit: Option<u32>) -> u32 {
    limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE)
}

/// `balances`: pool and claims per asset, with running totals.
pub fn query_balances(ctx: &QueryCtx, config: &Config) -> Result<BalancesResponse> {
    let mut out = BalancesResponse::default();
    for asset in config.assets.keys() {
        let t = totals(ctx, asset)?;
        out.pool.insert(asset.clone(), t.pool);
        out.claims_total.insert(asset.clone(), t.claims);
        out.totals.insert(asset.clone(), t);
    }
    Ok(out)
}

/// `statement`: a member's account per asset.
pub fn query_statement(ctx: &QueryCtx, config: &Config, member: &str) -> Result<StatementResponse> {
    let mut out = StatementResponse::new();
    for asset in config.assets.keys() {
        let acc = account(ctx, asset, member)?;
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
    Ok(out)
}

/// `waterfall`: what each tranche has paid, and capital still to recoup.
pub fn query_waterfall(ctx: &QueryCtx, config: &Config) -> Result<WaterfallResponse> {
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
    Ok(WaterfallResponse { recoup, recoupable, tranches })
}
