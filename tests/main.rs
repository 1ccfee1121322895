//! The one integration-test binary: a module per area.

mod conformance;
mod support;
