//! Damaged files: truncated, overwritten, or not a database at all. Each
//! must give an error naming the file (at open or at the first read),
//! never a panic, never wrong data.

use std::path::{Path, PathBuf};

use super::{all_ops, genesis, op, refs};
use crate::op::{CodeHash, MemberKey, PartnershipId, SignedOp};
use crate::store::{FinalDelta, FinalSnapshot, Store, StoreError, StoreOptions};

/// What a healthy file holds.
struct Contents {
    partnership: PartnershipId,
    ops: Vec<(u64, SignedOp)>,
    snapshot: FinalSnapshot,
    code: Vec<u8>,
}

/// A store file with a few hundred ops, a snapshot and some code, closed.
fn healthy_file(dir: &Path, name: &str) -> (PathBuf, Contents) {
    let path = dir.join(name);
    let alice = MemberKey::from_seed(1);
    let g = genesis(&alice);
    let p = g.partnership();
    let ops: Vec<_> =
        std::iter::once((0, g)).chain((2..400).map(|s| (s - 1, op(&p, &alice, s, s)))).collect();
    let writes: Vec<_> = (0..300u32).map(|i| (i.to_be_bytes().to_vec(), Some(vec![i as u8; 40]))).collect();
    let code: Vec<u8> = (0..50_000u32).map(|i| (i * 31 % 251) as u8).collect();
    let store = Store::open(&path).unwrap();
    for chunk in ops.chunks(50) {
        store.append_ops(&p, &refs(chunk)).unwrap();
    }
    store
        .save_final(&p, &FinalDelta { final_height: 100, writes, meta: b"meta".to_vec(), state_root: None })
        .unwrap();
    store.put_code(&code).unwrap();
    let snapshot = store.load_final(&p).unwrap().unwrap();
    drop(store);
    (path, Contents { partnership: p, ops, snapshot, code })
}

/// Opens the file and reads everything; the first error, if any.
fn open_and_read(path: &Path, contents: &Contents) -> Result<(), StoreError> {
    let store = Store::open(path)?;
    let p = &contents.partnership;
    let ops = store.iter_ops(p, 0, 64).collect::<Result<Vec<_>, _>>()?;
    let snapshot = store.load_final(p)?;
    let code = store.get_code(&CodeHash::of(&contents.code))?;
    assert_eq!(ops, contents.ops, "an undetected corruption returned wrong ops");
    assert_eq!(snapshot.as_ref(), Some(&contents.snapshot), "an undetected corruption changed the snapshot");
    assert_eq!(code.as_ref(), Some(&contents.code), "an undetected corruption changed the code");
    assert_eq!(all_ops(&store, p).len(), contents.ops.len());
    Ok(())
}

/// The damaged file must be refused with an error that names it.
fn assert_refused(path: &Path, contents: &Contents, case: &str) -> String {
    let err = open_and_read(path, contents).expect_err(case);
    let text = err.to_string();
    assert!(text.contains(&path.display().to_string()), "{case}: the error does not name the file: {text}");
    assert!(matches!(err, StoreError::Corrupt { .. } | StoreError::NotAStore { .. }), "{case}: {err:?}");
    text
}

#[test]
fn healthy_file_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let (path, contents) = healthy_file(dir.path(), "ok.redb");
    open_and_read(&path, &contents).unwrap();
}

#[test]
fn truncated_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (case, cut) in
        [("half", None), ("10 bytes", Some(10)), ("0 bytes", Some(0)), ("one page short", Some(1))]
    {
        let (path, contents) = healthy_file(dir.path(), &format!("{}.redb", case.replace(' ', "-")));
        let len = std::fs::metadata(&path).unwrap().len();
        let new_len = match (case, cut) {
            ("half", _) => len / 2,
            ("one page short", _) => len - 4096,
            (_, Some(n)) => n,
            _ => unreachable!(),
        };
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(new_len).unwrap();
        let text = assert_refused(&path, &contents, case);
        eprintln!("{case}: {text}");
    }
}

/// Overwrites `len` bytes at `at` with pseudo-random bytes.
fn scribble(path: &Path, at: usize, len: usize, seed: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut rng = seed | 1;
    for b in &mut bytes[at..at + len] {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        *b = rng as u8;
    }
    std::fs::write(path, &bytes).unwrap();
}

fn find(haystack: &[u8], needle: &[u8]) -> usize {
    haystack.windows(needle.len()).position(|w| w == needle).expect("the record is in the file")
}

#[test]
fn overwritten_live_data_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // Where live records sit in a healthy file.
    let (probe, contents) = healthy_file(dir.path(), "probe.redb");
    let bytes = std::fs::read(&probe).unwrap();
    let code_at = find(&bytes, &contents.code[..64]) + 1000;
    let op_at = find(&bytes, &contents.ops[200].1.encode()) + 10;
    let state_at = find(&bytes, &[7u8; 40]);
    for (case, at, len) in [
        ("header", 0, 64),
        ("module code", code_at, 100),
        ("an op record", op_at, 16),
        ("a snapshot value", state_at, 8),
    ] {
        let (path, contents) = healthy_file(dir.path(), &format!("{}.redb", case.replace(' ', "-")));
        scribble(&path, at, len, at as u64);
        let text = assert_refused(&path, &contents, case);
        eprintln!("{case}: {text}");
    }
}

#[test]
fn without_verification_damaged_ops_and_code_are_still_refused_on_read() {
    let dir = tempfile::tempdir().unwrap();
    let (probe, contents) = healthy_file(dir.path(), "probe.redb");
    let bytes = std::fs::read(&probe).unwrap();
    let op_at = find(&bytes, &contents.ops[200].1.encode()) + 10;
    let code_at = find(&bytes, &contents.code[..64]) + 1000;
    let options = StoreOptions { verify_on_open: false, ..StoreOptions::default() };
    for (case, at) in [("op", op_at), ("code", code_at)] {
        let (path, contents) = healthy_file(dir.path(), &format!("unverified-{case}.redb"));
        scribble(&path, at, 16, 99);
        let store = Store::open_with(&path, &options).unwrap();
        let err = match case {
            "op" => store.iter_ops(&contents.partnership, 0, 64).find_map(Result::err),
            _ => store.get_code(&CodeHash::of(&contents.code)).err(),
        }
        .unwrap_or_else(|| panic!("{case}: damage went unnoticed"));
        assert!(err.to_string().contains(&path.display().to_string()), "{case}: {err}");
    }
}

#[test]
fn overwritten_bytes_anywhere_never_give_wrong_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut refused = 0;
    for (i, fraction) in [0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9].into_iter().enumerate() {
        let (path, contents) = healthy_file(dir.path(), &format!("overwritten-{i}.redb"));
        let len = std::fs::metadata(&path).unwrap().len() as f64;
        scribble(&path, (len * fraction) as usize, 512, i as u64 + 7);
        // Either refused with the file named, or (the bytes hit free space)
        // every record reads back exactly: `open_and_read` asserts that.
        if let Err(err) = open_and_read(&path, &contents) {
            assert!(err.to_string().contains(&path.display().to_string()), "{err}");
            refused += 1;
        }
    }
    assert!(refused >= 2, "most overwrites land in live pages ({refused} refused)");
}

#[test]
fn a_text_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).unwrap();
    let err = Store::open(&path).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(text.contains(&path.display().to_string()), "{text}");
    // Nothing was changed in the file.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "these are my notes, not a database\n".repeat(200));
    eprintln!("text: {text}");
}
