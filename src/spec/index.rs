//! The index of a node's desired pods: the list of (pod name, spec hash) that operators
//! publish retained beside the pods themselves, so that a device can tell a deleted pod
//! from a lost message.
//!
//! The index says *which* pods a node should run; the per-pod messages say *what* they
//! are. A device deletes a pod only when an index that no longer lists it arrives: a
//! broker that lost its retained messages sends no index and so deletes nothing, and a
//! deletion published while the device was offline is still visible in the retained
//! index. This module holds the type and its editing; the decisions are `desired`.

use serde::{Deserialize, Serialize};

use super::SpecHash;
use super::bounded::{BoundedVec, Name};

/// Pods a node can be told to run through one index (and so through MQTT).
pub const MAX_INDEX: usize = 256;

/// The desired pods of one node, sorted by name, names unique.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub pods: BoundedVec<IndexEntry, MAX_INDEX>,
}

/// One desired pod: its name and the hash of the spec that should run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexEntry {
    pub name: Name,
    pub spec_hash: SpecHash,
}

/// The index is full: a node runs at most [`MAX_INDEX`] pods from MQTT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the index of a node holds at most {MAX_INDEX} pods")]
pub struct IndexFull;

impl Index {
    /// The spec hash listed for `name`, if the index lists it.
    pub fn get(&self, name: &str) -> Option<SpecHash> {
        self.find(name).ok().map(|i| self.pods[i].spec_hash)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_ok()
    }

    /// Lists `name` with `hash`, replacing an older hash; keeps the order.
    pub fn insert(&mut self, name: Name, spec_hash: SpecHash) -> Result<(), IndexFull> {
        let mut pods = std::mem::take(&mut self.pods).into_vec();
        pods.sort_by(|a, b| a.name.cmp(&b.name));
        pods.dedup_by(|a, b| a.name == b.name);
        let result = match pods.binary_search_by(|e| e.name.as_str().cmp(&name)) {
            Ok(i) => {
                pods[i].spec_hash = spec_hash;
                Ok(())
            }
            Err(_) if pods.len() >= MAX_INDEX => Err(IndexFull),
            Err(i) => {
                pods.insert(i, IndexEntry { name, spec_hash });
                Ok(())
            }
        };
        // At most MAX_INDEX items by the check above.
        self.pods = BoundedVec::try_from(pods).unwrap_or_default();
        result
    }

    /// Stops listing `name`; true when it was listed.
    pub fn remove(&mut self, name: &str) -> bool {
        let Ok(i) = self.find(name) else {
            return false;
        };
        let mut pods = std::mem::take(&mut self.pods).into_vec();
        pods.remove(i);
        self.pods = BoundedVec::try_from(pods).unwrap_or_default();
        true
    }

    /// Names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.pods.iter().map(|e| e.name.as_str())
    }

    /// True when the names are sorted and unique, as every writer keeps them.
    pub fn is_well_formed(&self) -> bool {
        self.pods.windows(2).all(|w| w[0].name < w[1].name)
    }

    fn find(&self, name: &str) -> Result<usize, usize> {
        if self.is_well_formed() {
            return self.pods.binary_search_by(|e| e.name.as_str().cmp(name));
        }
        // A hand-made index out of order is still read correctly, only slower.
        self.pods
            .iter()
            .position(|e| e.name == name)
            .ok_or(self.pods.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::bounded::name;

    fn h(b: u8) -> SpecHash {
        SpecHash([b; 8])
    }

    #[test]
    fn insert_keeps_names_sorted_and_unique() {
        let mut ix = Index::default();
        for n in ["web", "db", "cache", "db"] {
            ix.insert(name(n).unwrap(), h(n.len() as u8)).unwrap();
        }
        assert_eq!(ix.names().collect::<Vec<_>>(), ["cache", "db", "web"]);
        assert!(ix.is_well_formed());
        ix.insert(name("db").unwrap(), h(9)).unwrap();
        assert_eq!(ix.get("db"), Some(h(9)));
        assert_eq!(ix.get("nope"), None);
    }

    #[test]
    fn remove_says_whether_it_was_listed() {
        let mut ix = Index::default();
        ix.insert(name("a").unwrap(), h(1)).unwrap();
        assert!(ix.remove("a"));
        assert!(!ix.remove("a"));
        assert!(!ix.contains("a"));
    }

    #[test]
    fn full_index_refuses_a_new_name_but_updates_a_listed_one() {
        let mut ix = Index::default();
        for i in 0..MAX_INDEX {
            ix.insert(name(&format!("p{i:03}")).unwrap(), h(0)).unwrap();
        }
        assert_eq!(ix.insert(name("zzz").unwrap(), h(1)), Err(IndexFull));
        assert_eq!(ix.insert(name("p007").unwrap(), h(1)), Ok(()));
        assert_eq!(ix.get("p007"), Some(h(1)));
    }

    #[test]
    fn unsorted_index_is_still_searched() {
        let ix = Index {
            pods: BoundedVec::try_from(vec![
                IndexEntry {
                    name: name("b").unwrap(),
                    spec_hash: h(2),
                },
                IndexEntry {
                    name: name("a").unwrap(),
                    spec_hash: h(1),
                },
            ])
            .unwrap(),
        };
        assert!(!ix.is_well_formed());
        assert_eq!(ix.get("a"), Some(h(1)));
        assert_eq!(ix.get("c"), None);
    }
}
