//! Issue 18, on the real binary: a store written before sealed records had a compact form (the
//! fixture in `tests/fixtures/store-format-2`) is migrated when it opens, once, and exports,
//! backs up and restores the same bytes as before; a kill in the middle of the migration leaves
//! a store that finishes it at the next open, with the same bytes again.

use std::{
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
};

use touchpoint_tests::{run_offline, sha256_of};

/// What the fixture exported before the compact form (see its README).
const NDJSON_SHA256: &str = "541dfbb2fdbac86d628847352293c78c07571d6980fa18a5f08f435f5141e4cb";
const CSV_SHA256: &str = "c575248aa5b6fb0db12a7c6f754255df3cbf5cfd91c76336737f9db21f8b851b";
/// The fixture's sealed blocks.
const BLOCKS: u64 = 11;

/// A copy of the fixture store, to be changed by the test.
fn fixture_copy(dir: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-format-2");
    let to = dir.join("data");
    for sub in ["", "blobs"] {
        // sled's folder of large values too (created when git kept it empty).
        std::fs::create_dir_all(to.join(sub)).expect("a data directory");
        for entry in std::fs::read_dir(from.join(sub)).expect("the fixture") {
            let path = entry.expect("an entry").path();
            if path.is_file() && path.extension().is_none_or(|e| e != "md") {
                let name = path.file_name().expect("a name");
                std::fs::copy(&path, to.join(sub).join(name)).expect("copied");
            }
        }
    }
    to
}

/// The SHA-256 of `data`'s export in `format` (or of its backup), and the log of the command.
fn exported(data: &Path, command: &str, format: Option<&str>) -> (String, String) {
    let out = data.with_extension(format.unwrap_or("backup"));
    let out_arg = out.to_str().expect("a path");
    let mut args = vec![command, "--out", out_arg];
    if let Some(format) = format {
        args.extend(["--format", format]);
    }
    let (status, log) = run_offline(data, &args, &[]);
    assert!(status.success(), "{command} failed: {log}");
    (sha256_of(&out), log)
}

/// The number after `name=` in a log line about the migration, if there is one.
fn migrated(log: &str, name: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains("migrat"))?;
    let value = line.split(&format!("{name}=")).nth(1)?;
    value
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn issue_18_a_store_of_the_old_format_migrates_once_and_exports_the_same_bytes() {
    let dir = tempfile::tempdir().expect("a directory");
    let data = fixture_copy(dir.path());

    let (ndjson, log) = exported(&data, "export", Some("ndjson"));
    assert_eq!(migrated(&log, "rewritten"), Some(BLOCKS), "{log}");
    assert_eq!(ndjson, NDJSON_SHA256);

    let (csv, log) = exported(&data, "export", Some("csv"));
    assert_eq!(migrated(&log, "rewritten"), None, "migrated twice: {log}");
    assert_eq!(csv, CSV_SHA256);

    let (backup, _) = exported(&data, "backup", None);
    assert_eq!(backup, NDJSON_SHA256);

    // Restored into an empty store, whose records are sealed in the compact form from the start.
    let restored = dir.path().join("restored");
    let backup_file = data.with_extension("backup");
    let (status, log) = run_offline(
        &restored,
        &["restore", "--from", backup_file.to_str().expect("a path")],
        &[],
    );
    assert!(status.success(), "{log}");
    assert_eq!(
        exported(&restored, "export", Some("ndjson")).0,
        NDJSON_SHA256
    );
    assert_eq!(exported(&restored, "export", Some("csv")).0, CSV_SHA256);
}

#[test]
fn issue_18_a_kill_during_the_migration_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().expect("a directory");
    let data = fixture_copy(dir.path());

    // Killed (SIGKILL, by itself) after rewriting 10 of the 11 blocks; the first 8 were flushed.
    let (status, log) = run_offline(
        &data,
        &["export", "--format", "ndjson", "--out", "/dev/null"],
        &[("TOUCHPOINT_TEST_MIGRATION_KILL_AFTER", "10")],
    );
    assert_eq!(status.signal(), Some(9), "not killed: {log}");

    let (ndjson, log) = exported(&data, "export", Some("ndjson"));
    let resumed_from = migrated(&log, "from").expect("the migration resumed");
    assert!(resumed_from > 0, "{log}");
    let rewritten = migrated(
        &log.lines()
            .filter(|l| l.contains("migrated"))
            .collect::<String>(),
        "rewritten",
    )
    .expect("the rest migrated");
    assert!((1..BLOCKS).contains(&rewritten), "{log}");
    assert_eq!(ndjson, NDJSON_SHA256);
    assert_eq!(exported(&data, "export", Some("csv")).0, CSV_SHA256);
}
