//! Several collectors on one PostgreSQL database: the real binary, three processes, a real
//! server (the one `cargo xtask test` started, or one started here). Copies of one answer raced
//! across them are stored once, each answers as sled would, and every collector reports the same
//! figures.

use std::{
    sync::{Arc, Barrier},
    thread,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use touchpoint_tests::{post, postgres, submission, Collector, Delivery, ADMIN_TOKEN};

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
