//! Crash consistency: a storage backend that "loses power" after N writes or
//! syncs, for every N across a whole workload.
//!
//! The backend keeps what the process sees (`current`) apart from what is on
//! the platter (`durable`, updated by `sync_data`). After the crash the store
//! is reopened from one of three images: only the synced bytes (unsynced
//! writes lost), every write (nothing lost), or the synced bytes plus every
//! other unsynced write (the disk reordered and tore its write-back). In
//! every case: each batch whose `append_ops` returned `Ok` is wholly present,
//! no batch is partly present, every stored op is found by id and by author
//! whether its index entry was archived or not, and the snapshot is one that
//! `save_final` was asked to write (the last acknowledged one, or the one in
//! flight), never a mix. An archive that fails leaves the in-memory index as
//! it was.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use redb::StorageBackend;

use std::collections::BTreeMap;

use super::{genesis, op, refs};
use crate::op::{MemberId, MemberKey, OpId, PartnershipId, SignedOp};
use crate::store::{FinalDelta, FinalSnapshot, Store};

/// One write the disk has not yet made durable.
#[derive(Clone, Debug)]
enum Pending {
    Write(u64, Vec<u8>),
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Disk {
    current: Vec<u8>,
    durable: Vec<u8>,
    pending: Vec<Pending>,
    /// Writes, set_lens and syncs so far.
    events: u64,
    /// Fail every write/sync after this many events.
    fail_after: Option<u64>,
    crashed: bool,
}

/// A fault-injecting in-memory backend; clones share the disk.
#[derive(Clone, Debug, Default)]
struct FaultyDisk(Arc<Mutex<Disk>>);

impl FaultyDisk {
    /// A healthy disk holding `image`.
    fn from_image(image: Vec<u8>) -> Self {
        let disk = FaultyDisk::default();
        {
            let mut d = disk.lock();
            d.current = image.clone();
            d.durable = image;
        }
        disk
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a mutating event; fails it (and all later ones) past the limit.
    fn event(&self, d: &mut Disk) -> io::Result<()> {
        d.events += 1;
        if d.crashed || d.fail_after.is_some_and(|n| d.events > n) {
            d.crashed = true;
            return Err(io::Error::other("injected power loss"));
        }
        Ok(())
    }

    /// What survives the crash, in one of three ways (see the module doc).
    fn image(&self, kind: Image) -> Vec<u8> {
        let d = self.lock();
        match kind {
            Image::SyncedOnly => d.durable.clone(),
            Image::Everything => d.current.clone(),
            Image::Torn => {
                let mut image = d.durable.clone();
                for (i, p) in d.pending.iter().enumerate() {
                    match p {
                        Pending::SetLen(len) => image.resize(*len as usize, 0),
                        Pending::Write(at, data) if i % 2 == 0 => {
                            let end = *at as usize + data.len();
                            if image.len() < end {
                                image.resize(end, 0);
                            }
                            image[*at as usize..end].copy_from_slice(data);
                        }
                        Pending::Write(..) => {}
                    }
                }
                image
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Image {
    SyncedOnly,
    Everything,
    Torn,
}

fn out_of_range() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "beyond the end of the disk")
}

impl StorageBackend for FaultyDisk {
    fn len(&self) -> io::Result<u64> {
        Ok(self.lock().current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let d = self.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let src = d.current.get(start..start + out.len()).ok_or_else(out_of_range)?;
        out.copy_from_slice(src);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut d = self.lock();
        self.event(&mut d)?;
        d.current.resize(len as usize, 0);
        d.pending.push(Pending::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut d = self.lock();
        self.event(&mut d)?;
        d.durable = d.current.clone();
        d.pending.clear();
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut d = self.lock();
        self.event(&mut d)?;
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        d.current.get_mut(start..start + data.len()).ok_or_else(out_of_range)?.copy_from_slice(data);
        d.pending.push(Pending::Write(offset, data.to_vec()));
        Ok(())
    }
}

/// The workload: op batches, with snapshot deltas and archives in between.
enum Step {
    Append(Vec<(u64, SignedOp)>),
    Save(FinalDelta),
    Archive(u64),
}

struct Workload {
    partnership: PartnershipId,
    steps: Vec<Step>,
}

fn workload() -> Workload {
    let alice = MemberKey::from_seed(1);
    let bob = MemberKey::from_seed(2);
    let carol = MemberKey::from_seed(3);
    let g = genesis(&alice);
    let p = g.partnership();
    let set = |k: &str, v: &[u8]| (k.as_bytes().to_vec(), Some(v.to_vec()));
    let mut steps = vec![Step::Append(vec![(0, g)])];
    let mut seq = 2;
    for batch in 0..5u64 {
        let mut ops = Vec::new();
        for i in 0..12u64 {
            ops.push((seq - 1, op(&p, &alice, seq, batch * 100 + i)));
            ops.push((seq, op(&p, &bob, seq - 1, batch * 100 + i)));
            seq += 1;
        }
        steps.push(Step::Append(ops));
        if batch >= 1 {
            steps.push(Step::Archive(batch * 18));
        }
        if batch == 2 {
            // A late op, below the horizon: archived by the next step.
            steps.push(Step::Append(vec![(5, op(&p, &carol, 1, 0))]));
        }
        if batch % 2 == 1 {
            let writes = match batch {
                1 => vec![set("a", b"1"), set("b", &[2; 3000]), set("c", b"3")],
                _ => vec![set("b", b"22"), ("a".into(), None), set("d", &[4; 5000])],
            };
            steps.push(Step::Save(FinalDelta {
                final_height: batch * 10,
                writes,
                meta: vec![batch as u8; 10],
                state_root: Some([batch as u8; 32]),
            }));
        }
    }
    Workload { partnership: p, steps }
}

/// The snapshot after applying `deltas` in order.
fn snapshot_after(deltas: &[&FinalDelta]) -> Option<FinalSnapshot> {
    let last = deltas.last()?;
    let mut state = std::collections::BTreeMap::new();
    for delta in deltas {
        for (k, v) in &delta.writes {
            match v {
                Some(v) => state.insert(k.clone(), v.clone()),
                None => state.remove(k),
            };
        }
    }
    Some(FinalSnapshot {
        final_height: last.final_height,
        state: state.into_iter().collect(),
        meta: last.meta.clone(),
        state_root: last.state_root,
    })
}

/// Creates a store on a fresh disk, then arms the fault: every write or
/// sync after `fail_after` more events fails. Runs the workload until the
/// first error. Returns how many steps returned `Ok`, the disk, and the
/// number of disk events the workload caused.
///
/// Creation itself is not under test here: a file store is created under a
/// temporary name and linked into place, so a crash while creating leaves no
/// store behind (see the api tests).
fn run_until_crash(work: &Workload, fail_after: Option<u64>) -> (usize, FaultyDisk, u64) {
    let disk = FaultyDisk::default();
    let store = Store::open_backend(disk.clone(), Path::new("<faulty>")).expect("a healthy disk opens");
    let start = {
        let mut d = disk.lock();
        d.fail_after = fail_after.map(|n| d.events + n);
        d.events
    };
    let p = &work.partnership;
    let mut done = 0;
    for step in &work.steps {
        let result = match step {
            Step::Append(ops) => store.append_ops(p, &refs(ops)),
            Step::Save(delta) => store.save_final(p, delta),
            Step::Archive(height) => store.archive_below(p, *height).map(drop),
        };
        if result.is_err() {
            break;
        }
        done += 1;
    }
    let events = disk.lock().events - start;
    drop(store);
    (done, disk, events)
}

/// Checks the reopened store against the acknowledged steps.
fn check_recovered(work: &Workload, acked: usize, store: &Store, case: &str) {
    let p = &work.partnership;
    let stored: std::collections::BTreeSet<_> =
        store.iter_ops(p, 0, 16).map(|r| r.expect(case).1.id()).collect();
    let mut expected_count = 0u64;
    for (i, step) in work.steps.iter().enumerate() {
        let Step::Append(ops) = step else { continue };
        let present = ops.iter().filter(|(_, op)| stored.contains(&op.id())).count();
        if i < acked {
            assert_eq!(present, ops.len(), "{case}: acknowledged batch {i} is not wholly present");
        } else if i == acked {
            assert!(present == 0 || present == ops.len(), "{case}: batch {i} in flight is partly present");
        } else {
            assert_eq!(present, 0, "{case}: batch {i} was never written");
        }
        expected_count += present as u64;
    }
    assert_eq!(stored.len() as u64, expected_count, "{case}: unexpected ops");
    assert_eq!(store.op_count(p).expect(case), expected_count, "{case}: op count");
    check_reads(store, p, case);

    let saves: Vec<&FinalDelta> = work.steps[..acked]
        .iter()
        .filter_map(|s| if let Step::Save(d) = s { Some(d) } else { None })
        .collect();
    let old = snapshot_after(&saves);
    let mut allowed = vec![old];
    if let Some(Step::Save(in_flight)) = work.steps.get(acked) {
        let mut with = saves.clone();
        with.push(in_flight);
        allowed.push(snapshot_after(&with));
    }
    let got = store.load_final(p).expect(case);
    assert!(allowed.contains(&got), "{case}: the snapshot is a mix: {got:?}");
}

/// Every stored op is found by id and by author, archived or not.
fn check_reads(store: &Store, p: &PartnershipId, case: &str) {
    let ops: Vec<(u64, SignedOp)> = store.iter_ops(p, 0, 16).map(|r| r.expect(case)).collect();
    let mut by_author: BTreeMap<MemberId, Vec<(u64, OpId)>> = BTreeMap::new();
    for (h, op) in &ops {
        assert_eq!(store.get_op(p, &op.id()).expect(case), Some((*h, op.clone())), "{case}: by id");
        by_author.entry(op.author()).or_default().push((op.seq(), op.id()));
    }
    for (author, mut expected) in by_author {
        expected.sort();
        let got: Vec<(u64, OpId)> = store
            .ops_by_author(p, &author, 0, usize::MAX)
            .expect(case)
            .iter()
            .map(|op| (op.seq(), op.id()))
            .collect();
        assert_eq!(got, expected, "{case}: by author");
    }
}

#[test]
fn a_failed_archive_leaves_the_memory_index_as_it_was() {
    let work = workload();
    let p = &work.partnership;
    let appends: Vec<&Vec<(u64, SignedOp)>> =
        work.steps.iter().filter_map(|s| if let Step::Append(ops) = s { Some(ops) } else { None }).collect();
    let mut failures = 0;
    for n in 0.. {
        let disk = FaultyDisk::default();
        let store = Store::open_backend(disk.clone(), Path::new("<faulty>")).unwrap();
        for ops in &appends {
            store.append_ops(p, &refs(ops)).unwrap();
        }
        store.archive_below(p, 20).unwrap();
        let memory = |store: &Store| {
            let indexes = store.indexes.lock().unwrap();
            let index = &indexes[p];
            (index.ids.clone(), index.authors.clone(), index.archive.clone())
        };
        let before = memory(&store);
        {
            let mut d = disk.lock();
            d.fail_after = Some(d.events + n);
        }
        if store.archive_below(p, 40).is_ok() {
            assert!(store.indexed_in_memory(p) < before.0.len());
            break;
        }
        failures += 1;
        assert!(memory(&store) == before, "crash after {n} events: the memory index changed");
        drop(store);
        for kind in [Image::SyncedOnly, Image::Everything, Image::Torn] {
            let case = format!("archive failed after {n} disk events, {kind:?} image");
            let store = Store::open_backend(FaultyDisk::from_image(disk.image(kind)), Path::new("<faulty>"))
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(
                store.op_count(p).unwrap(),
                appends.iter().map(|ops| ops.len() as u64).sum::<u64>(),
                "{case}"
            );
            check_reads(&store, p, &case);
        }
    }
    assert!(failures > 3, "the archive must be cut at several points ({failures})");
}

#[test]
fn every_crash_point_keeps_acknowledged_writes_and_nothing_partial() {
    let work = workload();
    let (done, _, total_events) = run_until_crash(&work, None);
    assert_eq!(done, work.steps.len());
    assert!(total_events > 20, "the workload must exercise the disk ({total_events} events)");

    let mut crashes = 0;
    for n in 0..=total_events {
        let (acked, disk, _) = run_until_crash(&work, Some(n));
        crashes += usize::from(acked < work.steps.len());
        for kind in [Image::SyncedOnly, Image::Everything, Image::Torn] {
            let case = format!(
                "crash after {n} of {total_events} disk events, {kind:?} image, {acked} steps acknowledged"
            );
            let store = Store::open_backend(FaultyDisk::from_image(disk.image(kind)), Path::new("<faulty>"))
                .unwrap_or_else(|e| panic!("{case}: a crash must not make the store unreadable: {e}"));
            check_recovered(&work, acked, &store, &case);
        }
    }
    assert!(crashes > work.steps.len(), "crashes must land inside every step ({crashes})");
}
