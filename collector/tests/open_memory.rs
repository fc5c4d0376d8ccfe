//! Issue 18: what the sled store reads of its sealed blocks (at open for their index, and by every
//! scan after) is not kept in memory afterwards. A test binary of its own: it counts the heap of
//! the whole process (dhat's allocator), so no other test may run beside it.

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

/// Issue 18: what the store reads of its sealed blocks (an export, a backup, the index at open) is
/// not kept in memory afterwards: the blocks are read from their own file (`sealed.blocks`),
/// not through sled, which would keep every node it read (before the file, reading every record
/// after the open added about the blocks' bytes to the heap, and the open kept what it read until
/// sled was opened again). The heap is counted twice, after the open and after reading every
/// record twice.
#[test]
fn issue_18_reading_the_sealed_blocks_keeps_none_of_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        let seeded = collector::demo::seed(&store, ANSWERS, 30, collector::clock::now_micros())
            .expect("seeded");
        assert_eq!(seeded, ANSWERS);
    }
    let blocks = std::fs::metadata(dir.path().join("sealed.blocks"))
        .expect("the file of sealed blocks")
        .len() as usize;
    assert!(blocks > 1_000_000, "the sealed blocks are {blocks} bytes");

    let _profiler = dhat::Profiler::builder().testing().build();
    let store = open(dir.path());
    let opened = dhat::HeapStats::get().curr_bytes;
    for _ in 0..2 {
        let mut records = 0u64;
        store
            .scan(0, u64::MAX, &mut |_| {
                records += 1;
                true
            })
            .expect("every record reads");
        assert_eq!(records, ANSWERS);
    }
    let read = dhat::HeapStats::get().curr_bytes;
    let added = read.saturating_sub(opened);
    eprintln!("the open holds {opened} B; reading every record twice added {added} B; the sealed blocks are {blocks} B");
    assert!(
        added < blocks / 20,
        "reading every record after the open added {added} bytes to the heap, against {blocks} \
         bytes of sealed blocks: the blocks read were kept"
    );
}
