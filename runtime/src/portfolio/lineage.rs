//! Parents and children: which partnership a partnership was spawned from,
//! and which of the node's partnerships were spawned from it.
//!
//! A partnership's parent is read in one place, [`parent_of`]: the
//! charter's `parent` link, which a spawned partnership carries with its
//! parent's certificate (checked by every ledger that creates it).
//! [`lineage`] derives
//! the children from the parents: a partnership's children are the
//! partnerships on this node whose parent it is, so a child the node does
//! not hold is not listed, while a parent the node does not hold still is.

use std::collections::BTreeMap;

use crate::node::PartnershipInfo;
use crate::op::PartnershipId;

/// A partnership's place among the node's partnerships.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lineage {
    /// The partnership it was spawned from, if it records one.
    pub parent: Option<PartnershipId>,
    /// The node's partnerships spawned from it, sorted.
    pub children: Vec<PartnershipId>,
}

/// The partnership `info` was spawned from, if it was spawned: its
/// charter's parent link. The one place a parent is read from.
pub fn parent_of(info: &PartnershipInfo) -> Option<PartnershipId> {
    info.charter.parent.as_ref().map(|link| link.partnership)
}

/// Every partnership's lineage, from each one's parent as [`parent_of`]
/// reads it.
pub fn lineage<'a>(infos: impl IntoIterator<Item = &'a PartnershipInfo>) -> BTreeMap<PartnershipId, Lineage> {
    from_parents(infos.into_iter().map(|info| (info.id, parent_of(info))))
}

/// Every partnership's lineage from `(partnership, its parent)` pairs: the
/// children of a partnership are the listed partnerships whose parent it
/// is (a partnership is never its own child).
pub fn from_parents(
    parents: impl IntoIterator<Item = (PartnershipId, Option<PartnershipId>)>,
) -> BTreeMap<PartnershipId, Lineage> {
    let mut all: BTreeMap<PartnershipId, Lineage> = BTreeMap::new();
    let pairs: Vec<(PartnershipId, Option<PartnershipId>)> = parents.into_iter().collect();
    for (id, parent) in &pairs {
        all.entry(*id).or_default().parent = parent.filter(|p| p != id);
    }
    for (id, parent) in pairs {
        if let Some(parent) = parent.filter(|p| *p != id)
            && let Some(entry) = all.get_mut(&parent)
        {
            entry.children.push(id);
        }
    }
    for entry in all.values_mut() {
        entry.children.sort();
        entry.children.dedup();
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u8) -> PartnershipId {
        PartnershipId([n; 32])
    }

    #[test]
    fn children_are_the_node_partnerships_whose_parent_it_is() {
        // 1 spawned 2 and 3; 3 spawned 4; 5's parent (9) is not on this
        // node; 6 names itself (ignored).
        let all = from_parents([
            (id(3), Some(id(1))),
            (id(1), None),
            (id(2), Some(id(1))),
            (id(4), Some(id(3))),
            (id(5), Some(id(9))),
            (id(6), Some(id(6))),
        ]);
        assert_eq!(all[&id(1)], Lineage { parent: None, children: vec![id(2), id(3)] });
        assert_eq!(all[&id(2)], Lineage { parent: Some(id(1)), children: vec![] });
        assert_eq!(all[&id(3)], Lineage { parent: Some(id(1)), children: vec![id(4)] });
        assert_eq!(all[&id(5)], Lineage { parent: Some(id(9)), children: vec![] });
        assert_eq!(all[&id(6)], Lineage::default());
        assert!(!all.contains_key(&id(9)), "a parent the node does not hold has no row");
    }
}
