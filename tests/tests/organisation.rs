//! The real binary's organisation file on SIGHUP: a good new file is taken, a bad one is refused in
//! the log with its line while the one in force stays, and the process serves throughout.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use touchpoint_tests::{Collector, ADMIN_TOKEN};

fn org_file(name: &str, department: &str) -> String {
    format!(
        r#"[organisation]
name = "{name}"
timezone = "Europe/London"

[[department]]
id = "digital"
name = "Digital"

[[touchpoint]]
id = "checkout"
name = "Checkout"
department = "{department}"
"#
    )
}

/// The organisation's name in force, as `GET /v1/journeys` reports it.
fn organisation(collector: &Collector) -> String {
    let body: serde_json::Value = ureq::get(&collector.url("/v1/journeys"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("journeys")
        .into_json()
        .expect("JSON");
    body["organisation"].as_str().unwrap_or_default().to_owned()
}

/// Waits up to 30 s for `ready`, which reads the collector's state; panics with the log after.
fn wait_for(collector: &Collector, what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "{what} did not happen; collector log:\n{}",
            collector.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("the organisation file is written");
}

#[test]
fn sighup_takes_a_good_file_and_keeps_the_one_in_force_when_the_new_one_is_bad() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("touchpoint.toml");
    write(&file, &org_file("Northbank", "digital"));
    let collector = Collector::start(
        &dir.path().join("data"),
        &["--org", file.to_str().expect("a UTF-8 path")],
    );
    assert_eq!(organisation(&collector), "Northbank");

    write(&file, &org_file("Northbank Group", "digital"));
    collector.hang_up();
    wait_for(&collector, "the good file taken on SIGHUP", || {
        organisation(&collector) == "Northbank Group"
    });

    write(&file, &org_file("Southbank", "fields"));
    collector.hang_up();
    wait_for(&collector, "the bad file refused in the log", || {
        collector.log().contains("was not reloaded")
    });
    let log = collector.log();
    assert!(
        log.contains("touchpoint.toml:") && log.contains("\"fields\""),
        "the refusal names the line and the unknown department:\n{log}"
    );
    assert_eq!(
        organisation(&collector),
        "Northbank Group",
        "the file in force stays"
    );
    assert!(collector.terminate(), "a clean exit after the reloads");
}
