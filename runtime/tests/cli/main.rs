//! Tests of the node's interfaces: the HTTP API (in process, over real
//! HTTP), its OpenAPI description, and the `polypact` binary driven as a
//! user would (init, node, partnership, call, query, events, testnet,
//! module new) with every error a user will hit, a partner removed by the
//! other two on a real testnet, and a killed partner's node suspended and
//! readmitted on one.
//!
//! They live in the runtime crate (not in `tests/`) so that cargo builds the
//! binary first and hands its path over as `CARGO_BIN_EXE_polypact`. They
//! need the standard modules built for wasm32 (`./scripts/build-modules.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests

mod absence;
mod api;
mod certificate;
mod commands;
mod edge;
mod errors;
mod mistakes;
mod openapi;
mod portfolio;
mod publish;
mod readme;
mod relabel;
mod removal;
mod scaffold;
mod store;
mod support;
mod testnet;
