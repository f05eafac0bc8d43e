//! This node's part in messages between partnerships: attesting what became
//! final, and relaying attested messages to partnerships it is also in.
//!
//! - **Attest.** When a partnership's final state holds a statement the
//!   member must attest (a message to another partnership sent under a set
//!   it belongs to, a new participant set it belongs to before and after,
//!   a checkpoint taken under a set it belongs to), the node authors an
//!   attest op for it, once.
//! - **Relay.** For every message whose receiver this node also takes part
//!   in, once every attestation its certificate needs is in the sender's
//!   graph, the node builds the certificate, checks it as the receiver
//!   will, and authors a `deliver` op in the receiver. Every node in both
//!   partnerships relays (nothing depends on one relay); they stagger by
//!   their rank among those relays, and the receiver runs each message
//!   once, so a second delivery is refused there, recorded and counted.
//!
//! It does not own the statements (the ledger's `crossing` records), the
//! certificate rules ([`crate::cert`]) or what the receiver runs.

use std::collections::{BTreeMap, BTreeSet};

use crate::cert::{self, Attested, Certificate, MAX_CHAIN_LINKS, Statement, TrustedSet};
use crate::ledger::{Executor, Ledger, crossing};
use crate::op::{MAX_ATTESTED_PER_OP, MemberId, OpId, PartnershipId, Payload, SignedOp};

use super::core::NodeCore;
use super::error::NodeError;

/// How long a relay waits for each relay ranked before it (by member id
/// among the participants of both partnerships) before it delivers too.
pub const RELAY_STAGGER_MS: u64 = 2_000;

/// How long a relay waits for its delivery to show in the receiver before
/// it delivers again (its op may have been lost before it reached anyone).
pub const RELAY_RETRY_MS: u64 = 10_000;

/// The most deliveries a node authors per pair of partnerships per tick.
const DELIVERIES_PER_TICK: u64 = 32;

/// What the node remembers between ticks about crossings.
#[derive(Debug, Default)]
pub(crate) struct CrossingState {
    /// Partnerships whose final state moved since the last look (all of
    /// them after a start): only these are looked at, so an idle
    /// partnership costs nothing.
    pub(crate) dirty: BTreeSet<PartnershipId>,
    /// Per (sender, receiver), the last seq the member has attested (or
    /// need not attest).
    attested_upto: BTreeMap<(PartnershipId, PartnershipId), u64>,
    /// Per sender, the last set generation looked at.
    sets_upto: BTreeMap<PartnershipId, u64>,
    /// Per parent, the last spawn looked at (to attest it).
    spawns_upto: BTreeMap<PartnershipId, u64>,
    /// Per partnership, the height of the last checkpoint looked at.
    checkpoints_upto: BTreeMap<PartnershipId, u64>,
    /// (parent, spawn seq) of children this node founded or found founded.
    founded: BTreeSet<(PartnershipId, u64)>,
    /// Per (sender, receiver): the seq waiting to be delivered, since when
    /// it has been ready (node clock), and when this node last delivered it.
    relay: BTreeMap<(PartnershipId, PartnershipId), Pending>,
}

#[derive(Debug, Clone, Copy)]
struct Pending {
    seq: u64,
    ready_since: u64,
    sent_at: Option<u64>,
}

impl NodeCore {
    /// Attests what became final and relays what is attested (see the
    /// module doc). Returns the ops authored. `Err` only for a store
    /// failure; a certificate this node cannot build yet is left for a
    /// later tick.
    pub fn tend_crossings(&mut self, now_ms: u64) -> Result<Vec<(PartnershipId, OpId)>, NodeError> {
        let mut authored = Vec::new();
        let dirty = std::mem::take(&mut self.crossings.dirty);
        for partnership in dirty.iter().copied() {
            if self.ledger(&partnership).is_none_or(|l| l.halted().is_some()) {
                continue;
            }
            let digests = self.statements_to_attest(&partnership);
            for chunk in digests.chunks(MAX_ATTESTED_PER_OP) {
                let op = self.author(&partnership, Payload::Attest { statements: chunk.to_vec() }, now_ms)?;
                authored.push((partnership, op.id()));
            }
        }
        let mut pairs: BTreeSet<(PartnershipId, PartnershipId)> =
            self.relay_pairs(&dirty).into_iter().collect();
        pairs.extend(self.crossings.relay.keys().copied());
        for (from, to) in pairs {
            authored.extend(self.relay(from, to, now_ms)?);
        }
        self.found_children(&dirty)?;
        Ok(authored)
    }

    /// Whether [`NodeCore::tend_crossings`] still has work in `partnership`:
    /// its final state moved since the last look, or a delivery from or
    /// to it waits.
    pub(crate) fn crossing_work_in(&self, partnership: &PartnershipId) -> bool {
        self.crossings.dirty.contains(partnership)
            || self.crossings.relay.keys().any(|(from, to)| from == partnership || to == partnership)
    }

    /// Whether [`NodeCore::tend_crossings`] has work that should not wait
    /// for the next tick: a final state moved.
    pub fn crossings_due(&self) -> bool {
        !self.crossings.dirty.is_empty()
    }

    /// Signs the genesis of every child partnership a parent here spawned
    /// that names this node's member as its founder, once its spawn is
    /// final and attested by every participant of the parent; the network
    /// half then announces it to the child's participants.
    fn found_children(&mut self, dirty: &BTreeSet<PartnershipId>) -> Result<(), NodeError> {
        let member = self.member();
        if self.crossings.founded.is_empty() {
            // After a start: what is already held was founded before.
            for id in self.partnership_ids() {
                if let Some(parent) = self.roster(&id).and_then(|r| r.parent()) {
                    self.crossings.founded.insert(parent);
                }
            }
        }
        let mut ready = Vec::new();
        for parent in dirty.iter().copied() {
            let Some(ledger) = self.ledger(&parent) else { continue };
            for record in crossing::spawns(ledger.final_state()) {
                let seq = record.statement.seq;
                if record.statement.author != member || self.crossings.founded.contains(&(parent, seq)) {
                    continue;
                }
                match build_certificate(ledger, &parent, None, Statement::Spawned(record.statement.clone())) {
                    Ok(Some(certificate)) => ready.push((parent, record, certificate)),
                    Ok(None) => {}
                    Err(problem) => {
                        tracing::warn!(parent = %parent.short(), seq, "cannot found a child: {problem}")
                    }
                }
            }
        }
        for (parent, record, certificate) in ready {
            let seq = record.statement.seq;
            let mut charter = record.charter;
            if let Some(link) = &mut charter.parent {
                link.certificate = certificate.encode();
            }
            match self.create_partnership(charter, record.statement.time_ms) {
                Ok(child) => {
                    tracing::info!(parent = %parent.short(), seq, child = %child, "founded a spawned partnership");
                }
                Err(e @ NodeError::Store(_)) => return Err(e),
                Err(error) => tracing::warn!(parent = %parent.short(), seq, "cannot found a child: {error}"),
            }
            // Tried once: a failure here fails the same way again.
            self.crossings.founded.insert((parent, seq));
        }
        Ok(())
    }

    /// The digests of the statements of `partnership`'s final state the
    /// member must attest and has not, ascending; advances the cursors.
    fn statements_to_attest(&mut self, partnership: &PartnershipId) -> Vec<[u8; 32]> {
        let member = self.member();
        let Some(ledger) = self.ledger(partnership) else { return Vec::new() };
        let state = ledger.final_state();
        let founders = &ledger.charter().participants;
        let mut digests = Vec::new();
        let mut want = |statement: &Statement, attesters: &[MemberId]| {
            let digest = statement.digest(partnership);
            if attesters.binary_search(&member).is_ok() && ledger.attestation(&digest, &member).is_none() {
                digests.push(digest);
            }
        };
        let generation = crossing::generation(state);
        let from_generation = self.crossings.sets_upto.get(partnership).copied().unwrap_or(0) + 1;
        for g in from_generation..=generation {
            let (Some(before), Some(set)) =
                (crossing::trusted_set(state, founders, g - 1), crossing::participant_set(state, g))
            else {
                continue;
            };
            let continuing: Vec<MemberId> =
                before.members.iter().filter(|m| set.members.binary_search(m).is_ok()).copied().collect();
            want(&Statement::Participants(set), &continuing);
        }
        let mut upto = Vec::new();
        for (to, last) in crossing::outbox_heads(state) {
            let start = self.crossings.attested_upto.get(&(*partnership, to)).copied().unwrap_or(0) + 1;
            for seq in start..=last {
                let Some(message) = crossing::outbound(state, &to, seq) else { continue };
                let Some(set) = crossing::trusted_set(state, founders, message.generation) else { continue };
                want(&Statement::Message(message), &set.members);
            }
            upto.push((to, last));
        }
        let spawned_from = self.crossings.spawns_upto.get(partnership).copied().unwrap_or(0);
        let mut spawned_upto = spawned_from;
        for record in crossing::spawns(state).into_iter().filter(|r| r.statement.seq > spawned_from) {
            spawned_upto = spawned_upto.max(record.statement.seq);
            let generation = record.statement.generation;
            let Some(set) = crossing::trusted_set(state, founders, generation) else { continue };
            want(&Statement::Spawned(record.statement), &set.members);
        }
        let checkpoints_from = self.crossings.checkpoints_upto.get(partnership).copied().unwrap_or(0);
        let mut checkpoints_upto = checkpoints_from;
        for checkpoint in ledger.checkpoints().filter(|c| c.height > checkpoints_from) {
            checkpoints_upto = checkpoints_upto.max(checkpoint.height);
            // Its set, and every partner not removed (a suspended one
            // too): compaction waits for all of them (`node/compaction.rs`).
            want(
                &Statement::Checkpoint(*checkpoint),
                &super::compaction::checkpoint_attesters(ledger, checkpoint),
            );
        }
        self.crossings.checkpoints_upto.insert(*partnership, checkpoints_upto);
        self.crossings.spawns_upto.insert(*partnership, spawned_upto);
        self.crossings.sets_upto.insert(*partnership, generation);
        for (to, last) in upto {
            self.crossings.attested_upto.insert((*partnership, to), last);
        }
        digests.sort();
        digests.dedup();
        digests
    }

    /// Every (sender, receiver) pair of partnerships on this node with a
    /// final message from a sender in `senders` to the receiver.
    fn relay_pairs(&self, senders: &BTreeSet<PartnershipId>) -> Vec<(PartnershipId, PartnershipId)> {
        let mut pairs = Vec::new();
        for from in senders.iter().copied() {
            let Some(ledger) = self.ledger(&from) else { continue };
            for (to, _) in crossing::outbox_heads(ledger.final_state()) {
                if self.holds(&to) {
                    pairs.push((from, to));
                }
            }
        }
        pairs
    }

    /// Delivers the messages from `from` to `to` that are ready and whose
    /// turn it is for this node.
    fn relay(
        &mut self,
        from: PartnershipId,
        to: PartnershipId,
        now_ms: u64,
    ) -> Result<Vec<(PartnershipId, OpId)>, NodeError> {
        let member = self.member();
        let mut authored = Vec::new();
        for _ in 0..DELIVERIES_PER_TICK {
            let (Some(sender), Some(receiver)) = (self.ledger(&from), self.ledger(&to)) else {
                self.crossings.relay.remove(&(from, to));
                break;
            };
            let receiver_members = crossing::active_members(receiver.optimistic_state());
            if receiver.halted().is_some() || receiver_members.binary_search(&member).is_err() {
                self.crossings.relay.remove(&(from, to));
                break;
            }
            let inbox = crossing::inbox(receiver.optimistic_state(), &from);
            let next = inbox.as_ref().map_or(0, |r| r.last_seq) + 1;
            let Some(message) = crossing::outbound(sender.final_state(), &to, next) else {
                // Everything final so far is delivered.
                self.crossings.relay.remove(&(from, to));
                break;
            };
            let relays: Vec<MemberId> = crossing::active_members(sender.final_state())
                .into_iter()
                .filter(|m| receiver_members.binary_search(m).is_ok())
                .collect();
            let rank = relays.iter().position(|m| *m == member).unwrap_or(relays.len()) as u64;
            let key = (from, to);
            let mut pending =
                self.crossings.relay.get(&key).copied().filter(|p| p.seq == next).unwrap_or(Pending {
                    seq: next,
                    ready_since: now_ms,
                    sent_at: None,
                });
            let turn = pending.ready_since.saturating_add(rank.saturating_mul(RELAY_STAGGER_MS));
            let retry_due = pending.sent_at.is_none_or(|at| now_ms >= at.saturating_add(RELAY_RETRY_MS));
            self.crossings.relay.insert(key, pending);
            if now_ms < turn || !retry_due {
                // Not this node's turn yet: no certificate is built (and
                // checked) until it is.
                break;
            }
            let trusted = inbox.map(|r| TrustedSet { generation: r.generation, members: r.members });
            let Some(sender) = self.ledger(&from) else { break };
            let certificate = match build_certificate(
                sender,
                &from,
                trusted.as_ref(),
                Statement::Message(message),
            ) {
                Ok(Some(certificate)) => certificate,
                // An attestation is not in the graph yet: the turn
                // starts again once it is.
                Ok(None) => {
                    self.crossings
                        .relay
                        .insert(key, Pending { seq: next, ready_since: now_ms, sent_at: None });
                    break;
                }
                Err(problem) => {
                    tracing::warn!(from = %from.short(), to = %to.short(), seq = next, "cannot relay: {problem}");
                    break;
                }
            };
            pending.sent_at = Some(now_ms);
            self.crossings.relay.insert(key, pending);
            let op = self.author(&to, Payload::Deliver { certificate: certificate.encode() }, now_ms)?;
            tracing::info!(from = %from.short(), to = %to.short(), seq = next, "relayed a message between partnerships");
            authored.push((to, op.id()));
            if pending_delivered(self, &from, &to) < next {
                // The receiver did not take it in (its op failed at once):
                // do not spin; the retry timer applies.
                break;
            }
        }
        Ok(authored)
    }
}

fn pending_delivered(core: &NodeCore, from: &PartnershipId, to: &PartnershipId) -> u64 {
    core.ledger(to).and_then(|l| crossing::inbox(l.optimistic_state(), from)).map_or(0, |r| r.last_seq)
}

/// A certificate for `statement` of partnership `source` (whose ledger is
/// `ledger`) for a verifier that trusts `trusted` of it: `Ok(None)` while
/// an attestation it needs is not in the graph yet.
pub fn build_certificate<E: Executor>(
    ledger: &Ledger<E>,
    source: &PartnershipId,
    trusted: Option<&TrustedSet>,
    statement: Statement,
) -> Result<Option<Certificate>, String> {
    let state = ledger.final_state();
    let founders = &ledger.charter().participants;
    let start = trusted.map_or(0, |t| t.generation);
    let target = statement.attesting_generation();
    if target < start {
        return Err(format!(
            "the statement was made under set generation {target}, before the receiver's trusted {start}"
        ));
    }
    if target - start > MAX_CHAIN_LINKS as u64 {
        return Err(format!(
            "{} set changes since the receiver's trusted set; a certificate carries at most {MAX_CHAIN_LINKS}",
            target - start
        ));
    }
    let mut chain = Vec::new();
    let mut before = match trusted {
        Some(t) => t.clone(),
        None => crossing::trusted_set(state, founders, 0).ok_or("no founders")?,
    };
    for g in start + 1..=target {
        let set = crossing::participant_set(state, g).ok_or(format!("set generation {g} is not final"))?;
        let continuing: Vec<MemberId> =
            before.members.iter().filter(|m| set.members.binary_search(m).is_ok()).copied().collect();
        let members = set.members.clone();
        let Some(link) = attested(ledger, source, Statement::Participants(set), &continuing) else {
            return Ok(None);
        };
        chain.push(link);
        before = TrustedSet { generation: g, members };
    }
    let attesters = crossing::trusted_set(state, founders, target).ok_or("no attesting set")?.members;
    let Some(subject) = attested(ledger, source, statement, &attesters) else { return Ok(None) };
    let genesis = trusted.is_none().then(|| ledger.genesis().clone());
    let certificate = Certificate { source: *source, genesis, chain, subject };
    cert::verify(&certificate, trusted, &cert::op_limits())
        .map_err(|e| format!("the certificate built does not verify: {e}"))?;
    Ok(Some(certificate))
}

fn attested<E: Executor>(
    ledger: &Ledger<E>,
    source: &PartnershipId,
    statement: Statement,
    attesters: &[MemberId],
) -> Option<Attested> {
    let digest = statement.digest(source);
    let attestations: Option<Vec<SignedOp>> =
        attesters.iter().map(|m| ledger.attestation(&digest, m).map(|op| (*op).clone())).collect();
    Some(Attested { statement, attestations: attestations? })
}
