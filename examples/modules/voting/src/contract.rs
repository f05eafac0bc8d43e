//! The voting module's rules: its entry points and one function per call
//! and query.
//!
//! This file owns what each message does: who may propose, sponsor, vote,
//! delegate, veto and execute, what each checks, what it writes (tallies,
//! ballots, the delegation indexes) and which events and messages it
//! returns; voting power comes from the membership module, read at each
//! proposal's snapshot. `handle` and `query` only dispatch. It does not own
//! the message formats (`msg.rs`, from `voting-api`), the storage layout
//! (`state.rs`), the error texts (`error.rs`) or the arithmetic of an
//! outcome (`outcome.rs`).

use std::collections::BTreeSet;

use membership_api::{HasRoleResponse, PowerResponse, QueryMsg as MembershipQuery};
use polypact_sdk::{Ctx, Event, Json, QueryCtx, Response, to_json};

use crate::error::{Result, VotingError};
use crate::kinds;
use crate::msg::{
    Ballot, Choice, Config, DEFAULT_KIND, DelegationResponse, HandleMsg, MigrateMsg, OpenYesVotesResponse,
    Proposal, ProposalMsg, ProposalsResponse, ProposeResponse, Proposers, QueryMsg, Rule, Sponsorship,
    Status, Tally, Threshold, Veto, VoteResponse,
};
use crate::outcome::{decided, outcome, quorum_met, rules_of, view};
use crate::state::{CONFIG, COUNTED_VIA, DELEGATIONS, DELEGATORS, NEXT_ID, PROPOSALS, VOTES, YES_VOTES};

/// Page size of `proposals` when the query does not set one.
pub const DEFAULT_PAGE: u32 = 10;
/// The largest page.
pub const MAX_PAGE: u32 = 50;
/// Most options of a multiple-choice proposal.
pub const MAX_CHOICES: usize = 32;
/// Most messages a proposal may carry.
pub const MAX_MESSAGES: usize = 64;
/// Longest title, in bytes.
pub const MAX_TITLE_LEN: usize = 256;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 16 * 1024;

// ----- entry points -----

/// `init`: validates and stores the config.
pub fn init(ctx: &mut Ctx, config: Config) -> Result<Response> {
    if config.membership.trim().is_empty() {
        return Err(VotingError::Config("membership must name the membership module".into()));
    }
    check_table(&config)?;
    if config.min_period_ms == 0 || config.min_period_ms > config.max_period_ms {
        return Err(VotingError::Config("need 0 < min_period_ms <= max_period_ms".into()));
    }
    let mut seen = BTreeSet::new();
    for m in &config.module_proposers {
        if m.trim().is_empty() || !seen.insert(m.as_str()) {
            return Err(VotingError::Config(format!(
                "module_proposers must name distinct module instances, got {m:?}"
            )));
        }
    }
    CONFIG.save(ctx, &config)?;
    NEXT_ID.save(ctx, &1)?;
    Ok(Response::new().add_event(
        Event::new("voting_configured")
            .attr("membership", &config.membership)
            .attr("kinds", config.rules.keys().cloned().collect::<Vec<_>>().join(",")),
    ))
}

/// `migrate`: runs when the partnership upgrades this instance (to new
/// code, or to the same code to change its decision table); applies the
/// message's changes to the decision table, checked as `init` checks them.
/// Open proposals keep their votes; each is checked at execution against
/// the table as it stands then.
pub fn migrate(ctx: &mut Ctx, msg: MigrateMsg) -> Result<Response> {
    let mut config = CONFIG.load(ctx)?;
    if let Some(rules) = msg.rules {
        config.rules = rules;
    }
    if let Some(kinds) = msg.kinds {
        config.kinds = kinds;
    }
    if let Some(reserved) = msg.reserved {
        config.reserved = reserved;
    }
    check_table(&config)?;
    CONFIG.save(ctx, &config)?;
    Ok(Response::new().add_event(
        Event::new("voting_migrated")
            .attr("kinds", config.rules.keys().cloned().collect::<Vec<_>>().join(","))
            .attr("reserved", config.reserved.join(",")),
    ))
}

/// The decision table, the kinds map and the reserved kinds, as `init` and
/// `migrate` check them.
fn check_table(config: &Config) -> Result<()> {
    if !config.rules.contains_key(DEFAULT_KIND) {
        return Err(VotingError::Config("rules must have a \"default\" rule".into()));
    }
    for (kind, rule) in &config.rules {
        check_rule(kind, rule)?;
    }
    for (what, kind) in &config.kinds {
        if what.trim().is_empty() || kind.trim().is_empty() {
            return Err(VotingError::Config(format!(
                "kinds maps {what:?} to {kind:?}; neither may be empty"
            )));
        }
    }
    if let Some(empty) = config.reserved.iter().find(|k| k.trim().is_empty()) {
        return Err(VotingError::Config(format!("reserved names an empty kind {empty:?}")));
    }
    Ok(())
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    require_own_op(ctx, &msg)?;
    match msg {
        HandleMsg::Propose { title, description, kind, messages, choices, period_ms } => {
            execute_propose(ctx, &config, title, description, kind, messages, choices, period_ms)
        }
        HandleMsg::Sponsor { proposal } => execute_sponsor(ctx, &config, proposal),
        HandleMsg::Vote { proposal, choice } => execute_vote(ctx, &config, proposal, choice),
        HandleMsg::Delegate { to } => execute_delegate(ctx, to),
        HandleMsg::Undelegate {} => execute_undelegate(ctx),
        HandleMsg::Veto { proposal } => execute_veto(ctx, &config, proposal),
        HandleMsg::Execute { proposal } => execute_execute(ctx, &config, proposal),
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    let now = ctx.time_ms();
    let answer = match msg {
        QueryMsg::Proposal { id } => to_json(&view(&config, load(ctx, id)?, now))?,
        QueryMsg::Proposals { start_after, limit } => {
            to_json(&query_proposals(ctx, &config, start_after, limit)?)?
        }
        QueryMsg::Vote { proposal, voter } => to_json(&query_vote(ctx, proposal, &voter)?)?,
        QueryMsg::Delegation { member } => {
            to_json(&DelegationResponse { delegate: DELEGATIONS.may_load(ctx, &member)? })?
        }
        QueryMsg::OpenYesVotes { voter } => to_json(&query_open_yes_votes(ctx, &config, &voter)?)?,
        QueryMsg::Config {} => to_json(&config)?,
    };
    Ok(answer)
}

// ----- calls -----

/// `propose`: records a proposal; it opens for voting now, or waits for a
/// sponsor as a draft when the config's proposers say so.
#[allow(clippy::too_many_arguments)]
pub fn execute_propose(
    ctx: &mut Ctx,
    config: &Config,
    title: String,
    description: String,
    kind: Option<String>,
    messages: Vec<ProposalMsg>,
    choices: Option<Vec<String>>,
    period_ms: Option<u64>,
) -> Result<Response> {
    let snapshot_height = ctx.height().saturating_sub(1);
    let caller = match ctx.sender_module() {
        Some(module) if config.module_proposers.iter().any(|m| m == module) => format!("module:{module}"),
        Some(module) => {
            return Err(VotingError::NotAllowed(format!(
                "module `{module}` may not propose; list it in the config's module_proposers"
            )));
        }
        None => ctx.caller().to_owned(),
    };
    let draft = match &config.proposers {
        _ if ctx.sender_module().is_some() => false,
        Proposers::Members | Proposers::Sponsored(_) => {
            if power_at(ctx, config, &caller, snapshot_height)? == 0 {
                return Err(VotingError::NotAllowed(format!(
                    "only members with voting power may propose, and {caller} had none at height {snapshot_height}"
                )));
            }
            match &config.proposers {
                Proposers::Sponsored(Sponsorship { role: Some(role) }) => {
                    !has_role(ctx, config, &caller, role)?
                }
                Proposers::Sponsored(Sponsorship { role: None }) => true,
                _ => false,
            }
        }
        Proposers::Role(role) => {
            if !has_role(ctx, config, &caller, role)? {
                return Err(VotingError::NotAllowed(format!("only members with role {role:?} may propose")));
            }
            false
        }
    };
    if title.trim().is_empty() || title.len() > MAX_TITLE_LEN {
        return Err(VotingError::BadProposal(format!("the title must be 1 to {MAX_TITLE_LEN} bytes")));
    }
    if description.len() > MAX_DESCRIPTION_LEN {
        return Err(VotingError::BadProposal(format!("the description is over {MAX_DESCRIPTION_LEN} bytes")));
    }
    if messages.len() > MAX_MESSAGES {
        return Err(VotingError::BadProposal(format!("at most {MAX_MESSAGES} messages")));
    }
    // What the proposal does decides its rules; the label can only add one.
    let rules = kinds::applicable(ctx, config, kind.as_deref(), &messages)?;
    let kind = kinds::principal(config, &rules);
    let rule = kinds::rule_for(config, &kind);
    let mut tally = Tally::default();
    if let Some(c) = &choices {
        if c.len() < 2 || c.len() > MAX_CHOICES {
            return Err(VotingError::BadProposal(format!(
                "a multiple-choice proposal needs 2 to {MAX_CHOICES} choices"
            )));
        }
        if !messages.is_empty() {
            return Err(VotingError::BadProposal("a multiple-choice proposal cannot carry messages".into()));
        }
        tally.options = vec![0; c.len()];
    }
    let period = period_ms.unwrap_or(config.max_period_ms);
    if period < config.min_period_ms || period > config.max_period_ms {
        return Err(VotingError::BadProposal(format!(
            "period_ms must be between {} and {}, got {period}",
            config.min_period_ms, config.max_period_ms
        )));
    }
    let id = NEXT_ID.load(ctx)?;
    let mut p = Proposal {
        id,
        title,
        description,
        kind,
        rule,
        rules,
        proposer: caller,
        messages,
        choices,
        snapshot_height: 0,
        total_power: 0,
        created_ms: ctx.time_ms(),
        period_ms: period,
        draft,
        sponsor: None,
        start_ms: 0,
        end_ms: 0,
        closed_early_ms: None,
        quorum_reached_ms: None,
        firm: tally.clone(),
        tally,
        executed_ms: None,
        vetoed_by: None,
    };
    if !draft {
        open(ctx, config, &mut p)?;
    }
    NEXT_ID.save(ctx, &(id + 1))?;
    PROPOSALS.save(ctx, id, &p)?;
    let event = Event::new("proposal_created")
        .attr("proposal", id)
        .attr("proposer", &p.proposer)
        .attr("kind", &p.kind)
        .attr("draft", draft);
    let event = if draft { event } else { opened_attrs(event, &p) };
    Ok(Response::new().add_event(event).set_data(&ProposeResponse { id })?)
}

fn opened_attrs(event: Event, p: &Proposal) -> Event {
    event
        .attr("snapshot_height", p.snapshot_height)
        .attr("total_power", p.total_power)
        .attr("end_ms", p.end_ms)
}

/// Opens a proposal for voting now: fixes the snapshot (the height before
/// this op), the total power then, and the voting period.
fn open(ctx: &Ctx, config: &Config, p: &mut Proposal) -> Result<()> {
    let snapshot_height = ctx.height().saturating_sub(1);
    let total: PowerResponse =
        ctx.query(&config.membership, &MembershipQuery::TotalVotingPowerAt { height: snapshot_height })?;
    if total.power == 0 {
        return Err(VotingError::BadProposal(format!(
            "there was no voting power at height {snapshot_height}"
        )));
    }
    let absent =
        if config.suspended_count_in_total { 0 } else { suspended_power(ctx, config, snapshot_height)? };
    p.draft = false;
    p.snapshot_height = snapshot_height;
    p.total_power = total.power.saturating_sub(absent);
    if p.total_power == 0 {
        return Err(VotingError::BadProposal(format!(
            "every member with voting power at height {snapshot_height} is suspended for absence"
        )));
    }
    p.start_ms = ctx.time_ms();
    p.end_ms = p.start_ms.saturating_add(p.period_ms);
    Ok(())
}

/// `sponsor`: opens a draft proposal for voting.
pub fn execute_sponsor(ctx: &mut Ctx, config: &Config, id: u64) -> Result<Response> {
    let caller = ctx.caller().to_owned();
    let mut p = load(ctx, id)?;
    let status = outcome(config, &p, ctx.time_ms()).status;
    if status != Status::Draft {
        return Err(VotingError::WrongStatus { id, what: "sponsored", status });
    }
    match &config.proposers {
        Proposers::Sponsored(Sponsorship { role: Some(role) }) => {
            if !has_role(ctx, config, &caller, role)? {
                return Err(VotingError::NotAllowed(format!(
                    "only members with role {role:?} may sponsor a proposal"
                )));
            }
        }
        _ => {
            if caller == p.proposer {
                return Err(VotingError::NotAllowed(format!(
                    "{caller} proposed {id}; another member must sponsor it"
                )));
            }
            let height = ctx.height().saturating_sub(1);
            if power_at(ctx, config, &caller, height)? == 0 {
                return Err(VotingError::NotAllowed(format!(
                    "only members with voting power may sponsor, and {caller} had none at height {height}"
                )));
            }
        }
    }
    open(ctx, config, &mut p)?;
    p.sponsor = Some(caller.clone());
    PROPOSALS.save(ctx, id, &p)?;
    let event = Event::new("proposal_sponsored").attr("proposal", id).attr("sponsor", caller);
    Ok(Response::new().add_event(opened_attrs(event, &p)).set_data(&ProposeResponse { id })?)
}

/// `vote`: casts (or, where allowed, changes) the caller's ballot, carrying
/// the power of delegators who have not voted themselves.
pub fn execute_vote(ctx: &mut Ctx, config: &Config, id: u64, choice: Choice) -> Result<Response> {
    let voter = ctx.caller().to_owned();
    let now = ctx.time_ms();
    let mut p = load(ctx, id)?;
    let status = outcome(config, &p, now).status;
    if status == Status::Draft {
        return Err(VotingError::Draft(id));
    }
    if status != Status::Open {
        return Err(VotingError::Closed { id, status });
    }
    match (&p.choices, choice) {
        (None, Choice::Option(_)) => {
            return Err(VotingError::BadVote(format!(
                "proposal {id} is yes/no; vote \"yes\", \"no\" or \"abstain\""
            )));
        }
        (Some(_), Choice::Yes | Choice::No) => {
            return Err(VotingError::BadVote(format!(
                "proposal {id} is multiple choice; vote {{\"option\":i}} or \"abstain\""
            )));
        }
        (Some(c), Choice::Option(i)) if i as usize >= c.len() => {
            return Err(VotingError::BadVote(format!("proposal {id} has options 0 to {}", c.len() - 1)));
        }
        _ => {}
    }
    let mut event =
        Event::new("vote_cast").attr("proposal", id).attr("voter", &voter).attr("choice", label(choice));
    if let Some(mut ballot) = VOTES.may_load(ctx, (id, &voter))? {
        if !config.allow_vote_change {
            return Err(VotingError::BadVote(format!(
                "{voter} already voted on proposal {id}; votes cannot be changed"
            )));
        }
        p.tally.sub(ballot.choice, ballot.weight);
        p.firm.sub(ballot.choice, ballot.own_power);
        if ballot.choice == Choice::Yes {
            YES_VOTES.remove(ctx, (&voter, id));
        }
        ballot.choice = choice;
        p.tally.add(choice, ballot.weight);
        p.firm.add(choice, ballot.own_power);
        if choice == Choice::Yes {
            YES_VOTES.save(ctx, (&voter, id), &())?;
        }
        VOTES.save(ctx, (id, &voter), &ballot)?;
        event = event.attr("weight", ballot.weight).attr("changed", true);
    } else {
        let own = power_at(ctx, config, &voter, p.snapshot_height)?;
        // A delegator voting itself takes its power back from its delegate's ballot.
        if let Some(delegate) = COUNTED_VIA.may_load(ctx, (id, &voter))? {
            let mut theirs = VOTES.load(ctx, (id, &delegate))?;
            if let Some(pos) = theirs.delegated.iter().position(|(d, _)| *d == voter) {
                let (_, power) = theirs.delegated.remove(pos);
                theirs.weight = theirs.weight.saturating_sub(power);
                p.tally.sub(theirs.choice, power);
                VOTES.save(ctx, (id, &delegate), &theirs)?;
            }
            COUNTED_VIA.remove(ctx, (id, &voter));
            event = event.attr("overrode_delegate", delegate);
        }
        let delegators = DELEGATORS
            .prefix(voter.as_str())
            .iter(ctx)
            .map(|r| r.map(|(d, ())| d))
            .collect::<core::result::Result<Vec<String>, _>>()?;
        let mut delegated = Vec::new();
        let mut weight = own;
        for d in delegators {
            if VOTES.has(ctx, (id, &d))? || COUNTED_VIA.has(ctx, (id, &d))? {
                continue;
            }
            let power = power_at(ctx, config, &d, p.snapshot_height)?;
            if power == 0 {
                continue;
            }
            COUNTED_VIA.save(ctx, (id, &d), &voter)?;
            weight = weight.saturating_add(power);
            delegated.push((d, power));
        }
        if weight == 0 {
            return Err(VotingError::NoPower { member: voter, height: p.snapshot_height, id });
        }
        p.tally.add(choice, weight);
        p.firm.add(choice, own);
        if choice == Choice::Yes {
            YES_VOTES.save(ctx, (&voter, id), &())?;
        }
        event = event.attr("weight", weight).attr("delegated", delegated.len());
        VOTES.save(ctx, (id, &voter), &Ballot { choice, own_power: own, delegated, weight })?;
    }
    // Late quorum: quorum first reached within the last X ms moves the end to now + X.
    if p.quorum_reached_ms.is_none()
        && rules_of(&p).into_iter().all(|r| quorum_met(r, &p.tally, p.total_power))
    {
        p.quorum_reached_ms = Some(now);
        let x = config.late_quorum_extension_ms;
        if x > 0 && now.saturating_add(x) > p.end_ms {
            p.end_ms = now.saturating_add(x);
            event = event.attr("extended_to_ms", p.end_ms);
        }
    }
    if !config.allow_vote_change && p.choices.is_none() && decided(&p).is_some() {
        p.closed_early_ms = Some(now);
        event = event.attr("closed_early", true);
    }
    PROPOSALS.save(ctx, id, &p)?;
    Ok(Response::new().add_event(event))
}

/// `delegate`: the caller's power goes to `to` on proposals it does not vote on itself.
pub fn execute_delegate(ctx: &mut Ctx, to: String) -> Result<Response> {
    let from = ctx.caller().to_owned();
    if to == from {
        return Err(VotingError::BadDelegation("a member cannot delegate to itself".into()));
    }
    if let Some(old) = DELEGATIONS.may_load(ctx, &from)? {
        DELEGATORS.remove(ctx, (&old, &from));
    }
    DELEGATIONS.save(ctx, &from, &to)?;
    DELEGATORS.save(ctx, (&to, &from), &())?;
    Ok(Response::new().add_event(Event::new("delegated").attr("delegator", from).attr("delegate", to)))
}

/// `undelegate`: ends the caller's delegation.
pub fn execute_undelegate(ctx: &mut Ctx) -> Result<Response> {
    let from = ctx.caller().to_owned();
    let old = DELEGATIONS
        .may_load(ctx, &from)?
        .ok_or_else(|| VotingError::BadDelegation(format!("{from} has no delegate")))?;
    DELEGATIONS.remove(ctx, &from);
    DELEGATORS.remove(ctx, (&old, &from));
    Ok(Response::new().add_event(Event::new("undelegated").attr("delegator", from).attr("delegate", old)))
}

/// `veto`: the holder of the veto stops a proposal before its grace period ends.
pub fn execute_veto(ctx: &mut Ctx, config: &Config, proposal: u64) -> Result<Response> {
    let caller = ctx.caller().to_owned();
    let allowed = match &config.veto {
        None => return Err(VotingError::NotAllowed("this partnership has no veto".into())),
        Some(Veto::Member(m)) => *m == caller,
        Some(Veto::Role(r)) => has_role(ctx, config, &caller, r)?,
    };
    if !allowed {
        return Err(VotingError::NotAllowed(format!("{caller} does not hold the veto")));
    }
    let mut p = load(ctx, proposal)?;
    let status = outcome(config, &p, ctx.time_ms()).status;
    if !matches!(status, Status::Open | Status::Passed) {
        return Err(VotingError::WrongStatus { id: proposal, what: "vetoed", status });
    }
    p.vetoed_by = Some(caller.clone());
    PROPOSALS.save(ctx, proposal, &p)?;
    Ok(Response::new().add_event(Event::new("proposal_vetoed").attr("proposal", proposal).attr("by", caller)))
}

/// `execute`: runs an executable proposal's messages (anyone may send it).
pub fn execute_execute(ctx: &mut Ctx, config: &Config, proposal: u64) -> Result<Response> {
    let mut p = load(ctx, proposal)?;
    let status = outcome(config, &p, ctx.time_ms()).status;
    if status != Status::Executable {
        return Err(VotingError::WrongStatus { id: proposal, what: "executed", status });
    }
    // The decision table as it stands now: a proposal made under a weaker
    // rule (or before a kind was reserved) passes only if its votes meet
    // what its messages need today.
    if p.choices.is_none() {
        let now_rules = kinds::applicable(ctx, config, None, &p.messages)?;
        let unmet: Vec<String> = now_rules
            .iter()
            .filter(|(_, rule)| !crate::outcome::meets(rule, &p.tally, p.total_power))
            .map(|(kind, rule)| format!("`{kind}` ({})", describe_rule(rule)))
            .collect();
        if !unmet.is_empty() {
            return Err(VotingError::BadProposal(format!(
                "proposal {proposal} carries what needs {}, which its votes do not meet",
                unmet.join(" and ")
            )));
        }
    }
    p.executed_ms = Some(ctx.time_ms());
    PROPOSALS.save(ctx, proposal, &p)?;
    let mut response = Response::new().add_event(
        Event::new("proposal_executed")
            .attr("proposal", proposal)
            .attr("by", ctx.caller())
            .attr("messages", p.messages.len()),
    );
    for m in p.messages {
        response = match m {
            ProposalMsg::Call { module, msg } => response.add_message(module, &msg)?,
            ProposalMsg::System(s) => response.add_system(s.into_system()),
            ProposalMsg::Partnership { to, module, msg } => response.send_to_partnership(to, module, &msg)?,
        };
    }
    Ok(response)
}

/// A member votes, delegates, vetoes and sponsors with its own op: no module
/// may do so on its behalf.
fn require_own_op(ctx: &Ctx, msg: &HandleMsg) -> Result<()> {
    if let Some(module) = ctx.sender_module()
        && matches!(
            msg,
            HandleMsg::Vote { .. }
                | HandleMsg::Delegate { .. }
                | HandleMsg::Undelegate {}
                | HandleMsg::Veto { .. }
                | HandleMsg::Sponsor { .. }
        )
    {
        return Err(VotingError::NotAllowed(format!(
            "a member votes, delegates, vetoes and sponsors with its own op, not through module `{module}`"
        )));
    }
    Ok(())
}

/// The SDK's system message for a proposal's `system` message.
fn load(ctx: &QueryCtx, id: u64) -> Result<Proposal> {
    PROPOSALS.may_load(ctx, id)?.ok_or(VotingError::UnknownProposal(id))
}

fn label(choice: Choice) -> String {
    match choice {
        Choice::Yes => "yes".into(),
        Choice::No => "no".into(),
        Choice::Abstain => "abstain".into(),
        Choice::Option(i) => format!("option {i}"),
    }
}

/// A rule in words, for errors.
fn describe_rule(rule: &Rule) -> String {
    let threshold = match rule.threshold {
        Threshold::Majority {} => "a majority of yes over no".to_owned(),
        Threshold::Percent { percent } => format!("{percent}% yes of yes and no"),
        Threshold::Absolute { count } => format!("{count} units of yes"),
        Threshold::Unanimous {} => "every voting unit yes".to_owned(),
    };
    format!("{threshold}, quorum {}%", rule.quorum_percent)
}

fn check_rule(kind: &str, rule: &Rule) -> Result<()> {
    if rule.quorum_percent > 100 {
        return Err(VotingError::Config(format!("rule {kind:?}: quorum_percent must be 0 to 100")));
    }
    match rule.threshold {
        Threshold::Percent { percent } if percent == 0 || percent > 100 => {
            Err(VotingError::Config(format!("rule {kind:?}: percent must be 1 to 100")))
        }
        Threshold::Absolute { count: 0 } => {
            Err(VotingError::Config(format!("rule {kind:?}: absolute count must be above 0")))
        }
        _ => Ok(()),
    }
}

// ----- membership -----

/// `member`'s voting units at the end of `height`, from the membership module.
/// The voting power at `height` of the members suspended for absence now.
fn suspended_power(ctx: &QueryCtx, config: &Config, height: u64) -> Result<u64> {
    let mut power = 0u64;
    for status in ctx.statuses()? {
        if status.status == polypact_sdk::Status::Suspended {
            power = power.saturating_add(power_at(ctx, config, &status.member, height)?);
        }
    }
    Ok(power)
}

fn power_at(ctx: &QueryCtx, config: &Config, member: &str, height: u64) -> Result<u64> {
    let a: PowerResponse =
        ctx.query(&config.membership, &MembershipQuery::VotingPowerAt { member: member.into(), height })?;
    Ok(a.power)
}

/// Whether `member` is current and has `role`, from the membership module.
fn has_role(ctx: &QueryCtx, config: &Config, member: &str, role: &str) -> Result<bool> {
    let a: HasRoleResponse = ctx
        .query(&config.membership, &MembershipQuery::HasRole { member: member.into(), role: role.into() })?;
    Ok(a.has_role)
}

// ----- queries -----

/// `proposals`: a page of proposals in id order, each with its status now.
pub fn query_proposals(
    ctx: &QueryCtx,
    config: &Config,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<ProposalsResponse> {
    let now = ctx.time_ms();
    let limit = limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let proposals =
        PROPOSALS.range(ctx, start_after, limit)?.into_iter().map(|(_, p)| view(config, p, now)).collect();
    Ok(ProposalsResponse { proposals })
}

/// `vote`: a voter's ballot on a proposal that exists.
pub fn query_vote(ctx: &QueryCtx, proposal: u64, voter: &str) -> Result<VoteResponse> {
    load(ctx, proposal)?;
    Ok(VoteResponse { ballot: VOTES.may_load(ctx, (proposal, voter))? })
}

/// `open_yes_votes`: proposals still open, passed or executable on which
/// `voter`'s own ballot is yes.
pub fn query_open_yes_votes(ctx: &QueryCtx, config: &Config, voter: &str) -> Result<OpenYesVotesResponse> {
    let now = ctx.time_ms();
    let mut proposals = Vec::new();
    for entry in YES_VOTES.prefix(voter).iter(ctx) {
        let (id, ()) = entry?;
        let p = load(ctx, id)?;
        if matches!(outcome(config, &p, now).status, Status::Open | Status::Passed | Status::Executable) {
            proposals.push(id);
        }
    }
    Ok(OpenYesVotesResponse { proposals })
}
