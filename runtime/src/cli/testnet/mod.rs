//! Local testnets: `testnet up|down|demo`, N nodes as processes on
//! loopback.
//!
//! - [`processes`]: `up` and `down`, starting and stopping the nodes.
//! - [`demo`]: `demo`, the scripted partnership story on a testnet of its
//!   own (over `up` and `down`, and the client commands' API steps).
//!
//! The record of a testnet, `testnet.json`, is not in here but in
//! [`super::testnet_file`]: the client, the charter check and the client
//! commands read it too, and this module uses them.

mod demo;
mod processes;

pub use demo::demo;
pub use processes::{down, up};
