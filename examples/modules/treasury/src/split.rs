//! The arithmetic of splitting an amount: exact, integer, and reproducible.
//!
//! This file owns the pure functions that turn an amount and weights into
//! per-member shares: [`mul_div`] (`floor(a * b / c)` with a 256-bit
//! intermediate, so no `u128` product can overflow), [`largest_remainder`]
//! (shares that add up to the amount exactly) and [`allocate`] (a waterfall:
//! recoup, capped tranches, then the rest). It does not own where weights
//! come from (membership units, basis points, capital accounts) or what is
//! stored (`contract.rs`, `distribute.rs`).
//!
//! # The rounding rule
//!
//! To split `amount` by weights `w_i` (total `W > 0`), each member first gets
//! `floor(amount * w_i / W)`. The units left over (`amount` minus those
//! floors, always fewer than the number of members with a positive weight)
//! go one each to the members with the largest remainders
//! `(amount * w_i) mod W`; equal remainders are broken by member id in
//! ascending byte order (the order of a `BTreeMap<String, _>`). A member
//! with weight 0 gets nothing. So every split adds up to the amount to the
//! unit, and the same inputs give the same shares on every node.

use std::collections::BTreeMap;

/// Why a split could not be computed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SplitError {
    /// Something to split, but every weight is 0.
    #[error("there is no one to split {amount} among: every weight is 0")]
    NoWeight {
        /// The amount.
        amount: u128,
    },
    /// The weights add up to more than `u128::MAX`.
    #[error("the weights add up to more than u128::MAX")]
    Overflow,
}

const LOW: u128 = u64::MAX as u128;

/// `a * b` as a 256-bit number `(high, low)`.
pub fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    let (a1, a0) = (a >> 64, a & LOW);
    let (b1, b0) = (b >> 64, b & LOW);
    let ll = a0 * b0;
    let lh = a0 * b1;
    let hl = a1 * b0;
    let hh = a1 * b1;
    // Each term is below 2^64, so the sum of three is below 2^66.
    let mid = (ll >> 64) + (lh & LOW) + (hl & LOW);
    let low = (ll & LOW) | (mid << 64);
    let high = hh + (lh >> 64) + (hl >> 64) + (mid >> 64);
    (high, low)
}

/// `floor(a * b / c)` and `(a * b) mod c`, exactly; `None` if `c` is 0 or
/// the quotient does not fit in a `u128`.
pub fn mul_div(a: u128, b: u128, c: u128) -> Option<(u128, u128)> {
    if c == 0 {
        return None;
    }
    let (high, low) = mul_wide(a, b);
    if high >= c {
        return None;
    }
    // Restoring long division of (high, low) by c; the remainder stays below c.
    let mut rem = high;
    let mut quotient: u128 = 0;
    for bit in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((low >> bit) & 1);
        quotient <<= 1;
        if carry == 1 || rem >= c {
            rem = rem.wrapping_sub(c);
            quotient |= 1;
        }
    }
    Some((quotient, rem))
}

/// Splits `amount` by `weights` with the largest-remainder rule (see the
/// module doc). Returns the members with a share above 0; the shares add
/// up to `amount`. An amount of 0 splits into nothing, whatever the weights.
pub fn largest_remainder(
    amount: u128,
    weights: &BTreeMap<String, u128>,
) -> Result<BTreeMap<String, u128>, SplitError> {
    let mut out = BTreeMap::new();
    if amount == 0 {
        return Ok(out);
    }
    let total = weights.values().try_fold(0u128, |acc, w| acc.checked_add(*w)).ok_or(SplitError::Overflow)?;
    if total == 0 {
        return Err(SplitError::NoWeight { amount });
    }
    let mut given: u128 = 0;
    let mut remainders: Vec<(u128, &str)> = Vec::with_capacity(weights.len());
    for (member, weight) in weights {
        if *weight == 0 {
            continue;
        }
        // weight <= total, so the quotient is at most amount: it fits.
        let (share, rem) = mul_div(amount, *weight, total).ok_or(SplitError::Overflow)?;
        given = given.checked_add(share).ok_or(SplitError::Overflow)?;
        if share > 0 {
            out.insert(member.clone(), share);
        }
        remainders.push((rem, member.as_str()));
    }
    let mut left = amount.checked_sub(given).ok_or(SplitError::Overflow)?;
    // Largest remainder first; ties by member id ascending (stable over the BTreeMap order).
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    for (_, member) in remainders {
        if left == 0 {
            break;
        }
        let slot = out.entry(member.to_owned()).or_insert(0);
        *slot = slot.checked_add(1).ok_or(SplitError::Overflow)?;
        left -= 1;
    }
    Ok(out)
}

/// One capped tranche of a waterfall, as [`allocate`] sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrancheInput {
    /// How much of its cap is still to be paid.
    pub remaining: u128,
    /// Its shares (basis points per member).
    pub weights: BTreeMap<String, u128>,
}

/// What a waterfall paid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allocation {
    /// Per member, everything it gets (recoup + tranches + rest).
    pub total: BTreeMap<String, u128>,
    /// Per member, the part that recoups its capital.
    pub recouped: BTreeMap<String, u128>,
    /// Per tranche, how much it took.
    pub tranches: Vec<u128>,
    /// What went to the rest split.
    pub rest: u128,
}

fn add_into(into: &mut BTreeMap<String, u128>, from: &BTreeMap<String, u128>) -> Result<(), SplitError> {
    for (member, v) in from {
        let slot = into.entry(member.clone()).or_insert(0);
        *slot = slot.checked_add(*v).ok_or(SplitError::Overflow)?;
    }
    Ok(())
}

/// Runs a waterfall over `amount`: first `recoup` (each member's
/// outstanding capital; if the amount does not cover it all, it is split
/// pro rata to what is outstanding), then each tranche in order up to what
/// remains of its cap (split by its shares), then whatever is left by
/// `rest`. Every step rounds by [`largest_remainder`], so
/// `sum(total) == amount`.
pub fn allocate(
    amount: u128,
    recoup: &BTreeMap<String, u128>,
    tranches: &[TrancheInput],
    rest: &BTreeMap<String, u128>,
) -> Result<Allocation, SplitError> {
    let mut out = Allocation::default();
    let mut left = amount;
    let outstanding =
        recoup.values().try_fold(0u128, |acc, w| acc.checked_add(*w)).ok_or(SplitError::Overflow)?;
    let take = left.min(outstanding);
    if take > 0 {
        out.recouped = largest_remainder(take, recoup)?;
        add_into(&mut out.total, &out.recouped)?;
        left -= take;
    }
    for tranche in tranches {
        let take = left.min(tranche.remaining);
        if take > 0 {
            add_into(&mut out.total, &largest_remainder(take, &tranche.weights)?)?;
            left -= take;
        }
        out.tranches.push(take);
    }
    if left > 0 {
        add_into(&mut out.total, &largest_remainder(left, rest)?)?;
    }
    out.rest = left;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, u128)]) -> BTreeMap<String, u128> {
        pairs.iter().map(|(m, v)| ((*m).to_owned(), *v)).collect()
    }

    fn sum(m: &BTreeMap<String, u128>) -> u128 {
        m.values().sum()
    }

    #[test]
    fn mul_div_is_exact_beyond_u128_products() {
        assert_eq!(mul_div(100, 1, 3), Some((33, 1)));
        assert_eq!(mul_div(u128::MAX, u128::MAX, u128::MAX), Some((u128::MAX, 0)));
        assert_eq!(mul_div(u128::MAX, 2, 3), Some((u128::MAX / 3 * 2, 0)));
        assert_eq!(mul_div(u128::MAX, 7, 10), Some((238197656844656924424362225202237748018, 5)));
        assert_eq!(mul_div(1, 1, 0), None);
        assert_eq!(mul_div(u128::MAX, 2, 1), None);
        // Against u128 arithmetic where it does not overflow.
        for (a, b, c) in [(12345u128, 678, 91), (1 << 60, 1 << 60, (1 << 61) + 7), (999, 0, 5)] {
            assert_eq!(mul_div(a, b, c), Some((a * b / c, a * b % c)));
        }
    }

    #[test]
    fn hundred_three_ways_gives_the_extra_unit_to_the_lowest_id() {
        let shares = largest_remainder(100, &w(&[("pm1c", 1), ("pm1a", 1), ("pm1b", 1)])).unwrap();
        assert_eq!(shares, w(&[("pm1a", 34), ("pm1b", 33), ("pm1c", 33)]));
    }

    #[test]
    fn one_unit_among_seven_goes_to_the_first_id() {
        let weights: BTreeMap<String, u128> = (1..=7).map(|i| (format!("pm1m{i}"), 1)).collect();
        assert_eq!(largest_remainder(1, &weights).unwrap(), w(&[("pm1m1", 1)]));
    }

    #[test]
    fn largest_remainder_beats_member_order() {
        // 10 by 1:2:7 → 1, 2, 7 exactly; 11 by 1:2:7 → 1.1, 2.2, 7.7: pm1z has the largest remainder.
        assert_eq!(
            largest_remainder(11, &w(&[("pm1a", 1), ("pm1b", 2), ("pm1z", 7)])).unwrap(),
            w(&[("pm1a", 1), ("pm1b", 2), ("pm1z", 8)])
        );
    }

    #[test]
    fn primes_and_huge_values_add_up() {
        let primes = w(&[("pm1a", 2), ("pm1b", 3), ("pm1c", 5), ("pm1d", 7), ("pm1e", 11), ("pm1f", 13)]);
        for amount in [1u128, 97, 1009, 7919, 104729, u128::MAX, u128::MAX - 1] {
            let shares = largest_remainder(amount, &primes).unwrap();
            assert_eq!(sum(&shares), amount, "{amount}");
        }
        let huge = w(&[("pm1a", u128::MAX / 3), ("pm1b", u128::MAX / 3), ("pm1c", u128::MAX / 3)]);
        let shares = largest_remainder(u128::MAX, &huge).unwrap();
        assert_eq!(sum(&shares), u128::MAX);
        assert_eq!(shares["pm1a"], u128::MAX / 3);
    }

    #[test]
    fn zero_weights_get_nothing_and_all_zero_is_an_error() {
        let shares = largest_remainder(5, &w(&[("pm1a", 0), ("pm1b", 3)])).unwrap();
        assert_eq!(shares, w(&[("pm1b", 5)]));
        assert_eq!(largest_remainder(5, &w(&[("pm1a", 0)])), Err(SplitError::NoWeight { amount: 5 }));
        assert_eq!(largest_remainder(0, &w(&[])), Ok(BTreeMap::new()));
        assert_eq!(largest_remainder(1, &w(&[("pm1a", u128::MAX), ("pm1b", 1)])), Err(SplitError::Overflow));
    }

    /// A deterministic xorshift generator, so the model check needs no dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn largest_remainder_matches_a_simple_model_on_many_random_inputs() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..2000 {
            let n = 1 + (rng.next() % 9) as usize;
            let weights: BTreeMap<String, u128> =
                (0..n).map(|i| (format!("pm1{i:02}"), u128::from(rng.next() % 50))).collect();
            if weights.values().all(|w| *w == 0) {
                continue;
            }
            let amount = match round % 3 {
                0 => u128::from(rng.next() % 1000),
                1 => u128::from(rng.next()),
                _ => (u128::from(rng.next()) << 64) | u128::from(rng.next()),
            };
            let got = largest_remainder(amount, &weights).unwrap();
            assert_eq!(sum(&got), amount, "{amount} by {weights:?}");
            // Model: floors (small weights, so u128 products cannot overflow for
            // amounts below 2^120), then +1 in order of (remainder desc, id asc).
            if amount >> 120 != 0 {
                continue;
            }
            let total: u128 = weights.values().sum();
            let mut model: BTreeMap<String, u128> =
                weights.iter().map(|(m, w)| (m.clone(), amount * w / total)).collect();
            let mut order: Vec<(u128, &String)> =
                weights.iter().filter(|(_, w)| **w > 0).map(|(m, w)| (amount * w % total, m)).collect();
            order.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
            let left = amount - model.values().sum::<u128>();
            for (_, m) in order.iter().take(left as usize) {
                *model.get_mut(*m).unwrap() += 1;
            }
            model.retain(|_, v| *v > 0);
            assert_eq!(got, model, "{amount} by {weights:?}");
        }
    }

    #[test]
    fn waterfall_recoups_then_fills_tranches_then_splits_the_rest() {
        let recoup = w(&[("pm1a", 300), ("pm1b", 100)]);
        let tranches = [TrancheInput { remaining: 1000, weights: w(&[("pm1a", 10_000)]) }];
        let rest = w(&[("pm1a", 1), ("pm1b", 1)]);
        // Not even the recoup is covered: pro rata to what is outstanding.
        let a = allocate(200, &recoup, &tranches, &rest).unwrap();
        assert_eq!(a.total, w(&[("pm1a", 150), ("pm1b", 50)]));
        assert_eq!(a.recouped, a.total);
        assert_eq!((a.tranches.clone(), a.rest), (vec![0], 0));
        // Everything: 400 recoup, 1000 tranche, 101 rest.
        let a = allocate(1501, &recoup, &tranches, &rest).unwrap();
        assert_eq!(a.total, w(&[("pm1a", 300 + 1000 + 51), ("pm1b", 100 + 50)]));
        assert_eq!((a.tranches.clone(), a.rest), (vec![1000], 101));
        assert_eq!(sum(&a.total), 1501);
    }
}
