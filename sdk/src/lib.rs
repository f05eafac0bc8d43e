//! polypact SDK (being built: see abi).
#![no_std]
#![deny(missing_docs)]

extern crate alloc;

pub mod abi;
