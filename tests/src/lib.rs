//! Cross-crate integration tests of polypact: multi-node scenarios over the
//! real network, full charters through real WASM modules, adversaries.
//!
//! The single-node suites live with the runtime (`runtime/tests/all`); this
//! crate receives the multi-node tests as the network lands (issue 6).
