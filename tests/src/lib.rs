//! Cross-crate integration tests of polypact: multi-node scenarios over the
//! real network, full charters through real WASM modules, adversaries.
//!
//! The single-node suites live with the runtime (`runtime/tests/all`). This
//! library holds what the multi-node tests share: starting in-process nodes
//! on loopback (each with its own temporary store, member key and libp2p
//! key), the guestbook charter, and waiting on conditions with generous
//! timeouts (polling, never a fixed sleep standing in for a condition).

pub mod governance;

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

/// A sync `Heads` request about `p` alone, with no proof.
pub fn heads_request(p: PartnershipId) -> polypact::net::SyncRequest {
    use polypact::net::sync::{HeadsDigest, HeadsEntry};
    polypact::net::SyncRequest::Heads {
        entries: vec![HeadsEntry { partnership: p, digest: HeadsDigest([0; 32]) }],
        proof: None,
    }
}

/// The answer to [`heads_request`] when the asker may not see `p`.
pub fn heads_denied(p: PartnershipId) -> polypact::net::SyncResponse {
    polypact::net::SyncResponse::Heads { differ: vec![], denied: vec![p], answered: 1 }
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

/// A node's libp2p settings as a real node on loopback has them
/// (benchmarks). [`test_net_config`] beats gossip 7 times as often and
/// retries 5 times as often, to form meshes fast; that costs CPU a real
/// node does not spend (about a tenth more per op on 8 nodes).
pub fn real_net_config(keypair: Keypair, bootstrap: Vec<Multiaddr>) -> TransportConfig {
    let mut config = TransportConfig::loopback(keypair);
    config.bootstrap = bootstrap;
    config
}

/// CPU time this process has used so far (user and system, all threads),
/// where the platform tells (Linux).
pub fn process_cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // The kernel's USER_HZ is 100 on every Linux platform Rust targets.
    Some(Duration::from_millis(ticks * 10))
}

/// This process's resident set size in bytes, where the platform tells
/// (Linux: `VmRSS` of `/proc/self/status`).
pub fn process_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
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
        Self::start_with_config(NodeConfig::new(dir), seed, net_config, network).await
    }

    /// [`TestNode::start_configured`] with the node's configuration given
    /// too (its data directory is `config.data_dir`).
    pub async fn start_with_config(
        config: NodeConfig,
        seed: u8,
        net_config: TransportConfig,
        network: SyncConfig,
    ) -> TestNode {
        let dir = config.data_dir.clone();
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
            dir,
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
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    wait_for_within(what, WAIT, check).await
}

/// [`wait_for`] with another patience than [`WAIT`].
pub async fn wait_for_within<T, F, Fut>(what: &str, patience: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + patience;
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

/// The geneses of `n` guestbook partnerships of the members of `seeds`
/// (named `project 0`, `project 1`, …), signed by the first of them.
pub fn guestbook_geneses(seeds: &[u8], code: CodeHash, n: usize) -> Vec<SignedOp> {
    (0..n)
        .map(|i| {
            let mut charter = guestbook_charter(seeds, code);
            charter.name = format!("project {i}");
            genesis(charter, seeds[0], polypact::node::now_ms())
        })
        .collect()
}

/// Each of `nodes` joins each of `geneses`. Returns the partnerships.
pub async fn join_all(nodes: &[&TestNode], geneses: &[SignedOp]) -> Vec<PartnershipId> {
    for genesis in geneses {
        for node in nodes {
            node.node.join(genesis.clone()).await.expect("joins");
        }
    }
    geneses.iter().map(SignedOp::partnership).collect()
}

/// `n` guestbook partnerships of the members of `nodes`
/// ([`guestbook_geneses`]), each joined by every node.
pub async fn shared_partnerships(nodes: &[&TestNode], code: CodeHash, n: usize) -> Vec<PartnershipId> {
    let seeds: Vec<u8> = nodes.iter().map(|node| node.seed).collect();
    join_all(nodes, &guestbook_geneses(&seeds, code, n)).await
}

/// Each of `nodes` signs the guestbook once in each of `partnerships`,
/// not waiting for the outcome. Returns every `(partnership, op)`.
pub async fn sign_in_each(nodes: &[&TestNode], partnerships: &[PartnershipId]) -> Vec<(PartnershipId, OpId)> {
    let mut ops = Vec::with_capacity(nodes.len() * partnerships.len());
    for (i, p) in partnerships.iter().enumerate() {
        for node in nodes {
            let receipt = node
                .node
                .call(
                    *p,
                    "guestbook",
                    sign_msg(&format!("hello {i}")),
                    polypact::node::WaitFor::Accepted,
                    Duration::from_secs(30),
                )
                .await
                .expect("accepted");
            ops.push((*p, receipt.op));
        }
    }
    ops
}

/// Waits (up to `patience`) until every op of `ops` is final on every node
/// of `nodes`, asking again only about those that were not yet. Fails the
/// test with how many are not and the first of them, as each node sees it.
pub async fn wait_all_final(nodes: &[&TestNode], ops: &[(PartnershipId, OpId)], patience: Duration) {
    let waiting: std::cell::RefCell<Vec<(usize, PartnershipId, OpId)>> = std::cell::RefCell::new(
        (0..nodes.len()).flat_map(|n| ops.iter().map(move |(p, op)| (n, *p, *op))).collect(),
    );
    let total = waiting.borrow().len();
    let waiting = &waiting;
    wait_for_within("every op to be final on every node", patience, || {
        let pending = waiting.borrow().clone();
        async move {
            let mut still = Vec::new();
            for (n, p, op) in pending {
                let (_, is_final) = nodes[n].node.op_status(p, op).await.map_err(|e| e.to_string())?;
                if !is_final {
                    still.push((n, p, op));
                }
            }
            let Some(&(n, p, _)) = still.first() else { return Ok(()) };
            let info = nodes[n].info(p).await;
            let detail = format!(
                "{} of {total} (op, node) pairs not final; first: {} on member {}: ops {}, final {}, optimistic {}, waiting for {:?}",
                still.len(),
                info.charter.name,
                nodes[n].seed,
                info.op_count,
                info.final_height,
                info.optimistic_height,
                info.waiting_for.iter().map(|w| w.member.to_string()).collect::<Vec<_>>(),
            );
            waiting.replace(still);
            Err(detail)
        }
    })
    .await;
}

/// The newest partnership key of `p` sealed to `key`'s member, fetched as
/// that member's node would: a hello to `node`, then the ops of `authors`
/// by sync, opening the member's slot of each rekey op. Waits until one is
/// there (a partnership gets its first key once its nodes have met).
///
/// # Panics
/// If no key sealed to the member arrives in time.
pub async fn partnership_key_as(
    net: &NetHandle,
    node: PeerId,
    p: PartnershipId,
    key: &MemberKey,
    authors: &[MemberId],
) -> polypact::seal::PartnershipKey {
    use polypact::net::sync::{self, SeqRange};
    use polypact::net::{SyncRequest, SyncResponse};
    let me = key.member_id();
    let context = polypact::seal::rekey_context(&p);
    wait_for("a partnership key sealed to the member", || async {
        let hello = sync::hello(key, p, &net.local_peer_id());
        net.request(node, hello).await.map_err(|e| e.to_string())?;
        let ranges = authors
            .iter()
            .map(|author| SeqRange { partnership: p, author: *author, from_seq: 1, limit: 256 })
            .collect();
        let ops = match net.request(node, SyncRequest::Ops { ranges }).await.map_err(|e| e.to_string())? {
            SyncResponse::Page { ops, .. } | SyncResponse::Ops { ops, .. } => ops,
            other => return Err(format!("{other:?}")),
        };
        let mut newest = None;
        for bytes in ops {
            let op = polypact::op::decode_signed_op(&bytes, &polypact::op::Limits::default())
                .map_err(|e| e.to_string())?;
            if let Payload::Rekey { recipients, sealed } = &op.op().payload
                && let Ok(slot) = recipients.binary_search(&me)
            {
                let opened =
                    sealed.open_slot(slot, &key.x25519_secret(), &context).map_err(|e| e.to_string())?;
                let bytes: [u8; 32] = opened.try_into().map_err(|_| "not a 32-byte key".to_owned())?;
                newest = Some(polypact::seal::PartnershipKey::from_bytes(bytes));
            }
        }
        newest.ok_or_else(|| "no rekey op sealed to the member yet".to_owned())
    })
    .await
}
