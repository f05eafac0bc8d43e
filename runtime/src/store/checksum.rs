//! Checksums on the store's own records, so a damaged one is refused when
//! it is read, without a check of the whole file at open.
//!
//! redb checks its pages' checksums only when asked to check the whole file
//! ([`StoreOptions::verify_on_open`](super::StoreOptions::verify_on_open)),
//! which reads every page and so grows with history. Most of what the
//! store holds checks itself on every read: an op against its id, module
//! code against its hash, a final state against the root saved with it.
//! Every other record the node acts on carries a [`LEN`]-byte checksum
//! after its value: the ledger's saved summary (`final_meta`), the archived
//! op index (its horizon, runs and blocks), compaction records and their
//! tombstones, resting marks, and the list of partnerships. A read checks
//! it before it decodes anything, so damage is refused there with
//! [`StoreError::Corrupt`](super::StoreError::Corrupt) naming the file,
//! like damage found by redb.
//!
//! The checksum covers the table's name and the record's key with the
//! value: a value that lands under another key or in another table (a
//! damaged page pointer) does not check. It is a CRC-32 (`crc32fast`),
//! as RocksDB puts a CRC-32C on each block: a check against damage, which
//! it finds with certainty for any burst up to 32 bits and otherwise but
//! once in 2^32, not a seal against someone who can write the file, who
//! could rewrite ops and keys alike. A cryptographic hash buys nothing
//! here and cost 37 times as much: BLAKE3 took 4.8 µs per 5 KB archive
//! block on this machine against 0.13 µs, and an archived lookup checks a
//! block in each run it probes.
//!
//! This file owns the checksum's layout; which records carry one is each
//! table's file's business (see `tables.rs`).

/// Bytes of the checksum at the end of a checked value.
pub(crate) const LEN: usize = 4;

/// The checksum of `value` stored under `key` in `table`: CRC-32 of the
/// table's name and the key, each after its length, then the value.
fn checksum(table: &str, key: &[u8], value: &[u8]) -> [u8; LEN] {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&(table.len() as u64).to_be_bytes());
    hasher.update(table.as_bytes());
    hasher.update(&(key.len() as u64).to_be_bytes());
    hasher.update(key);
    hasher.update(value);
    hasher.finalize().to_be_bytes()
}

/// `value ‖ checksum`: what the store writes under `key` in `table`.
pub(crate) fn seal(table: &str, key: &[u8], value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + LEN);
    out.extend_from_slice(value);
    out.extend_from_slice(&checksum(table, key, value));
    out
}

/// The value of a record read from `key` in `table`, once its checksum
/// checks; otherwise what is wrong, for an error that names the record.
pub(crate) fn open<'v>(table: &str, key: &[u8], stored: &'v [u8]) -> Result<&'v [u8], String> {
    let Some(split) = stored.len().checked_sub(LEN) else {
        return Err(format!(
            "a record of {} bytes in `{table}` is too short to hold its checksum",
            stored.len()
        ));
    };
    let (value, found) = stored.split_at(split);
    if found != checksum(table, key, value) {
        return Err(format!("a record in `{table}` does not match its checksum: it was damaged"));
    }
    Ok(value)
}

/// The checksum of a record that is all key (a list), as the `u64` value
/// stored with it: [`seal`]'s checksum of no value.
pub(crate) fn of_key(table: &str, key: &[u8]) -> u64 {
    u64::from(u32::from_be_bytes(checksum(table, key, &[])))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap
    use super::*;

    #[test]
    fn a_sealed_value_opens_under_its_own_key_and_table_only() {
        let sealed = seal("final_meta", b"key", b"value");
        assert_eq!(sealed.len(), 5 + LEN);
        assert_eq!(open("final_meta", b"key", &sealed), Ok(&b"value"[..]));
        assert!(open("final_meta", b"kez", &sealed).unwrap_err().contains("checksum"));
        assert!(open("resting", b"key", &sealed).unwrap_err().contains("`resting`"));
        let empty = seal("t", b"", b"");
        assert_eq!(open("t", b"", &empty), Ok(&b""[..]));
    }

    #[test]
    fn every_damaged_byte_and_every_cut_is_refused() {
        let sealed = seal("archived_id_blocks", &[7; 72], &[3; 200]);
        for at in 0..sealed.len() {
            for flip in [0x01, 0x80] {
                let mut damaged = sealed.clone();
                damaged[at] ^= flip;
                assert!(open("archived_id_blocks", &[7; 72], &damaged).is_err(), "byte {at} ^ {flip:#x}");
            }
        }
        for len in 0..sealed.len() {
            assert!(open("archived_id_blocks", &[7; 72], &sealed[..len]).is_err(), "cut to {len}");
        }
        assert!(open("t", b"k", &[0; LEN - 1]).unwrap_err().contains("too short"));
    }

    #[test]
    fn the_table_and_key_are_framed_so_their_bytes_cannot_move_between_them() {
        // "ab" + "c" and "a" + "bc" must not share a checksum.
        assert_ne!(checksum("ab", b"c", b""), checksum("a", b"bc", b""));
        assert_ne!(checksum("t", b"ab", b"c"), checksum("t", b"a", b"bc"));
        assert_ne!(of_key("partnerships", &[1; 32]), of_key("partnerships", &[2; 32]));
    }
}
