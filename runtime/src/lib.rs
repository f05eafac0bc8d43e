//! The polypact node, as a library: run programmable partnerships in your
//! application.
//!
//! A partnership between organisations (a joint venture, a consortium, a
//! revenue-sharing alliance) is a *charter*: WASM modules, compiled from Rust
//! against [`polypact_sdk`], that encode who is in, who decides what, how
//! money is split and how a partner leaves. Each partner runs a node. Every
//! change is a signed *op*; nodes gossip ops over libp2p, order them the same
//! way, execute them through the modules and reach the same state. An op is
//! *final* once every partner's node has built on it; a partner whose node
//! goes away is suspended by the others so that finality goes on.
//!
//! The `polypact` binary is a thin shell over this crate: `polypact node`
//! starts a node with its network ([`node::NodeBuilder`]) and serves
//! [`api`]. An application can do the same, or drive a node through a
//! [`node::NodeHandle`] without HTTP.
//!
//! # The layers, from the inside out
//!
//! | module | owns |
//! |---|---|
//! | [`op`] | identities (member keys, ids), signed ops and their canonical encoding, charters |
//! | [`dag`] | the op graph: heights, the order `(height, id)`, authors' chains; forgetting final ops and reading them back from an archive, and its summary for a restart |
//! | [`cert`] | certificates between partnerships: statements, attestations, and their pure verification |
//! | [`ledger`] | one partnership's pure, synchronous state machine: the front door, application in order with undo, the finality rule, suspension of absent partners, system messages, the state root, what leaves memory and the summary a restart starts from |
//! | [`store`] | redb persistence: ops, final-state snapshots, module code |
//! | [`seal`] | confidentiality: partnership keys, gossip envelopes, boxes sealed to members' X25519 keys |
//! | [`host`] | wasmtime: runs modules with fuel and limits (the ledger's [`ledger::Executor`]) |
//! | [`net`] | libp2p: gossip, the sync protocol, discovery |
//! | [`node`] | one member's node: ledgers, store-before-report, acks, absences, the network half |
//! | [`portfolio`] | the member's one view across its partnerships: claims and obligations per asset, waiting votes, deadlines, overlaps; what the API's `GET /v1/portfolio`, the CLI and the console show |
//! | [`api`] | the HTTP JSON API the CLI and other clients use, and the web console for partners (HTML, on the same address) |
//! | [`format`](mod@format) | figures for people (amounts in major units, UTC times), as the console and the CLI print them |
//! | [`home`] | a node's home directory: keys, config, token |
//!
//! Dependencies point one way (`api -> portfolio -> node -> {net, host} ; host -> ledger
//! -> {dag, store} -> op`); `docs/architecture.md` follows an op through
//! them and says where each guarantee is kept.
//!
//! # The ledger on its own
//!
//! The ledger needs no network, disk or async runtime: give it ops and it
//! orders, applies and finalises them. Here two partners' views of one
//! partnership, each with its own ledger (the module is the `testing`
//! feature's native key-value module; a node runs WASM modules through
//! [`host::WasmExecutor`] instead):
//!
//! ```
//! # #[cfg(feature = "testing")] {
//! use std::sync::Arc;
//! use polypact::ledger::{Ledger, LedgerConfig, NativeExecutor, testing::KvModule};
//! use polypact::op::{Charter, CodeHash, MemberKey, ModuleSpec, Params, Payload, UnsignedOp};
//!
//! let (studio, telco) = (MemberKey::from_seed(1), MemberKey::from_seed(2));
//! let code = CodeHash::of(b"kv");
//! let mut executor = NativeExecutor::new();
//! executor.register(code, Arc::new(KvModule));
//! let mut participants = vec![studio.member_id(), telco.member_id()];
//! participants.sort();
//! let charter = Charter {
//!     name: "joint venture".into(),
//!     participants,
//!     modules: vec![ModuleSpec { name: "kv".into(), code, config: "{}".into(), permissions: vec![] }],
//!     params: Params::default(),
//!     parent: None,
//! };
//! let t0 = 1_700_000_000_000;
//! let genesis = UnsignedOp {
//!     partnership: Default::default(),
//!     author: studio.member_id(),
//!     seq: 1,
//!     parents: vec![],
//!     time_ms: t0,
//!     payload: Payload::Genesis(charter),
//! }
//! .sign(&studio);
//! let mut a = Ledger::new(genesis.clone(), executor.clone(), LedgerConfig::default()).unwrap();
//! let mut b = Ledger::new(genesis, executor, LedgerConfig::default()).unwrap();
//!
//! // The studio records something; it is applied at once, but not final:
//! // the telco's node has not built on it.
//! let call = Payload::Call { module: "kv".into(), msg: br#"{"set":{"key":"k","value":"v"}}"#.to_vec() };
//! let op = a.create_op(&studio, call, t0 + 1);
//! a.insert(op.clone(), t0 + 1).unwrap();
//! assert!(!a.is_final(&op.id()));
//!
//! // The telco's node receives it and acks; once the studio's node has the
//! // ack, every partner has built on the op: it is final on both.
//! b.insert(op.clone(), t0 + 2).unwrap();
//! let ack = b.create_op(&telco, Payload::Ack, t0 + 2);
//! b.insert(ack.clone(), t0 + 2).unwrap();
//! a.insert(ack, t0 + 3).unwrap();
//! assert!(a.is_final(&op.id()) && b.is_final(&op.id()));
//! assert_eq!(a.final_root(), b.final_root());
//! # }
//! ```
//!
//! # A node in your application
//!
//! ```no_run
//! # #[allow(dead_code)]
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use polypact::node::{NodeBuilder, NodeConfig};
//! use polypact::op::MemberKey;
//!
//! let key = MemberKey::from_seed(1); // a real node loads its key from its home (`home`)
//! let config = NodeConfig::new("/var/lib/polypact");
//! let running = NodeBuilder::new(config, key).start()?; // no network; `.network(transport)` adds libp2p
//! let node = &running.handle;
//! for partnership in node.partnerships().await? {
//!     println!("{} final at height {}", partnership.name, partnership.final_height);
//! }
//! # Ok(()) }
//! ```
//!
//! # Features
//!
//! `testing`: helpers for tests of modules and of this crate: the
//! real-`.wasm` harness (`testing::WasmHarness`), native
//! executors (`ledger::NativeExecutor`, `host::native`) and the ledger's
//! key-value test module. A node never needs them.
#![deny(missing_docs)]
#![deny(rustdoc::broken_intra_doc_links)]
#![doc(test(attr(deny(warnings))))]

pub mod api;
pub mod cert;
mod console;
pub mod dag;
pub mod format;
pub mod home;
pub mod host;
pub mod ledger;
pub mod net;
pub mod node;
pub mod op;
pub mod portfolio;
pub mod seal;
pub mod store;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
