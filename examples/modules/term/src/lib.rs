//! Term: the standard polypact module for a partnership's duration and its
//! performance cycle.
//!
//! This crate owns the **term** (start, end, renewals), the **sunset
//! clause** (once the end has passed with no renewal, `tick` asks the exit
//! module to dissolve the partnership), **milestones** (dates, owners,
//! done/overdue), **KPI records** (integers recorded by members per metric
//! and period) and **review cycles** (at each due review, `tick` opens a
//! proposal in the voting module; when it executes, the review is applied
//! and, if the charter ties the revenue split to KPIs, the new split goes to
//! the treasury with `set_split`).
//!
//! It does not own who the members are (the membership module's `member`
//! query), how proposals are decided (the voting module, which must list
//! this instance in its `module_proposers`), how money is split (the
//! treasury, which must list this instance in its `split_managers`) or how
//! the partnership is wound up (the exit module's `dissolve`, which must
//! accept this instance as its `term_module`). Init reads those modules'
//! configs and refuses a charter that does not wire them so. It talks to
//! each with the types of its `-api` crate.
//!
//! Modules have no timers: nothing happens at a date by itself. Someone (a
//! member's node on a schedule, or a person) sends `{"tick":{}}` after the
//! date, and the op's `time_ms` decides what is due. The message formats and
//! the exact rules are in `README.md`.
//!
//! The code is laid out as in the other standard modules:
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages and answers, re-exported from the interface crate `term-api` (the node's portfolio reads the term with them) |
//! | `state.rs` | the storage layout |
//! | `error.rs` | [`TermError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, and `handle` and `query` dispatching to one function per message |
//! | `split.rs` | how a review turns KPI attainment into a split, and the treasury's `set_split` |
//! | `validate.rs` | the limits and the checks of config, milestones, periods, split rules and schedules |

pub mod contract;
pub mod error;
pub mod msg;
pub mod split;
pub mod state;
pub mod validate;

pub use contract::{DEFAULT_PAGE, END_REASON, MAX_PAGE, MAX_REVIEWS_PER_TICK, handle, init, query};
pub use error::TermError;
pub use msg::*;
pub use split::{BPS_TOTAL, compute_split, set_split_msg, split_from_values};
pub use state::TermState;
pub use validate::{
    ATTAINMENT_LIMIT_BPS, MAX_KPIS, MAX_MILESTONES, MAX_NAME_LEN, MAX_NOTE_LEN, MAX_OWNERS, MAX_REVIEW_DATES,
    MAX_TITLE_LEN, MAX_TRANCHES,
};

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "exit", "treasury");
