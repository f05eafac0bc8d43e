//! Compaction ([`Store::compact_below`]): what it keeps and drops, its
//! steps, its refusals, and every read of a compacted op, across reopening.

use std::collections::BTreeSet;

use super::archive::history;
use super::{all_ops, refs};
use crate::op::{OpId, SignedOp};
use crate::store::{Compaction, Store, StoreError};

const CERT: &[u8] = b"a certificate";

/// A file-backed store holding `history()`, archived up to height 30.
fn archived() -> (tempfile::TempDir, Store, crate::op::PartnershipId, Vec<(u64, SignedOp)>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("compact.redb")).unwrap();
    let (p, ops) = history();
    store.append_ops(&p, &refs(&ops)).unwrap();
    store.archive_below(&p, 30).unwrap();
    (dir, store, p, ops)
}

#[test]
fn compaction_keeps_headers_and_what_it_is_told_and_reads_answer_compacted() {
    let (dir, store, p, ops) = archived();
    let keep: BTreeSet<OpId> = ops.iter().filter(|(h, _)| *h == 7).map(|(_, op)| op.id()).collect();
    assert!(!keep.is_empty());
    let step = store.compact_below(&p, 20, CERT, &keep, usize::MAX).unwrap();
    assert!(step.done);
    let expected = ops.iter().filter(|(h, op)| (1..=20).contains(h) && !keep.contains(&op.id())).count();
    assert_eq!(step.compacted, expected as u64);
    let check = |store: &Store| {
        assert_eq!(
            store.compaction(&p).unwrap(),
            Some(Compaction { checkpoint: 20, done_upto: 20, certificate: CERT.to_vec() })
        );
        for (height, op) in &ops {
            let compacted = (1..=20).contains(height) && !keep.contains(&op.id());
            match store.get_op(&p, &op.id()) {
                Err(StoreError::Compacted { height: h, checkpoint: 20, .. }) if compacted => {
                    assert_eq!(h, *height);
                }
                Ok(Some((h, found))) if !compacted => assert_eq!((h, &found), (*height, op)),
                other => panic!("op at height {height} (compacted: {compacted}) read as {other:?}"),
            }
            assert_eq!(store.op_header(&p, &op.id()).unwrap(), Some((*height, op.header())));
            assert_eq!(store.op_height(&p, &op.id()).unwrap(), Some(*height));
        }
        // History and sync leave compacted ops out; the count and seqs stay.
        let left: Vec<(u64, SignedOp)> = all_ops(store, &p);
        assert_eq!(left.len(), ops.len() - expected);
        assert!(left.iter().all(|(h, op)| !(1..=20).contains(h) || keep.contains(&op.id())));
        assert_eq!(store.op_count(&p).unwrap(), ops.len() as u64);
        let alice = ops[1].1.author();
        let served = store.ops_by_author(&p, &alice, 1, 100).unwrap();
        assert!(!served.is_empty());
        assert!(served.iter().all(|op| store.get_op(&p, &op.id()).is_ok()));
    };
    check(&store);
    drop(store);
    check(&Store::open(&dir.path().join("compact.redb")).unwrap());
}

#[test]
fn compaction_goes_in_steps_and_refuses_what_it_cannot_stand_behind() {
    let (_dir, store, p, ops) = archived();
    let none = BTreeSet::new();
    // Above the archive horizon: refused, nothing changed.
    assert!(matches!(store.compact_below(&p, 31, CERT, &none, 10), Err(StoreError::CompactionRefused(_))));
    assert_eq!(store.compaction(&p).unwrap(), None);
    let mut total = 0;
    let mut steps = 0;
    loop {
        let step = store.compact_below(&p, 24, CERT, &none, 5).unwrap();
        total += step.compacted;
        steps += 1;
        let record = store.compaction(&p).unwrap().unwrap();
        assert!(record.done_upto <= 24);
        if step.done {
            assert_eq!(record.done_upto, 24);
            break;
        }
        assert!(steps < 100, "compaction makes progress");
    }
    assert!(steps > 3, "{steps} steps of at most 5 ops (whole heights)");
    let below = ops.iter().filter(|(h, _)| (1..=24).contains(h)).count() as u64;
    assert_eq!(total, below);
    // Again: nothing left to do.
    assert_eq!(store.compact_below(&p, 24, CERT, &none, 5).unwrap().compacted, 0);
    // Below the last checkpoint: refused. A higher one goes on from there.
    assert!(matches!(store.compact_below(&p, 10, CERT, &none, 5), Err(StoreError::CompactionRefused(_))));
    let step = store.compact_below(&p, 30, b"newer", &none, usize::MAX).unwrap();
    assert_eq!(step.compacted, ops.iter().filter(|(h, _)| (25..=30).contains(h)).count() as u64);
    assert_eq!(store.compaction(&p).unwrap().unwrap().certificate, b"newer".to_vec());
}

#[test]
fn ops_indexed_in_memory_and_the_genesis_are_never_compacted() {
    let (_dir, store, p, ops) = archived();
    // A late op at height 5, stored after the archive: indexed in memory.
    let late = super::op(&p, &crate::op::MemberKey::from_seed(4), 1, 9);
    store.append_ops(&p, &[(5, &late)]).unwrap();
    store.compact_below(&p, 30, CERT, &BTreeSet::new(), usize::MAX).unwrap();
    assert_eq!(store.get_op(&p, &late.id()).unwrap(), Some((5, late.clone())));
    let genesis = &ops[0].1;
    assert_eq!(store.get_op(&p, &genesis.id()).unwrap(), Some((0, genesis.clone())));
}

#[test]
fn a_malformed_compaction_record_is_refused_as_corrupt() {
    let (_dir, store, p, _) = archived();
    {
        let txn = store.db().unwrap().begin_write().unwrap();
        txn.open_table(crate::store::tables::COMPACTED).unwrap().insert(&p.0, &b"short"[..]).unwrap();
        txn.commit().unwrap();
    }
    match store.compaction(&p) {
        Err(StoreError::Corrupt { detail, .. }) => assert!(detail.contains("compaction record"), "{detail}"),
        other => panic!("a malformed record read as {other:?}"),
    }
    assert!(store.compact_below(&p, 20, CERT, &BTreeSet::new(), 10).is_err());
}

#[test]
fn an_op_damaged_before_compaction_is_refused_not_kept_as_a_wrong_header() {
    let (_dir, store, p, ops) = archived();
    let (height, op) = ops.iter().find(|(h, _)| *h == 5).cloned().unwrap();
    {
        // The author's first byte, changed in place: the record still
        // parses, with another author.
        let txn = store.db().unwrap().begin_write().unwrap();
        {
            let mut table = txn.open_table(crate::store::tables::OPS).unwrap();
            let key = crate::store::tables::op_key(&p, height, &op.id());
            let mut bytes = redb::ReadableTable::get(&table, &key).unwrap().unwrap().value().to_vec();
            bytes[1 + 32] ^= 1;
            table.insert(&key, bytes.as_slice()).unwrap();
        }
        txn.commit().unwrap();
    }
    let error = store.compact_below(&p, 20, CERT, &BTreeSet::new(), usize::MAX).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains(&op.id().to_string()), "{error}");
    assert_eq!(store.compaction(&p).unwrap(), None, "nothing was compacted");
    assert!(matches!(store.op_header(&p, &op.id()), Err(StoreError::Corrupt { .. })));
}
