//! Treasury: the standard polypact module that keeps a partnership's money.
//!
//! This crate owns a multi-currency ledger in exact integer minor units
//! (per asset code, no floats), the entries that move it (revenue, costs,
//! cash capital, spends; with optional four-eyes confirmation before they
//! count), each partner's capital account (costs it paid, cash it put in,
//! in-kind contributions once governance valued them), the split (pro rata
//! by membership economic units, fixed basis points, capital-weighted, or
//! a waterfall: recoup, capped tranches, then the rest), distribution of
//! the pool into claims with exact largest-remainder rounding
//! ([`split`]), payouts of claims confirmed by the payee, and capital calls
//! for a cost above the pool under the charter's `overrun` terms
//! ([`calls`]: pro rata by economic units, paid by each member itself,
//! with dilution or bad-leaver terms for a member that misses its call).
//!
//! It does not own who the members are, their units or roles (it asks the
//! membership module: `members`, `member`, `has_role`, with the types of
//! `membership-api`), decisions (the governance module, usually `voting`,
//! sends `value_contribution`, `set_split`, `spend` above the limit; the
//! proposal behind a spend is read with `voting-api`), or exits (the exit
//! module sends `payout_fair_share` and `distribute_all`, and removes a
//! defaulter on bad-leaver terms when told `default_exit`). Money itself
//! moves off the ledger; this module records it. The message formats are in
//! `README.md`.
//!
//! The code is laid out as in the other standard modules:
//!
//! | file | what |
//! |---|---|
//! | `lib.rs` | this overview and the exported entry points |
//! | `msg.rs` | the messages and answers (and [`Amount`]), published in `treasury-api` (`api/`) for the modules that talk to this one |
//! | `state.rs` | the storage layout and plain reads of it |
//! | `error.rs` | [`TreasuryError`]: why a call fails, in the words the caller sees |
//! | `contract.rs` | `init`, and `handle` and `query` dispatching to one function per message |
//! | `calls.rs` | capital calls for costs above the pool: opening, paying, funding, the default terms |
//! | `distribute.rs` | `distribute`, `distribute_all`, `payout_fair_share` and the `preview` plan |
//! | `split.rs` | the arithmetic of splitting an amount by weights |
//! | `validate.rs` | the limits and the checks of config, splits, texts and amounts |

pub mod calls;
pub mod contract;
pub mod distribute;
pub mod error;
pub mod msg;
pub mod split;
pub mod state;
pub mod validate;

pub use contract::{DEFAULT_PAGE, MAX_PAGE, handle, init, query};
pub use distribute::plan;
pub use error::TreasuryError;
pub use msg::*;
pub use state::{Account, Counters};
pub use validate::{
    BPS, MAX_ASSETS, MAX_EXPONENT, MAX_REFERENCE_LEN, MAX_SHARES, MAX_TEXT_LEN, MAX_TRANCHES, check_split,
};

polypact_sdk::export!(init: contract::init, handle: contract::handle, query: contract::query);
// The config fields that name other module instances (checked in charters).
polypact_sdk::references!("membership", "governance", "exit_module", "split_managers");
