//! What a node does on its own about absent partners.
//!
//! The ledger decides what suspension votes, withdrawals, resumes and
//! readmissions *mean* (`ledger::suspension`); this module decides when this
//! node's member casts one, from what the node has seen and its own clock:
//!
//! - **Suspend**: a participant that finality is waiting for has not been
//!   heard from (no op of theirs reached this node) for the charter's
//!   `suspend_after_ms`: vote to suspend it at the last op of theirs this
//!   node holds. A node votes once per epoch, so it picks the participant
//!   silent longest.
//! - **Withdraw**: the member's live vote names someone who has since spoken
//!   after the cut: they are there after all.
//! - **Resume**: the member itself is suspended: ask to return (once).
//! - **Readmit**: another participant is suspended and has asked to return.
//!
//! It owns no state: the caller (the node core) keeps when each member was
//! last heard from, and authors the op this returns.

use std::collections::BTreeMap;

use super::core::NodeLedger;
use crate::op::{MemberId, Payload};

/// The suspension op this node's member should author now in one
/// partnership, if any.
///
/// `silent_since`: for each participant finality waits for, the node
/// clock since when it has been silent *while ops waited for it* (the
/// later of its last op reaching this node and finality starting to wait
/// for it), kept by the caller.
pub(crate) fn next_action(
    ledger: &NodeLedger,
    me: &MemberId,
    silent_since: &BTreeMap<MemberId, u64>,
    now_ms: u64,
) -> Option<Payload> {
    let state = ledger.optimistic_state();
    if !state.participant(me).is_some_and(|r| r.is_active()) {
        return None;
    }
    let max_seq = |member: &MemberId| ledger.dag().chain(member).map_or(0, |c| c.max_seq());
    let asked_to_return = |member: &MemberId| {
        let Some(record) = state.suspension(member).filter(|r| r.is_current()) else { return false };
        ledger
            .dag()
            .ops_from(member, record.cut_seq + 1)
            .iter()
            .any(|id| ledger.dag().get(id).is_some_and(|n| n.op.op().payload == Payload::Resume))
    };
    if state.is_suspended(me) {
        return (!asked_to_return(me)).then_some(Payload::Resume);
    }
    if let Some((member, _)) = state
        .suspensions()
        .into_iter()
        .find(|(member, record)| record.is_current() && asked_to_return(member))
    {
        return Some(Payload::Readmit { member });
    }
    let mine = state.vote_this_epoch(me);
    if let Some(vote) = mine.filter(|v| v.live)
        && max_seq(&vote.member) > vote.cut_seq
    {
        return Some(Payload::Withdraw);
    }
    let after = ledger.charter().params.suspend_after_ms;
    if after == 0 || !ledger.votes_on_suspensions(me) {
        return None;
    }
    let since = |member: &MemberId| silent_since.get(member).copied().unwrap_or(now_ms);
    let absent = ledger
        .waiting_for()
        .into_iter()
        .filter(|member| member != me && !state.is_suspended(member))
        .filter(|member| now_ms.saturating_sub(since(member)) >= after)
        .min_by_key(|member| (since(member), *member))?;
    let cut_seq = max_seq(&absent);
    match mine {
        // Once per epoch; again only against the same member at a later cut.
        Some(vote) if !(vote.member == absent && cut_seq > vote.cut_seq) => None,
        _ => Some(Payload::Suspend { member: absent, cut_seq }),
    }
}
