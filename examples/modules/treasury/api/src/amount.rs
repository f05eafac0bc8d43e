//! Amounts: exact integers of minor units, and how they cross JSON.
//!
//! This file owns [`Amount`] (a `u128` of minor units: cents for EUR with
//! exponent 2) and its JSON form. It does not own arithmetic rules (callers
//! use checked operations) or what an asset is (`lib.rs`).
//!
//! # JSON
//!
//! An amount is a JSON integer from 0 to 18446744073709551615 (`u64::MAX`,
//! the largest integer a JSON number carries exactly through `serde_json`
//! without floats), or a decimal string of digits for any value up to
//! `u128::MAX` (`"340282366920938463463374607431768211455"`). Answers use
//! the same rule: a number up to `u64::MAX`, a string above it, so every
//! amount the module writes reads back unchanged. Negative numbers,
//! fractions, exponents (`1e3`) and strings that are not plain digits are
//! refused with an error that says so; no float ever becomes an amount.

use core::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An exact amount of minor units (e.g. cents).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(pub u128);

impl Amount {
    /// Zero.
    pub const ZERO: Amount = Amount(0);

    /// The value.
    pub fn get(self) -> u128 {
        self.0
    }
}

impl From<u128> for Amount {
    fn from(v: u128) -> Self {
        Amount(v)
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match u64::try_from(self.0) {
            Ok(small) => serializer.serialize_u64(small),
            Err(_) => serializer.collect_str(&self.0),
        }
    }
}

const FRACTION: &str = "amounts are whole numbers of minor units (1.50 EUR with exponent 2 is 150): \
    write a JSON integer up to 18446744073709551615, or a decimal string of digits for larger amounts; \
    got a fraction, an exponent, or an integer too large for a JSON number";

struct AmountVisitor;

impl Visitor<'_> for AmountVisitor {
    type Value = Amount;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an amount: a non-negative integer of minor units, or a decimal string of digits")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Amount, E> {
        Ok(Amount(u128::from(v)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Amount, E> {
        Ok(Amount(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Amount, E> {
        u128::try_from(v)
            .map(Amount)
            .map_err(|_| E::custom(format_args!("amounts must not be negative, got {v}")))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Amount, E> {
        u128::try_from(v)
            .map(Amount)
            .map_err(|_| E::custom(format_args!("amounts must not be negative, got {v}")))
    }

    fn visit_f64<E: de::Error>(self, _v: f64) -> Result<Amount, E> {
        // The value is never used: any float is refused.
        Err(E::custom(FRACTION))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Amount, E> {
        parse_digits(v).map_err(E::custom)
    }
}

/// Parses a decimal string of digits as an amount.
pub fn parse_digits(v: &str) -> Result<Amount, String> {
    if let Some(rest) = v.strip_prefix('-')
        && !rest.is_empty()
    {
        return Err(format!("amounts must not be negative, got \"{v}\""));
    }
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "an amount string must be decimal digits only (no sign, point, spaces or exponent), got {v:?}"
        ));
    }
    v.parse::<u128>()
        .map(Amount)
        .map_err(|_| format!("amount {v} exceeds the largest amount, {} (u128::MAX)", u128::MAX))
}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Amount, D::Error> {
        deserializer.deserialize_any(AmountVisitor)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Amount, String> {
        serde_json::from_str::<Amount>(json).map_err(|e| format!("{e}"))
    }

    #[test]
    fn accepts_integers_and_digit_strings() {
        assert_eq!(parse("0").unwrap(), Amount(0));
        assert_eq!(parse("18446744073709551615").unwrap(), Amount(u128::from(u64::MAX)));
        assert_eq!(parse("\"340282366920938463463374607431768211455\"").unwrap(), Amount(u128::MAX));
    }

    #[test]
    fn refuses_negative_fractional_and_overflowing_amounts() {
        assert!(parse("-5").unwrap_err().contains("must not be negative, got -5"));
        assert!(parse("\"-5\"").unwrap_err().contains("must not be negative"));
        assert!(parse("1.5").unwrap_err().contains("whole numbers of minor units"));
        assert!(parse("1e3").unwrap_err().contains("whole numbers of minor units"));
        assert!(parse("18446744073709551616").unwrap_err().contains("too large for a JSON number"));
        assert!(
            parse("\"340282366920938463463374607431768211456\"")
                .unwrap_err()
                .contains("exceeds the largest amount")
        );
        assert!(parse("\"1.5\"").unwrap_err().contains("decimal digits only"));
        assert!(parse("\"\"").unwrap_err().contains("decimal digits only"));
        assert!(parse("true").is_err());
    }

    #[test]
    fn round_trips_through_json() {
        for v in [0, 1, u128::from(u64::MAX), u128::from(u64::MAX) + 1, u128::MAX] {
            let json = serde_json::to_string(&Amount(v)).unwrap();
            assert_eq!(serde_json::from_str::<Amount>(&json).unwrap(), Amount(v));
        }
        assert_eq!(serde_json::to_string(&Amount(7)).unwrap(), "7");
        assert_eq!(
            serde_json::to_string(&Amount(u128::MAX)).unwrap(),
            "\"340282366920938463463374607431768211455\""
        );
    }
}
