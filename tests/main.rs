//! The one integration-test binary: a module per area.

mod accuracy;
mod api;
mod arrays;
mod conformance;
mod filters;
mod io;
mod loaders;
mod properties;
mod reductions;
mod shaders;
mod support;
