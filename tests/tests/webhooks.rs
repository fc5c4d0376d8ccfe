//! Events and webhooks on the real binary, against a real receiver that verifies every
//! signature: retries after failures with the same `webhook-id`, nothing lost across a SIGKILL
//! after the 201, a one-answer alert, and private targets refused without the flag.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    time::Duration,
};

use serde_json::Value;
use touchpoint_tests::{
    post,
    receiver::{Hook, Receiver, SECRET},
    submission, Collector, Delivery, ADMIN_TOKEN,
};

/// Generous: the states these tests wait for come in well under a second on an idle machine.
const PATIENCE: Duration = Duration::from_secs(60);

/// An organisation file with one endpoint, `team`, at `url`, and an alert on effort ≤ 2.
fn org_file(dir: &Path, url: &str, events: &str) -> String {
    std::env::set_var("TP_TEST_HOOK_SECRET", SECRET);
    let path = dir.join("org.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[organisation]
name = "Northbank"
timezone = "Europe/London"

[[department]]
id = "shop"
name = "Shop"

[[touchpoint]]
id = "checkout"
name = "Checkout"
department = "shop"

[[endpoint]]
id = "team"
url = "{url}"
secret = "env:TP_TEST_HOOK_SECRET"
events = [{events}]

[[alert]]
id = "struggled"
touchpoint = "checkout"
effort_at_most = 2
notify = ["team"]
"#
        ),
    )
    .expect("write the organisation file");
    path.display().to_string()
}

fn admin_get(collector: &Collector, path: &str) -> Value {
    ureq::get(&collector.url(path))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("admin GET")
        .into_json()
        .expect("JSON")
}

/// The submission ids of the `response.created` events accepted, with their webhook ids.
fn answers_received(hooks: &[Hook]) -> HashMap<String, HashSet<String>> {
    let mut ids: HashMap<String, HashSet<String>> = HashMap::new();
    for hook in hooks {
        if hook.body["type"] == "response.created" && (200..300).contains(&hook.status) {
            let id = hook.body["data"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            ids.entry(id).or_default().insert(hook.id.clone());
        }
    }
    ids
}

#[test]
fn signed_events_reach_a_receiver_that_fails_first_with_the_same_webhook_id() {
    let receiver = Receiver::start(3);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(
        dir.path(),
        &receiver.url,
        r#""response.created", "alert.opened""#,
    );
    let data = dir.path().join("data");
    let collector = Collector::start(
        &data,
        &[
            "--org",
            &org,
            "--allow-private-webhooks",
            "--webhook-retries",
            "1s,1s,1s,1s",
        ],
    );
    let mut posted = Vec::new();
    for n in 0..5 {
        let mut answer = submission(n);
        answer["answers"]["effort"] = 5.into();
        posted.push(answer["id"].as_str().expect("id").to_owned());
        assert_eq!(
            post(&collector.base, &answer.to_string()),
            Delivery::Acknowledged(201)
        );
    }
    assert!(
        receiver.wait_for(PATIENCE, |hooks| answers_received(hooks).len() == 5),
        "every answer's event arrives despite the failures: {:?}\n{}",
        receiver.hooks(),
        collector.log()
    );
    assert_eq!(receiver.bad_signatures(), 0, "every signature verifies");
    let hooks = receiver.hooks();
    let failed: Vec<&Hook> = hooks.iter().filter(|h| h.status == 500).collect();
    assert_eq!(failed.len(), 3, "the receiver failed the first three");
    let received = answers_received(&hooks);
    for hook in &failed {
        let id = hook.body["data"]["id"].as_str().expect("an answer's id");
        assert_eq!(
            received[id],
            HashSet::from([hook.id.clone()]),
            "a retry carries the same webhook-id"
        );
    }
    let mut ids: Vec<&String> = received.keys().collect();
    ids.sort();
    posted.sort();
    assert_eq!(ids, posted.iter().collect::<Vec<_>>());
    let first = hooks
        .iter()
        .find(|h| h.status == 200)
        .expect("an accepted hook");
    assert_eq!(first.body["type"], "response.created");
    assert_eq!(first.body["data"]["department"], "shop");
    assert!(first.body["data"]["received_at"].is_string());
    assert!(first.timestamp.parse::<u64>().is_ok());

    // The delivery log shows the failures and the deliveries; the secret is never shown.
    let endpoints = admin_get(&collector, "/v1/endpoints");
    let team = &endpoints["endpoints"][0];
    assert_eq!(team["id"], "team");
    assert_eq!(team["status"], "enabled");
    assert_eq!(team["delivered"], 5);
    assert_eq!(team["failed_attempts"], 3);
    assert_eq!(team["secret"], "env:TP_TEST_HOOK_SECRET");
    let log = team["log"].as_array().expect("a log");
    assert_eq!(log.iter().filter(|a| a["status"] == 500).count(), 3);
    assert!(!endpoints
        .to_string()
        .contains(SECRET.trim_start_matches("whsec_")));
    assert!(!collector
        .log()
        .contains(SECRET.trim_start_matches("whsec_")));

    // A low answer opens one alert, sent to the endpoint; a second one does not send another.
    for n in 5..7 {
        let mut low = submission(n);
        low["answers"]["effort"] = 1.into();
        assert_eq!(
            post(&collector.base, &low.to_string()),
            Delivery::Acknowledged(201)
        );
    }
    assert!(
        receiver.wait_for(PATIENCE, |hooks| answers_received(hooks).len() == 7
            && hooks
                .iter()
                .any(|h| h.body["type"] == "alert.opened" && h.status == 200)),
        "the alert arrives: {:?}",
        receiver.hooks()
    );
    let opened: Vec<Hook> = receiver
        .accepted()
        .into_iter()
        .filter(|h| h.body["type"] == "alert.opened")
        .collect();
    assert_eq!(opened.len(), 1, "one open alert per rule and scope");
    assert_eq!(opened[0].body["data"]["rule"], "struggled");
    assert_eq!(opened[0].body["data"]["scope"], "touchpoint:checkout");
    let alerts = admin_get(&collector, "/v1/alerts");
    assert_eq!(alerts["alerts"][0]["status"], "open");
    assert_eq!(alerts["rules"][0]["id"], "struggled");

    // A replay of the period sends every answer again, under the webhook-id it had.
    let before = answers_received(&receiver.hooks());
    let replay = ureq::post(&collector.url("/v1/endpoints/team/replay?from=2000-01-01"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("replay");
    assert_eq!(replay.status(), 202);
    let accepted_before = receiver.accepted().len();
    assert!(
        receiver.wait_for(PATIENCE, |hooks| hooks
            .iter()
            .filter(|h| h.status == 200)
            .count()
            >= accepted_before + 7),
        "the replay arrives"
    );
    assert_eq!(
        answers_received(&receiver.hooks()),
        before,
        "the same webhook-ids"
    );
    let unknown = ureq::post(&collector.url("/v1/endpoints/nobody/replay?from=2000-01-01"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call();
    assert!(matches!(unknown, Err(ureq::Error::Status(404, _))));
    assert_eq!(receiver.bad_signatures(), 0);
}

/// The crash test, extended to events: every answer acknowledged before a SIGKILL has its
/// `response.created` delivered after the restart, under one `webhook-id`.
#[test]
fn every_acknowledged_answer_event_is_delivered_after_sigkill() {
    let receiver = Receiver::start(0);
    receiver.set_down(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(dir.path(), &receiver.url, r#""response.created""#);
    let data = dir.path().join("data");
    let args = [
        "--org",
        &org,
        "--allow-private-webhooks",
        "--webhook-retries",
        "1s",
    ];
    let collector = Collector::start(&data, &args);
    let mut acknowledged = HashSet::new();
    for n in 0..200 {
        let answer = submission(1000 + n);
        if post(&collector.base, &answer.to_string()) == Delivery::Acknowledged(201) {
            acknowledged.insert(answer["id"].as_str().expect("id").to_owned());
        }
        if n == 100 {
            // Half of them may be delivered before the kill, half wait in the store.
            receiver.set_down(false);
        }
    }
    collector.kill();
    assert_eq!(acknowledged.len(), 200);
    receiver.set_down(false);
    let collector = Collector::start(&data, &args);
    assert!(
        receiver.wait_for(PATIENCE, |hooks| {
            let received = answers_received(hooks);
            acknowledged.iter().all(|id| received.contains_key(id))
        }),
        "every acknowledged answer's event arrives after the restart: {} of {}\n{}",
        answers_received(&receiver.hooks()).len(),
        acknowledged.len(),
        collector.log()
    );
    for (id, webhook_ids) in answers_received(&receiver.hooks()) {
        assert_eq!(webhook_ids.len(), 1, "{id} arrived under one webhook-id");
    }
    assert_eq!(receiver.bad_signatures(), 0);
}

#[test]
fn a_private_target_is_refused_without_the_flag() {
    let receiver = Receiver::start(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(dir.path(), &receiver.url, r#""response.created""#);
    let collector = Collector::start(&dir.path().join("data"), &["--org", &org]);
    assert_eq!(
        post(&collector.base, &submission(1).to_string()),
        Delivery::Acknowledged(201)
    );
    let deadline = std::time::Instant::now() + PATIENCE;
    let refused = loop {
        let endpoints = admin_get(&collector, "/v1/endpoints");
        let log = endpoints["endpoints"][0]["log"].clone();
        if log.as_array().is_some_and(|l| !l.is_empty()) {
            break log;
        }
        assert!(std::time::Instant::now() < deadline, "no attempt recorded");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        refused[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("--allow-private-webhooks")),
        "{refused}"
    );
    assert!(
        refused[0]["next_retry"].is_string(),
        "it is tried again later"
    );
    assert!(receiver.hooks().is_empty(), "nothing reached the receiver");
}

#[test]
fn a_receiver_answering_410_disables_its_endpoint() {
    let receiver = Receiver::start(0);
    receiver.always(410);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(dir.path(), &receiver.url, r#""response.created""#);
    let collector = Collector::start(
        &dir.path().join("data"),
        &[
            "--org",
            &org,
            "--allow-private-webhooks",
            "--webhook-retries",
            "1s",
        ],
    );
    for n in 0..3 {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
    let deadline = std::time::Instant::now() + PATIENCE;
    let team = loop {
        let endpoints = admin_get(&collector, "/v1/endpoints");
        if endpoints["endpoints"][0]["status"] == "disabled" {
            break endpoints["endpoints"][0].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not disabled: {endpoints}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        team["disabled"].as_str().is_some_and(|d| d.contains("410")),
        "{team}"
    );
    // Disabled: what is still pending is no longer sent.
    let sent = receiver.hooks().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        receiver.hooks().len() <= sent + 8,
        "at most the posts in flight finish"
    );
    let after = receiver.hooks().len();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        receiver.hooks().len(),
        after,
        "nothing more goes to a disabled endpoint"
    );
}
