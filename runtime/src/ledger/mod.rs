//! The ledger: applies a partnership's ops in order through its modules.
//!
//! This module owns the pure, synchronous state machine of one partnership
//! ([`Ledger`]): admission of ops into the graph (with the author, seq and
//! time rules), application in `(height, id)` order with undo and re-apply for
//! late ops, countersignature finality, the final and optimistic states and
//! their roots, failed-op records, equivocation exclusion, and the atomic
//! dispatch of module calls, messages and system messages through an
//! [`Executor`]. It does not own how module code runs (`host`), how ops are
//! persisted (`store`) or sent (`net`).

mod core;
pub mod crossing;
mod dispatch;
mod error;
mod executor;
mod finality;
mod lthash;
#[cfg(any(test, feature = "testing"))]
mod native;
mod persist;
mod publish;
mod state;
mod summary;
mod suspension;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use self::core::{
    FinalInMemory, Insertion, Ledger, LedgerConfig, Notification, NotificationKind, OpOutcome, Origin,
    Snapshot,
};
pub use dispatch::{MAX_EVENT_BYTES_PER_OP, MAX_INVOCATIONS_PER_OP, ModuleEvent};
pub use error::{LedgerError, Refusal};
pub use executor::{ExecError, Executor, HostEnv, Invocation, Invoked, Output};
pub use lthash::LtHash;
#[cfg(any(test, feature = "testing"))]
pub use native::{NativeExecutor, NativeModule};
pub use persist::{OpenError, StoreArchive};
pub use state::{CodeRecord, ModuleRecord, ParticipantRecord, StateMap, SuspensionRecord, VoteRecord, Write};
pub use suspension::SYSTEM_EVENTS;
