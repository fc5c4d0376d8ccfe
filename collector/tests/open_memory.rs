//! Issue 18: what the sled store reads while it opens (every sealed block, for its index) is not
//! kept in memory afterwards. A test binary of its own: it counts the heap of the whole process
//! (dhat's allocator), so no other test may run beside it.

use collector::store::{SledStore, Store, StoreError};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Answers seeded: about 200 sealed blocks.
const ANSWERS: u64 = 50_000;

/// Opens `dir`, again while sled's threads still hold the file of a store closed a moment ago.
fn open(dir: &std::path::Path) -> SledStore {
    for _ in 0..250 {
        match SledStore::open(dir) {
            Err(StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            opened => return opened.expect("the store opens"),
        }
    }
    panic!("the store stayed locked")
}

/// Bytes of the `sealed` tree's values, read with sled directly (before anything is counted),
/// again while sled's threads still hold the file of the store closed a moment ago.
fn sealed_bytes(dir: &std::path::Path) -> usize {
    for _ in 0..250 {
        match sled::Config::new().path(dir).flush_every_ms(None).open() {
            Ok(db) => {
                let sealed = db.open_tree("sealed").expect("the sealed tree");
                return sealed
                    .iter()
                    .values()
                    .map(|v| v.expect("a block").len())
                    .sum();
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    panic!("sled stayed locked")
}

/// The open reads every sealed block (its index of ids and interactions) and sled 0.34 would
/// keep each node it read for as long as the store is open. Observed by reading every record
/// after the open: sled keeps what that read touches, so the heap grows by about the blocks'
/// bytes only if the open had let them go (before the fix it grew by almost nothing: the open
/// had kept them all).
#[test]
fn issue_18_the_sealed_blocks_read_at_open_are_not_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        let seeded = collector::demo::seed(&store, ANSWERS, 30, collector::clock::now_micros())
            .expect("seeded");
        assert_eq!(seeded, ANSWERS);
    }
    let blocks = sealed_bytes(dir.path());
    assert!(blocks > 1_000_000, "the sealed blocks are {blocks} bytes");

    let _profiler = dhat::Profiler::builder().testing().build();
    let store = open(dir.path());
    let opened = dhat::HeapStats::get().curr_bytes;
    let mut records = 0u64;
    store
        .scan(0, u64::MAX, &mut |_| {
            records += 1;
            true
        })
        .expect("every record reads");
    assert_eq!(records, ANSWERS);
    let read = dhat::HeapStats::get().curr_bytes;
    let added = read.saturating_sub(opened);
    eprintln!("the open holds {opened} B; reading every record added {added} B; the sealed blocks are {blocks} B");
    assert!(
        added > blocks / 2,
        "reading every record after the open added {added} bytes to the heap, against {blocks} \
         bytes of sealed blocks: the open had kept the blocks it read"
    );
}
