//! The allocator's part of the collector's memory: transparent huge pages refused at start, and
//! what a large read (an export or a backup over HTTP, the stats rebuilt from the records, the
//! business view read in) freed given back to the system once it has finished, from this one
//! place, and counted for `/metrics`.
//!
//! The binary's allocator is mimalloc (`main.rs`). It keeps the pages a thread freed in that
//! thread's heap, and purges its arenas' free parts only after a delay and only when a later
//! allocation looks, so a collector that goes quiet after an export would keep what the export
//! freed. `mi_collect(true)` frees the calling thread's empty pages and purges every arena's free
//! parts at once; the `mimalloc` crate has no safe wrapper for it, hence the one unsafe call
//! below. Under another allocator (the library's tests) it only tidies mimalloc's own, unused,
//! state.

use std::sync::atomic::{AtomicU64, Ordering};

/// The allocator's setting for a serving collector, made before the store is opened: no
/// transparent huge pages for the process, as `MIMALLOC_ALLOW_THP=0` would (mimalloc asks for
/// them for its arenas, and a 2 MiB page stays resident while any of it is used: about 60 MiB at
/// a million answers), unless the operator's environment sets `MIMALLOC_ALLOW_THP` itself. The
/// README's "Freed memory given back, and huge pages refused" has the figures.
pub fn configure() {
    if std::env::var_os("MIMALLOC_ALLOW_THP").is_none() {
        if let Err(error) = rustix::thread::disable_transparent_huge_pages(true) {
            tracing::warn!(%error, "transparent huge pages could not be refused");
        }
    }
}

/// Times [`release_freed`] ran since the process started.
static RELEASES: AtomicU64 = AtomicU64::new(0);

/// Gives back to the system what a large read freed. Call it on the thread that read, once the
/// read has finished (the thread's own heap holds most of what it freed).
#[allow(unsafe_code)]
pub fn release_freed() {
    // SAFETY: `mi_collect` takes no pointer and reads no caller state; mimalloc allows it on any
    // thread at any time.
    unsafe { libmimalloc_sys::mi_collect(true) };
    RELEASES.fetch_add(1, Ordering::Relaxed);
}

/// How many times [`release_freed`] ran since the process started.
pub fn releases() -> u64 {
    RELEASES.load(Ordering::Relaxed)
}
