//! The archived op index: every read answers the same before and after
//! [`Store::archive_below`], across reopening, with equivocations on both
//! sides of the horizon, late ops, and enough archives that runs merge.

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableHandle};

use super::{all_ops, genesis, op, refs};
use crate::op::{MemberId, MemberKey, OpId, PartnershipId, SignedOp};
use crate::store::archive::{Archive, FANOUT};
use crate::store::archive::{seal_horizon, seal_run};
use crate::store::block::{BLOCK, open_authors, open_ids};
use crate::store::checksum;
use crate::store::tables::{
    ARCHIVE_META, ARCHIVED_AUTHOR_BLOCKS, ARCHIVED_ID_BLOCKS, ARCHIVED_RUNS, LATE_OPS, SCHEMA, SCHEMA_KEY,
    author_keys, op_key, op_key_max, run_id_key, run_id_keys,
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
pub(super) fn history() -> (PartnershipId, Vec<(u64, SignedOp)>) {
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

/// The entries of each block of run `run` of `p`, in key order, checked:
/// each block parses, none holds more than [`BLOCK`] entries, and ids
/// ascend across the run.
fn run_blocks(store: &Store, p: &PartnershipId, run: u64) -> Vec<Vec<(OpId, u64)>> {
    let txn = store.db().unwrap().begin_read().unwrap();
    let table = txn.open_table(ARCHIVED_ID_BLOCKS).unwrap();
    let (first, last) = run_id_keys(p, run);
    let mut blocks: Vec<Vec<(OpId, u64)>> = Vec::new();
    for entry in table.range::<&[u8; 72]>(&first..=&last).unwrap() {
        let (key, value) = entry.unwrap();
        let entries = open_ids(key.value(), value.value()).unwrap().entries().unwrap();
        assert!(entries.len() <= BLOCK);
        if let Some(before) = blocks.last() {
            assert!(before.last().unwrap().0 < entries[0].0, "run {run}: blocks out of order");
        }
        blocks.push(entries);
    }
    blocks
}

/// The blocks of `author` in `p`, in key order, checked like
/// [`run_blocks`]: `(seq, id, height)` entries ascending across blocks.
fn author_blocks(store: &Store, p: &PartnershipId, author: &MemberId) -> Vec<Vec<(u64, OpId, u64)>> {
    let txn = store.db().unwrap().begin_read().unwrap();
    let table = txn.open_table(ARCHIVED_AUTHOR_BLOCKS).unwrap();
    let (first, last) = author_keys(p, author, &(0..=u64::MAX));
    let mut blocks: Vec<Vec<(u64, OpId, u64)>> = Vec::new();
    for entry in table.range::<&[u8; 104]>(&first..=&last).unwrap() {
        let (key, value) = entry.unwrap();
        let entries = open_authors(key.value(), value.value()).unwrap().entries().unwrap();
        assert!(entries.len() <= BLOCK);
        if let Some(before) = blocks.last() {
            let (s, i, _) = before.last().unwrap();
            assert!((s, i) < (&entries[0].0, &entries[0].1), "{author}: blocks out of order");
        }
        blocks.push(entries);
    }
    blocks
}

/// How many entries all the author blocks of the file hold.
fn author_entries(store: &Store) -> u64 {
    let txn = store.db().unwrap().begin_read().unwrap();
    let table = txn.open_table(ARCHIVED_AUTHOR_BLOCKS).unwrap();
    table.iter().unwrap().map(|entry| (entry.unwrap().1.value().len() - checksum::LEN) as u64 / 48).sum()
}

/// Counts runs per level and checks them against the table of runs and
/// the entries of the id index.
fn check_runs(store: &Store, p: &PartnershipId) -> BTreeMap<u64, usize> {
    let archive = summary(store, p);
    let txn = store.db().unwrap().begin_read().unwrap();
    let runs_table = txn.open_table(ARCHIVED_RUNS).unwrap();
    let mut per_level = BTreeMap::new();
    let mut total = 0;
    for run in &archive.runs {
        let key = crate::store::tables::run_key(p, run.number);
        assert_eq!(runs_table.get(&key).unwrap().unwrap().value(), seal_run(&key, run), "run {}", run.number);
        let (level, len) = (run.level, run.len);
        let blocks = run_blocks(store, p, run.number);
        assert_eq!(blocks.iter().map(Vec::len).sum::<usize>() as u64, len);
        // Every block but the last is full.
        assert!(blocks.iter().rev().skip(1).all(|block| block.len() == BLOCK));
        *per_level.entry(level).or_insert(0) += 1;
        total += len;
    }
    assert_eq!(runs_table.len().unwrap() as usize, archive.runs.len());
    let blocks = txn.open_table(ARCHIVED_ID_BLOCKS).unwrap();
    let entries: u64 = blocks
        .iter()
        .unwrap()
        .map(|entry| (entry.unwrap().1.value().len() - checksum::LEN) as u64 / 40)
        .sum();
    assert_eq!(entries, total);
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
    assert_eq!(author_entries(&store), ops.len() as u64);
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
        assert!(txn.delete_table(ARCHIVED_AUTHOR_BLOCKS).unwrap());
        assert!(txn.delete_table(ARCHIVED_ID_BLOCKS).unwrap());
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
    assert_eq!(
        txn.open_table(ARCHIVE_META).unwrap().get(&p.0).unwrap().unwrap().value(),
        seal_horizon(&p, 5)
    );
}

/// `n` ops of one author, genesis first, op `h` at height `h` with seq
/// `h + 1`.
fn one_author(n: usize) -> (PartnershipId, MemberKey, Vec<(u64, SignedOp)>) {
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    let ops = std::iter::once((0, g)).chain((1..n as u64).map(|h| (h, op(&p, &alice, h + 1, 0)))).collect();
    (p, alice, ops)
}

/// The sizes of the blocks `n` entries written in order fill: full
/// blocks, then the rest.
fn packed(n: usize) -> Vec<usize> {
    let mut sizes = vec![BLOCK; n / BLOCK];
    if !n.is_multiple_of(BLOCK) {
        sizes.push(n % BLOCK);
    }
    sizes
}

/// The id just after (`+1`) or before (`-1`) `id`, as a 256-bit number.
fn neighbour(id: OpId, up: bool) -> OpId {
    let mut bytes = id.0;
    for byte in bytes.iter_mut().rev() {
        let (next, carried) = if up { byte.overflowing_add(1) } else { byte.overflowing_sub(1) };
        *byte = next;
        if !carried {
            break;
        }
    }
    OpId(bytes)
}

/// Every id of `blocks` is found at its height, and ids just outside
/// each block (and before and after the whole run) are not stored.
fn lookups_find_blocks_and_nothing_else(store: &Store, p: &PartnershipId, blocks: &[Vec<(OpId, u64)>]) {
    for &(id, height) in blocks.iter().flatten() {
        assert_eq!(store.op_height(p, &id).unwrap(), Some(height));
    }
    let mut absent = vec![OpId([0; 32]), OpId([0xff; 32])];
    for block in blocks {
        absent.push(neighbour(block[0].0, false));
        absent.push(neighbour(block.last().unwrap().0, true));
    }
    for id in absent {
        assert_eq!(store.op_height(p, &id).unwrap(), None, "{id}");
        assert_eq!(store.get_op(p, &id).unwrap(), None, "{id}");
    }
}

#[test]
fn runs_and_author_blocks_of_b_and_b_plus_one_entries() {
    for n in [1, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK + 1] {
        let (p, alice, ops) = one_author(n);
        let store = Store::open_in_memory().unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
        let expected = answers(&store, &p, &ops);
        assert_eq!(store.archive_below(&p, u64::MAX).unwrap(), n as u64);
        let [run] = summary(&store, &p).runs[..] else { panic!("one run") };
        let blocks = run_blocks(&store, &p, run.number);
        assert_eq!(blocks.iter().map(Vec::len).collect::<Vec<_>>(), packed(n), "{n} ids");
        let by_author = author_blocks(&store, &p, &alice.member_id());
        assert_eq!(by_author.iter().map(Vec::len).collect::<Vec<_>>(), packed(n), "{n} seqs");
        assert_eq!(answers(&store, &p, &ops), expected, "{n} ops");
        lookups_find_blocks_and_nothing_else(&store, &p, &blocks);
        // An author's ops across each boundary between its blocks.
        for block in &by_author[1..] {
            let seq = block[0].0;
            // Seqs seq - 2 to seq + 1 (op `i` has seq `i + 1`), or fewer at the end.
            let upto = (seq as usize + 1).min(ops.len());
            let want: Vec<_> = ops[seq as usize - 3..upto].iter().map(|(_, o)| o.clone()).collect();
            assert_eq!(store.ops_by_author(&p, &alice.member_id(), seq - 2, 4).unwrap(), want);
        }
        check_runs(&store, &p);
    }
}

#[test]
fn an_authors_last_block_fills_across_archives() {
    let n = 3 * BLOCK + 10;
    let (p, alice, ops) = one_author(n);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let store = Store::open(&path).unwrap();
    store.append_ops(&p, &refs(&ops)).unwrap();
    let step = BLOCK / 3 + 1;
    let mut archived = 0;
    while archived < n {
        let upto = (archived + step).min(n);
        assert_eq!(store.archive_below(&p, upto as u64 - 1).unwrap() as usize, upto - archived);
        archived = upto;
        let blocks = author_blocks(&store, &p, &alice.member_id());
        assert_eq!(blocks.iter().map(Vec::len).collect::<Vec<_>>(), packed(archived), "{archived} archived");
        let entries: Vec<u64> = blocks.iter().flatten().map(|&(seq, _, _)| seq).collect();
        assert_eq!(entries, (1..=archived as u64).collect::<Vec<_>>());
        assert_eq!(store.author_seqs(&p).unwrap()[&alice.member_id()], n as u64);
    }
    let check = |store: &Store| {
        for (h, o) in &ops {
            assert_eq!(store.op_ids_at(&p, &alice.member_id(), o.seq()).unwrap(), vec![(*h, o.id())]);
            assert_eq!(store.op_height(&p, &o.id()).unwrap(), Some(*h));
        }
        for from in [1, BLOCK as u64 - 1, BLOCK as u64, 2 * BLOCK as u64 - 3, n as u64 - 2] {
            let want: Vec<_> =
                ops.iter().filter(|(_, o)| o.seq() >= from).take(5).map(|(_, o)| o.clone()).collect();
            assert_eq!(store.ops_by_author(&p, &alice.member_id(), from, 5).unwrap(), want, "from {from}");
        }
        assert_eq!(store.ops_by_author(&p, &alice.member_id(), 1, usize::MAX).unwrap().len(), n);
    };
    check(&store);
    drop(store);
    let store = Store::open(&path).unwrap();
    check(&store);
    assert_eq!(store.author_seqs(&p).unwrap()[&alice.member_id()], n as u64);
    assert_eq!(store.indexed_in_memory(&p), 0);
}

#[test]
fn equivocations_spanning_a_block_boundary_and_late_ones_splitting_a_block() {
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    let b = BLOCK as u64;
    // Seqs 1 to b - 2, then three ops of seq b - 1: entries b - 2, b - 1
    // and b, so the first block ends inside the seq and the next starts in it.
    let mut ops = vec![(0, g)];
    ops.extend((2..=b - 2).map(|seq| (seq - 1, op(&p, &alice, seq, 0))));
    ops.extend((0..3).map(|nonce| (b - 2 + nonce / 2, op(&p, &alice, b - 1, nonce))));
    ops.extend((b..b + 5).map(|seq| (seq, op(&p, &alice, seq, 0))));
    let mut twins: Vec<(u64, OpId)> =
        ops.iter().filter(|(_, o)| o.seq() == b - 1).map(|(h, o)| (*h, o.id())).collect();
    twins.sort();
    let twin_ops = |store: &Store| store.ops_by_author(&p, &alice.member_id(), b - 1, 1).unwrap();
    // Late ops: a twin of seq 5 into the full first block, and an op of
    // seq 0, before every archived one (it starts the author's blocks).
    let late = [(4, op(&p, &alice, 5, 9)), (3, op(&p, &alice, 0, 0))];
    let all: Vec<_> = ops.iter().chain(&late).cloned().collect();
    let (reference, reference_all) = {
        let store = Store::open_in_memory().unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
        let before = answers(&store, &p, &ops);
        store.append_ops(&p, &refs(&late)).unwrap();
        (before, answers(&store, &p, &all))
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let store = Store::open(&path).unwrap();
    store.append_ops(&p, &refs(&ops)).unwrap();
    let horizon = b + 10;
    store.archive_below(&p, horizon).unwrap();
    let blocks = author_blocks(&store, &p, &alice.member_id());
    assert_eq!(blocks.iter().map(Vec::len).collect::<Vec<_>>(), packed(ops.len()));
    assert_eq!((blocks[0][BLOCK - 1].0, blocks[1][0].0), (b - 1, b - 1), "the seq spans the boundary");
    assert_eq!(store.op_ids_at(&p, &alice.member_id(), b - 1).unwrap(), twins);
    assert_eq!(twin_ops(&store).len(), 3);
    assert_eq!(store.ops_by_author(&p, &alice.member_id(), b - 2, 2).unwrap().len(), 4);
    assert_eq!(answers(&store, &p, &ops), reference);

    store.append_ops(&p, &refs(&late)).unwrap();
    assert_eq!(store.indexed_in_memory(&p), 2);
    assert_eq!(store.archive_below(&p, horizon).unwrap(), 2);
    let blocks = author_blocks(&store, &p, &alice.member_id());
    // Seq 0 starts the first block, which splits: a full block and two entries.
    assert_eq!(blocks.iter().map(Vec::len).collect::<Vec<_>>(), vec![BLOCK, 2, ops.len() - BLOCK]);
    assert_eq!(blocks[0][0].0, 0);
    assert_eq!(blocks.iter().flatten().filter(|&&(seq, _, _)| seq == 5).count(), 2);
    assert_eq!(answers(&store, &p, &all), reference_all);
    drop(store);
    let store = Store::open(&path).unwrap();
    assert_eq!(answers(&store, &p, &all), reference_all, "reopened");
    assert_eq!(twin_ops(&store).len(), 3);
}

#[test]
fn merged_runs_of_b_and_b_plus_one_entries() {
    for total in [BLOCK, BLOCK + 1] {
        let (p, _, ops) = one_author(total + 1);
        let store = Store::open_in_memory().unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
        let small = BLOCK / FANOUT;
        let mut sizes = vec![small; FANOUT - 1];
        sizes.push(total - small * (FANOUT - 1));
        let mut archived = 0;
        for size in sizes {
            archived += size;
            store.archive_below(&p, archived as u64 - 1).unwrap();
        }
        assert_eq!(check_runs(&store, &p), BTreeMap::from([(0, FANOUT)]));
        // The next archive merges the eight runs, then writes its own.
        store.archive_below(&p, total as u64).unwrap();
        assert_eq!(check_runs(&store, &p), BTreeMap::from([(0, 1), (1, 1)]));
        let archive = summary(&store, &p);
        let merged = run_blocks(&store, &p, archive.runs[0].number);
        assert_eq!(merged.iter().map(Vec::len).collect::<Vec<_>>(), packed(total), "{total}");
        lookups_find_blocks_and_nothing_else(&store, &p, &merged);
        lookups_find_blocks_and_nothing_else(&store, &p, &run_blocks(&store, &p, archive.runs[1].number));
        for (h, o) in &ops {
            assert_eq!(store.op_height(&p, &o.id()).unwrap(), Some(*h));
        }
    }
}

#[test]
fn a_malformed_block_is_refused_naming_the_partnership() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let (p, alice, ops) = one_author(2 * BLOCK + 5);
    let (first_run, first_id) = {
        let store = Store::open(&path).unwrap();
        store.append_ops(&p, &refs(&ops)).unwrap();
        store.archive_below(&p, u64::MAX).unwrap();
        let run = summary(&store, &p).runs[0].number;
        (run, run_blocks(&store, &p, run)[0][0].0)
    };
    // A copy of the file with one value of `table` at `key` rewritten.
    let damaged = |name: &str, damage: &dyn Fn(&redb::WriteTransaction)| {
        let copy = dir.path().join(name);
        std::fs::copy(&path, &copy).unwrap();
        let db = redb::Database::open(&copy).unwrap();
        let txn = db.begin_write().unwrap();
        damage(&txn);
        txn.commit().unwrap();
        copy
    };
    // A block rewritten by `f` under a valid checksum: what a bug that
    // wrote a malformed block would leave, which the layout checks catch.
    fn resealed(name: &str, key: &[u8], f: &dyn Fn(Vec<u8>) -> Vec<u8>, stored: &[u8]) -> Vec<u8> {
        checksum::seal(name, key, &f(checksum::open(name, key, stored).unwrap().to_vec()))
    }
    let id_key = run_id_key(&p, first_run, &first_id);
    let rewrite_id_block = |txn: &redb::WriteTransaction, f: &dyn Fn(Vec<u8>) -> Vec<u8>| {
        let mut table = txn.open_table(ARCHIVED_ID_BLOCKS).unwrap();
        let bytes = table.get(&id_key).unwrap().unwrap().value().to_vec();
        let rewritten = resealed(ARCHIVED_ID_BLOCKS.name(), &id_key, f, &bytes);
        table.insert(&id_key, rewritten.as_slice()).unwrap();
    };
    let (lo, hi) = author_keys(&p, &alice.member_id(), &(0..=u64::MAX));
    let rewrite_author_block = |txn: &redb::WriteTransaction, last: bool, f: &dyn Fn(Vec<u8>) -> Vec<u8>| {
        let mut table = txn.open_table(ARCHIVED_AUTHOR_BLOCKS).unwrap();
        let (key, bytes) = {
            let mut range = table.range::<&[u8; 104]>(&lo..=&hi).unwrap();
            let (key, value) = if last { range.next_back() } else { range.next() }.unwrap().unwrap();
            (*key.value(), value.value().to_vec())
        };
        let rewritten = resealed(ARCHIVED_AUTHOR_BLOCKS.name(), &key, f, &bytes);
        table.insert(&key, rewritten.as_slice()).unwrap();
    };
    let refused = |copy: &std::path::Path, read: &dyn Fn(&Store) -> Result<(), StoreError>| {
        let store = Store::open(copy).unwrap();
        let err = read(&store).expect_err("a malformed block is refused");
        let text = err.to_string();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        assert!(text.contains(&p.to_string()) && text.contains("malformed block"), "{text}");
        assert!(text.contains(&copy.display().to_string()), "{text}");
        text
    };
    let find_first = |store: &Store| store.op_height(&p, &first_id).map(drop);
    let by_author = |store: &Store| store.ops_by_author(&p, &alice.member_id(), 1, 3).map(drop);
    let count = |store: &Store| store.op_count(&p).map(drop);

    let cut = damaged("cut.redb", &|txn| {
        rewrite_id_block(txn, &|mut b| {
            b.pop();
            b
        })
    });
    assert!(refused(&cut, &find_first).contains("bytes"));
    let swapped = damaged("swapped.redb", &|txn| {
        rewrite_id_block(txn, &|mut b| {
            let (first, second) = b.split_at_mut(40);
            first.swap_with_slice(&mut second[..40]);
            b
        })
    });
    refused(&swapped, &find_first);
    let empty = damaged("empty.redb", &|txn| rewrite_author_block(txn, false, &|_| Vec::new()));
    assert!(refused(&empty, &by_author).contains("0 bytes"));
    // The last block of an author is read when the index is built.
    let shifted = damaged("shifted.redb", &|txn| {
        rewrite_author_block(txn, true, &|mut b| {
            b[0] ^= 1;
            b
        })
    });
    refused(&shifted, &count);
    // Damage (no new checksum) anywhere in a block, found by its checksum
    // before anything is decoded.
    let flipped = damaged("flipped.redb", &|txn| {
        let mut table = txn.open_table(ARCHIVED_ID_BLOCKS).unwrap();
        let mut bytes = table.get(&id_key).unwrap().unwrap().value().to_vec();
        bytes[77] ^= 0x10; // the second entry's height: still a well-formed block
        table.insert(&id_key, bytes.as_slice()).unwrap();
    });
    assert!(refused(&flipped, &find_first).contains("checksum"));
    // The healthy file still reads.
    let store = Store::open(&path).unwrap();
    find_first(&store).unwrap();
    by_author(&store).unwrap();
    assert_eq!(store.op_count(&p).unwrap(), ops.len() as u64);
}
