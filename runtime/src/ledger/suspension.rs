//! Suspension of absent participants: votes, withdrawals and returns.
//!
//! Finality waits for every participant. So that a partner whose node went
//! away cannot hold the others up for good, the others may **suspend** it:
//!
//! - A participant's node votes with a `Suspend { member, cut_seq }` op, where
//!   `cut_seq` is the highest seq of the absent member's ops in the vote's
//!   causal past (checked when the op enters the graph, see [`check_cut`]).
//! - A vote is live until its voter withdraws it (`Withdraw`) or the
//!   participant set changes (a new *epoch*: any admission, removal,
//!   suspension or return). A voter has at most one live vote.
//! - When live votes for the same `(member, cut_seq)` come from more than
//!   half of the active, unsuspended participants (the absent one included
//!   in the count), the vote that completes them suspends the member, at its
//!   place in the order: finality stops waiting for it, and its ops after
//!   the cut have no effect, wherever they sort.
//! - A suspended member keeps its membership, units and claims. It returns
//!   with a `Resume` op: from that op on its ops count again, and finality
//!   waits for it from the resume's height.
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
use crate::op::{MemberId, OpId, Payload, SignedOp};

/// The module name on events the runtime itself emits.
pub const SYSTEM_EVENTS: &str = "system";

/// Whether `target` is in the causal past of `from` (the ops themselves
/// included). Walks only ops above the target's height, so the cost is the
/// part of the graph between them.
pub(crate) fn past_contains(dag: &Dag, from: &[OpId], target: &OpId) -> bool {
    let Some(target_height) = dag.get(target).map(|n| n.height) else { return false };
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
    let ops_at = |seq: u64| dag.chain(member).map(|chain| chain.ops_at(seq)).unwrap_or_default();
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

/// Active participants that are not suspended: the set suspension quorums
/// are counted against.
pub(crate) fn voting_set(state: &StateMap) -> Vec<MemberId> {
    state
        .participants()
        .into_iter()
        .filter(|(member, record)| record.is_active() && !state.is_suspended(member))
        .map(|(member, _)| member)
        .collect()
}

/// Executes a `Suspend`, `Withdraw` or `Resume` op at `key` against `state`.
/// The author is an active participant whose ops count here (the caller
/// skips the others). A refusal is a failed op, recorded like any other.
pub(crate) fn execute(state: &StateMap, dag: &Dag, op: &SignedOp, key: OrderKey) -> (Vec<Write>, OpOutcome) {
    let result = match &op.op().payload {
        Payload::Suspend { member, cut_seq } => vote(state, dag, op.author(), *member, *cut_seq, key),
        Payload::Withdraw => withdraw(state, op.author()),
        Payload::Resume => resume(state, op.author(), op.seq(), key),
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
    voter: MemberId,
    member: MemberId,
    cut_seq: u64,
    key: OrderKey,
) -> Effect {
    let Some(target) = state.participant(&member) else {
        return Err(format!("{member} is not a participant of this partnership"));
    };
    if state.is_suspended(&member) {
        return Err(format!("{member} is already suspended"));
    }
    let voter_record = state.participant(&voter).ok_or_else(|| format!("{voter} is not a participant"))?;
    let cut_height = if cut_seq == 0 {
        target.admitted_at
    } else {
        dag.chain(&member)
            .map(|chain| chain.ops_at(cut_seq))
            .unwrap_or_default()
            .iter()
            .filter_map(|id| dag.get(id).map(|n| n.height))
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
    if let Some(live) = state.live_vote(&voter) {
        return Err(format!(
            "{voter} already has a live vote to suspend {} in this epoch; withdraw it first",
            live.member
        ));
    }
    let epoch = state.epoch();
    let mut writes = vec![(vote_key(&voter), Some(encode_record(&VoteRecord { member, cut_seq, epoch })))];
    let votes = 1 + state
        .live_votes()
        .iter()
        .filter(|(other, record)| *other != voter && record.member == member && record.cut_seq == cut_seq)
        .count();
    let needed = voting_set(state).len() / 2 + 1;
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
    let Some(live) = state.live_vote(&voter) else {
        return Err(format!("{voter} has no live suspension vote to withdraw"));
    };
    let events = vec![event(
        "suspension_vote_withdrawn",
        &[("voter", voter.to_string()), ("member", live.member.to_string())],
    )];
    Ok((vec![(vote_key(&voter), None)], events))
}

fn resume(state: &StateMap, member: MemberId, seq: u64, key: OrderKey) -> Effect {
    let Some(mut record) = state.suspension(&member).filter(SuspensionRecord::is_current) else {
        return Err(format!("{member} is not suspended; there is nothing to resume"));
    };
    record.resumed_at = Some(key.height);
    record.resumed_seq = Some(seq);
    let writes =
        vec![(suspension_key(&member), Some(encode_record(&record))), next_epoch_write(state.epoch())];
    let events = vec![event(
        "participant_resumed",
        &[
            ("member", member.to_string()),
            ("cut_seq", record.cut_seq.to_string()),
            ("from_seq", seq.to_string()),
        ],
    )];
    Ok((writes, events))
}
