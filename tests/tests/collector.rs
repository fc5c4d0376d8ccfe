//! The real `touchpoint-collector` binary on a real sled store: restarts, SIGKILL under load, and
//! the offline export.

use std::{
    collections::{HashMap, HashSet},
    process::Command,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, RwLock,
    },
    time::{Duration, Instant},
};

use touchpoint_tests::{
    assert_exported_once, collector_binary, post, submission, Collector, Delivery, ADMIN_TOKEN,
};

#[test]
fn a_restart_keeps_everything_and_still_recognises_retries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(dir.path(), &[]);
    for n in 0..50 {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    let before = collector.export();
    let log = collector.log();
    assert!(log.contains("listening"), "the log is captured");
    assert!(
        !log.contains(touchpoint_tests::ADMIN_TOKEN),
        "the admin token is never logged"
    );
    assert!(collector.terminate(), "SIGTERM ends the collector cleanly");

    let collector = Collector::start(dir.path(), &[]);
    assert_eq!(
        collector.export(),
        before,
        "the same records, in the same order"
    );
    for n in 0..50 {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(200)
        );
    }
    assert_eq!(
        post(&collector.base, &submission(50).to_string()),
        Delivery::Acknowledged(201)
    );
    collector.kill();

    let collector = Collector::start(dir.path(), &[]);
    assert_eq!(
        collector.export().len(),
        51,
        "an acknowledged write survives SIGKILL"
    );
}

#[test]
fn the_offline_export_matches_the_http_export_and_refuses_a_store_in_use() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(dir.path(), &[]);
    for n in 0..30 {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    let over_http = collector.export_text("csv");

    let busy = Command::new(collector_binary())
        .args(["export", "--format", "csv", "--data"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(!busy.status.success(), "a store in use is not opened twice");
    let message = String::from_utf8_lossy(&busy.stderr);
    assert!(message.contains("in use"), "a clear message: {message}");

    assert!(collector.terminate());
    let offline = Command::new(collector_binary())
        .args(["export", "--format", "csv", "--data"])
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    assert_eq!(String::from_utf8(offline.stdout).expect("UTF-8"), over_http);
    assert_eq!(over_http.lines().count(), 31, "a header and 30 rows");
}

/// Small deterministic pseudo-random numbers (xorshift), so a failure can be replayed by seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// The shared slot the clients read the current address from; it owns the process.
fn running(collector: Collector) -> (String, Option<Collector>) {
    (collector.base.clone(), Some(collector))
}

/// Clients post under load the way the widget's outbox does (retry the same id until a 2xx),
/// while the collector is killed with SIGKILL again and again. Afterwards every acknowledged
/// submission is in the export exactly once, and nothing else is.
#[test]
fn sigkill_under_load_loses_no_acknowledged_submission_and_stores_none_twice() {
    const CLIENTS: u64 = 6;
    const KILLS: usize = 25;
    let seed = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("crash test seed {seed} (CRASH_SEED={seed} replays the kill timing)");
    let dir = tempfile::tempdir().expect("tempdir");
    let base = Arc::new(RwLock::new(running(Collector::start(dir.path(), &[]))));
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(HashMap::<String, u16>::new()));
    let retried_after_no_answer = Arc::new(AtomicU64::new(0));

    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (base, stop, acknowledged, retried) = (
                Arc::clone(&base),
                Arc::clone(&stop),
                Arc::clone(&acknowledged),
                Arc::clone(&retried_after_no_answer),
            );
            std::thread::spawn(move || {
                let mut n = c * 1_000_000;
                while !stop.load(Ordering::SeqCst) {
                    let body = submission(n).to_string();
                    let id = format!("e2e0-0000-0000-{n:016}");
                    let mut attempts = 0;
                    loop {
                        let url = base.read().unwrap_or_else(|p| p.into_inner()).0.clone();
                        match post(&url, &body) {
                            Delivery::Acknowledged(status) => {
                                if attempts > 0 {
                                    retried.fetch_add(1, Ordering::Relaxed);
                                }
                                let previous = acknowledged
                                    .lock()
                                    .unwrap_or_else(|p| p.into_inner())
                                    .insert(id.clone(), status);
                                assert!(previous.is_none(), "{id} acknowledged twice");
                                break;
                            }
                            Delivery::Refused(status) => panic!("{id} refused with {status}"),
                            Delivery::NoAnswer => {
                                attempts += 1;
                                std::thread::sleep(Duration::from_millis(20));
                            }
                        }
                    }
                    n += 1;
                }
            })
        })
        .collect();

    let mut rng = Rng(seed);
    let started = Instant::now();
    for _ in 0..KILLS {
        std::thread::sleep(Duration::from_millis(80 + rng.below(250)));
        let mut guard = base.write().unwrap_or_else(|p| p.into_inner());
        let old = guard.1.take().expect("a running collector");
        old.kill();
        std::thread::sleep(Duration::from_millis(rng.below(50)));
        let fresh = Collector::start(dir.path(), &[]);
        *guard = running(fresh);
    }
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client
            .join()
            .expect("a client finished without a refusal or a double acknowledgement");
    }
    let guard = base.read().unwrap_or_else(|p| p.into_inner());
    let collector = guard.1.as_ref().expect("a running collector");
    let rows = collector.export();
    let acknowledged = acknowledged.lock().unwrap_or_else(|p| p.into_inner());
    assert_exported_once(&rows, &acknowledged);
    let duplicates = acknowledged.values().filter(|s| **s == 200).count();
    eprintln!(
        "crash test: {KILLS} SIGKILLs in {:.1}s, {} submissions acknowledged and exported once each; \
         {} retried after no answer, {duplicates} of them already stored before the kill (200)",
        started.elapsed().as_secs_f64(),
        rows.len(),
        retried_after_no_answer.load(Ordering::Relaxed),
    );
    assert!(rows.len() > 100, "the load ran: {} submissions", rows.len());

    // The stats, rebuilt from the records after each kill, count exactly what was exported.
    let stats: serde_json::Value = ureq::get(&collector.url("/v1/stats?group_by=channel"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("stats")
        .into_json()
        .expect("JSON");
    let mut efforts = [0u64; 7];
    for row in &rows {
        efforts[row["answers"]["effort"].as_u64().expect("an effort") as usize - 1] += 1;
    }
    assert_eq!(stats["total"]["count"], rows.len());
    assert_eq!(stats["total"]["effort"]["dist"], serde_json::json!(efforts));
    assert_eq!(stats["total"]["comments"], rows.len());
    for group in stats["groups"].as_array().expect("groups") {
        let channel = group["key"]["channel"].as_str().expect("a channel");
        let exported = rows.iter().filter(|r| r["channel"] == channel).count();
        assert_eq!(group["count"], exported, "{channel}");
    }
}

/// SIGTERM while clients post: the collector stops accepting, answers what it has, flushes and
/// exits within 10 s; every acknowledged submission is there after a restart.
#[test]
fn sigterm_under_load_exits_promptly_and_keeps_every_acknowledged_submission() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(dir.path(), &[]);
    let base = collector.base.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..4u64)
        .map(|c| {
            let (base, stop, acknowledged) =
                (base.clone(), Arc::clone(&stop), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                let mut n = 5_000_000 + c * 1_000_000;
                while !stop.load(Ordering::SeqCst) {
                    if let Delivery::Acknowledged(_) = post(&base, &submission(n).to_string()) {
                        acknowledged
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(n);
                    }
                    n += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let started = Instant::now();
    assert!(collector.terminate(), "a clean exit after SIGTERM");
    let took = started.elapsed();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().expect("a client");
    }
    assert!(took < Duration::from_secs(10), "exited in {took:?}");
    let acknowledged = acknowledged
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    assert!(
        acknowledged.len() > 50,
        "the load ran: {}",
        acknowledged.len()
    );
    let collector = Collector::start(dir.path(), &[]);
    let stored: HashSet<String> = collector
        .export()
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_owned())
        .collect();
    for n in &acknowledged {
        assert!(
            stored.contains(&format!("e2e0-0000-0000-{n:016}")),
            "{n} acknowledged, then lost"
        );
    }
    eprintln!(
        "sigterm test: exited {took:?} after SIGTERM; {} acknowledged, all stored",
        acknowledged.len()
    );
}

fn cli(args: &[&str], data: &std::path::Path) -> std::process::Output {
    Command::new(collector_binary())
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("runs")
}

/// Back up while serving (the NDJSON export), restore into an empty store: the same records,
/// times and order. Restoring again, or into a store holding part of them, adds nothing twice.
#[test]
fn backup_while_serving_and_restore_round_trip_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(&dir.path().join("live"), &[]);
    for n in 0..40 {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    let backup_text = collector.export_text("ndjson");
    let backup = dir.path().join("backup.ndjson");
    std::fs::write(&backup, &backup_text).expect("written");
    assert!(collector.terminate());

    let offline = dir.path().join("offline.ndjson");
    let written = cli(
        &["backup", "--out", offline.to_str().expect("utf-8")],
        &dir.path().join("live"),
    );
    assert!(
        written.status.success(),
        "{}",
        String::from_utf8_lossy(&written.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&offline).expect("read"),
        backup_text
    );

    let restored = dir.path().join("restored");
    let from = backup.to_str().expect("utf-8");
    for round in 0..2 {
        let out = cli(&["restore", "--from", from], &restored);
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let log = String::from_utf8_lossy(&out.stderr);
        let expected = if round == 0 {
            "restored=40 duplicates=0"
        } else {
            "restored=0 duplicates=40"
        };
        assert!(log.contains(expected), "round {round}: {log}");
        let again = cli(
            &["backup", "--out", offline.to_str().expect("utf-8")],
            &restored,
        );
        assert!(again.status.success());
        assert_eq!(
            std::fs::read_to_string(&offline).expect("read"),
            backup_text,
            "round {round}"
        );
    }

    // Into a store that holds the first half: the second half is added, nothing twice.
    let half = dir.path().join("half");
    let first_half: String = backup_text
        .lines()
        .take(20)
        .map(|l| format!("{l}\n"))
        .collect();
    let half_file = dir.path().join("half.ndjson");
    std::fs::write(&half_file, first_half).expect("written");
    assert!(cli(
        &["restore", "--from", half_file.to_str().expect("utf-8")],
        &half
    )
    .status
    .success());
    let merged = cli(&["restore", "--from", from], &half);
    assert!(String::from_utf8_lossy(&merged.stderr).contains("restored=20 duplicates=20"));
    let export = cli(&["export", "--format", "ndjson"], &half);
    assert_eq!(String::from_utf8_lossy(&export.stdout).lines().count(), 40);

    // A damaged line is reported by number; everything else is restored.
    let damaged = dir.path().join("damaged.ndjson");
    std::fs::write(
        &damaged,
        format!("{{\"not\": \"a record\"}}\n{backup_text}"),
    )
    .expect("written");
    let out = cli(
        &["restore", "--from", damaged.to_str().expect("utf-8")],
        &dir.path().join("d"),
    );
    assert!(!out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("lines [1] are not records"), "{log}");
    assert!(log.contains("restored=40"), "{log}");
}

/// A damaged store, or a data directory sled cannot open, stops the collector at start with a
/// clear message and a non-zero exit: it never starts empty in its place.
#[test]
fn a_damaged_or_unusable_store_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let collector = Collector::start(&data, &[]);
    for n in 0..200 {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    assert!(collector.terminate());
    // Overwrite a stretch of every 4 KiB page of sled's file.
    let db = data.join("db");
    let mut bytes = std::fs::read(&db).expect("sled's file");
    for page in bytes.chunks_mut(4096) {
        for b in page.iter_mut().skip(100).take(32) {
            *b ^= 0xa5;
        }
    }
    std::fs::write(&db, bytes).expect("damaged");
    let serve = |data: &std::path::Path| {
        let mut child = Command::new(collector_binary())
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .env("RUST_BACKTRACE", "0")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("runs");
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait().expect("waits").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("the collector started on a damaged store instead of refusing it");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.wait_with_output().expect("its output")
    };
    let damaged = serve(&data);
    let message = String::from_utf8_lossy(&damaged.stderr);
    assert!(
        !damaged.status.success(),
        "a damaged store must not be served"
    );
    assert!(message.contains("damaged"), "a clear message: {message}");
    assert!(!message.contains("listening"), "{message}");

    let not_a_directory = dir.path().join("file");
    std::fs::write(&not_a_directory, "not a store").expect("a file");
    let unusable = serve(&not_a_directory);
    assert!(!unusable.status.success());
    assert!(String::from_utf8_lossy(&unusable.stderr).contains("data directory"));
}

/// A real filesystem of a fixed size (tmpfs), to fill up; unmounted on drop. Needs root (CI runs
/// as root); elsewhere the test says why it did not run.
struct SmallFilesystem {
    dir: tempfile::TempDir,
}

impl SmallFilesystem {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(out) if out.status.success() => Some(Self { dir }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => e.to_string(),
                };
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI must be able to mount a small tmpfs (run as root): {why}"
                );
                eprintln!("SKIPPED: mounting a small tmpfs needs root: {why}");
                None
            }
        }
    }

    fn resize(&self, size: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("mount runs");
        assert!(status.success(), "resizing the tmpfs");
    }
}

impl Drop for SmallFilesystem {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// One post with a long comment; the status and `Retry-After`, or `None` with no answer.
fn post_long(base: &str, n: u64) -> Option<(u16, Option<String>)> {
    let mut body = submission(n);
    // Letters drawn from `n` (xorshift): sealed blocks are deflated, so a repeated phrase would
    // take a few bytes and the disk would fill only slowly.
    let mut x = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let comment: String = (0..960)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b'a' + (x % 26) as u8)
        })
        .collect();
    body["comment"] = comment.into();
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    match agent
        .post(&format!("{base}/v1/responses"))
        .set("Content-Type", "text/plain")
        .send_string(&body.to_string())
    {
        Ok(r) => Some((r.status(), None)),
        Err(ureq::Error::Status(code, r)) => {
            Some((code, r.header("Retry-After").map(String::from)))
        }
        Err(ureq::Error::Transport(_)) => None,
    }
}

/// A full disk on a real (small) filesystem: every 2xx was on disk, answers after the disk filled
/// are 503 with `Retry-After` (not hangs), reads go on, and after the disk grows and the
/// collector restarts, every acknowledged answer is there once and new ones are stored.
#[test]
fn a_full_disk_refuses_answers_with_503_and_keeps_serving_reads() {
    let Some(fs) = SmallFilesystem::mount("6m") else {
        return;
    };
    let data = fs.dir.path().join("data");
    let collector = Collector::start(&data, &["--cache-mib", "16"]);
    let mut acknowledged = Vec::new();
    let mut n = 70_000_000;
    let first_refusal = loop {
        assert!(n < 70_020_000, "6 MiB never filled up");
        match post_long(&collector.base, n) {
            Some((201, _)) => acknowledged.push(n),
            Some((503, retry_after)) => break retry_after,
            other => panic!("post {n}: unexpected {other:?}"),
        }
        n += 1;
    };
    assert!(acknowledged.len() > 100, "{}", acknowledged.len());
    assert!(first_refusal.is_some(), "a 503 says when to retry");
    // Later answers are refused at once, without waiting for a disk that cannot take them.
    for k in 1..=20 {
        let answer = post_long(&collector.base, n + k);
        assert!(
            matches!(answer, Some((503, Some(_)))),
            "post after the disk filled: {answer:?}"
        );
    }
    let retry = post_long(&collector.base, acknowledged[0]);
    assert!(
        matches!(retry, Some((200 | 503, _))),
        "a retry of a stored answer is never stored again: {retry:?}"
    );

    // Reads go on: the instrument, metrics, health and the export.
    let survey = ureq::get(&collector.url("/v1/survey"))
        .call()
        .expect("survey");
    assert_eq!(survey.status(), 200);
    match ureq::get(&collector.url("/healthz")).call() {
        Err(ureq::Error::Status(503, r)) => {
            let body = r.into_string().expect("a body");
            assert!(body.contains("storage_failing"), "{body}");
        }
        other => panic!("healthz while the disk is full: {other:?}"),
    }
    let metrics = ureq::get(&collector.url("/metrics"))
        .set(
            "Authorization",
            &format!("Bearer {}", touchpoint_tests::ADMIN_TOKEN),
        )
        .call()
        .expect("metrics")
        .into_string()
        .expect("text");
    assert!(metrics.contains("touchpoint_store_writable 0"), "{metrics}");
    let refused: u64 = metrics
        .lines()
        .find_map(|l| {
            l.strip_prefix(
                "touchpoint_submissions_total{outcome=\"rejected\",reason=\"unavailable\"} ",
            )
        })
        .and_then(|v| v.parse().ok())
        .expect("refusals are counted");
    assert!((21..=22).contains(&refused), "{metrics}");
    // The export too, or a visible cut: sled 0.34 splits and merges pages as it walks its trees,
    // which is a write, and after its first I/O error every write fails, so with the disk full
    // an export may stop part-way (in about one run in twelve here). It must then stop visibly:
    // the transfer is cut and the log says why, never a shorter file that looks complete.
    match collector.try_export_text("ndjson") {
        Ok(text) => {
            let records: Vec<serde_json::Value> = text
                .lines()
                .map(|l| serde_json::from_str(l).expect("JSON lines"))
                .collect();
            assert_each_once(&ids_in(&records), &acknowledged);
        }
        Err(cut) => {
            let log = collector.log();
            assert!(
                log.contains("export stopped error=storage failed"),
                "an export cut without the store failing under it: {cut}\n{log}"
            );
        }
    }

    let status = collector.terminate_within(Duration::from_secs(30));
    assert!(
        status.is_some(),
        "the collector stops on SIGTERM with the disk full"
    );

    fs.resize("64m");
    let collector = Collector::start(&data, &["--cache-mib", "16"]);
    assert_each_once(&ids_in(&collector.export()), &acknowledged);
    assert_eq!(post_long(&collector.base, n + 100), Some((201, None)));
    assert_eq!(
        post_long(&collector.base, acknowledged[1]),
        Some((200, None))
    );
    eprintln!(
        "full disk: {} answers acknowledged on 6 MiB, then 503 with Retry-After {:?}; all kept",
        acknowledged.len(),
        first_refusal
    );
}

fn ids_in(records: &[serde_json::Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().unwrap_or("").to_owned())
        .collect()
}

fn assert_each_once(exported: &[String], acknowledged: &[u64]) {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in exported {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    for n in acknowledged {
        let id = format!("e2e0-0000-0000-{n:016}");
        assert_eq!(
            counts.get(id.as_str()).copied(),
            Some(1),
            "{id} was acknowledged: exported once"
        );
    }
}

/// Whether the kernel lets process `pid` have transparent huge pages (`THP_enabled` in
/// `/proc/PID/status`, 0 once the process refused them); `None` where the kernel does not say.
fn huge_pages_allowed(pid: u32) -> Option<bool> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(|v| v.trim() != "0")
}

/// `touchpoint_memory_releases_total` in the collector's `/metrics`.
fn memory_releases(collector: &Collector) -> u64 {
    let text = ureq::get(&collector.url("/metrics"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("metrics")
        .into_string()
        .expect("text");
    text.lines()
        .find_map(|l| l.strip_prefix("touchpoint_memory_releases_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no memory releases counted in\n{text}"))
}

#[test]
fn issue_18_the_collector_refuses_huge_pages_and_gives_back_what_an_export_freed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(dir.path(), &[]);
    if let Some(allowed) = huge_pages_allowed(collector.pid()) {
        assert!(
            !allowed,
            "a serving collector refuses transparent huge pages"
        );
    }
    for n in 0..3 {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    // The business view gives back what it read in before it says it is ready.
    let waiting = Instant::now();
    loop {
        match ureq::get(&collector.url("/v1/impact"))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .call()
        {
            Ok(_) => break,
            Err(ureq::Error::Status(503, _)) if waiting.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(error) => panic!("the business view: {error}\n{}", collector.log()),
        }
    }
    let before = memory_releases(&collector);
    assert_eq!(collector.export().len(), 3);
    assert_eq!(
        memory_releases(&collector),
        before + 1,
        "the export gave back what it freed before its response ended"
    );
    drop(collector);

    // The operator's own choice stands.
    let other = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start_with_env(other.path(), &[], &[("MIMALLOC_ALLOW_THP", "1")]);
    if let Some(allowed) = huge_pages_allowed(collector.pid()) {
        assert!(allowed, "MIMALLOC_ALLOW_THP=1 keeps them");
    }
}
