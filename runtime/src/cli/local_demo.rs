//! `polypact demo`: three partners' ledgers in one process, running the
//! guestbook module as WASM (no network, no API): ops exchanged, acked, and
//! final on all three with one state root. The multi-process demo over the
//! API is `polypact testnet demo` ([`super::testnet`]).

use anyhow::{Context, Result, bail};
use polypact::host::{HostConfig, WasmExecutor};
use polypact::ledger::{Ledger, LedgerConfig};
use polypact::op::{Charter, CodeHash, MemberKey, ModuleSpec, Params, Payload, UnsignedOp};

/// Where the demo looks for the guestbook module when not told: where
/// `scripts/build-modules.sh` puts it, relative to the repository root.
const DEFAULT_WASM: &str = "target/wasm32-unknown-unknown/release/guestbook.wasm";

/// Runs the in-process demo with the guestbook module at `wasm` (default:
/// [`DEFAULT_WASM`] under the current directory).
pub fn run(wasm: Option<&std::path::Path>) -> Result<()> {
    let path = wasm.unwrap_or(std::path::Path::new(DEFAULT_WASM));
    let wasm = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the guestbook module at {}; run the demo from the repository root after \
             ./scripts/build-modules.sh, or point --wasm at guestbook.wasm",
            path.display()
        )
    })?;
    let names = ["studio", "telco", "bank"];
    let keys: Vec<MemberKey> = (1..=3).map(MemberKey::from_seed).collect();
    let mut participants: Vec<_> = keys.iter().map(MemberKey::member_id).collect();
    participants.sort();
    let code = CodeHash::of(&wasm);
    let charter = Charter {
        name: "Studio, telco and bank joint venture".into(),
        participants,
        modules: vec![ModuleSpec {
            name: "guestbook".into(),
            code,
            config: "{}".into(),
            permissions: vec![],
        }],
        params: Params::default(),
        parent: None,
    };
    let mut now = 1_700_000_000_000u64;
    let genesis = UnsignedOp {
        partnership: Default::default(),
        author: keys[0].member_id(),
        seq: 1,
        parents: vec![],
        time_ms: now,
        payload: Payload::Genesis(charter),
    }
    .sign(&keys[0]);
    outln!("partnership {} created by {} ({})", genesis.partnership(), names[0], keys[0].member_id());
    let mut nodes = Vec::new();
    for _ in 0..3 {
        let executor = WasmExecutor::new(HostConfig::default()).context("cannot start the WASM host")?;
        executor.add_code(&wasm).context("the guestbook module does not load")?;
        nodes.push(Ledger::new(genesis.clone(), executor, LedgerConfig::default())?);
    }
    let lines = ["Glad to be in.", "Network ready for the launch.", "Funding line approved."];
    for (i, line) in lines.iter().enumerate() {
        now += 1_000;
        let payload = Payload::Call {
            module: "guestbook".into(),
            msg: serde_json::json!({"sign": {"message": line}}).to_string().into_bytes(),
        };
        let op = nodes[i].create_op(&keys[i], payload, now);
        nodes[i].insert(op, now)?;
        outln!("{:>6} signs the guestbook: {line:?}", names[i]);
    }
    // Gossip: everyone gets everything, then acks what it has not acked.
    for _round in 0..2 {
        exchange(&mut nodes, now)?;
        for i in 0..3 {
            if nodes[i].needs_ack(&keys[i].member_id()) {
                now += 10;
                let ack = nodes[i].create_op(&keys[i], Payload::Ack, now);
                nodes[i].insert(ack, now)?;
            }
        }
    }
    exchange(&mut nodes, now)?;
    let count = nodes[0].query("guestbook", br#"{"count":{}}"#, true)?.map_err(anyhow::Error::msg)?;
    outln!("final guestbook count: {}", String::from_utf8_lossy(&count));
    for (i, node) in nodes.iter().enumerate() {
        outln!(
            "{:>6}: final height {}  final state root {}",
            names[i],
            node.final_height(),
            hex::encode(node.final_root())
        );
    }
    if nodes.iter().any(|n| n.final_root() != nodes[0].final_root()) {
        bail!("the nodes disagree on the final state root");
    }
    outln!(
        "all three nodes agree. (One process; `polypact testnet demo` runs nodes as processes over the network.)"
    );
    Ok(())
}

fn exchange(nodes: &mut [Ledger<WasmExecutor>], now: u64) -> Result<()> {
    for from in 0..nodes.len() {
        let ops: Vec<_> = nodes[from].dag().nodes().map(|n| (n.height, (*n.op).clone())).collect();
        for (to, node) in nodes.iter_mut().enumerate() {
            if to == from {
                continue;
            }
            let mut missing: Vec<_> =
                ops.iter().filter(|(_, op)| !node.dag().contains(&op.id())).cloned().collect();
            missing.sort_by_key(|(h, op)| (*h, op.id()));
            for (_, op) in missing {
                node.insert_synced(op, now)?;
            }
        }
    }
    Ok(())
}
