//! Issue 18, on the real binary: a store whose sled log has grown past its last rewrite is
//! rewritten into a fresh log on open and holds the same (its export the same bytes); a SIGKILL at
//! any step of the rewrite leaves a store that opens with the same bytes, the swap finished or
//! the copy thrown away, and nothing of the rewrite left in its folder.

use std::{
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
};

use touchpoint_tests::{run_offline, sha256_of};

/// Any store is big enough to be rewritten.
const FLOOR: (&str, &str) = ("TOUCHPOINT_TEST_VACUUM_FLOOR", "0");

/// The SHA-256 of `data`'s NDJSON export, and the command's log.
fn exported(data: &Path, env: &[(&str, &str)]) -> (String, String) {
    let out = data.with_extension("ndjson");
    let args = [
        "export",
        "--format",
        "ndjson",
        "--out",
        out.to_str().expect("a path"),
    ];
    let (status, log) = run_offline(data, &args, env);
    assert!(status.success(), "export failed: {log}");
    (sha256_of(&out), log)
}

/// A demo store of 12 000 answers over 30 days, seeded once, and what it exports. Large enough
/// that sled's log, without the sealed blocks (in their own file), is several of its 512 KiB
/// segments: a smaller one grows by half at any open, as a segment is added.
fn seeded(dir: &Path) -> (PathBuf, String) {
    let data = dir.join("seeded");
    let (status, log) = run_offline(
        &data,
        &["seed-demo", "--count", "12000", "--days", "30"],
        &[],
    );
    assert!(status.success(), "seeding failed: {log}");
    let (hash, log) = exported(&data, &[]);
    assert!(!log.contains("rewrote"), "rewritten under the floor: {log}");
    (data, hash)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a directory");
    for entry in std::fs::read_dir(from).expect("the store") {
        let path = entry.expect("an entry").path();
        let target = to.join(path.file_name().expect("a name"));
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).expect("copied");
        }
    }
}

/// The bytes of sled's files in `data`, and whether anything of a rewrite is left there.
fn files(data: &Path) -> (u64, bool) {
    let mut bytes = 0;
    let mut leftover = false;
    for entry in std::fs::read_dir(data).expect("the store") {
        let entry = entry.expect("an entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        leftover |= name.starts_with("vacuum");
        if name == "db" || name.starts_with("snap.") {
            bytes += entry.metadata().expect("metadata").len();
        }
    }
    (bytes, leftover)
}

#[test]
fn issue_18_a_grown_log_is_rewritten_on_open_and_holds_the_same() {
    let dir = tempfile::tempdir().expect("a directory");
    let (data, hash) = seeded(dir.path());
    let (before, _) = files(&data);

    let (rewritten, log) = exported(&data, &[FLOOR]);
    assert!(log.contains("rewrote the store's log"), "{log}");
    assert_eq!(rewritten, hash);
    let (after, leftover) = files(&data);
    assert!(after < before, "{after} bytes after, {before} before");
    assert!(!leftover);

    // Not grown since: not rewritten again.
    let (again, log) = exported(&data, &[FLOOR]);
    assert!(!log.contains("rewrote"), "{log}");
    assert_eq!(again, hash);
}

#[test]
fn issue_18_a_kill_during_the_rewrite_leaves_the_same_store() {
    let dir = tempfile::tempdir().expect("a directory");
    let (seeded, hash) = seeded(dir.path());
    // Killed with the copy complete but before the swap began; after moving one of the old
    // store's files aside; after moving one of the new store's files in.
    for (step, finished) in [("written", false), ("old", true), ("new", true)] {
        let data = dir.path().join(step);
        copy_dir(&seeded, &data);
        let (status, log) = run_offline(
            &data,
            &["export", "--format", "ndjson", "--out", "/dev/null"],
            &[FLOOR, ("TOUCHPOINT_TEST_VACUUM_KILL_AT", step)],
        );
        assert_eq!(status.signal(), Some(9), "not killed at {step}: {log}");

        let (after, log) = exported(&data, &[]);
        assert_eq!(after, hash, "killed at {step}: {log}");
        assert_eq!(log.contains("finished swapping"), finished, "{step}: {log}");
        assert!(!files(&data).1, "{step}: the rewrite left files behind");
    }
}

#[test]
fn issue_18_a_store_another_process_is_opening_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().expect("a directory");
    let (data, hash) = seeded(dir.path());
    // Another process opening the store (and perhaps rewriting it) holds its opening lock.
    let lock = std::fs::File::open(data.join("touchpoint.lock")).expect("the lock file");
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive)
        .expect("the lock taken");

    let (status, log) = run_offline(&data, &["export", "--out", "/dev/null"], &[FLOOR]);
    assert!(!status.success(), "opened beside another: {log}");
    assert!(log.contains("in use"), "{log}");
    assert!(!files(&data).1);

    drop(lock);
    let (after, log) = exported(&data, &[FLOOR]);
    assert!(log.contains("rewrote the store's log"), "{log}");
    assert_eq!(after, hash);
}
