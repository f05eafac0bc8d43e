//! Distribution: moving money from the pool into members' claims.
//!
//! This file owns `distribute`, `distribute_all` and `payout_fair_share`:
//! the weights of a split in an asset (membership economic units for pro
//! rata, basis points, capital accounts), the plan of a distribution
//! (recoup, capped tranches, the rest; the `preview` query answers it) and
//! its effect on accounts, tranche progress and totals. The arithmetic of
//! sharing an amount by weights is `split.rs`; who may send what is checked
//! here with the helpers of `contract.rs`.

use std::collections::BTreeMap;

use polypact_sdk::{Ctx, Event, QueryCtx, Response};

use crate::contract::{
    is_exit, is_governance, next_id, payout_event, require_member_op, take_from_pool, take_program_fee, who,
};
use crate::error::{Result, TreasuryError};
use crate::msg::{
    Amount, BaseSplit, Config, DistributeResponse, DistributionRecord, DistributionView, FairShareResponse,
    HandleMsg, MEMBER_PARTNERSHIP_TREASURY, Payout, Split, Status,
};
use crate::split::{self, SplitError, TrancheInput};
use crate::state::{
    ACCOUNTS, DISTRIBUTION_COUNT, DISTRIBUTIONS, PAYOUT_REFS, PAYOUTS, SPLIT, TOTALS, TRANCHE_PAID, account,
    outstanding_capital, totals, tranche_paid,
};
use crate::validate::{add, check_asset, check_member_id, nonzero, sub};

/// `distribute`: moves `amount` of `asset`'s pool (the whole pool if
/// absent; every asset's if no asset) into claims by the split in force.
/// Governance, the exit module, or a current member's own op.
pub fn execute_distribute(
    ctx: &mut Ctx,
    config: &Config,
    asset: Option<String>,
    amount: Option<Amount>,
) -> Result<Response> {
    if !(is_governance(ctx, config) || is_exit(ctx, config)) {
        require_member_op(ctx, config, "distribute")?;
    }
    match (asset, amount) {
        (None, Some(_)) => Err(TreasuryError::BadText(
            "an amount needs an asset: {\"distribute\":{\"asset\":\"EUR\",\"amount\":100}}".into(),
        )),
        (None, None) => distribute_all(ctx, config),
        (Some(asset), amount) => {
            check_asset(config, &asset)?;
            let t = totals(ctx, &asset)?;
            // What entries in dispute hold stays in the pool.
            let pool = Amount(t.pool.0.saturating_sub(t.frozen.0));
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
            let (amount, response) = take_program_fee(ctx, config, &asset, amount, Response::new())?;
            let mut data = DistributeResponse::default();
            if amount.0 == 0 {
                return Ok(response.set_data(&data)?);
            }
            let view = distribute_one(ctx, config, &split, &asset, amount)?;
            let event = distributed_event(&view, &who(ctx));
            let response = transfer_to_partnerships(ctx, &asset, &view.shares, response.add_event(event))?;
            data.distributed.insert(asset, view);
            Ok(response.set_data(&data)?)
        }
    }
}

/// `distribute_all`: distributes every asset's whole pool (the exit module
/// or governance, e.g. on dissolution).
pub fn execute_distribute_all(ctx: &mut Ctx, config: &Config) -> Result<Response> {
    if !(is_governance(ctx, config) || is_exit(ctx, config)) {
        return Err(TreasuryError::NotAllowed(format!(
            "only the exit module or the governance module \"{}\" may send distribute_all; members use distribute",
            config.governance
        )));
    }
    distribute_all(ctx, config)
}

/// `payout_fair_share`: the exit module moves `floor(pool * units /
/// total_units)` of every asset into a leaving member's claim.
pub fn execute_payout_fair_share(
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
    let mut response = Response::new();
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
            keep_record(ctx, asset, share, Some(member.clone()))?;
            let mut acc = account(ctx, asset, &member)?;
            acc.earned = add(acc.earned, share, "the member's earnings")?;
            ACCOUNTS.save(ctx, (asset.as_str(), member.as_str()), &acc)?;
            let one = BTreeMap::from([(member.clone(), share)]);
            response = transfer_to_partnerships(ctx, asset, &one, response)?;
        }
        paid.insert(asset.clone(), share);
    }
    let listed: Vec<String> = paid.iter().map(|(a, v)| format!("{a}:{v}")).collect();
    Ok(response
        .add_event(
            Event::new("fair_share_paid")
                .attr("member", &member)
                .attr("units", units)
                .attr("total_units", total_units)
                .attr("paid", listed.join(",")),
        )
        .set_data(&FairShareResponse { paid })?)
}

/// Pays each partnership member (`pp1…`) its share in `asset` at once: a
/// payout, confirmed, and a `receive_payment` message to that
/// partnership's treasury ([`MEMBER_PARTNERSHIP_TREASURY`]), delivered
/// there once this op is final (the charter must give this treasury the
/// `message_partnerships` permission, or the distribution fails). Money
/// between two partnerships' books moves by that message; the receiver
/// counts it once one of its members confirms it arrived.
fn transfer_to_partnerships(
    ctx: &mut Ctx,
    asset: &str,
    shares: &BTreeMap<String, Amount>,
    mut response: Response,
) -> Result<Response> {
    for (member, share) in shares {
        if share.0 == 0 || !polypact_sdk::is_partnership_member(member) {
            continue;
        }
        let id = next_id(ctx, |c| &mut c.payout)?;
        let reference = format!("transfer-{id}");
        let mut acc = account(ctx, asset, member)?;
        acc.paid = add(acc.paid, *share, "paid")?;
        ACCOUNTS.save(ctx, (asset, member.as_str()), &acc)?;
        let mut t = totals(ctx, asset)?;
        t.claims = sub(t.claims, *share, "claims")?;
        t.paid_out = add(t.paid_out, *share, "total paid out")?;
        TOTALS.save(ctx, asset, &t)?;
        let payout = Payout {
            id,
            member: member.clone(),
            asset: asset.to_owned(),
            amount: *share,
            reference: reference.clone(),
            payer: who(ctx),
            status: Status::Confirmed,
            decided_by: Some("transfer between partnerships".into()),
            reason: None,
            height: ctx.height(),
            evidence: Some(format!("sent to the {MEMBER_PARTNERSHIP_TREASURY} of {member}")),
        };
        PAYOUT_REFS.save(ctx, &reference, &id)?;
        PAYOUTS.save(ctx, id, &payout)?;
        let payment = HandleMsg::ReceivePayment { asset: asset.to_owned(), amount: *share, reference };
        response = response.add_event(payout_event("payout_sent", &payout)).send_to_partnership(
            member.clone(),
            MEMBER_PARTNERSHIP_TREASURY,
            &payment,
        )?;
    }
    Ok(response)
}

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
    keep_record(ctx, asset, amount, None)?;
    Ok(view)
}

/// Keeps a record of a move of `amount` of `asset` from the pool into
/// claims (the `distributions` query's history).
fn keep_record(ctx: &mut Ctx, asset: &str, amount: Amount, fair_share_of: Option<String>) -> Result<()> {
    let id = DISTRIBUTION_COUNT.may_load(ctx)?.unwrap_or(0);
    let record = DistributionRecord {
        id,
        asset: asset.to_owned(),
        amount,
        fair_share_of,
        by: who(ctx),
        height: ctx.height(),
        time_ms: ctx.time_ms(),
    };
    DISTRIBUTIONS.save(ctx, id, &record)?;
    DISTRIBUTION_COUNT.save(ctx, &(id + 1))?;
    Ok(())
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
        let t = totals(ctx, asset)?;
        let pool = Amount(t.pool.0.saturating_sub(t.frozen.0));
        if pool.0 == 0 {
            continue;
        }
        let (pool, after_fee) = take_program_fee(ctx, config, asset, pool, response)?;
        response = after_fee;
        if pool.0 == 0 {
            continue;
        }
        let view = distribute_one(ctx, config, &split, asset, pool)?;
        response = response.add_event(distributed_event(&view, &by));
        response = transfer_to_partnerships(ctx, asset, &view.shares, response)?;
        data.distributed.insert(asset.clone(), view);
    }
    Ok(response.set_data(&data)?)
}

/// Economic units of every member with some (current and former), in id order.
fn economic_units(ctx: &QueryCtx, config: &Config) -> Result<BTreeMap<String, u128>> {
    Ok(membership_api::all_members(ctx, &config.membership)?
        .into_iter()
        .filter(|m| m.record.economic_units > 0)
        .map(|m| (m.member, u128::from(m.record.economic_units)))
        .collect())
}
