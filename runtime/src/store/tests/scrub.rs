//! [`Store::scrub`]: a healthy store reads back whole with every record
//! counted and nothing reported; damage only a scrub meets (an old
//! archived op, a final state's value, module code, a run that disagrees
//! with its blocks) is reported with its partnership and area, and the
//! scrub goes on to report the rest.

use redb::{ReadableTable, TableHandle};

use super::checksums::{damaged, every_record};
use crate::ledger::LtHash;
use crate::op::CodeHash;
use crate::store::checksum;
use crate::store::tables::{ARCHIVED_ID_BLOCKS, ARCHIVED_RUNS, CODE, FINAL_STATE, OPS, op_key, state_key};
use crate::store::{ScrubReport, Store, StoreOptions};

const CODE_BYTES: &[u8] = b"module code: the store keeps any bytes under their hash";

fn scrub(path: &std::path::Path) -> ScrubReport {
    let options = StoreOptions { verify_on_open: false, ..StoreOptions::default() };
    Store::open_with(path, &options).unwrap().scrub(&LtHash::root_of).unwrap()
}

#[test]
fn a_healthy_store_scrubs_whole_with_nothing_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _, ops) = every_record(dir.path());
    Store::open(&path).unwrap().put_code(CODE_BYTES).unwrap();
    let report = scrub(&path);
    assert_eq!(report.damage, vec![], "nothing is damaged");
    assert_eq!(report.partnerships, 1);
    assert_eq!(report.ops, ops.len() as u64, "every op record, compacted or not");
    let compacted = ops.iter().filter(|(h, _)| (1..=12).contains(h)).count() as u64;
    assert_eq!(report.compacted, compacted);
    let archived = ops.iter().filter(|(h, _)| *h <= 30).count() as u64;
    assert_eq!(report.archived_entries, 2 * archived, "by id and by author");
    assert_eq!((report.state_values, report.roots_checked, report.code), (1, 1, 1));
}

#[test]
fn damage_only_a_scrub_meets_is_reported_with_its_partnership_and_area_and_all_of_it() {
    let dir = tempfile::tempdir().unwrap();
    let (path, p, ops) = every_record(dir.path());
    Store::open(&path).unwrap().put_code(CODE_BYTES).unwrap();
    // An archived op no start reads, a final state value (under its valid
    // page checksums), and a module's code, all at once.
    let (height, old) = ops.iter().find(|(h, _)| (20..=30).contains(h)).map(|(h, op)| (*h, op.id())).unwrap();
    let copy = damaged(&path, "three.redb", |txn| {
        let mut table = txn.open_table(OPS).unwrap();
        let key = op_key(&p, height, &old);
        let mut value = table.get(&key).unwrap().unwrap().value().to_vec();
        value[60] ^= 1;
        table.insert(&key, value.as_slice()).unwrap();
        let mut table = txn.open_table(FINAL_STATE).unwrap();
        table.insert(state_key(&p, b"k").as_slice(), &b"w"[..]).unwrap();
        let mut table = txn.open_table(CODE).unwrap();
        let hash = CodeHash::of(CODE_BYTES).0;
        let mut value = table.get(&hash).unwrap().unwrap().value().to_vec();
        value[3] ^= 1;
        table.insert(&hash, value.as_slice()).unwrap();
    });
    let report = scrub(&copy);
    let areas: Vec<_> = report.damage.iter().map(|d| (d.partnership, d.area)).collect();
    assert_eq!(
        areas,
        vec![(Some(p), "ops"), (Some(p), "final state"), (None, "module code")],
        "{:?}",
        report.damage
    );
    assert!(report.damage[0].detail.contains(&old.to_string()), "{}", report.damage[0]);
    assert!(report.damage[1].detail.contains("not the"), "{}", report.damage[1]);
    assert!(report.damage[1].to_string().starts_with(&format!("partnership {p}, final state: ")));
    // The reads a node makes at start do not meet any of it.
    let options = StoreOptions { verify_on_open: false, ..StoreOptions::default() };
    let store = Store::open_with(&copy, &options).unwrap();
    assert_eq!(store.op_count(&p).unwrap(), ops.len() as u64);
    assert!(store.load_final(&p).unwrap().is_some());
}

#[test]
fn runs_and_blocks_that_disagree_under_valid_checksums_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let (path, p, _) = every_record(dir.path());
    // A run records one entry more than its blocks hold: each record checks
    // alone (resealed), only the two together show it.
    let copy = damaged(&path, "run.redb", |txn| {
        let mut runs = txn.open_table(ARCHIVED_RUNS).unwrap();
        let (key, value) = {
            let (key, value) = runs.first().unwrap().unwrap();
            (*key.value(), value.value().to_vec())
        };
        let mut fields = checksum::open(ARCHIVED_RUNS.name(), &key, &value).unwrap().to_vec();
        fields[15] += 1;
        runs.insert(&key, checksum::seal(ARCHIVED_RUNS.name(), &key, &fields).as_slice()).unwrap();
    });
    let report = scrub(&copy);
    assert_eq!(report.damage.len(), 1, "{:?}", report.damage);
    assert_eq!((report.damage[0].partnership, report.damage[0].area), (Some(p), "archived index"));
    assert!(report.damage[0].detail.contains("entries and holds"), "{}", report.damage[0]);
    // A whole id block gone: the runs and the index by author disagree.
    let copy = damaged(&path, "block.redb", |txn| {
        let mut blocks = txn.open_table(ARCHIVED_ID_BLOCKS).unwrap();
        let key = *blocks.first().unwrap().unwrap().0.value();
        blocks.remove(&key).unwrap();
    });
    let report = scrub(&copy);
    assert!(report.damage.iter().any(|d| d.area == "archived index"), "{:?}", report.damage);
}
