//! Size limits of the wire types and the bounded containers that enforce them.
//!
//! Every list and string in a [`Pod`](super::Pod) or a status has a maximum, checked
//! while decoding (before anything is allocated for it) and when a manifest is read.
//! A decoder that meets an over-long list records which limit it hit, so that the
//! codec can return a typed error instead of postcard's opaque one.

use std::cell::Cell;
use std::fmt;
use std::ops::Deref;

use serde::de::{self, Deserialize, Deserializer, SeqAccess, Visitor};
use serde::{Serialize, Serializer};

/// Largest encoded message accepted from the wire, envelope included.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Containers per list (`containers`, `initContainers`).
pub const MAX_CONTAINERS: usize = 16;
/// Entries in `command` or in `args`.
pub const MAX_ARGS: usize = 128;
/// Entries in a container's `env`.
pub const MAX_ENV: usize = 128;
/// Entries in a container's `volumeMounts`, and in a pod's `volumes`.
pub const MAX_MOUNTS: usize = 32;
/// Entries in a container's `ports`.
pub const MAX_PORTS: usize = 32;
/// Labels or annotations on a pod.
pub const MAX_LABELS: usize = 64;
/// Small lists: hostAliases, hostnames, httpHeaders, capabilities, sysctls, groups.
pub const MAX_SMALL: usize = 32;
/// Bytes in a name-like string: label keys and values, hostnames, paths of a URL.
pub const MAX_SHORT: usize = 253;
/// Bytes in a label or annotation key: a 253-byte prefix, `/` and a 63-byte name.
pub const MAX_KEY: usize = 317;
/// Bytes in any other string: arguments, env values, annotation values, paths.
pub const MAX_TEXT: usize = 16 * 1024;

/// A DNS-1123 label (pod, container, volume names): at most 63 bytes, inline.
pub type Name = heapless::String<63>;
/// A name-like string of at most [`MAX_SHORT`] bytes.
pub type Short = BoundedString<MAX_SHORT>;
/// A free-form string of at most [`MAX_TEXT`] bytes.
pub type Text = BoundedString<MAX_TEXT>;

/// A limit that a decoder hit; see [`take_limit_hit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitHit {
    pub what: LimitKind,
    pub max: usize,
    pub got: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Items,
    Bytes,
}

thread_local! {
    static LAST_HIT: Cell<Option<LimitHit>> = const { Cell::new(None) };
}

fn record_hit(hit: LimitHit) {
    LAST_HIT.with(|c| c.set(Some(hit)));
}

/// Takes the limit recorded by the last failed decode on this thread, if any.
pub fn take_limit_hit() -> Option<LimitHit> {
    LAST_HIT.with(|c| c.take())
}

/// Returned when a value does not fit its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{got} is more than the maximum of {max}")]
pub struct TooLong {
    pub max: usize,
    pub got: usize,
}

/// A `Vec` with at most `MAX` items.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct BoundedVec<T, const MAX: usize>(Vec<T>);

impl<T, const MAX: usize> BoundedVec<T, MAX> {
    pub const MAX: usize = MAX;

    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Appends `item`, or gives it back when the list is full.
    pub fn push(&mut self, item: T) -> Result<(), T> {
        if self.0.len() >= MAX {
            return Err(item);
        }
        self.0.push(item);
        Ok(())
    }

    pub fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.0
    }

    pub fn into_vec(self) -> Vec<T> {
        self.0
    }
}

impl<T, const MAX: usize> Default for BoundedVec<T, MAX> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T, const MAX: usize> Deref for BoundedVec<T, MAX> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T: fmt::Debug, const MAX: usize> fmt::Debug for BoundedVec<T, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T, const MAX: usize> TryFrom<Vec<T>> for BoundedVec<T, MAX> {
    type Error = TooLong;
    fn try_from(v: Vec<T>) -> Result<Self, TooLong> {
        if v.len() > MAX {
            return Err(TooLong {
                max: MAX,
                got: v.len(),
            });
        }
        Ok(Self(v))
    }
}

impl<'a, T, const MAX: usize> IntoIterator for &'a BoundedVec<T, MAX> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T: Serialize, const MAX: usize> Serialize for BoundedVec<T, MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for BoundedVec<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T, const MAX: usize>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for V<T, MAX> {
            type Value = BoundedVec<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a list of at most {MAX} items")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // The length prefix is checked before anything is allocated for it.
                let hint = seq.size_hint().unwrap_or(0);
                if hint > MAX {
                    record_hit(LimitHit {
                        what: LimitKind::Items,
                        max: MAX,
                        got: hint,
                    });
                    return Err(de::Error::invalid_length(hint, &self));
                }
                let mut v = Vec::with_capacity(hint);
                while let Some(item) = seq.next_element()? {
                    if v.len() == MAX {
                        record_hit(LimitHit {
                            what: LimitKind::Items,
                            max: MAX,
                            got: MAX + 1,
                        });
                        return Err(de::Error::invalid_length(MAX + 1, &self));
                    }
                    v.push(item);
                }
                Ok(BoundedVec(v))
            }
        }
        d.deserialize_seq(V::<T, MAX>(std::marker::PhantomData))
    }
}

/// A `String` of at most `MAX` bytes.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BoundedString<const MAX: usize>(String);

impl<const MAX: usize> BoundedString<MAX> {
    pub const MAX: usize = MAX;

    pub const fn new() -> Self {
        Self(String::new())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> Deref for BoundedString<MAX> {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl<const MAX: usize> fmt::Debug for BoundedString<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const MAX: usize> fmt::Display for BoundedString<MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<const MAX: usize> TryFrom<String> for BoundedString<MAX> {
    type Error = TooLong;
    fn try_from(s: String) -> Result<Self, TooLong> {
        if s.len() > MAX {
            return Err(TooLong {
                max: MAX,
                got: s.len(),
            });
        }
        Ok(Self(s))
    }
}

impl<const MAX: usize> TryFrom<&str> for BoundedString<MAX> {
    type Error = TooLong;
    fn try_from(s: &str) -> Result<Self, TooLong> {
        Self::try_from(s.to_owned())
    }
}

impl<const MAX: usize> Serialize for BoundedString<MAX> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de, const MAX: usize> Deserialize<'de> for BoundedString<MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<const MAX: usize>;
        impl<const MAX: usize> Visitor<'_> for V<MAX> {
            type Value = BoundedString<MAX>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "a string of at most {MAX} bytes")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
                if s.len() > MAX {
                    record_hit(LimitHit {
                        what: LimitKind::Bytes,
                        max: MAX,
                        got: s.len(),
                    });
                    return Err(E::invalid_length(s.len(), &self));
                }
                Ok(BoundedString(s.to_owned()))
            }
        }
        d.deserialize_str(V::<MAX>)
    }
}

/// Makes a [`Name`] from `s`, or says how long it was.
pub fn name(s: &str) -> Result<Name, TooLong> {
    let mut n = Name::new();
    n.push_str(s).map_err(|()| TooLong {
        max: 63,
        got: s.len(),
    })?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vec_refuses_too_many_on_decode() {
        let bytes = postcard::to_allocvec(&vec![1u8, 2, 3]).unwrap();
        let r: Result<BoundedVec<u8, 2>, _> = postcard::from_bytes(&bytes);
        assert!(r.is_err());
        assert_eq!(
            take_limit_hit(),
            Some(LimitHit {
                what: LimitKind::Items,
                max: 2,
                got: 3
            })
        );
        let ok: BoundedVec<u8, 3> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(&*ok, &[1, 2, 3]);
    }

    #[test]
    fn huge_length_prefix_is_refused_before_allocation() {
        // A varint length of 2^32 - 1 followed by nothing.
        let bytes = [0xff, 0xff, 0xff, 0xff, 0x0f];
        let r: Result<BoundedVec<u64, 16>, _> = postcard::from_bytes(&bytes);
        assert!(r.is_err());
        // A length just over the limit is refused by the bound.
        let mut bytes = vec![17u8];
        bytes.extend([0u8; 17]);
        let r: Result<BoundedVec<u64, 16>, _> = postcard::from_bytes(&bytes);
        assert!(r.is_err());
        assert_eq!(take_limit_hit().map(|h| h.got), Some(17));
    }

    #[test]
    fn string_refuses_too_long_on_decode() {
        let bytes = postcard::to_allocvec("hello").unwrap();
        assert!(postcard::from_bytes::<BoundedString<4>>(&bytes).is_err());
        assert_eq!(
            take_limit_hit(),
            Some(LimitHit {
                what: LimitKind::Bytes,
                max: 4,
                got: 5
            })
        );
        let s: BoundedString<5> = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(&*s, "hello");
    }

    #[test]
    fn try_from_checks_bounds() {
        assert!(BoundedVec::<u8, 1>::try_from(vec![1, 2]).is_err());
        assert!(BoundedString::<1>::try_from("ab").is_err());
        assert!(name(&"a".repeat(64)).is_err());
        assert!(name(&"a".repeat(63)).is_ok());
    }
}
