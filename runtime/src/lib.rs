//! polypact: a runtime for programmable partnerships.
#![deny(missing_docs)]

pub mod api;
pub mod dag;
pub mod home;
pub mod host;
pub mod ledger;
pub mod net;
pub mod node;
pub mod op;
pub mod store;
pub mod testing;
