//! The Touchpoint widget (WebAssembly): renders the `core-cx` survey inside the host page and
//! delivers each answer exactly once. Built for `wasm32-unknown-unknown`; the loader
//! (`loader/widget.js`) fetches it and calls `start` (`api`). Built two ways:
//! - a web module per locale (no features): launcher and inline, one locale's texts, and the
//!   courier that delivers its answers (one download: each module would carry the wasm-bindgen
//!   runtime again);
//! - the kiosk and agent module (feature `channels`, the default): every locale, the kiosk and
//!   agent modes and invitations, with the courier built in.
//!
//! So a web page never downloads the kiosk's and agent's code, and a launcher page downloads
//! nothing but the loader until its visitor shows intent.
//!
//! Layout, from the top down (a module imports only modules below it):
//! - `api` (`api.rs`): `start`, `open`, `close`, `postCall`; the one place a build's channel is
//!   chosen.
//! - `channels/` (feature `channels`, gated at its `mod` line): what the kiosk and agent add to
//!   the panel through [`panel::Hooks`]: `kiosk.rs` (attract screen, idle reset, its timer),
//!   `agent.rs` (invitation, assisted capture, the invitation page's outcomes), `invite.rs` (the
//!   request for an invitation), `options.rs` (the JS API's option objects, read with serde).
//! - [`panel`] (`panel/`): the survey every channel shares: `mod.rs` (the widget: mount, open,
//!   close, keys, Send), `act.rs` (a click or key read once into an [`panel::act::Act`]),
//!   `form.rs` (one survey's elements and choices), `tests.rs`.
//! - [`delivery`] (`delivery/`): `outbox.rs` (the durable queue in localStorage and memory, leases
//!   between tabs), `courier.rs` (fetch / sendBeacon, verdicts per status, the retry timer,
//!   events), `retry.rs` (backoff with jitter and `Retry-After`, pure functions).
//! - [`config`] (`config/`): the loader's settings (`data-*` attributes), which the loader has
//!   checked (one console message per wrong one, from `loader/notes.js`); the kiosk's and agent
//!   mode's own checked in `channels.rs`, with their messages
//!   (feature `channels`, gated at its `mod` line); [`survey`]: the questions, and choices →
//!   `protocol::Submission` through the protocol's constructors; [`style`]: the one constructable
//!   stylesheet and the theming contract; [`ids`]: ULID submission ids; [`dom`]: DOM and console
//!   helpers that never throw (a running module's console messages are numbers the loader writes
//!   from `loader/notes.js`).
//!
//! The path of one answer: the launcher's click becomes [`panel::act::Act::Open`], which opens a
//! panel ([`panel::Widget::open`]) and makes its id; Send turns the choices into a `Submission`
//! ([`survey::submission`]) and its canonical JSON, writes that to localStorage before any request
//! and dispatches `touchpoint:submitted`; [`delivery::courier::Courier::submit`] queues it
//! ([`delivery::outbox::Outbox::add`])
//! and posts it to `{base}/v1/responses`; the status becomes a [`delivery::outbox::Verdict`]:
//! 201/200/409 remove it and dispatch `touchpoint:delivered`, 400/413 drop it with a warning,
//! 429/503/no answer keep it for a retry after [`delivery::retry::delay_ms`]. What is still
//! queued when the page goes goes to `sendBeacon`, and the next page load sends it again (the
//! collector answers a repeat with 200 duplicate, so it is stored once).

// No `std` in optimised web builds (`cargo xtask`'s `wasm-release`): the widget
// brings its own panic handler (below) and pays for none of std's panic and formatting machinery.
// Debug builds and tests link `std` (the test runner needs it, and it then provides the panic
// handler), and so does the kiosk and agent module (gloo and serde-wasm-bindgen need it; `start`
// installs a panic hook with the same one message).
#![cfg_attr(not(any(test, debug_assertions, feature = "channels")), no_std)]

extern crate alloc;

mod api;
#[cfg(feature = "channels")]
pub mod channels;
pub mod config;
pub mod delivery;
pub mod dom;
pub mod ids;
pub mod panel;
pub mod style;
pub mod survey;

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
#[cfg(all(
    not(any(test, debug_assertions, feature = "channels")),
    target_arch = "wasm32"
))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    stop()
}

/// Stops the widget on a bug, as a panic does (in the web modules: one fixed console message,
/// then a trap), but without a panic's location: each panicking call site would put its file
/// name, line and column into the module.
#[cold]
#[inline(never)]
pub fn stop() -> ! {
    #[cfg(all(
        not(any(test, debug_assertions, feature = "channels")),
        target_arch = "wasm32"
    ))]
    {
        dom::note(dom::Note::Stopped);
        core::arch::wasm32::unreachable()
    }
    #[cfg(not(all(
        not(any(test, debug_assertions, feature = "channels")),
        target_arch = "wasm32"
    )))]
    panic!("touchpoint: internal error; the widget stopped")
}

/// The widget's cells borrowed as `RefCell::borrow` and `borrow_mut` do: a borrow that clashes
/// with one still held is a bug, which [`stop`]s the widget (with no panic location per call).
pub trait Borrowed<T> {
    fn shared(&self) -> core::cell::Ref<'_, T>;
    fn exclusive(&self) -> core::cell::RefMut<'_, T>;
}

impl<T> Borrowed<T> for RefCell<T> {
    #[inline]
    fn shared(&self) -> core::cell::Ref<'_, T> {
        self.try_borrow().unwrap_or_else(|_| stop())
    }

    #[inline]
    fn exclusive(&self) -> core::cell::RefMut<'_, T> {
        self.try_borrow_mut().unwrap_or_else(|_| stop())
    }
}

/// A value the page's wasm keeps for its lifetime. `wasm32-unknown-unknown` without atomics runs on
/// one thread only.
struct Global<T>(RefCell<Option<T>>);

// SAFETY: this target has no threads (no `atomics` feature), so the cell is never shared across
// threads.
#[allow(unsafe_code)]
unsafe impl<T> Sync for Global<T> {}
