//! polypact: a runtime for programmable partnerships.
#![deny(missing_docs)]

pub mod dag;
pub mod host;
pub mod ledger;
pub mod op;
pub mod store;
pub mod testing;
