//! The vesting module's rules: its entry points and one function per call
//! and query.
//!
//! This file owns what each message does: who may create and cancel
//! grants, what vests and is released when, and the membership `set_units`
//! message (built with `membership-api`) that moves released units, and
//! the milestone gate of a grant (asking the term module whether governance
//! approved the milestone, with the types of `term-api`).
//! `handle` and `query` only dispatch. It does not own the message formats
//! or the schedule arithmetic (`msg.rs`, from `vesting-api`), the storage
//! layout (`state.rs`) or the error texts (`error.rs`).

use membership_api::{HandleMsg as MembershipMsg, HasRoleResponse, MemberInfo, QueryMsg as MembershipQuery};
use polypact_sdk::{Ctx, Event, Json, QueryCtx, Response, to_json};

use crate::error::{Result, VestingError};
use crate::msg::{
    Amounts, Cancellation, Config, CreatedResponse, Grant, GrantsResponse, HandleMsg, QueryMsg,
    ReleasedResponse, Schedule, UnitKind, VestedResponse,
};
use crate::state::{BY_MEMBER, CONFIG, GRANTS, NEXT_ID};

/// Most grants one member may hold (cancelled ones included); keeps every
/// per-member walk bounded.
pub const MAX_GRANTS_PER_MEMBER: usize = 64;
/// Most steps of a stepped schedule.
pub const MAX_STEPS: u32 = 10_000;

// ----- entry points -----

/// `init`: validates and stores the config.
pub fn init(ctx: &mut Ctx, config: Config) -> Result<Response> {
    for (what, name) in [
        ("membership", &config.membership),
        ("governance", &config.governance),
        ("exit_module", &config.exit_module),
    ] {
        if name.trim().is_empty() {
            return Err(VestingError::Config(format!("{what} must name a module instance")));
        }
    }
    if config.term_module.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(VestingError::Config("term_module, if given, must name a module instance".into()));
    }
    if config.admin_role.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return Err(VestingError::Config("admin_role, if given, must not be empty".into()));
    }
    CONFIG.save(ctx, &config)?;
    NEXT_ID.save(ctx, &1)?;
    Ok(Response::new().add_event(
        Event::new("vesting_configured")
            .attr("membership", &config.membership)
            .attr("governance", &config.governance)
            .attr("exit_module", &config.exit_module),
    ))
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    match msg {
        HandleMsg::CreateGrant {
            member,
            units,
            unit_kind,
            start_ms,
            cliff_ms,
            duration_ms,
            steps,
            milestone,
        } => {
            let schedule = Schedule { start_ms, cliff_ms, duration_ms, steps };
            execute_create_grant(ctx, &config, member, units, unit_kind, schedule, milestone)
        }
        HandleMsg::Claim {} => execute_claim(ctx, &config),
        HandleMsg::Release { member } => execute_release(ctx, &config, &member),
        HandleMsg::CancelOnExit { member, keep_vested } => {
            execute_cancel_on_exit(ctx, &config, member, keep_vested)
        }
        HandleMsg::CancelGrant { grant, keep_vested } => {
            execute_cancel_grant(ctx, &config, grant, keep_vested)
        }
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    Ok(match msg {
        QueryMsg::Vested { member, at_ms } => {
            to_json(&vested(ctx, &CONFIG.load(ctx)?, &member, at_ms.unwrap_or(ctx.time_ms()))?)?
        }
        QueryMsg::Grant { id } => to_json(&GRANTS.may_load(ctx, id)?.ok_or(VestingError::UnknownGrant(id))?)?,
        QueryMsg::Grants { member } => to_json(&GrantsResponse { grants: grants_of(ctx, &member)? })?,
        QueryMsg::Config {} => to_json(&CONFIG.load(ctx)?)?,
    })
}

// ----- calls -----

/// `create_grant`: governance, or an op of a member with the admin role,
/// grants units to a current member on a schedule, gated on a milestone of
/// the term module if it names one.
pub fn execute_create_grant(
    ctx: &mut Ctx,
    config: &Config,
    member: String,
    units: u64,
    unit_kind: UnitKind,
    schedule: Schedule,
    milestone: Option<String>,
) -> Result<Response> {
    let by = creator(ctx, config)?;
    if units == 0 {
        return Err(VestingError::BadGrant("units must be above 0".into()));
    }
    check_schedule(&schedule)?;
    if let Some(id) = &milestone {
        // The milestone must exist now: a typo would gate the grant for ever.
        milestone_approved(ctx, config, id)?;
    }
    if member_view(ctx, config, &member)?.is_none() {
        return Err(VestingError::NotMember(member));
    }
    if grants_of(ctx, &member)?.len() >= MAX_GRANTS_PER_MEMBER {
        return Err(VestingError::TooManyGrants(member));
    }
    let id = NEXT_ID.load(ctx)?;
    NEXT_ID.save(ctx, &id.checked_add(1).ok_or(VestingError::Overflow)?)?;
    let grant = Grant {
        id,
        member: member.clone(),
        units,
        unit_kind,
        schedule: schedule.clone(),
        released: 0,
        created_by: by.clone(),
        cancelled: None,
        milestone: milestone.clone(),
    };
    GRANTS.save(ctx, id, &grant)?;
    BY_MEMBER.save(ctx, (&member, id), &())?;
    let event = Event::new("grant_created")
        .attr("grant", id)
        .attr("member", member)
        .attr("units", units)
        .attr("unit_kind", if unit_kind == UnitKind::Economic { "economic" } else { "voting" })
        .attr("start_ms", schedule.start_ms)
        .attr("cliff_ms", schedule.cliff_ms)
        .attr("duration_ms", schedule.duration_ms)
        .attr("steps", schedule.steps.map_or_else(|| "linear".to_string(), |s| s.to_string()))
        .attr("milestone", milestone.unwrap_or_default())
        .attr("by", by);
    Ok(Response::new().add_event(event).set_data(&CreatedResponse { id })?)
}

/// `claim`: the member's own op releases its vested units.
pub fn execute_claim(ctx: &mut Ctx, config: &Config) -> Result<Response> {
    if ctx.sender_module().is_some() {
        return Err(VestingError::NotAllowed(
            "claim is an op of the member itself; a module may send release {member}".into(),
        ));
    }
    let member = ctx.caller().to_owned();
    execute_release(ctx, config, &member)
}

/// `release`: releases a current member's vested units (anyone: it only
/// moves what is due).
pub fn execute_release(ctx: &mut Ctx, config: &Config, member: &str) -> Result<Response> {
    if member_view(ctx, config, member)?.is_none() {
        return Err(VestingError::NotMember(member.into()));
    }
    let grants = grants_of(ctx, member)?;
    let (response, out) = settle(ctx, config, member, grants, None)?;
    if out.economic == 0 && out.voting == 0 {
        return Err(VestingError::NothingToRelease(member.into()));
    }
    Ok(response)
}

/// `cancel_on_exit`: the exit module cancels a leaver's grants, releasing
/// what has vested if `keep_vested`.
pub fn execute_cancel_on_exit(
    ctx: &mut Ctx,
    config: &Config,
    member: String,
    keep_vested: bool,
) -> Result<Response> {
    if ctx.sender_module() != Some(config.exit_module.as_str()) {
        return Err(VestingError::NotAllowed(format!(
            "only the exit module \"{}\" may cancel grants on exit",
            config.exit_module
        )));
    }
    let grants = grants_of(ctx, &member)?;
    let (response, _) = settle(ctx, config, &member, grants, Some(("exit", keep_vested)))?;
    Ok(response)
}

/// `cancel_grant`: governance cancels one grant.
pub fn execute_cancel_grant(
    ctx: &mut Ctx,
    config: &Config,
    grant: u64,
    keep_vested: bool,
) -> Result<Response> {
    if ctx.sender_module() != Some(config.governance.as_str()) {
        return Err(VestingError::NotAllowed(format!(
            "only the governance module \"{}\" may cancel a grant; propose it there",
            config.governance
        )));
    }
    let g = GRANTS.may_load(ctx, grant)?.ok_or(VestingError::UnknownGrant(grant))?;
    if g.cancelled.is_some() {
        return Err(VestingError::Cancelled(grant));
    }
    let member = g.member.clone();
    let (response, _) = settle(ctx, config, &member, vec![g], Some(("governance", keep_vested)))?;
    Ok(response)
}

/// Releases what is due on `grants` (or, with `cancel`, cancels them), and
/// builds the membership `set_units` message that moves the units.
fn settle(
    ctx: &mut Ctx,
    config: &Config,
    member: &str,
    grants: Vec<Grant>,
    cancel: Option<(&str, bool)>,
) -> Result<(Response, ReleasedResponse)> {
    let now = ctx.time_ms();
    let mut out = ReleasedResponse::default();
    let mut events = Vec::new();
    for mut g in grants {
        if g.cancelled.is_some() {
            continue;
        }
        let due = match cancel {
            Some((_, false)) => 0,
            _ => g.releasable_at(now, gate_open(ctx, config, &g)?),
        };
        if let Some((by, keep_vested)) = cancel {
            let kept = g.released.checked_add(due).ok_or(VestingError::Overflow)?;
            let forfeited = g.units.saturating_sub(kept);
            out.forfeited = out.forfeited.checked_add(forfeited).ok_or(VestingError::Overflow)?;
            g.cancelled = Some(Cancellation {
                at_ms: now,
                height: ctx.height(),
                by: by.into(),
                keep_vested,
                forfeited,
            });
            events.push(
                Event::new("grant_cancelled")
                    .attr("grant", g.id)
                    .attr("member", member)
                    .attr("by", by)
                    .attr("keep_vested", keep_vested)
                    .attr("released", due)
                    .attr("forfeited", forfeited),
            );
        } else if due > 0 {
            events.push(
                Event::new("units_released")
                    .attr("grant", g.id)
                    .attr("member", member)
                    .attr("unit_kind", if g.unit_kind == UnitKind::Economic { "economic" } else { "voting" })
                    .attr("units", due),
            );
        }
        g.released = g.released.checked_add(due).ok_or(VestingError::Overflow)?;
        let slot = match g.unit_kind {
            UnitKind::Economic => &mut out.economic,
            UnitKind::Voting => &mut out.voting,
        };
        *slot = slot.checked_add(due).ok_or(VestingError::Overflow)?;
        GRANTS.save(ctx, g.id, &g)?;
    }
    let mut response = Response::new();
    for e in events {
        response = response.add_event(e);
    }
    if out.economic > 0 || out.voting > 0 {
        let current =
            member_view(ctx, config, member)?.ok_or_else(|| VestingError::NotMember(member.into()))?;
        let economic =
            current.record.economic_units.checked_add(out.economic).ok_or(VestingError::Overflow)?;
        let voting = current.record.voting_units.checked_add(out.voting).ok_or(VestingError::Overflow)?;
        let set_units = MembershipMsg::SetUnits {
            member: member.into(),
            voting_units: Some(voting),
            economic_units: Some(economic),
        };
        response = response.add_message(&config.membership, &set_units)?;
    }
    let response = response.set_data(&out)?;
    Ok((response, out))
}

/// Refuses a schedule that cannot vest: no duration, a cliff past the
/// end, an end past `u64::MAX`, or steps outside 1 to [`MAX_STEPS`].
fn check_schedule(schedule: &Schedule) -> Result<()> {
    if schedule.duration_ms == 0 {
        return Err(VestingError::BadGrant("duration_ms must be above 0".into()));
    }
    if schedule.cliff_ms > schedule.duration_ms {
        return Err(VestingError::BadGrant(format!(
            "cliff_ms ({}) cannot exceed duration_ms ({})",
            schedule.cliff_ms, schedule.duration_ms
        )));
    }
    if schedule.start_ms.checked_add(schedule.duration_ms).is_none() {
        return Err(VestingError::BadGrant("start_ms + duration_ms overflows".into()));
    }
    if let Some(steps) = schedule.steps
        && (steps == 0 || steps > MAX_STEPS)
    {
        return Err(VestingError::BadGrant(format!("steps must be 1 to {MAX_STEPS}, got {steps}")));
    }
    Ok(())
}

/// Who creates a grant: governance (`module:<name>`) or a member with the
/// admin role, in its own op.
fn creator(ctx: &Ctx, config: &Config) -> Result<String> {
    if ctx.sender_module() == Some(config.governance.as_str()) {
        return Ok(format!("module:{}", config.governance));
    }
    if ctx.sender_module().is_none()
        && let Some(role) = &config.admin_role
    {
        let query = MembershipQuery::HasRole { member: ctx.caller().into(), role: role.clone() };
        let answer: HasRoleResponse = ctx.query(&config.membership, &query)?;
        if answer.has_role {
            return Ok(ctx.caller().to_owned());
        }
    }
    let admins = match &config.admin_role {
        Some(role) => format!(" or a member with role \"{role}\""),
        None => String::new(),
    };
    Err(VestingError::NotAllowed(format!(
        "only the governance module \"{}\"{admins} may create grants",
        config.governance
    )))
}

/// A current member's record, from membership; `None` for a stranger or a
/// former member.
fn member_view(ctx: &QueryCtx, config: &Config, member: &str) -> Result<Option<MemberInfo>> {
    Ok(membership_api::member(ctx, &config.membership, member)?.filter(|m| m.record.active))
}

fn grants_of(ctx: &QueryCtx, member: &str) -> Result<Vec<Grant>> {
    let mut out = Vec::new();
    for entry in BY_MEMBER.prefix(member).iter(ctx) {
        let (id, ()) = entry?;
        out.push(GRANTS.load(ctx, id)?);
    }
    Ok(out)
}

// ----- queries -----

/// `vested`: a member's sums at `at_ms`, over all its grants (a grant
/// gated on a milestone not approved yet has vested nothing).
pub fn vested(ctx: &QueryCtx, config: &Config, member: &str, at_ms: u64) -> Result<VestedResponse> {
    let mut answer = VestedResponse { at_ms, ..VestedResponse::default() };
    for g in grants_of(ctx, member)? {
        let open = gate_open(ctx, config, &g)?;
        match g.unit_kind {
            UnitKind::Economic => add_grant(&mut answer.economic, &g, at_ms, open)?,
            UnitKind::Voting => add_grant(&mut answer.voting, &g, at_ms, open)?,
        }
        if g.cancelled.is_none() && g.schedule.in_cliff(at_ms) {
            answer.in_cliff = true;
        }
    }
    answer.vested = answer.economic.vested.checked_add(answer.voting.vested).ok_or(VestingError::Overflow)?;
    answer.unvested =
        answer.economic.unvested.checked_add(answer.voting.unvested).ok_or(VestingError::Overflow)?;
    Ok(answer)
}

/// Adds a grant's sums at `at_ms` to `sums`.
fn add_grant(sums: &mut Amounts, g: &Grant, at_ms: u64, open: bool) -> Result<()> {
    let sum = |a: u64, b: u64| a.checked_add(b).ok_or(VestingError::Overflow);
    sums.vested = sum(sums.vested, g.vested_at(at_ms, open))?;
    sums.unvested = sum(sums.unvested, g.unvested_at(at_ms, open))?;
    sums.released = sum(sums.released, g.released)?;
    sums.releasable = sum(sums.releasable, g.releasable_at(at_ms, open))?;
    Ok(())
}

/// Whether a grant's milestone gate is open: it names none, or governance
/// approved it in the term module.
fn gate_open(ctx: &QueryCtx, config: &Config, g: &Grant) -> Result<bool> {
    match &g.milestone {
        None => Ok(true),
        Some(id) => milestone_approved(ctx, config, id),
    }
}

/// Whether the term module's milestone `id` is approved, asking the term
/// module with the types of `term-api`. Fails if there is no term module
/// or no such milestone.
fn milestone_approved(ctx: &QueryCtx, config: &Config, id: &str) -> Result<bool> {
    let Some(term) = &config.term_module else {
        return Err(VestingError::BadGrant(format!(
            "a grant gated on milestone {id:?} needs the config's term_module, the term instance that holds it"
        )));
    };
    let view: term_api::MilestoneView =
        ctx.query(term, &term_api::QueryMsg::Milestone { id: id.to_owned() })?;
    Ok(view.milestone.is_approved())
}
