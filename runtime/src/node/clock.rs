//! The node clock: stamps the ops this node authors and times its local
//! policy (acks, absences). It never decides state: the ledger only sees
//! each op's own `time_ms`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The node clock in milliseconds since the Unix epoch (stamps ops the node
/// authors; never decides state, which only sees `time_ms` of ops).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
