//! The Touchpoint widget (WebAssembly): renders the `core-cx` survey inside the host page and
//! delivers each answer exactly once. Built for `wasm32-unknown-unknown`; the loader
//! (`loader/widget.js`) fetches it and calls `start` ([`api`]). Built three ways:
//! - a web module per locale (no features): launcher and inline, one locale's texts; it stores
//!   each answer and hands it to the loader ([`handoff`]);
//! - the delivery module (`--no-default-features --features delivery`): the courier alone, which
//!   a web page loads once a survey shows or earlier answers wait (`delivery::exports`);
//! - the kiosk and agent module (feature `channels`, the default): every locale, the kiosk and
//!   agent modes and invitations, with the courier built in.
//!
//! So a web page downloads neither the kiosk's and agent's code nor delivery before its survey
//! shows.
//!
//! Layout:
//! - [`config`]: the loader's settings (`data-*` attributes), checked, with one console message per
//!   wrong attribute.
//! - `api`: `start`, `open`, `close`, `postCall`; `delivery`: `deliver`, `submit`.
//! - [`ui`]: the shadow-root survey: launcher or inline panel, radio groups, keyboard, Send; the
//!   kiosk's attract screen and timers; agent mode's invitation and assisted capture.
//! - [`invite`]: agent mode's request for a post-call invitation.
//! - [`style`]: the one constructable stylesheet and the theming contract.
//! - [`survey`]: choices → `protocol::Submission` through the protocol's constructors.
//! - [`delivery`]: [`delivery::outbox`], the durable queue in localStorage (and memory), with
//!   leases between tabs; [`delivery::courier`], fetch / sendBeacon delivery, verdicts per status,
//!   the retry timer and events; `delivery::handoff`, a web page's way from Send to the delivery
//!   module, storage first; [`delivery::retry`], backoff with jitter and `Retry-After`, as pure
//!   functions.
//! - [`ids`]: ULID submission ids from `crypto.getRandomValues`.
//! - [`dom`]: DOM and console helpers that never throw.
//!
//! The path of one answer: the launcher's click opens a panel ([`ui::Widget::open`]) and makes its
//! id; Send turns the choices into a `Submission` ([`survey::submission`]) and its canonical JSON,
//! writes that to localStorage before any request and dispatches `touchpoint:submitted`;
//! [`delivery::courier::Courier::submit`] (on a web page, in the delivery module the loader hands it to)
//! queues it ([`delivery::outbox::Outbox::add`]) and posts it to `{base}/v1/responses`; the status
//! becomes a [`delivery::outbox::Verdict`]: 201/200/409 remove it and dispatch `touchpoint:delivered`, 400/413
//! drop it with a warning, 429/503/no answer keep it for a retry after [`delivery::retry::delay_ms`]. What is
//! still queued when the page goes goes to `sendBeacon`, and the next page load sends it again (the
//! collector answers a repeat with 200 duplicate, so it is stored once).

// No `std` in optimised builds (`cargo xtask`'s `wasm-release`): the widget brings its own panic
// handler (below) and pays for none of std's panic and formatting machinery. Debug builds and tests
// link `std` (the test runner needs it, and it then provides the panic handler).
#![cfg_attr(not(any(test, debug_assertions)), no_std)]

extern crate alloc;

#[cfg(not(feature = "delivery"))]
mod api;
pub mod config;
pub mod delivery;
pub mod dom;
pub mod ids;
#[cfg(feature = "channels")]
pub mod invite;
pub mod style;
pub mod survey;
pub mod ui;

use core::cell::RefCell;

// `ALLOCATOR` and `Global` rely on the page's wasm running on one thread.
#[cfg(target_feature = "atomics")]
compile_error!("the widget assumes single-threaded wasm (no `atomics`)");

/// A small allocator: dlmalloc would cost every visitor about 3 KB more.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
// SAFETY: this target has no threads (no `atomics` feature), so the allocator needs no lock.
#[allow(unsafe_code)]
static ALLOCATOR: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

#[cfg(test)]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

/// A panic is a bug: one fixed console message (no formatting machinery), then a trap.
#[cfg(all(not(any(test, debug_assertions)), target_arch = "wasm32"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    dom::error("touchpoint: internal error; the widget stopped");
    core::arch::wasm32::unreachable()
}

/// A value the page's wasm keeps for its lifetime. `wasm32-unknown-unknown` without atomics runs on
/// one thread only.
struct Global<T>(RefCell<Option<T>>);

// SAFETY: this target has no threads (no `atomics` feature), so the cell is never shared across
// threads.
#[allow(unsafe_code)]
unsafe impl<T> Sync for Global<T> {}
