//! The partnerships a node holds, and each one's ledger, loaded on first
//! use.
//!
//! At start a node loads the ledger of every partnership that has work
//! left (a non-final tail, or no resting mark) and leaves every *resting*
//! one unloaded: its store holds a resting mark (`store::RestingMark`)
//! with a [`Standing`], the little the node serves and follows the
//! partnership by until it needs the ledger (who takes part and is
//! awaited, who is bound to which peer, whether it halted, its parent).
//! The first read of the ledger ([`Ledgers::get`], [`Ledgers::get_mut`])
//! loads it from the store; it then stays loaded. A ledger that cannot be
//! loaded is remembered as such, answered as held but unreadable
//! ([`Ledgers::load_error`]), and never stops the node.
//!
//! [`Roster`] answers the questions the network half asks of every
//! partnership (serving sync, following topics, knowing peers) from the
//! loaded ledger or, without loading it, from the standing.
//!
//! This module owns the map and the standing's encoding. When a
//! partnership may rest is `node/resting.rs`'s rule.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::core::NodeLedger;
use crate::host::WasmExecutor;
use crate::ledger::{Ledger, LedgerConfig, ParticipantRecord};
use crate::op::{MemberId, PartnershipId};
use crate::store::Store;

/// The encoding's version, the first byte of a standing's bytes.
const STANDING_VERSION: u8 = 1;

/// What a node knows of a resting partnership without its ledger: its
/// state at the final height of its resting mark, where every op is final.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The charter's name.
    pub name: String,
    /// The final height.
    pub final_height: u64,
    /// The highest height in the graph: above the final height only
    /// structural ops (the last acks).
    pub optimistic_height: u64,
    /// Ops in the graph (as the ledger counts them).
    pub op_count: u64,
    /// Every participant, ascending by member.
    pub participants: Vec<StandingParticipant>,
    /// Whether the partnership halted (a module cannot run).
    pub halted: bool,
    /// The parent's id and spawn seq, for a spawned partnership.
    pub parent: Option<(PartnershipId, u64)>,
}

/// One participant of a [`Standing`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StandingParticipant {
    /// The member.
    pub member: MemberId,
    /// Its admission and removal.
    pub record: ParticipantRecord,
    /// Whether finality waits for it ([`Ledger::awaits`]).
    pub awaited: bool,
    /// The libp2p peer id its node bound, if any.
    pub bound_peer: Option<Vec<u8>>,
}

impl Standing {
    /// The standing of `ledger` as it is now.
    pub fn of(ledger: &NodeLedger) -> Standing {
        let state = ledger.optimistic_state();
        let participants = state
            .participants()
            .into_iter()
            .map(|(member, record)| StandingParticipant {
                member,
                record,
                awaited: ledger.awaits(&member),
                bound_peer: state.bound_peer(&member).cloned(),
            })
            .collect();
        Standing {
            name: ledger.charter().name.clone(),
            final_height: ledger.final_height(),
            optimistic_height: ledger.optimistic_height(),
            op_count: ledger.dag().len() as u64,
            participants,
            halted: ledger.halted().is_some(),
            parent: ledger.charter().parent.as_ref().map(|link| (link.partnership, link.seq)),
        }
    }

    /// Its bytes, as a resting mark's record.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = vec![STANDING_VERSION];
        #[allow(clippy::expect_used)]
        bytes.extend(postcard::to_allocvec(self).expect("plain data always serialises"));
        bytes
    }

    /// A standing from its bytes; `Err` says why they are not one.
    pub fn decode(bytes: &[u8]) -> Result<Standing, String> {
        match bytes.split_first() {
            Some((&STANDING_VERSION, rest)) => {
                postcard::from_bytes(rest).map_err(|e| format!("the standing does not decode: {e}"))
            }
            Some((other, _)) => Err(format!("the standing's version {other} is not {STANDING_VERSION}")),
            None => Err("the standing is empty".to_owned()),
        }
    }

    fn participant(&self, member: &MemberId) -> Option<&StandingParticipant> {
        self.participants
            .binary_search_by(|p| p.member.cmp(member))
            .ok()
            .and_then(|i| self.participants.get(i))
    }
}

/// A partnership as the network half sees it: its loaded ledger, or the
/// standing of a resting one (answers are the same either way).
#[derive(Clone, Copy)]
pub enum Roster<'a> {
    /// The ledger is loaded: it answers.
    Loaded(&'a NodeLedger),
    /// The partnership rests: its standing answers.
    Resting(&'a Standing),
}

impl Roster<'_> {
    /// Whether finality waits for `member` ([`Ledger::awaits`]).
    pub fn awaits(&self, member: &MemberId) -> bool {
        match self {
            Roster::Loaded(ledger) => ledger.awaits(member),
            Roster::Resting(standing) => standing.participant(member).is_some_and(|p| p.awaited),
        }
    }

    /// `member`'s participant record, if it ever took part.
    pub fn participant(&self, member: &MemberId) -> Option<ParticipantRecord> {
        match self {
            Roster::Loaded(ledger) => ledger.optimistic_state().participant(member),
            Roster::Resting(standing) => standing.participant(member).map(|p| p.record),
        }
    }

    /// Every participant with its record, ascending by member.
    pub fn participants(&self) -> Vec<(MemberId, ParticipantRecord)> {
        match self {
            Roster::Loaded(ledger) => ledger.optimistic_state().participants(),
            Roster::Resting(standing) => standing.participants.iter().map(|p| (p.member, p.record)).collect(),
        }
    }

    /// The peer id `member`'s node bound, if any.
    pub fn bound_peer(&self, member: &MemberId) -> Option<&[u8]> {
        match self {
            Roster::Loaded(ledger) => ledger.optimistic_state().bound_peer(member).map(Vec::as_slice),
            Roster::Resting(standing) => standing.participant(member).and_then(|p| p.bound_peer.as_deref()),
        }
    }

    /// The charter's name.
    pub fn name(&self) -> &str {
        match self {
            Roster::Loaded(ledger) => &ledger.charter().name,
            Roster::Resting(standing) => &standing.name,
        }
    }

    /// The final height.
    pub fn final_height(&self) -> u64 {
        match self {
            Roster::Loaded(ledger) => ledger.final_height(),
            Roster::Resting(standing) => standing.final_height,
        }
    }

    /// The highest height in the graph.
    pub fn optimistic_height(&self) -> u64 {
        match self {
            Roster::Loaded(ledger) => ledger.optimistic_height(),
            Roster::Resting(standing) => standing.optimistic_height,
        }
    }

    /// Ops in the graph.
    pub fn op_count(&self) -> u64 {
        match self {
            Roster::Loaded(ledger) => ledger.dag().len() as u64,
            Roster::Resting(standing) => standing.op_count,
        }
    }

    /// Ops waiting for missing parents (none while resting).
    pub fn pending(&self) -> usize {
        match self {
            Roster::Loaded(ledger) => ledger.pending().len(),
            Roster::Resting(_) => 0,
        }
    }

    /// Ops refused since the ledger was loaded, by reason (none while
    /// resting: nothing reached it).
    pub fn refusals(&self) -> BTreeMap<String, u64> {
        match self {
            Roster::Loaded(ledger) => {
                ledger.refusal_counts().iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
            }
            Roster::Resting(_) => BTreeMap::new(),
        }
    }

    /// Messages from other partnerships refused since the ledger was
    /// loaded, by reason (none while resting).
    pub fn delivery_refusals(&self) -> BTreeMap<String, u64> {
        match self {
            Roster::Loaded(ledger) => {
                ledger.delivery_refusals().iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
            }
            Roster::Resting(_) => BTreeMap::new(),
        }
    }

    /// Whether the partnership halted.
    pub fn halted(&self) -> bool {
        match self {
            Roster::Loaded(ledger) => ledger.halted().is_some(),
            Roster::Resting(standing) => standing.halted,
        }
    }

    /// The parent's id and spawn seq, for a spawned partnership.
    pub fn parent(&self) -> Option<(PartnershipId, u64)> {
        match self {
            Roster::Loaded(ledger) => ledger.charter().parent.as_ref().map(|l| (l.partnership, l.seq)),
            Roster::Resting(standing) => standing.parent,
        }
    }
}

/// One held partnership.
struct Slot {
    /// The ledger once a load was tried: loaded, or why it cannot be.
    ledger: OnceLock<Result<NodeLedger, String>>,
    /// The standing it rests with, if it was left unloaded at start.
    resting: Option<Standing>,
}

/// The partnerships a node holds (see the module doc).
pub(crate) struct Ledgers {
    slots: BTreeMap<PartnershipId, Slot>,
    store: Arc<Store>,
    executor: Arc<WasmExecutor>,
    config: LedgerConfig,
}

impl Ledgers {
    /// An empty map over `store`.
    pub(crate) fn new(store: Arc<Store>, executor: Arc<WasmExecutor>, config: LedgerConfig) -> Ledgers {
        Ledgers { slots: BTreeMap::new(), store, executor, config }
    }

    /// Loads `partnership`'s ledger from the store now.
    pub(crate) fn load(&self, partnership: &PartnershipId) -> Result<NodeLedger, String> {
        let mut ledger =
            Ledger::open_with_archive(&self.store, partnership, Arc::clone(&self.executor), self.config)
                .map_err(|e| e.to_string())?;
        // Publications the ledger completed: their bytes outlive the ops.
        for wasm in ledger.take_published_code() {
            self.store.put_code(&wasm).map_err(|e| e.to_string())?;
        }
        Ok(ledger)
    }

    /// Holds `partnership` with its loaded `ledger`.
    pub(crate) fn insert_loaded(&mut self, partnership: PartnershipId, ledger: NodeLedger) {
        self.slots.insert(partnership, Slot { ledger: OnceLock::from(Ok(ledger)), resting: None });
    }

    /// Holds `partnership` resting with `standing`, its ledger not loaded.
    pub(crate) fn insert_resting(&mut self, partnership: PartnershipId, standing: Standing) {
        self.slots.insert(partnership, Slot { ledger: OnceLock::new(), resting: Some(standing) });
    }

    /// Holds `partnership` whose ledger could not be loaded, for `message`:
    /// every use answers it (`NodeError::Open`) and it is never retried.
    pub(crate) fn insert_failed(&mut self, partnership: PartnershipId, message: String) {
        self.slots.insert(partnership, Slot { ledger: OnceLock::from(Err(message)), resting: None });
    }

    /// Whether the node holds `partnership` (loaded or not).
    pub(crate) fn contains(&self, partnership: &PartnershipId) -> bool {
        self.slots.contains_key(partnership)
    }

    /// Every held partnership, ascending.
    pub(crate) fn ids(&self) -> impl Iterator<Item = PartnershipId> + '_ {
        self.slots.keys().copied()
    }

    /// How many partnerships are held.
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many held partnerships have their ledger loaded.
    pub(crate) fn loaded_count(&self) -> usize {
        self.slots.values().filter(|slot| matches!(slot.ledger.get(), Some(Ok(_)))).count()
    }

    /// The held partnerships whose ledger could not be loaded (at start
    /// or on first use), with why, ascending.
    pub(crate) fn unavailable(&self) -> Vec<(PartnershipId, String)> {
        self.slots
            .iter()
            .filter_map(|(id, slot)| match slot.ledger.get() {
                Some(Err(message)) => Some((*id, message.clone())),
                _ => None,
            })
            .collect()
    }

    /// `partnership`'s ledger, loaded now if it was not.
    pub(crate) fn get(&self, partnership: &PartnershipId) -> Option<&NodeLedger> {
        let slot = self.slots.get(partnership)?;
        slot.ledger.get_or_init(|| self.load_logged(partnership)).as_ref().ok()
    }

    /// `partnership`'s ledger to change, loaded now if it was not.
    pub(crate) fn get_mut(&mut self, partnership: &PartnershipId) -> Option<&mut NodeLedger> {
        let slot = self.slots.get(partnership)?;
        if slot.ledger.get().is_none() {
            let loaded = self.load_logged(partnership);
            let _ = self.slots.get(partnership)?.ledger.set(loaded);
        }
        self.slots.get_mut(partnership)?.ledger.get_mut()?.as_mut().ok()
    }

    /// `partnership`'s ledger if it is loaded; never loads it.
    pub(crate) fn loaded(&self, partnership: &PartnershipId) -> Option<&NodeLedger> {
        self.slots.get(partnership)?.ledger.get()?.as_ref().ok()
    }

    /// Why `partnership`'s held ledger could not be loaded, if it could not.
    pub(crate) fn load_error(&self, partnership: &PartnershipId) -> Option<&str> {
        self.slots.get(partnership)?.ledger.get()?.as_ref().err().map(String::as_str)
    }

    /// `partnership` as the network half sees it, without loading it.
    pub(crate) fn roster(&self, partnership: &PartnershipId) -> Option<Roster<'_>> {
        let slot = self.slots.get(partnership)?;
        match (slot.ledger.get(), &slot.resting) {
            (Some(Ok(ledger)), _) => Some(Roster::Loaded(ledger)),
            (_, Some(standing)) => Some(Roster::Resting(standing)),
            // Neither loaded nor resting: it failed to load.
            _ => None,
        }
    }

    fn load_logged(&self, partnership: &PartnershipId) -> Result<NodeLedger, String> {
        let started = std::time::Instant::now();
        let loaded = self.load(partnership);
        match &loaded {
            Ok(_) => {
                tracing::debug!(partnership = %partnership.short(), took = ?started.elapsed(), "loaded a resting partnership's ledger")
            }
            Err(error) => {
                tracing::error!(partnership = %partnership.short(), %error, "cannot load a partnership's ledger")
            }
        }
        loaded
    }
}
