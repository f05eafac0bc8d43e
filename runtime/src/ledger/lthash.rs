//! The incremental state commitment: a lattice hash (LtHash).
//!
//! Each `(key, value)` pair is expanded by BLAKE3's extendable output into
//! 1,024 16-bit lanes; the state's lattice is the lane-wise sum (mod 2^16) of
//! all its pairs. Adding or removing a pair is one expansion and one vector
//! add or subtract, independent of the state's size, and the result does not
//! depend on the order of writes, so every node reaches the same lattice for
//! the same state whatever path it took. The state root is BLAKE3 of the
//! lattice. This is the construction of Bellare–Micciancio's LtHash as used
//! for account-state commitments in production systems (2,048-byte lattice).

/// Number of 16-bit lanes.
const LANES: usize = 1024;

/// A lattice hash of a multiset of `(key, value)` pairs.
#[derive(Clone, PartialEq, Eq)]
pub struct LtHash {
    lanes: Box<[u16; LANES]>,
}

impl Default for LtHash {
    fn default() -> Self {
        LtHash { lanes: Box::new([0; LANES]) }
    }
}

impl std::fmt::Debug for LtHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LtHash({})", hex::encode(&self.root()[..8]))
    }
}

fn expand(key: &[u8], value: &[u8]) -> [u16; LANES] {
    let mut hasher = blake3::Hasher::new();
    hasher.update(&(key.len() as u64).to_le_bytes());
    hasher.update(key);
    hasher.update(value);
    let mut bytes = [0u8; LANES * 2];
    hasher.finalize_xof().fill(&mut bytes);
    let mut lanes = [0u16; LANES];
    for (lane, pair) in lanes.iter_mut().zip(bytes.chunks_exact(2)) {
        *lane = u16::from_le_bytes([pair[0], pair[1]]);
    }
    lanes
}

impl LtHash {
    /// Adds a pair.
    pub fn insert(&mut self, key: &[u8], value: &[u8]) {
        let element = expand(key, value);
        for (lane, e) in self.lanes.iter_mut().zip(element.iter()) {
            *lane = lane.wrapping_add(*e);
        }
    }

    /// Removes a pair that was added.
    pub fn remove(&mut self, key: &[u8], value: &[u8]) {
        let element = expand(key, value);
        for (lane, e) in self.lanes.iter_mut().zip(element.iter()) {
            *lane = lane.wrapping_sub(*e);
        }
    }

    /// The root of a state holding exactly `pairs` (each key once): what
    /// a ledger's state with those pairs commits to, whatever writes led
    /// there. For checks outside a ledger, such as a store's scrub.
    pub fn root_of(pairs: &[(Vec<u8>, Vec<u8>)]) -> [u8; 32] {
        let mut lattice = LtHash::default();
        for (key, value) in pairs {
            lattice.insert(key, value);
        }
        lattice.root()
    }

    /// The 32-byte commitment.
    pub fn root(&self) -> [u8; 32] {
        let mut hasher = blake3::Hasher::new();
        for lane in self.lanes.iter() {
            hasher.update(&lane.to_le_bytes());
        }
        *hasher.finalize().as_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_independent_and_removable() {
        let mut a = LtHash::default();
        a.insert(b"k1", b"v1");
        a.insert(b"k2", b"v2");
        let mut b = LtHash::default();
        b.insert(b"k2", b"v2");
        b.insert(b"k1", b"v1");
        assert_eq!(a.root(), b.root());
        b.remove(b"k2", b"v2");
        let mut c = LtHash::default();
        c.insert(b"k1", b"v1");
        assert_eq!(b.root(), c.root());
        assert_ne!(a.root(), c.root());
    }

    #[test]
    fn key_value_boundary_matters() {
        let mut a = LtHash::default();
        a.insert(b"ab", b"c");
        let mut b = LtHash::default();
        b.insert(b"a", b"bc");
        assert_ne!(a.root(), b.root());
    }
}
