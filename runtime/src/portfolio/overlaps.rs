//! Overlaps: the same counterparty in more than one of the member's live
//! partnerships (those not dissolved and that the member has not left).
//!
//! Two kinds of counterparty are compared: the other participants (by
//! member id), and the counterparties named in treasury entries (clients,
//! vendors, payees: free text, so names are compared case-insensitively
//! with runs of spaces as one, and a name with no letter or digit, such as
//! `-`, names nobody).
//!
//! A charter's exclusivity terms would be a third kind, but no standard
//! module declares any (the term module has none), so none are compared.
//! This file owns the comparison; what each partnership holds is read by
//! `gather`.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A counterparty found in more than one partnership.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Overlap {
    /// What kind of counterparty.
    pub kind: OverlapKind,
    /// A member id, or a counterparty's name (its first spelling, in
    /// byte order, among those that compare equal).
    pub counterparty: String,
    /// The partnerships it appears in (ids), sorted.
    pub partnerships: Vec<String>,
}

/// What kind of counterparty an [`Overlap`] is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum OverlapKind {
    /// Another participant (a member id).
    Member,
    /// A counterparty named in treasury entries.
    TreasuryCounterparty,
}

/// What one partnership holds, as the comparison needs it.
#[derive(Clone, Debug, Default)]
pub struct Parties {
    /// The partnership's id.
    pub partnership: String,
    /// The other participants (member ids).
    pub members: Vec<String>,
    /// Counterparties named in its treasury entries.
    pub counterparties: Vec<String>,
}

/// How a counterparty's name is compared, or `None` if it names nobody.
pub fn name_key(name: &str) -> Option<String> {
    if !name.chars().any(char::is_alphanumeric) {
        return None;
    }
    Some(name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase())
}

/// The overlaps among `partnerships`, by kind, then counterparty.
pub fn find(partnerships: &[Parties]) -> Vec<Overlap> {
    // (kind, key) → (display name, partnerships)
    let mut seen: BTreeMap<(OverlapKind, String), (String, BTreeSet<String>)> = BTreeMap::new();
    for p in partnerships {
        for member in &p.members {
            let entry = seen
                .entry((OverlapKind::Member, member.clone()))
                .or_insert_with(|| (member.clone(), BTreeSet::new()));
            entry.1.insert(p.partnership.clone());
        }
        for name in &p.counterparties {
            let Some(key) = name_key(name) else { continue };
            let display = name.trim().to_owned();
            let entry = seen
                .entry((OverlapKind::TreasuryCounterparty, key))
                .or_insert_with(|| (display.clone(), BTreeSet::new()));
            if display < entry.0 {
                entry.0 = display;
            }
            entry.1.insert(p.partnership.clone());
        }
    }
    seen.into_iter()
        .filter(|(_, (_, found))| found.len() > 1)
        .map(|((kind, _), (counterparty, found))| Overlap {
            kind,
            counterparty,
            partnerships: found.into_iter().collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parties(id: &str, members: &[&str], counterparties: &[&str]) -> Parties {
        Parties {
            partnership: id.into(),
            members: members.iter().map(|s| (*s).to_owned()).collect(),
            counterparties: counterparties.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn members_and_named_counterparties_in_two_or_more_partnerships_overlap() {
        let found = find(&[
            parties("p3", &["pm1b", "pm1c"], &["Broadcaster", "-"]),
            parties("p1", &["pm1b", "pm1d"], &["broadcaster ", "Render  Farm"]),
            parties("p2", &["pm1b", "pm1c", "pm1e"], &["render farm", "", "-"]),
        ]);
        let summary: Vec<(OverlapKind, &str, Vec<&str>)> = found
            .iter()
            .map(|o| (o.kind, o.counterparty.as_str(), o.partnerships.iter().map(String::as_str).collect()))
            .collect();
        assert_eq!(
            summary,
            vec![
                (OverlapKind::Member, "pm1b", vec!["p1", "p2", "p3"]),
                (OverlapKind::Member, "pm1c", vec!["p2", "p3"]),
                (OverlapKind::TreasuryCounterparty, "Broadcaster", vec!["p1", "p3"]),
                (OverlapKind::TreasuryCounterparty, "Render  Farm", vec!["p1", "p2"]),
            ]
        );
    }

    #[test]
    fn one_partnership_has_no_overlap_with_itself() {
        assert!(find(&[parties("p1", &["pm1b"], &["Acme", "ACME"])]).is_empty());
        assert_eq!(name_key("  Acme   GmbH "), Some("acme gmbh".into()));
        assert_eq!(name_key("—"), None);
    }
}
