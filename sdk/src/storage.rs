//! Typed storage over the host's keyed state: [`Item`] and [`Map`].
//!
//! This file owns the layout of a module's keys and the encoding of its
//! values. It does not own key encodings ([`MapKey`], in `key.rs`) or the
//! host calls (`host.rs`).
//!
//! # Layout
//!
//! - An `Item` named `n` lives at the key `n` (its UTF-8 bytes).
//! - An entry `k` of a `Map` named `n` lives at `n ++ 0x00 0x00 ++ encode(k)`.
//!
//! Names may not be empty or contain `0x00`, so no item key and no map entry
//! collide, and no map's entries are a prefix-range of another's. An item
//! and a map may even share a name. Names are part of the module's state
//! layout: renaming one needs a migration.
//!
//! # Values
//!
//! Values are stored as **JSON** (`serde_json`): deterministic for structs,
//! enums, `Vec` and `BTreeMap` (never store a `HashMap`: its order is not),
//! readable in state dumps, and forgiving across upgrades (a field added
//! with `#[serde(default)]` reads old values). Avoid floats in state.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::ScanPage;
use crate::ctx::{Ctx, QueryCtx};
use crate::error::Error;
use crate::host;
use crate::key::{MapKey, decode_exact};

/// How many entries a full iteration fetches per `db_scan` call.
const ITER_PAGE: u32 = 32;

/// Panics (at compile time when used in a `const`) on a name the layout
/// cannot take.
const fn check_name(name: &str) {
    let bytes = name.as_bytes();
    assert!(!bytes.is_empty(), "storage names must not be empty");
    let mut i = 0;
    while i < bytes.len() {
        assert!(bytes[i] != 0, "storage names must not contain NUL bytes");
        i += 1;
    }
}

fn load_value<T: DeserializeOwned>(
    key: &[u8],
    what: impl FnOnce() -> alloc::string::String,
) -> Result<Option<T>, Error> {
    match host::db_get(key)? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::decode(what(), e)),
    }
}

fn save_value<T: Serialize + ?Sized>(
    key: &[u8],
    value: &T,
    what: impl FnOnce() -> alloc::string::String,
) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::encode(what(), e))?;
    host::db_set(key, &bytes);
    Ok(())
}

/// One value of type `T` under a fixed name.
///
/// ```
/// use polypact_sdk::Item;
/// # use serde::{Deserialize, Serialize};
/// #[derive(Serialize, Deserialize)]
/// struct Config { quorum: u32 }
///
/// const CONFIG: Item<Config> = Item::new("config");
/// # let _ = Config { quorum: 1 }.quorum;
/// assert_eq!(CONFIG.name(), "config");
/// ```
pub struct Item<T> {
    name: &'static str,
    value: PhantomData<fn() -> T>,
}

impl<T> Item<T> {
    /// An item stored under `name` (non-empty, no NUL bytes; checked at
    /// compile time in a `const`).
    pub const fn new(name: &'static str) -> Self {
        check_name(name);
        Item { name, value: PhantomData }
    }

    /// The item's name, which is also its key.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    fn what(&self) -> alloc::string::String {
        alloc::format!("item \"{}\"", self.name)
    }

    fn value_what(&self) -> alloc::string::String {
        alloc::format!("stored value of item \"{}\"", self.name)
    }
}

impl<T: Serialize + DeserializeOwned> Item<T> {
    /// The value; [`Error::NotFound`] if it was never saved.
    pub fn load(&self, ctx: &QueryCtx) -> Result<T, Error> {
        self.may_load(ctx)?.ok_or_else(|| Error::NotFound { what: self.what() })
    }

    /// The value, if saved.
    pub fn may_load(&self, _ctx: &QueryCtx) -> Result<Option<T>, Error> {
        load_value(self.name.as_bytes(), || self.value_what())
    }

    /// Whether a value is saved.
    pub fn exists(&self, _ctx: &QueryCtx) -> Result<bool, Error> {
        Ok(host::db_get(self.name.as_bytes())?.is_some())
    }

    /// Saves the value.
    pub fn save(&self, _ctx: &mut Ctx, value: &T) -> Result<(), Error> {
        save_value(self.name.as_bytes(), value, || self.value_what())
    }

    /// Deletes the value (nothing happens if there is none).
    pub fn remove(&self, _ctx: &mut Ctx) {
        host::db_remove(self.name.as_bytes())
    }

    /// Loads the value (or `None`), applies `f`, saves and returns the result.
    /// If `f` fails, nothing is saved.
    pub fn update<E: From<Error>>(
        &self,
        ctx: &mut Ctx,
        f: impl FnOnce(Option<T>) -> Result<T, E>,
    ) -> Result<T, E> {
        let new = f(self.may_load(ctx)?)?;
        self.save(ctx, &new)?;
        Ok(new)
    }
}

/// Values of type `V` keyed by `K`, iterated in the natural order of `K`.
///
/// Keys are [`MapKey`]s: integers, strings, byte strings and tuples of them.
/// A `Map<&str, V>` or `Map<(&str, u64), V>` takes borrowed keys and yields
/// owned ones (`String`) when iterating.
///
/// ```
/// use polypact_sdk::Map;
/// const BALANCES: Map<&str, u64> = Map::new("balances");
/// const VOTES: Map<(u64, &str), bool> = Map::new("votes"); // by proposal, then voter
/// # assert_eq!((BALANCES.name(), VOTES.name()), ("balances", "votes"));
/// ```
pub struct Map<K, V> {
    name: &'static str,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Map<K, V> {
    /// A map stored under `name` (non-empty, no NUL bytes; checked at
    /// compile time in a `const`).
    pub const fn new(name: &'static str) -> Self {
        check_name(name);
        Map { name, types: PhantomData }
    }

    /// The map's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    fn namespace(&self) -> Vec<u8> {
        let mut prefix = Vec::with_capacity(self.name.len() + 2);
        prefix.extend_from_slice(self.name.as_bytes());
        prefix.extend_from_slice(&[0, 0]);
        prefix
    }

    fn what(&self) -> alloc::string::String {
        alloc::format!("entry of map \"{}\"", self.name)
    }

    fn value_what(&self) -> alloc::string::String {
        alloc::format!("stored value of map \"{}\"", self.name)
    }
}

impl<K: MapKey, V: Serialize + DeserializeOwned> Map<K, V> {
    fn key(&self, key: &K) -> Vec<u8> {
        let mut bytes = self.namespace();
        key.encode_key(&mut bytes);
        bytes
    }

    /// The value at `key`; [`Error::NotFound`] if there is none.
    pub fn load(&self, ctx: &QueryCtx, key: K) -> Result<V, Error> {
        self.may_load(ctx, key)?.ok_or_else(|| Error::NotFound { what: self.what() })
    }

    /// The value at `key`, if any.
    pub fn may_load(&self, _ctx: &QueryCtx, key: K) -> Result<Option<V>, Error> {
        load_value(&self.key(&key), || self.value_what())
    }

    /// Whether `key` has a value.
    pub fn has(&self, _ctx: &QueryCtx, key: K) -> Result<bool, Error> {
        Ok(host::db_get(&self.key(&key))?.is_some())
    }

    /// Saves `value` at `key`.
    pub fn save(&self, _ctx: &mut Ctx, key: K, value: &V) -> Result<(), Error> {
        save_value(&self.key(&key), value, || self.value_what())
    }

    /// Deletes `key` (nothing happens if it has no value).
    pub fn remove(&self, _ctx: &mut Ctx, key: K) {
        host::db_remove(&self.key(&key))
    }

    /// Loads the value at `key` (or `None`), applies `f`, saves and returns
    /// the result. If `f` fails, nothing is saved.
    pub fn update<E: From<Error>>(
        &self,
        _ctx: &mut Ctx,
        key: K,
        f: impl FnOnce(Option<V>) -> Result<V, E>,
    ) -> Result<V, E> {
        let bytes = self.key(&key);
        let new = f(load_value(&bytes, || self.value_what())?)?;
        save_value(&bytes, &new, || self.value_what())?;
        Ok(new)
    }

    /// One page in key order: up to `limit` entries whose keys come after
    /// `start_after` (from the first key if `None`).
    ///
    /// Pass the last key of a page as the next `start_after` to page through.
    pub fn range(
        &self,
        ctx: &QueryCtx,
        start_after: Option<K>,
        limit: u32,
    ) -> Result<Vec<(K::Output, V)>, Error> {
        let start = start_after.map(|k| self.key(&k));
        Range::new(self.namespace(), start.as_deref(), self.name).page::<K, V>(ctx, limit)
    }

    /// Every entry in key order, fetched from the host page by page as the
    /// iterator advances. Entries saved or removed while iterating are seen
    /// or not depending on whether their page was already fetched.
    pub fn iter<'c>(&self, ctx: &'c QueryCtx) -> Iter<'c, K, V> {
        Iter::new(ctx, Range::new(self.namespace(), None, self.name))
    }

    /// Whether the map has no entries.
    pub fn is_empty(&self, ctx: &QueryCtx) -> Result<bool, Error> {
        Ok(Range::new(self.namespace(), None, self.name).scan(ctx, 1)?.is_empty())
    }
}

impl<A: MapKey, B: MapKey, V: Serialize + DeserializeOwned> Map<(A, B), V> {
    /// The entries whose key starts with `first`, keyed by the rest:
    /// `VOTES.prefix(proposal_id).range(ctx, None, 10)`.
    pub fn prefix(&self, first: A) -> Prefix<B, V> {
        let mut prefix = self.namespace();
        first.encode_key(&mut prefix);
        Prefix { prefix, name: self.name, types: PhantomData }
    }
}

/// The entries of a `Map<(A, B), V>` that share a first key component;
/// from [`Map::prefix`].
pub struct Prefix<K, V> {
    prefix: Vec<u8>,
    name: &'static str,
    types: PhantomData<fn() -> (K, V)>,
}

impl<K: MapKey, V: Serialize + DeserializeOwned> Prefix<K, V> {
    /// Like [`Map::range`], over the entries under this prefix.
    pub fn range(
        &self,
        ctx: &QueryCtx,
        start_after: Option<K>,
        limit: u32,
    ) -> Result<Vec<(K::Output, V)>, Error> {
        let start = start_after.map(|k| {
            let mut bytes = self.prefix.clone();
            k.encode_key(&mut bytes);
            bytes
        });
        Range::new(self.prefix.clone(), start.as_deref(), self.name).page::<K, V>(ctx, limit)
    }

    /// Like [`Map::iter`], over the entries under this prefix.
    pub fn iter<'c>(&self, ctx: &'c QueryCtx) -> Iter<'c, K, V> {
        Iter::new(ctx, Range::new(self.prefix.clone(), None, self.name))
    }
}

/// A scan position: entries under `prefix`, from `start` on.
struct Range {
    prefix: Vec<u8>,
    /// The next key to fetch from (inclusive); `None` once exhausted.
    start: Option<Vec<u8>>,
    name: &'static str,
}

impl Range {
    /// Entries after `start_after` (a whole key) or, without it, all.
    fn new(prefix: Vec<u8>, start_after: Option<&[u8]>, name: &'static str) -> Self {
        let start = match start_after {
            // The smallest key greater than `k` is `k ++ 0x00`.
            Some(k) => [k, &[0]].concat(),
            None => prefix.clone(),
        };
        Range { prefix, start: Some(start), name }
    }

    /// Fetches up to `limit` raw entries and moves past them.
    fn scan(&mut self, _ctx: &QueryCtx, limit: u32) -> Result<ScanPage, Error> {
        let Some(start) = &self.start else { return Ok(Vec::new()) };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let page = host::db_scan(&self.prefix, start, limit)?;
        self.start = page.last().map(|(k, _)| [k.as_slice(), &[0]].concat());
        Ok(page)
    }

    fn decode<K: MapKey, V: DeserializeOwned>(
        &self,
        key: &[u8],
        value: &[u8],
    ) -> Result<(K::Output, V), Error> {
        let rest = &key[self.prefix.len()..];
        let key = decode_exact::<K>(rest)?;
        let value = serde_json::from_slice(value)
            .map_err(|e| Error::decode(alloc::format!("stored value of map \"{}\"", self.name), e))?;
        Ok((key, value))
    }

    /// Up to `limit` decoded entries. A host may return fewer than asked
    /// per call; this asks again until it has `limit` or the range is done.
    fn page<K: MapKey, V: DeserializeOwned>(
        mut self,
        ctx: &QueryCtx,
        limit: u32,
    ) -> Result<Vec<(K::Output, V)>, Error> {
        let mut out = Vec::new();
        while (out.len() as u64) < u64::from(limit) {
            let want = limit - out.len() as u32;
            let page = self.scan(ctx, want)?;
            if page.is_empty() {
                break;
            }
            for (k, v) in &page {
                out.push(self.decode::<K, V>(k, v)?);
            }
        }
        Ok(out)
    }
}

/// Iterates a [`Map`] or [`Prefix`] in key order; from [`Map::iter`].
///
/// Yields `Err` (once, then ends) if a stored entry does not decode.
pub struct Iter<'c, K: MapKey, V> {
    ctx: &'c QueryCtx,
    range: Range,
    buffer: VecDeque<(Vec<u8>, Vec<u8>)>,
    failed: bool,
    types: PhantomData<fn() -> (K, V)>,
}

impl<'c, K: MapKey, V> Iter<'c, K, V> {
    fn new(ctx: &'c QueryCtx, range: Range) -> Self {
        Iter { ctx, range, buffer: VecDeque::new(), failed: false, types: PhantomData }
    }
}

impl<K: MapKey, V: DeserializeOwned> Iterator for Iter<'_, K, V> {
    type Item = Result<(K::Output, V), Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        if self.buffer.is_empty() {
            match self.range.scan(self.ctx, ITER_PAGE) {
                Ok(page) => self.buffer.extend(page),
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
            }
        }
        let (k, v) = self.buffer.pop_front()?;
        let item = self.range.decode::<K, V>(&k, &v);
        self.failed = item.is_err();
        Some(item)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::abi::{Env, Info};
    use crate::native::with_host;
    use crate::testing::MockHost;
    use alloc::string::{String, ToString};
    use alloc::vec;

    const NAMES: Map<&str, u32> = Map::new("names");
    const NAMES_TOO: Map<&str, u32> = Map::new("names2");
    const BY_ID: Map<u64, String> = Map::new("by_id");
    const VOTES: Map<(u64, &str), bool> = Map::new("votes");
    const COUNT: Item<u64> = Item::new("names"); // shares a name with a map on purpose

    fn nothing(_: crate::abi::Entry, _: &[u8]) -> Vec<u8> {
        Vec::new()
    }

    /// Runs `f` with a write context against `host`.
    fn run<R>(host: &mut MockHost, f: impl FnOnce(&mut Ctx) -> R) -> R {
        let env = Env { partnership: "p".into(), module: "m".into(), height: 1, time_ms: 0 };
        let info = Info { caller: "pm1a".into(), sender_module: None, op_id: "o".into(), seq: 1 };
        let mut ctx = Ctx::new(env, info);
        with_host(host, || f(&mut ctx))
    }

    #[test]
    fn item_round_trips_and_reports_missing() {
        let mut host = MockHost::new(nothing);
        run(&mut host, |ctx| {
            assert_eq!(COUNT.may_load(ctx).unwrap(), None);
            let err = COUNT.load(ctx).unwrap_err();
            assert_eq!(err.to_string(), "item \"names\" not found");
            COUNT.save(ctx, &3).unwrap();
            assert_eq!(COUNT.update(ctx, |n| Ok::<_, Error>(n.unwrap() * 2)).unwrap(), 6);
            assert_eq!(COUNT.load(ctx).unwrap(), 6);
            // A failing update saves nothing.
            let failed: Result<u64, Error> = COUNT.update(ctx, |_| Err(Error::msg("no")));
            assert!(failed.is_err());
            assert_eq!(COUNT.load(ctx).unwrap(), 6);
            COUNT.remove(ctx);
            assert!(!COUNT.exists(ctx).unwrap());
        });
        assert!(host.state().is_empty());
    }

    #[test]
    fn maps_iterate_in_key_order_and_do_not_overlap() {
        let mut host = MockHost::new(nothing);
        run(&mut host, |ctx| {
            for (i, name) in ["carol", "alice", "bob", "", "alice\0x"].iter().enumerate() {
                NAMES.save(ctx, name, &(i as u32)).unwrap();
            }
            NAMES_TOO.save(ctx, "zed", &9).unwrap();
            COUNT.save(ctx, &1).unwrap();
            for id in [10u64, 2, 300, 1] {
                BY_ID.save(ctx, id, &id.to_string()).unwrap();
            }
            let all: Vec<(String, u32)> = NAMES.iter(ctx).collect::<Result<_, _>>().unwrap();
            let keys: Vec<&str> = all.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(keys, ["", "alice", "alice\0x", "bob", "carol"]);
            let ids: Vec<u64> = BY_ID.iter(ctx).map(|e| e.unwrap().0).collect();
            assert_eq!(ids, [1, 2, 10, 300]);
            let owned = String::from("bob"); // keys need not be 'static
            assert!(NAMES.has(ctx, &owned).unwrap());
            assert_eq!(VOTES.may_load(ctx, (1, owned.as_str())).unwrap(), None);
            assert!(!NAMES.has(ctx, "bo").unwrap());
            assert_eq!(NAMES.load(ctx, "zed").unwrap_err().to_string(), "entry of map \"names\" not found");
        });
    }

    #[test]
    fn range_pages_through_everything_once() {
        let mut host = MockHost::new(nothing);
        run(&mut host, |ctx| {
            for id in 0..100u64 {
                BY_ID.save(ctx, id * 3, &String::new()).unwrap();
            }
            let mut seen = Vec::new();
            let mut after = None;
            loop {
                let page = BY_ID.range(ctx, after, 7).unwrap();
                if page.is_empty() {
                    break;
                }
                assert!(page.len() <= 7);
                after = page.last().map(|(k, _)| *k);
                seen.extend(page.into_iter().map(|(k, _)| k));
            }
            assert_eq!(seen, (0..100).map(|i| i * 3).collect::<Vec<_>>());
            // start_after need not be a stored key.
            assert_eq!(BY_ID.range(ctx, Some(4), 2).unwrap().iter().map(|e| e.0).collect::<Vec<_>>(), [6, 9]);
            assert!(BY_ID.range(ctx, None, 0).unwrap().is_empty());
            assert_eq!(BY_ID.iter(ctx).count(), 100);
            assert!(!BY_ID.is_empty(ctx).unwrap());
            assert!(NAMES.is_empty(ctx).unwrap());
        });
    }

    #[test]
    fn prefix_narrows_a_tuple_map() {
        let mut host = MockHost::new(nothing);
        run(&mut host, |ctx| {
            VOTES.save(ctx, (2, "bob"), &true).unwrap();
            VOTES.save(ctx, (1, "carol"), &false).unwrap();
            VOTES.save(ctx, (1, "alice"), &true).unwrap();
            VOTES.save(ctx, (10, "alice"), &true).unwrap();
            let one: Vec<(String, bool)> = VOTES.prefix(1).iter(ctx).collect::<Result<_, _>>().unwrap();
            assert_eq!(one, vec![("alice".into(), true), ("carol".into(), false)]);
            assert_eq!(VOTES.prefix(1).range(ctx, Some("alice"), 10).unwrap(), vec![("carol".into(), false)]);
            let all: Vec<(u64, String)> = VOTES.iter(ctx).map(|e| e.unwrap().0).collect();
            assert_eq!(
                all,
                vec![(1, "alice".into()), (1, "carol".into()), (2, "bob".into()), (10, "alice".into())]
            );
            VOTES.remove(ctx, (1, "alice"));
            assert_eq!(VOTES.prefix(1).iter(ctx).count(), 1);
        });
    }

    #[test]
    fn corrupt_values_are_decode_errors() {
        let mut host = MockHost::new(nothing);
        run(&mut host, |ctx| {
            BY_ID.save(ctx, 1, &"ok".to_string()).unwrap();
            crate::host::db_set(&BY_ID.key(&2), b"not json");
            let err = BY_ID.load(ctx, 2).unwrap_err();
            assert!(err.to_string().starts_with("invalid stored value of map \"by_id\": "), "{err}");
            let items: Vec<_> = BY_ID.iter(ctx).collect();
            assert_eq!(items.len(), 2, "the iterator stops after the first error");
            assert!(items[1].is_err());
        });
    }
}
