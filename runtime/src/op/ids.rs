//! Identifiers and their text forms.
//!
//! A [`MemberId`] is an ed25519 public key; its text form is bech32m with the
//! human-readable prefix `pm` (for example `pm1q…`), so a mistyped character
//! is caught by the checksum instead of naming somebody else. [`OpId`],
//! [`PartnershipId`] and [`CodeHash`] are BLAKE3 hashes written as 64 lower-case
//! hex digits. A partnership that is a *member* of another is written as
//! bech32m with the prefix `pp` ([`PartnershipId::to_member_text`]), so
//! modules and people tell the two kinds of member apart at a glance.

use std::fmt;
use std::str::FromStr;

use bech32::{Bech32m, Hrp, primitives::decode::CheckedHrpstring};
use serde::{Deserialize, Serialize};

use super::error::IdParseError;

/// The human-readable prefix of a member id's text form.
pub const MEMBER_HRP: &str = "pm";

/// The human-readable prefix of a partnership's text form as a member of
/// another partnership (`pp1…`).
pub const PARTNERSHIP_HRP: &str = "pp";

/// A partnership member: an ed25519 public key (32 bytes).
///
/// Displayed and parsed as bech32m with the prefix `pm`. Ordering is by the
/// key bytes, which is what every deterministic iteration uses.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct MemberId(pub [u8; 32]);

impl MemberId {
    /// The raw public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hrp = Hrp::parse_unchecked(MEMBER_HRP);
        bech32::encode_lower_to_fmt::<Bech32m, _>(f, hrp, &self.0).map_err(|_| fmt::Error)
    }
}

impl fmt::Debug for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemberId({self})")
    }
}

impl FromStr for MemberId {
    type Err = IdParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let checked = CheckedHrpstring::new::<Bech32m>(text).map_err(|e| IdParseError::Member {
            input: text.to_owned(),
            reason: format!("not valid bech32m ({e}); check for a mistyped or missing character"),
        })?;
        if checked.hrp().as_str() != MEMBER_HRP {
            return Err(IdParseError::Member {
                input: text.to_owned(),
                reason: format!("prefix is `{}`, a member id starts with `{MEMBER_HRP}1`", checked.hrp()),
            });
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| IdParseError::Member {
            input: text.to_owned(),
            reason: format!("holds {} bytes, a member id holds 32", bytes.len()),
        })?;
        Ok(MemberId(key))
    }
}

macro_rules! hash_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
        pub struct $name(pub [u8; 32]);

        impl $name {
            /// The raw hash bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }

            /// Lower-case hex, 64 digits.
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }

            /// The first 8 hex digits, for logs and tables.
            pub fn short(&self) -> String {
                hex::encode(&self.0[..4])
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.short())
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                let text = text.trim();
                let mut bytes = [0u8; 32];
                hex::decode_to_slice(text, &mut bytes).map_err(|e| IdParseError::Hash {
                    what: $what,
                    input: text.to_owned(),
                    reason: format!("{e}; expected 64 hex digits"),
                })?;
                Ok($name(bytes))
            }
        }
    };
}

hash_id!(
    /// An op's id: the BLAKE3 hash of its canonical unsigned encoding.
    OpId,
    "op id"
);
hash_id!(
    /// A partnership's id: the id of its genesis op.
    PartnershipId,
    "partnership id"
);
hash_id!(
    /// A module's code hash: the BLAKE3 hash of its WASM bytes.
    CodeHash,
    "code hash"
);

impl PartnershipId {
    /// The partnership as a member of another: bech32m with the prefix
    /// `pp` (`pp1…`). This is the caller modules see on a message from
    /// this partnership, and what a membership module records.
    pub fn to_member_text(&self) -> String {
        let hrp = Hrp::parse_unchecked(PARTNERSHIP_HRP);
        let mut out = String::new();
        // Writing 32 bytes with a valid prefix into a String cannot fail.
        let _ = bech32::encode_lower_to_fmt::<Bech32m, _>(&mut out, hrp, &self.0);
        out
    }

    /// Parses either text form: 64 hex digits or `pp1…`.
    pub fn parse_any(text: &str) -> Result<Self, IdParseError> {
        let text = text.trim();
        if !text.starts_with(PARTNERSHIP_HRP) {
            return text.parse();
        }
        let invalid =
            |reason: String| IdParseError::Hash { what: "partnership id", input: text.to_owned(), reason };
        let checked = CheckedHrpstring::new::<Bech32m>(text).map_err(|e| {
            invalid(format!("not valid bech32m ({e}); check for a mistyped or missing character"))
        })?;
        if checked.hrp().as_str() != PARTNERSHIP_HRP {
            return Err(invalid(format!("prefix is `{}`, expected `{PARTNERSHIP_HRP}1`", checked.hrp())));
        }
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let id: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| invalid(format!("holds {} bytes, a partnership id holds 32", bytes.len())))?;
        Ok(PartnershipId(id))
    }
}

impl CodeHash {
    /// The code hash of `wasm`.
    pub fn of(wasm: &[u8]) -> Self {
        CodeHash(*blake3::hash(wasm).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_id_round_trips() {
        let id = MemberId([7u8; 32]);
        let text = id.to_string();
        assert!(text.starts_with("pm1"), "{text}");
        assert_eq!(text.parse::<MemberId>().expect("parses"), id);
    }

    #[test]
    fn member_id_typo_is_caught() {
        let text = MemberId([9u8; 32]).to_string();
        let mut chars: Vec<char> = text.chars().collect();
        let i = chars.len() / 2;
        chars[i] = if chars[i] == 'q' { 'p' } else { 'q' };
        let typo: String = chars.into_iter().collect();
        let err = typo.parse::<MemberId>().expect_err("typo must not parse");
        assert!(err.to_string().contains("mistyped"), "{err}");
    }

    #[test]
    fn member_id_wrong_prefix_and_length() {
        let hrp = Hrp::parse_unchecked("xx");
        let other = bech32::encode::<Bech32m>(hrp, &[1u8; 32]).expect("encodes");
        assert!(other.parse::<MemberId>().expect_err("prefix").to_string().contains("prefix"));
        let hrp = Hrp::parse_unchecked(MEMBER_HRP);
        let short = bech32::encode::<Bech32m>(hrp, &[1u8; 31]).expect("encodes");
        assert!(short.parse::<MemberId>().expect_err("len").to_string().contains("31 bytes"));
    }

    #[test]
    fn partnership_member_text_round_trips_and_is_not_a_member_id() {
        let id = PartnershipId([3u8; 32]);
        let text = id.to_member_text();
        assert!(text.starts_with("pp1"), "{text}");
        assert_eq!(PartnershipId::parse_any(&text).expect("parses"), id);
        assert_eq!(PartnershipId::parse_any(&id.to_hex()).expect("hex parses"), id);
        assert!(text.parse::<MemberId>().is_err());
        assert!(PartnershipId::parse_any(&MemberId([3u8; 32]).to_string()).is_err());
        let mut typo: Vec<char> = text.chars().collect();
        let i = typo.len() / 2;
        typo[i] = if typo[i] == 'q' { 'p' } else { 'q' };
        assert!(PartnershipId::parse_any(&typo.into_iter().collect::<String>()).is_err());
    }

    #[test]
    fn hash_ids_round_trip_and_reject_garbage() {
        let id = OpId([0xab; 32]);
        assert_eq!(id.to_string().parse::<OpId>().expect("parses"), id);
        assert!("abc".parse::<OpId>().is_err());
        assert!("zz".repeat(32).parse::<CodeHash>().is_err());
    }
}
