//! Write polypact partnership modules in Rust.
//!
//! A polypact partnership is run by *modules*: WASM programs, compiled from
//! Rust against this crate, that every partner's node executes in the same
//! order with the same result. This crate is everything a module is written
//! against: a macro that exports its entry points, a call context, typed
//! storage, typed queries of other modules, a response builder, and a
//! native test harness. It also defines the [`abi`] the runtime shares.
//!
//! # Entry points
//!
//! A module is a `cdylib` crate with up to four plain functions, exported
//! with [`export!`]:
//!
//! | entry | signature | when |
//! |---|---|---|
//! | `init` | `fn(&mut Ctx, Config) -> Result<Response, E>` | once, when the instance is installed |
//! | `handle` | `fn(&mut Ctx, Msg) -> Result<Response, E>` | a call from an op, or a message from another module |
//! | `query` | `fn(&QueryCtx, Q) -> Result<R, E>` | a read-only query; `R: Serialize` (or [`Json`]) |
//! | `migrate` | `fn(&mut Ctx, M) -> Result<Response, E>` | optional: after an upgrade to this code |
//!
//! Messages are JSON, decoded with serde into your types
//! (`serde::de::DeserializeOwned`); the usual shape is an enum with
//! `#[serde(rename_all = "snake_case")]`, so `{"sign":{"message":"hi"}}`
//! is `Msg::Sign { message }`. A message that does not decode fails the call
//! with an error naming the problem (`invalid handle message: unknown
//! variant ...`).
//!
//! # Errors
//!
//! `E` is any `core::fmt::Display` type: your error enum, or this crate's
//! [`Error`]. A call that returns `Err` has **no effect**: the runtime undoes
//! its writes, drops its events and messages, and records the op as failed
//! with the error's text, which is what the caller sees. A panic (a trap on
//! wasm) also fails the op, with a less helpful message: return errors.
//!
//! # Context
//!
//! [`Ctx`] tells a call where and when it runs ([`height`](QueryCtx::height),
//! [`time_ms`](QueryCtx::time_ms): the op's time, the only clock a module
//! has) and who caused it ([`caller`](Ctx::caller), a member id `pm1…`).
//! [`QueryCtx`] is the read-only part; a `&Ctx` works wherever a
//! `&QueryCtx` is asked for. Through them a module
//! [queries](QueryCtx::query) other modules of its partnership and the
//! runtime ([`participants`](QueryCtx::participants),
//! [`query_system`](QueryCtx::query_system)), [emits](Ctx::emit) events and
//! writes [debug logs](QueryCtx::log).
//!
//! # Storage
//!
//! Each module instance has its own keyed state. [`Item<T>`] is one value
//! under a name, [`Map<K, V>`] many values under one name, keyed by a
//! [`MapKey`] (integers, strings, tuples of them) and iterated in the
//! natural order of the keys ([`Map::range`] pages, [`Map::iter`] walks all,
//! [`Map::prefix`] narrows a tuple-keyed map). Values are stored as JSON.
//! Reads take a `&QueryCtx`, writes a `&mut Ctx`, so a query cannot write.
//! Declare them as constants:
//!
//! ```
//! # use polypact_sdk::{Item, Map};
//! # #[derive(serde::Serialize, serde::Deserialize)] struct Config;
//! # let _ = Config;
//! const CONFIG: Item<Config> = Item::new("config");
//! const BALANCES: Map<&str, u64> = Map::new("balances");
//! # let _ = (CONFIG, BALANCES);
//! ```
//!
//! # Responses and messages
//!
//! [`Response`] carries [`Event`]s, data for the caller, and messages that
//! run after the call, in order and atomically with it: calls of other
//! modules ([`Response::add_message`]) and system messages such as admitting
//! a participant ([`Response::add_system`]), which the charter must allow.
//!
//! # A whole module, tested
//!
//! ```
//! mod counter {
//!     use polypact_sdk::{Ctx, Error, Event, Item, QueryCtx, Response};
//!     use serde::Deserialize;
//!
//!     const TOTAL: Item<u64> = Item::new("total");
//!
//!     #[derive(Deserialize)]
//!     pub struct Config {
//!         pub start: u64,
//!     }
//!
//!     #[derive(Deserialize)]
//!     #[serde(rename_all = "snake_case")]
//!     pub enum Msg {
//!         Add { amount: u64 },
//!     }
//!
//!     #[derive(Deserialize)]
//!     #[serde(rename_all = "snake_case")]
//!     pub enum Query {
//!         Total {},
//!     }
//!
//!     fn init(ctx: &mut Ctx, config: Config) -> Result<Response, Error> {
//!         TOTAL.save(ctx, &config.start)?;
//!         Ok(Response::new())
//!     }
//!
//!     fn handle(ctx: &mut Ctx, msg: Msg) -> Result<Response, Error> {
//!         match msg {
//!             Msg::Add { amount } => {
//!                 if !ctx.is_participant(ctx.caller())? {
//!                     return Err(Error::msg("only participants may add"));
//!                 }
//!                 let total = TOTAL.update(ctx, |t| {
//!                     t.unwrap_or(0).checked_add(amount).ok_or_else(|| Error::msg("total would overflow"))
//!                 })?;
//!                 let event = Event::new("added").attr("by", ctx.caller()).attr("total", total);
//!                 Response::new().add_event(event).set_data(&total)
//!             }
//!         }
//!     }
//!
//!     fn query(ctx: &QueryCtx, msg: Query) -> Result<u64, Error> {
//!         match msg {
//!             Query::Total {} => TOTAL.load(ctx),
//!         }
//!     }
//!
//!     polypact_sdk::export!(init: init, handle: handle, query: query);
//! }
//!
//! use polypact_sdk::testing::MockHost;
//! use serde_json::json;
//!
//! let mut host = MockHost::new(counter::polypact_dispatch);
//! host.set_participants(&["pm1alice"]);
//! host.init("pm1alice", &json!({"start": 10})).unwrap();
//!
//! let response = host.handle("pm1alice", &json!({"add": {"amount": 5}})).unwrap();
//! assert_eq!(response.data_as::<u64>().unwrap(), Some(15));
//! assert_eq!(response.events[0].get("total"), Some("15"));
//! assert_eq!(host.query::<u64>(&json!({"total": {}})).unwrap(), 15);
//!
//! // Errors reach the caller as text, and change nothing.
//! let err = host.handle("pm1mallory", &json!({"add": {"amount": 1}})).unwrap_err();
//! assert_eq!(err, "only participants may add");
//! let err = host.handle("pm1alice", &json!({"sub": {}})).unwrap_err();
//! assert!(err.starts_with("invalid handle message: unknown variant `sub`"), "{err}");
//! assert_eq!(host.query::<u64>(&json!({"total": {}})).unwrap(), 15);
//! ```
//!
//! # Testing
//!
//! [`testing::MockHost`] (not on `wasm32`) runs a module's generated
//! `polypact_dispatch` natively, through the same bytes the wasm exports
//! see, with in-memory state, a settable environment, registered answers for
//! other modules and `system`, and the runtime's all-or-nothing semantics.
//! The runtime also has a harness that runs the built `.wasm`.
//!
//! # Building
//!
//! ```text
//! rustup target add wasm32-unknown-unknown
//! polypact module build PATH    # or, by hand:
//! CARGO_PROFILE_RELEASE_LTO=true CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
//!   cargo build --target wasm32-unknown-unknown --release
//! ```
//!
//! LTO and one codegen unit are optional but worth it: a module runs on every
//! op, and whole-program optimisation made the voting module's `vote` about
//! 20% faster and its `.wasm` 15% smaller.
//!
//! The `.wasm` imports only the `polypact` host functions of [`abi`]. A
//! module crate may use `std` (on `wasm32-unknown-unknown` it has no
//! imports); panics abort, which is a trap.
//!
//! # Features and targets
//!
//! The crate is `no_std` + `alloc`. On every target but `wasm32` it also has
//! [`native`] (run modules natively behind a [`native::NativeHost`]) and
//! [`testing`]; these use `std`, which every such target has, and need no
//! feature. The `std` feature only turns on `std` in `serde`, `serde_json`
//! and `postcard` for hosts that want it.
//!
//! On `wasm32` the SDK installs the module's global allocator: a bump
//! allocator suited to instances that live for one call (see
//! `allocator.rs` for the policy and its trade-off). The
//! `system-allocator` feature leaves Rust's default allocator in place.
#![no_std]
#![deny(missing_docs)]
#![doc(test(attr(deny(warnings))))]

extern crate alloc;
#[cfg(not(target_arch = "wasm32"))]
extern crate std;

pub mod abi;
#[cfg(all(target_arch = "wasm32", not(feature = "system-allocator")))]
pub mod allocator;
mod ctx;
mod error;
mod export;
mod host;
mod key;
#[cfg(not(target_arch = "wasm32"))]
pub mod native;
mod response;
mod storage;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use abi::{Event, Message, Response, SystemMsg, SystemQuery};

/// The text prefix of a partnership acting as a member of another.
pub const PARTNERSHIP_MEMBER_PREFIX: &str = "pp1";

/// Whether a member id names a partnership (`pp1…`) rather than a key
/// (`pm1…`). A partnership member authors no ops and is no participant:
/// it acts only through messages its own decisions send (its calls arrive
/// with it as the caller), so a module admits or removes it without the
/// `add_participant` / `remove_participant` system messages, and pays it by
/// sending a message to it.
///
/// ```
/// assert!(polypact_sdk::is_partnership_member("pp1qy352euf40x77qfrg4ncn27dauqjx3t83x4ummcpydzk0zdtehhse25p5f"));
/// assert!(!polypact_sdk::is_partnership_member("pm1qy352euf40x77qfrg4ncn27dauqjx3t83x4ummcpydzk0zdtehhse25p5f"));
/// ```
pub fn is_partnership_member(member: &str) -> bool {
    member.starts_with(PARTNERSHIP_MEMBER_PREFIX)
}
pub use ctx::{Ctx, Equivocator, ModuleInstance, Participant, ParticipantStatus, QueryCtx, Status, Terms};
pub use error::Error;
pub use key::MapKey;
pub use response::{Json, QueryOutput, from_json, to_json};
pub use storage::{Item, Iter, Map, Prefix};

/// What [`export!`] expands to; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::export::{no_migrate, run_query, run_response, section_bytes, wasm};
    pub use alloc::vec::Vec;
}
