//! The WASM host (being built).
