//! How figures are written for people and read back: amounts in an
//! asset's major units (`12,000.00`), times in UTC, durations, short ids;
//! and the exact parse of a typed amount back into minor units.
//!
//! The web console and the `polypact` CLI both print with it, so a figure
//! reads the same in a browser and in a terminal. It owns no state and
//! knows no module; amounts are plain `u128`s of minor units here (the
//! treasury's `Amount` is converted by the caller).

use std::fmt::Write as _;

/// `amount` minor units with `exponent` decimals, thousands grouped:
/// `format_amount(1_200_000, 2)` is `12,000.00`.
pub fn format_amount(amount: u128, exponent: u8) -> String {
    let digits = amount.to_string();
    let exponent = usize::from(exponent);
    let (whole, fraction) = if exponent == 0 {
        (digits, String::new())
    } else if digits.len() > exponent {
        let (w, f) = digits.split_at(digits.len() - exponent);
        (w.to_owned(), f.to_owned())
    } else {
        ("0".to_owned(), format!("{digits:0>exponent$}"))
    };
    let mut grouped = String::with_capacity(whole.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if fraction.is_empty() { grouped } else { format!("{grouped}.{fraction}") }
}

/// Parses an amount typed in major units (`12000`, `12,000.5`, `0.01`) into
/// minor units with `exponent` decimals, exactly (no floats). Refuses
/// signs, more decimals than the asset has, and values past `u128`.
pub fn parse_amount(text: &str, exponent: u8) -> Result<u128, String> {
    let cleaned: String = text.trim().chars().filter(|c| *c != ',' && *c != '_' && *c != ' ').collect();
    if cleaned.is_empty() {
        return Err("enter an amount".into());
    }
    let (whole, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
    let digits_only = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits_only(whole) || !digits_only(fraction) || (whole.is_empty() && fraction.is_empty()) {
        return Err(format!("{text:?} is not an amount: write digits, with at most one decimal point"));
    }
    if fraction.len() > usize::from(exponent) {
        return Err(format!("{text:?} has {} decimals; this asset has {exponent}", fraction.len()));
    }
    let padded = format!("{whole}{fraction:0<width$}", width = usize::from(exponent));
    let padded = padded.trim_start_matches('0');
    if padded.is_empty() {
        return Ok(0);
    }
    padded.parse::<u128>().map_err(|_| format!("{text:?} is too large"))
}

/// `time_ms` (Unix milliseconds) as `2026-11-01 14:03:07 UTC`.
pub fn format_time(time_ms: u64) -> String {
    let seconds = time_ms / 1000;
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX);
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, (rest / 60) % 60, rest % 60)
}

/// `time_ms` as a date only: `2026-11-01`.
pub fn format_date(time_ms: u64) -> String {
    let days = i64::try_from(time_ms / 86_400_000).unwrap_or(i64::MAX);
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// A duration in words: `45 s`, `3 min 5 s`, `2 h 10 min`, `4 days 3 h`.
pub fn format_duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        3600..86_400 => format!("{} h {} min", s / 3600, (s / 60) % 60),
        _ => format!("{} days {} h", s / 86_400, (s / 3600) % 24),
    }
}

/// When `then_ms` is, seen from `now_ms`: `in 3 min 5 s` or `12 s ago`.
pub fn relative(then_ms: u64, now_ms: u64) -> String {
    if then_ms >= now_ms {
        format!("in {}", format_duration(then_ms - now_ms))
    } else {
        format!("{} ago", format_duration(now_ms - then_ms))
    }
}

/// The first `n` characters of an id, for tables (the whole id goes in a
/// `title` attribute).
pub fn short(id: &str, n: usize) -> String {
    id.chars().take(n).collect()
}

/// A member id shortened for tables: `pm1qxy…7f3k`.
pub fn short_member(member: &str) -> String {
    let chars: Vec<char> = member.chars().collect();
    if chars.len() <= 14 {
        return member.to_owned();
    }
    let mut out: String = chars[..8].iter().collect();
    out.push('…');
    let _ = write!(out, "{}", chars[chars.len() - 4..].iter().collect::<String>());
    out
}

/// Basis points as a percentage: `6000` is `60%`, `3333` is `33.33%`.
pub fn percent_of(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let hundredths = u128::from(part) * 10_000 / u128::from(whole);
    if hundredths % 100 == 0 {
        format!("{}%", hundredths / 100)
    } else {
        format!("{}.{:02}%", hundredths / 100, hundredths % 100)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests may unwrap

    use super::*;

    #[test]
    fn amounts_print_with_their_exponent_and_groups() {
        assert_eq!(format_amount(1_200_000, 2), "12,000.00");
        assert_eq!(format_amount(5, 2), "0.05");
        assert_eq!(format_amount(0, 2), "0.00");
        assert_eq!(format_amount(1234, 0), "1,234");
        assert_eq!(format_amount(100, 0), "100");
        assert_eq!(format_amount(123_456_789, 3), "123,456.789");
    }

    #[test]
    fn typed_amounts_parse_exactly_or_are_refused() {
        assert_eq!(parse_amount("12,000.00", 2), Ok(1_200_000));
        assert_eq!(parse_amount("12000", 2), Ok(1_200_000));
        assert_eq!(parse_amount("0.5", 2), Ok(50));
        assert_eq!(parse_amount(".05", 2), Ok(5));
        assert_eq!(parse_amount("0", 2), Ok(0));
        assert_eq!(parse_amount("7", 0), Ok(7));
        assert!(parse_amount("1.234", 2).unwrap_err().contains("3 decimals"));
        assert!(parse_amount("-5", 2).is_err());
        assert!(parse_amount("1e3", 2).is_err());
        assert!(parse_amount("", 2).is_err());
        assert!(parse_amount(".", 2).is_err());
        assert!(parse_amount("1.2.3", 2).is_err());
        assert!(
            parse_amount("999999999999999999999999999999999999999999", 2).unwrap_err().contains("too large")
        );
    }

    #[test]
    fn times_are_utc_calendar_dates() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(format_time(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(format_time(1_700_000_000_123), "2023-11-14 22:13:20 UTC");
        assert_eq!(format_date(1_700_000_000_123), "2023-11-14");
    }

    #[test]
    fn durations_and_relative_times_read_naturally() {
        assert_eq!(format_duration(45_000), "45 s");
        assert_eq!(format_duration(185_000), "3 min 5 s");
        assert_eq!(format_duration(7_800_000), "2 h 10 min");
        assert_eq!(relative(10_000, 4_000), "in 6 s");
        assert_eq!(relative(4_000, 10_000), "6 s ago");
    }

    #[test]
    fn ids_shorten_and_percentages_round_down() {
        assert_eq!(short_member("pm1qqqqqqqqqqqqqqqqqqqqqqq7f3k"), "pm1qqqqq…7f3k");
        assert_eq!(short_member("pm1short"), "pm1short");
        assert_eq!(percent_of(60, 100), "60%");
        assert_eq!(percent_of(1, 3), "33.33%");
        assert_eq!(percent_of(1, 0), "0%");
    }
}
