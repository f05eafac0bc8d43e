//! Checksums on the store's own records (`checksum.rs`): a damaged record
//! of every kind is refused when it is read, naming the file and what was
//! damaged, with the whole-file check off; and a file of schema 8, whose
//! records had none, is upgraded to one where every read answers as before
//! and every record checks.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, ReadableTable, TableHandle, WriteTransaction};

use super::archive::history;
use super::{all_ops, refs};
use crate::op::{PartnershipId, SignedOp};
use crate::store::checksum;
use crate::store::tables::{
    ARCHIVE_META, ARCHIVED_AUTHOR_BLOCKS, ARCHIVED_ID_BLOCKS, ARCHIVED_RUNS, COMPACTED, FINAL_META,
    LEGACY_ARCHIVE_META, LEGACY_ARCHIVED_RUNS, OPS, OpKey, PARTNERSHIPS, RESTING, SCHEMA, SCHEMA_KEY, op_key,
};
use crate::store::{FinalDelta, RestingMark, SCHEMA_VERSION, Store, StoreError, StoreOptions};

const CERT: &[u8] = b"a certificate";

/// A closed store file holding `history()` with every kind of checked
/// record: archived in three steps (runs and author blocks), compacted up
/// to 12, a snapshot at 30 with a ledger's meta, and a resting mark on it.
pub(super) fn every_record(dir: &Path) -> (PathBuf, PartnershipId, Vec<(u64, SignedOp)>) {
    let path = dir.join("records.redb");
    let (p, ops) = history();
    let store = Store::open(&path).unwrap();
    store.append_ops(&p, &refs(&ops)).unwrap();
    for horizon in [10, 20, 30] {
        store.archive_below(&p, horizon).unwrap();
    }
    store.compact_below(&p, 12, CERT, &BTreeSet::new(), usize::MAX).unwrap();
    let writes = vec![(b"k".to_vec(), Some(b"v".to_vec()))];
    let state_root = Some(crate::ledger::LtHash::root_of(&[(b"k".to_vec(), b"v".to_vec())]));
    let delta = FinalDelta { final_height: 30, writes, meta: b"the ledger's meta".to_vec(), state_root };
    store.save_final(&p, &delta).unwrap();
    store.mark_resting(&[(p, RestingMark { final_height: 30, record: b"record".to_vec() })]).unwrap();
    (path, p, ops)
}

/// Everything the store answers about `p` and `ops`, errors included (as
/// text), so two stores can be compared read for read.
fn answers(store: &Store, p: &PartnershipId, ops: &[(u64, SignedOp)]) -> Vec<String> {
    let mut out = vec![
        format!("{:?}", store.partnerships()),
        format!("{:?}", store.op_count(p)),
        format!("{:?}", store.author_seqs(p)),
        format!("{:?}", store.archive_horizon(p)),
        format!("{:?}", store.compaction(p)),
        format!("{:?}", store.resting_mark(p)),
        format!("{:?}", store.load_final(p)),
        format!("{:?}", store.iter_ops(p, 0, 7).collect::<Vec<_>>()),
    ];
    for (_, op) in ops {
        let id = op.id();
        out.push(format!("{:?}", store.get_op(p, &id)));
        out.push(format!("{:?}", store.op_header(p, &id)));
        out.push(format!("{:?}", store.ops_by_author(p, &op.author(), op.seq(), 3).map(|o| o.len())));
        out.push(format!("{:?}", store.op_ids_at(p, &op.author(), op.seq())));
    }
    out
}

/// Rewrites, in `txn`, every checked record of a current file as schema 8
/// stored it: values without their checksum, horizons and runs as bare
/// integers, `partnerships` entries with a 0, tombstones of 49 bytes.
pub(super) fn as_schema_8(txn: &WriteTransaction) {
    fn strip<const N: usize>(
        txn: &WriteTransaction,
        definition: redb::TableDefinition<&'static [u8; N], &'static [u8]>,
    ) {
        let mut table = txn.open_table(definition).unwrap();
        let all: Vec<([u8; N], Vec<u8>)> = table
            .iter()
            .unwrap()
            .map(|entry| {
                let (key, value) = entry.unwrap();
                let key = *key.value();
                (key, checksum::open(definition.name(), &key, value.value()).unwrap().to_vec())
            })
            .collect();
        for (key, value) in all {
            table.insert(&key, value.as_slice()).unwrap();
        }
    }
    for table in [FINAL_META, RESTING, COMPACTED] {
        strip(txn, table);
    }
    strip(txn, ARCHIVED_ID_BLOCKS);
    strip(txn, ARCHIVED_AUTHOR_BLOCKS);
    let mut ops = txn.open_table(OPS).unwrap();
    let stones: Vec<(OpKey, Vec<u8>)> = ops
        .iter()
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|(_, value)| value.value()[0] == 0xC0)
        .map(|(key, value)| {
            (*key.value(), checksum::open(OPS.name(), key.value(), value.value()).unwrap().to_vec())
        })
        .collect();
    for (key, stone) in stones {
        assert_eq!(stone.len(), 49);
        ops.insert(&key, stone.as_slice()).unwrap();
    }
    let horizons: Vec<([u8; 32], u64)> = txn
        .open_table(ARCHIVE_META)
        .unwrap()
        .iter()
        .unwrap()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            let value = checksum::open(ARCHIVE_META.name(), key.value(), value.value()).unwrap();
            (*key.value(), u64::from_be_bytes(value.try_into().unwrap()))
        })
        .collect();
    let runs: Vec<([u8; 40], (u64, u64))> = txn
        .open_table(ARCHIVED_RUNS)
        .unwrap()
        .iter()
        .unwrap()
        .map(|entry| {
            let (key, value) = entry.unwrap();
            let value = checksum::open(ARCHIVED_RUNS.name(), key.value(), value.value()).unwrap();
            let word = |at: usize| u64::from_be_bytes(value[at..at + 8].try_into().unwrap());
            (*key.value(), (word(0), word(8)))
        })
        .collect();
    txn.delete_table(ARCHIVE_META).unwrap();
    txn.delete_table(ARCHIVED_RUNS).unwrap();
    let mut table = txn.open_table(LEGACY_ARCHIVE_META).unwrap();
    for (key, horizon) in horizons {
        table.insert(&key, horizon).unwrap();
    }
    let mut table = txn.open_table(LEGACY_ARCHIVED_RUNS).unwrap();
    for (key, run) in runs {
        table.insert(&key, run).unwrap();
    }
    let mut listed = txn.open_table(PARTNERSHIPS).unwrap();
    let keys: Vec<[u8; 32]> = listed.iter().unwrap().map(|entry| *entry.unwrap().0.value()).collect();
    for key in keys {
        listed.insert(&key, 0).unwrap();
    }
    txn.open_table(SCHEMA).unwrap().insert(SCHEMA_KEY, 8).unwrap();
}

#[test]
fn a_schema_8_file_is_upgraded_to_checked_records_that_answer_as_before() {
    let dir = tempfile::tempdir().unwrap();
    let (path, p, ops) = every_record(dir.path());
    let before = answers(&Store::open(&path).unwrap(), &p, &ops);
    assert!(before.iter().any(|answer| answer.contains("Compacted")), "the file has compacted ops");
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        as_schema_8(&txn);
        txn.commit().unwrap();
    }
    for reopened in 0..2 {
        let store = Store::open(&path).unwrap();
        assert_eq!(answers(&store, &p, &ops), before, "reopened {reopened} times");
        let txn = store.db().unwrap().begin_read().unwrap();
        assert_eq!(txn.open_table(SCHEMA).unwrap().get(SCHEMA_KEY).unwrap().unwrap().value(), SCHEMA_VERSION);
    }
    // What an upgraded file holds is exactly what a current node writes:
    // the same file stripped again upgrades the same way (no checksum on
    // a checksum), and the store goes on writing to it.
    let store = Store::open(&path).unwrap();
    store.archive_below(&p, 40).unwrap();
    store.compact_below(&p, 20, CERT, &BTreeSet::new(), usize::MAX).unwrap();
    assert_eq!(store.op_count(&p).unwrap(), ops.len() as u64);
    assert_eq!(all_ops(&store, &p).len(), ops.iter().filter(|(h, _)| *h == 0 || *h > 20).count());
}

/// A copy of `path` with one record changed in place by `damage`, under
/// valid page checksums (what damage inside a value looks like to redb).
pub(super) fn damaged(path: &Path, name: &str, damage: impl FnOnce(&WriteTransaction)) -> PathBuf {
    let copy = path.with_file_name(name);
    std::fs::copy(path, &copy).unwrap();
    let db = redb::Database::open(&copy).unwrap();
    let txn = db.begin_write().unwrap();
    damage(&txn);
    txn.commit().unwrap();
    copy
}

/// Flips one bit of the value under `key` in `definition`.
fn flip<const N: usize>(
    txn: &WriteTransaction,
    definition: redb::TableDefinition<&'static [u8; N], &'static [u8]>,
    key: &[u8; N],
    at: usize,
) {
    let mut table = txn.open_table(definition).unwrap();
    let mut value = table.get(key).unwrap().expect("the record exists").value().to_vec();
    value[at] ^= 0x04;
    table.insert(key, value.as_slice()).unwrap();
}

/// The first key of a table.
fn first_key<const N: usize>(
    txn: &WriteTransaction,
    definition: redb::TableDefinition<&'static [u8; N], &'static [u8]>,
) -> [u8; N] {
    *txn.open_table(definition).unwrap().first().unwrap().unwrap().0.value()
}

#[test]
fn damage_to_any_checked_record_is_refused_when_read_without_the_whole_file_check() {
    let dir = tempfile::tempdir().unwrap();
    let (path, p, ops) = every_record(dir.path());
    let compacted = ops.iter().find(|(h, _)| (1..=12).contains(h)).map(|(h, op)| (*h, op.id())).unwrap();
    let authors: BTreeSet<_> = ops.iter().map(|(_, op)| op.author()).collect();
    type Damage = Box<dyn Fn(&WriteTransaction)>;
    type Read = Box<dyn Fn(&Store) -> Result<(), StoreError>>;
    // What is damaged, how, the read that meets it, and how its error
    // names the record.
    let cases: Vec<(&str, Damage, Read, &str)> = vec![
        (
            "snapshot record",
            Box::new(move |txn| flip(txn, FINAL_META, &p.0, 3)),
            Box::new(move |store| store.load_final(&p).map(drop)),
            "snapshot record",
        ),
        (
            "final height",
            Box::new(move |txn| flip(txn, FINAL_META, &p.0, 7)),
            Box::new(move |store| store.saved_final_height(&p).map(drop)),
            "snapshot record",
        ),
        (
            "resting mark",
            Box::new(move |txn| flip(txn, RESTING, &p.0, 9)),
            Box::new(move |store| store.resting_mark(&p).map(drop)),
            "resting mark",
        ),
        (
            "compaction record",
            Box::new(move |txn| flip(txn, COMPACTED, &p.0, 15)),
            Box::new(move |store| store.compaction(&p).map(drop)),
            "compaction record",
        ),
        (
            "tombstone",
            Box::new(move |txn| {
                let mut table = txn.open_table(OPS).unwrap();
                let key = op_key(&p, compacted.0, &compacted.1);
                let mut value = table.get(&key).unwrap().unwrap().value().to_vec();
                value[40] ^= 0x01; // the seq
                table.insert(&key, value.as_slice()).unwrap();
            }),
            Box::new(move |store| store.op_header(&p, &compacted.1).map(drop)),
            "compacted record",
        ),
        (
            "horizon",
            Box::new(move |txn| {
                let mut table = txn.open_table(ARCHIVE_META).unwrap();
                let mut value = table.get(&p.0).unwrap().unwrap().value().to_vec();
                value[7] ^= 0x08; // 30 becomes 22
                table.insert(&p.0, value.as_slice()).unwrap();
            }),
            Box::new(move |store| store.op_count(&p).map(drop)),
            "horizon",
        ),
        (
            "run",
            Box::new(move |txn| {
                let mut table = txn.open_table(ARCHIVED_RUNS).unwrap();
                let key = *table.first().unwrap().unwrap().0.value();
                let mut value = table.get(&key).unwrap().unwrap().value().to_vec();
                value[15] ^= 0x01; // the entry count
                table.insert(&key, value.as_slice()).unwrap();
            }),
            Box::new(move |store| store.op_count(&p).map(drop)),
            "run",
        ),
        (
            "id block",
            Box::new(|txn| {
                let key = first_key(txn, ARCHIVED_ID_BLOCKS);
                flip(txn, ARCHIVED_ID_BLOCKS, &key, 39);
            }),
            Box::new(move |store| {
                for (_, op) in &ops {
                    store.op_height(&p, &op.id())?;
                }
                Ok(())
            }),
            "block",
        ),
        (
            "author block",
            Box::new(|txn| {
                let key = first_key(txn, ARCHIVED_AUTHOR_BLOCKS);
                flip(txn, ARCHIVED_AUTHOR_BLOCKS, &key, 7);
            }),
            Box::new(move |store| {
                for author in &authors {
                    store.ops_by_author(&p, author, 1, usize::MAX)?;
                }
                Ok(())
            }),
            "block",
        ),
        (
            "list of partnerships",
            Box::new(move |txn| {
                let mut table = txn.open_table(PARTNERSHIPS).unwrap();
                table.remove(&p.0).unwrap();
                let mut moved = p.0;
                moved[31] ^= 1;
                table.insert(&moved, 0).unwrap();
            }),
            Box::new(|store| store.partnerships().map(drop)),
            "list of partnerships",
        ),
    ];
    let unchecked = StoreOptions { verify_on_open: false, ..StoreOptions::default() };
    for (i, (case, damage, read, named)) in cases.into_iter().enumerate() {
        let copy = damaged(&path, &format!("damaged-{i}.redb"), damage);
        let store = Store::open_with(&copy, &unchecked).unwrap();
        let error = read(&store).expect_err(case);
        let text = error.to_string();
        assert!(matches!(error, StoreError::Corrupt { .. }), "{case}: {error:?}");
        assert!(text.contains(&copy.display().to_string()), "{case}: the file is not named: {text}");
        assert!(text.contains(named), "{case}: the record is not named: {text}");
        eprintln!("{case}: {text}");
        // A scrub, which reads every record, finds it too.
        let report = store.scrub(&crate::ledger::LtHash::root_of).unwrap();
        assert!(report.damage.iter().any(|d| d.detail.contains(named)), "{case}: {:?}", report.damage);
    }
    // The healthy file reads the same way.
    let store = Store::open_with(&path, &unchecked).unwrap();
    store.load_final(&p).unwrap().unwrap();
    store.compaction(&p).unwrap().unwrap();
    store.op_header(&p, &compacted.1).unwrap().unwrap();
    assert_eq!(store.partnerships().unwrap(), vec![p]);
}

#[test]
fn a_record_moved_under_another_key_does_not_check() {
    // Two partnerships' snapshot records swapped (a damaged page pointer
    // can do that): each is a well-formed record, under the wrong key.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.redb");
    let (a, b) = (PartnershipId([1; 32]), PartnershipId([2; 32]));
    {
        let store = Store::open(&path).unwrap();
        for (p, height) in [(a, 3), (b, 5)] {
            let delta = FinalDelta { final_height: height, ..FinalDelta::default() };
            store.save_final(&p, &delta).unwrap();
        }
    }
    let copy = damaged(&path, "swapped.redb", |txn| {
        let mut table = txn.open_table(FINAL_META).unwrap();
        let (va, vb) = (
            table.get(&a.0).unwrap().unwrap().value().to_vec(),
            table.get(&b.0).unwrap().unwrap().value().to_vec(),
        );
        table.insert(&a.0, vb.as_slice()).unwrap();
        table.insert(&b.0, va.as_slice()).unwrap();
    });
    let store =
        Store::open_with(&copy, &StoreOptions { verify_on_open: false, ..StoreOptions::default() }).unwrap();
    for p in [a, b] {
        let error = store.saved_final_height(&p).unwrap_err();
        assert!(error.to_string().contains("checksum"), "{error}");
    }
}
