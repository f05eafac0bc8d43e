//! Cross-crate integration tests, linked into one binary (one link and one
//! copy of wasmtime and libp2p instead of one per file; nextest still runs
//! every test in its own process). Run one group with a filter, for example
//! `cargo test -p polypact-tests --test all net_gossip::`.

// The node binary's allocator (`runtime/src/main.rs`), so that what runs
// here, benchmarks included, allocates as a node does.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod capital_wasm;
mod charters;
mod disputes_wasm;
mod exit_wasm;
mod governance_wasm;
mod net_adversary;
mod net_bench;
mod net_catchup;
mod net_cluster;
mod net_code;
mod net_compaction;
mod net_confidentiality;
mod net_crossing;
mod net_edges;
mod net_gossip;
mod net_join;
mod net_member_partnership;
mod net_program;
mod net_scale;
mod net_suspension;
mod participants_bench;
mod scale_bench;
mod term_wasm;
mod treasury_wasm;
