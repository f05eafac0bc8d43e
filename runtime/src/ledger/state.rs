//! The partnership's key-value state and its layout.
//!
//! All state (every module's keys and the runtime's own records: the
//! participant registry, installed modules, failed ops, equivocation
//! evidence, bound peers) lives in one ordered map, so undo, snapshots and
//! the state root treat it uniformly. Layout:
//!
//! | prefix | what |
//! |---|---|
//! | `m/<module>/<key>` | a module's own keys |
//! | `s/p/<member>` | participant record ([`ParticipantRecord`]) |
//! | `s/m/<module>` | module instance record ([`ModuleRecord`]) |
//! | `s/f/<op id>` | the error of a failed op (UTF-8) |
//! | `s/e/<member>` | equivocation evidence: the first seq signed twice (u64 BE) |
//! | `s/b/<member>` | the member's bound node (libp2p peer id bytes) |
//! | `s/x` | the participant-set epoch (u64 BE; absent = 0): admissions, removals and suspensions start a new one |
//! | `s/v/<voter>` | the voter's suspension vote ([`VoteRecord`]; live while its epoch is current) |
//! | `s/s/<member>` | the member's latest suspension ([`SuspensionRecord`]) |
//! | `s/y` | the terms generation (u64 BE): installs and upgrades raise it |
//! | `s/c/<code hash>` | module code published in the partnership ([`CodeRecord`]) |
//! | `s/q/<author>` | the author's publication under way: code, size, next chunk |
//! | `s/k/<author><index u32 BE>` | a chunk of that publication |
//!
//! [`StateMap`] keeps the map and its [`LtHash`] in step.

use std::collections::BTreeMap;
use std::ops::Bound;

use serde::{Deserialize, Serialize};

use super::lthash::LtHash;
use crate::op::{CodeHash, MemberId, OpId, SystemPermission};

/// A participant's admission and removal heights.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantRecord {
    /// Height of the op that admitted it (0 for the charter's participants).
    pub admitted_at: u64,
    /// The op that admitted it (none for the charter's participants).
    pub admitted_by: Option<OpId>,
    /// Height of the op that removed it, if removed.
    pub removed_at: Option<u64>,
    /// The op that removed it: an op of the participant that has this op in
    /// its past is refused.
    pub removed_by: Option<OpId>,
}

impl ParticipantRecord {
    /// Whether the participant is active (admitted and not removed).
    pub fn is_active(&self) -> bool {
        self.removed_at.is_none()
    }
}

/// A suspension vote, as recorded when its op applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRecord {
    /// Who the vote would suspend.
    pub member: MemberId,
    /// That member's last op that counts, as the voter saw it.
    pub cut_seq: u64,
    /// The epoch the vote was cast in: it is live only while that epoch is
    /// current (a suspension, admission or removal starts a new one).
    pub epoch: u64,
    /// Whether it still stands (its voter has not withdrawn it).
    pub live: bool,
    /// The vote op's time: it counts only toward a completing vote at most
    /// the charter's `suspend_after_ms` later.
    pub time_ms: u64,
}

/// A participant's latest suspension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuspensionRecord {
    /// Its last op that counts: its ops with a higher seq have no effect
    /// (until its return).
    pub cut_seq: u64,
    /// Height of the op that completed the quorum.
    pub suspended_at: u64,
    /// The op that completed the quorum.
    pub suspended_by: OpId,
    /// Height of its return, if it returned.
    pub resumed_at: Option<u64>,
    /// Seq of its resume op: its ops from this seq on count again.
    pub resumed_seq: Option<u64>,
    /// The epoch it was readmitted in: it votes and is counted in
    /// suspension quorums from the next epoch on.
    pub readmitted_in_epoch: Option<u64>,
}

impl SuspensionRecord {
    /// Whether the participant is suspended now (not yet returned).
    pub fn is_current(&self) -> bool {
        self.resumed_at.is_none()
    }

    /// Whether the member's op with `seq` falls in the suspension's gap:
    /// after the cut and before the return.
    pub fn cuts_off(&self, seq: u64) -> bool {
        seq > self.cut_seq && self.resumed_seq.is_none_or(|resumed| seq < resumed)
    }
}

/// An installed module instance.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModuleRecord {
    /// Its code.
    pub code: CodeHash,
    /// The system messages it may send.
    pub permissions: Vec<SystemPermission>,
}

/// Module code published in the partnership (by its genesis or by
/// `publish_code` ops).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeRecord {
    /// The code's size in bytes (`None` for code the genesis names: the
    /// genesis carries its hash, not its bytes).
    pub size: Option<u32>,
    /// The height of the op that completed the publication (0: the genesis).
    pub published_at: u64,
    /// That op (`None`: named by the genesis).
    pub published_by: Option<OpId>,
}

/// A publication under way: the author's chunks of one code received so far.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PendingCode {
    pub code: CodeHash,
    pub size: u32,
    /// The index of the chunk that must come next.
    pub next: u32,
}

pub(crate) const PARTICIPANT_PREFIX: &[u8] = b"s/p/";
pub(crate) const CODE_PREFIX: &[u8] = b"s/c/";
pub(crate) const PENDING_CODE_PREFIX: &[u8] = b"s/q/";
pub(crate) const CODE_CHUNK_PREFIX: &[u8] = b"s/k/";
pub(crate) const MODULE_PREFIX: &[u8] = b"s/m/";
pub(crate) const FAILED_PREFIX: &[u8] = b"s/f/";
pub(crate) const EVIDENCE_PREFIX: &[u8] = b"s/e/";
pub(crate) const PEER_PREFIX: &[u8] = b"s/b/";
pub(crate) const EPOCH_KEY: &[u8] = b"s/x";
pub(crate) const VOTE_PREFIX: &[u8] = b"s/v/";
pub(crate) const SUSPENSION_PREFIX: &[u8] = b"s/s/";
/// Present once the partnership is dissolved: JSON `{"height","op","reason"}`.
pub(crate) const DISSOLUTION_KEY: &[u8] = b"s/d";
/// The terms generation (u64 BE; absent = 0): every install and upgrade raises it.
pub(crate) const TERMS_GENERATION_KEY: &[u8] = b"s/y";

pub(crate) fn key_with(prefix: &[u8], tail: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(prefix.len() + tail.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(tail);
    key
}

pub(crate) fn code_key(code: &CodeHash) -> Vec<u8> {
    key_with(CODE_PREFIX, &code.0)
}

pub(crate) fn pending_code_key(author: &MemberId) -> Vec<u8> {
    key_with(PENDING_CODE_PREFIX, &author.0)
}

pub(crate) fn code_chunk_key(author: &MemberId, index: u32) -> Vec<u8> {
    let mut key = key_with(CODE_CHUNK_PREFIX, &author.0);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

pub(crate) fn participant_key(member: &MemberId) -> Vec<u8> {
    key_with(PARTICIPANT_PREFIX, &member.0)
}

pub(crate) fn module_key(name: &str) -> Vec<u8> {
    key_with(MODULE_PREFIX, name.as_bytes())
}

pub(crate) fn failed_key(op: &OpId) -> Vec<u8> {
    key_with(FAILED_PREFIX, &op.0)
}

pub(crate) fn evidence_key(member: &MemberId) -> Vec<u8> {
    key_with(EVIDENCE_PREFIX, &member.0)
}

pub(crate) fn peer_key(member: &MemberId) -> Vec<u8> {
    key_with(PEER_PREFIX, &member.0)
}

pub(crate) fn vote_key(voter: &MemberId) -> Vec<u8> {
    key_with(VOTE_PREFIX, &voter.0)
}

pub(crate) fn suspension_key(member: &MemberId) -> Vec<u8> {
    key_with(SUSPENSION_PREFIX, &member.0)
}

/// The write that starts the epoch after `epoch`.
pub(crate) fn next_epoch_write(epoch: u64) -> Write {
    (EPOCH_KEY.to_vec(), Some((epoch + 1).to_be_bytes().to_vec()))
}

/// The epoch a stored value of [`EPOCH_KEY`] holds (absent or malformed: 0).
pub(crate) fn decode_epoch(bytes: Option<&Vec<u8>>) -> u64 {
    bytes.and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok()).map_or(0, u64::from_be_bytes)
}

fn member_after(key: &[u8], prefix: &[u8]) -> Option<MemberId> {
    Some(MemberId(key.get(prefix.len()..)?.try_into().ok()?))
}

/// The prefix of a module's own keys: `m/<module>/`.
pub(crate) fn module_namespace(module: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(3 + module.len());
    key.extend_from_slice(b"m/");
    key.extend_from_slice(module.as_bytes());
    key.push(b'/');
    key
}

pub(crate) fn encode_record<T: Serialize>(record: &T) -> Vec<u8> {
    // Plain data into a Vec: postcard cannot fail here.
    postcard::to_allocvec(record).unwrap_or_default()
}

pub(crate) fn decode_record<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    postcard::from_bytes(bytes).ok()
}

/// One write: a key and its new value (`None` deletes).
pub type Write = (Vec<u8>, Option<Vec<u8>>);

/// An ordered key-value map with its lattice hash kept in step.
#[derive(Clone, Debug, Default)]
pub struct StateMap {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
    lattice: LtHash,
}

impl StateMap {
    /// Builds a map (and its lattice) from pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Self {
        let mut state = StateMap::default();
        for (k, v) in pairs {
            state.put(k, Some(v));
        }
        state
    }

    /// Reads a key.
    pub fn get(&self, key: &[u8]) -> Option<&Vec<u8>> {
        self.map.get(key)
    }

    /// Writes (or with `None`, deletes) a key; returns the previous value.
    pub fn put(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) -> Option<Vec<u8>> {
        let old = match value {
            Some(value) => {
                self.lattice.insert(&key, &value);
                self.map.insert(key.clone(), value)
            }
            None => self.map.remove(&key),
        };
        if let Some(old) = &old {
            self.lattice.remove(&key, old);
        }
        old
    }

    /// Pairs with `prefix` and key `>= start` (if `start` is longer than the
    /// prefix and starts with it), ascending.
    pub fn range_from<'a>(
        &'a self,
        prefix: &'a [u8],
        start: &[u8],
    ) -> impl Iterator<Item = (&'a Vec<u8>, &'a Vec<u8>)> + 'a {
        let from = if start > prefix { start.to_vec() } else { prefix.to_vec() };
        self.map
            .range::<Vec<u8>, _>((Bound::Included(from), Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the map is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// All pairs, ascending.
    pub fn iter(&self) -> impl Iterator<Item = (&Vec<u8>, &Vec<u8>)> {
        self.map.iter()
    }

    /// The state root: BLAKE3 of the lattice.
    pub fn root(&self) -> [u8; 32] {
        self.lattice.root()
    }

    /// A participant's record.
    pub fn participant(&self, member: &MemberId) -> Option<ParticipantRecord> {
        self.get(&participant_key(member)).and_then(|b| decode_record(b))
    }

    /// Every participant record (active or removed), ascending by member.
    pub fn participants(&self) -> Vec<(MemberId, ParticipantRecord)> {
        self.range_from(PARTICIPANT_PREFIX, b"")
            .filter_map(|(k, v)| {
                let member: [u8; 32] = k[PARTICIPANT_PREFIX.len()..].try_into().ok()?;
                Some((MemberId(member), decode_record(v)?))
            })
            .collect()
    }

    /// An installed module's record.
    pub fn module(&self, name: &str) -> Option<ModuleRecord> {
        self.get(&module_key(name)).and_then(|b| decode_record(b))
    }

    /// Every installed module, ascending by name.
    pub fn modules(&self) -> Vec<(String, ModuleRecord)> {
        self.range_from(MODULE_PREFIX, b"")
            .filter_map(|(k, v)| {
                let name = std::str::from_utf8(&k[MODULE_PREFIX.len()..]).ok()?.to_owned();
                Some((name, decode_record(v)?))
            })
            .collect()
    }

    /// The first seq a member signed twice, if evidence of it was applied.
    pub fn equivocation_from(&self, member: &MemberId) -> Option<u64> {
        let bytes: [u8; 8] = self.get(&evidence_key(member))?.as_slice().try_into().ok()?;
        Some(u64::from_be_bytes(bytes))
    }

    /// Every member with equivocation evidence and its first seq, ascending.
    pub fn equivocators(&self) -> Vec<(MemberId, u64)> {
        self.range_from(EVIDENCE_PREFIX, b"")
            .filter_map(|(k, v)| {
                let member: [u8; 32] = k[EVIDENCE_PREFIX.len()..].try_into().ok()?;
                let seq: [u8; 8] = v.as_slice().try_into().ok()?;
                Some((MemberId(member), u64::from_be_bytes(seq)))
            })
            .collect()
    }

    /// The error a failed op recorded.
    pub fn failure(&self, op: &OpId) -> Option<String> {
        self.get(&failed_key(op)).map(|b| String::from_utf8_lossy(b).into_owned())
    }

    /// The dissolution record (`{"height","op","reason"}`), once the
    /// partnership is dissolved.
    pub fn dissolution(&self) -> Option<serde_json::Value> {
        self.get(DISSOLUTION_KEY).and_then(|b| serde_json::from_slice(b).ok())
    }

    /// The participant-set epoch: it starts anew on every admission,
    /// removal and suspension, and only votes of the current epoch are live.
    pub fn epoch(&self) -> u64 {
        decode_epoch(self.get(EPOCH_KEY))
    }

    /// `voter`'s live suspension vote (cast in the current epoch, not withdrawn).
    pub fn live_vote(&self, voter: &MemberId) -> Option<VoteRecord> {
        self.vote_this_epoch(voter).filter(|record| record.live)
    }

    /// `voter`'s vote of the current epoch, live or withdrawn.
    pub fn vote_this_epoch(&self, voter: &MemberId) -> Option<VoteRecord> {
        let record: VoteRecord = self.get(&vote_key(voter)).and_then(|b| decode_record(b))?;
        (record.epoch == self.epoch()).then_some(record)
    }

    /// Every live suspension vote, ascending by voter.
    pub fn live_votes(&self) -> Vec<(MemberId, VoteRecord)> {
        let epoch = self.epoch();
        self.range_from(VOTE_PREFIX, b"")
            .filter_map(|(k, v)| Some((member_after(k, VOTE_PREFIX)?, decode_record::<VoteRecord>(v)?)))
            .filter(|(_, record)| record.epoch == epoch && record.live)
            .collect()
    }

    /// `member`'s latest suspension, current or ended.
    pub fn suspension(&self, member: &MemberId) -> Option<SuspensionRecord> {
        self.get(&suspension_key(member)).and_then(|b| decode_record(b))
    }

    /// Whether `code` is published in the partnership (named by the genesis
    /// or completed by `publish_code` ops), with its record.
    pub fn published_code(&self, code: &CodeHash) -> Option<CodeRecord> {
        self.get(&code_key(code)).and_then(|b| decode_record(b))
    }

    /// Every code published in the partnership, by hash.
    pub fn published_codes(&self) -> Vec<(CodeHash, CodeRecord)> {
        self.range_from(CODE_PREFIX, b"")
            .filter_map(|(k, v)| {
                let hash: [u8; 32] = k[CODE_PREFIX.len()..].try_into().ok()?;
                Some((CodeHash(hash), decode_record(v)?))
            })
            .collect()
    }

    /// Whether `member` is suspended now.
    pub fn is_suspended(&self, member: &MemberId) -> bool {
        self.suspension(member).is_some_and(|r| r.is_current())
    }

    /// Every member's latest suspension, ascending by member.
    pub fn suspensions(&self) -> Vec<(MemberId, SuspensionRecord)> {
        self.range_from(SUSPENSION_PREFIX, b"")
            .filter_map(|(k, v)| Some((member_after(k, SUSPENSION_PREFIX)?, decode_record(v)?)))
            .collect()
    }

    /// The node a member bound, as libp2p peer id bytes.
    pub fn bound_peer(&self, member: &MemberId) -> Option<&Vec<u8>> {
        self.get(&peer_key(member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_follows_content_not_history() {
        let mut a = StateMap::default();
        a.put(b"x".to_vec(), Some(b"1".to_vec()));
        a.put(b"x".to_vec(), Some(b"2".to_vec()));
        a.put(b"y".to_vec(), Some(b"3".to_vec()));
        a.put(b"y".to_vec(), None);
        let b = StateMap::from_pairs([(b"x".to_vec(), b"2".to_vec())]);
        assert_eq!(a.root(), b.root());
    }

    #[test]
    fn range_respects_prefix_and_start() {
        let s = StateMap::from_pairs(
            [&b"a/1"[..], b"a/2", b"a/3", b"b/1"].iter().map(|k| (k.to_vec(), b"v".to_vec())),
        );
        let keys: Vec<_> = s.range_from(b"a/", b"a/2").map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec![b"a/2".to_vec(), b"a/3".to_vec()]);
        let keys: Vec<_> = s.range_from(b"a/", b"").map(|(k, _)| k.clone()).collect();
        assert_eq!(keys.len(), 3);
    }
}
