//! Issue 18, on the real binary: a store written before sealed records had a compact form (the
//! fixture in `tests/fixtures/store-format-2`) is migrated when it opens, once, and exports,
//! backs up and restores the same bytes as before; a kill in the middle of the migration leaves
//! a store that finishes it at the next open, with the same bytes again. A store that kept its
//! outcomes two entries a line (the fixture in `tests/fixtures/store-outcomes-1`) has them moved
//! into packs on open, once, each line kept once even when a kill stops the move.

use std::{
    os::unix::process::ExitStatusExt,
    path::{Path, PathBuf},
};

use touchpoint_tests::{run_offline, sha256_of, Collector, ADMIN_TOKEN};

/// What the fixture exported before the compact form (see its README).
const NDJSON_SHA256: &str = "541dfbb2fdbac86d628847352293c78c07571d6980fa18a5f08f435f5141e4cb";
const CSV_SHA256: &str = "c575248aa5b6fb0db12a7c6f754255df3cbf5cfd91c76336737f9db21f8b851b";
/// The fixture's sealed blocks.
const BLOCKS: u64 = 11;

/// A copy of the fixture store, to be changed by the test.
fn fixture_copy(dir: &Path) -> PathBuf {
    copy_of("store-format-2", &dir.join("data"))
}

/// A copy of the fixture store `name` in `to`.
fn copy_of(name: &str, to: &Path) -> PathBuf {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name);
    let to = to.to_owned();
    for sub in ["", "blobs"] {
        // sled's folder of large values too (created when git kept it empty).
        std::fs::create_dir_all(to.join(sub)).expect("a data directory");
        let Ok(entries) = std::fs::read_dir(from.join(sub)) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("an entry").path();
            if path.is_file() && path.extension().is_none_or(|e| e != "md" && e != "ndjson") {
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

/// The moved blocks' count in the log line of a move into the file of sealed blocks, if any.
fn moved(log: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains("into their file"))?;
    line.split("moved=").nth(1)?.split(' ').next()?.parse().ok()
}

#[test]
fn issue_18_a_kill_while_moving_the_blocks_into_their_file_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().expect("a directory");
    let data = fixture_copy(dir.path());
    let file = data.join("sealed.blocks");

    // Killed (SIGKILL, by itself) with 5 blocks written to the file and none pointed at yet.
    let (status, log) = run_offline(
        &data,
        &["export", "--format", "ndjson", "--out", "/dev/null"],
        &[("TOUCHPOINT_TEST_MOVE_KILL_AFTER", "5")],
    );
    assert_eq!(status.signal(), Some(9), "not killed: {log}");
    let unnamed = std::fs::metadata(&file).expect("the file").len();
    assert!(unnamed > 0, "nothing written before the kill");

    // The next open moves every block, after the bytes nothing names, and reads the same.
    let (ndjson, log) = exported(&data, "export", Some("ndjson"));
    assert_eq!(moved(&log), Some(BLOCKS), "{log}");
    assert_eq!(ndjson, NDJSON_SHA256);
    assert!(std::fs::metadata(&file).expect("the file").len() > unnamed);
    let (csv, log) = exported(&data, "export", Some("csv"));
    assert_eq!(moved(&log), None, "moved twice: {log}");
    assert_eq!(csv, CSV_SHA256);
}

/// What `POST /v1/outcomes` of the fixture's own lines and `GET /v1/impact` answer on `data`.
fn outcomes_served(data: &Path) -> (serde_json::Value, serde_json::Value) {
    let lines = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/store-outcomes-1/outcomes.ndjson"),
    )
    .expect("the fixture's lines");
    let collector = Collector::start(data, &[]);
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let import: serde_json::Value = ureq::post(&collector.url("/v1/outcomes"))
        .set("Authorization", &auth)
        .set("Content-Type", "application/x-ndjson")
        .send_string(&lines)
        .expect("the import")
        .into_json()
        .expect("JSON");
    let impact: serde_json::Value = ureq::get(&collector.url("/v1/impact"))
        .set("Authorization", &auth)
        .call()
        .expect("the view")
        .into_json()
        .expect("JSON");
    assert!(collector.terminate());
    (import, impact)
}

#[test]
fn issue_18_outcomes_of_the_older_form_are_packed_once_even_when_killed() {
    let dir = tempfile::tempdir().expect("a directory");
    let whole = copy_of("store-outcomes-1", &dir.path().join("whole"));
    let killed = copy_of("store-outcomes-1", &dir.path().join("killed"));
    let step = ("TOUCHPOINT_TEST_OUTCOMES_STEP", "8");

    // Killed (SIGKILL, by itself) after two steps of 8 lines.
    let export = ["export", "--format", "ndjson", "--out", "/dev/null"];
    let (status, log) = run_offline(
        &killed,
        &export,
        &[step, ("TOUCHPOINT_TEST_OUTCOMES_KILL_AFTER", "2")],
    );
    assert_eq!(status.signal(), Some(9), "not killed: {log}");

    let (status, log) = run_offline(&whole, &export, &[step]);
    assert!(status.success(), "{log}");
    let all = migrated(&log, "moved").expect("moved");
    let (status, log) = run_offline(&killed, &export, &[step]);
    assert!(status.success(), "{log}");
    assert_eq!(migrated(&log, "moved"), Some(all - 16), "{log}");
    let (status, log) = run_offline(&killed, &export, &[]);
    assert!(
        status.success() && !log.contains("migrat"),
        "moved twice: {log}"
    );

    // Every line of the fixture is known once, and the view counts the same outcomes, whether
    // the move was stopped or not.
    let (import, impact) = outcomes_served(&killed);
    assert_eq!(import["duplicate"], 40, "{import}");
    assert_eq!(import["lines"], 40, "{import}");
    assert_eq!((import, impact), outcomes_served(&whole));
}
