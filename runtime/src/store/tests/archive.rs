//! The archived op index: every read answers the same before and after
//! [`Store::archive_below`], across reopening, with equivocations on both
//! sides of the horizon, late ops, and enough archives that runs merge.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTableMetadata};

use super::{all_ops, genesis, op, refs};
use crate::op::{MemberId, MemberKey, OpId, PartnershipId, SignedOp};
use crate::store::archive::{Archive, FANOUT};
use crate::store::tables::{
    ARCHIVE_META, ARCHIVED_AUTHORS, ARCHIVED_IDS, ARCHIVED_RUNS, LATE_OPS, SCHEMA, SCHEMA_KEY, op_key,
    op_key_max, run_id_keys,
};
use crate::store::{SCHEMA_VERSION, Store, StoreError};

/// Everything the store answers about `p`, asked about `ops` (and an id
/// that is not stored).
#[derive(Debug, PartialEq)]
struct Answers {
    count: u64,
    seqs: BTreeMap<MemberId, u64>,
    partnerships: Vec<PartnershipId>,
    by_id: Vec<Option<(u64, SignedOp)>>,
    heights: Vec<Option<u64>>,
    by_author: Vec<Vec<SignedOp>>,
    at_seq: Vec<Vec<(u64, OpId)>>,
    in_order: Vec<(u64, SignedOp)>,
}

fn answers(store: &Store, p: &PartnershipId, ops: &[(u64, SignedOp)]) -> Answers {
    let ids: Vec<OpId> = ops.iter().map(|(_, op)| op.id()).chain([OpId([0xab; 32])]).collect();
    let seqs = store.author_seqs(p).unwrap();
    let mut by_author = Vec::new();
    let mut at_seq = Vec::new();
    for (author, &top) in &seqs {
        for from in 0..=top + 1 {
            for limit in [1, 3, 8, usize::MAX] {
                by_author.push(store.ops_by_author(p, author, from, limit).unwrap());
            }
            at_seq.push(store.op_ids_at(p, author, from).unwrap());
        }
    }
    Answers {
        count: store.op_count(p).unwrap(),
        seqs,
        partnerships: store.partnerships().unwrap(),
        by_id: ids.iter().map(|id| store.get_op(p, id).unwrap()).collect(),
        heights: ids.iter().map(|id| store.op_height(p, id).unwrap()).collect(),
        by_author,
        at_seq,
        in_order: all_ops(store, p),
    }
}

/// A partnership of three authors: several ops per height, an equivocation
/// at one height (below every horizon used), one straddling height 20 and
/// one above it.
fn history() -> (PartnershipId, Vec<(u64, SignedOp)>) {
    let (alice, bob, carol) = (MemberKey::from_seed(1), MemberKey::from_seed(2), MemberKey::from_seed(3));
    let g = genesis(&alice);
    let p = g.partnership();
    let mut ops = vec![(0, g)];
    ops.extend((2..=40).map(|seq| (seq - 1, op(&p, &alice, seq, 0))));
    ops.extend((1..=30).map(|seq| (seq + seq % 3, op(&p, &bob, seq, 0))));
    ops.extend((1..=20).map(|seq| (2 * seq, op(&p, &carol, seq, 0))));
    ops.push((9, op(&p, &alice, 10, 1))); // twin of alice's seq 10, same height
    ops.push((25, op(&p, &alice, 20, 1))); // twin of alice's seq 20 (height 19)
    ops.push((40, op(&p, &bob, 15, 1))); // twin of bob's seq 15 (height 15)
    (p, ops)
}

/// How many of `ops` are above `horizon`.
fn above(ops: &[(u64, SignedOp)], horizon: u64) -> usize {
    ops.iter().filter(|(h, _)| *h > horizon).count()
}

/// The archive summary the store keeps in memory for `p`.
fn summary(store: &Store, p: &PartnershipId) -> Archive {
    store.indexes.lock().unwrap().get(p).map(|index| index.archive.clone()).unwrap_or_default()
}

#[test]
fn every_read_answers_the_same_archived_or_not_and_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let (p, ops) = history();
    let reference = {
        let store = Store::open_in_memory().unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
        answers(&store, &p, &ops)
    };
    assert_eq!(reference.count, ops.len() as u64);
    {
        let store = Store::open(&path).unwrap();
        for chunk in ops.chunks(17) {
            store.append_ops(&p, &refs(chunk)).unwrap();
        }
        assert_eq!(answers(&store, &p, &ops), reference);
        let moved = store.archive_below(&p, 20).unwrap();
        assert_eq!(moved as usize, ops.len() - above(&ops, 20));
        assert_eq!(store.indexed_in_memory(&p), above(&ops, 20));
        assert_eq!(answers(&store, &p, &ops), reference, "after archiving up to 20");
        // A lower height moves nothing and leaves the horizon.
        assert_eq!(store.archive_below(&p, 10).unwrap(), 0);
        assert_eq!(summary(&store, &p).horizon, Some(20));
        assert_eq!(store.archive_below(&p, 20).unwrap(), 0);
        let moved = store.archive_below(&p, 30).unwrap();
        assert_eq!(moved as usize, above(&ops, 20) - above(&ops, 30));
        assert_eq!(store.indexed_in_memory(&p), above(&ops, 30));
        assert_eq!(answers(&store, &p, &ops), reference, "after archiving up to 30");
    }
    let store = Store::open(&path).unwrap();
    // Nothing is in memory before the first use; then only the tail.
    assert_eq!(store.indexed_in_memory(&p), 0);
    assert_eq!(answers(&store, &p, &ops), reference, "after reopening");
    assert_eq!(store.indexed_in_memory(&p), above(&ops, 30));
    assert_eq!(summary(&store, &p).horizon, Some(30));
    assert_eq!(summary(&store, &p).count as usize, ops.len() - above(&ops, 30));
    // Everything archived: memory holds the summary alone.
    store.archive_below(&p, u64::MAX).unwrap();
    assert_eq!(store.indexed_in_memory(&p), 0);
    assert_eq!(answers(&store, &p, &ops), reference, "all archived");
    assert!(store.indexes.lock().unwrap()[&p].authors.is_empty());
}

#[test]
fn the_memory_index_is_only_the_tail_once_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    let ops: Vec<_> =
        std::iter::once((0, g)).chain((2..=500).map(|seq| (seq - 1, op(&p, &alice, seq, 0)))).collect();
    {
        let store = Store::open(&path).unwrap();
        for (i, chunk) in ops.chunks(50).enumerate() {
            store.append_ops(&p, &refs(chunk)).unwrap();
            // The graph archives as finality advances, 30 heights behind.
            let final_height = chunk.last().unwrap().0.saturating_sub(30);
            store.archive_below(&p, final_height).unwrap();
            assert_eq!(store.indexed_in_memory(&p), above(&ops[..50 * (i + 1)], final_height));
        }
        assert_eq!(store.indexed_in_memory(&p), 30);
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.op_count(&p).unwrap(), 500);
    assert_eq!(store.indexed_in_memory(&p), 30);
    assert_eq!(store.author_seqs(&p).unwrap(), BTreeMap::from([(alice.member_id(), 500)]));
    // The memory left behind by archived entries is given back.
    assert!(store.indexes.lock().unwrap()[&p].ids.capacity() < 200);
}

#[test]
fn appends_after_archiving_skip_duplicates_catch_conflicts_and_keep_late_ops() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let (p, ops) = history();
    let alice = MemberKey::from_seed(1);
    let dave = MemberKey::from_seed(4);
    let late = op(&p, &dave, 1, 0);
    let late_twin = op(&p, &alice, 5, 7); // an equivocation that arrives late
    let fresh = op(&p, &alice, 41, 0);
    let mut all = ops.clone();
    all.extend([(12, late.clone()), (7, late_twin.clone())]);
    let expected = {
        let reference = Store::open_in_memory().unwrap();
        reference.append_ops(&p, &refs(&all)).unwrap();
        answers(&reference, &p, &all)
    };
    {
        let store = Store::open(&path).unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
        store.archive_below(&p, 20).unwrap();
        let in_memory = store.indexed_in_memory(&p);

        // An archived op again at its height: skipped, and not brought back into memory.
        let archived = &ops[5];
        assert!(archived.0 <= 20);
        store.append_ops(&p, &refs(&ops[..10])).unwrap();
        assert_eq!((store.op_count(&p).unwrap(), store.indexed_in_memory(&p)), (ops.len() as u64, in_memory));
        // An archived op at another height at or below the horizon: refused, nothing stored.
        let err = store.append_ops(&p, &[(41, &fresh), (archived.0 + 1, &archived.1)]).unwrap_err();
        assert!(
            matches!(err, StoreError::HeightConflict { stored, given, .. } if stored == archived.0 && given == archived.0 + 1),
            "{err}"
        );
        assert_eq!(store.get_op(&p, &fresh.id()).unwrap(), None);

        // Late ops below the horizon: stored, in memory, readable; twice is once.
        store.append_ops(&p, &[(12, &late), (7, &late_twin)]).unwrap();
        store.append_ops(&p, &[(12, &late)]).unwrap();
        let err = store.append_ops(&p, &[(13, &late)]).unwrap_err();
        assert!(matches!(err, StoreError::HeightConflict { stored: 12, given: 13, .. }), "{err}");
        assert_eq!(store.indexed_in_memory(&p), in_memory + 2);
        assert_eq!(store.get_op(&p, &late.id()).unwrap(), Some((12, late.clone())));
        assert_eq!(store.op_count(&p).unwrap(), ops.len() as u64 + 2);
        assert_eq!(store.author_seqs(&p).unwrap()[&dave.member_id()], 1);
        let mut seq5: Vec<_> = vec![(4, ops[4].1.id()), (7, late_twin.id())];
        seq5.sort();
        assert_eq!(ops[4].1.seq(), 5);
        assert_eq!(store.op_ids_at(&p, &alice.member_id(), 5).unwrap(), seq5);
        assert_eq!(store.ops_by_author(&p, &alice.member_id(), 5, 1).unwrap().len(), 2);
        // Height 7 holds the late twin (in memory) and an archived op of
        // the same author: each is found once.
        assert_eq!(answers(&store, &p, &all), expected);
    }
    {
        // The late ops are still in memory after a restart, and only them below the horizon.
        let store = Store::open(&path).unwrap();
        assert_eq!(store.op_count(&p).unwrap(), ops.len() as u64 + 2);
        assert_eq!(store.indexed_in_memory(&p), above(&ops, 20) + 2);
        assert_eq!(store.op_height(&p, &late.id()).unwrap(), Some(12));
        assert_eq!(store.ops_by_author(&p, &dave.member_id(), 1, 5).unwrap(), vec![late.clone()]);
        // A lower height than the horizon archives just the late ops at or below it.
        assert_eq!(store.archive_below(&p, 10).unwrap(), 1);
        assert_eq!(store.indexed_in_memory(&p), above(&ops, 20) + 1);
        assert_eq!(summary(&store, &p).horizon, Some(20));
        assert_eq!(store.archive_below(&p, 20).unwrap(), 1);
        assert_eq!(store.indexed_in_memory(&p), above(&ops, 20));
        let txn = store.db().unwrap().begin_read().unwrap();
        let late_table = txn.open_table(LATE_OPS).unwrap();
        assert_eq!(
            late_table.range::<&[u8; 72]>(&op_key(&p, 0, &OpId([0; 32]))..=&op_key_max(&p)).unwrap().count(),
            0
        );
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(answers(&store, &p, &all), expected);
    assert_eq!(store.indexed_in_memory(&p), above(&ops, 20));
    // Appending above the horizon works as before.
    store.append_ops(&p, &[(41, &fresh)]).unwrap();
    assert_eq!(store.op_height(&p, &fresh.id()).unwrap(), Some(41));
}

/// Counts runs per level and checks them against the table of runs and
/// the entries of the id index.
fn check_runs(store: &Store, p: &PartnershipId) -> BTreeMap<u64, usize> {
    let archive = summary(store, p);
    let txn = store.db().unwrap().begin_read().unwrap();
    let runs_table = txn.open_table(ARCHIVED_RUNS).unwrap();
    let ids = txn.open_table(ARCHIVED_IDS).unwrap();
    let mut per_level = BTreeMap::new();
    let mut total = 0;
    for run in &archive.runs {
        let (level, len) =
            runs_table.get(&crate::store::tables::run_key(p, run.number)).unwrap().unwrap().value();
        assert_eq!((level, len), (run.level, run.len));
        let (first, last) = run_id_keys(p, run.number);
        assert_eq!(ids.range::<&[u8; 72]>(&first..=&last).unwrap().count() as u64, len);
        *per_level.entry(level).or_insert(0) += 1;
        total += len;
    }
    assert_eq!(runs_table.len().unwrap() as usize, archive.runs.len());
    assert_eq!(ids.len().unwrap(), total);
    assert_eq!(archive.count, total);
    assert!(archive.runs.windows(2).all(|w| w[0].number < w[1].number));
    per_level
}

#[test]
fn many_archives_merge_runs_and_lookups_still_find_everything() {
    let store = Store::open_in_memory().unwrap();
    let (alice, bob) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let g = genesis(&alice);
    let p = g.partnership();
    let mut ops = vec![(0, g)];
    ops.extend((2..=400).map(|seq| (seq - 1, op(&p, &alice, seq, 0))));
    ops.extend((1..=400).map(|seq| (seq, op(&p, &bob, seq, 0))));
    ops.sort_by_key(|(h, op)| (*h, op.id()));
    store.append_ops(&p, &refs(&ops)).unwrap();
    let mut most_runs = 0;
    for height in 0..=400 {
        store.archive_below(&p, height).unwrap();
        let per_level = check_runs(&store, &p);
        assert!(per_level.values().all(|&runs| runs <= FANOUT), "height {height}: {per_level:?}");
        most_runs = most_runs.max(per_level.values().sum::<usize>());
    }
    let per_level = check_runs(&store, &p);
    assert!(per_level.keys().any(|&level| level >= 2), "runs merged twice over: {per_level:?}");
    assert!(most_runs <= FANOUT * 4, "{most_runs} runs");
    assert_eq!(store.indexed_in_memory(&p), 0);
    for (h, o) in &ops {
        assert_eq!(store.op_height(&p, &o.id()).unwrap(), Some(*h));
    }
    assert_eq!(store.op_height(&p, &OpId([7; 32])).unwrap(), None);
    assert_eq!(store.op_count(&p).unwrap(), ops.len() as u64);
    assert_eq!(store.ops_by_author(&p, &bob.member_id(), 1, usize::MAX).unwrap().len(), 400);
    // The author index holds each op once.
    let txn = store.db().unwrap().begin_read().unwrap();
    assert_eq!(txn.open_table(ARCHIVED_AUTHORS).unwrap().len().unwrap(), ops.len() as u64);
}

#[test]
fn a_schema_4_file_is_upgraded_with_nothing_archived() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let (p, ops) = history();
    {
        let store = Store::open(&path).unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
    }
    {
        // A schema 4 file: no archive tables.
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(SCHEMA).unwrap().insert(SCHEMA_KEY, 4).unwrap();
        assert!(txn.delete_table(ARCHIVE_META).unwrap());
        assert!(txn.delete_table(ARCHIVED_AUTHORS).unwrap());
        assert!(txn.delete_table(ARCHIVED_IDS).unwrap());
        assert!(txn.delete_table(ARCHIVED_RUNS).unwrap());
        assert!(txn.delete_table(LATE_OPS).unwrap());
        txn.commit().unwrap();
    }
    let reference = {
        let store = Store::open_in_memory().unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
        answers(&store, &p, &ops)
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(
        store
            .db()
            .unwrap()
            .begin_read()
            .unwrap()
            .open_table(SCHEMA)
            .unwrap()
            .get(SCHEMA_KEY)
            .unwrap()
            .unwrap()
            .value(),
        SCHEMA_VERSION
    );
    assert_eq!(answers(&store, &p, &ops), reference);
    assert_eq!(store.indexed_in_memory(&p), ops.len());
    assert_eq!(summary(&store, &p), Archive::default());
    store.archive_below(&p, 25).unwrap();
    assert_eq!(answers(&store, &p, &ops), reference);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(answers(&store, &p, &ops), reference);
    assert_eq!(store.indexed_in_memory(&p), above(&ops, 25));
}

#[test]
fn archiving_an_unknown_partnership_records_only_the_horizon() {
    let store = Store::open_in_memory().unwrap();
    let p = PartnershipId([3; 32]);
    assert_eq!(store.archive_below(&p, 5).unwrap(), 0);
    assert_eq!(summary(&store, &p).horizon, Some(5));
    // Its first op arrives below the horizon: a late op, listed, counted.
    let alice = MemberKey::from_seed(1);
    let first = op(&p, &alice, 1, 0);
    store.append_ops(&p, &[(3, &first)]).unwrap();
    assert_eq!(store.op_count(&p).unwrap(), 1);
    assert_eq!(store.indexed_in_memory(&p), 1);
    assert_eq!(store.archive_below(&p, 5).unwrap(), 1);
    assert_eq!(store.get_op(&p, &first.id()).unwrap(), Some((3, first)));
    assert_eq!(store.op_count(&PartnershipId([4; 32])).unwrap(), 0);
    let txn = store.db().unwrap().begin_read().unwrap();
    assert_eq!(txn.open_table(ARCHIVE_META).unwrap().get(&p.0).unwrap().unwrap().value(), 5);
}
