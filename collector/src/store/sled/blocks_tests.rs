//! The file of sealed blocks ([`super::blocks`]): blocks sealed into it and read back, older
//! stores' blocks moved there on open (once, and from where a stop left off), bytes that no
//! pointer names passed over, and a file shorter than the store says refused.

use super::format::BLOCK_FORMAT_INDEXED;
use super::tests::{ids_in, numbered, open_retrying, put};
use super::*;

/// Each `sealed` value's first byte, and that of the block it holds or points to.
pub(super) fn formats(store: &SledStore) -> Vec<(u8, u8)> {
    store
        .trees
        .sealed
        .iter()
        .map(|entry| {
            let (key, value) = entry.expect("a block");
            let first = value[0];
            let block = store
                .trees
                .block_of(key_of(&key).expect("a key"), value)
                .expect("its bytes");
            (first, block[0])
        })
        .collect()
}

/// Opens `dir` with blocks of four records and no sealer thread.
fn open(dir: &Path) -> SledStore {
    open_retrying(|| SledStore::open_with(dir, 8, 4, false))
}

/// Ten answers (interactions on the even ones) in a store whose first eight are sealed in two
/// blocks; their ids in arrival order.
fn sealed(dir: &Path) -> (Vec<Submission>, Vec<String>) {
    let subs = numbered("fafafafafafafafa", 10, |i| {
        (i % 2 == 0).then(|| format!("call-{i}"))
    });
    let store = open(dir);
    for s in &subs {
        assert!(matches!(put(&store, s), Put::Stored { .. }));
    }
    store.flush().expect("flushed");
    assert_eq!(store.seal_now().expect("sealed"), 2);
    let ids = ids_in(&store, 0, u64::MAX);
    assert_eq!(ids.len(), 10);
    (subs, ids)
}

/// Puts each block back into `sealed` itself, as a store sealed before the file holds it, and
/// the file's bytes after them as a stop would leave them (written, named by nothing); returns
/// the store, open (opening moves the blocks: this one has not).
fn as_before_the_file(dir: &Path) -> SledStore {
    let store = open(dir);
    for entry in store.trees.sealed.iter() {
        let (key, value) = entry.expect("a block");
        let block = store
            .trees
            .block_of(key_of(&key).expect("a key"), value)
            .expect("its bytes");
        store.trees.sealed.insert(key, block).expect("put back");
    }
    store
        .trees
        .meta
        .insert(b"blocks", &[BLOCK_FORMAT_INDEXED])
        .expect("as before the file");
    store.trees.db.flush().expect("flushed");
    store
}

#[test]
fn sealed_blocks_are_written_to_their_file_and_read_from_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (subs, ids) = sealed(dir.path());
    let store = open(dir.path());
    assert_eq!(formats(&store), vec![(5, 4), (5, 4)]);
    let file = std::fs::metadata(dir.path().join(blocks::FILE)).expect("the file");
    assert!(file.len() > 0);
    // sled holds pointers only: 25 bytes a block.
    assert!(store
        .trees
        .sealed
        .iter()
        .values()
        .all(|v| v.expect("a value").len() == 25));
    assert_eq!(ids_in(&store, 0, u64::MAX), ids);
    for s in &subs {
        assert_eq!(put(&store, s), Put::Duplicate, "{}", s.id.as_str());
    }
}

#[test]
fn blocks_held_in_sled_move_to_their_file_once_and_read_the_same() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (subs, ids) = sealed(dir.path());
    drop(as_before_the_file(dir.path()));
    let unnamed = std::fs::metadata(dir.path().join(blocks::FILE))
        .expect("the file")
        .len();
    {
        let store = open(dir.path());
        assert_eq!(formats(&store), vec![(5, 4), (5, 4)], "moved on open");
        assert_eq!(ids_in(&store, 0, u64::MAX), ids);
        for s in &subs {
            assert_eq!(put(&store, s), Put::Duplicate, "{}", s.id.as_str());
        }
        // The blocks were appended after what was already there.
        let after = std::fs::metadata(dir.path().join(blocks::FILE))
            .expect("the file")
            .len();
        assert_eq!(after, 2 * unnamed);
    }
    let store = open(dir.path());
    let again = migrate::move_blocks(&store.trees, 512).expect("nothing to move");
    assert_eq!((again.moved, again.done), (0, true), "moved once");
    assert_eq!(ids_in(&store, 0, u64::MAX), ids);
}

#[test]
fn a_move_stopped_part_way_reads_the_same_and_goes_on_at_the_next_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, ids) = sealed(dir.path());
    {
        // What opening does, a block at a time, stopped after the first.
        let store = as_before_the_file(dir.path());
        let first = migrate::move_blocks(&store.trees, 1).expect("one block");
        assert_eq!((first.moved, first.done), (1, false));
        assert_eq!(formats(&store), vec![(5, 4), (4, 4)]);
        assert_eq!(ids_in(&store, 0, u64::MAX), ids);
    }
    let store = open(dir.path());
    assert_eq!(formats(&store), vec![(5, 4), (5, 4)]);
    assert_eq!(ids_in(&store, 0, u64::MAX), ids);
}

#[test]
fn a_file_of_blocks_shorter_than_the_store_says_is_refused_at_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    sealed(dir.path());
    let file = dir.path().join(blocks::FILE);
    let len = std::fs::metadata(&file).expect("the file").len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .and_then(|f| f.set_len(len - 1))
        .expect("cut short");
    let refused = loop {
        match SledStore::open_with(dir.path(), 8, 4, false) {
            Err(StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20))
            }
            other => break other,
        }
    };
    assert!(
        matches!(refused, Err(StoreError::Corrupt { .. })),
        "{:?}",
        refused.err()
    );
}
