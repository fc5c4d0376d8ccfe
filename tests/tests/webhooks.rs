//! Events and webhooks on the real binary, against a real receiver that verifies every
//! signature: retries after failures with the same `webhook-id`, nothing lost across a SIGKILL
//! after the 201, a one-answer alert and its acknowledgement, a rate alert, quiet hours and their
//! digest on a clock the test moves, the `slack` format, a rotated secret, `Retry-After`, an
//! endpoint disabled after its whole schedule, and private targets refused without the flag.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    time::Duration,
};

use serde_json::Value;
use touchpoint_tests::{
    post,
    receiver::{org_file, Hook, Receiver, SECRET},
    submission, Collector, Delivery, ADMIN_TOKEN,
};

/// Generous: the states these tests wait for come in well under a second on an idle machine.
const PATIENCE: Duration = Duration::from_secs(60);

fn admin_get(collector: &Collector, path: &str) -> Value {
    ureq::get(&collector.url(path))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("admin GET")
        .into_json()
        .expect("JSON")
}

/// The collector over `data` with the organisation file `org`, its endpoints on loopback allowed,
/// retrying on `retries`.
fn with_endpoints(data: &Path, org: &str, retries: &str) -> Collector {
    Collector::start(
        data,
        &[
            "--org",
            org,
            "--allow-private-webhooks",
            "--webhook-retries",
            retries,
        ],
    )
}

/// Posts the answers numbered `numbers`, each acknowledged.
fn post_all(collector: &Collector, numbers: std::ops::Range<u64>) {
    for n in numbers {
        assert_eq!(
            post(&collector.base, &submission(n).to_string()),
            Delivery::Acknowledged(201)
        );
    }
}

/// Waits until the endpoint `team`, as `/v1/endpoints` shows it, is in the state `wanted` says.
fn wait_for_team(collector: &Collector, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let team = admin_get(collector, "/v1/endpoints")["endpoints"][0].clone();
        if wanted(&team) {
            return team;
        }
        assert!(std::time::Instant::now() < deadline, "{what}: {team}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let collector = with_endpoints(&data, &org, "1s,1s,1s,1s");
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

    // A replay of the period sends every answer again, under the webhook-id it had. A delivery
    // the collector has not yet seen accepted is still waiting, and a replay leaves it alone:
    // replay once nothing waits.
    wait_for_team(&collector, "every delivery settled", |team| {
        team["pending"] == 0
    });
    let before = answers_received(&receiver.hooks());
    // Counted before the replay is asked for: its first posts may arrive before its 202 does.
    let accepted_before = receiver.accepted().len();
    let replay = ureq::post(&collector.url("/v1/endpoints/team/replay?from=2000-01-01"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .call()
        .expect("replay");
    assert_eq!(replay.status(), 202);
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
    post_all(&collector, 1..2);
    let refused = wait_for_team(&collector, "no attempt recorded", |team| {
        team["log"].as_array().is_some_and(|l| !l.is_empty())
    })["log"]
        .clone();
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

/// A collector whose endpoint `team` is at a receiver answering every post with `status`, once
/// `answers` were posted and the endpoint is disabled; retrying on `retries`.
struct Disabled {
    receiver: Receiver,
    dir: tempfile::TempDir,
    org: String,
    collector: Collector,
    /// The endpoint as `/v1/endpoints` shows it, disabled.
    team: Value,
}

fn disabled_by(status: u16, retries: &str, answers: std::ops::Range<u64>) -> Disabled {
    let receiver = Receiver::start(0);
    receiver.always(status);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(dir.path(), &receiver.url, r#""response.created""#);
    let collector = with_endpoints(&dir.path().join("data"), &org, retries);
    post_all(&collector, answers);
    let team = wait_for_team(&collector, "not disabled", |team| {
        team["status"] == "disabled"
    });
    Disabled {
        receiver,
        dir,
        org,
        collector,
        team,
    }
}

#[test]
fn a_receiver_answering_410_disables_its_endpoint() {
    let Disabled {
        receiver,
        dir,
        org,
        collector,
        team,
    } = disabled_by(410, "1s", 0..3);
    assert!(
        team["disabled"].as_str().is_some_and(|d| d.contains("410")),
        "{team}"
    );
    // Disabled: what is still pending is held, not sent. Once every pending delivery is held
    // (due, and not sent) and no post is in flight, nothing more can go out before a reload.
    let team = wait_for_team(&collector, "not every delivery held", all_held);
    assert_eq!(team["pending"], 3, "nothing given up: {team}");
    let sent = receiver.hooks().len();
    assert!((1..=3).contains(&sent), "each at most once: {sent}");
    assert_eq!(
        team["failed_attempts"], sent,
        "nothing arrived that the delivery log does not show: {team}"
    );

    // Still disabled after a restart: a new answer waits for the endpoint, unsent.
    collector.kill();
    let collector = with_endpoints(&dir.path().join("data"), &org, "1s");
    post_all(&collector, 3..4);
    let team = wait_for_team(&collector, "the new answer not held", |team| {
        assert_eq!(team["status"], "disabled", "{team}");
        team["pending"] == 4 && all_held(team)
    });
    assert_eq!(
        receiver.hooks().len(),
        sent,
        "a disabled endpoint stays disabled: {team}"
    );
}

/// Whether every pending delivery of an endpoint is held (it is disabled) and none is in flight.
fn all_held(team: &Value) -> bool {
    team["status"] == "disabled" && team["in_flight"] == 0 && team["held"] == team["pending"]
}

/// A receiver that comes back after its events were scheduled for a late retry gets them as soon
/// as it accepts one again, not on the schedule.
#[test]
fn a_receiver_that_comes_back_gets_its_backlog_at_once() {
    let receiver = Receiver::start(0);
    receiver.set_down(true);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(dir.path(), &receiver.url, r#""response.created""#);
    let collector = with_endpoints(&dir.path().join("data"), &org, "1s,1h");
    post_all(&collector, 0..20);
    // Wait until every one has failed twice: the next attempts are an hour away.
    wait_for_team(&collector, "not failed twice", |team| {
        team["failed_attempts"].as_u64() >= Some(40)
    });
    receiver.set_down(false);
    post_all(&collector, 20..21);
    assert!(
        receiver.wait_for(PATIENCE, |hooks| answers_received(hooks).len() == 21),
        "the backlog drains once the receiver accepts again: {} of 21",
        answers_received(&receiver.hooks()).len()
    );
}

/// A rate alert on the real binary: it opens when the share of low answers over its window
/// reaches the threshold with enough answers, once, and resolves when good answers bring it down.
#[test]
fn a_rate_alert_opens_and_resolves() {
    let receiver = Receiver::start(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = with_org(
        dir.path(),
        &format!(
            r#"[organisation]
name = "Northbank"

[[endpoint]]
id = "team"
url = "{}"
secret = "env:TP_TEST_HOOK_SECRET"
events = ["alert.opened", "alert.resolved"]

[[alert]]
id = "queue-worse"
channel = "kiosk"
low_share_at_least = 0.5
low_effort_at_most = 3
window_minutes = 60
min_responses = 4
notify = ["team"]
"#,
            receiver.url
        ),
        "1s",
        &[],
    );
    let answer = |n: u64, channel: &str, effort: u64| {
        let mut a = submission(n);
        a["channel"] = channel.into();
        a["answers"]["effort"] = effort.into();
        a["context"] = serde_json::json!({"device_id": format!("k-{n}"), "site_id": "b-1"});
        assert_eq!(
            post(&collector.base, &a.to_string()),
            Delivery::Acknowledged(201)
        );
    };
    let alerts = |kind: &str| -> Vec<Hook> {
        receiver
            .accepted()
            .into_iter()
            .filter(|h| h.body["type"] == kind)
            .collect()
    };
    // Low answers on another channel are out of scope.
    for n in 0..6 {
        answer(n, "web", 1);
    }
    // Three low kiosk answers: under min_responses.
    for n in 6..9 {
        answer(n, "kiosk", 2);
    }
    // Wait until the collector has handed on all nine (nothing waits in its outbox).
    let deadline = std::time::Instant::now() + PATIENCE;
    while admin_get(&collector, "/v1/endpoints")["queue"]["outbox"] != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the outbox does not drain"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(alerts("alert.opened").is_empty(), "{:?}", receiver.hooks());
    answer(9, "kiosk", 1);
    assert!(
        receiver.wait_for(PATIENCE, |_| alerts("alert.opened").len() == 1),
        "the fourth low answer opens it"
    );
    let opened = &alerts("alert.opened")[0].body["data"];
    assert_eq!(opened["rule"], "queue-worse");
    assert_eq!(opened["scope"], "channel:kiosk");
    assert_eq!(opened["detail"]["low"], 4);
    // Good answers: 4 low of 8 is still a half; the ninth brings it under.
    for n in 10..14 {
        answer(n, "kiosk", 7);
    }
    answer(14, "kiosk", 7);
    assert!(
        receiver.wait_for(PATIENCE, |_| alerts("alert.resolved").len() == 1),
        "the share falling under the threshold resolves it: {:?}",
        receiver.hooks()
    );
    assert_eq!(alerts("alert.opened").len(), 1, "opened once");
    let listed = admin_get(&collector, "/v1/alerts");
    assert_eq!(listed["alerts"][0]["status"], "resolved");
    assert_eq!(receiver.bad_signatures(), 0);
}

/// A collector over a fresh directory in `dir` with the organisation file `toml` (endpoints at
/// `{url}`), its endpoints on loopback allowed, retrying on `retries`, with `env` added.
fn with_org(dir: &Path, toml: &str, retries: &str, env: &[(&str, &str)]) -> Collector {
    let org = dir.join("org.toml");
    std::fs::write(&org, toml).expect("write the organisation file");
    let org = org.display().to_string();
    let mut env = env.to_vec();
    env.push(("TP_TEST_HOOK_SECRET", SECRET));
    Collector::start_with_env(
        &dir.join("data"),
        &[
            "--org",
            &org,
            "--allow-private-webhooks",
            "--webhook-retries",
            retries,
        ],
        &env,
    )
}

/// Posts answer `n` at `touchpoint` with `effort`; it must be acknowledged.
fn post_answer(collector: &Collector, n: u64, touchpoint: &str, effort: u64) -> Value {
    let mut answer = submission(n);
    answer["channel"] = "web".into();
    answer["touchpoint"] = touchpoint.into();
    answer["answers"]["effort"] = effort.into();
    assert_eq!(
        post(&collector.base, &answer.to_string()),
        Delivery::Acknowledged(201)
    );
    answer
}

/// Polls `GET path` until `wanted` holds for its body; returns that body.
fn wait_for_admin(
    collector: &Collector,
    path: &str,
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + PATIENCE;
    loop {
        let body = admin_get(collector, path);
        if wanted(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {body}\n{}",
            collector.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `HH:MM` of the minute `minutes` after midnight, any number of days on.
fn clock_time(minutes: u64) -> String {
    let minutes = minutes % (24 * 60);
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Quiet hours on the collector's own clock, moved by a test: alerts that open while they last
/// send nothing, and when they end one digest lists them all.
#[test]
fn quiet_hours_hold_alerts_back_and_one_digest_follows_when_they_end() {
    let receiver = Receiver::start(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let clock = dir.path().join("clock");
    std::fs::write(&clock, "0").expect("clock");
    // Quiet from an hour to two hours from now (UTC), so the test starts outside them.
    let now_minute = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
        / 60;
    let quiet = format!(
        "{}-{}",
        clock_time(now_minute + 60),
        clock_time(now_minute + 120)
    );
    let collector = with_org(
        dir.path(),
        &format!(
            r#"[organisation]
name = "Northbank"
timezone = "UTC"

[[endpoint]]
id = "team"
url = "{}"
secret = "env:TP_TEST_HOOK_SECRET"
events = ["alert.opened", "alert.resolved"]

[[alert]]
id = "struggled"
effort_at_most = 2
notify = ["team"]
quiet_hours = "{quiet}"
"#,
            receiver.url
        ),
        "1s",
        &[("TOUCHPOINT_TEST_CLOCK_FILE", &clock.display().to_string())],
    );
    // The clock moves 65 minutes on: five minutes into the quiet hours.
    std::fs::write(&clock, "3900").expect("clock");
    post_answer(&collector, 1, "checkout", 1);
    post_answer(&collector, 2, "basket", 2);
    post_answer(&collector, 3, "checkout", 1);
    let held = wait_for_admin(&collector, "/v1/alerts", "two alerts held", |body| {
        let alerts = body["alerts"].as_array().map_or(&[][..], Vec::as_slice);
        alerts.len() == 2 && alerts.iter().all(|a| a["held_for_digest"] == true)
    });
    assert!(
        held["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().all(|a| a["status"] == "open")),
        "{held}"
    );
    assert!(
        receiver.hooks().is_empty(),
        "nothing is sent in quiet hours: {:?}",
        receiver.hooks()
    );
    // Two hours and five minutes on: the quiet hours are over.
    std::fs::write(&clock, "7500").expect("clock");
    assert!(
        receiver.wait_for(PATIENCE, |hooks| !hooks.is_empty()),
        "the digest arrives when the quiet hours end\n{}",
        collector.log()
    );
    wait_for_admin(&collector, "/v1/alerts", "no alert held", |body| {
        body["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().all(|a| a["held_for_digest"] == false))
    });
    let hooks = receiver.accepted();
    assert_eq!(
        hooks.len(),
        1,
        "one digest, not one post per alert: {hooks:?}"
    );
    let digest = &hooks[0].body;
    assert_eq!(digest["type"], "alert.opened");
    assert_eq!(digest["data"]["digest"], true);
    let mut scopes: Vec<&str> = digest["data"]["alerts"]
        .as_array()
        .expect("the alerts held")
        .iter()
        .filter_map(|a| a["scope"].as_str())
        .collect();
    scopes.sort_unstable();
    assert_eq!(scopes, ["touchpoint:basket", "touchpoint:checkout"]);
    assert_eq!(receiver.bad_signatures(), 0);
}

/// An endpoint in the `slack` format gets a line a person reads, not the event's JSON.
#[test]
fn the_slack_format_arrives_as_a_readable_message() {
    let receiver = Receiver::start(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = with_org(
        dir.path(),
        &format!(
            r#"[organisation]
name = "Northbank"

[[department]]
id = "shop"
name = "Shop"

[[touchpoint]]
id = "checkout"
name = "Checkout"
department = "shop"

[[endpoint]]
id = "chat"
url = "{}"
secret = "env:TP_TEST_HOOK_SECRET"
events = ["response.created", "alert.opened"]
format = "slack"

[[alert]]
id = "struggled"
effort_at_most = 2
notify = ["chat"]
"#,
            receiver.url
        ),
        "1s",
        &[],
    );
    let mut answer = submission(1);
    answer["channel"] = "web".into();
    answer["answers"] = serde_json::json!({"effort": 1, "emotion": "frustrated"});
    answer["comment"] = "the code never came".into();
    assert_eq!(
        post(&collector.base, &answer.to_string()),
        Delivery::Acknowledged(201)
    );
    assert!(
        receiver.wait_for(PATIENCE, |hooks| hooks.len() == 2),
        "the answer and the alert arrive: {:?}",
        receiver.hooks()
    );
    let mut texts: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|h| {
            let object = h.body.as_object().expect("an object");
            assert_eq!(object.len(), 1, "only the text: {}", h.body);
            h.body["text"].as_str().expect("a text").to_owned()
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            "Alert struggled opened for touchpoint:checkout: an answer at checkout (web) with effort 1/7, frustrated",
            "New answer at checkout (shop, web): effort 1/7, frustrated — “the code never came”",
        ]
    );
    assert_eq!(receiver.bad_signatures(), 0, "signed like any other");
}

/// While a secret is rotated (two in the endpoint's variable), each post carries two signatures,
/// and each verifies under its own secret.
#[test]
fn a_rotated_secret_signs_twice_and_both_signatures_verify() {
    const NEW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let receiver = Receiver::start(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let rotating = format!("{NEW_SECRET} {SECRET}");
    let collector = with_org(
        dir.path(),
        &format!(
            r#"[organisation]
name = "Northbank"

[[endpoint]]
id = "team"
url = "{}"
secret = "env:TP_TEST_HOOK_ROTATING"
events = ["response.created"]
"#,
            receiver.url
        ),
        "1s",
        &[("TP_TEST_HOOK_ROTATING", &rotating)],
    );
    post_all(&collector, 0..3);
    assert!(
        receiver.wait_for(PATIENCE, |hooks| answers_received(hooks).len() == 3),
        "{:?}",
        receiver.hooks()
    );
    assert_eq!(receiver.bad_signatures(), 0, "the old secret verifies");
    for hook in receiver.hooks() {
        let signatures: Vec<&str> = hook.signature.split(' ').collect();
        assert_eq!(signatures.len(), 2, "{}", hook.signature);
        for secret in [NEW_SECRET, SECRET] {
            let verified = signatures.iter().filter(|s| {
                touchpoint_tests::receiver::verify(secret, &hook.id, &hook.timestamp, &hook.raw, s)
            });
            assert_eq!(verified.count(), 1, "one signature under {secret}");
        }
    }
    let shown = admin_get(&collector, "/v1/endpoints").to_string();
    for secret in [NEW_SECRET, SECRET] {
        assert!(!shown.contains(secret.trim_start_matches("whsec_")));
        assert!(!collector
            .log()
            .contains(secret.trim_start_matches("whsec_")));
    }
}

/// A receiver that asks for a pause with `Retry-After` is not tried again before it, even when
/// the retry schedule would try sooner.
#[test]
fn retry_after_is_honoured() {
    const PAUSE_SECS: u64 = 3;
    let receiver = Receiver::start(1);
    receiver.retry_after(PAUSE_SECS as usize);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(dir.path(), &receiver.url, r#""response.created""#);
    let collector = with_endpoints(&dir.path().join("data"), &org, "1s,1s");
    post_all(&collector, 0..1);
    assert!(
        receiver.wait_for(PATIENCE, |hooks| answers_received(hooks).len() == 1),
        "{:?}",
        receiver.hooks()
    );
    let arrivals = receiver.arrivals();
    assert_eq!(arrivals.len(), 2, "one refusal, one delivery: {arrivals:?}");
    assert_eq!(arrivals[0].0.status, 500);
    assert_eq!(arrivals[0].0.id, arrivals[1].0.id, "the same event");
    let waited = arrivals[1].1.duration_since(arrivals[0].1);
    assert!(
        waited >= Duration::from_secs(PAUSE_SECS),
        "tried again after {waited:?}, before the {PAUSE_SECS} s asked for"
    );
    // The delivery log says when the retry was due: no sooner than the pause.
    let team = admin_get(&collector, "/v1/endpoints")["endpoints"][0].clone();
    let log = team["log"].as_array().expect("a log");
    let failed = log
        .iter()
        .find(|a| a["status"] == 500)
        .expect("the refusal");
    let at = protocol::Timestamp::parse(failed["at"].as_str().expect("at")).expect("a time");
    let next = protocol::Timestamp::parse(failed["next_retry"].as_str().expect("next_retry"))
        .expect("a time");
    assert!(
        next.unix_millis() - at.unix_millis() >= (PAUSE_SECS * 1000) as i64,
        "{failed}"
    );
}

/// An endpoint that fails through its whole (shortened) schedule is disabled, says why in
/// `/v1/endpoints`, and gives the event up.
#[test]
fn an_endpoint_failing_through_its_whole_schedule_is_disabled() {
    let Disabled { receiver, team, .. } = disabled_by(500, "1s,1s", 0..1);
    assert_eq!(
        team["disabled"], "failed through the whole retry schedule (3 attempts)",
        "{team}"
    );
    assert!(team["disabled_at"].is_string(), "{team}");
    assert_eq!(team["abandoned"], 1);
    assert_eq!(team["failed_attempts"], 3);
    assert_eq!(team["pending"], 0, "the event is given up");
    let attempts = receiver.hooks();
    assert_eq!(attempts.len(), 3, "the first attempt and two retries");
    assert!(attempts.iter().all(|h| h.id == attempts[0].id));
}

/// `POST /v1/alerts/{id}/acknowledge`: who takes an alert on, when and with what note, kept and
/// listed by `GET /v1/alerts`; refused without a name, for an unknown alert, or without the token.
#[test]
fn an_alert_is_acknowledged_through_the_admin_api() {
    let receiver = Receiver::start(0);
    let dir = tempfile::tempdir().expect("tempdir");
    let org = org_file(dir.path(), &receiver.url, r#""alert.opened""#);
    let data = dir.path().join("data");
    let collector = with_endpoints(&data, &org, "1s");
    post_answer(&collector, 1, "checkout", 1);
    let alerts = wait_for_admin(&collector, "/v1/alerts", "the alert opens", |body| {
        body["alerts"].as_array().is_some_and(|a| a.len() == 1)
    });
    let alert = &alerts["alerts"][0];
    assert_eq!(alert["acknowledged"], Value::Null);
    let id = alert["alert_id"].as_str().expect("an id").to_owned();
    // The status and, when accepted, the alert as the route answers it.
    let acknowledge = |body: &str, token: &str, id: &str| -> (u16, Value) {
        match ureq::post(&collector.url(&format!("/v1/alerts/{id}/acknowledge")))
            .set("Authorization", &format!("Bearer {token}"))
            .set("Content-Type", "application/json")
            .send_string(body)
        {
            Ok(r) => (r.status(), r.into_json().expect("JSON")),
            Err(ureq::Error::Status(code, _)) => (code, Value::Null),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, done) = acknowledge(
        r#"{"by": "Sam <on call>", "note": "calling the bank's card team"}"#,
        ADMIN_TOKEN,
        &id,
    );
    assert_eq!(status, 200);
    assert_eq!(done["acknowledged"]["by"], "Sam <on call>");
    assert_eq!(done["acknowledged"]["via"], "api");
    for (body, token, id, status) in [
        (r#"{"by": " "}"#, ADMIN_TOKEN, id.as_str(), 400),
        (r#"{"note": "x"}"#, ADMIN_TOKEN, id.as_str(), 400),
        (
            r#"{"by": "Sam"}"#,
            ADMIN_TOKEN,
            "struggled@touchpoint:nowhere@1",
            404,
        ),
        (
            r#"{"by": "Sam"}"#,
            "wrong-token-0123456789abcdefghijk",
            id.as_str(),
            401,
        ),
    ] {
        assert_eq!(acknowledge(body, token, id).0, status, "{body} {id}");
    }
    // Kept durably: listed after a restart.
    collector.kill();
    let collector = with_endpoints(&data, &org, "1s");
    let listed = admin_get(&collector, "/v1/alerts")["alerts"][0]["acknowledged"].clone();
    assert_eq!(listed["by"], "Sam <on call>");
    assert_eq!(listed["note"], "calling the bank's card team");
    assert!(listed["at"]
        .as_str()
        .is_some_and(|at| protocol::Timestamp::parse(at).is_ok()));
}
