//! What WASM costs: the voting module's `vote` handle (which reads the
//! voter's power from the membership module through a query, then updates
//! the proposal's tally) run as WASM by the node's host and as the same Rust
//! compiled natively, both through the ledger's `Executor` trait, in the
//! same run.
//!
//! Run: `./scripts/build-modules.sh && cargo bench -p polypact --bench wasm_vs_native`.
//! Prints criterion's figures and then the WASM/native ratio (target: at
//! most 3x).

use std::collections::BTreeMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use polypact::host::native::DispatchExecutor;
use polypact::host::{HostConfig, WasmExecutor};
use polypact::ledger::{Executor, HostEnv, Invocation, Output};
use polypact::op::{CodeHash, MemberKey};
use polypact::testing::module_wasm;
use polypact_sdk::abi::{Entry, Env, Event, Info, Input, QueryResult};
use serde_json::json;

const FUEL: u64 = 50_000_000;
const VOTERS: usize = 50;
const T0: u64 = 1_700_000_000_000;

/// The state of a two-module partnership, with module namespaces, and
/// queries between modules run through the same executor.
struct World<'e> {
    executor: &'e dyn Executor,
    codes: BTreeMap<String, CodeHash>,
    state: BTreeMap<Vec<u8>, Vec<u8>>,
    participants: Vec<String>,
}

struct ModuleEnv<'w, 'e> {
    world: &'w mut World<'e>,
    namespace: Vec<u8>,
    read_only: bool,
    height: u64,
}

impl HostEnv for ModuleEnv<'_, '_> {
    fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        self.world.state.get(&[self.namespace.as_slice(), key].concat()).cloned()
    }
    fn set(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("write in a query".into());
        }
        self.world.state.insert([self.namespace.as_slice(), key].concat(), value.to_vec());
        Ok(())
    }
    fn remove(&mut self, key: &[u8]) -> Result<(), String> {
        if self.read_only {
            return Err("write in a query".into());
        }
        self.world.state.remove(&[self.namespace.as_slice(), key].concat());
        Ok(())
    }
    fn scan(&mut self, prefix: &[u8], start: &[u8], limit: u32) -> Vec<(Vec<u8>, Vec<u8>)> {
        let full_prefix = [self.namespace.as_slice(), prefix].concat();
        let from = [self.namespace.as_slice(), start.max(prefix)].concat();
        self.world
            .state
            .range(from..)
            .take_while(|(k, _)| k.starts_with(&full_prefix))
            .take(limit as usize)
            .map(|(k, v)| (k[self.namespace.len()..].to_vec(), v.clone()))
            .collect()
    }
    fn query(&mut self, module: &str, msg: &[u8], fuel: u64) -> (QueryResult, u64) {
        if module == "system" {
            let list: Vec<_> =
                self.world.participants.iter().map(|m| json!({"member": m, "admitted_at": 0})).collect();
            return (Ok(serde_json::to_vec(&list).expect("json")), 0);
        }
        let height = self.height;
        match self.world.invoke(module, Entry::Query, msg, None, height, fuel, true) {
            Ok((Output::Query(result), used)) => (result, used),
            Ok(_) => (Err("not a query answer".into()), 0),
            Err(e) => (Err(e), 0),
        }
    }
    fn emit(&mut self, _event: Event) {}
    fn log(&mut self, _line: &str) {}
}

impl<'e> World<'e> {
    #[allow(clippy::too_many_arguments)]
    fn invoke(
        &mut self,
        module: &str,
        entry: Entry,
        msg: &[u8],
        caller: Option<&str>,
        height: u64,
        fuel: u64,
        read_only: bool,
    ) -> Result<(Output, u64), String> {
        let code = *self.codes.get(module).ok_or("unknown module")?;
        let input = Input {
            env: Env {
                partnership: "00".repeat(32),
                module: module.to_owned(),
                height,
                time_ms: T0 + height,
            },
            info: caller.map(|c| Info {
                caller: c.to_owned(),
                sender_module: None,
                op_id: "11".repeat(32),
                seq: height,
            }),
            msg: msg.to_vec(),
        };
        let executor = self.executor;
        let namespace = format!("m/{module}/").into_bytes();
        let mut env = ModuleEnv { world: self, namespace, read_only, height };
        let invoked = executor
            .invoke(Invocation { code: &code, entry, input: &input, fuel }, &mut env)
            .map_err(|e| e.to_string())?;
        Ok((invoked.output, invoked.fuel_used))
    }

    fn handle(&mut self, module: &str, entry: Entry, msg: serde_json::Value, caller: &str, height: u64) {
        let (output, _) = self
            .invoke(module, entry, msg.to_string().as_bytes(), Some(caller), height, FUEL, false)
            .expect("runs");
        match output {
            Output::Response(Ok(_)) => {}
            other => panic!("{module} {entry:?} failed: {other:?}"),
        }
    }
}

/// A partnership with `VOTERS` members and one open proposal.
fn world<'e>(executor: &'e dyn Executor, membership: CodeHash, voting: CodeHash) -> World<'e> {
    let members: Vec<String> =
        (0..VOTERS).map(|i| MemberKey::from_seed(i as u8).member_id().to_string()).collect();
    let mut world = World {
        executor,
        codes: BTreeMap::from([("membership".to_owned(), membership), ("voting".to_owned(), voting)]),
        state: BTreeMap::new(),
        participants: members.clone(),
    };
    let config = json!({
        "members": members.iter().map(|m| json!({"member": m, "voting_units": 10, "economic_units": 10})).collect::<Vec<_>>(),
        "governance": "voting"
    });
    world.handle("membership", Entry::Init, config, &members[0], 0);
    let voting_config = json!({
        "membership": "membership",
        "rules": {"default": {"threshold": {"majority": {}}, "quorum_percent": 50}},
        "min_period_ms": 1, "max_period_ms": 1_000_000_000,
        "allow_vote_change": true, "proposers": "members", "veto": null
    });
    world.handle("voting", Entry::Init, voting_config, &members[0], 0);
    world.handle(
        "voting",
        Entry::Handle,
        json!({"propose": {"title": "bench", "messages": []}}),
        &members[0],
        2,
    );
    world
}

fn vote_message(i: usize) -> Vec<u8> {
    let choice = if (i / VOTERS).is_multiple_of(2) { "yes" } else { "no" };
    json!({"vote": {"proposal": 1, "choice": choice}}).to_string().into_bytes()
}

fn vote(world: &mut World<'_>, members: &[String], i: usize, message: &[u8]) {
    let caller = &members[i % VOTERS];
    let (output, _) =
        world.invoke("voting", Entry::Handle, message, Some(caller), 3, FUEL, false).expect("vote runs");
    assert!(matches!(output, Output::Response(Ok(_))), "vote failed: {output:?}");
}

fn main() {
    let membership_wasm = module_wasm("membership").unwrap_or_else(|e| panic!("{e}"));
    let voting_wasm = module_wasm("voting").unwrap_or_else(|e| panic!("{e}"));
    let wasm = WasmExecutor::new(HostConfig::default()).expect("host");
    let membership = wasm.add_code(&membership_wasm).expect("membership loads");
    let voting = wasm.add_code(&voting_wasm).expect("voting loads");
    let native = DispatchExecutor::new()
        .with_module(membership, membership::polypact_dispatch)
        .with_module(voting, voting::polypact_dispatch);
    let members: Vec<String> =
        (0..VOTERS).map(|i| MemberKey::from_seed(i as u8).member_id().to_string()).collect();
    let messages: Vec<Vec<u8>> = (0..2 * VOTERS).map(vote_message).collect();

    let mut criterion = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(5));
    {
        let mut group = criterion.benchmark_group("voting_tally/vote");
        for (name, executor) in [("wasm", &wasm as &dyn Executor), ("native", &native as &dyn Executor)] {
            let mut w = world(executor, membership, voting);
            let mut i = 0usize;
            group.bench_function(name, |b| {
                b.iter(|| {
                    vote(&mut w, &members, i, &messages[i % messages.len()]);
                    i += 1;
                    black_box(&w.state);
                })
            });
        }
        group.finish();
    }
    criterion.final_summary();

    // The ratio, measured back to back on the same machine.
    let per_vote = |executor: &dyn Executor| {
        let mut w = world(executor, membership, voting);
        let rounds = 2_000;
        let start = Instant::now();
        for i in 0..rounds {
            vote(&mut w, &members, i, &messages[i % messages.len()]);
        }
        start.elapsed() / rounds as u32
    };
    let wasm_time = per_vote(&wasm);
    let native_time = per_vote(&native);
    println!(
        "voting tally (vote handle with a membership query): wasm {:.1} µs, native {:.1} µs, ratio {:.2}x (target <= 3x)",
        wasm_time.as_nanos() as f64 / 1000.0,
        native_time.as_nanos() as f64 / 1000.0,
        wasm_time.as_nanos() as f64 / native_time.as_nanos().max(1) as f64
    );
}
