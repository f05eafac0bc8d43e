//! Local testnets: `testnet up|down|demo`, N nodes as processes on
//! loopback.
//!
//! - [`processes`]: `up` and `down`, starting and stopping the nodes.
//! - [`demo`]: `demo`, the scripted partnership story on a testnet of its
//!   own (over `up` and `down`, and the client commands' API steps).
//! - [`program`]: `demo --program`, a program spawning a project with an
//!   outsider, and the program fee crossing between them.
//!
//! The record of a testnet, `testnet.json`, is not in here but in
//! [`super::testnet_file`]: the client, the charter check and the client
//! commands read it too, and this module uses them.

mod demo;
mod processes;
mod program;

pub use demo::demo;
pub use processes::{down, up};
pub use program::demo as program_demo;
