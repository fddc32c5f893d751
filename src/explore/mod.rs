//! Temporary shim.
pub use crate::topics::*;
