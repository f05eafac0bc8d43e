//! The node: wires the ledger, the store, the WASM host and the network
//! together for one member (DESIGN: `node -> {net, ledger}`).
//!
//! - [`core`]: the synchronous core (store + executor + one ledger per
//!   partnership, acks, snapshots, outbox); no tokio.
//! - [`service`]: the tokio task that owns the core and the
//!   [`NodeHandle`] clients use (the HTTP API, embedding applications).
//! - [`network`]: the network half of the loop (gossip, sync, anti-entropy).
//! - [`event`]: what subscribers receive.
//! - `absence`: when the member votes to suspend an absent partner,
//!   withdraws, asks to return or readmits one.
//! - [`error`]: what clients are told.

mod absence;
pub mod core;
pub mod error;
pub mod event;
pub mod network;
pub mod service;

pub use self::core::{CoreConfig, NodeCore, NodeLedger, Origin};
pub use error::NodeError;
pub use event::{NodeEvent, OpEventKind, outcome_json};
pub use network::{NetworkConfig, NetworkHalf, NetworkStats, start_networked};
pub use service::{
    CallReceipt, NodeConfig, NodeHandle, NodeInfo, ParticipantStatus, ParticipantView, PartnershipInfo,
    PartnershipSummary, RunningNode, WaitFor, Waiting, now_ms, open_core, start, start_with_core,
    start_with_network,
};
