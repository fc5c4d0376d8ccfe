//! The Touchpoint widget (WebAssembly): renders the `core-cx` survey inside the host page and
//! delivers each answer exactly once. Built for `wasm32-unknown-unknown`.
