//! Buyouts: offers of a member's economic units, the other members' right
//! of first refusal, sales, and the payables they leave.
//!
//! This file owns `offer_units`, `accept_offer`, `sell_to_outsider`,
//! `set_price`, `close_offer` and `confirm_payment`, and the offers a
//! leaving member's units go on (from `leave` in `contract.rs`): pricing
//! (fixed, from the treasury pool read with `treasury-api`, or by vote),
//! pro-rata allotments, moving units with membership's `transfer_units` and
//! removing a leaving seller when its offer closes (or withdrawing the
//! offer of a seller removed for a capital-call default).

use membership_api::{HandleMsg as MembershipMsg, MemberInfo, QueryMsg as MembershipQuery, Totals};
use polypact_sdk::{Ctx, Event, QueryCtx, Response};
use treasury_api::{BalancesResponse, QueryMsg as TreasuryQuery};

use crate::contract::{
    active_member, all_members, check_may_exit, forget, member_op, member_view, require_governance,
};
use crate::error::{ExitError, Result};
use crate::msg::{BuyoutTerms, Config, Offer, Price};
use crate::state::{ALLOTMENTS, DEPARTURES, OFFERS, PAYABLES, PENDING_DEPARTURES, RECEIVABLES};

/// `offer_units`: the caller offers some of its economic units to the other members.
pub fn execute_offer_units(ctx: &mut Ctx, config: &Config, economic_units: u64) -> Result<Response> {
    let member = member_op(ctx, "offer units")?;
    let m = active_member(ctx, config, &member)?;
    buyout_terms(config)?;
    if OFFERS.has(ctx, &member)? {
        return Err(ExitError::Offer(format!("{member} already has an open offer")));
    }
    if economic_units == 0 || economic_units > m.record.economic_units {
        return Err(ExitError::Invalid(format!(
            "economic_units must be 1 to {} (what {member} holds), got {economic_units}",
            m.record.economic_units
        )));
    }
    if economic_units == m.record.economic_units && m.record.voting_units == 0 {
        return Err(ExitError::Invalid(format!(
            "{member} would hold no units after selling all; use leave to sell everything"
        )));
    }
    check_may_exit(ctx, config, &m, false)?;
    let (_, opened) = open_offer(ctx, config, &member, economic_units, false)?;
    Ok(Response::new().add_event(opened))
}

/// `accept_offer`: the caller, a member, buys units of an open offer (in the
/// first-refusal window, at most its pro-rata allotment).
pub fn execute_accept_offer(
    ctx: &mut Ctx,
    config: &Config,
    seller: String,
    economic_units: u64,
) -> Result<Response> {
    let buyer = member_op(ctx, "accept an offer")?;
    let offer = load_offer(ctx, &seller)?;
    if buyer == seller {
        return Err(ExitError::Offer("a seller cannot buy its own units".into()));
    }
    if member_view(ctx, config, &buyer)?.is_none() {
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
    sell(ctx, config, offer, &buyer, economic_units)
}

/// `sell_to_outsider`: governance sells units of an offer to a named buyer,
/// after the first-refusal window.
pub fn execute_sell_to_outsider(
    ctx: &mut Ctx,
    config: &Config,
    seller: String,
    buyer: String,
    economic_units: u64,
) -> Result<Response> {
    require_governance(ctx, config, "sell units to an outsider")?;
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
    if member_view(ctx, config, &buyer)?.is_none() {
        return Err(ExitError::Offer(format!(
            "{buyer} must be admitted to membership before it buys (admit it earlier in the same proposal)"
        )));
    }
    sell(ctx, config, offer, &buyer, economic_units)
}

/// `set_price`: governance prices an offer (`vote` pricing).
pub fn execute_set_price(ctx: &mut Ctx, config: &Config, seller: String, per_unit: u128) -> Result<Response> {
    require_governance(ctx, config, "set an offer's price")?;
    let mut offer = load_offer(ctx, &seller)?;
    if !matches!(buyout_terms(config)?.price, Price::Vote { .. }) {
        return Err(ExitError::Offer("the price is set by the config's formula, not by vote".into()));
    }
    if !offer.sales.is_empty() {
        return Err(ExitError::Offer(format!("{seller}'s offer already has sales; its price is fixed")));
    }
    offer.per_unit = Some(per_unit);
    OFFERS.save(ctx, &seller, &offer)?;
    Ok(Response::new().add_event(Event::new("price_set").attr("seller", seller).attr("per_unit", per_unit)))
}

/// `close_offer`: closes an offer that is sold out or past its end, or one
/// its seller withdraws.
pub fn execute_close_offer(ctx: &mut Ctx, config: &Config, seller: String) -> Result<Response> {
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
        true => member_view(ctx, config, &seller)?.map_or(0, |m| m.record.economic_units),
        false => 0,
    };
    close(ctx, config, offer, Response::new(), left)
}

/// `confirm_payment`: a creditor confirms it was paid (part of) what a buyer owes it.
pub fn execute_confirm_payment(
    ctx: &mut Ctx,
    debtor: String,
    asset: String,
    amount: u128,
    creditor: Option<String>,
    reference: Option<String>,
) -> Result<Response> {
    let caller = member_op(ctx, "confirm a payment")?;
    let (creditor, confirmed_by) = match creditor {
        Some(creditor) if creditor != caller => {
            // A former partner is still paid: another partner than the
            // debtor confirms for it, citing what shows the money arrived.
            if ctx.is_participant(&creditor)? {
                return Err(ExitError::NotAllowed(format!(
                    "{creditor} is a participant and confirms its own payments"
                )));
            }
            if caller == debtor || !ctx.is_participant(&caller)? {
                return Err(ExitError::NotAllowed(format!(
                    "only a current partner other than the debtor {debtor} confirms a payment to the former partner {creditor}"
                )));
            }
            let reference = reference.unwrap_or_default();
            if reference.trim().is_empty() || reference.len() > 256 {
                return Err(ExitError::Invalid(
                    "confirming for a former partner needs a reference of 1 to 256 bytes (what shows the money arrived)"
                        .into(),
                ));
            }
            (creditor, Some((caller, reference)))
        }
        _ => (caller, None),
    };
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
    let mut event = Event::new("payment_confirmed")
        .attr("debtor", debtor)
        .attr("creditor", creditor)
        .attr("asset", asset)
        .attr("amount", amount)
        .attr("still_owed", rest);
    if let Some((by, reference)) = confirmed_by {
        event = event.attr("confirmed_by", by).attr("reference", reference);
    }
    Ok(Response::new().add_event(event))
}

// ----- offers -----

fn buyout_terms(config: &Config) -> Result<&BuyoutTerms> {
    config.buyout.as_ref().ok_or(ExitError::NoBuyout)
}

/// Opens an offer of `units` of `seller`, with pro-rata allotments for the
/// other current members.
pub(crate) fn open_offer(
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
            let balances: BalancesResponse = ctx.query(&config.treasury, &TreasuryQuery::Balances {})?;
            let totals: Totals = ctx.query(&config.membership, &MembershipQuery::Totals {})?;
            let all =
                totals.economic_units.checked_add(totals.former_economic_units).ok_or(ExitError::Overflow)?;
            if all == 0 {
                return Err(ExitError::Offer("there are no economic units to price a unit by".into()));
            }
            let pool = balances.pool.get(asset).map_or(0, |a| a.0);
            Some(pool / u128::from(all))
        }
    };
    let others = other_holders(ctx, config, seller)?;
    let sum: u128 = others.iter().map(|m| u128::from(m.record.economic_units)).sum();
    if sum == 0 {
        return Err(ExitError::Offer(format!(
            "no other member holds economic units, so no member can exercise first refusal on {seller}'s units"
        )));
    }
    for m in &others {
        let share = u128::from(units) * u128::from(m.record.economic_units) / sum;
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
pub(crate) fn other_holders(ctx: &QueryCtx, config: &Config, seller: &str) -> Result<Vec<MemberInfo>> {
    Ok(all_members(ctx, config)?
        .into_iter()
        .filter(|m| m.record.active && m.member != seller && m.record.economic_units > 0)
        .collect())
}

pub(crate) fn load_offer(ctx: &QueryCtx, seller: &str) -> Result<Offer> {
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
            &MembershipMsg::TransferUnits {
                from: offer.seller.clone(),
                to: buyer.into(),
                voting_units: 0,
                economic_units: units,
            },
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
            true => member_view(ctx, config, &offer.seller)?
                .map_or(0, |m| m.record.economic_units)
                .saturating_sub(units),
            false => 0,
        };
        response = close(ctx, config, offer, response, left)?;
    } else {
        OFFERS.save(ctx, &offer.seller.clone(), &offer)?;
    }
    Ok(response)
}

/// Closes `offer`; a leaving seller is removed, keeping `left_units` as its claim.
/// Withdraws `offer` without a sale or a departure of its own: its seller
/// is removed another way (a capital-call default, `default_exit`), so the
/// offer cannot shelter it. Units already sold stay sold; a leaving
/// seller's pending departure is replaced by the removal.
pub(crate) fn withdraw_for_default(ctx: &mut Ctx, offer: &Offer) -> Result<Event> {
    let seller = offer.seller.as_str();
    remove_offer(ctx, seller)?;
    PENDING_DEPARTURES.remove(ctx, seller);
    Ok(Event::new("offer_closed")
        .attr("seller", seller)
        .attr("sold", offer.units - offer.remaining)
        .attr("unsold", offer.remaining)
        .attr("withdrawn", "default"))
}

/// Removes `seller`'s offer and its allotments.
fn remove_offer(ctx: &mut Ctx, seller: &str) -> Result<()> {
    OFFERS.remove(ctx, seller);
    let allotted: Vec<String> = ALLOTMENTS
        .prefix(seller)
        .iter(ctx)
        .map(|r| r.map(|(member, _)| member))
        .collect::<core::result::Result<_, _>>()?;
    for member in allotted {
        ALLOTMENTS.remove(ctx, (seller, &member));
    }
    Ok(())
}

fn close(
    ctx: &mut Ctx,
    config: &Config,
    offer: Offer,
    response: Response,
    left_units: u64,
) -> Result<Response> {
    let seller = offer.seller.as_str();
    remove_offer(ctx, seller)?;
    let mut response = response.add_event(
        Event::new("offer_closed")
            .attr("seller", seller)
            .attr("sold", offer.units - offer.remaining)
            .attr("unsold", offer.remaining),
    );
    if offer.leaving {
        response = response.add_message(
            &config.membership,
            &MembershipMsg::RemoveMember { member: seller.into(), economic_units: left_units },
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
