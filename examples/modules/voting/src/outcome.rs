//! The arithmetic of a proposal's outcome: quorum, thresholds, early
//! closing, and the status at a time.
//!
//! This file owns the pure functions that read a stored [`Proposal`] (its
//! rule, snapshot total and tallies) and the config's periods: whether
//! quorum and the threshold are met, whether further votes could still
//! change the outcome, and the [`Status`] at a given time. It reads no
//! state and changes none; `contract.rs` stores what votes change and
//! calls these to decide.

use crate::msg::{Config, Proposal, ProposalView, Rule, Status, Tally, Threshold};

/// Whether cast power (yes + no + abstain and options) meets the rule's quorum of `total`.
pub fn quorum_met(rule: &Rule, tally: &Tally, total: u64) -> bool {
    (tally.cast() as u128) * 100 >= (rule.quorum_percent as u128) * (total as u128)
}

/// Whether `yes` against `no` (and `abstain`, of `total`) meets the rule's threshold.
pub fn threshold_met(rule: &Rule, yes: u64, no: u64, abstain: u64, total: u64) -> bool {
    let (y, n) = (yes as u128, no as u128);
    match rule.threshold {
        Threshold::Majority {} => y > n,
        Threshold::Percent { percent } => y > 0 && y * 100 >= (percent as u128) * (y + n),
        Threshold::Absolute { count } => yes >= count,
        Threshold::Unanimous {} => total > 0 && yes >= total && abstain == 0 && no == 0,
    }
}

/// Every rule a proposal must meet (records from before per-kind rules
/// carry only `rule`).
pub fn rules_of(p: &Proposal) -> Vec<&Rule> {
    if p.rules.is_empty() { vec![&p.rule] } else { p.rules.values().collect() }
}

/// Whether `t` meets `rule` for a proposal of `total` power.
pub fn meets(rule: &Rule, t: &Tally, total: u64) -> bool {
    quorum_met(rule, t, total) && threshold_met(rule, t.yes, t.no, t.abstain, total)
}

/// Whether a yes/no proposal passes with this tally: it meets every rule.
pub fn passes(p: &Proposal, t: &Tally) -> bool {
    rules_of(p).into_iter().all(|rule| meets(rule, t, p.total_power))
}

/// `Some(pass)` if no further vote can change the outcome of an open yes/no
/// proposal (votes cannot be changed; power not firmly cast may still go anywhere).
pub fn decided(p: &Proposal) -> Option<bool> {
    let movable = p.total_power.saturating_sub(p.firm.cast());
    // Worst case for yes: every movable unit votes no.
    // Cast power never shrinks (a delegator overriding its delegate still votes),
    // so quorum is judged on the current tally.
    let worst_no = p.firm.no.saturating_add(movable);
    if rules_of(p).into_iter().all(|rule| {
        quorum_met(rule, &p.tally, p.total_power)
            && threshold_met(rule, p.firm.yes, worst_no, p.firm.abstain, p.total_power)
    }) {
        return Some(true);
    }
    // Best case: every movable unit votes yes.
    let best = Tally { yes: p.firm.yes.saturating_add(movable), ..p.firm.clone() };
    if !passes(p, &best) {
        return Some(false);
    }
    None
}

/// Where a proposal stands at a time.
pub struct Outcome {
    /// Its status.
    pub status: Status,
    /// The winning option of a decided multiple-choice proposal.
    pub winner: Option<u32>,
    /// When voting closed (or closes).
    pub closes_ms: u64,
    /// From when a passed proposal may be executed.
    pub executable_from_ms: u64,
}

/// The outcome of `p` at `now`.
pub fn outcome(config: &Config, p: &Proposal, now: u64) -> Outcome {
    let closes_ms = p.closed_early_ms.unwrap_or(p.end_ms);
    let executable_from_ms = closes_ms.saturating_add(config.grace_period_ms);
    let mut winner = None;
    let status = if p.draft {
        Status::Draft
    } else if p.executed_ms.is_some() {
        Status::Executed
    } else if p.vetoed_by.is_some() {
        Status::Vetoed
    } else if now < closes_ms {
        Status::Open
    } else if let Some(options) = p.choices.as_ref().map(|_| &p.tally.options) {
        let best = options.iter().copied().max().unwrap_or(0);
        let top: Vec<usize> =
            options.iter().enumerate().filter(|(_, v)| **v == best).map(|(i, _)| i).collect();
        if quorum_met(&p.rule, &p.tally, p.total_power) && best > 0 && top.len() == 1 {
            winner = top.first().map(|i| *i as u32);
            Status::Decided
        } else {
            Status::Rejected
        }
    } else if !passes(p, &p.tally) {
        Status::Rejected
    } else if now < executable_from_ms {
        Status::Passed
    } else if config.expiry_ms.is_some_and(|e| now >= executable_from_ms.saturating_add(e)) {
        Status::Expired
    } else {
        Status::Executable
    };
    Outcome { status, winner, closes_ms, executable_from_ms }
}

/// `p` with its outcome at `now`, as queries answer it.
pub fn view(config: &Config, p: Proposal, now: u64) -> ProposalView {
    let o = outcome(config, &p, now);
    ProposalView {
        proposal: p,
        status: o.status,
        winner: o.winner,
        closes_ms: o.closes_ms,
        executable_from_ms: o.executable_from_ms,
    }
}
