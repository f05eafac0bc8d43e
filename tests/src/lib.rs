//! Cross-crate integration tests of polypact: multi-node scenarios over the
//! real network, full charters through real WASM modules, adversaries.
//!
//! The single-node suites live with the runtime (`runtime/tests/all`). This
//! library holds what the multi-node tests share: starting in-process nodes
//! on loopback (each with its own temporary store, member key and libp2p
//! key), the guestbook charter, and waiting on conditions with generous
//! timeouts (polling, never a fixed sleep standing in for a condition).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use polypact::net::{Keypair, Multiaddr, NetHandle, PeerId, TransportConfig};
use polypact::node::{
    NodeBuilder, NodeConfig, NodeError, NodeHandle, PartnershipInfo, RunningNode, SyncConfig,
};
use polypact::op::{
    Charter, CodeHash, MemberId, MemberKey, ModuleSpec, OpId, Params, PartnershipId, Payload,
};
use polypact::op::{SignedOp, UnsignedOp};
use tokio::task::JoinHandle;

/// How long any multi-node condition may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(120);

/// The guestbook module's built WASM.
///
/// # Panics
/// If the modules are not built (`./scripts/build-modules.sh`).
pub fn guestbook_wasm() -> Vec<u8> {
    polypact::testing::module_wasm("guestbook").unwrap_or_else(|e| panic!("{e}"))
}

/// A charter with the guestbook and the members of `seeds` as participants.
pub fn guestbook_charter(seeds: &[u8], code: CodeHash) -> Charter {
    let mut participants: Vec<MemberId> =
        seeds.iter().map(|s| MemberKey::from_seed(*s).member_id()).collect();
    participants.sort();
    Charter {
        name: "net test".into(),
        participants,
        modules: vec![ModuleSpec {
            name: "guestbook".into(),
            code,
            config: "{}".into(),
            permissions: vec![],
        }],
        params: Params::default(),
        parent: None,
    }
}

/// The genesis op of `charter`, signed by the member of `seed`.
pub fn genesis(charter: Charter, seed: u8, time_ms: u64) -> SignedOp {
    let key = MemberKey::from_seed(seed);
    UnsignedOp {
        partnership: PartnershipId::default(),
        author: key.member_id(),
        seq: 1,
        parents: vec![],
        time_ms,
        payload: Payload::Genesis(charter),
    }
    .sign(&key)
}

/// A guestbook call message.
pub fn sign_msg(text: &str) -> Vec<u8> {
    serde_json::json!({"sign": {"message": text}}).to_string().into_bytes()
}

/// Network settings for loopback tests: fast heartbeats and retries.
pub fn test_net_config(keypair: Keypair, bootstrap: Vec<Multiaddr>) -> TransportConfig {
    let mut config = TransportConfig::loopback(keypair);
    config.bootstrap = bootstrap;
    config.heartbeat = Duration::from_millis(100);
    config.retry_interval = Duration::from_millis(50);
    config.redial_min = Duration::from_millis(100);
    config.redial_max = Duration::from_secs(1);
    config
}

/// Node-side network settings for tests: anti-entropy twice a second.
pub fn test_network_config() -> SyncConfig {
    SyncConfig { anti_entropy_interval: Duration::from_millis(500), ..SyncConfig::default() }
}

/// One in-process node: its member seed, data directory, libp2p key, handles.
pub struct TestNode {
    /// The member key's seed.
    pub seed: u8,
    /// The member.
    pub member: MemberId,
    /// The data directory (the store is `store.redb` in it).
    pub dir: PathBuf,
    /// The libp2p key (kept to restart with the same peer id).
    pub keypair: Keypair,
    /// The node.
    pub node: NodeHandle,
    /// The network.
    pub net: NetHandle,
    /// The node task.
    pub task: JoinHandle<Result<(), NodeError>>,
    /// A dialable address, with `/p2p/<peer id>`.
    pub addr: Multiaddr,
}

impl TestNode {
    /// Starts a node for member `seed` in `dir` with `keypair`, dialing `bootstrap`.
    pub async fn start(dir: &Path, seed: u8, keypair: Keypair, bootstrap: Vec<Multiaddr>) -> TestNode {
        Self::start_with(dir, seed, keypair, bootstrap, test_network_config()).await
    }

    /// [`TestNode::start`] with other node-side network settings.
    pub async fn start_with(
        dir: &Path,
        seed: u8,
        keypair: Keypair,
        bootstrap: Vec<Multiaddr>,
        network: SyncConfig,
    ) -> TestNode {
        Self::start_configured(dir, seed, test_net_config(keypair, bootstrap), network).await
    }

    /// [`TestNode::start_with`] with the whole network configuration given.
    pub async fn start_configured(
        dir: &Path,
        seed: u8,
        net_config: TransportConfig,
        network: SyncConfig,
    ) -> TestNode {
        let config = NodeConfig::new(dir);
        let keypair = net_config.keypair.clone();
        let RunningNode { handle, task, network } = NodeBuilder::new(config, MemberKey::from_seed(seed))
            .network(net_config)
            .sync(network)
            .start()
            .expect("node starts");
        let net = network.expect("started with a network");
        let addr = net.listen_addrs().await.expect("listening").into_iter().next().expect("an address");
        let addr = addr.with(polypact::net::Protocol::P2p(net.local_peer_id()));
        TestNode {
            seed,
            member: MemberKey::from_seed(seed).member_id(),
            dir: dir.to_path_buf(),
            keypair,
            node: handle,
            net,
            task,
            addr,
        }
    }

    /// This node's peer id.
    pub fn peer(&self) -> PeerId {
        self.net.local_peer_id()
    }

    /// The partnership as this node sees it.
    pub async fn info(&self, p: PartnershipId) -> PartnershipInfo {
        self.node.partnership(p).await.expect("partnership")
    }

    /// Stops the node as a crash would: the task is aborted (no shutdown,
    /// no final snapshot) and the network torn down.
    pub async fn kill(self) {
        self.task.abort();
        let _ = self.task.await;
        let _ = self.net.shutdown().await;
    }

    /// Clean shutdown.
    pub async fn stop(self) {
        let _ = self.node.shutdown().await;
        let _ = self.task.await;
        let _ = self.net.shutdown().await;
    }
}

/// `n` nodes with member seeds `1..=n`, each dialing every node started
/// before it; every node uploads the guestbook. Returns the nodes and the
/// code hash. Keep the returned temp directories alive as long as the nodes.
pub async fn start_nodes(n: u8, dirs: &[tempfile::TempDir]) -> (Vec<TestNode>, CodeHash) {
    start_nodes_with(n, dirs, test_network_config(), test_net_config).await
}

/// [`start_nodes`] with other network settings: `net` makes each node's
/// libp2p configuration from its key and bootstrap peers (benchmarks use
/// the defaults a real node runs with, tests [`test_net_config`]).
pub async fn start_nodes_with(
    n: u8,
    dirs: &[tempfile::TempDir],
    network: SyncConfig,
    net: fn(Keypair, Vec<Multiaddr>) -> TransportConfig,
) -> (Vec<TestNode>, CodeHash) {
    let wasm = guestbook_wasm();
    let mut nodes: Vec<TestNode> = Vec::new();
    let mut code = None;
    for seed in 1..=n {
        let bootstrap = nodes.iter().map(|n| n.addr.clone()).collect();
        let dir = dirs[usize::from(seed - 1)].path();
        let node =
            TestNode::start_configured(dir, seed, net(Keypair::generate_ed25519(), bootstrap), network).await;
        code = Some(node.node.add_code(wasm.clone()).await.expect("code"));
        nodes.push(node);
    }
    (nodes, code.expect("at least one node"))
}

/// `n` temporary directories.
pub fn temp_dirs(n: usize) -> Vec<tempfile::TempDir> {
    (0..n).map(|_| tempfile::tempdir().expect("tempdir")).collect()
}

/// Polls `check` until it returns `Some`, failing the test after [`WAIT`]
/// with `what` and the last state seen.
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(state) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "timed out waiting for {what}; last state: {state}"
                );
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every node holds the same ops with the same final height and
/// root, and every op of `must_be_final` is final on every node.
pub async fn wait_converged(
    nodes: &[&TestNode],
    p: PartnershipId,
    must_be_final: &[OpId],
) -> PartnershipInfo {
    wait_for("the nodes to converge", || async {
        let mut infos = Vec::new();
        for node in nodes {
            infos.push(node.info(p).await);
        }
        let first = &infos[0];
        let state: Vec<(u64, u64, u64, String)> = infos
            .iter()
            .map(|i| (i.op_count, i.final_height, i.optimistic_height, hex_short(&i.final_root)))
            .collect();
        let same = infos.iter().all(|i| {
            i.op_count == first.op_count
                && i.final_height == first.final_height
                && i.final_root == first.final_root
        });
        if !same {
            return Err(format!("(ops, final, optimistic, root) per node: {state:?}"));
        }
        for node in nodes {
            for op in must_be_final {
                let (_, is_final) = node.node.op_status(p, *op).await.map_err(|e| e.to_string())?;
                if !is_final {
                    return Err(format!("op {op:?} not final on member {}; {state:?}", node.seed));
                }
            }
        }
        Ok(first.clone())
    })
    .await
}

fn hex_short(root: &[u8; 32]) -> String {
    root[..4].iter().map(|b| format!("{b:02x}")).collect()
}
