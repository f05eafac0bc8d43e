//! Integration tests of the `polypact` crate, linked into one binary.

mod support;

mod compaction;
mod crossing;
mod equivocation;
mod forgetting;
mod ledger_bad_input;
mod ledger_order;
mod node;
mod portfolio;
mod restart;
mod resting;
mod suspension;
mod system_messages;
mod wasm_ledger;
