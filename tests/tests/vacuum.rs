//! Issue 18, on the real binary: a store whose sled log has grown past its last rewrite is
//! rewritten into a fresh log at a clean stop and swapped in by the next open, or, grown twice as
//! far (or never rewritten), on open; either way it holds the same (its export the same bytes). A
//! SIGKILL at any step of the rewrite leaves a store that opens with the same bytes, the swap
//! finished or the copy thrown away, and nothing of the rewrite left in its folder.

use std::{
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
};

use touchpoint_tests::{run_offline, sha256_of, Collector};

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

/// The bytes of sled's log, which with its blobs (none here) is the size sled reports.
fn log_bytes(data: &Path) -> u64 {
    std::fs::metadata(data.join("db")).expect("the log").len()
}

#[test]
fn issue_18_a_grown_log_is_rewritten_at_a_clean_stop_and_swapped_in_by_the_next_open() {
    let dir = tempfile::tempdir().expect("a directory");
    let (seeded, hash) = seeded(dir.path());
    // A floor the store is over at a stop, and under twice over at an open: only a stop rewrites.
    let floor = (log_bytes(&seeded) * 7 / 10).to_string();
    let floor = [("TOUCHPOINT_TEST_VACUUM_FLOOR", floor.as_str())];

    // A collector serving the store, stopped by SIGTERM.
    let data = dir.path().join("stopped");
    copy_dir(&seeded, &data);
    let (before, _) = files(&data);
    let collector = Collector::start_with_env(&data, &[], &floor);
    // Served (and so past setting up its signal handling) before it is stopped.
    assert_eq!(collector.export().len(), 12_000);
    let log = collector.log();
    assert!(!log.contains("rewrote"), "rewritten on open: {log}");
    assert!(collector.terminate(), "the collector did not stop cleanly");
    // The copy waits beside the store for the next open.
    assert!(files(&data).1, "nothing left for the next open to swap in");

    let (swapped, log) = exported(&data, &[]);
    assert!(log.contains("finished swapping"), "{log}");
    assert!(!log.contains("rewrote"), "{log}");
    assert_eq!(swapped, hash);
    let (after, leftover) = files(&data);
    assert!(after < before, "{after} bytes after, {before} before");
    assert!(!leftover);

    // Not grown since: neither an open nor a stop rewrites it again.
    let (again, log) = exported(&data, &floor);
    assert!(!log.contains("rewrote"), "{log}");
    assert_eq!(again, hash);

    // Killed at the stop with the copy complete but not yet marked: the copy is thrown away.
    let data = dir.path().join("killed");
    copy_dir(&seeded, &data);
    let killed = [floor[0], ("TOUCHPOINT_TEST_VACUUM_KILL_AT", "written")];
    let (status, log) = run_offline(
        &data,
        &["export", "--format", "ndjson", "--out", "/dev/null"],
        &killed,
    );
    assert_eq!(status.signal(), Some(9), "not killed at the stop: {log}");
    assert!(
        log.contains("opened the store"),
        "killed before the stop: {log}"
    );
    let (after, log) = exported(&data, &[]);
    assert_eq!(after, hash, "{log}");
    assert!(!log.contains("finished swapping"), "{log}");
    assert!(!files(&data).1, "the copy was left behind");
}

#[test]
fn issue_18_a_kill_during_the_rewrite_leaves_the_same_store() {
    let dir = tempfile::tempdir().expect("a directory");
    let (seeded, hash) = seeded(dir.path());
    // Killed with the copy complete but before the swap began; after moving one of the old
    // store's files aside; after moving one of the new store's files in; with the swap done and
    // the old files not yet removed.
    for (step, finished) in [
        ("written", false),
        ("old", true),
        ("new", true),
        ("gone", false),
    ] {
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
