//! The widget, built for the collector to serve: wasm (cargo) → wasm-bindgen glue → wasm-opt →
//! content-hashed assets and the loader in `target/widget-dist/`, and its size report.
//!
//! - [`toolchain`]: installs what the build needs, idempotently (the wasm target, the wasm-bindgen
//!   CLI of the locked version, binaryen's wasm-opt and terser from npm into `.tools/`).
//! - [`build`]: builds each module of the widget crate and writes the files, their gzip bodies
//!   and `manifest.json`.
//! - [`wasm`]: rewrites the wasm around wasm-opt (wasmparser + wasm-encoder): uncallable functions
//!   snipped, imports and internal exports given short names in the wasm and the glue.
//! - [`js`]: the glue's lean loading code, and minifying.
//! - [`size`]: what a visitor downloads, per page kind and locale, from the built files and as
//!   measured in Chromium.

mod build;
mod js;
mod size;
mod toolchain;
mod wasm;

pub use build::{build, fnv1a64};
pub use size::{measured_report, size_report};
pub use toolchain::ensure_tools;
