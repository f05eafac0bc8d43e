//! The disputes module's rules: its entry points and one function per call
//! and query.
//!
//! This file owns what each message does: who may raise, settle, escalate,
//! rule, appeal, overturn and execute, what each checks and writes, and the
//! messages it sends (the treasury's freeze and release, the ruling's own
//! messages). `handle` and `query` only dispatch. It does not own the
//! message formats (`msg.rs`, from `disputes-api`), the storage layout
//! (`state.rs`) or the error texts (`error.rs`).

use std::collections::BTreeSet;

use polypact_sdk::{Ctx, Event, Json, QueryCtx, Response, to_json};
use treasury_api::{Frozen, HandleMsg as TreasuryMsg};
use voting_api::{KindResponse, ProposalMsg, ProposalView, QueryMsg as VotingQuery, Status as VoteStatus};

use crate::error::{DisputesError, Result};
use crate::msg::{Config, Dispute, HandleMsg, QueryMsg, RaisedResponse, Ruling, Status, Subject};
use crate::state::{CONFIG, DISPUTES, NEXT_ID};

/// Longest claim, in bytes.
pub const MAX_CLAIM_LEN: usize = 2048;
/// Longest evidence reference or decision, in bytes.
pub const MAX_TEXT_LEN: usize = 1024;
/// Most messages a ruling may carry.
pub const MAX_RULING_MESSAGES: usize = 16;
/// Default and largest page of `disputes`.
pub const DEFAULT_PAGE: u32 = 20;
/// The largest page.
pub const MAX_PAGE: u32 = 100;

// ----- entry points -----

/// `init`: checks and stores the config.
pub fn init(ctx: &mut Ctx, config: Config) -> Result<Response> {
    for (name, value) in [("membership", &config.membership), ("governance", &config.governance)] {
        if value.trim().is_empty() {
            return Err(DisputesError::Config(format!("{name} must name a module instance")));
        }
    }
    let m = &config.mediators;
    let distinct: BTreeSet<&String> = m.members.iter().collect();
    if m.members.is_empty() || distinct.len() != m.members.len() {
        return Err(DisputesError::Config("mediators.members must name distinct participants".into()));
    }
    if m.quorum == 0 || m.quorum as usize > m.members.len() {
        return Err(DisputesError::Config(format!(
            "mediators.quorum must be 1 to {}, not {}",
            m.members.len(),
            m.quorum
        )));
    }
    for mediator in &m.members {
        if !ctx.is_participant(mediator)? {
            return Err(DisputesError::Config(format!("mediator {mediator} is not a participant")));
        }
    }
    if config.appeal_ms == 0 || config.appeal_kind.trim().is_empty() {
        return Err(DisputesError::Config("appeal_ms must be above 0 and appeal_kind not empty".into()));
    }
    CONFIG.save(ctx, &config)?;
    NEXT_ID.save(ctx, &1)?;
    Ok(Response::new().add_event(
        Event::new("disputes_configured").attr("mediators", m.members.join(",")).attr("quorum", m.quorum),
    ))
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    match msg {
        HandleMsg::Raise { subject, claim, evidence } => {
            execute_raise(ctx, &config, subject, claim, evidence)
        }
        HandleMsg::Settle { dispute } => execute_settle(ctx, &config, dispute),
        HandleMsg::Escalate { dispute } => execute_escalate(ctx, &config, dispute),
        HandleMsg::Rule { dispute, ruling } => execute_rule(ctx, &config, dispute, ruling),
        HandleMsg::Appeal { dispute, proposal } => execute_appeal(ctx, &config, dispute, proposal),
        HandleMsg::Overturn { dispute } => execute_overturn(ctx, &config, dispute),
        HandleMsg::Execute { dispute } => execute_execute(ctx, &config, dispute),
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    let answer = match msg {
        QueryMsg::Dispute { id } => to_json(&load(ctx, id)?)?,
        QueryMsg::Disputes { start_after, limit } => {
            let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
            let page: Vec<Dispute> =
                DISPUTES.range(ctx, start_after, limit)?.into_iter().map(|(_, d)| d).collect();
            to_json(&page)?
        }
        QueryMsg::Config {} => to_json(&config)?,
        QueryMsg::ProposalKind { msg } => {
            let kind =
                (voting_api::call_msg_name(&msg) == Some("overturn")).then(|| config.appeal_kind.clone());
            to_json(&KindResponse { kind })?
        }
    };
    Ok(answer)
}

// ----- calls -----

/// `raise`: a current member opens a dispute; a treasury entry or payout
/// it is about is frozen in the same op.
pub fn execute_raise(
    ctx: &mut Ctx,
    config: &Config,
    subject: Subject,
    claim: String,
    evidence: String,
) -> Result<Response> {
    let by = member_op(ctx, config, "raise a dispute")?;
    check_text(&claim, "the claim", MAX_CLAIM_LEN)?;
    check_text(&evidence, "the evidence reference", MAX_TEXT_LEN)?;
    let freeze = frozen(&subject);
    if freeze.is_some() && config.treasury.is_none() {
        return Err(DisputesError::Invalid("this partnership's disputes name no treasury".into()));
    }
    let id = NEXT_ID.load(ctx)?;
    NEXT_ID.save(ctx, &(id + 1))?;
    let now = ctx.time_ms();
    let dispute = Dispute {
        id,
        subject,
        raised_by: by.clone(),
        claim,
        evidence,
        status: Status::Negotiating,
        raised_ms: now,
        negotiation_ends_ms: now.saturating_add(config.negotiation_ms),
        ruling: None,
        ruled_by: Vec::new(),
        appeal_ends_ms: None,
        appeal_proposal: None,
        closed_ms: None,
    };
    DISPUTES.save(ctx, id, &dispute)?;
    let mut response = Response::new()
        .add_event(
            Event::new("dispute_raised")
                .attr("dispute", id)
                .attr("by", &by)
                .attr("negotiation_ends_ms", dispute.negotiation_ends_ms),
        )
        .set_data(&RaisedResponse { id })?;
    if let (Some(subject), Some(treasury)) = (freeze, &config.treasury) {
        response = response.add_message(treasury, &TreasuryMsg::Freeze { subject, dispute: id })?;
    }
    Ok(response)
}

/// `settle`: the member who raised it withdraws it; the freeze ends.
pub fn execute_settle(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let mut d = load(ctx, id)?;
    let caller = member_op(ctx, config, "settle a dispute")?;
    if caller != d.raised_by {
        return Err(DisputesError::NotAllowed(format!(
            "only {} who raised dispute {id} settles it",
            d.raised_by
        )));
    }
    if !matches!(d.status, Status::Negotiating | Status::Escalated) {
        return Err(DisputesError::WrongStatus { id, what: "settled", status: d.status });
    }
    close(ctx, &mut d, Status::Settled)?;
    release(Response::new().add_event(Event::new("dispute_settled").attr("dispute", id)), config, &d)
}

/// `escalate`: any current member, once negotiation has run.
pub fn execute_escalate(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let mut d = load(ctx, id)?;
    member_op(ctx, config, "escalate a dispute")?;
    if d.status != Status::Negotiating {
        return Err(DisputesError::WrongStatus { id, what: "escalated", status: d.status });
    }
    if ctx.time_ms() < d.negotiation_ends_ms {
        return Err(DisputesError::NotAllowed(format!(
            "the parties negotiate dispute {id} until {} ms; escalate after that",
            d.negotiation_ends_ms
        )));
    }
    d.status = Status::Escalated;
    DISPUTES.save(ctx, id, &d)?;
    Ok(Response::new().add_event(Event::new("dispute_escalated").attr("dispute", id)))
}

/// `rule`: a mediator rules; a panel's ruling stands once `quorum`
/// mediators gave the same one, and the appeal window opens.
pub fn execute_rule(ctx: &mut Ctx, config: &Config, id: u64, ruling: Ruling) -> Result<Response> {
    let mut d = load(ctx, id)?;
    let caller = own_op(ctx, "rule")?;
    if !config.mediators.members.contains(&caller) {
        return Err(DisputesError::NotAllowed(format!("{caller} is not a mediator of this partnership")));
    }
    if d.status != Status::Escalated {
        return Err(DisputesError::WrongStatus { id, what: "ruled on", status: d.status });
    }
    check_text(&ruling.decision, "the decision", MAX_TEXT_LEN)?;
    if ruling.messages.len() > MAX_RULING_MESSAGES {
        return Err(DisputesError::Invalid(format!(
            "a ruling carries at most {MAX_RULING_MESSAGES} messages"
        )));
    }
    match &d.ruling {
        Some(given) if *given != ruling => {
            return Err(DisputesError::NotAllowed(format!(
                "dispute {id}'s panel already has a different ruling; give the same one or none"
            )));
        }
        _ if d.ruled_by.contains(&caller) => {
            return Err(DisputesError::NotAllowed(format!("{caller} already ruled on dispute {id}")));
        }
        _ => {}
    }
    d.ruling = Some(ruling);
    d.ruled_by.push(caller.clone());
    let stands = d.ruled_by.len() >= config.mediators.quorum as usize;
    let mut event = Event::new("ruling_given").attr("dispute", id).attr("by", &caller).attr("stands", stands);
    if stands {
        let ends = ctx.time_ms().saturating_add(config.appeal_ms);
        d.status = Status::Ruled;
        d.appeal_ends_ms = Some(ends);
        event = event.attr("appeal_ends_ms", ends);
    }
    DISPUTES.save(ctx, id, &d)?;
    Ok(Response::new().add_event(event))
}

/// `appeal`: a current member registers, within the window, the governance
/// proposal that would overturn the ruling.
pub fn execute_appeal(ctx: &mut Ctx, config: &Config, id: u64, proposal: u64) -> Result<Response> {
    let mut d = load(ctx, id)?;
    let caller = member_op(ctx, config, "appeal a ruling")?;
    if d.status != Status::Ruled {
        return Err(DisputesError::WrongStatus { id, what: "appealed", status: d.status });
    }
    if d.appeal_ends_ms.is_some_and(|ends| ctx.time_ms() >= ends) {
        return Err(DisputesError::NotAllowed(format!("the appeal window of dispute {id} has closed")));
    }
    let view: ProposalView = ctx.query(&config.governance, &VotingQuery::Proposal { id: proposal })?;
    let overturn = serde_json::json!({"overturn": {"dispute": id}});
    let carries = matches!(view.proposal.messages.as_slice(),
        [ProposalMsg::Call { module, msg }] if *module == ctx.module() && *msg == overturn);
    if !carries || !matches!(view.status, VoteStatus::Draft | VoteStatus::Open) {
        return Err(DisputesError::Invalid(format!(
            "proposal {proposal} must be open and carry exactly {{\"call\":{{\"module\":\"{}\",\"msg\":{overturn}}}}}",
            ctx.module()
        )));
    }
    d.status = Status::Appealed;
    d.appeal_proposal = Some(proposal);
    DISPUTES.save(ctx, id, &d)?;
    Ok(Response::new().add_event(
        Event::new("ruling_appealed").attr("dispute", id).attr("by", caller).attr("proposal", proposal),
    ))
}

/// `overturn`: governance (a passed appeal) sets the ruling aside; nothing
/// of it runs and the freeze ends.
pub fn execute_overturn(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    if ctx.sender_module() != Some(config.governance.as_str()) {
        return Err(DisputesError::NotAllowed(format!(
            "only the governance module {:?} overturns a ruling (an appeal that passed)",
            config.governance
        )));
    }
    let mut d = load(ctx, id)?;
    if !matches!(d.status, Status::Ruled | Status::Appealed) {
        return Err(DisputesError::WrongStatus { id, what: "overturned", status: d.status });
    }
    close(ctx, &mut d, Status::Overturned)?;
    release(Response::new().add_event(Event::new("ruling_overturned").attr("dispute", id)), config, &d)
}

/// `execute`: once the appeal window passed without an appeal (or the
/// appeal failed), the freeze ends and the ruling's messages run, in one op.
pub fn execute_execute(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let mut d = load(ctx, id)?;
    let now = ctx.time_ms();
    let ready = match d.status {
        Status::Ruled => d.appeal_ends_ms.is_some_and(|ends| now >= ends),
        Status::Appealed => match d.appeal_proposal {
            Some(p) => {
                let view: ProposalView = ctx.query(&config.governance, &VotingQuery::Proposal { id: p })?;
                matches!(view.status, VoteStatus::Rejected | VoteStatus::Expired | VoteStatus::Vetoed)
            }
            None => false,
        },
        status => return Err(DisputesError::WrongStatus { id, what: "executed", status }),
    };
    if !ready {
        return Err(DisputesError::NotAllowed(format!(
            "dispute {id}'s ruling runs once its appeal window has passed (or its appeal failed)"
        )));
    }
    let ruling = d.ruling.clone().ok_or(DisputesError::Unknown(id))?;
    close(ctx, &mut d, Status::Executed)?;
    let mut response = release(
        Response::new().add_event(
            Event::new("ruling_executed").attr("dispute", id).attr("messages", ruling.messages.len()),
        ),
        config,
        &d,
    )?;
    for message in ruling.messages {
        response = match message {
            ProposalMsg::Call { module, msg } => response.add_message(module, &msg)?,
            ProposalMsg::System(system) => response.add_system(system.into_system()),
            ProposalMsg::Partnership { to, module, msg } => response.send_to_partnership(to, module, &msg)?,
        };
    }
    Ok(response)
}

// ----- helpers -----

fn load(ctx: &QueryCtx, id: u64) -> Result<Dispute> {
    DISPUTES.may_load(ctx, id)?.ok_or(DisputesError::Unknown(id))
}

fn close(ctx: &mut Ctx, d: &mut Dispute, status: Status) -> Result<()> {
    d.status = status;
    d.closed_ms = Some(ctx.time_ms());
    DISPUTES.save(ctx, d.id, d)?;
    Ok(())
}

/// What the treasury freezes for a subject.
fn frozen(subject: &Subject) -> Option<Frozen> {
    match subject {
        Subject::Entry { id } => Some(Frozen::Entry(*id)),
        Subject::Payout { id } => Some(Frozen::Payout(*id)),
        _ => None,
    }
}

/// Adds the treasury's release of what `d` froze, if it froze anything.
fn release(response: Response, config: &Config, d: &Dispute) -> Result<Response> {
    match (frozen(&d.subject), &config.treasury) {
        (Some(subject), Some(treasury)) => {
            Ok(response.add_message(treasury, &TreasuryMsg::Release { subject })?)
        }
        _ => Ok(response),
    }
}

fn own_op(ctx: &Ctx, what: &str) -> Result<String> {
    if ctx.sender_module().is_some() {
        return Err(DisputesError::NotAllowed(format!("a member must {what} with its own op")));
    }
    Ok(ctx.caller().to_owned())
}

/// The caller, by its own op, if it is a current member.
fn member_op(ctx: &Ctx, config: &Config, what: &str) -> Result<String> {
    let caller = own_op(ctx, what)?;
    match membership_api::member(ctx, &config.membership, &caller)? {
        Some(m) if m.record.active => Ok(caller),
        _ => Err(DisputesError::NotAllowed(format!(
            "only a current member may {what}, and {caller} is not one"
        ))),
    }
}

fn check_text(text: &str, what: &str, max: usize) -> Result<()> {
    if text.trim().is_empty() || text.len() > max {
        return Err(DisputesError::Invalid(format!("{what} must be 1 to {max} bytes")));
    }
    Ok(())
}
