#![doc = "Mangrove SDK"]
#![deny(missing_docs)]

pub mod client;
mod generated;
pub mod open_enum;

pub use generated::*;
