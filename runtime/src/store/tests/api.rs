//! Round trips of every API, order, paging, equivocation, idempotence, and
//! requests the store refuses (with nothing changed).

use std::collections::BTreeMap;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata};

use super::{all_ops, genesis, op, refs};
use crate::op::{CodeHash, MemberKey, OpId, PartnershipId, SignedOp};
use crate::store::tables::{
    ARCHIVE_META, ARCHIVED_AUTHOR_BLOCKS, ARCHIVED_ID_BLOCKS, ARCHIVED_RUNS, CODE, LATE_OPS,
    LEGACY_AUTHOR_INDEX, LEGACY_AUTHOR_SEQS, LEGACY_OP_INDEX, OPS, PARTNERSHIPS, SCHEMA, SCHEMA_KEY,
    author_key, op_key,
};
use crate::store::{FinalDelta, FinalSnapshot, OpCursor, SCHEMA_VERSION, Store, StoreError};

fn sorted(mut ops: Vec<(u64, SignedOp)>) -> Vec<(u64, SignedOp)> {
    ops.sort_by_key(|(h, op)| (*h, op.id()));
    ops
}

#[test]
fn ops_round_trip_and_partnerships_need_a_genesis() {
    let store = Store::open_in_memory().unwrap();
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    let ops = vec![(0, g.clone()), (1, op(&p, &alice, 2, 0)), (2, op(&p, &alice, 3, 0))];
    store.append_ops(&p, &refs(&ops)).unwrap();

    // A partnership with ops but no genesis is not listed.
    let orphan = PartnershipId([9; 32]);
    store.append_ops(&orphan, &[(5, &op(&orphan, &alice, 4, 0))]).unwrap();

    assert_eq!(store.partnerships().unwrap(), vec![p]);
    assert_eq!(store.op_count(&p).unwrap(), 3);
    assert_eq!(store.op_count(&orphan).unwrap(), 1);
    assert_eq!(store.op_count(&PartnershipId([3; 32])).unwrap(), 0);
    assert_eq!(store.get_op(&PartnershipId([3; 32]), &OpId([1; 32])).unwrap(), None);
    // Reads about a partnership with no ops leave no index behind in memory.
    assert!(!store.indexes.lock().unwrap().contains_key(&PartnershipId([3; 32])));
    for (h, o) in &ops {
        assert_eq!(store.get_op(&p, &o.id()).unwrap(), Some((*h, o.clone())));
    }
    assert_eq!(store.get_op(&p, &OpId([1; 32])).unwrap(), None);
    // An op is only found under its own partnership.
    assert_eq!(store.get_op(&orphan, &g.id()).unwrap(), None);
    assert_eq!(all_ops(&store, &p), ops);
    assert_eq!(store.path(), None);
}

#[test]
fn order_is_height_then_id_and_pages_cover_it_exactly() {
    let store = Store::open_in_memory().unwrap();
    let p = PartnershipId([4; 32]);
    let keys: Vec<MemberKey> = (1..=3).map(MemberKey::from_seed).collect();
    let mut ops = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        for seq in 1..=10u64 {
            // Several ops per height, appended out of order.
            let height = (seq * 7 + i as u64 * 3) % 6 + 1;
            ops.push((height, op(&p, key, seq, i as u64)));
        }
    }
    for chunk in ops.chunks(4).rev() {
        store.append_ops(&p, &refs(chunk)).unwrap();
    }
    let expected = sorted(ops.clone());
    for limit in [1, 2, 3, 29, 30, 31, 1000] {
        let mut cursor = OpCursor::at_height(0);
        let mut got = Vec::new();
        loop {
            let page = store.ops_in_order(&p, cursor, limit).unwrap();
            assert!(page.ops.len() <= limit && !page.ops.is_empty());
            got.extend(page.ops);
            match page.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        assert_eq!(got, expected, "limit {limit}");
    }
    for from in 0..=8 {
        let tail: Vec<_> = expected.iter().filter(|(h, _)| *h >= from).cloned().collect();
        let got: Vec<_> = store.iter_ops(&p, from, 4).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, tail, "from height {from}");
    }
    // A limit of 0 still makes progress.
    assert_eq!(store.ops_in_order(&p, OpCursor::at_height(0), 0).unwrap().ops.len(), 1);
}

#[test]
fn ops_by_author_returns_both_ops_of_an_equivocation() {
    let store = Store::open_in_memory().unwrap();
    let p = PartnershipId([5; 32]);
    let (alice, bob) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let a1 = op(&p, &alice, 1, 0);
    let a2 = op(&p, &alice, 2, 0);
    let a2x = op(&p, &alice, 2, 1); // the same seq, signed twice
    let a3 = op(&p, &alice, 3, 0);
    let b1 = op(&p, &bob, 1, 0);
    let batch = vec![(1, a1.clone()), (2, a2.clone()), (2, a2x.clone()), (3, a3.clone()), (1, b1.clone())];
    store.append_ops(&p, &refs(&batch)).unwrap();

    let mut pair = vec![a2.clone(), a2x.clone()];
    pair.sort_by_key(|o| o.id());
    assert_eq!(store.ops_by_author(&p, &alice.member_id(), 2, 1).unwrap(), pair);
    let all = store.ops_by_author(&p, &alice.member_id(), 1, 10).unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!((all[0].clone(), all[3].clone()), (a1, a3.clone()));
    assert_eq!(store.ops_by_author(&p, &alice.member_id(), 3, usize::MAX).unwrap(), vec![a3]);
    assert_eq!(store.ops_by_author(&p, &alice.member_id(), 4, 10).unwrap(), vec![]);
    assert_eq!(store.ops_by_author(&p, &alice.member_id(), 1, 0).unwrap(), vec![]);
    assert_eq!(store.ops_by_author(&p, &bob.member_id(), 1, 10).unwrap(), vec![b1]);
    assert_eq!(store.ops_by_author(&PartnershipId([6; 32]), &bob.member_id(), 1, 10).unwrap(), vec![]);

    let seqs = store.author_seqs(&p).unwrap();
    assert_eq!(seqs, BTreeMap::from([(alice.member_id(), 3), (bob.member_id(), 1)]));
    assert!(store.author_seqs(&PartnershipId([6; 32])).unwrap().is_empty());
}

#[test]
fn re_appending_is_idempotent() {
    let store = Store::open_in_memory().unwrap();
    let p = PartnershipId([7; 32]);
    let alice = MemberKey::from_seed(1);
    let ops = vec![(1, op(&p, &alice, 1, 0)), (2, op(&p, &alice, 2, 0))];
    store.append_ops(&p, &refs(&ops)).unwrap();
    store.append_ops(&p, &refs(&ops)).unwrap();
    // A batch holding one op twice, and one already stored.
    let more = vec![(3, op(&p, &alice, 3, 0)), (3, op(&p, &alice, 3, 0)), ops[0].clone()];
    store.append_ops(&p, &refs(&more)).unwrap();
    store.append_ops(&p, &[]).unwrap();
    assert_eq!(store.op_count(&p).unwrap(), 3);
    assert_eq!(all_ops(&store, &p).len(), 3);
    assert_eq!(store.author_seqs(&p).unwrap()[&alice.member_id()], 3);
}

#[test]
fn refused_batches_change_nothing() {
    let store = Store::open_in_memory().unwrap();
    let alice = MemberKey::from_seed(1);
    let p = PartnershipId([8; 32]);
    let stored = op(&p, &alice, 1, 0);
    store.append_ops(&p, &[(1, &stored)]).unwrap();
    let fresh = op(&p, &alice, 2, 0);

    let other = op(&PartnershipId([9; 32]), &alice, 2, 0);
    let err = store.append_ops(&p, &[(2, &fresh), (2, &other)]).unwrap_err();
    assert!(matches!(err, StoreError::WrongPartnership { .. }), "{err}");
    assert!(err.to_string().contains("nothing of the batch was stored"), "{err}");

    let err = store.append_ops(&p, &[(2, &fresh), (0, &op(&p, &alice, 3, 0))]).unwrap_err();
    assert!(matches!(err, StoreError::BadHeight { height: 0, .. }), "{err}");
    let g = genesis(&alice);
    let err = store.append_ops(&g.partnership(), &[(1, &g)]).unwrap_err();
    assert!(matches!(err, StoreError::BadHeight { kind: "genesis", .. }), "{err}");

    // The conflict is found inside the transaction, after `fresh` was written: rolled back.
    let err = store.append_ops(&p, &[(2, &fresh), (5, &stored)]).unwrap_err();
    assert!(matches!(err, StoreError::HeightConflict { stored: 1, given: 5, .. }), "{err}");

    assert_eq!(store.op_count(&p).unwrap(), 1);
    assert_eq!(store.get_op(&p, &fresh.id()).unwrap(), None);
    assert_eq!(all_ops(&store, &p), vec![(1, stored)]);
    assert_eq!(store.author_seqs(&p).unwrap()[&alice.member_id()], 1);
    assert!(store.partnerships().unwrap().is_empty());
}

#[test]
fn batches_of_several_partnerships_commit_together_or_not_at_all() {
    let store = Store::open_in_memory().unwrap();
    let (alice, bob) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let (ga, gb) = (genesis(&alice), genesis(&bob));
    let (pa, pb) = (ga.partnership(), gb.partnership());
    let a = vec![(0, ga.clone()), (1, op(&pa, &alice, 2, 0))];
    let b = vec![(0, gb.clone()), (1, op(&pb, &bob, 2, 0)), (2, op(&pb, &bob, 3, 0))];
    store.append_ops_of_many(&[(pa, &refs(&a)), (pb, &refs(&b)), (PartnershipId([5; 32]), &[])]).unwrap();
    assert_eq!(store.partnerships().unwrap(), {
        let mut both = vec![pa, pb];
        both.sort();
        both
    });
    assert_eq!(all_ops(&store, &pa), a);
    assert_eq!(all_ops(&store, &pb), b);
    assert_eq!(store.author_seqs(&pb).unwrap()[&bob.member_id()], 3);
    // A conflict in the second partnership's batch, found inside the
    // transaction after the first one's op was written: nothing of either.
    let fresh = op(&pa, &alice, 3, 0);
    let err = store.append_ops_of_many(&[(pa, &[(2, &fresh)]), (pb, &[(7, &b[1].1)])]).unwrap_err();
    assert!(matches!(err, StoreError::HeightConflict { stored: 1, given: 7, .. }), "{err}");
    // An op filed under another partnership: refused before anything.
    let err = store.append_ops_of_many(&[(pa, &[(2, &fresh)]), (pb, &[(3, &fresh)])]).unwrap_err();
    assert!(matches!(err, StoreError::WrongPartnership { .. }), "{err}");
    assert_eq!(store.get_op(&pa, &fresh.id()).unwrap(), None);
    assert_eq!(all_ops(&store, &pa), a);
    assert_eq!(store.author_seqs(&pa).unwrap()[&alice.member_id()], 2);
}

#[test]
fn snapshot_deltas_accumulate_and_load_back_exactly() {
    let store = Store::open_in_memory().unwrap();
    let p = PartnershipId([0xff; 32]); // the last prefix: no successor
    let q = PartnershipId([0xfe; 32]);
    assert_eq!(store.load_final(&p).unwrap(), None);
    let set = |k: &str, v: &str| (k.as_bytes().to_vec(), Some(v.as_bytes().to_vec()));
    let del = |k: &str| (k.as_bytes().to_vec(), None);

    store
        .save_final(
            &p,
            &FinalDelta {
                final_height: 2,
                writes: vec![set("a", "1"), set("b", "2"), set("c", "3")],
                meta: b"m1".to_vec(),
                state_root: Some([1; 32]),
            },
        )
        .unwrap();
    store
        .save_final(
            &q,
            &FinalDelta { final_height: 9, writes: vec![set("a", "q")], meta: vec![], state_root: None },
        )
        .unwrap();
    store
        .save_final(
            &p,
            &FinalDelta {
                final_height: 5,
                writes: vec![
                    set("b", "22"),
                    del("a"),
                    del("zz"),
                    set("", "empty key"),
                    set("d", "x"),
                    set("d", "4"),
                ],
                meta: b"m2".to_vec(),
                state_root: Some([2; 32]),
            },
        )
        .unwrap();
    let bytes = |k: &str, v: &str| (k.as_bytes().to_vec(), v.as_bytes().to_vec());
    let expected = FinalSnapshot {
        final_height: 5,
        state: vec![bytes("", "empty key"), bytes("b", "22"), bytes("c", "3"), bytes("d", "4")],
        meta: b"m2".to_vec(),
        state_root: Some([2; 32]),
    };
    assert_eq!(store.load_final(&p).unwrap(), Some(expected.clone()));
    assert_eq!(
        store.load_final(&q).unwrap(),
        Some(FinalSnapshot { final_height: 9, state: vec![bytes("a", "q")], meta: vec![], state_root: None })
    );

    // Same height is allowed (meta refresh); going back is refused and changes nothing.
    let err = store
        .save_final(
            &p,
            &FinalDelta { final_height: 4, writes: vec![del("b")], meta: vec![], state_root: Some([9; 32]) },
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::FinalHeightBack { stored: 5, given: 4, .. }), "{err}");
    assert_eq!(store.load_final(&p).unwrap(), Some(expected));
    store
        .save_final(
            &p,
            &FinalDelta { final_height: 5, writes: vec![], meta: b"m3".to_vec(), state_root: None },
        )
        .unwrap();
    let refreshed = store.load_final(&p).unwrap().unwrap();
    assert_eq!(refreshed.meta, b"m3");
    assert_eq!(refreshed.state_root, None, "a save without a root removes the old one");
}

#[test]
fn code_round_trips_by_hash() {
    let store = Store::open_in_memory().unwrap();
    let wasm = b"\0asm\x01\0\0\0 some module".to_vec();
    let hash = store.put_code(&wasm).unwrap();
    assert_eq!(hash, CodeHash::of(&wasm));
    assert_eq!(store.put_code(&wasm).unwrap(), hash);
    let other = store.put_code(b"").unwrap();
    assert_eq!(store.get_code(&hash).unwrap(), Some(wasm));
    assert_eq!(store.get_code(&other).unwrap(), Some(vec![]));
    assert_eq!(store.get_code(&CodeHash([1; 32])).unwrap(), None);
    let mut hashes = vec![hash, other];
    hashes.sort();
    assert_eq!(store.code_hashes().unwrap(), hashes);
}

#[test]
fn corrupt_records_are_errors_not_wrong_data() {
    let store = Store::open_in_memory().unwrap();
    let p = PartnershipId([2; 32]);
    let alice = MemberKey::from_seed(1);
    let good = op(&p, &alice, 1, 0);
    let twin = op(&p, &alice, 2, 0);
    store.append_ops(&p, &[(1, &good), (2, &twin)]).unwrap();
    let hash = store.put_code(b"module").unwrap();
    {
        // Damage records behind the store's back.
        let txn = store.db().unwrap().begin_write().unwrap();
        {
            let mut ops = txn.open_table(OPS).unwrap();
            ops.insert(&op_key(&p, 1, &good.id()), &[1u8, 2, 3][..]).unwrap();
            ops.insert(&op_key(&p, 2, &twin.id()), good.encode().as_slice()).unwrap();
            txn.open_table(CODE).unwrap().insert(&hash.0, &b"other module"[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let err = store.get_op(&p, &good.id()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("<in-memory>"), "{err}");
    let err = store.get_op(&p, &twin.id()).unwrap_err();
    assert!(err.to_string().contains("has id"), "{err}");
    assert!(store.iter_ops(&p, 0, 10).any(|r| r.is_err()));
    let err = store.get_code(&hash).unwrap_err();
    assert!(matches!(err, StoreError::CodeMismatch { .. }), "{err}");
}

#[test]
fn file_store_survives_drop_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    let ops: Vec<_> =
        std::iter::once((0, g)).chain((2..200).map(|s| (s - 1, op(&p, &alice, s, 0)))).collect();
    let delta = FinalDelta {
        final_height: 10,
        writes: vec![(b"k".to_vec(), Some(b"v".to_vec()))],
        meta: b"meta".to_vec(),
        state_root: None,
    };
    let hash;
    {
        let store = Store::open(&path).unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
        store.append_ops(&p, &refs(&ops)).unwrap();
        store.save_final(&p, &delta).unwrap();
        hash = store.put_code(&[7u8; 70_000]).unwrap();
        // A second open of the same file is refused with a clear error.
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyOpen { .. }), "{err}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(all_ops(&store, &p), ops);
    assert_eq!(store.partnerships().unwrap(), vec![p]);
    assert_eq!(store.op_count(&p).unwrap(), 199);
    assert_eq!(store.author_seqs(&p).unwrap(), BTreeMap::from([(alice.member_id(), 199)]));
    let snapshot = store.load_final(&p).unwrap().unwrap();
    assert_eq!((snapshot.final_height, snapshot.meta), (10, b"meta".to_vec()));
    assert_eq!(store.get_code(&hash).unwrap(), Some(vec![7u8; 70_000]));
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn a_creation_cut_short_leaves_no_store_behind() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.redb");
    // What a crash while creating leaves: a half-written temporary file.
    let stale = dir.path().join("node.redb.init-1");
    std::fs::write(&stale, [0u8; 100]).unwrap();
    let store = Store::open(&path).unwrap();
    assert_eq!(store.op_count(&PartnershipId([1; 32])).unwrap(), 0);
    drop(store);
    assert!(path.exists());
    // The final path only ever holds a complete store, so reopening works.
    Store::open(&path).unwrap();
}

#[test]
fn other_schemas_and_foreign_databases_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let newer = dir.path().join("newer.redb");
    drop(Store::open(&newer).unwrap());
    {
        let db = redb::Database::open(&newer).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(SCHEMA).unwrap().insert(SCHEMA_KEY, 99).unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&newer).unwrap_err();
    assert!(matches!(err, StoreError::Schema { found: 99, supported: SCHEMA_VERSION, .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains("a newer polypact") && text.contains(&newer.display().to_string()), "{text}");

    let foreign = dir.path().join("foreign.redb");
    {
        let db = redb::Database::create(&foreign).unwrap();
        let txn = db.begin_write().unwrap();
        let def: redb::TableDefinition<u64, u64> = redb::TableDefinition::new("theirs");
        txn.open_table(def).unwrap().insert(1, 2).unwrap();
        txn.commit().unwrap();
    }
    let err = Store::open(&foreign).unwrap_err();
    assert!(matches!(err, StoreError::NotAStore { .. }), "{err}");
    assert!(err.to_string().contains(&foreign.display().to_string()), "{err}");

    let err = Store::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }), "{err}");
    let err = Store::open(&dir.path().join("missing-dir").join("x.redb")).unwrap_err();
    assert!(matches!(err, StoreError::Open { .. }) && err.to_string().contains("missing-dir"), "{err}");
}

#[test]
fn store_is_send_and_sync_and_starts_empty() {
    fn check<T: Send + Sync>() {}
    check::<Store>();
    let store = Store::open_in_memory().unwrap();
    let txn = store.db().unwrap().begin_write().unwrap();
    assert!(txn.open_table(OPS).unwrap().is_empty().unwrap());
    assert_eq!(txn.open_table(SCHEMA).unwrap().get(SCHEMA_KEY).unwrap().unwrap().value(), SCHEMA_VERSION);
}

/// Files of schema 1 (with the on-disk op id index), schema 2 (with the
/// per-author seq table and op counts), schema 3 (with the by-author
/// index) and schema 4 (without the archive tables) open as the current
/// schema: the old tables are dropped, the archive's created, and ops are
/// still found by id and by author, counted and their authors' seqs known,
/// across restarts.
#[test]
fn files_of_older_schemas_are_upgraded_on_open() {
    for old_schema in [1u64, 2, 3, 4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.redb");
        let alice = MemberKey::from_seed(1);
        let g = genesis(&alice);
        let p = g.partnership();
        let ops = vec![(0, g.clone()), (1, op(&p, &alice, 2, 0)), (2, op(&p, &alice, 3, 0))];
        {
            let store = Store::open(&path).unwrap();
            store.append_ops(&p, &refs(&ops)).unwrap();
        }
        {
            // What the old schema had on top: its version, its tables.
            let db = redb::Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            txn.open_table(SCHEMA).unwrap().insert(SCHEMA_KEY, old_schema).unwrap();
            // No schema before 5 had the archive's tables.
            assert!(txn.delete_table(ARCHIVE_META).unwrap());
            assert!(txn.delete_table(ARCHIVED_AUTHOR_BLOCKS).unwrap());
            assert!(txn.delete_table(ARCHIVED_ID_BLOCKS).unwrap());
            assert!(txn.delete_table(ARCHIVED_RUNS).unwrap());
            assert!(txn.delete_table(LATE_OPS).unwrap());
            if old_schema == 1 {
                let mut index = txn.open_table(LEGACY_OP_INDEX).unwrap();
                for (h, o) in &ops {
                    let mut key = [0u8; 64];
                    key[..32].copy_from_slice(&p.0);
                    key[32..].copy_from_slice(&o.id().0);
                    index.insert(&key, *h).unwrap();
                }
            }
            if old_schema < 3 {
                let mut seqs = txn.open_table(LEGACY_AUTHOR_SEQS).unwrap();
                let mut key = [0u8; 64];
                key[..32].copy_from_slice(&p.0);
                key[32..].copy_from_slice(&alice.member_id().0);
                seqs.insert(&key, 3).unwrap();
                drop(seqs);
                txn.open_table(PARTNERSHIPS).unwrap().insert(&p.0, 3).unwrap();
            }
            if old_schema < 4 {
                let mut by_author = txn.open_table(LEGACY_AUTHOR_INDEX).unwrap();
                for (h, o) in &ops {
                    by_author.insert(&author_key(&p, &o.author(), o.seq(), &o.id()), *h).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        for reopened in 0..2u64 {
            let store = Store::open(&path).unwrap();
            for (h, o) in &ops {
                assert_eq!(store.get_op(&p, &o.id()).unwrap(), Some((*h, o.clone())));
            }
            // The second time round, with the op appended after the upgrade.
            assert_eq!(store.op_count(&p).unwrap(), 3 + reopened);
            assert_eq!(store.author_seqs(&p).unwrap(), BTreeMap::from([(alice.member_id(), 3 + reopened)]));
            assert_eq!(store.partnerships().unwrap(), vec![p]);
            let txn = store.db().unwrap().begin_read().unwrap();
            assert_eq!(
                txn.open_table(SCHEMA).unwrap().get(SCHEMA_KEY).unwrap().unwrap().value(),
                SCHEMA_VERSION
            );
            assert!(
                txn.open_table(LEGACY_OP_INDEX).is_err(),
                "schema {old_schema}: the old id index is gone"
            );
            assert!(
                txn.open_table(LEGACY_AUTHOR_SEQS).is_err(),
                "schema {old_schema}: the old seq table is gone"
            );
            assert!(
                txn.open_table(LEGACY_AUTHOR_INDEX).is_err(),
                "schema {old_schema}: the old by-author index is gone"
            );
            assert!(txn.open_table(ARCHIVE_META).is_ok(), "schema {old_schema}: the archive tables exist");
            assert!(txn.open_table(LATE_OPS).is_ok(), "schema {old_schema}: the archive tables exist");
            assert_eq!(
                store.ops_by_author(&p, &alice.member_id(), 1, 10).unwrap(),
                ops.iter()
                    .map(|(_, o)| o.clone())
                    .chain((reopened == 1).then(|| op(&p, &alice, 4, 0)))
                    .collect::<Vec<_>>()
            );
            // Appending after the upgrade still refuses a second height for an op.
            drop(txn);
            let err = store.append_ops(&p, &[(7, &ops[1].1)]).unwrap_err();
            assert!(matches!(err, StoreError::HeightConflict { stored: 1, given: 7, .. }), "{err}");
            let next = op(&p, &alice, 4, 0);
            store.append_ops(&p, &[(3, &next)]).unwrap();
            assert_eq!(store.author_seqs(&p).unwrap()[&alice.member_id()], 4);
        }
    }
}
