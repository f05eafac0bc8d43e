//! The ABI between the polypact host and a module: defined once, used by both
//! sides.
//!
//! This module owns the wire types that cross the WASM boundary and the names
//! of the functions on each side. It does not own how a module is written
//! (the rest of the SDK) or how the host runs it (the runtime's `host`).
//!
//! # Calling convention
//!
//! Every structured value crosses the boundary as [postcard] bytes; module
//! messages, query messages and results inside them are JSON bytes, so the
//! runtime needs no schema.
//!
//! A module **exports**:
//!
//! | export | signature | what |
//! |---|---|---|
//! | [`EXPORT_ABI_VERSION`] | `() -> i32` | returns [`ABI_VERSION`]; the host refuses any other value |
//! | [`EXPORT_ALLOC`] | `(len: i32) -> i32` | allocates `len` bytes in the module's memory for the host to write into |
//! | [`EXPORT_INIT`], [`EXPORT_HANDLE`], [`EXPORT_MIGRATE`] | `(ptr: i32, len: i32) -> i64` | input: an [`Input`]; output: a [`ResponseResult`] |
//! | [`EXPORT_QUERY`] | `(ptr: i32, len: i32) -> i64` | input: an [`Input`] (no `info`); output: a [`QueryResult`] |
//! | `memory` | memory | the module's linear memory |
//!
//! An entry point returns `(ptr << 32) | len` of its postcard-encoded output
//! in its own memory. `migrate` is optional (needed only to be upgraded to).
//!
//! The host **imports** (module [`IMPORT_MODULE`]), all offsets and lengths `i32`:
//!
//! | import | signature | what |
//! |---|---|---|
//! | `db_get` | `(key_ptr, key_len) -> i64` | `-1` if absent, else the value's length; then `take_result` |
//! | `db_set` | `(key_ptr, key_len, val_ptr, val_len)` | write (traps in a query) |
//! | `db_remove` | `(key_ptr, key_len)` | delete (traps in a query) |
//! | `db_scan` | `(prefix_ptr, prefix_len, start_ptr, start_len, limit) -> i64` | keys with `prefix` and `>= start`, ascending, at most `limit`: a postcard [`ScanPage`]'s length; then `take_result` |
//! | `query` | `(module_ptr, module_len, msg_ptr, msg_len) -> i64` | queries another module (or [`SYSTEM_MODULE`]): a postcard [`QueryResult`]'s length; then `take_result` |
//! | `take_result` | `(dst_ptr)` | copies the last result into the module's memory |
//! | `emit_event` | `(ptr, len)` | a postcard [`Event`] |
//! | `debug_log` | `(ptr, len)` | UTF-8 text; shown in the node's debug log, never affects state |
//!
//! Keys are in the module's own namespace: a module can neither see nor
//! touch another module's keys.
//!
//! [postcard]: https://docs.rs/postcard

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// The ABI version this SDK speaks. A module built for another version is
/// refused by the host with an error that names both versions.
pub const ABI_VERSION: u32 = 1;

/// Export: `() -> i32`, the ABI version.
pub const EXPORT_ABI_VERSION: &str = "polypact_abi_version";
/// Export: `(len) -> ptr`, allocation for host-written input.
pub const EXPORT_ALLOC: &str = "polypact_alloc";
/// Export: the `init` entry point.
pub const EXPORT_INIT: &str = "polypact_init";
/// Export: the `handle` entry point.
pub const EXPORT_HANDLE: &str = "polypact_handle";
/// Export: the `query` entry point.
pub const EXPORT_QUERY: &str = "polypact_query";
/// Export: the optional `migrate` entry point.
pub const EXPORT_MIGRATE: &str = "polypact_migrate";
/// The import module name of every host function.
pub const IMPORT_MODULE: &str = "polypact";
/// The name under which [`SystemQuery`] is answered.
pub const SYSTEM_MODULE: &str = "system";
/// The custom section in which a module declares the fields of its config
/// that name other module instances (written by
/// [`references!`](crate::references)): UTF-8 field names, each ended by
/// `\n`. A host reads it without running the module, to check a charter's
/// references between modules before anything is created.
pub const SECTION_REFERENCES: &str = "polypact.references";

/// Which entry point is being called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Entry {
    /// Once, when the module instance is created; `msg` is its config.
    Init,
    /// A call from an op or a message from another module.
    Handle,
    /// A read-only query.
    Query,
    /// After an upgrade to this code; `msg` is the migrate message.
    Migrate,
}

impl Entry {
    /// The export that implements this entry point.
    pub fn export_name(self) -> &'static str {
        match self {
            Entry::Init => EXPORT_INIT,
            Entry::Handle => EXPORT_HANDLE,
            Entry::Query => EXPORT_QUERY,
            Entry::Migrate => EXPORT_MIGRATE,
        }
    }
}

/// Where and when a module runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Env {
    /// The partnership id, 64 hex digits.
    pub partnership: String,
    /// This module instance's name.
    pub module: String,
    /// Height of the op being applied (for a query: of the latest applied op).
    pub height: u64,
    /// `time_ms` of that op: the only clock a module sees.
    pub time_ms: u64,
}

/// Who caused this call: present for init, handle and migrate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// Who is calling: the op's author as a member id (`pm1…`), or, for a
    /// message delivered from another partnership, that partnership
    /// (`pp1…`).
    pub caller: String,
    /// If another module sent this message, that module's name.
    pub sender_module: Option<String>,
    /// The op's id, 64 hex digits.
    pub op_id: String,
    /// The op's seq (per author).
    pub seq: u64,
}

/// The input of every entry point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Input {
    /// Where and when.
    pub env: Env,
    /// Who (absent for queries).
    pub info: Option<Info>,
    /// The JSON message (for init: the config).
    pub msg: Vec<u8>,
}

/// A structured event, shown to clients and subscribers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The event's kind (`proposal_created`, `vote_cast`…).
    pub kind: String,
    /// Key-value attributes, in the order the module gave them.
    pub attributes: Vec<(String, String)>,
}

/// A system message: changes only the runtime may make, each allowed by the
/// charter's permission table for the sending module.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SystemMsg {
    /// Admit a participant (member id text, `pm1…`).
    AddParticipant {
        /// The member to admit.
        member: String,
    },
    /// Remove a participant.
    RemoveParticipant {
        /// The member to remove.
        member: String,
    },
    /// Install a new module instance and run its `init`.
    InstallModule {
        /// Instance name, unique in the partnership.
        name: String,
        /// Code hash, 64 hex digits; the code must be on the node.
        code: String,
        /// Init config, JSON bytes.
        config: Vec<u8>,
        /// System permissions of the new instance (`add_participant`…);
        /// never more than the installer holds.
        permissions: Vec<String>,
    },
    /// Move a module instance to new code and run the new code's `migrate`.
    UpgradeModule {
        /// The instance to upgrade.
        name: String,
        /// New code hash, 64 hex digits.
        code: String,
        /// The migrate message, JSON bytes.
        migrate_msg: Vec<u8>,
    },
    /// Close the partnership for good: from the op that runs this on, every
    /// call fails with "the partnership is dissolved"; queries still answer,
    /// and acks still finalise what came before. Send it after distributing
    /// everything (the `exit` module does, on dissolution).
    Dissolve {
        /// Why, as shown to clients (e.g. `term ended`, `dissolution vote`).
        reason: String,
    },
    /// Spawn a child partnership (a project of a program): once the op is
    /// final, the node of the first child participant that is also a
    /// participant here signs the child's genesis, which records this
    /// partnership as its parent with a certificate of this decision; every
    /// child node checks it before it holds the child.
    SpawnPartnership {
        /// The child's charter as JSON (the runtime's charter form: `name`,
        /// `modules` with code hashes, `params`; `participants` is set from
        /// below). `${name}` placeholders are filled from `values`. Its
        /// modules' code must be published in this partnership.
        charter: Vec<u8>,
        /// Placeholder values, `(name, value)`.
        values: Vec<(String, String)>,
        /// The child's participants (`pm1…`); at least one must be a
        /// participant here, to sign its genesis.
        participants: Vec<String>,
    },
}

/// A message a module asks to run after its call, in order, atomically with it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Message {
    /// Call another module's `handle` (the sender is named in its [`Info`]).
    Call {
        /// The target module instance.
        module: String,
        /// JSON bytes.
        msg: Vec<u8>,
    },
    /// A system message.
    System(SystemMsg),
    /// A message to a module of another partnership (the charter must give
    /// the sending module the `message_partnerships` permission). Once the
    /// op that sends it is final here, the partners' nodes attest it and a
    /// node in both partnerships delivers it with a certificate; the
    /// receiver runs it exactly once, in order, as a call whose caller is
    /// this partnership (`pp1…`). If the receiver's module refuses it, the
    /// refusal is recorded there and nothing comes back.
    Partnership {
        /// The receiving partnership: `pp1…` or 64 hex digits.
        to: String,
        /// The module instance of the receiver to call.
        module: String,
        /// JSON bytes, at most 64 KiB.
        msg: Vec<u8>,
    },
}

/// What a successful init, handle or migrate returns.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Response {
    /// Result data for the caller, JSON bytes.
    pub data: Option<Vec<u8>>,
    /// Events, after any emitted through `emit_event` during the call.
    pub events: Vec<Event>,
    /// Messages to run after this call.
    pub messages: Vec<Message>,
}

/// The output of init, handle and migrate: the module's error reaches the
/// caller as text.
pub type ResponseResult = Result<Response, String>;

/// The output of a query: JSON bytes, or the module's error as text.
pub type QueryResult = Result<Vec<u8>, String>;

/// One page of a `db_scan`.
pub type ScanPage = Vec<(Vec<u8>, Vec<u8>)>;

/// Queries answered by [`SYSTEM_MODULE`] (the message is this enum as JSON,
/// e.g. `{"participants":{}}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SystemQuery {
    /// Active participants (not removed; suspended ones included): JSON
    /// `[{"member":"pm1…","admitted_at":0}]`.
    Participants {},
    /// Every participant, former ones included, with its status: JSON
    /// `[{"member":"pm1…","admitted_at":0,"status":"active"}]`, where status
    /// is `active`, `suspended` (absent: finality does not wait for it and
    /// its ops have no effect until a partner readmits it; it keeps its
    /// membership and claims) or `removed`.
    Statuses {},
    /// Members proven to have equivocated: JSON `[{"member":"pm1…","from_seq":3}]`.
    Equivocators {},
    /// Installed module instances: JSON `[{"name":"voting","code":"<hex>"}]`.
    Modules {},
    /// Whether the partnership is dissolved: JSON `null` or
    /// `{"height":12,"op":"<hex>","reason":"term ended"}`.
    Dissolution {},
    /// The partnership's terms as they stand: JSON
    /// `{"terms":"<hex>","generation":2}`. `terms` hashes the partnership id,
    /// every installed instance (name, code, permissions) and `generation`,
    /// which every install and upgrade raises (an upgrade to the same code
    /// with a new config, through `migrate`, changes the terms too). A
    /// newcomer accepts the terms by naming this hash.
    Terms {},
}

/// Packs an output region into the `i64` an entry point returns.
pub fn pack_region(ptr: u32, len: u32) -> u64 {
    ((ptr as u64) << 32) | len as u64
}

/// Unpacks an entry point's return value into `(ptr, len)`.
pub fn unpack_region(packed: u64) -> (u32, u32) {
    ((packed >> 32) as u32, packed as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_packing_round_trips() {
        assert_eq!(unpack_region(pack_region(0xdead_beef, 17)), (0xdead_beef, 17));
    }
}
