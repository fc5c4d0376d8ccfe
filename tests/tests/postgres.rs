//! Several collectors on one PostgreSQL database: the real binary, three processes, a real
//! server (the one `cargo xtask test` started, or one started here). Copies of one answer raced
//! across them are stored once, each answers as sled would, every collector reports the same
//! figures (an answer whose transaction commits after answers with later keys included), one
//! killed under load loses nothing acknowledged, a database that goes away is waited for, and
//! the events stored through any of them reach the endpoint, with an alert's acknowledgement
//! seen by all.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Barrier, RwLock,
    },
    thread,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use touchpoint_tests::{
    assert_exported_once, post, postgres, submission, Collector, Delivery, ADMIN_TOKEN,
};

/// `count` collectors on the database at `url`.
fn collectors(url: &str, count: usize) -> (Vec<Collector>, Vec<tempfile::TempDir>) {
    let dirs: Vec<_> = (0..count)
        .map(|_| tempfile::tempdir().expect("a directory"))
        .collect();
    let running = dirs
        .iter()
        .map(|dir| Collector::start(dir.path(), &["--store", url]))
        .collect();
    (running, dirs)
}

fn admin_get(base: &str, path: &str) -> Value {
    ureq::get(&format!("{base}{path}"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("an answer")
        .into_json()
        .expect("JSON")
}

/// Waits until `check` holds (at most 20 s), or panics with `what`.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen in 20 s");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn twenty_copies_raced_across_three_collectors_are_one_row() {
    let (_server, url) = postgres::database("race");
    let (running, _dirs) = collectors(&url, 3);
    let body = submission(7).to_string();
    let gate = Arc::new(Barrier::new(20));
    let posts: Vec<_> = (0..20)
        .map(|i| {
            let base = running[i % 3].base.clone();
            let body = body.clone();
            let gate = Arc::clone(&gate);
            thread::spawn(move || {
                gate.wait();
                post(&base, &body)
            })
        })
        .collect();
    let answers: Vec<Delivery> = posts
        .into_iter()
        .map(|p| p.join().expect("posted"))
        .collect();
    let stored = answers
        .iter()
        .filter(|a| **a == Delivery::Acknowledged(201))
        .count();
    let duplicates = answers
        .iter()
        .filter(|a| **a == Delivery::Acknowledged(200))
        .count();
    assert_eq!((stored, duplicates), (1, 19), "{answers:?}");
    for collector in &running {
        let ids: Vec<Value> = collector.export().iter().map(|r| r["id"].clone()).collect();
        assert_eq!(ids, vec![submission(7)["id"].clone()], "{}", collector.base);
    }
}

#[test]
fn each_collector_answers_as_sled_does_whichever_got_the_first_copy() {
    let (_server, url) = postgres::database("answers");
    let (running, _dirs) = collectors(&url, 2);
    let (a, b) = (&running[0].base, &running[1].base);
    let first = submission(1);
    assert_eq!(post(a, &first.to_string()), Delivery::Acknowledged(201));
    assert_eq!(post(b, &first.to_string()), Delivery::Acknowledged(200));
    let mut changed = first.clone();
    changed["comment"] = json!("other words");
    assert_eq!(post(b, &changed.to_string()), Delivery::Refused(409));
    let call = |n: u64| {
        let mut answer = submission(n);
        answer["channel"] = json!("web");
        answer["context"] = json!({"interaction_id": "call-41"});
        answer
    };
    assert_eq!(post(b, &call(2).to_string()), Delivery::Acknowledged(201));
    assert_eq!(post(a, &call(3).to_string()), Delivery::Refused(409));
    for collector in &running {
        assert_eq!(collector.export().len(), 2, "{}", collector.base);
    }
}

#[test]
fn a_session_opened_through_one_collector_is_served_by_another() {
    let (_server, url) = postgres::database("sessions");
    let (running, _dirs) = collectors(&url, 2);
    let signed_in = ureq::builder()
        .redirects(0)
        .build()
        .post(&running[0].url("/dashboard/session"))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&format!("token={ADMIN_TOKEN}"))
        .expect("a redirect");
    let cookie = signed_in
        .header("Set-Cookie")
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let dashboard = ureq::get(&running[1].url("/dashboard"))
        .set("Cookie", &cookie)
        .call()
        .expect("the dashboard");
    assert_eq!(dashboard.status(), 200);
}

#[test]
fn every_collector_reports_the_figures_of_all_of_them() {
    let (_server, url) = postgres::database("figures");
    let (running, _dirs) = collectors(&url, 3);
    for n in 0..30u64 {
        let base = &running[(n % 3) as usize].base;
        assert_eq!(
            post(base, &submission(100 + n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    for collector in &running {
        eventually("every collector counting all 30", || {
            admin_get(&collector.base, "/v1/stats")["total"]["count"] == json!(30)
        });
    }
    let figures: Vec<Value> = running
        .iter()
        .map(|c| admin_get(&c.base, "/v1/stats"))
        .collect();
    assert!(figures.windows(2).all(|w| w[0] == w[1]), "{figures:?}");
}

/// The collectors' addresses, each slot owning its process, as the clients read them.
type Slots = Arc<RwLock<Vec<(String, Option<Collector>)>>>;

/// Ends a load when the test ends, even by a failed assertion: the clients stop and the
/// collectors in the slots are killed (the clients' threads hold the slots, so the processes would
/// otherwise outlive the test).
struct EndLoad(Slots, Arc<AtomicBool>);

impl Drop for EndLoad {
    fn drop(&mut self) {
        self.1.store(true, Ordering::SeqCst);
        for slot in self.0.write().unwrap_or_else(|p| p.into_inner()).iter_mut() {
            slot.1.take();
        }
    }
}

/// The slots of `running` collectors.
fn slots_of(running: Vec<Collector>) -> Slots {
    Arc::new(RwLock::new(
        running
            .into_iter()
            .map(|c| (c.base.clone(), Some(c)))
            .collect(),
    ))
}

/// Stops the clients and gathers what they were acknowledged.
fn finish(
    stop: &AtomicBool,
    clients: Vec<thread::JoinHandle<HashMap<String, u16>>>,
) -> HashMap<String, u16> {
    stop.store(true, Ordering::SeqCst);
    let mut acknowledged = HashMap::new();
    for client in clients {
        acknowledged.extend(
            client
                .join()
                .expect("no refusal, no double acknowledgement"),
        );
    }
    acknowledged
}

/// Clients that post like the widget's outbox (the same id again until a 2xx), each answer to
/// the next collector, as a balancer spreads them; returns the acknowledged ids with their
/// status once `stop` is set.
fn outbox_clients(
    slots: &Slots,
    clients: u64,
    stop: &Arc<AtomicBool>,
) -> Vec<thread::JoinHandle<HashMap<String, u16>>> {
    (0..clients)
        .map(|c| {
            let (slots, stop) = (Arc::clone(slots), Arc::clone(stop));
            thread::spawn(move || {
                let mut acknowledged = HashMap::new();
                let mut n = c * 1_000_000;
                let mut turn = c as usize;
                while !stop.load(Ordering::SeqCst) {
                    let body = submission(n).to_string();
                    loop {
                        turn += 1;
                        let base = {
                            let slots = slots.read().unwrap_or_else(|p| p.into_inner());
                            slots[turn % slots.len()].0.clone()
                        };
                        match post(&base, &body) {
                            Delivery::Acknowledged(status) => {
                                let id = submission(n)["id"].as_str().unwrap_or("").to_owned();
                                assert!(acknowledged.insert(id, status).is_none());
                                break;
                            }
                            Delivery::Refused(status) => panic!("answer {n} refused with {status}"),
                            Delivery::NoAnswer => thread::sleep(Duration::from_millis(20)),
                        }
                    }
                    n += 1;
                }
                acknowledged
            })
        })
        .collect()
}

/// Every id of `acknowledged` exported exactly once by each collector, nothing else, and each
/// collector's stats (at most a moment behind) counting exactly the export.
fn assert_exported_once_and_counted(running: &[&Collector], acknowledged: &HashMap<String, u16>) {
    for collector in running {
        let rows = collector.export();
        assert_exported_once(&rows, acknowledged);
        let mut efforts = [0u64; 7];
        for row in &rows {
            efforts[row["answers"]["effort"].as_u64().expect("an effort") as usize - 1] += 1;
        }
        eventually("the stats counting the export", || {
            let stats = admin_get(&collector.base, "/v1/stats");
            stats["total"]["count"] == json!(rows.len())
                && stats["total"]["effort"]["dist"] == json!(efforts)
        });
    }
}

#[test]
fn one_of_three_collectors_killed_under_load_loses_nothing_acknowledged() {
    const KILLS: usize = 6;
    let (_server, url) = postgres::database("kills");
    let (running, dirs) = collectors(&url, 3);
    let slots = slots_of(running);
    let stop = Arc::new(AtomicBool::new(false));
    let _end = EndLoad(Arc::clone(&slots), Arc::clone(&stop));
    let clients = outbox_clients(&slots, 6, &stop);
    for kill in 0..KILLS {
        thread::sleep(Duration::from_millis(300 + 70 * kill as u64));
        let old = slots.write().unwrap_or_else(|p| p.into_inner())[0].1.take();
        old.expect("a running collector").kill();
        thread::sleep(Duration::from_millis(100));
        let fresh = Collector::start(dirs[0].path(), &["--store", &url]);
        slots.write().unwrap_or_else(|p| p.into_inner())[0] = (fresh.base.clone(), Some(fresh));
    }
    thread::sleep(Duration::from_millis(300));
    let acknowledged = finish(&stop, clients);
    assert!(
        acknowledged.len() > 100,
        "the load ran: {}",
        acknowledged.len()
    );
    let slots = slots.read().unwrap_or_else(|p| p.into_inner());
    let running: Vec<&Collector> = slots.iter().filter_map(|s| s.1.as_ref()).collect();
    assert_exported_once_and_counted(&running, &acknowledged);
    eprintln!(
        "{KILLS} SIGKILLs of one of three collectors: {} answers acknowledged, exported once by each",
        acknowledged.len()
    );
}

#[test]
fn a_database_that_goes_away_is_waited_for_and_nothing_unstored_is_acknowledged() {
    // Its own server: this test stops it.
    let server = postgres::Postgres::start().expect("a PostgreSQL server starts");
    let url = server.create_database("away");
    let (running, _dirs) = collectors(&url, 2);
    let slots = slots_of(running);
    let stop = Arc::new(AtomicBool::new(false));
    let _end = EndLoad(Arc::clone(&slots), Arc::clone(&stop));
    let clients = outbox_clients(&slots, 4, &stop);
    let base = slots.read().unwrap_or_else(|p| p.into_inner())[0].0.clone();
    thread::sleep(Duration::from_millis(500));
    server.stop().expect("the server stops");
    // While it is down: 503 with Retry-After for answers, and /healthz says what is waited for.
    let refused = ureq::post(&format!("{base}/v1/responses"))
        .set("Content-Type", "text/plain")
        .send_string(&submission(9_999_999).to_string());
    match refused {
        Err(ureq::Error::Status(503, response)) => {
            assert!(response.header("Retry-After").is_some())
        }
        other => panic!("expected 503, got {other:?}"),
    }
    let health = match ureq::get(&format!("{base}/healthz")).call() {
        Err(ureq::Error::Status(503, response)) => response.into_string().expect("a body"),
        other => panic!("expected 503 from /healthz, got {other:?}"),
    };
    assert!(
        health.contains("waiting_for_store") && health.contains(&server.port.to_string()),
        "{health}"
    );
    thread::sleep(Duration::from_millis(500));
    server.start_again().expect("the server starts again");
    eventually("/healthz ok again", || {
        ureq::get(&format!("{base}/healthz")).call().is_ok()
    });
    thread::sleep(Duration::from_millis(500));
    let acknowledged = finish(&stop, clients);
    // The answer refused while the database was down was never stored.
    let slots = slots.read().unwrap_or_else(|p| p.into_inner());
    let running: Vec<&Collector> = slots.iter().filter_map(|s| s.1.as_ref()).collect();
    assert_exported_once_and_counted(&running, &acknowledged);
}

#[test]
fn migrate_store_interrupted_and_run_again_moves_every_record_once() {
    const RECORDS: usize = 3000;
    let (server, url) = postgres::database("moved");
    let sled = tempfile::tempdir().expect("a directory");
    let data = sled.path().join("data");
    let cli = |args: &[&str]| {
        std::process::Command::new(touchpoint_tests::collector_binary())
            .args(args)
            .output()
            .expect("the collector runs")
    };
    let seeded = cli(&[
        "seed-demo",
        "--data",
        data.to_str().expect("UTF-8"),
        "--count",
        "3000",
    ]);
    assert!(
        seeded.status.success(),
        "{}",
        String::from_utf8_lossy(&seeded.stderr)
    );
    let database = url.rsplit_once('/').expect("a database").1.to_owned();
    let count = |sql: &str| -> usize {
        server
            .psql(&database, sql)
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    };
    let mut moving = std::process::Command::new(touchpoint_tests::collector_binary())
        .args([
            "migrate-store",
            "--batch",
            "20",
            "--to",
            &url,
            "--from-data",
        ])
        .arg(&data)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the move starts");
    // Killed once some batches are in, well before the last.
    eventually("some batches moved", || {
        count("SELECT count(*) FROM records") >= 200
    });
    moving.kill().expect("SIGKILL");
    moving.wait().expect("reaped");
    let interrupted = count("SELECT count(*) FROM records");
    assert!(
        interrupted < RECORDS,
        "the move finished before it was interrupted"
    );
    let move_all = || {
        cli(&[
            "migrate-store",
            "--to",
            &url,
            "--from-data",
            data.to_str().expect("UTF-8"),
        ])
    };
    let resumed = move_all();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(count("SELECT count(*) FROM records"), RECORDS);
    // The export from the database is the sled store's, byte for byte: same records, same
    // receive times, same order, each once.
    let offline = cli(&[
        "export",
        "--format",
        "ndjson",
        "--data",
        data.to_str().expect("UTF-8"),
    ]);
    assert!(offline.status.success());
    let dir = tempfile::tempdir().expect("a directory");
    let collector = Collector::start(dir.path(), &["--store", &url]);
    assert_eq!(
        collector.export_text("ndjson"),
        String::from_utf8_lossy(&offline.stdout)
    );
    let again = move_all();
    assert!(
        again.status.success(),
        "a third run moves nothing and succeeds"
    );
    assert_eq!(count("SELECT count(*) FROM records"), RECORDS);
    eprintln!("migrate-store: interrupted after {interrupted} of {RECORDS} records, then finished");
}

#[test]
fn the_primary_killed_under_load_and_its_synchronous_standby_promoted_loses_nothing_acknowledged() {
    let dir = tempfile::Builder::new()
        .prefix("touchpoint-pair")
        .tempdir()
        .expect("a directory");
    let primary = postgres::Postgres::init(
        &dir.path().join("primary"),
        &[
            "synchronous_standby_names = 'standby'",
            "synchronous_commit = on",
        ],
    )
    .expect("the primary starts");
    let standby = postgres::Postgres::standby_of(&primary, &dir.path().join("standby"), "standby")
        .expect("the standby starts");
    eventually("the standby streaming synchronously", || {
        primary
            .psql("postgres", "SELECT sync_state FROM pg_stat_replication")
            .is_ok_and(|s| s == "sync")
    });
    // Both hosts, the writable one wanted: after the promotion the collectors find it themselves.
    let url = format!(
        "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write",
        primary.port, standby.port
    );
    let (running, _dirs) = collectors(&url, 2);
    let slots = slots_of(running);
    let stop = Arc::new(AtomicBool::new(false));
    let _end = EndLoad(Arc::clone(&slots), Arc::clone(&stop));
    let clients = outbox_clients(&slots, 4, &stop);
    thread::sleep(Duration::from_millis(1500));
    primary.kill();
    thread::sleep(Duration::from_millis(300));
    standby.promote().expect("the standby is promoted");
    let base = slots.read().unwrap_or_else(|p| p.into_inner())[1].0.clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while post(&base, &submission(8_000_000).to_string()) != Delivery::Acknowledged(201) {
        if Instant::now() > deadline {
            let slots = slots.read().unwrap_or_else(|p| p.into_inner());
            panic!(
                "no answer stored on the new primary in 20 s:\n{}",
                slots[1].1.as_ref().map(Collector::log).unwrap_or_default()
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
    thread::sleep(Duration::from_millis(1000));
    let mut acknowledged = finish(&stop, clients);
    acknowledged.insert(
        submission(8_000_000)["id"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
        201,
    );
    let slots = slots.read().unwrap_or_else(|p| p.into_inner());
    let running: Vec<&Collector> = slots.iter().filter_map(|s| s.1.as_ref()).collect();
    assert_exported_once_and_counted(&running, &acknowledged);
    eprintln!(
        "failover: {} answers acknowledged across the primary's loss, each exported once",
        acknowledged.len()
    );
}

#[test]
fn events_stored_through_two_collectors_reach_the_endpoint_and_an_acknowledgement_is_shared() {
    let (_server, url) = postgres::database("events");
    let receiver = touchpoint_tests::receiver::Receiver::start(3);
    let dir = tempfile::tempdir().expect("a directory");
    let org = touchpoint_tests::receiver::org_file(
        dir.path(),
        &receiver.url,
        r#""response.created", "alert.opened""#,
    );
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("a directory"))
        .collect();
    let args = [
        "--store",
        &url,
        "--org",
        &org,
        "--allow-private-webhooks",
        "--webhook-retries",
        "1s,1s,1s,1s,1s",
    ];
    let running: Vec<Collector> = dirs
        .iter()
        .map(|d| Collector::start(d.path(), &args))
        .collect();
    let mut ids = HashSet::new();
    for n in 0..20u64 {
        let mut answer = submission(n);
        answer["answers"]["effort"] = json!(if n == 0 { 1 } else { 6 });
        ids.insert(answer["id"].as_str().expect("an id").to_owned());
        assert_eq!(
            post(&running[(n % 2) as usize].base, &answer.to_string()),
            Delivery::Acknowledged(201)
        );
    }
    // Every answer's event arrives, under one webhook-id however often it was tried, and the
    // one low answer opens one alert.
    let delivered = || -> HashMap<String, HashSet<String>> {
        let mut by_answer: HashMap<String, HashSet<String>> = HashMap::new();
        for hook in receiver.accepted() {
            if hook.body["type"] == "response.created" {
                let id = hook.body["data"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                by_answer.entry(id).or_default().insert(hook.id.clone());
            }
        }
        by_answer
    };
    eventually("every answer's event and the alert delivered", || {
        delivered().len() == ids.len()
            && receiver
                .accepted()
                .iter()
                .any(|h| h.body["type"] == "alert.opened")
    });
    let by_answer = delivered();
    assert_eq!(by_answer.keys().cloned().collect::<HashSet<_>>(), ids);
    assert!(
        by_answer.values().all(|webhook_ids| webhook_ids.len() == 1),
        "one webhook-id per event: {by_answer:?}"
    );
    assert_eq!(receiver.bad_signatures(), 0);

    // The alert, acknowledged through one collector, is acknowledged on the other.
    let alerts = admin_get(&running[1].base, "/v1/alerts");
    let id = alerts["alerts"][0]["alert_id"]
        .as_str()
        .unwrap_or_else(|| panic!("an alert: {alerts}"))
        .to_owned();
    let acknowledged = ureq::post(&running[0].url(&format!("/v1/alerts/{id}/acknowledge")))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send_json(json!({"by": "Priya", "note": "calling the customer back"}))
        .expect("acknowledged");
    assert_eq!(acknowledged.status(), 200);
    let seen = admin_get(&running[1].base, "/v1/alerts");
    assert_eq!(seen["alerts"][0]["acknowledged"]["by"], "Priya", "{seen}");
    assert_eq!(
        seen["alerts"][0]["acknowledged"]["note"],
        "calling the customer back"
    );
}

/// Two collectors on a new database of their own, as the late-commit tests open: `a` and `b`
/// are their bases. Dropped in this order: the collectors, their folders, then the server.
struct TwoCollectors {
    running: Vec<Collector>,
    _dirs: Vec<tempfile::TempDir>,
    a: String,
    b: String,
    db: String,
    server: postgres::Postgres,
}

/// [`TwoCollectors`] on a database named after `name`.
fn two_collectors(name: &str) -> TwoCollectors {
    let (server, url) = postgres::database(name);
    let db = url.rsplit('/').next().expect("a database name").to_owned();
    let (running, dirs) = collectors(&url, 2);
    TwoCollectors {
        a: running[0].base.clone(),
        b: running[1].base.clone(),
        running,
        _dirs: dirs,
        db,
        server,
    }
}

/// Posts `late` (an answer of device `branch-7/kiosk-late`) to `base` while a psql session
/// inserts that device's row: the answer's transaction waits, open, until the session lets go
/// (`ROLLBACK`). Returns once it waits.
fn post_held(
    server: &postgres::Postgres,
    db: &str,
    base: &str,
    late: &Value,
) -> (postgres::Session, thread::JoinHandle<Delivery>) {
    let mut holder = server.session(db).expect("a psql session");
    holder
        .run("BEGIN; INSERT INTO devices (device, last_submitted) VALUES ('branch-7/kiosk-late', 0);")
        .expect("the device row held");
    let (base, body) = (base.to_owned(), late.to_string());
    let held = thread::spawn(move || post(&base, &body));
    eventually(
        "the late answer's transaction waiting for the device row",
        || {
            server
                .psql(
                    db,
                    "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = 'touchpoint-collector' AND wait_event_type = 'Lock'",
                )
                .is_ok_and(|n| n == "1")
        },
    );
    (holder, held)
}

#[test]
fn an_answer_committed_after_later_ones_is_counted_by_every_collector() {
    // The collectors' ingest transactions run side by side, so an answer may commit after
    // answers with later keys: here a kiosk answer's transaction is held open (its device row
    // is being inserted by another session) while the other collector stores and counts five.
    let TwoCollectors {
        running,
        a,
        b,
        db,
        server,
        ..
    } = &two_collectors("late");
    assert_eq!(
        post(b, &submission(1).to_string()),
        Delivery::Acknowledged(201)
    );
    let mut late = submission(3);
    late["context"] = json!({"site_id": "branch-7", "device_id": "kiosk-late"});
    let (mut holder, held) = post_held(server, db, a, &late);
    for n in 10..15 {
        assert_eq!(
            post(b, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    eventually("the other collector counting its own six", || {
        admin_get(b, "/v1/stats")["total"]["count"] == json!(6)
    });
    holder.run("ROLLBACK;").expect("the device row let go");
    assert_eq!(held.join().expect("posted"), Delivery::Acknowledged(201));
    let later = server
        .psql(
            db,
            &format!(
                "SELECT count(*) FROM records WHERE key > (SELECT key FROM records WHERE id = '{}')",
                late["id"].as_str().unwrap_or("")
            ),
        )
        .expect("the keys");
    assert_eq!(later, "5", "the five have later keys than the late answer");
    let acknowledged: HashMap<String, u16> = [1, 3, 10, 11, 12, 13, 14]
        .iter()
        .map(|n| (submission(*n)["id"].as_str().unwrap_or("").to_owned(), 201))
        .collect();
    assert_exported_once_and_counted(&running.iter().collect::<Vec<_>>(), &acknowledged);
}

/// The answers `GET /v1/impact` joins (those with an interaction id), over every touchpoint,
/// and how many of them had an outcome.
fn joined(view: &Value) -> (u64, u64) {
    let touchpoints = view["touchpoints"].as_array().cloned().unwrap_or_default();
    let answers = touchpoints
        .iter()
        .flat_map(|t| t["answers"].as_object().cloned().unwrap_or_default())
        .filter_map(|(_, n)| n.as_u64())
        .sum();
    let with_outcome = touchpoints
        .iter()
        .flat_map(|t| t["outcomes"].as_array().cloned().unwrap_or_default())
        .flat_map(|o| {
            ["hard", "neutral", "easy"].map(|b| o["bands"][b]["with_outcome"].as_u64().unwrap_or(0))
        })
        .sum();
    (answers, with_outcome)
}

#[test]
fn an_answer_committed_after_later_ones_shows_in_every_collectors_business_view() {
    // As above, a kiosk answer's transaction is held open while the other collector stores
    // five; here each carries an interaction id, and the late one's has an outcome.
    let TwoCollectors {
        a, b, db, server, ..
    } = &two_collectors("late_impact");
    let imported: Value = ureq::post(&format!("{a}/v1/outcomes"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .set("Content-Type", "application/x-ndjson")
        .send_string(
            "{\"interaction_id\":\"ticket-late\",\"outcome\":\"repeat_contact\",\"at\":\"2026-01-02T10:00:00Z\"}\n",
        )
        .expect("an answer")
        .into_json()
        .expect("JSON");
    assert_eq!(imported["stored"], json!(1), "{imported}");
    let mut late = submission(3);
    late["context"] =
        json!({"site_id": "branch-7", "device_id": "kiosk-late", "interaction_id": "ticket-late"});
    let (mut holder, held) = post_held(server, db, a, &late);
    for n in 10..15 {
        let mut answer = submission(n);
        answer["context"] = json!({"interaction_id": format!("ticket-{n}")});
        assert_eq!(post(b, &answer.to_string()), Delivery::Acknowledged(201));
    }
    // The other collector's view counts its five while the late answer is still open, and the
    // late answer's own collector is asked too (it sees the five once nothing older is open):
    // a view that read the store by key would now be past the late answer's on both.
    eventually("the five in the other collector's business view", || {
        joined(&admin_get(b, "/v1/impact")) == (5, 0)
    });
    assert_eq!(joined(&admin_get(a, "/v1/impact")).1, 0);
    holder.run("ROLLBACK;").expect("the device row let go");
    assert_eq!(held.join().expect("posted"), Delivery::Acknowledged(201));
    // ...and each finds the late one, with its outcome, once it commits.
    for base in [&a, &b] {
        eventually(
            "the late answer and its outcome in the business view",
            || joined(&admin_get(base, "/v1/impact")) == (6, 1),
        );
    }
}
