//! Suspension of absent participants: votes, withdrawals and returns.
//!
//! Finality waits for every participant. So that a partner whose node went
//! away cannot hold the others up for good, the others may **suspend** it:
//!
//! - A participant's node votes with a `Suspend { member, cut_seq }` op, where
//!   `cut_seq` is the highest seq of the absent member's ops in the vote's
//!   causal past (checked when the op enters the graph, see [`check_cut`]).
//! - A vote is live until its voter withdraws it (`Withdraw`) or the
//!   participant set changes (a new *epoch*: any admission, removal or
//!   suspension). A participant votes once per epoch; it may only vote again
//!   against the same member at a later cut (having seen more of it), which
//!   replaces its vote. Since two majorities of one set share a voter, at
//!   most one suspension can gather its votes in an epoch.
//! - When live votes for the same `(member, cut_seq)` come from more than
//!   half of the active, unsuspended participants (the absent one included
//!   in the count), the vote that completes them suspends the member, at its
//!   place in the order: finality stops waiting for it, and its ops after
//!   the cut have no effect, wherever they sort. Votes combine only if
//!   their times are at most the charter's `suspend_after_ms` apart, so a
//!   lone vote (a mistaken or hostile one) stops mattering on its own.
//! - A suspended member keeps its membership, units and claims. Its node
//!   asks to return with a `Resume` op (which, being after the cut, has no
//!   effect of its own); the first active participant to see it authors a
//!   `Readmit` op, which brings it back: finality waits for it again from
//!   the readmission's height, and its ops from the `Resume` on count again
//!   where they sort after the readmission. The readmission is an active
//!   participant's op, so it can never land in a prefix that others already
//!   finalised without the returning member.
//! - Only a participant that took part before the absent member's cut may
//!   vote (its admission or return is at or below the cut's height), so
//!   every voter has had the chance to see what the member did.
//!
//! Why this is safe (no two nodes finalise different prefixes) is argued in
//! `docs/decisions.md` ("Suspension"); the finality side of the argument
//! lives in `finality.rs`.
//!
//! This module executes the three payloads against the state; it does not
//! decide finality, and it does not decide *when* a node votes (the node
//! does, from the charter's `suspend_after_ms`).

use polypact_sdk::abi::Event;

use super::core::OpOutcome;
use super::dispatch::ModuleEvent;
use super::state::{
    ParticipantRecord, StateMap, SuspensionRecord, VoteRecord, Write, encode_record, failed_key,
    next_epoch_write, suspension_key, vote_key,
};
use crate::dag::{Dag, OrderKey};
use crate::op::{MemberId, OpId, Params, Payload, SignedOp};

/// The module name on events the runtime itself emits.
pub const SYSTEM_EVENTS: &str = "system";

/// Whether `target` is in the causal past of `from` (the ops themselves
/// included). Walks only ops above the target's height, so the cost is the
/// part of the graph between them.
pub(crate) fn past_contains(dag: &Dag, from: &[OpId], target: &OpId) -> bool {
    let Some(target_height) = dag.height_of(target) else { return false };
    let mut stack: Vec<OpId> = from.to_vec();
    let mut visited = std::collections::BTreeSet::new();
    while let Some(id) = stack.pop() {
        if id == *target {
            return true;
        }
        let Some(node) = dag.get(&id) else { continue };
        if node.height <= target_height || !visited.insert(id) {
            continue;
        }
        stack.extend(node.op.op().parents.iter().copied());
    }
    false
}

/// The structural rule of a `Suspend` op: `cut_seq` is the highest seq of
/// the member's ops in the op's causal past (0 if it has none there). It
/// depends only on the op and its past, so every node decides it alike.
pub(crate) fn check_cut(dag: &Dag, op: &SignedOp) -> Result<(), String> {
    let Payload::Suspend { member, cut_seq } = &op.op().payload else { return Ok(()) };
    let parents = &op.op().parents;
    let ops_at = |seq: u64| dag.ops_at(member, seq);
    if *cut_seq > 0 && !ops_at(*cut_seq).iter().any(|id| past_contains(dag, parents, id)) {
        return Err(format!(
            "the vote names {member}'s op {cut_seq} as the cut, but that op is not in its past"
        ));
    }
    if ops_at(cut_seq + 1).iter().any(|id| past_contains(dag, parents, id)) {
        return Err(format!(
            "the vote names {member}'s op {cut_seq} as the cut, but its past holds a later op of {member}"
        ));
    }
    Ok(())
}

/// Where a member's participation starts counting: its admission, or its
/// latest return if later.
pub(crate) fn counting_start(state: &StateMap, member: &MemberId, record: &ParticipantRecord) -> u64 {
    let resumed = state.suspension(member).and_then(|s| s.resumed_at).unwrap_or(0);
    record.admitted_at.max(resumed)
}

/// The set suspension quorums of the current epoch are counted against:
/// active participants that are not suspended (one readmitted during this
/// epoch joins from the next, so the set never changes within an epoch).
pub(crate) fn voting_set(state: &StateMap) -> Vec<MemberId> {
    let epoch = state.epoch();
    state
        .participants()
        .into_iter()
        .filter(|(member, record)| {
            record.is_active()
                && state
                    .suspension(member)
                    .is_none_or(|s| !s.is_current() && s.readmitted_in_epoch.is_none_or(|e| e < epoch))
        })
        .map(|(member, _)| member)
        .collect()
}

/// Executes a `Suspend`, `Withdraw` or `Resume` op at `key` against `state`.
/// The author is an active participant whose ops count here (the caller
/// skips the others). A refusal is a failed op, recorded like any other.
pub(crate) fn execute(
    state: &StateMap,
    dag: &Dag,
    params: &Params,
    op: &SignedOp,
    key: OrderKey,
) -> (Vec<Write>, OpOutcome) {
    let result = match &op.op().payload {
        Payload::Suspend { member, cut_seq } => vote(state, dag, params, op, *member, *cut_seq, key),
        Payload::Withdraw => withdraw(state, op.author()),
        Payload::Resume => Err(format!("{} is not suspended; there is nothing to resume", op.author())),
        Payload::Readmit { member } => readmit(state, dag, op, *member, key),
        other => Err(format!("a {} op is not a suspension op", other.kind())),
    };
    match result {
        Ok((mut writes, events)) => {
            writes.sort_by(|a, b| a.0.cmp(&b.0));
            (writes, OpOutcome::Applied { data: None, events })
        }
        Err(error) => {
            (vec![(failed_key(&key.id), Some(error.clone().into_bytes()))], OpOutcome::Failed { error })
        }
    }
}

type Effect = Result<(Vec<Write>, Vec<ModuleEvent>), String>;

fn event(kind: &str, attributes: &[(&str, String)]) -> ModuleEvent {
    ModuleEvent {
        module: SYSTEM_EVENTS.into(),
        event: Event {
            kind: kind.into(),
            attributes: attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect(),
        },
    }
}

fn vote(
    state: &StateMap,
    dag: &Dag,
    params: &Params,
    op: &SignedOp,
    member: MemberId,
    cut_seq: u64,
    key: OrderKey,
) -> Effect {
    let voter = op.author();
    let time_ms = op.op().time_ms;
    let Some(target) = state.participant(&member) else {
        return Err(format!("{member} is not a participant of this partnership"));
    };
    if state.is_suspended(&member) {
        return Err(format!("{member} is already suspended"));
    }
    let voter_record = state.participant(&voter).ok_or_else(|| format!("{voter} is not a participant"))?;
    let voters = voting_set(state);
    if !voters.contains(&voter) {
        return Err(format!(
            "{voter} does not vote on suspensions in this epoch (readmitted or suspended in it)"
        ));
    }
    let cut_height = if cut_seq == 0 {
        target.admitted_at
    } else {
        dag.ops_at(&member, cut_seq)
            .iter()
            .filter_map(|id| dag.height_of(id))
            .min()
            .ok_or_else(|| format!("{member}'s op {cut_seq} is not in the graph"))?
    };
    let start = counting_start(state, &voter, &voter_record);
    if start > cut_height {
        return Err(format!(
            "{voter} takes part only from height {start}, after {member}'s last op it saw (height {cut_height}); \
             only a participant that could have seen {member} act may vote to suspend it"
        ));
    }
    if let Some(previous) = state.vote_this_epoch(&voter)
        && !(previous.member == member && cut_seq > previous.cut_seq)
    {
        return Err(format!(
            "{voter} already voted in this epoch (to suspend {} at seq {}); a participant votes once per epoch, \
             or again against the same member at a later cut",
            previous.member, previous.cut_seq
        ));
    }
    let epoch = state.epoch();
    let record = VoteRecord { member, cut_seq, epoch, live: true, time_ms };
    let mut writes = vec![(vote_key(&voter), Some(encode_record(&record)))];
    let votes = 1 + state
        .live_votes()
        .iter()
        .filter(|(other, record)| *other != voter && record.member == member && record.cut_seq == cut_seq)
        .filter(|(_, record)| record.time_ms.abs_diff(time_ms) <= params.suspend_after_ms)
        .count();
    let needed = voters.len() / 2 + 1;
    let mut events = vec![event(
        "suspension_vote",
        &[
            ("voter", voter.to_string()),
            ("member", member.to_string()),
            ("cut_seq", cut_seq.to_string()),
            ("votes", votes.to_string()),
            ("needed", needed.to_string()),
        ],
    )];
    if votes >= needed {
        let record = SuspensionRecord {
            cut_seq,
            suspended_at: key.height,
            suspended_by: key.id,
            resumed_at: None,
            resumed_seq: None,
            readmitted_in_epoch: None,
        };
        writes.push((suspension_key(&member), Some(encode_record(&record))));
        writes.push(next_epoch_write(epoch));
        events.push(event(
            "participant_suspended",
            &[("member", member.to_string()), ("cut_seq", cut_seq.to_string()), ("votes", votes.to_string())],
        ));
    }
    Ok((writes, events))
}

fn withdraw(state: &StateMap, voter: MemberId) -> Effect {
    let Some(mut live) = state.live_vote(&voter) else {
        return Err(format!("{voter} has no live suspension vote to withdraw"));
    };
    let events = vec![event(
        "suspension_vote_withdrawn",
        &[("voter", voter.to_string()), ("member", live.member.to_string())],
    )];
    // The record stays (not live): its voter has used its vote of this epoch.
    live.live = false;
    Ok((vec![(vote_key(&voter), Some(encode_record(&live)))], events))
}

fn readmit(state: &StateMap, dag: &Dag, op: &SignedOp, member: MemberId, key: OrderKey) -> Effect {
    let Some(mut record) = state.suspension(&member).filter(SuspensionRecord::is_current) else {
        return Err(format!("{member} is not suspended; there is nothing to readmit"));
    };
    let max_seq = dag.chain(&member).map_or(0, |chain| chain.max_seq());
    let request = (record.cut_seq + 1..=max_seq).find(|seq| {
        dag.ops_at(&member, *seq).iter().any(|id| {
            dag.get(id).is_some_and(|n| n.op.op().payload == Payload::Resume)
                && past_contains(dag, &op.op().parents, id)
        })
    });
    let Some(resumed_seq) = request else {
        return Err(format!(
            "{member} has not asked to return: no resume op of theirs after its cut (seq {}) is in this op's past",
            record.cut_seq
        ));
    };
    record.resumed_at = Some(key.height);
    record.resumed_seq = Some(resumed_seq);
    record.readmitted_in_epoch = Some(state.epoch());
    // No new epoch: the returning member votes from the next one on. (Only
    // votes and suspensions decide epochs besides admissions and removals,
    // so a suspended member's ops cannot decide whether it is suspended.)
    let writes = vec![(suspension_key(&member), Some(encode_record(&record)))];
    let events = vec![event(
        "participant_resumed",
        &[
            ("member", member.to_string()),
            ("readmitted_by", op.author().to_string()),
            ("cut_seq", record.cut_seq.to_string()),
            ("from_seq", resumed_seq.to_string()),
        ],
    )];
    Ok((writes, events))
}
