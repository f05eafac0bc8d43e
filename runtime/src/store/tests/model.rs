//! Property test against a `BTreeMap` model, in the manner of redb's own
//! fuzzer: random sequences of appends (with re-appends and equivocations),
//! snapshot deltas, archives of the op index, reads and reopenings agree
//! with the model.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use redb::StorageBackend;

use super::op;
use crate::op::{MemberId, MemberKey, OpId, PartnershipId, SignedOp};
use crate::store::{FinalDelta, FinalSnapshot, OpCursor, Store, StoreError};

const PARTNERSHIPS: [PartnershipId; 2] = [PartnershipId([1; 32]), PartnershipId([0xff; 32])];

#[derive(Clone, Debug)]
enum Action {
    /// Ops `(partnership, author, seq, nonce, height)`; a repeated
    /// `(author, seq, nonce)` is the same op again.
    Append(usize, Vec<(u8, u64, u64, u64)>),
    /// A snapshot delta; `height_step` 0 keeps the height, and a `back`
    /// delta tries to move it back.
    Save { p: usize, height_step: u64, back: bool, writes: Vec<(u8, Option<u8>)>, meta: u8 },
    /// Pages through the order from a height with a page size.
    Page(usize, u64, usize),
    /// Archives the op index of a partnership up to a height.
    Archive(usize, u64),
    /// Closes and reopens the store from its bytes.
    Reopen,
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0..2usize, prop::collection::vec((0..3u8, 1..6u64, 0..2u64, 1..8u64), 0..8))
            .prop_map(|(p, ops)| Action::Append(p, ops)),
        2 => (0..2usize, 0..3u64, prop::bool::weighted(0.15), prop::collection::vec((0..6u8, prop::option::of(0..4u8)), 0..6), any::<u8>())
            .prop_map(|(p, height_step, back, writes, meta)| Action::Save { p, height_step, back, writes, meta }),
        1 => (0..2usize, 0..8u64, 1..5usize).prop_map(|(p, h, n)| Action::Page(p, h, n)),
        2 => (0..2usize, 0..9u64).prop_map(|(p, h)| Action::Archive(p, h)),
        1 => Just(Action::Reopen),
    ]
}

/// A shared in-memory disk that survives closing the store.
#[derive(Clone, Debug, Default)]
struct SharedDisk(Arc<std::sync::Mutex<Vec<u8>>>);

impl StorageBackend for SharedDisk {
    fn len(&self) -> std::io::Result<u64> {
        Ok(self.0.lock().unwrap_or_else(|p| p.into_inner()).len() as u64)
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
        let d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let src =
            d.get(offset as usize..offset as usize + out.len()).ok_or(std::io::ErrorKind::UnexpectedEof)?;
        out.copy_from_slice(src);
        Ok(())
    }
    fn set_len(&self, len: u64) -> std::io::Result<()> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).resize(len as usize, 0);
        Ok(())
    }
    fn sync_data(&self) -> std::io::Result<()> {
        Ok(())
    }
    fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let mut d = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let dst = d
            .get_mut(offset as usize..offset as usize + data.len())
            .ok_or(std::io::ErrorKind::UnexpectedEof)?;
        dst.copy_from_slice(data);
        Ok(())
    }
}

/// A saved snapshot in the model: final height, state, meta, root.
type ModelSnapshot = (u64, BTreeMap<Vec<u8>, Vec<u8>>, Vec<u8>, Option<[u8; 32]>);

#[derive(Default)]
struct Model {
    /// `(partnership, height, id) -> op`.
    ops: BTreeMap<(PartnershipId, u64, OpId), SignedOp>,
    heights: BTreeMap<(PartnershipId, OpId), u64>,
    snapshots: BTreeMap<PartnershipId, ModelSnapshot>,
    /// Each partnership's archive horizon.
    horizons: BTreeMap<PartnershipId, u64>,
    /// The ops whose index entry is still in memory.
    in_memory: BTreeSet<(PartnershipId, OpId)>,
}

impl Model {
    fn ops_of(&self, p: &PartnershipId) -> Vec<(u64, SignedOp)> {
        self.ops.iter().filter(|((q, ..), _)| q == p).map(|((_, h, _), op)| (*h, op.clone())).collect()
    }

    fn snapshot(&self, p: &PartnershipId) -> Option<FinalSnapshot> {
        self.snapshots.get(p).map(|(h, state, meta, root)| FinalSnapshot {
            final_height: *h,
            state: state.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            meta: meta.clone(),
            state_root: *root,
        })
    }
}

fn check_all(store: &Store, model: &Model) -> Result<(), TestCaseError> {
    for p in &PARTNERSHIPS {
        let expected = model.ops_of(p);
        let got: Vec<_> = store.iter_ops(p, 0, 3).collect::<Result<_, _>>().map_err(fail)?;
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(store.op_count(p).map_err(fail)?, expected.len() as u64);
        let mut seqs: BTreeMap<MemberId, u64> = BTreeMap::new();
        let mut by_author: BTreeMap<(MemberId, u64, OpId), SignedOp> = BTreeMap::new();
        for (_, op) in &expected {
            let seq = seqs.entry(op.author()).or_default();
            *seq = (*seq).max(op.seq());
            by_author.insert((op.author(), op.seq(), op.id()), op.clone());
        }
        prop_assert_eq!(store.author_seqs(p).map_err(fail)?, seqs.clone());
        for author in seqs.keys() {
            for from in 1..4 {
                let want: Vec<_> = by_author
                    .range((*author, from, OpId([0; 32]))..=(*author, from + 1, OpId([0xff; 32])))
                    .map(|(_, op)| op.clone())
                    .collect();
                prop_assert_eq!(store.ops_by_author(p, author, from, 2).map_err(fail)?, want);
            }
        }
        for (h, op) in &expected {
            prop_assert_eq!(store.get_op(p, &op.id()).map_err(fail)?, Some((*h, op.clone())));
            let twins: Vec<(u64, OpId)> = expected
                .iter()
                .filter(|(_, o)| o.author() == op.author() && o.seq() == op.seq())
                .map(|(h, o)| (*h, o.id()))
                .collect();
            prop_assert_eq!(store.op_ids_at(p, &op.author(), op.seq()).map_err(fail)?, twins);
        }
        prop_assert_eq!(store.op_height(p, &OpId([0x5a; 32])).map_err(fail)?, None);
        let in_memory = model.in_memory.iter().filter(|(q, _)| q == p).count();
        prop_assert_eq!(store.indexed_in_memory(p), in_memory);
        prop_assert_eq!(store.load_final(p).map_err(fail)?, model.snapshot(p));
    }
    Ok(())
}

fn fail(e: StoreError) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn run(actions: Vec<Action>) -> Result<(), TestCaseError> {
    let keys: Vec<MemberKey> = (1..=3).map(MemberKey::from_seed).collect();
    let disk = SharedDisk::default();
    let label = Path::new("<model>");
    let mut store = Store::open_backend(disk.clone(), label).map_err(fail)?;
    let mut model = Model::default();
    for action in actions {
        match action {
            Action::Append(pi, entries) => {
                let p = PARTNERSHIPS[pi];
                let horizon = model.horizons.get(&p).copied();
                let ops: Vec<(u64, SignedOp)> = entries
                    .iter()
                    .map(|&(a, seq, nonce, height)| {
                        let op = op(&p, &keys[a as usize], seq, nonce);
                        // The store does not catch an archived op given a
                        // height above the horizon (see `append_ops`): give
                        // such an op its stored height instead.
                        let stored = model.heights.get(&(p, op.id())).copied();
                        match (stored, horizon) {
                            (Some(stored), Some(horizon))
                                if stored <= horizon
                                    && height > horizon
                                    && !model.in_memory.contains(&(p, op.id())) =>
                            {
                                (stored, op)
                            }
                            _ => (height, op),
                        }
                    })
                    .collect();
                // The model: refused as a whole if any op is stored (or
                // earlier in the batch) at another height.
                let mut seen: BTreeMap<OpId, u64> = BTreeMap::new();
                let conflict = ops.iter().any(|(h, op)| {
                    let known = model.heights.get(&(p, op.id())).or(seen.get(&op.id())).copied();
                    seen.insert(op.id(), *h);
                    known.is_some_and(|k| k != *h)
                });
                let refs: Vec<(u64, &SignedOp)> = ops.iter().map(|(h, op)| (*h, op)).collect();
                match store.append_ops(&p, &refs) {
                    Ok(()) => {
                        prop_assert!(!conflict, "a conflicting batch was accepted");
                        for (h, op) in ops {
                            if !model.heights.contains_key(&(p, op.id())) {
                                model.in_memory.insert((p, op.id()));
                            }
                            model.heights.insert((p, op.id()), h);
                            model.ops.insert((p, h, op.id()), op);
                        }
                    }
                    Err(StoreError::HeightConflict { .. }) => prop_assert!(conflict),
                    Err(e) => return Err(fail(e)),
                }
            }
            Action::Save { p: pi, height_step, back, writes, meta } => {
                let p = PARTNERSHIPS[pi];
                let stored = model.snapshots.get(&p).map_or(0, |s| s.0);
                let height = if back {
                    stored.wrapping_sub(1 + height_step)
                } else {
                    stored.saturating_add(height_step)
                };
                let delta = FinalDelta {
                    final_height: height,
                    writes: writes
                        .iter()
                        .map(|&(k, v)| (vec![k; (k % 3) as usize], v.map(|v| vec![v; 2])))
                        .collect(),
                    meta: vec![meta],
                    // Some saves carry a root, some do not (removing it).
                    state_root: (meta % 2 == 0).then_some([meta; 32]),
                };
                let refused = model.snapshots.contains_key(&p) && height < stored;
                match store.save_final(&p, &delta) {
                    Ok(()) => {
                        prop_assert!(!refused, "a backward snapshot was accepted");
                        let entry = model.snapshots.entry(p).or_default();
                        entry.0 = height;
                        entry.2 = delta.meta.clone();
                        entry.3 = delta.state_root;
                        for (k, v) in delta.writes {
                            match v {
                                Some(v) => entry.1.insert(k, v),
                                None => entry.1.remove(&k),
                            };
                        }
                    }
                    Err(StoreError::FinalHeightBack { .. }) => prop_assert!(refused),
                    Err(e) => return Err(fail(e)),
                }
            }
            Action::Page(pi, from, limit) => {
                let p = PARTNERSHIPS[pi];
                let page = store.ops_in_order(&p, OpCursor::at_height(from), limit).map_err(fail)?;
                let tail: Vec<_> = model.ops_of(&p).into_iter().filter(|(h, _)| *h >= from).collect();
                let n = tail.len().min(limit);
                prop_assert_eq!(&page.ops[..], &tail[..n]);
                let next = tail.get(n).map(|(h, op)| OpCursor { height: *h, id: op.id() });
                prop_assert_eq!(page.next, next);
            }
            Action::Archive(pi, height) => {
                let p = PARTNERSHIPS[pi];
                let moving: Vec<(PartnershipId, OpId)> = model
                    .in_memory
                    .iter()
                    .filter(|(q, id)| *q == p && model.heights[&(*q, *id)] <= height)
                    .copied()
                    .collect();
                prop_assert_eq!(store.archive_below(&p, height).map_err(fail)?, moving.len() as u64);
                for entry in &moving {
                    model.in_memory.remove(entry);
                }
                let horizon = model.horizons.entry(p).or_insert(height);
                *horizon = (*horizon).max(height);
            }
            Action::Reopen => {
                drop(store);
                store = Store::open_backend(disk.clone(), label).map_err(fail)?;
            }
        }
        check_all(&store, &model)?;
    }
    let ids: BTreeSet<_> = model.heights.keys().collect();
    prop_assert_eq!(ids.len(), model.ops.len());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn store_agrees_with_a_btreemap_model(actions in prop::collection::vec(action(), 1..24)) {
        run(actions)?;
    }
}
