//! The allocator's part of the collector's memory: transparent huge pages refused at start, what
//! the store's open freed given back at once, and what a large read (an export or a backup over
//! HTTP, the stats rebuilt from the records, the business view read in) freed given back to the
//! system once it has finished, from this one place, and counted for `/metrics`.
//!
//! The binary's allocator is mimalloc (`main.rs`). It keeps the pages a thread freed in that
//! thread's heap, and purges its arenas' free parts only after a delay and only when a later
//! allocation looks, so a collector that goes quiet after an export would keep what the export
//! freed. `mi_collect(true)` frees the calling thread's empty pages and purges every arena's free
//! parts at once; the `mimalloc` crate has no safe wrapper for it or for the purge delay's option,
//! hence the unsafe calls below. Under another allocator (the library's tests) it only tidies mimalloc's own, unused,
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

/// mimalloc's `mi_option_purge_delay`: the milliseconds freed pages wait before they are given
/// back (10 by default; 0 gives them back at once). `libmimalloc-sys` names the option after it
/// but not this one; its place in `mimalloc.h`'s `mi_option_e` is checked by the test below.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Until the last one is dropped, freed pages are given back to the system as soon as they are
/// free, on every thread; then the delay the process had comes back.
pub struct PurgingAtOnce(());

/// How many [`PurgingAtOnce`] are held, and the delay to put back when none is.
static PURGING: std::sync::Mutex<(usize, std::os::raw::c_long)> = std::sync::Mutex::new((0, 0));

/// Gives freed pages back at once while the store opens. The open reads and rewrites the whole
/// store (a migration, sled's log rewritten) on threads that then go quiet, sled's own among
/// them: with the delay, what they freed stays resident (about 20 MiB at a million answers, the
/// README's "Memory after an open that rewrites the log"), because a quiet thread never comes
/// back to purge it and [`release_freed`] reaches only the calling thread's pages. Serving keeps
/// the delay: giving pages back on every request's free cost ingest 12–13 % (the README's "Freed
/// memory given back, and huge pages refused"). An operator's `MIMALLOC_PURGE_DELAY` is left as
/// it is.
#[allow(unsafe_code)]
pub fn purging_at_once() -> PurgingAtOnce {
    let mut purging = PURGING.lock().unwrap_or_else(|p| p.into_inner());
    // An operator's `MIMALLOC_PURGE_DELAY` is kept throughout.
    if purging.0 == 0 && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: `mi_option_get`/`mi_option_set` take no pointer; mimalloc allows them on any
        // thread at any time (an option is one word, read at each purge).
        unsafe {
            purging.1 = libmimalloc_sys::mi_option_get(PURGE_DELAY);
            libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
        }
    }
    purging.0 += 1;
    PurgingAtOnce(())
}

impl Drop for PurgingAtOnce {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        let mut purging = PURGING.lock().unwrap_or_else(|p| p.into_inner());
        purging.0 -= 1;
        if purging.0 == 0 && std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            // SAFETY: as in `purging_at_once`.
            unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, purging.1) };
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

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn delay() -> std::os::raw::c_long {
        // SAFETY: as in `purging_at_once`.
        unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
    }

    #[test]
    fn the_purge_delay_is_the_option_just_before_the_numa_nodes() {
        assert_eq!(PURGE_DELAY, libmimalloc_sys::mi_option_use_numa_nodes - 1);
    }

    #[test]
    fn freed_pages_are_purged_at_once_while_any_open_holds_it() {
        // Other tests open stores meanwhile: what is checked holds whatever they do.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return;
        }
        let first = purging_at_once();
        let second = purging_at_once();
        assert_eq!(delay(), 0);
        drop(first);
        assert_eq!(delay(), 0, "one holder left: still at once");
        drop(second);
    }
}
