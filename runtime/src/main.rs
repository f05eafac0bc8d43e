//! The `polypact` binary: a thin entry point; the commands live in
//! [`cli`] (`runtime/src/cli/`).

mod cli;

// mimalloc rather than the system allocator: a node allocates small,
// short-lived buffers on many threads at once (gossip frames, ops, store
// pages), where glibc's malloc cost about a tenth of the CPU and lengthened
// the finality tail (BENCHMARKS.md, network).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
