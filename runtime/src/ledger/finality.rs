//! The finality rule: how high the final prefix of the order reaches.
//!
//! An op is final once every partner's node has built on it. Precisely,
//! `final_height` is the largest `H` such that:
//!
//! 1. **Nothing new can sort at or below `H`.** Every counted participant has
//!    authored an op at height `>= H` (a participant counts from its
//!    admission or return `s` on; with no op yet it counts as `s`). One
//!    removed at `r` needs only `min(H, r)`, and once its chain reaches `r`
//!    it is not waited for at all.
//! 2. **Everyone has built on every payload.** Every payload-bearing op at
//!    or below `H` is in the causal past of an op of every active counted
//!    participant whose participation started below the op's height. (Acks
//!    carry nothing and are never acked; rule 1 is enough for them.)
//! 3. **No vote can take back what is final.** While a suspension vote for
//!    `member` with cut `c` may still take effect, nothing at or above the
//!    height of `member`'s op `c + 1` is final, unless the vote ended
//!    (withdrawn, or a new epoch began) at a height `<= H`.
//! 4. **A suspended participant is not waited for** once the op that
//!    suspended it is at or below `H`; if that op is above `H`, the
//!    participant still counts.
//!
//! Rule 2 is what makes suspension safe: any effective op that some node
//! finalised was built on by every voter before it voted (rule 3 covers the
//! votes a node already knows), so every voter's cut includes it. The whole
//! argument is in `docs/decisions.md` ("Finality" and "Suspension").
//!
//! This module holds the rule as a pure function over a summary the ledger
//! builds; it owns nothing else.

use std::collections::BTreeSet;

use crate::op::MemberId;

/// How one participant takes part, for the finality rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Counted {
    /// The participant.
    pub member: MemberId,
    /// Height its participation counts from: admission, or latest return.
    pub start: u64,
    /// Height of its latest op, or `start` if higher.
    pub reach: u64,
    /// Its status.
    pub status: Status,
}

/// A participant's status as far as finality is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// Counted fully.
    Active,
    /// Removed at this height.
    Removed(u64),
    /// Suspended by an op at this height.
    Suspended(u64),
}

/// A payload-bearing op of the non-final tail, for rule 2.
pub(crate) struct TailPayload<'a> {
    /// Its height.
    pub height: u64,
    /// Its author.
    pub author: MemberId,
    /// The participants with an op that has it in its past (or is it).
    pub seen_by: &'a BTreeSet<MemberId>,
}

/// A suspension vote that may still take effect, for rule 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct VoteCap {
    /// Height of the suspended-to-be member's first op after the vote's cut.
    pub next_height: u64,
    /// Height at which the vote stopped being live, if it did.
    pub ended_at: Option<u64>,
    /// Height of the vote op (0 for a vote already final).
    pub height: u64,
    /// Whether the vote was recorded where it sorts (it did not fail).
    pub recorded: bool,
}

/// The final height the rule allows, given the participants, the tail's
/// payload-bearing ops in `(height, id)` order and the live votes' caps.
/// Never below `current`: finality never goes back.
pub(crate) fn final_height<'a, I>(
    current: u64,
    max_height: u64,
    members: &[Counted],
    tail_payloads: impl Fn() -> I,
    caps: &[VoteCap],
) -> u64
where
    I: Iterator<Item = TailPayload<'a>>,
{
    // Suspended participants are left out unless their suspension lies
    // above the bound; leaving fewer out only lowers the bound, so this ends.
    let mut left_out: BTreeSet<MemberId> =
        members.iter().filter(|m| matches!(m.status, Status::Suspended(_))).map(|m| m.member).collect();
    loop {
        let counted = |m: &&Counted| !left_out.contains(&m.member);
        let mut bound = max_height;
        // Rule 1.
        for m in members.iter().filter(counted) {
            match m.status {
                Status::Removed(at) if m.reach >= at => {}
                _ => bound = bound.min(m.reach),
            }
        }
        // Nothing that counts can sort at or below here any more: the
        // outcome of a vote there is settled.
        let closed = bound;
        // Rule 2: the first payload not built on by someone bounds it.
        let builders: Vec<&Counted> =
            members.iter().filter(counted).filter(|m| !matches!(m.status, Status::Removed(_))).collect();
        'ops: for op in tail_payloads() {
            if op.height > bound {
                break;
            }
            for m in &builders {
                if m.start < op.height && m.member != op.author && !op.seen_by.contains(&m.member) {
                    bound = op.height - 1;
                    break 'ops;
                }
            }
        }
        // Rule 3: lowering the bound can bring more caps into force.
        loop {
            let before = bound;
            for cap in caps {
                let settled_as_failed = cap.height <= closed && !cap.recorded;
                if !settled_as_failed
                    && cap.next_height <= bound
                    && cap.ended_at.is_none_or(|ended| ended > bound)
                {
                    bound = cap.next_height - 1;
                }
            }
            if bound == before {
                break;
            }
        }
        // Rule 4.
        let late: Vec<MemberId> = members
            .iter()
            .filter(|m| left_out.contains(&m.member))
            .filter(|m| matches!(m.status, Status::Suspended(at) if at > bound))
            .map(|m| m.member)
            .collect();
        if late.is_empty() {
            return bound.max(current);
        }
        for member in late {
            left_out.remove(&member);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(n: u8) -> MemberId {
        MemberId([n; 32])
    }

    fn counted(n: u8, reach: u64, status: Status) -> Counted {
        Counted { member: m(n), start: 0, reach, status }
    }

    fn run(members: &[Counted], payloads: &[(u64, u8, &[u8])], caps: &[VoteCap]) -> u64 {
        let seen: Vec<BTreeSet<MemberId>> =
            payloads.iter().map(|(_, _, s)| s.iter().map(|n| m(*n)).collect()).collect();
        let max = payloads
            .iter()
            .map(|p| p.0)
            .max()
            .unwrap_or(0)
            .max(members.iter().map(|c| c.reach).max().unwrap_or(0));
        final_height(
            0,
            max,
            members,
            || {
                payloads.iter().zip(&seen).map(|((h, a, _), s)| TailPayload {
                    height: *h,
                    author: m(*a),
                    seen_by: s,
                })
            },
            caps,
        )
    }

    #[test]
    fn waits_for_the_lowest_reach() {
        let members = [counted(1, 5, Status::Active), counted(2, 3, Status::Active)];
        assert_eq!(run(&members, &[], &[]), 3);
    }

    #[test]
    fn a_payload_not_built_on_by_everyone_is_not_final() {
        let members =
            [counted(1, 5, Status::Active), counted(2, 5, Status::Active), counted(3, 5, Status::Active)];
        // Op at 2 by 1, seen by 1 and 2 only: 3 reached height 5 without it.
        assert_eq!(run(&members, &[(1, 1, &[1, 2, 3]), (2, 1, &[1, 2])], &[]), 1);
        assert_eq!(run(&members, &[(1, 1, &[1, 2, 3]), (2, 1, &[1, 2, 3])], &[]), 5);
    }

    #[test]
    fn a_removed_participant_past_its_removal_is_not_waited_for() {
        let members = [counted(1, 6, Status::Active), counted(2, 4, Status::Removed(4))];
        assert_eq!(run(&members, &[], &[]), 6);
        let members = [counted(1, 6, Status::Active), counted(2, 3, Status::Removed(4))];
        assert_eq!(run(&members, &[], &[]), 3);
    }

    #[test]
    fn a_suspension_counts_only_once_within_the_bound() {
        // 3 is silent at 1 and suspended by an op at height 4.
        let members = [
            counted(1, 6, Status::Active),
            counted(2, 6, Status::Active),
            counted(3, 1, Status::Suspended(4)),
        ];
        assert_eq!(run(&members, &[(4, 1, &[1, 2])], &[]), 6);
        // The suspending op is not built on by 2 yet: 3 still counts.
        assert_eq!(run(&members, &[(4, 1, &[1])], &[]), 1);
    }

    #[test]
    fn a_live_vote_caps_finality_below_the_members_next_op() {
        let members = [counted(1, 9, Status::Active), counted(2, 9, Status::Active)];
        let cap = VoteCap { next_height: 5, ended_at: None, height: 3, recorded: true };
        assert_eq!(run(&members, &[], &[cap]), 4);
        // Ended at 7: once 7 can be final, the cap is gone.
        let cap = VoteCap { next_height: 5, ended_at: Some(7), height: 3, recorded: true };
        assert_eq!(run(&members, &[], &[cap]), 9);
        // Ended above what is otherwise final: still capped.
        let members = [counted(1, 6, Status::Active), counted(2, 6, Status::Active)];
        assert_eq!(run(&members, &[], &[cap]), 4);
        // A vote that failed where nothing can change its outcome caps nothing.
        let failed = VoteCap { next_height: 5, ended_at: None, height: 3, recorded: false };
        assert_eq!(run(&members, &[], &[failed]), 6);
        let unsettled = VoteCap { next_height: 5, ended_at: None, height: 7, recorded: false };
        assert_eq!(run(&members, &[], &[unsettled]), 4);
    }

    #[test]
    fn never_goes_back() {
        let members = [counted(1, 2, Status::Active)];
        assert_eq!(final_height(5, 9, &members, std::iter::empty, &[]), 5);
    }
}
