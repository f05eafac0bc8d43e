//! The node: wires the ledger, the store, the WASM host and the network
//! together for one member (DESIGN: `node -> {net, ledger}`).
//!
//! - [`core`]: the synchronous core (store + executor + one ledger per
//!   partnership, acks, snapshots, outbox); no tokio.
//! - [`service`]: the tokio task that owns the core and the
//!   [`NodeHandle`] clients use (the HTTP API, embedding applications).
//! - [`network`]: the network half of the loop (gossip, sync, anti-entropy),
//!   one file per concern.
//! - [`NodeBuilder`]: opens the store and the host and starts the task, with
//!   or without a network.
//! - [`event`]: what subscribers receive.
//! - `absence`: when the member votes to suspend an absent partner,
//!   withdraws, asks to return or readmits one.
//! - [`crossing`]: attesting what became final and relaying messages
//!   between partnerships this node is in.
//! - `compaction`: deleting stored final ops behind certified checkpoints,
//!   when the operator turned it on.
//! - [`ledgers`]: the partnerships held, each ledger loaded on first use;
//!   `resting`: when an idle partnership may be left unloaded at start.
//! - [`error`]: what clients are told.

mod absence;
mod builder;
mod clock;
mod compaction;
pub mod core;
pub mod crossing;
pub mod error;
pub mod event;
pub mod ledgers;
pub mod network;
mod resting;
pub mod service;

pub use self::core::{CoreConfig, NodeCore, NodeLedger, Origin};

/// The node's store file in its data directory.
pub const STORE_FILE: &str = "store.redb";
pub use builder::NodeBuilder;
pub use clock::now_ms;
pub use compaction::{COMPACT_OPS_PER_STEP, CheckpointView, CheckpointsView};
pub use error::NodeError;
pub use event::{NodeEvent, OpEventKind, outcome_json};
pub use ledgers::{Roster, Standing, StandingParticipant};
pub use network::{Invitation, KeysHeld, NetworkHalf, NetworkStats, SyncConfig};
pub use service::{
    CallReceipt, NodeConfig, NodeHandle, NodeInfo, ParticipantStatus, ParticipantView, PartnershipInfo,
    PartnershipSummary, PublishReceipt, RunningNode, WaitFor, Waiting,
};
