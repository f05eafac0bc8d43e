//! The term module's rules: its entry points and one function per call
//! and query.
//!
//! This file owns what each message does: the term and its renewal, the
//! sunset (`tick` after the end asks exit to `dissolve`), milestones, KPI
//! records, and review cycles (`tick` opens a review as a voting proposal;
//! governance applies it, sending the treasury `set_split`); and the check,
//! at init, that the exit, voting and treasury instances are wired to
//! accept this one, reading their configs with the types of their `-api`
//! crates. `handle` and `query` only dispatch. It does not own the message
//! formats (`msg.rs`), the storage layout (`state.rs`), the split
//! arithmetic (`split.rs`), the input checks (`validate.rs`) or the error
//! texts (`error.rs`).

use std::collections::BTreeMap;

use exit_api::{Config as ExitConfig, HandleMsg as ExitMsg, QueryMsg as ExitQuery};
use membership_api::{MemberInfo, QueryMsg as MembershipQuery};
use polypact_sdk::{Ctx, Event, Json, QueryCtx, Response, to_json};
use serde::Serialize;
use serde::de::DeserializeOwned;
use treasury_api::{Config as TreasuryConfig, QueryMsg as TreasuryQuery};
use voting_api::{
    Config as VotingConfig, DEFAULT_KIND, HandleMsg as VotingMsg, ProposalMsg, QueryMsg as VotingQuery,
};

use crate::error::{Result, TermError};
use crate::msg::{
    Approval, Config, ConfigResponse, Done, Ended, HandleMsg, InitConfig, KpiRecord, KpiResponse,
    KpisResponse, Milestone, MilestoneSpec, MilestoneStatus, MilestoneView, MilestonesResponse, NextReview,
    QueryMsg, Renewal, Review, ReviewView, ReviewsResponse, SplitPreview, SplitRule, StatusResponse,
    TickResponse,
};
use crate::split::{compute_split, describe_split, set_split_msg};
use crate::state::{CONFIG, KPIS, MILESTONES, REVIEW_BY_PERIOD, REVIEWS, SPLIT_RULE, TERM, TermState};
use crate::validate::{
    MAX_KPIS, MAX_MILESTONES, MAX_NAME_LEN, MAX_NOTE_LEN, MAX_OWNERS, check_instance, check_milestone,
    check_period, check_schedule, check_split_rule, is_id,
};

/// Most reviews one `tick` opens (the rest wait for the next tick).
pub const MAX_REVIEWS_PER_TICK: u64 = 8;
/// Largest page of a paged query.
pub const MAX_PAGE: u32 = 100;
/// Page size when a query does not set one.
pub const DEFAULT_PAGE: u32 = 20;
/// The reason this module gives the exit module when the term ends.
pub const END_REASON: &str = "term ended";

// ----- entry points -----

/// `init`: validates and stores the config, the milestones and the split rule.
pub fn init(ctx: &mut Ctx, config: InitConfig) -> Result<Response> {
    check_instance("membership", &config.membership)?;
    check_instance("governance", &config.governance)?;
    check_instance("exit", &config.exit)?;
    if config.start_ms >= config.end_ms {
        return Err(TermError::Config(format!(
            "start_ms ({}) must be before end_ms ({})",
            config.start_ms, config.end_ms
        )));
    }
    if config.kpis.len() > MAX_KPIS {
        return Err(TermError::Config(format!("at most {MAX_KPIS} kpis")));
    }
    for metric in config.kpis.keys() {
        if !is_id(metric) {
            return Err(TermError::Config(format!(
                "kpi name {metric:?} must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9, `_`, `-` or `.`"
            )));
        }
    }
    if let Some(schedule) = &config.reviews {
        check_schedule(schedule, config.start_ms)?;
    }
    for (metric, spec) in &config.kpis {
        if spec.reporters.len() > MAX_OWNERS {
            return Err(TermError::Config(format!("kpi {metric:?}: at most {MAX_OWNERS} reporters")));
        }
    }
    if config.review_period_ms == Some(0) {
        return Err(TermError::Config("review_period_ms must be above 0 (or absent)".into()));
    }
    if config.milestones.len() > MAX_MILESTONES {
        return Err(TermError::Config(format!("at most {MAX_MILESTONES} milestones")));
    }
    let stored = Config {
        membership: config.membership,
        governance: config.governance,
        exit: config.exit,
        treasury: config.treasury,
        start_ms: config.start_ms,
        initial_end_ms: config.end_ms,
        kpis: config.kpis,
        reviews: config.reviews,
        review_kind: config.review_kind,
        review_period_ms: config.review_period_ms,
    };
    if let Some(t) = &stored.treasury {
        check_instance("treasury", t)?;
    }
    if let Some(rule) = &config.split_rule {
        check_split_rule(rule, &stored.kpis)?;
        if stored.treasury.is_none() {
            return Err(TermError::Config(
                "a split_rule needs treasury (the instance that receives set_split)".into(),
            ));
        }
        check_rule_members(ctx, &stored, rule)?;
        SPLIT_RULE.save(ctx, rule)?;
    }
    check_wiring(ctx, &stored, config.split_rule.is_some())?;
    for (metric, spec) in &stored.kpis {
        for reporter in &spec.reporters {
            membership_check(ctx, &stored, reporter).map_err(|reason| {
                TermError::Config(format!(
                    "kpi {metric:?}: reporter {reporter} is not a current member ({reason})"
                ))
            })?;
        }
    }
    for spec in &config.milestones {
        add_milestone(ctx, &stored, spec)?;
    }
    CONFIG.save(ctx, &stored)?;
    TERM.save(
        ctx,
        &TermState {
            end_ms: config.end_ms,
            renewals: Vec::new(),
            next_review: 1,
            last_applied: 0,
            ended: None,
        },
    )?;
    Ok(Response::new().add_event(
        Event::new("term_configured")
            .attr("start_ms", stored.start_ms)
            .attr("end_ms", config.end_ms)
            .attr("milestones", config.milestones.len())
            .attr("kpis", stored.kpis.len())
            .attr("split_rule", config.split_rule.is_some()),
    ))
}

/// `handle`: every call of [`HandleMsg`].
pub fn handle(ctx: &mut Ctx, msg: HandleMsg) -> Result<Response> {
    let config = CONFIG.load(ctx)?;
    let term = TERM.load(ctx)?;
    if let Some(ended) = &term.ended {
        // Normally unreachable: the exit module dissolves the partnership in the same op.
        return Err(TermError::Ended(ended.at_ms));
    }
    match msg {
        HandleMsg::Tick {} => execute_tick(ctx, &config, term),
        HandleMsg::Renew { end_ms } => execute_renew(ctx, &config, term, end_ms),
        HandleMsg::RecordKpi { metric, value, period } => {
            execute_record_kpi(ctx, &config, metric, value, period)
        }
        HandleMsg::CompleteMilestone { id, note } => execute_complete_milestone(ctx, id, note),
        HandleMsg::AddMilestone(spec) => execute_add_milestone(ctx, &config, spec),
        HandleMsg::ApproveMilestone { id } => execute_approve_milestone(ctx, &config, id),
        HandleMsg::SetSplitRule { split_rule } => execute_set_split_rule(ctx, &config, split_rule),
        HandleMsg::ApplyReview { review } => execute_apply_review(ctx, &config, term, review),
    }
}

/// `query`: every query of [`QueryMsg`].
pub fn query(ctx: &QueryCtx, msg: QueryMsg) -> Result<Json> {
    let config = CONFIG.load(ctx)?;
    let now = ctx.time_ms();
    let answer = match msg {
        QueryMsg::Status {} => to_json(&query_status(ctx, &config)?)?,
        QueryMsg::Milestones {} => to_json(&query_milestones(ctx)?)?,
        QueryMsg::Milestone { id } => {
            let m = MILESTONES.may_load(ctx, &id)?.ok_or(TermError::UnknownMilestone(id))?;
            to_json(&milestone_view(m, now))?
        }
        QueryMsg::Kpi { metric, period } => {
            to_json(&KpiResponse { kpi: KPIS.may_load(ctx, (&metric, &period))? })?
        }
        QueryMsg::Kpis { metric, start_after, limit } => {
            to_json(&query_kpis(ctx, &metric, start_after, limit)?)?
        }
        QueryMsg::Reviews { start_after, limit } => {
            to_json(&query_reviews(ctx, &config, start_after, limit)?)?
        }
        QueryMsg::PreviewSplit { period } => match SPLIT_RULE.may_load(ctx)? {
            Some(rule) => to_json(&compute_split(ctx, &rule, &period)?)?,
            None => to_json(&SplitPreview { attainment_bps: BTreeMap::new(), split: None })?,
        },
        QueryMsg::ProposalKind { msg } => {
            let kind = match voting_api::call_msg_name(&msg) {
                Some("apply_review") => config.review_kind.clone(),
                _ => None,
            };
            to_json(&voting_api::KindResponse { kind })?
        }
        QueryMsg::Config {} => to_json(&ConfigResponse { config, split_rule: SPLIT_RULE.may_load(ctx)? })?,
    };
    Ok(answer)
}

// ----- calls -----

/// `renew`: governance moves the end later.
pub fn execute_renew(ctx: &mut Ctx, config: &Config, mut term: TermState, end_ms: u64) -> Result<Response> {
    require_governance(ctx, config, "renew the term")?;
    let now = ctx.time_ms();
    if end_ms <= term.end_ms || end_ms <= now {
        return Err(TermError::BadRenewal(format!(
            "the new end {end_ms} must be after the current end {} and after now ({now})",
            term.end_ms
        )));
    }
    let renewal = Renewal { at_ms: now, from_end_ms: term.end_ms, to_end_ms: end_ms };
    term.end_ms = end_ms;
    term.renewals.push(renewal.clone());
    TERM.save(ctx, &term)?;
    Ok(Response::new().add_event(
        Event::new("term_renewed")
            .attr("from_end_ms", renewal.from_end_ms)
            .attr("to_end_ms", end_ms)
            .attr("renewals", term.renewals.len()),
    ))
}

/// `record_kpi`: a current member's own op records (or its recorder
/// corrects) a KPI value.
pub fn execute_record_kpi(
    ctx: &mut Ctx,
    config: &Config,
    metric: String,
    value: u64,
    period: String,
) -> Result<Response> {
    let caller = require_member(ctx, config, "record KPIs")?;
    if !config.kpis.contains_key(&metric) {
        let known: Vec<&str> = config.kpis.keys().map(String::as_str).collect();
        return Err(TermError::BadKpi(format!(
            "unknown metric {metric:?}; this term declares {}",
            if known.is_empty() { "none".to_owned() } else { known.join(", ") }
        )));
    }
    let reporters = config.kpis.get(&metric).map(|k| k.reporters.as_slice()).unwrap_or_default();
    if !reporters.is_empty() && !reporters.contains(&caller) {
        return Err(TermError::NotAllowed(format!("only {} may record {metric}", reporters.join(", "))));
    }
    check_period(&period).map_err(TermError::BadKpi)?;
    let now = ctx.time_ms();
    let mut corrections = 0;
    if let Some(old) = KPIS.may_load(ctx, (&metric, &period))? {
        if old.recorded_by != caller {
            return Err(TermError::BadKpi(format!(
                "{metric} for {period} was recorded by {}; only its recorder may correct it",
                old.recorded_by
            )));
        }
        if let Some(review) = REVIEW_BY_PERIOD.may_load(ctx, &period)? {
            return Err(TermError::BadKpi(format!(
                "{metric} for {period} is final: review {review} already used it"
            )));
        }
        corrections = old.corrections.saturating_add(1);
    }
    let record = KpiRecord {
        metric: metric.clone(),
        period: period.clone(),
        value,
        recorded_by: caller.clone(),
        recorded_ms: now,
        corrections,
    };
    KPIS.save(ctx, (&metric, &period), &record)?;
    Ok(Response::new().add_event(
        Event::new(if corrections == 0 { "kpi_recorded" } else { "kpi_corrected" })
            .attr("metric", metric)
            .attr("period", period)
            .attr("value", value)
            .attr("by", caller),
    ))
}

/// `complete_milestone`: an owner's own op marks a milestone done.
pub fn execute_complete_milestone(ctx: &mut Ctx, id: String, note: String) -> Result<Response> {
    let caller = ctx.caller().to_owned();
    if let Some(module) = ctx.sender_module() {
        return Err(TermError::NotAllowed(format!(
            "owners mark milestones done in their own ops, not through module {module:?}"
        )));
    }
    let mut m = MILESTONES.may_load(ctx, &id)?.ok_or_else(|| TermError::UnknownMilestone(id.clone()))?;
    if !m.owners.contains(&caller) {
        return Err(TermError::NotAllowed(format!(
            "only the owners of milestone {id:?} ({}) may mark it done",
            m.owners.join(", ")
        )));
    }
    if let Some(done) = &m.done {
        return Err(TermError::BadMilestone(format!(
            "{id:?} was already marked done by {} at {}",
            done.by, done.at_ms
        )));
    }
    if note.len() > MAX_NOTE_LEN {
        return Err(TermError::BadMilestone(format!("the note is over {MAX_NOTE_LEN} bytes")));
    }
    let now = ctx.time_ms();
    let late = now > m.due_ms;
    m.done = Some(Done { at_ms: now, by: caller.clone(), note });
    MILESTONES.save(ctx, &id, &m)?;
    Ok(Response::new().add_event(
        Event::new("milestone_completed")
            .attr("milestone", id)
            .attr("by", caller)
            .attr("due_ms", m.due_ms)
            .attr("late", late),
    ))
}

/// `approve_milestone`: governance approves a milestone its owners marked
/// done (once); what is gated on it may then be released.
pub fn execute_approve_milestone(ctx: &mut Ctx, config: &Config, id: String) -> Result<Response> {
    require_governance(ctx, config, "approve milestones")?;
    let mut m = MILESTONES.may_load(ctx, &id)?.ok_or_else(|| TermError::UnknownMilestone(id.clone()))?;
    if m.done.is_none() {
        return Err(TermError::BadMilestone(format!(
            "{id:?} is not marked done yet; its owners ({}) complete it first, then governance approves it",
            m.owners.join(", ")
        )));
    }
    if let Some(a) = &m.approved {
        return Err(TermError::BadMilestone(format!(
            "{id:?} was already approved at {} (height {})",
            a.at_ms, a.height
        )));
    }
    let by = format!("module:{}", config.governance);
    m.approved = Some(Approval { at_ms: ctx.time_ms(), height: ctx.height(), by: by.clone() });
    MILESTONES.save(ctx, &id, &m)?;
    Ok(Response::new().add_event(Event::new("milestone_approved").attr("milestone", id).attr("by", by)))
}

/// `add_milestone`: governance adds a milestone.
pub fn execute_add_milestone(ctx: &mut Ctx, config: &Config, spec: MilestoneSpec) -> Result<Response> {
    require_governance(ctx, config, "add milestones")?;
    let count = MILESTONES.iter(ctx).take(MAX_MILESTONES + 1).count();
    if count >= MAX_MILESTONES {
        return Err(TermError::BadMilestone(format!("a term has at most {MAX_MILESTONES} milestones")));
    }
    add_milestone(ctx, config, &spec)?;
    Ok(Response::new()
        .add_event(Event::new("milestone_added").attr("milestone", &spec.id).attr("due_ms", spec.due_ms)))
}

/// `set_split_rule`: governance replaces the split rule (`None` removes it).
pub fn execute_set_split_rule(
    ctx: &mut Ctx,
    config: &Config,
    split_rule: Option<SplitRule>,
) -> Result<Response> {
    require_governance(ctx, config, "change the split rule")?;
    match &split_rule {
        Some(rule) => {
            check_split_rule(rule, &config.kpis)?;
            if config.treasury.is_none() {
                return Err(TermError::BadSplitRule(
                    "this term has no treasury configured to send splits to".into(),
                ));
            }
            check_rule_members(ctx, config, rule)?;
            SPLIT_RULE.save(ctx, rule)?;
        }
        None => SPLIT_RULE.remove(ctx),
    }
    Ok(Response::new().add_event(Event::new("split_rule_set").attr("removed", split_rule.is_none())))
}

/// `tick`: anyone; ends the term once it is past its end (exit `dissolve`),
/// else opens the reviews that are due as voting proposals.
pub fn execute_tick(ctx: &mut Ctx, config: &Config, mut term: TermState) -> Result<Response> {
    let now = ctx.time_ms();
    if now >= term.end_ms {
        let ended = Ended {
            at_ms: now,
            height: ctx.height(),
            by: ctx.caller().to_owned(),
            reason: END_REASON.to_owned(),
        };
        term.ended = Some(ended);
        TERM.save(ctx, &term)?;
        return Ok(Response::new()
            .add_event(
                Event::new("term_ended")
                    .attr("end_ms", term.end_ms)
                    .attr("at_ms", now)
                    .attr("renewals", term.renewals.len())
                    .attr("exit", &config.exit),
            )
            .add_message(&config.exit, &ExitMsg::Dissolve { reason: END_REASON.into() })?
            .set_data(&TickResponse { ended: true, opened_reviews: Vec::new() })?);
    }
    let rule = SPLIT_RULE.may_load(ctx)?;
    let mut response = Response::new();
    let mut opened = Vec::new();
    while (opened.len() as u64) < MAX_REVIEWS_PER_TICK {
        let n = term.next_review;
        let Some((due_ms, period)) = scheduled(config, n) else { break };
        if due_ms > now || due_ms >= term.end_ms {
            break;
        }
        let preview = match &rule {
            Some(rule) => compute_split(ctx, rule, &period)?,
            None => SplitPreview { attainment_bps: BTreeMap::new(), split: None },
        };
        let description = match &preview.split {
            Some(split) => format!(
                "Term review {n} of KPI period {period}. If it passes and is executed, the revenue split becomes: {}. Attainment (bps): {}.",
                describe_split(split),
                describe_split(&preview.attainment_bps)
            ),
            None => format!(
                "Term review {n} of KPI period {period}. No split rule: applying it records the review."
            ),
        };
        let review = Review {
            number: n,
            period: period.clone(),
            due_ms,
            opened_ms: now,
            attainment_bps: preview.attainment_bps,
            split: preview.split,
            waterfall: rule.as_ref().and_then(|r| r.waterfall.clone()),
            applied_ms: None,
        };
        REVIEWS.save(ctx, n, &review)?;
        REVIEW_BY_PERIOD.save(ctx, &period, &n)?;
        let apply = serde_json::to_value(HandleMsg::ApplyReview { review: n })
            .map_err(|e| polypact_sdk::Error::msg(format!("cannot encode apply_review: {e}")))?;
        let proposal = VotingMsg::Propose {
            title: format!("Term review {n} (KPI period {period})"),
            description,
            kind: config.review_kind.clone(),
            messages: vec![ProposalMsg::Call { module: ctx.module().into(), msg: apply }],
            choices: None,
            period_ms: config.review_period_ms,
        };
        response = response.add_message(&config.governance, &proposal)?.add_event(
            Event::new("review_opened")
                .attr("review", n)
                .attr("period", &period)
                .attr("due_ms", due_ms)
                .attr("split", review.split.as_ref().map(describe_split).unwrap_or_default()),
        );
        opened.push(n);
        term.next_review = n.saturating_add(1);
    }
    if opened.is_empty() {
        let next = match scheduled(config, term.next_review).filter(|(due, _)| *due < term.end_ms) {
            Some((due, period)) => format!(
                "review {} (period {period}) is due at {due} and the term ends at {}",
                term.next_review, term.end_ms
            ),
            None => format!("no review is left and the term ends at {}", term.end_ms),
        };
        return Err(TermError::NothingDue { now_ms: now, next });
    }
    TERM.save(ctx, &term)?;
    response.set_data(&TickResponse { ended: false, opened_reviews: opened }).map_err(Into::into)
}

/// `apply_review`: governance (a review proposal's message) applies an
/// opened review, sending the treasury the review's split.
pub fn execute_apply_review(
    ctx: &mut Ctx,
    config: &Config,
    mut term: TermState,
    number: u64,
) -> Result<Response> {
    require_governance(ctx, config, "apply a review (it is the message of a review proposal)")?;
    let fail = |reason: String| TermError::Review { review: number, reason };
    let mut review = REVIEWS
        .may_load(ctx, number)?
        .ok_or_else(|| fail("it has not been opened; tick opens reviews when they fall due".into()))?;
    if let Some(at) = review.applied_ms {
        return Err(fail(format!("it was already applied at {at}")));
    }
    if term.last_applied > number {
        return Err(fail(format!("review {} is newer and already applied", term.last_applied)));
    }
    review.applied_ms = Some(ctx.time_ms());
    term.last_applied = number;
    REVIEWS.save(ctx, number, &review)?;
    TERM.save(ctx, &term)?;
    let mut event = Event::new("review_applied").attr("review", number).attr("period", &review.period);
    let mut response = Response::new();
    if let Some(split) = &review.split {
        let treasury = config.treasury.as_deref().ok_or_else(|| fail("no treasury is configured".into()))?;
        event = event.attr("split", describe_split(split)).attr("treasury", treasury);
        response = response.add_message(treasury, &set_split_msg(review.waterfall.as_ref(), split))?;
    }
    Ok(response.add_event(event))
}

fn add_milestone(ctx: &mut Ctx, config: &Config, spec: &MilestoneSpec) -> Result<()> {
    check_milestone(spec)?;
    if MILESTONES.has(ctx, &spec.id)? {
        return Err(TermError::BadMilestone(format!("id {:?} is already used", spec.id)));
    }
    for owner in &spec.owners {
        membership_check(ctx, config, owner).map_err(|reason| {
            TermError::BadMilestone(format!("{}: owner {owner} is not a current member ({reason})", spec.id))
        })?;
    }
    let m = Milestone {
        id: spec.id.clone(),
        title: spec.title.clone(),
        due_ms: spec.due_ms,
        owners: spec.owners.clone(),
        done: None,
        approved: None,
    };
    MILESTONES.save(ctx, &spec.id, &m)?;
    Ok(())
}

// ----- wiring and membership -----

/// The config of another module instance, read with its own type.
fn config_of<C: DeserializeOwned>(ctx: &QueryCtx, module: &str, query: &impl Serialize) -> Result<C> {
    ctx.query::<C>(module, query).map_err(|e| {
        TermError::Config(format!(
            "cannot read the config of module {module:?} ({e}); list term after it in the charter"
        ))
    })
}

/// Checks at init that the modules this term relies on will accept its
/// messages, so a miswired charter fails at genesis, not at the first
/// review or at the end of the term.
fn check_wiring(ctx: &QueryCtx, config: &Config, split_rule: bool) -> Result<()> {
    let me = ctx.module();
    let exit: ExitConfig = config_of(ctx, &config.exit, &ExitQuery::Config {})?;
    if exit.term_module.as_deref() != Some(me) {
        return Err(TermError::Config(format!(
            "the exit module {:?} does not name {me:?} as its term_module, so the term could not end; set \"term_module\": {me:?} in its config",
            config.exit
        )));
    }
    if config.reviews.is_some() {
        let voting: VotingConfig = config_of(ctx, &config.governance, &VotingQuery::Config {})?;
        if !voting.module_proposers.iter().any(|m| m == me) {
            return Err(TermError::Config(format!(
                "the governance module {:?} does not list {me:?} in module_proposers, so reviews could not be opened; add it there",
                config.governance
            )));
        }
        let kind = config.review_kind.as_deref().unwrap_or(DEFAULT_KIND);
        if !voting.rules.contains_key(kind) {
            return Err(TermError::Config(format!(
                "review_kind {kind:?} is not a rule of the governance module {:?}; add it to its decision table",
                config.governance
            )));
        }
        if let Some(period) = config.review_period_ms {
            let (min, max) = (voting.min_period_ms, voting.max_period_ms);
            if period < min || period > max {
                return Err(TermError::Config(format!(
                    "review_period_ms {period} is outside the governance module's voting periods ({min} to {max})"
                )));
            }
        }
    }
    if split_rule && let Some(treasury) = &config.treasury {
        let t: TreasuryConfig = config_of(ctx, treasury, &TreasuryQuery::Config {})?;
        if !t.split_managers.iter().any(|m| m == me) {
            return Err(TermError::Config(format!(
                "the treasury {treasury:?} does not list {me:?} in split_managers, so reviews could not set the split; add it there"
            )));
        }
    }
    Ok(())
}

/// The split rule's members must be current members (the treasury pays members).
fn check_rule_members(ctx: &QueryCtx, config: &Config, rule: &SplitRule) -> Result<()> {
    for member in rule.base_bps.keys() {
        membership_check(ctx, config, member).map_err(|reason| {
            TermError::BadSplitRule(format!(
                "base_bps names {member}, who is not a current member ({reason})"
            ))
        })?;
    }
    Ok(())
}

fn is_governance(ctx: &Ctx, config: &Config) -> bool {
    ctx.sender_module() == Some(config.governance.as_str())
}

fn require_governance(ctx: &Ctx, config: &Config, what: &str) -> Result<()> {
    if is_governance(ctx, config) {
        Ok(())
    } else {
        Err(TermError::NotAllowed(format!(
            "only the governance module {:?} may {what}; propose it there",
            config.governance
        )))
    }
}

/// `Ok(())` if `member` is an active member; else why not.
fn membership_check(ctx: &QueryCtx, config: &Config, member: &str) -> core::result::Result<(), String> {
    match ctx.query::<MemberInfo>(&config.membership, &MembershipQuery::Member { member: member.into() }) {
        Ok(m) if m.record.active => Ok(()),
        Ok(_) => Err(format!("{member} is a former member")),
        Err(polypact_sdk::Error::Query { reason, .. }) => Err(reason),
        Err(e) => Err(e.to_string()),
    }
}

fn require_member(ctx: &Ctx, config: &Config, what: &'static str) -> Result<String> {
    let caller = ctx.caller().to_owned();
    if let Some(module) = ctx.sender_module() {
        return Err(TermError::NotAllowed(format!(
            "members {what} in their own ops, not through module {module:?}"
        )));
    }
    membership_check(ctx, config, &caller).map_err(|reason| TermError::NotMember {
        member: caller.clone(),
        reason,
        what,
    })?;
    Ok(caller)
}

/// Review `n`'s due date and period, if the schedule has one.
fn scheduled(config: &Config, n: u64) -> Option<(u64, String)> {
    let schedule = config.reviews.as_ref()?;
    if n == 0 {
        return None;
    }
    if let Some(every) = schedule.every_ms {
        let due = every.checked_mul(n).and_then(|d| d.checked_add(config.start_ms))?;
        return Some((due, n.to_string()));
    }
    let index = usize::try_from(n - 1).ok()?;
    schedule.at.get(index).map(|d| (d.at_ms, d.period.clone()))
}

fn milestone_view(m: Milestone, now: u64) -> MilestoneView {
    let (status, late) = match &m.done {
        Some(done) => (MilestoneStatus::Done, done.at_ms > m.due_ms),
        None if now > m.due_ms => (MilestoneStatus::Overdue, false),
        None => (MilestoneStatus::Pending, false),
    };
    MilestoneView { milestone: m, status, late }
}

// ----- queries -----

/// `status`: the term now.
pub fn query_status(ctx: &QueryCtx, config: &Config) -> Result<StatusResponse> {
    let now = ctx.time_ms();
    let term = TERM.load(ctx)?;
    let next_review = scheduled(config, term.next_review)
        .filter(|(due, _)| *due < term.end_ms)
        .map(|(due_ms, period)| NextReview { number: term.next_review, due_ms, period });
    let phase = if term.ended.is_some() {
        "ended"
    } else if now >= term.end_ms {
        "ending"
    } else {
        "active"
    };
    let mut overdue_milestones = Vec::new();
    for item in MILESTONES.iter(ctx) {
        let (id, m) = item?;
        if m.done.is_none() && now > m.due_ms {
            overdue_milestones.push(id);
        }
    }
    Ok(StatusResponse {
        start_ms: config.start_ms,
        end_ms: term.end_ms,
        now_ms: now,
        phase: phase.into(),
        renewals: term.renewals,
        next_due_ms: next_review.as_ref().map_or(term.end_ms, |r| r.due_ms),
        next_review,
        last_applied_review: term.last_applied,
        overdue_milestones,
        ended: term.ended,
    })
}

/// `milestones`: every milestone with its status, by due date, then id.
pub fn query_milestones(ctx: &QueryCtx) -> Result<MilestonesResponse> {
    let now = ctx.time_ms();
    let mut milestones = Vec::new();
    for item in MILESTONES.iter(ctx) {
        let (_, m) = item?;
        milestones.push(milestone_view(m, now));
    }
    milestones
        .sort_by(|a, b| (a.milestone.due_ms, &a.milestone.id).cmp(&(b.milestone.due_ms, &b.milestone.id)));
    Ok(MilestonesResponse { milestones })
}

/// `kpis`: a page of a metric's values by period label.
pub fn query_kpis(
    ctx: &QueryCtx,
    metric: &str,
    start_after: Option<String>,
    limit: Option<u32>,
) -> Result<KpisResponse> {
    let limit = limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE);
    let kpis =
        KPIS.prefix(metric).range(ctx, start_after.as_deref(), limit)?.into_iter().map(|(_, r)| r).collect();
    Ok(KpisResponse { kpis })
}

/// `reviews`: a page of reviews by number, opened and scheduled.
pub fn query_reviews(
    ctx: &QueryCtx,
    config: &Config,
    start_after: Option<u64>,
    limit: Option<u32>,
) -> Result<ReviewsResponse> {
    let now = ctx.time_ms();
    let term = TERM.load(ctx)?;
    let limit = u64::from(limit.unwrap_or(DEFAULT_PAGE).min(MAX_PAGE));
    let mut reviews = Vec::new();
    let mut n = start_after.unwrap_or(0).saturating_add(1);
    while (reviews.len() as u64) < limit {
        let view = if let Some(review) = REVIEWS.may_load(ctx, n)? {
            let status = if review.applied_ms.is_some() {
                "applied"
            } else if term.last_applied > n {
                "superseded"
            } else {
                "opened"
            };
            ReviewView {
                number: n,
                period: review.period.clone(),
                due_ms: review.due_ms,
                status: status.into(),
                review: Some(review),
            }
        } else {
            match scheduled(config, n).filter(|(due, _)| *due < term.end_ms) {
                Some((due_ms, period)) if n >= term.next_review => ReviewView {
                    number: n,
                    period,
                    due_ms,
                    status: if due_ms <= now { "due" } else { "scheduled" }.into(),
                    review: None,
                },
                _ => break,
            }
        };
        reviews.push(view);
        n = n.saturating_add(1);
    }
    Ok(ReviewsResponse { reviews })
}
