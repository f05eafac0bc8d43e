//! Map keys: an order-preserving, prefix-free byte encoding.
//!
//! This file owns [`MapKey`] and its implementations. The host orders keys
//! by their bytes, so a [`Map`](crate::Map) iterates in the *natural* order of
//! its keys only if the encoding preserves order; and a composite key
//! `(a, b)` works only if no encoding of `a` is a prefix of another. The
//! encodings here have both properties:
//!
//! | key | bytes |
//! |---|---|
//! | `u8`…`u128` | big-endian, fixed width |
//! | `i8`…`i128` | big-endian with the sign bit flipped (so `-1 < 0`) |
//! | `&str`, `String`, `&[u8]`, `Vec<u8>` | the bytes with `0x00` escaped as `0x00 0xFF`, then `0x00 0x00` |
//! | `(A, B)`, `(A, B, C)` | the encodings one after the other |
//!
//! It does not own where keys live in the module's namespace (see
//! `storage.rs`).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::Error;

/// A type usable as a [`Map`](crate::Map) key.
///
/// The encoding must be order-preserving (`a < b` iff `encode(a) <
/// encode(b)`), prefix-free (no encoding is a proper prefix of another) and
/// deterministic. Implement it for your own key types by delegating to these
/// implementations (e.g. a newtype around `u64`).
pub trait MapKey {
    /// What iteration yields for this key (owned: `String` for `&str`).
    type Output;

    /// Appends this key's encoding to `out`.
    fn encode_key(&self, out: &mut Vec<u8>);

    /// Decodes one key from the front of `bytes`, advancing it past the key.
    fn decode_key(bytes: &mut &[u8]) -> Result<Self::Output, Error>;
}

fn malformed(what: &str) -> Error {
    Error::decode("stored map key", alloc::format!("not a valid {what} key encoding"))
}

macro_rules! unsigned_key {
    ($($t:ty),*) => {$(
        impl MapKey for $t {
            type Output = $t;
            fn encode_key(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode_key(bytes: &mut &[u8]) -> Result<$t, Error> {
                const N: usize = core::mem::size_of::<$t>();
                let (head, rest) = bytes.split_first_chunk::<N>().ok_or_else(|| malformed(stringify!($t)))?;
                *bytes = rest;
                Ok(<$t>::from_be_bytes(*head))
            }
        }
    )*};
}
unsigned_key!(u8, u16, u32, u64, u128);

macro_rules! signed_key {
    ($($t:ty => $u:ty),*) => {$(
        impl MapKey for $t {
            type Output = $t;
            fn encode_key(&self, out: &mut Vec<u8>) {
                // Flipping the sign bit maps i::MIN..=i::MAX onto 0..=u::MAX in order.
                let flipped = (*self as $u) ^ (1 << (<$u>::BITS - 1));
                out.extend_from_slice(&flipped.to_be_bytes());
            }
            fn decode_key(bytes: &mut &[u8]) -> Result<$t, Error> {
                let flipped = <$u as MapKey>::decode_key(bytes).map_err(|_| malformed(stringify!($t)))?;
                Ok((flipped ^ (1 << (<$u>::BITS - 1))) as $t)
            }
        }
    )*};
}
signed_key!(i8 => u8, i16 => u16, i32 => u32, i64 => u64, i128 => u128);

/// Escapes `0x00` as `0x00 0xFF` and terminates with `0x00 0x00`.
fn encode_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 0]);
}

fn decode_bytes(bytes: &mut &[u8]) -> Result<Vec<u8>, Error> {
    let mut value = Vec::new();
    let mut i = 0;
    loop {
        match bytes.get(i..i + 2) {
            Some([0, 0]) => {
                *bytes = &bytes[i + 2..];
                return Ok(value);
            }
            Some([0, 0xFF]) => {
                value.push(0);
                i += 2;
            }
            Some([0, _]) => return Err(malformed("string")),
            _ => match bytes.get(i) {
                Some(&b) if b != 0 => {
                    value.push(b);
                    i += 1;
                }
                _ => return Err(malformed("string")),
            },
        }
    }
}

impl MapKey for &str {
    type Output = String;
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_bytes(self.as_bytes(), out)
    }
    fn decode_key(bytes: &mut &[u8]) -> Result<String, Error> {
        String::from_utf8(decode_bytes(bytes)?).map_err(|_| malformed("string"))
    }
}

impl MapKey for String {
    type Output = String;
    fn encode_key(&self, out: &mut Vec<u8>) {
        self.as_str().encode_key(out)
    }
    fn decode_key(bytes: &mut &[u8]) -> Result<String, Error> {
        <&str>::decode_key(bytes)
    }
}

impl MapKey for &[u8] {
    type Output = Vec<u8>;
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_bytes(self, out)
    }
    fn decode_key(bytes: &mut &[u8]) -> Result<Vec<u8>, Error> {
        decode_bytes(bytes)
    }
}

impl MapKey for Vec<u8> {
    type Output = Vec<u8>;
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_bytes(self, out)
    }
    fn decode_key(bytes: &mut &[u8]) -> Result<Vec<u8>, Error> {
        decode_bytes(bytes)
    }
}

impl<A: MapKey, B: MapKey> MapKey for (A, B) {
    type Output = (A::Output, B::Output);
    fn encode_key(&self, out: &mut Vec<u8>) {
        self.0.encode_key(out);
        self.1.encode_key(out);
    }
    fn decode_key(bytes: &mut &[u8]) -> Result<Self::Output, Error> {
        Ok((A::decode_key(bytes)?, B::decode_key(bytes)?))
    }
}

impl<A: MapKey, B: MapKey, C: MapKey> MapKey for (A, B, C) {
    type Output = (A::Output, B::Output, C::Output);
    fn encode_key(&self, out: &mut Vec<u8>) {
        self.0.encode_key(out);
        self.1.encode_key(out);
        self.2.encode_key(out);
    }
    fn decode_key(bytes: &mut &[u8]) -> Result<Self::Output, Error> {
        Ok((A::decode_key(bytes)?, B::decode_key(bytes)?, C::decode_key(bytes)?))
    }
}

/// Decodes a whole key: all of `bytes`, nothing left over.
pub(crate) fn decode_exact<K: MapKey>(mut bytes: &[u8]) -> Result<K::Output, Error> {
    let key = K::decode_key(&mut bytes)?;
    if bytes.is_empty() {
        Ok(key)
    } else {
        Err(Error::decode(
            "stored map key",
            "bytes left over after the key (is another map using this name?)",
        ))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloc::vec;

    fn enc<K: MapKey>(k: K) -> Vec<u8> {
        let mut out = Vec::new();
        k.encode_key(&mut out);
        out
    }

    #[test]
    fn integers_round_trip_and_keep_order() {
        let values = [0u64, 1, 255, 256, u64::MAX - 1, u64::MAX];
        for w in values.windows(2) {
            assert!(enc(w[0]) < enc(w[1]));
        }
        for v in values {
            assert_eq!(decode_exact::<u64>(&enc(v)).unwrap(), v);
        }
        let signed = [i64::MIN, -2, -1, 0, 1, i64::MAX];
        for w in signed.windows(2) {
            assert!(enc(w[0]) < enc(w[1]), "{} < {}", w[0], w[1]);
        }
        for v in signed {
            assert_eq!(decode_exact::<i64>(&enc(v)).unwrap(), v);
        }
        assert_eq!(enc(1u32), vec![0, 0, 0, 1]);
    }

    #[test]
    fn strings_keep_order_and_are_prefix_free() {
        let values = ["", "\0", "\0\0", "\0a", "a", "a\0", "a\0b", "ab", "b", "é"];
        for w in values.windows(2) {
            assert!(enc(w[0]) < enc(w[1]), "{:?} < {:?}", w[0], w[1]);
        }
        for a in values {
            assert_eq!(decode_exact::<&str>(&enc(a)).unwrap(), a);
            for b in values {
                if a != b {
                    assert!(!enc(b).starts_with(&enc(a)), "{a:?} is a prefix of {b:?}");
                }
            }
        }
    }

    #[test]
    fn tuples_order_by_first_then_second() {
        let keys = [("a", 2u64), ("a", 10), ("ab", 0), ("b", 1)];
        for w in keys.windows(2) {
            assert!(enc(w[0]) < enc(w[1]));
        }
        let bytes = enc(("a\0b", 7u64));
        assert_eq!(decode_exact::<(&str, u64)>(&bytes).unwrap(), ("a\0b".into(), 7));
        assert_eq!(decode_exact::<(u8, String, i32)>(&enc((1u8, "x", -3i32))).unwrap(), (1, "x".into(), -3));
    }

    #[test]
    fn malformed_keys_are_errors() {
        assert!(decode_exact::<u64>(&[1, 2, 3]).is_err());
        assert!(decode_exact::<&str>(b"abc").is_err()); // no terminator
        assert!(decode_exact::<&str>(&[b'a', 0, 7]).is_err()); // bad escape
        assert!(decode_exact::<&str>(&[0xC3, 0, 0]).is_err()); // not UTF-8
        assert!(decode_exact::<u8>(&[1, 2]).is_err()); // left over
    }
}
