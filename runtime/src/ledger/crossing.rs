//! What crosses between partnerships, as one partnership's state records it:
//! its participant-set generations, its outbox of messages to other
//! partnerships, and its inbox of messages it ran from them.
//!
//! Layout (all in the state, so in the state root and equal on every node):
//!
//! | key | what |
//! |---|---|
//! | `s/g` | the participant-set generation (u64 BE; absent = 0, the genesis's set) |
//! | `s/a/<generation u64 BE>` | that set ([`ParticipantSet`]), from generation 1 |
//! | `s/o/<to><seq u64 BE>` | a message to partnership `to` ([`OutboundMessage`]) |
//! | `s/u/<to>` | the last seq sent to `to` (u64 BE) |
//! | `s/i/<from>` | what this partnership trusts of `from` and the last seq it ran ([`InboxRecord`]) |
//! | `s/h/<seq u64 BE>` | a child partnership it spawned ([`SpawnRecord`]) |
//! | `s/n` | the last spawn seq (u64 BE) |
//!
//! After every executed op, [`after_op`] starts a new generation if the set
//! finality waits for changed (an admission, removal, suspension or
//! readmission) and files the op's messages to other partnerships under
//! that generation, and the children it spawns. [`check_spawn`] checks a
//! `spawn_partnership` system message; [`provenance`] checks a spawned
//! child's genesis. [`accept_delivery`] checks a `deliver` op's
//! certificate against the inbox and says what to run.
//!
//! It does not own the certificate rules ([`crate::cert`]), running the
//! delivered call (`core`, through `dispatch`), or attesting and relaying
//! (the node).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::state::{
    PARTICIPANT_PREFIX, ParticipantRecord, SUSPENSION_PREFIX, StateMap, SuspensionRecord, Write,
    decode_record, encode_record, key_with,
};
use crate::cert::{
    self, Certificate, MAX_CROSSING_MESSAGE_BYTES, OutboundMessage, ParticipantSet, SpawnStatement,
    Statement, TrustedSet, spawned_charter_digest,
};
use crate::dag::OrderKey;
use crate::op::{Charter, CodeHash, MemberId, ParentLink, PartnershipId, SignedOp, fill_placeholders};

pub(crate) const GENERATION_KEY: &[u8] = b"s/g";
pub(crate) const SET_PREFIX: &[u8] = b"s/a/";
pub(crate) const OUTBOX_PREFIX: &[u8] = b"s/o/";
pub(crate) const OUTBOX_SEQ_PREFIX: &[u8] = b"s/u/";
pub(crate) const INBOX_PREFIX: &[u8] = b"s/i/";
pub(crate) const SPAWN_PREFIX: &[u8] = b"s/h/";
pub(crate) const SPAWN_SEQ_KEY: &[u8] = b"s/n";

/// The most partnerships one op may spawn: a rule of the runtime.
pub const MAX_SPAWNS_PER_OP: usize = 16;

/// The largest spawned charter (canonical bytes, before its certificate is
/// added): the child's genesis must stay well within an op's size limit.
pub const MAX_SPAWNED_CHARTER_BYTES: usize = 128 * 1024;

/// A child partnership a partnership spawned: the statement its
/// participants attest, and the charter (with the parent link's
/// certificate empty) the child's genesis must carry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpawnRecord {
    /// What the parent's participants attest.
    pub statement: SpawnStatement,
    /// The child's charter, certificate empty.
    pub charter: Charter,
}

/// A spawn a module asked for, checked, before it is filed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Spawning {
    pub charter: Charter,
    pub author: MemberId,
}

/// The most messages to other partnerships one op may send: a rule of the
/// runtime.
pub const MAX_CROSSING_MESSAGES_PER_OP: usize = 64;

/// What a partnership knows of one that sends it messages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxRecord {
    /// The last seq it ran from the sender (0: none yet).
    pub last_seq: u64,
    /// The sender's newest participant set it verified.
    pub generation: u64,
    /// That set's members, ascending.
    pub members: Vec<MemberId>,
}

/// A message a module asked to send, before it is filed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Outgoing {
    pub to: PartnershipId,
    pub module: String,
    pub msg: Vec<u8>,
}

/// A delivery whose certificate verified: what to run, and the inbox
/// write that consumes it (made whether the call succeeds or fails).
#[derive(Clone, Debug)]
pub(crate) struct Delivery {
    pub from: PartnershipId,
    pub message: OutboundMessage,
    pub inbox_write: Write,
}

fn be(n: u64) -> [u8; 8] {
    n.to_be_bytes()
}

fn read_u64(bytes: Option<&Vec<u8>>) -> u64 {
    bytes.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map_or(0, u64::from_be_bytes)
}

pub(crate) fn set_key(generation: u64) -> Vec<u8> {
    key_with(SET_PREFIX, &be(generation))
}

pub(crate) fn outbox_key(to: &PartnershipId, seq: u64) -> Vec<u8> {
    let mut key = key_with(OUTBOX_PREFIX, &to.0);
    key.extend_from_slice(&be(seq));
    key
}

fn outbox_seq_key(to: &PartnershipId) -> Vec<u8> {
    key_with(OUTBOX_SEQ_PREFIX, &to.0)
}

pub(crate) fn inbox_key(from: &PartnershipId) -> Vec<u8> {
    key_with(INBOX_PREFIX, &from.0)
}

/// The current participant-set generation.
pub fn generation(state: &StateMap) -> u64 {
    read_u64(state.get(GENERATION_KEY))
}

/// Participant set `generation` (from 1; generation 0 is the genesis's).
pub fn participant_set(state: &StateMap, generation: u64) -> Option<ParticipantSet> {
    state.get(&set_key(generation)).and_then(|b| decode_record(b))
}

/// The message `seq` to `to`.
pub fn outbound(state: &StateMap, to: &PartnershipId, seq: u64) -> Option<OutboundMessage> {
    state.get(&outbox_key(to, seq)).and_then(|b| decode_record(b))
}

/// The last seq sent to each partnership, ascending by receiver.
pub fn outbox_heads(state: &StateMap) -> Vec<(PartnershipId, u64)> {
    state
        .range_from(OUTBOX_SEQ_PREFIX, b"")
        .filter_map(|(k, v)| {
            let to: [u8; 32] = k.get(OUTBOX_SEQ_PREFIX.len()..)?.try_into().ok()?;
            Some((PartnershipId(to), read_u64(Some(v))))
        })
        .collect()
}

/// What the partnership knows of `from`, if it ran anything from it.
pub fn inbox(state: &StateMap, from: &PartnershipId) -> Option<InboxRecord> {
    state.get(&inbox_key(from)).and_then(|b| decode_record(b))
}

/// The participants finality waits for: admitted, not removed, not
/// suspended; ascending.
pub fn active_members(state: &StateMap) -> Vec<MemberId> {
    active_with(state, &BTreeMap::new())
}

/// [`active_members`] of `state` with `overlay` written over it.
fn active_with(state: &StateMap, overlay: &BTreeMap<&[u8], &Option<Vec<u8>>>) -> Vec<MemberId> {
    let mut records: BTreeMap<MemberId, ParticipantRecord> = state.participants().into_iter().collect();
    let mut suspended: BTreeMap<MemberId, bool> =
        state.suspensions().into_iter().map(|(m, s)| (m, s.is_current())).collect();
    for (key, value) in overlay {
        let member_of = |prefix: &[u8]| -> Option<MemberId> {
            key.strip_prefix(prefix).and_then(|rest| <[u8; 32]>::try_from(rest).ok()).map(MemberId)
        };
        if let Some(member) = member_of(PARTICIPANT_PREFIX) {
            match value.as_ref().and_then(|b| decode_record::<ParticipantRecord>(b)) {
                Some(record) => records.insert(member, record),
                None => records.remove(&member),
            };
        } else if let Some(member) = member_of(SUSPENSION_PREFIX) {
            let current = value
                .as_ref()
                .and_then(|b| decode_record::<SuspensionRecord>(b))
                .is_some_and(|s| s.is_current());
            suspended.insert(member, current);
        }
    }
    records
        .into_iter()
        .filter(|(member, record)| record.is_active() && !suspended.get(member).copied().unwrap_or(false))
        .map(|(member, _)| member)
        .collect()
}

/// The set of generation `generation` as of `state`: the genesis's
/// founders for 0.
pub fn trusted_set(state: &StateMap, founders: &[MemberId], generation: u64) -> Option<TrustedSet> {
    if generation == 0 {
        let mut members = founders.to_vec();
        members.sort();
        members.dedup();
        return Some(TrustedSet { generation: 0, members });
    }
    participant_set(state, generation).map(|set| TrustedSet { generation, members: set.members })
}

/// What an op asked to send beyond its partnership.
#[derive(Debug, Default)]
pub(crate) struct Crossings {
    pub outgoing: Vec<Outgoing>,
    pub spawns: Vec<Spawning>,
}

/// The writes an executed op adds: a new participant-set generation if the
/// active set changed, its messages to other partnerships filed in the
/// outbox and its spawned children filed, both under the generation after
/// the op.
pub(crate) fn after_op(
    state: &StateMap,
    own: &PartnershipId,
    writes: &[Write],
    crossings: Crossings,
    key: OrderKey,
    time_ms: u64,
) -> Vec<Write> {
    let Crossings { outgoing, spawns } = crossings;
    let mut extra = Vec::new();
    let touches_set =
        writes.iter().any(|(k, _)| k.starts_with(PARTICIPANT_PREFIX) || k.starts_with(SUSPENSION_PREFIX));
    let mut generation = generation(state);
    if touches_set {
        let overlay: BTreeMap<&[u8], &Option<Vec<u8>>> =
            writes.iter().map(|(k, v)| (k.as_slice(), v)).collect();
        let before = active_members(state);
        let after = active_with(state, &overlay);
        if before != after && !after.is_empty() {
            generation += 1;
            let set = ParticipantSet { generation, changed_by: key.id, height: key.height, members: after };
            extra.push((GENERATION_KEY.to_vec(), Some(be(generation).to_vec())));
            extra.push((set_key(generation), Some(encode_record(&set))));
        }
    }
    let mut last: BTreeMap<PartnershipId, u64> = BTreeMap::new();
    for out in outgoing {
        let seq = last.entry(out.to).or_insert_with(|| read_u64(state.get(&outbox_seq_key(&out.to))));
        *seq += 1;
        let message = OutboundMessage {
            to: out.to,
            seq: *seq,
            module: out.module,
            msg: out.msg,
            source_op: key.id,
            height: key.height,
            generation,
        };
        extra.push((outbox_key(&out.to, *seq), Some(encode_record(&message))));
    }
    for (to, seq) in last {
        extra.push((outbox_seq_key(&to), Some(be(seq).to_vec())));
    }
    let mut spawn_seq = read_u64(state.get(SPAWN_SEQ_KEY));
    for Spawning { mut charter, author } in spawns {
        spawn_seq += 1;
        charter.parent = Some(ParentLink { partnership: *own, seq: spawn_seq, certificate: Vec::new() });
        let statement = SpawnStatement {
            seq: spawn_seq,
            charter: spawned_charter_digest(&charter),
            author,
            time_ms,
            source_op: key.id,
            height: key.height,
            generation,
        };
        extra.push((spawn_key(spawn_seq), Some(encode_record(&SpawnRecord { statement, charter }))));
        extra.push((SPAWN_SEQ_KEY.to_vec(), Some(be(spawn_seq).to_vec())));
    }
    extra
}

fn spawn_key(seq: u64) -> Vec<u8> {
    key_with(SPAWN_PREFIX, &be(seq))
}

/// The partnership's spawn `seq`.
pub fn spawn(state: &StateMap, seq: u64) -> Option<SpawnRecord> {
    state.get(&spawn_key(seq)).and_then(|b| decode_record(b))
}

/// Every child partnership spawned, in order.
pub fn spawns(state: &StateMap) -> Vec<SpawnRecord> {
    state.range_from(SPAWN_PREFIX, b"").filter_map(|(_, v)| decode_record(v)).collect()
}

/// Checks a `spawn_partnership` system message: the charter (JSON, its
/// placeholders filled from `values`), the child's participants (which
/// replace the charter's), its code (published here), and who signs its
/// genesis (the first child participant that `is_participant` here).
pub(crate) fn check_spawn(
    charter: &[u8],
    values: Vec<(String, String)>,
    participants: &[String],
    is_published: impl Fn(&CodeHash) -> bool,
    is_participant: impl Fn(&MemberId) -> bool,
) -> Result<Spawning, String> {
    let text = std::str::from_utf8(charter).map_err(|_| "the charter is not UTF-8 JSON".to_owned())?;
    let values: BTreeMap<String, String> = values.into_iter().collect();
    let filled = fill_placeholders(text, &values).map_err(|e| e.to_string())?;
    let mut charter: Charter =
        serde_json::from_str(&filled).map_err(|e| format!("the charter is not a charter in JSON: {e}"))?;
    if charter.parent.is_some() {
        return Err("the charter names a parent; the runtime sets it".into());
    }
    let mut members = Vec::new();
    for text in participants {
        members.push(text.parse::<MemberId>().map_err(|e| e.to_string())?);
    }
    members.sort();
    members.dedup();
    charter.participants = members;
    charter.validate().map_err(|e| e.to_string())?;
    if let Some(missing) = charter.modules.iter().find(|m| !is_published(&m.code)) {
        return Err(format!(
            "module `{}` names code {} that is not published in this partnership; publish it here first",
            missing.name, missing.code
        ));
    }
    let Some(author) = charter.participants.iter().find(|m| is_participant(m)).copied() else {
        return Err(
            "no child participant is a participant here, so no one here could sign its genesis".into()
        );
    };
    let size = postcard::to_allocvec(&charter).map(|b| b.len()).unwrap_or(usize::MAX);
    if size > MAX_SPAWNED_CHARTER_BYTES {
        return Err(format!("the charter is {size} bytes, over the limit of {MAX_SPAWNED_CHARTER_BYTES}"));
    }
    Ok(Spawning { charter, author })
}

/// Checks a spawned partnership's genesis against its parent link: the
/// certificate must prove, from the parent's genesis, that every
/// participant of the parent attested this spawn, of exactly this charter,
/// signed by this author at this time. Returns what the child trusts of its
/// parent from then on (its inbox record for the parent).
pub fn provenance(genesis: &SignedOp, charter: &Charter) -> Result<Option<InboxRecord>, String> {
    let limits = &cert::op_limits();
    let Some(link) = &charter.parent else { return Ok(None) };
    let cert = Certificate::decode(&link.certificate, limits).map_err(|e| format!("provenance: {e}"))?;
    if cert.source != link.partnership {
        return Err(format!(
            "provenance: the certificate is about {}, not the parent {}",
            cert.source, link.partnership
        ));
    }
    let verified = cert::verify(&cert, None, limits).map_err(|e| format!("provenance: {e}"))?;
    let Statement::Spawned(spawn) = &verified.statement else {
        return Err("provenance: the certificate does not prove a spawn".into());
    };
    let matches = spawn.seq == link.seq
        && spawn.charter == spawned_charter_digest(charter)
        && spawn.author == genesis.author()
        && spawn.time_ms == genesis.op().time_ms;
    if !matches {
        return Err(format!(
            "provenance: the parent's spawn {} is not this genesis (charter, author or time differ)",
            spawn.seq
        ));
    }
    Ok(Some(InboxRecord { last_seq: 0, generation: verified.set.generation, members: verified.set.members }))
}

/// Checks a module's request to send `msg` to `module` of partnership
/// `to` (text: 64 hex digits or `pp1…`).
pub(crate) fn check_outgoing(
    own: &PartnershipId,
    to: &str,
    module: &str,
    msg: Vec<u8>,
) -> Result<Outgoing, String> {
    let to = PartnershipId::parse_any(to).map_err(|e| format!("message to another partnership: {e}"))?;
    if to == *own {
        return Err("a partnership cannot send a message to itself; call the module directly".into());
    }
    if !crate::op::is_valid_module_name(module) {
        return Err(format!("message to another partnership: `{module}` is not a valid module name"));
    }
    if msg.len() > MAX_CROSSING_MESSAGE_BYTES {
        return Err(format!(
            "a message to another partnership is {} bytes, over the limit of {MAX_CROSSING_MESSAGE_BYTES}",
            msg.len()
        ));
    }
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&msg) {
        return Err(format!("a message to another partnership must be JSON: {e}"));
    }
    Ok(Outgoing { to, module: module.to_owned(), msg })
}

/// Checks a `deliver` op's certificate for partnership `own`: canonical,
/// proven from what `own` trusts of the sender (or from the sender's
/// genesis), a message to `own`, and the next in order from its sender.
pub(crate) fn accept_delivery(
    state: &StateMap,
    own: &PartnershipId,
    certificate: &[u8],
) -> Result<Delivery, String> {
    let limits = &cert::op_limits();
    let cert = Certificate::decode(certificate, limits).map_err(|e| format!("refused delivery: {e}"))?;
    let from = cert.source;
    if from == *own {
        return Err("refused delivery: a certificate of this partnership itself".into());
    }
    let known = inbox(state, &from);
    let trusted = known.as_ref().map(|r| TrustedSet { generation: r.generation, members: r.members.clone() });
    let verified =
        cert::verify(&cert, trusted.as_ref(), limits).map_err(|e| format!("refused delivery: {e}"))?;
    let Statement::Message(message) = verified.statement else {
        return Err("refused delivery: the certificate proves a participant set, not a message".into());
    };
    if message.to != *own {
        return Err(format!("refused delivery: the message is for partnership {}, not this one", message.to));
    }
    let last_seq = known.as_ref().map_or(0, |r| r.last_seq);
    if message.seq <= last_seq {
        return Err(format!(
            "refused delivery: message {} from {} was already delivered (replay or a second relay)",
            message.seq,
            from.to_member_text()
        ));
    }
    if message.seq != last_seq + 1 {
        return Err(format!(
            "refused delivery: message {} from {} is early: message {} runs first (they run in order)",
            message.seq,
            from.to_member_text(),
            last_seq + 1
        ));
    }
    let record = InboxRecord {
        last_seq: message.seq,
        generation: verified.set.generation,
        members: verified.set.members,
    };
    Ok(Delivery { from, message, inbox_write: (inbox_key(&from), Some(encode_record(&record))) })
}

/// The write that makes a spawned child trust its parent's set as its
/// provenance proved it (so the parent's later messages need no genesis).
pub(crate) fn trust_parent(charter: &Charter, record: &InboxRecord) -> Write {
    let parent = charter.parent.as_ref().map_or_else(PartnershipId::default, |l| l.partnership);
    (inbox_key(&parent), Some(encode_record(record)))
}

/// Why a `deliver` op was refused, from its recorded error: `duplicate`
/// (already delivered: a replay or a second relay), `out_of_order`,
/// `misaddressed`, `certificate` (it does not verify); `None` if the error
/// is not a refusal (the delivered call itself failed, which consumes it).
pub fn refusal_reason(error: &str) -> Option<&'static str> {
    let rest = error.strip_prefix("refused delivery: ")?;
    Some(if rest.contains("was already delivered") {
        "duplicate"
    } else if rest.contains(" is early: ") {
        "out_of_order"
    } else if rest.contains("the message is for partnership") {
        "misaddressed"
    } else {
        "certificate"
    })
}

/// Every partnership this one ran messages from, ascending.
pub fn inboxes(state: &StateMap) -> Vec<(PartnershipId, InboxRecord)> {
    state
        .range_from(INBOX_PREFIX, b"")
        .filter_map(|(k, v)| {
            let from: [u8; 32] = k.get(INBOX_PREFIX.len()..)?.try_into().ok()?;
            Some((PartnershipId(from), decode_record(v)?))
        })
        .collect()
}
