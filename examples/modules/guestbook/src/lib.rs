//! Guestbook: an example polypact module. The partnership's participants
//! sign a guestbook; anyone can read it, page by page.
//!
//! This crate owns the guestbook's messages, state and rules, and nothing
//! else: it shows the SDK end to end (entry points,
//! [`Item`](polypact_sdk::Item) and [`Map`](polypact_sdk::Map) with ordered
//! paging and a secondary index, events, a query to `system`, a migration,
//! typed errors). The message formats are in `README.md`.
//!
//! The code is laid out as in every standard module, and is the one to copy
//! for a new module:
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages and answers |
//! | `state.rs` | the storage layout |
//! | `error.rs` | [`GuestbookError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, `migrate`, and `handle` and `query` dispatching to one function per message |

pub mod contract;
pub mod error;
pub mod msg;
pub mod state;

pub use contract::{
    DEFAULT_PAGE, MAX_MESSAGE_LEN_LIMIT, MAX_PAGE, STATE_VERSION, handle, init, migrate, query,
};
pub use error::GuestbookError;
pub use msg::*;

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query, migrate: contract::migrate);
