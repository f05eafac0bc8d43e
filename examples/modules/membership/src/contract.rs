//! The membership module's rules: its entry points and one function per
//! call and query.
//!
//! This file owns what each message does: who may send it (governance, a
//! manager module, an admin, the member itself), what it checks, what it
//! writes and which events and system messages it returns. `handle` and
//! `query` only dispatch. It does not own the message formats (`msg.rs`,
//! from `membership-api`), the storage layout (`state.rs`) or the error
//! texts (`error.rs`).

use std::collections::BTreeSet;

use polypact_sdk::{Ctx, Event, Json, Map, QueryCtx, Response, SystemMsg, to_json};

use crate::error::{MembershipError, Result};
use crate::msg::{
    Acceptance, AcceptanceResponse, Config, DEFAULT_PAGE, HandleMsg, HasRoleResponse, InitConfig, MAX_PAGE,
    Member, MemberInfo, MembersResponse, Pending, PendingAdmission, PowerResponse, QueryMsg, Terms, Totals,
};
use crate::state::{
    ACCEPTANCES, APPLICATIONS, CONFIG, INVITATIONS, MEMBERS, PENDING, TOTALS, checkpoint, save_totals,
    total_units_at, units_at,
};

/// The role that may invite, admit invitees and change units and roles.
pub const ADMIN_ROLE: &str = "admin";
/// The longest role name.
pub const MAX_ROLE_LEN: usize = 64;

// ----- entry points -----

/// `init`: stores the founding members (already participants) and the governance module.
pub fn init(ctx: &mut Ctx, config: InitConfig) -> Result<Response> {
    if config.governance.trim().is_empty() {
        return Err(MembershipError::NoGovernance);
    }
    if config.members.is_empty() {
        return Err(MembershipError::NoMembers);
    }
    let mut managers = BTreeSet::new();
    for m in &config.managers {
        if m.trim().is_empty() || *m == config.governance || !managers.insert(m.as_str()) {
            return Err(MembershipError::BadManager(m.clone()));
        }
    }
    let participants = ctx.participants()?;
    // The founders accept the terms the genesis sets: its charter names them.
    let genesis_terms =
        Acceptance { terms: ctx.terms()?.terms, height: ctx.height(), time_ms: ctx.time_ms() };
    let mut totals = Totals::default();
    let mut seen = BTreeSet::new();
    let mut response = Response::new();
    for m in &config.members {
        if !seen.insert(m.member.clone()) {
            return Err(MembershipError::DuplicateMember(m.member.clone()));
        }
        // A founding partnership member (`pp1…`) is no participant: it acts by
        // messages from its own decisions.
        let partnership = polypact_sdk::is_partnership_member(&m.member);
        if !partnership && !participants.iter().any(|p| p.member == m.member) {
            return Err(MembershipError::NotParticipant(m.member.clone()));
        }
        if m.voting_units == 0 && m.economic_units == 0 {
            return Err(MembershipError::ZeroUnits(m.member.clone()));
        }
        check_roles(&m.roles)?;
        let record = Member {
            voting_units: m.voting_units,
            economic_units: m.economic_units,
            roles: m.roles.clone(),
            active: true,
            joined_at: ctx.height(),
            left_at: None,
        };
        MEMBERS.save(ctx, &m.member, &record)?;
        ACCEPTANCES.save(ctx, &m.member, &genesis_terms)?;
        checkpoint(ctx, &m.member, m.voting_units)?;
        totals.voting_units = add(totals.voting_units, m.voting_units)?;
        totals.economic_units = add(totals.economic_units, m.economic_units)?;
        totals.members += 1;
        response = response.add_event(member_event("member_added", &m.member, &record));
    }
    save_totals(ctx, &totals)?;
    CONFIG.save(
        ctx,
        &Config {
            governance: config.governance.clone(),
            managers: config.managers.clone(),
            require_acceptance: config.require_acceptance,
        },
    )?;
    Ok(response.add_event(
        Event::new("membership_created")
            .attr("governance", config.governance)
            .attr("members", totals.members)
            .attr("voting_units", totals.voting_units)
            .attr("economic_units", totals.economic_units),
    ))
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    match msg {
        HandleMsg::Invite { invitee, voting_units, economic_units, roles } => {
            execute_invite(ctx, invitee, voting_units, economic_units, roles)
        }
        HandleMsg::RevokeInvitation { invitee } => execute_revoke_invitation(ctx, invitee),
        HandleMsg::AdmitInvited { invitee } => execute_admit_invited(ctx, invitee),
        HandleMsg::Apply { applicant, voting_units, economic_units, roles, sponsor } => {
            execute_apply(ctx, applicant, voting_units, economic_units, roles, sponsor)
        }
        HandleMsg::Admit { member, voting_units, economic_units, roles } => {
            execute_admit(ctx, member, voting_units, economic_units, roles)
        }
        HandleMsg::AcceptTerms { terms } => execute_accept_terms(ctx, terms),
        HandleMsg::Resign {} => execute_resign(ctx),
        HandleMsg::Expel { member } => execute_expel(ctx, member),
        HandleMsg::SetUnits { member, voting_units, economic_units } => {
            execute_set_units(ctx, member, voting_units, economic_units)
        }
        HandleMsg::TransferUnits { from, to, voting_units, economic_units } => {
            execute_transfer_units(ctx, from, to, voting_units, economic_units)
        }
        HandleMsg::RemoveMember { member, economic_units } => {
            execute_remove_member(ctx, &member, economic_units)
        }
        HandleMsg::GrantRole { member, role } => execute_change_role(ctx, member, role, true),
        HandleMsg::RevokeRole { member, role } => execute_change_role(ctx, member, role, false),
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let answer = match msg {
        QueryMsg::Members { start_after, limit } => to_json(&query_members(ctx, start_after, limit)?)?,
        QueryMsg::Member { member } => to_json(&query_member(ctx, member)?)?,
        QueryMsg::Totals {} => to_json(&TOTALS.load(ctx)?)?,
        QueryMsg::VotingPowerAt { member, height } => {
            to_json(&PowerResponse { power: units_at(ctx, &member, height)?, height })?
        }
        QueryMsg::TotalVotingPowerAt { height } => {
            to_json(&PowerResponse { power: total_units_at(ctx, height)?, height })?
        }
        QueryMsg::HasRole { member, role } => to_json(&query_has_role(ctx, &member, &role)?)?,
        QueryMsg::Invitations {} => to_json(&query_pending(ctx, &INVITATIONS)?)?,
        QueryMsg::Applications {} => to_json(&query_pending(ctx, &APPLICATIONS)?)?,
        QueryMsg::Config {} => to_json(&CONFIG.load(ctx)?)?,
        QueryMsg::ProposalKind { msg } => to_json(&query_proposal_kind(&msg))?,
        QueryMsg::Acceptance { member } => to_json(&AcceptanceResponse {
            accepted: ACCEPTANCES.may_load(ctx, &member)?,
            pending: PENDING.may_load(ctx, &member)?,
        })?,
    };
    Ok(answer)
}

/// `proposal_kind`: the decision-table kind of one of this module's
/// messages (an admission, an expulsion, a change of units or roles), so a
/// proposal carrying it is held to that kind's rule whatever its label.
pub fn query_proposal_kind(msg: &serde_json::Value) -> voting_api::KindResponse {
    let kind = match voting_api::call_msg_name(msg) {
        Some("invite" | "admit_invited" | "admit") => Some("admit_member"),
        Some("expel") => Some("expel_member"),
        Some("set_units") => Some("units_change"),
        Some("grant_role" | "revoke_role") => Some("roles_change"),
        _ => None,
    };
    voting_api::KindResponse { kind: kind.map(str::to_owned) }
}

// ----- calls -----

/// `invite`: records an invitation (an admin or the governance module).
pub fn execute_invite(
    ctx: &mut Ctx,
    invitee: String,
    voting_units: u64,
    economic_units: u64,
    roles: BTreeSet<String>,
) -> Result<Response> {
    let by = require_governance_or_admin(ctx, "invite")?;
    require_not_member(ctx, &invitee)?;
    if voting_units == 0 && economic_units == 0 {
        return Err(MembershipError::ZeroUnits(invitee));
    }
    check_roles(&roles)?;
    let terms = Terms { voting_units, economic_units, roles, by: by.name(), height: ctx.height() };
    INVITATIONS.save(ctx, &invitee, &terms)?;
    Ok(Response::new().add_event(
        Event::new("member_invited")
            .attr("invitee", invitee)
            .attr("by", terms.by)
            .attr("voting_units", voting_units)
            .attr("economic_units", economic_units),
    ))
}

/// `revoke_invitation`: withdraws a pending invitation (an admin or the governance module).
pub fn execute_revoke_invitation(ctx: &mut Ctx, invitee: String) -> Result<Response> {
    let by = require_governance_or_admin(ctx, "revoke an invitation")?;
    if !INVITATIONS.has(ctx, &invitee)? {
        return Err(MembershipError::NoInvitation(invitee));
    }
    INVITATIONS.remove(ctx, &invitee);
    Ok(Response::new()
        .add_event(Event::new("invitation_revoked").attr("invitee", invitee).attr("by", by.name())))
}

/// `admit_invited`: admits an invitee (an admin other than the inviter, or governance).
pub fn execute_admit_invited(ctx: &mut Ctx, invitee: String) -> Result<Response> {
    let by = require_governance_or_admin(ctx, "admit an invitee")?;
    let terms =
        INVITATIONS.may_load(ctx, &invitee)?.ok_or_else(|| MembershipError::NoInvitation(invitee.clone()))?;
    if let Authority::Admin(admin) = &by
        && *admin == terms.by
    {
        return Err(MembershipError::NotAllowed(format!(
            "{admin} invited {invitee}, so another admin or the governance module must admit them"
        )));
    }
    INVITATIONS.remove(ctx, &invitee);
    admit(ctx, &invitee, terms.voting_units, terms.economic_units, terms.roles, "invitation")
}

/// `apply`: records an application sponsored by the calling member.
pub fn execute_apply(
    ctx: &mut Ctx,
    applicant: String,
    voting_units: u64,
    economic_units: u64,
    roles: BTreeSet<String>,
    sponsor: Option<String>,
) -> Result<Response> {
    let caller = ctx.caller().to_owned();
    if let Some(s) = sponsor
        && s != caller
    {
        return Err(MembershipError::SponsorMismatch { caller, sponsor: s });
    }
    active_member(ctx, &caller).map_err(|_| {
        MembershipError::NotAllowed(format!(
            "only a current member may sponsor an application, and {caller} is not one"
        ))
    })?;
    require_not_member(ctx, &applicant)?;
    if voting_units == 0 && economic_units == 0 {
        return Err(MembershipError::ZeroUnits(applicant));
    }
    check_roles(&roles)?;
    let terms = Terms { voting_units, economic_units, roles, by: caller, height: ctx.height() };
    APPLICATIONS.save(ctx, &applicant, &terms)?;
    Ok(Response::new().add_event(
        Event::new("application_recorded")
            .attr("applicant", applicant)
            .attr("sponsor", terms.by)
            .attr("voting_units", voting_units)
            .attr("economic_units", economic_units),
    ))
}

/// `admit`: admits a member on its application's or invitation's terms, or
/// on the terms given (governance only).
pub fn execute_admit(
    ctx: &mut Ctx,
    member: String,
    voting_units: Option<u64>,
    economic_units: Option<u64>,
    roles: Option<BTreeSet<String>>,
) -> Result<Response> {
    require_governance(ctx, "admit a member")?;
    require_not_member(ctx, &member)?;
    let pending = match APPLICATIONS.may_load(ctx, &member)? {
        Some(t) => Some((t, "application")),
        None => INVITATIONS.may_load(ctx, &member)?.map(|t| (t, "invitation")),
    };
    let (v, e, r, how) = match pending {
        Some((t, how)) => (
            voting_units.unwrap_or(t.voting_units),
            economic_units.unwrap_or(t.economic_units),
            roles.unwrap_or(t.roles),
            how,
        ),
        None if voting_units.is_some() || economic_units.is_some() => {
            (voting_units.unwrap_or(0), economic_units.unwrap_or(0), roles.unwrap_or_default(), "vote")
        }
        None => return Err(MembershipError::NoTerms(member)),
    };
    check_roles(&r)?;
    APPLICATIONS.remove(ctx, &member);
    INVITATIONS.remove(ctx, &member);
    admit(ctx, &member, v, e, r, how)
}

/// `resign`: the caller leaves with its own op; its economic units stay as a claim.
pub fn execute_resign(ctx: &mut Ctx) -> Result<Response> {
    let member = ctx.caller().to_owned();
    if ctx.sender_module().is_some() {
        return Err(MembershipError::NotAllowed(
            "a member resigns with its own op, not through a module".into(),
        ));
    }
    leave(ctx, &member, false)
}

/// `expel`: governance expels a member; its voting units become economic units.
pub fn execute_expel(ctx: &mut Ctx, member: String) -> Result<Response> {
    require_governance(ctx, "expel a member")?;
    leave(ctx, &member, true)
}

/// `set_units`: sets a current member's units (governance, a manager or an admin).
pub fn execute_set_units(
    ctx: &mut Ctx,
    member: String,
    voting_units: Option<u64>,
    economic_units: Option<u64>,
) -> Result<Response> {
    let by = match manager(ctx)? {
        Some(m) => Authority::Manager(m),
        None => require_governance_or_admin(ctx, "set units")?,
    };
    let mut m = active_member(ctx, &member)?;
    let v = voting_units.unwrap_or(m.voting_units);
    let e = economic_units.unwrap_or(m.economic_units);
    if v == 0 && e == 0 {
        return Err(MembershipError::ZeroUnits(member));
    }
    let mut totals = TOTALS.load(ctx)?;
    totals.voting_units = add(totals.voting_units.saturating_sub(m.voting_units), v)?;
    totals.economic_units = add(totals.economic_units.saturating_sub(m.economic_units), e)?;
    m.voting_units = v;
    m.economic_units = e;
    MEMBERS.save(ctx, &member, &m)?;
    checkpoint(ctx, &member, v)?;
    save_totals(ctx, &totals)?;
    Ok(Response::new().add_event(member_event("units_set", &member, &m).attr("by", by.name())))
}

/// `transfer_units`: moves units between members (governance or a manager).
pub fn execute_transfer_units(
    ctx: &mut Ctx,
    from: String,
    to: String,
    voting_units: u64,
    economic_units: u64,
) -> Result<Response> {
    let by = require_governance_or_manager(ctx, "transfer units")?;
    if from == to {
        return Err(MembershipError::BadTransfer(format!("{from} cannot transfer units to itself")));
    }
    if voting_units == 0 && economic_units == 0 {
        return Err(MembershipError::BadTransfer("give voting_units and/or economic_units above 0".into()));
    }
    let mut giver =
        MEMBERS.may_load(ctx, &from)?.ok_or_else(|| MembershipError::UnknownMember(from.clone()))?;
    let mut taker = active_member(ctx, &to)?;
    let short = |what, held: u64, wanted: u64| MembershipError::Insufficient {
        member: from.clone(),
        what,
        held,
        wanted,
    };
    if giver.voting_units < voting_units {
        return Err(short("voting units", giver.voting_units, voting_units));
    }
    if giver.economic_units < economic_units {
        return Err(short("economic units", giver.economic_units, economic_units));
    }
    giver.voting_units -= voting_units;
    giver.economic_units -= economic_units;
    taker.voting_units = add(taker.voting_units, voting_units)?;
    taker.economic_units = add(taker.economic_units, economic_units)?;
    let mut totals = TOTALS.load(ctx)?;
    if !giver.active {
        // A former member's claim becomes a current member's units.
        totals.former_economic_units = totals.former_economic_units.saturating_sub(economic_units);
        totals.economic_units = add(totals.economic_units, economic_units)?;
    }
    MEMBERS.save(ctx, &from, &giver)?;
    MEMBERS.save(ctx, &to, &taker)?;
    if voting_units > 0 {
        checkpoint(ctx, &from, giver.voting_units)?;
        checkpoint(ctx, &to, taker.voting_units)?;
    }
    save_totals(ctx, &totals)?;
    Ok(Response::new().add_event(
        Event::new("units_transferred")
            .attr("from", from)
            .attr("to", to)
            .attr("voting_units", voting_units)
            .attr("economic_units", economic_units)
            .attr("by", by.name()),
    ))
}

/// `remove_member`: ends a membership, keeping `claim` economic units as the
/// former member's claim (governance or a manager).
pub fn execute_remove_member(ctx: &mut Ctx, member: &str, claim: u64) -> Result<Response> {
    let by = require_governance_or_manager(ctx, "remove a member")?;
    let mut m = active_member(ctx, member)?;
    // At most what an expulsion would leave: economic units plus voting units turned economic.
    let most = add(m.economic_units, m.voting_units)?;
    if claim > most {
        return Err(MembershipError::Insufficient {
            member: member.into(),
            what: "voting and economic units together",
            held: most,
            wanted: claim,
        });
    }
    let mut totals = TOTALS.load(ctx)?;
    totals.voting_units = totals.voting_units.saturating_sub(m.voting_units);
    totals.economic_units = totals.economic_units.saturating_sub(m.economic_units);
    totals.members = totals.members.saturating_sub(1);
    totals.former_economic_units = add(totals.former_economic_units, claim)?;
    let event = Event::new("member_removed")
        .attr("member", member)
        .attr("voting_units_dropped", m.voting_units)
        .attr("economic_units_before", m.economic_units)
        .attr("economic_claim", claim)
        .attr("by", by.name());
    m.voting_units = 0;
    m.economic_units = claim;
    m.roles.clear();
    m.active = false;
    m.left_at = Some(ctx.height());
    MEMBERS.save(ctx, member, &m)?;
    checkpoint(ctx, member, 0)?;
    save_totals(ctx, &totals)?;
    Ok(with_participant_change(
        Response::new().add_event(event),
        SystemMsg::RemoveParticipant { member: member.into() },
    ))
}

/// `grant_role` (`grant`) and `revoke_role`: governance or an admin.
pub fn execute_change_role(ctx: &mut Ctx, member: String, role: String, grant: bool) -> Result<Response> {
    let by = require_governance_or_admin(ctx, if grant { "grant roles" } else { "revoke roles" })?;
    check_roles(&BTreeSet::from([role.clone()]))?;
    let mut m = active_member(ctx, &member)?;
    let changed = if grant { m.roles.insert(role.clone()) } else { m.roles.remove(&role) };
    if !changed {
        let what = if grant { "already has" } else { "does not have" };
        return Err(MembershipError::Role { member, what, role });
    }
    MEMBERS.save(ctx, &member, &m)?;
    let kind = if grant { "role_granted" } else { "role_revoked" };
    Ok(Response::new()
        .add_event(Event::new(kind).attr("member", member).attr("role", role).attr("by", by.name())))
}

/// Admits `member` (new, or former and returning) with these units and roles.
fn admit(
    ctx: &mut Ctx,
    member: &str,
    voting_units: u64,
    economic_units: u64,
    roles: BTreeSet<String>,
    how: &str,
) -> Result<Response> {
    if voting_units == 0 && economic_units == 0 {
        return Err(MembershipError::ZeroUnits(member.into()));
    }
    if CONFIG.load(ctx)?.require_acceptance {
        // A participant now (its node can sign), a member only once it
        // accepts the terms: until then no units, nothing received.
        if PENDING.has(ctx, member)? {
            return Err(MembershipError::NotAllowed(format!(
                "{member} is already admitted and must accept the terms"
            )));
        }
        let terms = Terms {
            voting_units,
            economic_units,
            roles,
            by: ctx.sender_module().map_or_else(|| ctx.caller().to_owned(), |m| format!("module:{m}")),
            height: ctx.height(),
        };
        PENDING.save(ctx, member, &PendingAdmission { terms, how: how.to_owned() })?;
        let event = Event::new("member_admitted")
            .attr("member", member)
            .attr("via", how)
            .attr("voting_units", voting_units)
            .attr("economic_units", economic_units)
            .attr("awaits", "accept_terms");
        return Ok(with_participant_change(
            Response::new().add_event(event),
            SystemMsg::AddParticipant { member: member.into() },
        ));
    }
    let record = activate(ctx, member, voting_units, economic_units, roles)?;
    let previous = record.1;
    let record = record.0;
    let event = member_event("member_added", member, &record).attr("via", how).attr("returning", previous);
    Ok(with_participant_change(
        Response::new().add_event(event),
        SystemMsg::AddParticipant { member: member.into() },
    ))
}

/// `accept_terms`: the admitted newcomer, by its own op, accepts the terms
/// as they stand and becomes a member with the units it was admitted with.
pub fn execute_accept_terms(ctx: &mut Ctx, terms: String) -> Result<Response> {
    if ctx.sender_module().is_some() {
        return Err(MembershipError::NotAllowed("a newcomer accepts the terms with its own op".into()));
    }
    let member = ctx.caller().to_owned();
    let Some(pending) = PENDING.may_load(ctx, &member)? else {
        return Err(MembershipError::NotAllowed(format!(
            "{member} has no admission waiting for its acceptance"
        )));
    };
    let now = ctx.terms()?;
    if terms != now.terms {
        return Err(MembershipError::NotAllowed(format!(
            "the terms changed since they were read (they are now {} after {} installs and upgrades); \
             read them again (system `terms`) and accept those",
            now.terms, now.generation
        )));
    }
    PENDING.remove(ctx, &member);
    let t = pending.terms;
    let (record, previous) = activate(ctx, &member, t.voting_units, t.economic_units, t.roles)?;
    let acceptance = Acceptance { terms, height: ctx.height(), time_ms: ctx.time_ms() };
    ACCEPTANCES.save(ctx, &member, &acceptance)?;
    let event = member_event("member_added", &member, &record)
        .attr("via", &pending.how)
        .attr("returning", previous)
        .attr("terms", &acceptance.terms);
    Ok(Response::new().add_event(event))
}

/// Makes `member` a current member with these units (a returning former
/// member's claim folded in); the record and whether it is returning.
fn activate(
    ctx: &mut Ctx,
    member: &str,
    voting_units: u64,
    economic_units: u64,
    roles: BTreeSet<String>,
) -> Result<(Member, bool)> {
    let mut totals = TOTALS.load(ctx)?;
    // A former member coming back: its remaining claim is folded into its new units.
    let (claim, previous) = match MEMBERS.may_load(ctx, member)? {
        Some(old) => (old.economic_units, true),
        None => (0, false),
    };
    let economic = add(economic_units, claim)?;
    totals.former_economic_units = totals.former_economic_units.saturating_sub(claim);
    totals.voting_units = add(totals.voting_units, voting_units)?;
    totals.economic_units = add(totals.economic_units, economic)?;
    totals.members += 1;
    let record = Member {
        voting_units,
        economic_units: economic,
        roles,
        active: true,
        joined_at: ctx.height(),
        left_at: None,
    };
    MEMBERS.save(ctx, member, &record)?;
    checkpoint(ctx, member, voting_units)?;
    save_totals(ctx, &totals)?;
    Ok((record, previous))
}

/// Resignation and expulsion: the member leaves, its economic units (plus,
/// when expelled, its voting units) kept as its claim.
fn leave(ctx: &mut Ctx, member: &str, expelled: bool) -> Result<Response> {
    let mut m = active_member(ctx, member)?;
    let mut totals = TOTALS.load(ctx)?;
    totals.voting_units = totals.voting_units.saturating_sub(m.voting_units);
    totals.economic_units = totals.economic_units.saturating_sub(m.economic_units);
    totals.members = totals.members.saturating_sub(1);
    let burned_or_converted = m.voting_units;
    if expelled {
        // Moloch's ragekick: voting units become economic units, kept as a claim.
        m.economic_units = add(m.economic_units, m.voting_units)?;
    }
    totals.former_economic_units = add(totals.former_economic_units, m.economic_units)?;
    m.voting_units = 0;
    m.roles.clear();
    m.active = false;
    m.left_at = Some(ctx.height());
    MEMBERS.save(ctx, member, &m)?;
    checkpoint(ctx, member, 0)?;
    save_totals(ctx, &totals)?;
    let event = if expelled {
        Event::new("member_expelled")
            .attr("member", member)
            .attr("voting_units_converted", burned_or_converted)
    } else {
        Event::new("member_resigned").attr("member", member).attr("voting_units_dropped", burned_or_converted)
    };
    Ok(with_participant_change(
        Response::new().add_event(event.attr("economic_claim", m.economic_units)),
        SystemMsg::RemoveParticipant { member: member.into() },
    ))
}

/// Adds the participant change that goes with admitting or removing a
/// member, unless the member is a partnership (`pp1…`): it authors no ops,
/// so it is never a participant; it acts by messages from its own
/// decisions.
fn with_participant_change(response: Response, change: SystemMsg) -> Response {
    let member = match &change {
        SystemMsg::AddParticipant { member } | SystemMsg::RemoveParticipant { member } => member,
        _ => return response.add_system(change),
    };
    if polypact_sdk::is_partnership_member(member) { response } else { response.add_system(change) }
}

fn member_event(kind: &str, member: &str, m: &Member) -> Event {
    let roles: Vec<&str> = m.roles.iter().map(String::as_str).collect();
    Event::new(kind)
        .attr("member", member)
        .attr("voting_units", m.voting_units)
        .attr("economic_units", m.economic_units)
        .attr("roles", roles.join(","))
}

fn check_roles(roles: &BTreeSet<String>) -> Result<()> {
    for role in roles {
        if role.is_empty() || role.len() > MAX_ROLE_LEN {
            return Err(MembershipError::BadRole(role.clone()));
        }
    }
    Ok(())
}

fn add(a: u64, b: u64) -> Result<u64> {
    a.checked_add(b).ok_or(MembershipError::Overflow)
}

// ----- who may -----

/// Who may do governance-or-admin things.
enum Authority {
    Governance,
    Manager(String),
    Admin(String),
}

impl Authority {
    fn name(&self) -> String {
        match self {
            Authority::Governance => "governance".into(),
            Authority::Manager(m) => format!("module:{m}"),
            Authority::Admin(m) => m.clone(),
        }
    }
}

/// The manager module sending this message, if it is one.
fn manager(ctx: &Ctx) -> Result<Option<String>> {
    let config = CONFIG.load(ctx)?;
    Ok(ctx.sender_module().filter(|m| config.managers.iter().any(|x| x == m)).map(str::to_owned))
}

fn require_governance_or_manager(ctx: &Ctx, what: &str) -> Result<Authority> {
    if is_governance(ctx)? {
        return Ok(Authority::Governance);
    }
    if let Some(m) = manager(ctx)? {
        return Ok(Authority::Manager(m));
    }
    let config = CONFIG.load(ctx)?;
    Err(MembershipError::NotAllowed(format!(
        "only the governance module \"{}\" or a manager module ({}) may {what}",
        config.governance,
        if config.managers.is_empty() { "none configured".to_owned() } else { config.managers.join(", ") }
    )))
}

fn is_governance(ctx: &Ctx) -> Result<bool> {
    let config = CONFIG.load(ctx)?;
    Ok(ctx.sender_module() == Some(config.governance.as_str()))
}

fn require_governance(ctx: &Ctx, what: &str) -> Result<()> {
    if is_governance(ctx)? {
        return Ok(());
    }
    let config = CONFIG.load(ctx)?;
    Err(MembershipError::NotAllowed(format!(
        "only the governance module \"{}\" may {what}; propose it there",
        config.governance
    )))
}

fn require_governance_or_admin(ctx: &Ctx, what: &str) -> Result<Authority> {
    if is_governance(ctx)? {
        return Ok(Authority::Governance);
    }
    if ctx.sender_module().is_none() {
        let caller = ctx.caller();
        if let Some(m) = MEMBERS.may_load(ctx, caller)?
            && m.active
            && m.roles.contains(ADMIN_ROLE)
        {
            return Ok(Authority::Admin(caller.to_owned()));
        }
    }
    let config = CONFIG.load(ctx)?;
    Err(MembershipError::NotAllowed(format!(
        "only a member with role \"{ADMIN_ROLE}\" or the governance module \"{}\" may {what}",
        config.governance
    )))
}

fn active_member(ctx: &QueryCtx, member: &str) -> Result<Member> {
    match MEMBERS.may_load(ctx, member)? {
        None => Err(MembershipError::UnknownMember(member.into())),
        Some(m) if !m.active => Err(MembershipError::FormerMember(member.into())),
        Some(m) => Ok(m),
    }
}

fn require_not_member(ctx: &QueryCtx, member: &str) -> Result<()> {
    match MEMBERS.may_load(ctx, member)? {
        Some(m) if m.active => Err(MembershipError::AlreadyMember(member.into())),
        _ => Ok(()),
    }
}

// ----- queries -----

/// `members`: a page of members in id order, current and former.
pub fn query_members(
    ctx: &QueryCtx,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<MembersResponse> {
    let limit = limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let members = MEMBERS
        .range(ctx, start_after.as_deref(), limit)?
        .into_iter()
        .map(|(member, record)| MemberInfo { member, record })
        .collect();
    Ok(MembersResponse { members })
}

/// `member`: one member's record.
pub fn query_member(ctx: &QueryCtx, member: String) -> Result<MemberInfo> {
    let record =
        MEMBERS.may_load(ctx, &member)?.ok_or_else(|| MembershipError::UnknownMember(member.clone()))?;
    Ok(MemberInfo { member, record })
}

/// `has_role`: whether a current member has a role.
pub fn query_has_role(ctx: &QueryCtx, member: &str, role: &str) -> Result<HasRoleResponse> {
    let has_role = MEMBERS.may_load(ctx, member)?.is_some_and(|m| m.active && m.roles.contains(role));
    Ok(HasRoleResponse { has_role })
}

/// `invitations` and `applications`: what is pending in `map`.
pub fn query_pending(ctx: &QueryCtx, map: &Map<&str, Terms>) -> Result<Vec<Pending>> {
    map.iter(ctx).map(|r| r.map(|(member, terms)| Pending { member, terms }).map_err(Into::into)).collect()
}
