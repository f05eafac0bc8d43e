//! The ledger (being built).

mod executor;

pub use executor::{ExecError, Executor, HostEnv, Invocation, Invoked, Output};
