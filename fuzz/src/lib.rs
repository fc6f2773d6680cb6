//! The fuzz targets' shared harness, kept with the core's tests
//! (`gophercoin-core/tests/support/harness.rs`) so that the published crate holds it too.

#[path = "../../gophercoin-core/tests/support/harness.rs"]
mod harness;

pub use harness::*;
