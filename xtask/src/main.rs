//! `cargo xtask`: build, test and benchmark automation.
fn main() {}
