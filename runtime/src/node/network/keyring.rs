//! Partnership keys on this node: which it holds, which it seals gossip
//! under, and when it gives the partnership a new one.
//!
//! Keys come from `rekey` ops ([`Payload::Rekey`]) in the partnership's
//! graph; the node opens the slot of its member in each one it is a
//! recipient of, and keeps every key it opened (any may still carry a
//! lagging partner's op).
//!
//! - **Sealing.** An active participant's node seals gossip under the
//!   newest *valid* key it holds: authored by a participant active now, and
//!   sealed to no one who is not an active participant now (removed or
//!   suspended); for an op, those removed by it or after it in the graph's
//!   order still count (the op that removes a partner is not written after
//!   it left). When none is valid (just after a removal), nothing is
//!   gossiped: anti-entropy, point to point to proven participants' nodes,
//!   carries the ops until the new key is in. A rekey op itself goes under
//!   the newest key held before it, whoever holds that: it carries only
//!   sealed keys and whom they are for. A node whose member is no
//!   longer active (it owes its removal ack, or returns from a suspension)
//!   seals its own ops under the newest key it holds: they tell it nothing
//!   it does not know.
//! - **Rotation.** When the newest valid key's recipients are not exactly
//!   the active participants (a removal, a suspension, an admission, a
//!   readmission, or no key yet), the active participant first by member id
//!   authors a rekey op at once, the next one [`REKEY_STAGGER`] later if
//!   the first is silent, and so on; two at once cost one key more and
//!   nothing else. Only after the node has heard a peer's heads (as for
//!   binding), so that a member key moved to a fresh node never signs a seq
//!   its old node used; but the node that creates a partnership makes its
//!   first key at once, right after the genesis, so that its first ops
//!   already travel by gossip.
//!
//! The bytes themselves, and the rules of a rekey op's shape, are
//! [`crate::seal`]'s and [`crate::op`]'s; the gossip path that calls this
//! is `gossip.rs` (in) and `mod.rs` (out).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::time::Instant;

use super::NetworkHalf;
use crate::node::clock::now_ms;
use crate::node::core::NodeCore;
use crate::node::core::NodeLedger as Ledger;
use crate::node::error::NodeError;
use crate::op::{MemberId, MemberKey, OpId, PartnershipId, Payload, SignedOp};
use crate::seal::{self, KeyId, PartnershipKey, SealError, SealedBox, rekey_context};

/// How long each participant after the first waits, per rank, before it
/// gives the partnership a new key the first has not.
pub const REKEY_STAGGER: Duration = Duration::from_secs(2);

/// The keys of one partnership this node has opened.
#[derive(Default)]
struct HeldKeys {
    /// Rekey ops already looked at (opened or not ours).
    seen: BTreeSet<OpId>,
    /// Opened keys, by the rekey op that carried them.
    by_op: BTreeMap<OpId, PartnershipKey>,
    /// The same keys by id, as envelopes name them.
    by_id: BTreeMap<KeyId, PartnershipKey>,
    /// Since when this partnership has wanted a new key, as this node saw it.
    wanted_since: Option<Instant>,
}

/// The partnership keys of every partnership the node holds.
#[derive(Default)]
pub(super) struct KeyRing {
    partnerships: BTreeMap<PartnershipId, HeldKeys>,
    /// Partnerships this node created just now, whose first key it makes
    /// at once (it knows its own chain: the genesis is all of it).
    created: BTreeSet<PartnershipId>,
}

/// Members that are active participants now (admitted, not removed, not suspended).
fn active_participants(ledger: &Ledger) -> BTreeSet<MemberId> {
    let state = ledger.optimistic_state();
    state
        .participants()
        .into_iter()
        .filter(|(member, record)| record.is_active() && !state.is_suspended(member))
        .map(|(member, _)| member)
        .collect()
}

/// A rekey op's author and recipients, if it is one.
fn rekey_parts(op: &SignedOp) -> Option<(&Vec<MemberId>, &SealedBox)> {
    match &op.op().payload {
        Payload::Rekey { recipients, sealed } => Some((recipients, sealed)),
        _ => None,
    }
}

impl KeyRing {
    /// Opens the keys of rekey ops not looked at yet that are sealed to `key`'s member.
    fn refresh(&mut self, ledger: &Ledger, key: &MemberKey) {
        let partnership = ledger.partnership();
        let held = self.partnerships.entry(partnership).or_default();
        let me = key.member_id();
        for op in ledger.rekeys() {
            if !held.seen.insert(op.id()) {
                continue;
            }
            let Some((recipients, sealed)) = rekey_parts(&op) else { continue };
            let Ok(slot) = recipients.binary_search(&me) else { continue };
            match sealed.open_slot(slot, &key.x25519_secret(), &rekey_context(&partnership)) {
                Ok(bytes) => match <[u8; 32]>::try_from(bytes.as_slice()) {
                    Ok(bytes) => {
                        let opened = PartnershipKey::from_bytes(bytes);
                        held.by_id.insert(opened.id(), opened.clone());
                        held.by_op.insert(op.id(), opened);
                    }
                    Err(_) => tracing::warn!(%partnership, op = %op.id(), "a rekey op sealed no 32-byte key"),
                },
                Err(error) => {
                    tracing::warn!(%partnership, op = %op.id(), author = %op.author(), %error, "cannot open this member's slot of a rekey op")
                }
            }
        }
    }

    /// The key an op is sealed under for gossip (see the module doc), after
    /// opening what is new; `None` for the key gossip uses now.
    fn sealing_key(
        &mut self,
        ledger: &Ledger,
        key: &MemberKey,
        op: Option<&SignedOp>,
    ) -> Option<PartnershipKey> {
        self.refresh(ledger, key);
        let held = self.partnerships.get(&ledger.partnership())?;
        let rekeys = ledger.rekeys();
        let newest_held = |exclude: Option<OpId>| {
            rekeys
                .iter()
                .rev()
                .filter(|r| Some(r.id()) != exclude)
                .find_map(|r| held.by_op.get(&r.id()).cloned())
        };
        let mut present = active_participants(ledger);
        if !present.contains(&key.member_id()) {
            // Only this node's own ops, under the newest key it holds.
            return newest_held(None);
        }
        if let Some(op) = op {
            if let Payload::Rekey { .. } = op.op().payload {
                // Sealed keys and whom they are for: nothing a former partner
                // may not see. Under the newest key before it (peers cannot
                // open its own yet).
                return newest_held(Some(op.id()));
            }
            // Those removed by this op or after it still count for it: the
            // op that removes a partner is not written after it left.
            if let Some(height) = ledger.dag().height_of(&op.id()) {
                let state = ledger.optimistic_state();
                present.extend(
                    state
                        .participants()
                        .into_iter()
                        .filter(|(_, record)| record.removed_at.is_some_and(|at| at >= height))
                        .map(|(member, _)| member),
                );
            }
        }
        rekeys
            .iter()
            .rev()
            .filter(|r| rekey_valid(r, &present))
            .find_map(|r| held.by_op.get(&r.id()).cloned())
    }

    /// The key with `id` of `partnership`, if this node opened it.
    fn key_by_id(&mut self, ledger: &Ledger, key: &MemberKey, id: &KeyId) -> Option<PartnershipKey> {
        if let Some(found) = self.partnerships.get(&ledger.partnership()).and_then(|h| h.by_id.get(id)) {
            return Some(found.clone());
        }
        self.refresh(ledger, key);
        self.partnerships.get(&ledger.partnership()).and_then(|h| h.by_id.get(id)).cloned()
    }

    /// `partnership` was created here just now (see [`KeyRing::created`]).
    pub(super) fn created_here(&mut self, partnership: PartnershipId) {
        self.created.insert(partnership);
    }

    /// Forgets a partnership the node no longer holds.
    fn forget(&mut self, partnership: &PartnershipId) {
        self.partnerships.remove(partnership);
    }
}

/// Whether a rekey op's key may carry gossip among `active`: its author is
/// one of them and it was sealed to none but them.
fn rekey_valid(op: &SignedOp, active: &BTreeSet<MemberId>) -> bool {
    rekey_parts(op).is_some_and(|(recipients, _)| {
        active.contains(&op.author()) && recipients.iter().all(|r| active.contains(r))
    })
}

/// Whether `ledger`'s partnership wants a new key: its newest valid key is
/// not sealed to exactly the active participants (or there is none).
pub fn wants_rekey(ledger: &Ledger) -> bool {
    let active = active_participants(ledger);
    if active.is_empty() {
        return false;
    }
    match ledger.rekeys().iter().rev().find(|op| rekey_valid(op, &active)) {
        Some(op) => rekey_parts(op)
            .is_some_and(|(recipients, _)| recipients.iter().copied().collect::<BTreeSet<_>>() != active),
        None => true,
    }
}

/// A rekey op's payload: a fresh key sealed to `recipients` (ascending).
pub fn rekey_payload(partnership: &PartnershipId, recipients: Vec<MemberId>) -> Result<Payload, SealError> {
    let key = PartnershipKey::generate()?;
    let public: Vec<[u8; 32]> = recipients.iter().map(seal::recipient_key).collect::<Result<_, _>>()?;
    let sealed = SealedBox::seal(&public, &rekey_context(partnership), &key.to_bytes())?;
    Ok(Payload::Rekey { recipients, sealed })
}

/// The partnership keys a node holds, by id (never the keys themselves).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeysHeld {
    /// Every key this node opened, by id, oldest first.
    pub held: Vec<KeyId>,
    /// The key it seals gossip under now, if any may carry it.
    pub sealing: Option<KeyId>,
    /// Whether the partnership waits for a new key (its active participants
    /// changed since the newest valid one).
    pub wants_rekey: bool,
}

/// What opening a gossip envelope came to.
pub(super) enum Opened {
    /// The op's bytes.
    Op(Vec<u8>),
    /// Sealed under a key this node does not hold (yet): a rekey op it lacks.
    UnknownKey,
    /// Not an envelope, or it does not open under the key it names.
    Bad(SealError),
}

impl NetworkHalf {
    /// `op` (of `partnership`) sealed for gossip, or `None` when no key may
    /// carry it now (anti-entropy will). See [`KeyRing::sealing_key`].
    pub(super) fn seal_gossip(
        &mut self,
        core: &NodeCore,
        partnership: &PartnershipId,
        op: &SignedOp,
    ) -> Option<Vec<u8>> {
        let ledger = core.ledger(partnership)?;
        let key = self.keyring.sealing_key(ledger, &self.key, Some(op))?;
        match key.seal(&op.encode()) {
            Ok(envelope) => Some(envelope),
            Err(error) => {
                tracing::warn!(%partnership, %error, "cannot seal an op for gossip");
                None
            }
        }
    }

    /// Opens a gossip envelope that came on `partnership`'s topic.
    pub(super) fn open_gossip(
        &mut self,
        core: &NodeCore,
        partnership: &PartnershipId,
        data: &[u8],
    ) -> Opened {
        let Some(ledger) = core.ledger(partnership) else { return Opened::UnknownKey };
        let id = match seal::envelope_key_id(data) {
            Ok(id) => id,
            Err(error) => return Opened::Bad(error),
        };
        let Some(key) = self.keyring.key_by_id(ledger, &self.key, &id) else { return Opened::UnknownKey };
        match key.open(data) {
            Ok(bytes) => Opened::Op(bytes),
            Err(error) => Opened::Bad(error),
        }
    }

    /// Gives each of `partnerships` that wants one a new key, if it is this
    /// node's turn (see the module doc); partnerships still waiting for
    /// another participant's rekey are looked at again on the tick.
    pub(super) fn tend_keys(
        &mut self,
        core: &mut NodeCore,
        partnerships: impl IntoIterator<Item = PartnershipId>,
    ) -> Result<(), NodeError> {
        let me = core.member();
        for partnership in partnerships {
            if !core.holds(&partnership) {
                self.keyring.forget(&partnership);
                continue;
            }
            // A resting partnership wants no rekey (it rests only then):
            // it is not loaded to ask.
            let Some(ledger) = core.loaded_ledger(&partnership) else { continue };
            let wants = ledger.halted().is_none() && wants_rekey(ledger);
            let held = self.keyring.partnerships.entry(partnership).or_default();
            if !wants {
                held.wanted_since = None;
                continue;
            }
            let since = *held.wanted_since.get_or_insert_with(Instant::now);
            let active = active_participants(ledger);
            let Some(rank) = active.iter().position(|m| *m == me) else { continue };
            let creator = self.keyring.created.remove(&partnership);
            if !creator
                && (since.elapsed() < REKEY_STAGGER * rank as u32 || !self.caught_up.contains(&partnership))
            {
                continue;
            }
            let payload = match rekey_payload(&partnership, active.into_iter().collect()) {
                Ok(payload) => payload,
                Err(error) => {
                    tracing::warn!(%partnership, %error, "cannot make a new partnership key");
                    continue;
                }
            };
            match core.author(&partnership, payload, now_ms()) {
                Ok(op) => {
                    tracing::debug!(node = %me, %partnership, op = %op.id(), "gave the partnership a new key");
                    self.stats.rekeys_authored += 1;
                    if let Some(held) = self.keyring.partnerships.get_mut(&partnership) {
                        held.wanted_since = None;
                    }
                }
                Err(e @ NodeError::Store(_)) => return Err(e),
                Err(error) => tracing::warn!(%partnership, %error, "cannot author a rekey op"),
            }
        }
        Ok(())
    }

    /// The keys this node holds for `partnership` (see [`KeysHeld`]).
    pub fn keys_held(&mut self, core: &NodeCore, partnership: &PartnershipId) -> KeysHeld {
        let Some(ledger) = core.ledger(partnership) else { return KeysHeld::default() };
        let sealing = self.keyring.sealing_key(ledger, &self.key, None).map(|k| k.id());
        let held = self.keyring.partnerships.get(partnership).map_or_else(Vec::new, |h| {
            ledger.rekeys().iter().filter_map(|op| h.by_op.get(&op.id()).map(PartnershipKey::id)).collect()
        });
        KeysHeld { held, sealing, wants_rekey: wants_rekey(ledger) }
    }

    /// Partnerships still waiting for a new key (for the tick).
    pub(super) fn waiting_for_keys(&self) -> Vec<PartnershipId> {
        self.keyring.partnerships.iter().filter(|(_, h)| h.wanted_since.is_some()).map(|(p, _)| *p).collect()
    }
}
