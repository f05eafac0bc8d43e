//! Resting marks ([`Store::mark_resting`]): taken only over a saved
//! snapshot, cleared by every commit that appends an op of their
//! partnership and no other, kept across reopening, and a file of schema 6
//! (without the table) upgraded to one with no mark. (And a file of schema
//! 7, without the table of saved state roots, upgraded to one whose
//! snapshots have none until the next save.)

use redb::ReadableDatabase;

use super::{genesis, op, refs};
use crate::op::MemberKey;
use crate::store::tables::{FINAL_ROOTS, RESTING, SCHEMA, SCHEMA_KEY};
use crate::store::{FinalDelta, RestingMark, SCHEMA_VERSION, Store, StoreError};

fn mark(final_height: u64) -> RestingMark {
    RestingMark { final_height, record: b"the node's record".to_vec() }
}

fn snapshot_at(store: &Store, p: &crate::op::PartnershipId, final_height: u64) {
    store
        .save_final(p, &FinalDelta { final_height, writes: vec![], meta: vec![], state_root: None })
        .unwrap();
}

#[test]
fn a_mark_is_taken_over_the_saved_snapshot_only() {
    let store = Store::open_in_memory().unwrap();
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    store.append_ops(&p, &[(0, &g)]).unwrap();
    let refused = store.mark_resting(&[(p, mark(0))]).unwrap_err();
    assert!(matches!(refused, StoreError::RestingRefused(_)), "no snapshot yet: {refused}");
    snapshot_at(&store, &p, 0);
    let refused = store.mark_resting(&[(p, mark(3))]).unwrap_err();
    assert!(matches!(refused, StoreError::RestingRefused(_)), "not the saved height: {refused}");
    assert_eq!(store.resting_mark(&p).unwrap(), None, "a refusal changes nothing");
    store.mark_resting(&[(p, mark(0))]).unwrap();
    assert_eq!(store.resting_mark(&p).unwrap(), Some(mark(0)));
    assert_eq!(store.saved_final_height(&p).unwrap(), Some(0));
}

#[test]
fn appending_an_op_clears_its_partnerships_mark_and_no_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resting.redb");
    let (alice, bob) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
    let (ga, gb) = (genesis(&alice), genesis(&bob));
    let (a, b) = (ga.partnership(), gb.partnership());
    let ops = vec![(0, ga.clone()), (1, op(&a, &alice, 2, 0))];
    {
        let store = Store::open(&path).unwrap();
        store.append_ops_of_many(&[(a, &refs(&ops)), (b, &[(0, &gb)])]).unwrap();
        snapshot_at(&store, &a, 1);
        snapshot_at(&store, &b, 0);
        store.mark_resting(&[(a, mark(1)), (b, mark(0))]).unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.resting_mark(&a).unwrap(), Some(mark(1)), "kept across reopening");
    // The same op again stores nothing: the partnership did not change.
    store.append_ops(&a, &refs(&ops[1..])).unwrap();
    assert_eq!(store.resting_mark(&a).unwrap(), Some(mark(1)));
    store.append_ops(&a, &[(2, &op(&a, &alice, 3, 0))]).unwrap();
    assert_eq!(store.resting_mark(&a).unwrap(), None, "a new op clears the mark");
    assert_eq!(store.resting_mark(&b).unwrap(), Some(mark(0)), "another partnership's stays");
}

#[test]
fn a_malformed_mark_is_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("resting.redb");
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    {
        let store = Store::open(&path).unwrap();
        store.append_ops(&p, &[(0, &g)]).unwrap();
    }
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(RESTING).unwrap().insert(&p.0, &[1u8, 2, 3][..]).unwrap();
        txn.commit().unwrap();
    }
    let store = Store::open(&path).unwrap();
    let error = store.resting_mark(&p).unwrap_err();
    assert!(matches!(error, StoreError::Corrupt { .. }), "{error}");
}

/// A store file of an older `schema` holding one partnership with a
/// snapshot at the genesis, without the tables `drop_newer` deletes; the
/// directory, the file and the partnership.
fn older_file(
    schema: u64,
    drop_newer: impl FnOnce(&redb::WriteTransaction),
) -> (tempfile::TempDir, std::path::PathBuf, crate::op::PartnershipId) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    let g = genesis(&MemberKey::from_seed(1));
    let p = g.partnership();
    {
        let store = Store::open(&path).unwrap();
        store.append_ops(&p, &[(0, &g)]).unwrap();
        snapshot_at(&store, &p, 0);
    }
    let db = redb::Database::open(&path).unwrap();
    let txn = db.begin_write().unwrap();
    super::checksums::as_schema_8(&txn);
    txn.open_table(SCHEMA).unwrap().insert(SCHEMA_KEY, schema).unwrap();
    drop_newer(&txn);
    txn.commit().unwrap();
    (dir, path, p)
}

fn assert_current_schema(store: &Store) {
    let txn = store.db().unwrap().begin_read().unwrap();
    assert_eq!(txn.open_table(SCHEMA).unwrap().get(SCHEMA_KEY).unwrap().unwrap().value(), SCHEMA_VERSION);
}

#[test]
fn a_file_of_schema_6_is_upgraded_with_no_partnership_resting() {
    let (_dir, path, p) = older_file(6, |txn| {
        assert!(txn.delete_table(RESTING).unwrap());
        assert!(txn.delete_table(FINAL_ROOTS).unwrap());
    });
    let store = Store::open(&path).unwrap();
    assert_eq!(store.resting_mark(&p).unwrap(), None);
    store.mark_resting(&[(p, mark(0))]).unwrap();
    assert_eq!(store.resting_mark(&p).unwrap(), Some(mark(0)));
    assert_current_schema(&store);
}

#[test]
fn a_file_of_schema_7_is_upgraded_with_no_root_saved_until_the_next_save() {
    let (_dir, path, p) = older_file(7, |txn| assert!(txn.delete_table(FINAL_ROOTS).unwrap()));
    let store = Store::open(&path).unwrap();
    assert_eq!(store.load_final(&p).unwrap().unwrap().state_root, None, "an older snapshot has no root");
    let delta = FinalDelta { final_height: 1, writes: vec![], meta: vec![], state_root: Some([7; 32]) };
    store.save_final(&p, &delta).unwrap();
    assert_eq!(store.load_final(&p).unwrap().unwrap().state_root, Some([7; 32]));
    assert_current_schema(&store);
}
