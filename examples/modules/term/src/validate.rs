//! The checks of what the term module is given: config, milestones,
//! periods, split rules and review schedules.
//!
//! This file owns the limits ([`MAX_MILESTONES`], [`MAX_NAME_LEN`]…) and
//! the pure functions that refuse what breaks them, with the error the
//! caller sees. It reads no state; `contract.rs` calls these before it
//! writes.

use std::collections::BTreeMap;

use crate::error::{Result, TermError};
use crate::msg::{KpiSpec, MilestoneSpec, ReviewSchedule, SplitRule};
use crate::split::BPS_TOTAL;

/// The highest cap a split rule may set (1000% of target).
pub const ATTAINMENT_LIMIT_BPS: u64 = 100_000;
/// Most milestones a term may have.
pub const MAX_MILESTONES: usize = 256;
/// Most KPI metrics a config may declare.
pub const MAX_KPIS: usize = 64;
/// Most explicit review dates.
pub const MAX_REVIEW_DATES: usize = 1_024;
/// Longest milestone id, metric name or period label, in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Longest milestone title, in bytes.
pub const MAX_TITLE_LEN: usize = 256;
/// Longest completion note, in bytes.
pub const MAX_NOTE_LEN: usize = 1_024;
/// Most owners of one milestone.
pub const MAX_OWNERS: usize = 32;
/// Most tranches of a split rule's waterfall frame.
pub const MAX_TRANCHES: usize = 16;

/// Refuses an empty module instance name for `field`.
pub fn check_instance(field: &str, name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(TermError::Config(format!("{field} must name a module instance")));
    }
    Ok(())
}

/// Whether `s` is a milestone id or metric name: 1 to [`MAX_NAME_LEN`] of `a-z 0-9 _ - .`.
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME_LEN
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'.'))
}

/// Refuses a KPI period label that is empty, too long or not printable ASCII.
pub fn check_period(period: &str) -> core::result::Result<(), String> {
    if period.is_empty() || period.len() > MAX_NAME_LEN || !period.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "period {period:?} must be 1 to {MAX_NAME_LEN} printable ASCII characters without spaces (e.g. \"2026-Q1\")"
        ));
    }
    Ok(())
}

/// Refuses a milestone with a bad id or title, or a bad list of owners.
pub fn check_milestone(spec: &MilestoneSpec) -> Result<()> {
    let bad = |m: String| Err(TermError::BadMilestone(m));
    if !is_id(&spec.id) {
        return bad(format!(
            "id {:?} must be 1 to {MAX_NAME_LEN} characters of a-z, 0-9, `_`, `-` or `.`",
            spec.id
        ));
    }
    if spec.title.trim().is_empty() || spec.title.len() > MAX_TITLE_LEN {
        return bad(format!("{}: the title must be 1 to {MAX_TITLE_LEN} bytes", spec.id));
    }
    if spec.owners.is_empty() || spec.owners.len() > MAX_OWNERS {
        return bad(format!("{}: give 1 to {MAX_OWNERS} owners", spec.id));
    }
    let mut sorted = spec.owners.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != spec.owners.len() {
        return bad(format!("{}: an owner is listed twice", spec.id));
    }
    Ok(())
}

/// Refuses a split rule whose shares, caps or targets do not add up.
pub fn check_split_rule(rule: &SplitRule, kpis: &BTreeMap<String, KpiSpec>) -> Result<()> {
    let bad = |m: String| Err(TermError::BadSplitRule(m));
    if rule.base_bps.is_empty() {
        return bad("base_bps must name at least one member".into());
    }
    let mut sum: u64 = 0;
    for (member, bps) in &rule.base_bps {
        if member.trim().is_empty() {
            return bad("base_bps has an empty member id".into());
        }
        sum = sum.checked_add(*bps).ok_or_else(|| TermError::BadSplitRule("base_bps overflow".into()))?;
    }
    if sum != BPS_TOTAL {
        return bad(format!("base_bps must add up to {BPS_TOTAL}, they add up to {sum}"));
    }
    if rule.min_attainment_bps > rule.max_attainment_bps || rule.max_attainment_bps > ATTAINMENT_LIMIT_BPS {
        return bad(format!(
            "need min_attainment_bps <= max_attainment_bps <= {ATTAINMENT_LIMIT_BPS}, got {} and {}",
            rule.min_attainment_bps, rule.max_attainment_bps
        ));
    }
    if rule.waterfall.as_ref().is_some_and(|w| w.tranches.len() > MAX_TRANCHES) {
        return bad(format!("a waterfall frame has at most {MAX_TRANCHES} tranches"));
    }
    let mut seen = Vec::new();
    for t in &rule.targets {
        if !kpis.contains_key(&t.metric) {
            return bad(format!("target metric {:?} is not declared in kpis", t.metric));
        }
        if !rule.base_bps.contains_key(&t.member) {
            return bad(format!("target of {:?} names {}, who has no base_bps", t.metric, t.member));
        }
        if t.target == 0 {
            return bad(format!("the target of {:?} for {} must be above 0", t.metric, t.member));
        }
        if seen.contains(&(&t.metric, &t.member)) {
            return bad(format!("metric {:?} targets {} twice", t.metric, t.member));
        }
        seen.push((&t.metric, &t.member));
    }
    Ok(())
}

/// Refuses a review schedule that is not one of `every_ms` or ascending dates.
pub fn check_schedule(schedule: &ReviewSchedule, start_ms: u64) -> Result<()> {
    let bad = |m: String| Err(TermError::Config(m));
    match (schedule.every_ms, schedule.at.is_empty()) {
        (Some(_), false) | (None, true) => {
            return bad("reviews takes exactly one of every_ms or a non-empty at list".into());
        }
        (Some(0), _) => return bad("reviews.every_ms must be above 0".into()),
        _ => {}
    }
    if schedule.at.len() > MAX_REVIEW_DATES {
        return bad(format!("at most {MAX_REVIEW_DATES} review dates"));
    }
    let mut previous = start_ms;
    let mut periods: Vec<&str> = Vec::new();
    for date in &schedule.at {
        if date.at_ms <= previous {
            return bad(format!(
                "review dates must be after start_ms and strictly ascending; {} is not",
                date.at_ms
            ));
        }
        previous = date.at_ms;
        check_period(&date.period).map_err(TermError::Config)?;
        if periods.contains(&date.period.as_str()) {
            return bad(format!("review period {:?} is used twice", date.period));
        }
        periods.push(&date.period);
    }
    Ok(())
}
