//! [`NodeBuilder`]: the one way to open and start a node, with or without
//! its libp2p network.
//!
//! It owns what starting takes: creating the data directory, opening the
//! store, starting the WASM host, rebuilding the ledgers
//! ([`NodeCore::open`]), spawning the network ([`crate::net::Network`]) and
//! handing both to the node task ([`super::service`]). It does not run
//! anything itself.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::core::NodeCore;
use super::error::NodeError;
use super::network::{NetworkHalf, SyncConfig};
use super::service::{NodeConfig, RunningNode, spawn_task};
use crate::host::WasmExecutor;
use crate::net::{Network, TransportConfig};
use crate::op::{MemberId, MemberKey};
use crate::store::Store;

/// Opens and starts a node.
///
/// ```no_run
/// # #[allow(dead_code)]
/// # async fn run() -> Result<(), polypact::node::NodeError> {
/// use polypact::net::{Keypair, TransportConfig};
/// use polypact::node::{NodeBuilder, NodeConfig};
/// use polypact::op::MemberKey;
///
/// let running = NodeBuilder::new(NodeConfig::new("/var/lib/polypact"), MemberKey::from_seed(1))
///     .network(TransportConfig::new(Keypair::generate_ed25519()))
///     .start()?;
/// let peers = running.network.as_ref().map(|net| net.local_peer_id());
/// # let _ = peers;
/// # Ok(()) }
/// ```
pub struct NodeBuilder {
    config: NodeConfig,
    key: MemberKey,
    transport: Option<TransportConfig>,
    sync: SyncConfig,
    join_from: BTreeSet<MemberId>,
}

impl NodeBuilder {
    /// A node of `key`'s member whose data lives in `config.data_dir`,
    /// without a network until [`network`](Self::network) is given.
    pub fn new(config: NodeConfig, key: MemberKey) -> Self {
        NodeBuilder { config, key, transport: None, sync: SyncConfig::default(), join_from: BTreeSet::new() }
    }

    /// Runs the node with a libp2p network: what it listens on, whom it
    /// dials and its connection bounds.
    #[must_use]
    pub fn network(mut self, transport: TransportConfig) -> Self {
        self.transport = Some(transport);
        self
    }

    /// How the node syncs its partnerships over the network (anti-entropy,
    /// pages, rate limits); the defaults suit most nodes.
    #[must_use]
    pub fn sync(mut self, sync: SyncConfig) -> Self {
        self.sync = sync;
        self
    }

    /// Members whose announced partnerships (naming this node's member as a
    /// founder) the node joins without asking, besides the participants of
    /// partnerships it holds; anyone else's wait as invitations.
    #[must_use]
    pub fn join_announced_from(mut self, members: impl IntoIterator<Item = MemberId>) -> Self {
        self.join_from = members.into_iter().collect();
        self
    }

    /// Opens the store in `config.data_dir` (creating it), starts the WASM
    /// host and rebuilds the node's ledgers, without starting a task: for
    /// applications and tests that drive the synchronous [`NodeCore`].
    pub fn open(self) -> Result<NodeCore, NodeError> {
        open_core(&self.config, self.key)
    }

    /// Opens the node and starts its task (and its network, if given) on
    /// the current tokio runtime. Must be called inside a tokio runtime.
    pub fn start(self) -> Result<RunningNode, NodeError> {
        let NodeBuilder { config, key, transport, sync, join_from } = self;
        let Some(transport) = transport else {
            let core = open_core(&config, key)?;
            return Ok(spawn_task(core, &config, None));
        };
        let signer = MemberKey::from_secret(key.secret());
        let core = open_core(&config, key)?;
        let (net, events) = Network::spawn(transport)
            .map_err(|e| NodeError::Network(format!("cannot start the network: {e}")))?;
        let mut half = NetworkHalf::new(net, events, sync, config.core.ledger.limits, signer);
        half.join_announced_from(join_from);
        Ok(spawn_task(core, &config, Some(half)))
    }
}

fn open_core(config: &NodeConfig, key: MemberKey) -> Result<NodeCore, NodeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        NodeError::Start(format!("cannot create the data directory {}: {e}", config.data_dir.display()))
    })?;
    let store = Store::open_with(&config.data_dir.join(super::STORE_FILE), &config.store)?;
    let executor = Arc::new(
        WasmExecutor::new(config.host.clone())
            .map_err(|e| NodeError::Start(format!("cannot start the WASM host: {e}")))?,
    );
    NodeCore::open(store, executor, key, config.core)
}
