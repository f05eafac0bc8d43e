//! How a review turns KPI attainment into a revenue split, and the
//! treasury message that sets it.
//!
//! This file owns the split rule's arithmetic (each member's attainment,
//! its weight, and shares of [`BPS_TOTAL`] by largest remainder) and the
//! `set_split` message, built with the treasury's own types. It reads the
//! KPI records of a period and nothing else; `contract.rs` decides when a
//! review opens and applies.

use std::collections::BTreeMap;

use polypact_sdk::QueryCtx;
use treasury_api::{BaseSplit, HandleMsg as TreasuryMsg, Shares, Split};

use crate::error::Result;
use crate::msg::{SplitPreview, SplitRule, WaterfallFrame};
use crate::state::KPIS;

/// Basis points in a whole: a split's weights add up to this.
pub const BPS_TOTAL: u64 = 10_000;

/// Each member's attainment and the split, for the KPI records of `period`.
pub fn compute_split(ctx: &QueryCtx, rule: &SplitRule, period: &str) -> Result<SplitPreview> {
    let mut values = BTreeMap::new();
    for t in &rule.targets {
        if !values.contains_key(&t.metric) {
            let value = KPIS.may_load(ctx, (&t.metric, period))?.map(|r| r.value);
            values.insert(t.metric.clone(), value);
        }
    }
    Ok(split_from_values(rule, &values))
}

/// The split rule's arithmetic, on the values of one period (`None`: not recorded).
pub fn split_from_values(rule: &SplitRule, values: &BTreeMap<String, Option<u64>>) -> SplitPreview {
    let full = u128::from(BPS_TOTAL);
    let (lo, hi) = (u128::from(rule.min_attainment_bps), u128::from(rule.max_attainment_bps));
    let mut attainment_bps = BTreeMap::new();
    let mut weights: BTreeMap<&str, u128> = BTreeMap::new();
    for (member, base) in &rule.base_bps {
        let mut sum: u128 = 0;
        let mut count: u128 = 0;
        for t in rule.targets.iter().filter(|t| t.member == *member) {
            let value = u128::from(values.get(&t.metric).copied().flatten().unwrap_or(0));
            // u64 × 10000 fits in u128; the target is above 0 (checked).
            let raw = value.saturating_mul(full) / u128::from(t.target.max(1));
            sum = sum.saturating_add(raw.clamp(lo, hi));
            count += 1;
        }
        let attainment = sum.checked_div(count).unwrap_or(full);
        // attainment ≤ ATTAINMENT_LIMIT_BPS and base ≤ BPS_TOTAL: no overflow.
        attainment_bps.insert(member.clone(), u64::try_from(attainment).unwrap_or(u64::MAX));
        weights.insert(member, u128::from(*base).saturating_mul(attainment));
    }
    let total: u128 = weights.values().fold(0u128, |a, w| a.saturating_add(*w));
    if total == 0 {
        return SplitPreview { attainment_bps, split: Some(rule.base_bps.clone()) };
    }
    // Largest remainder: floor shares, then one bps each to the largest remainders.
    let mut split = BTreeMap::new();
    let mut remainders: Vec<(u128, &str)> = Vec::new();
    let mut given: u128 = 0;
    for (member, w) in &weights {
        let scaled = w.saturating_mul(full);
        let share = scaled / total;
        given += share;
        remainders.push((scaled % total, member));
        split.insert((*member).to_owned(), share);
    }
    // Larger remainder first; equal remainders go to the lower member id.
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let mut left = full.saturating_sub(given);
    for (_, member) in remainders {
        if left == 0 {
            break;
        }
        if let Some(s) = split.get_mut(member) {
            *s += 1;
            left -= 1;
        }
    }
    let split = split.into_iter().map(|(m, s)| (m, u64::try_from(s).unwrap_or(u64::MAX))).collect();
    SplitPreview { attainment_bps, split: Some(split) }
}

/// The treasury message that sets `split` (members with 0 bps left out, as
/// the treasury asks): `{"set_split":{"fixed":{"shares":{…}}}}`, or a
/// waterfall with the rule's frame and the shares as its `rest`.
pub fn set_split_msg(rule_frame: Option<&WaterfallFrame>, split: &BTreeMap<String, u64>) -> TreasuryMsg {
    // A split's shares add up to BPS_TOTAL, so each fits in a u32.
    let shares: Shares = split
        .iter()
        .filter(|(_, bps)| **bps > 0)
        .map(|(m, bps)| (m.clone(), u32::try_from(*bps).unwrap_or(u32::MAX)))
        .collect();
    TreasuryMsg::SetSplit(match rule_frame {
        None => Split::Fixed { shares },
        Some(frame) => Split::Waterfall {
            recoup: frame.recoup,
            tranches: frame.tranches.clone(),
            rest: BaseSplit::Fixed { shares },
        },
    })
}

/// `member bps, member bps…`, for descriptions and events.
pub fn describe_split(split: &BTreeMap<String, u64>) -> String {
    split.iter().map(|(m, bps)| format!("{m} {bps} bps")).collect::<Vec<_>>().join(", ")
}
