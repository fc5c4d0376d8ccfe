//! Ingest: stored, duplicate, conflicts, every rejection reason, races, batches.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, submission};

#[test]
fn a_submission_is_stored_once_and_a_retry_is_a_duplicate() {
    let app = spawn_app();
    let body = submission(1);
    let first = app.submit(&body);
    assert_eq!(
        (first.status, first.body.clone()),
        (201, json!({"id": body["id"], "status": "stored"}))
    );
    let again = app.submit(&body);
    assert_eq!(
        (again.status, again.body.clone()),
        (200, json!({"id": body["id"], "status": "duplicate"}))
    );
    let rows = app.export("");
    assert_eq!(rows.len(), 1);
    let mut row = rows[0].clone();
    let received_at = row.as_object_mut().and_then(|o| o.remove("received_at"));
    assert!(received_at.is_some_and(|r| r.as_str().is_some_and(|s| s.ends_with('Z'))));
    let burst = row.as_object_mut().and_then(|o| o.remove("burst"));
    assert_eq!(burst, Some(json!(false)));
    assert_eq!(
        row, body,
        "the export holds the submission's own fields plus burst and received_at"
    );
}

#[test]
fn the_same_id_with_other_content_is_a_conflict() {
    let app = spawn_app();
    let body = submission(2);
    assert_eq!(app.submit(&body).status, 201);
    let mut changed = body.clone();
    changed["answers"]["effort"] = json!(2);
    let reply = app.submit(&changed);
    assert_eq!(reply.status, 409);
    assert_eq!(reply.body["error"], "id_conflict");
    assert_eq!(
        app.export("")[0]["answers"]["effort"],
        6,
        "the first answer is kept"
    );
}

#[test]
fn an_interaction_is_answered_once_per_channel_and_touchpoint() {
    // Agent answers posted directly, as an integration without invitations does.
    let app = crate::helpers::spawn_app_with(|c| c.require_invitation = false);
    let call = |n: u32, channel: &str, touchpoint: &str| {
        let mut body = submission(n);
        body["channel"] = json!(channel);
        body["touchpoint"] = json!(touchpoint);
        body["context"] = json!({"interaction_id": "call-123", "agent_id": "a-7"});
        app.submit(&body)
    };
    assert_eq!(call(10, "agent", "billing").status, 201);
    let second = call(11, "agent", "billing");
    assert_eq!(
        (second.status, second.body["error"].clone()),
        (409, json!("already_answered"))
    );
    assert_eq!(
        call(12, "agent", "support").status,
        201,
        "another touchpoint is another question"
    );
    assert_eq!(
        call(13, "web", "billing").status,
        201,
        "another channel is another question"
    );
    assert_eq!(app.export("").len(), 3);
}

/// One row per kind of bad input: its status and code, and nothing stored.
#[test]
fn every_kind_of_bad_input_is_refused_with_its_reason_and_nothing_is_stored() {
    let app = spawn_app();
    let with = |path: &[&str], value: Value| {
        let mut body = submission(99);
        let (last, parents) = path.split_last().expect("a path");
        let mut target = &mut body;
        for p in parents {
            target = &mut target[*p];
        }
        if value.is_null() {
            target.as_object_mut().expect("object").remove(*last);
        } else {
            target[*last] = value;
        }
        body.to_string()
    };
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("not json", "{\"id\":".into(), 400, "invalid_json"),
        ("an array", "[1,2]".into(), 400, "invalid_json"),
        (
            "an unknown field",
            with(&["ip"], json!("10.0.0.1")),
            400,
            "unknown_field",
        ),
        (
            "a missing field",
            with(&["touchpoint"], Value::Null),
            400,
            "missing_field",
        ),
        (
            "a wrong type",
            with(&["answers", "effort"], json!("6")),
            400,
            "invalid_type",
        ),
        ("a short id", with(&["id"], json!("abc")), 400, "invalid_id"),
        (
            "another survey",
            with(&["survey", "version"], json!(2)),
            400,
            "unknown_survey",
        ),
        (
            "an unknown channel",
            with(&["channel"], json!("fax")),
            400,
            "invalid_channel",
        ),
        (
            "a bad touchpoint",
            with(&["touchpoint"], json!("check out")),
            400,
            "invalid_touchpoint",
        ),
        (
            "effort 8",
            with(&["answers", "effort"], json!(8)),
            400,
            "effort_out_of_range",
        ),
        (
            "confidence 0",
            with(&["answers", "confidence"], json!(0)),
            400,
            "confidence_out_of_range",
        ),
        (
            "an unknown emotion",
            with(&["answers", "emotion"], json!("meh")),
            400,
            "invalid_emotion",
        ),
        ("no answer", with(&["answers"], json!({})), 400, "no_answer"),
        (
            "a long comment",
            with(&["comment"], json!("x".repeat(1001))),
            400,
            "comment_too_long",
        ),
        (
            "a control character",
            with(&["comment"], json!("a\u{1b}b")),
            400,
            "invalid_comment",
        ),
        (
            "an unknown locale",
            with(&["locale"], json!("pt")),
            400,
            "unsupported_locale",
        ),
        (
            "a bad context value",
            with(&["context", "segment"], json!("a b")),
            400,
            "invalid_context",
        ),
        (
            "a bad timestamp",
            with(&["submitted_at"], json!("now")),
            400,
            "invalid_submitted_at",
        ),
    ];
    for (what, body, status, code) in &cases {
        let reply = app.post(
            "/v1/responses",
            body,
            &[("Content-Type", "application/json")],
        );
        assert_eq!(
            (reply.status, reply.body["error"].as_str()),
            (*status, Some(*code)),
            "{what}"
        );
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "{what}"
        );
    }
    let padded = format!("{}{}", submission(98), " ".repeat(16 * 1024));
    let reply = app.post("/v1/responses", &padded, &[("Content-Type", "text/plain")]);
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (413, Some("payload_too_large"))
    );
    let form = app.post(
        "/v1/responses",
        &submission(97).to_string(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(
        (form.status, form.body["error"].as_str()),
        (415, Some("unsupported_media_type"))
    );
    assert!(app.export("").is_empty(), "nothing refused is stored");
}

#[test]
fn error_messages_never_echo_the_input() {
    let app = spawn_app();
    let mut body = submission(5);
    body["answers"]["emotion"] = json!("<script>SECRET</script>");
    body["unexpected_SECRET_field"] = json!(1);
    let reply = app.submit(&body);
    assert_eq!(reply.status, 400);
    assert!(!reply.text.contains("SECRET"), "{}", reply.text);
    body.as_object_mut()
        .expect("object")
        .remove("unexpected_SECRET_field");
    let reply = app.submit(&body);
    assert_eq!(reply.body["error"], "invalid_emotion");
    assert!(!reply.text.contains("SECRET"), "{}", reply.text);
}

#[test]
fn twenty_identical_requests_racing_store_one_row() {
    let app = spawn_app();
    let body = submission(7);
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| s.spawn(|| app.submit(&body).status))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a client"))
            .collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        19,
        "{statuses:?}"
    );
    assert_eq!(app.export("").len(), 1);
}

#[test]
fn concurrent_distinct_submissions_are_all_stored_in_arrival_order() {
    let app = spawn_app();
    std::thread::scope(|s| {
        for t in 0..8u32 {
            let app = &app;
            s.spawn(move || {
                for i in 0..25 {
                    assert_eq!(app.submit(&submission(1000 + t * 100 + i)).status, 201);
                }
            });
        }
    });
    let rows = app.export("");
    assert_eq!(rows.len(), 200);
    let times: Vec<&str> = rows
        .iter()
        .map(|r| r["received_at"].as_str().expect("a time"))
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "arrival order");
}

#[test]
fn a_batch_answers_each_item() {
    let app = spawn_app();
    assert_eq!(app.submit(&submission(20)).status, 201);
    let mut bad = submission(22);
    bad["answers"]["effort"] = json!(9);
    let mut conflict = submission(20);
    conflict["comment"] = json!("changed");
    let batch = json!([
        submission(21),
        submission(20),
        bad,
        conflict,
        "not an object"
    ]);
    let reply = app.post(
        "/v1/responses/batch",
        &batch.to_string(),
        &[("Content-Type", "text/plain")],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let results = reply.body["results"].as_array().expect("results");
    let summary: Vec<(u64, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().expect("index"),
                r["status"].as_str().expect("status"),
                r["error"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, "stored", ""),
            (1, "duplicate", ""),
            (2, "rejected", "effort_out_of_range"),
            (3, "rejected", "id_conflict"),
            (4, "rejected", "invalid_json"),
        ]
    );
    assert_eq!(app.export("").len(), 2);
    let too_many: Vec<Value> = (0..101).map(|n| submission(100 + n)).collect();
    let reply = app.post(
        "/v1/responses/batch",
        &Value::from(too_many).to_string(),
        &[("Content-Type", "application/json")],
    );
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (400, Some("batch_too_large"))
    );
    assert_eq!(app.export("").len(), 2, "a refused batch stores nothing");
}

#[test]
fn the_instrument_is_served_with_every_locale() {
    let app = spawn_app();
    let reply = app.get("/v1/survey", &[]);
    assert_eq!(reply.status, 200);
    let ids: Vec<&str> = reply.body["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| q["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["effort", "confidence", "emotion", "comment"]);
    let locales = reply.body["locales"].as_object().expect("locales");
    let mut codes: Vec<&String> = locales.keys().collect();
    codes.sort();
    assert_eq!(codes, ["ar", "de", "en", "es", "fr"]);
    assert_eq!(locales["ar"]["dir"], "rtl");
    assert_eq!(locales["en"]["questions"]["effort"]["labels"][5], "easy");
    assert_eq!(app.get("/healthz", &[]).status, 200);
    let missing = app.get("/nope", &[]);
    assert_eq!(
        (missing.status, missing.body["error"].as_str()),
        (404, Some("not_found"))
    );
}

/// The sled store with a flush that fails while `failing` is set: a full disk cannot be provoked
/// on demand here, so this one failure is injected.
struct FailingFlush {
    inner: std::sync::Arc<dyn collector::store::Store>,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl collector::store::Store for FailingFlush {
    fn put(
        &self,
        submission: &protocol::Submission,
        json: &str,
        bounds: &collector::config::Bounds,
    ) -> Result<collector::store::Put, collector::store::StoreError> {
        self.inner.put(submission, json, bounds)
    }

    fn flush(&self) -> Result<(), collector::store::StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(collector::store::StoreError::Io(sled::Error::Io(
                std::io::Error::other("No space left on device"),
            )));
        }
        self.inner.flush()
    }

    fn scan(
        &self,
        from: u64,
        to: u64,
        visit: &mut dyn FnMut(collector::store::Record<'_>) -> bool,
    ) -> Result<(), collector::store::StoreError> {
        self.inner.scan(from, to, visit)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn secret(
        &self,
        name: &str,
        make: &mut dyn FnMut() -> std::io::Result<String>,
    ) -> Result<String, collector::store::StoreError> {
        self.inner.secret(name, make)
    }

    fn open_session(
        &self,
        id: &str,
        expires_secs: u64,
        now_secs: u64,
    ) -> Result<(), collector::store::StoreError> {
        self.inner.open_session(id, expires_secs, now_secs)
    }

    fn session_expiry(&self, id: &str) -> Result<Option<u64>, collector::store::StoreError> {
        self.inner.session_expiry(id)
    }

    fn end_session(&self, id: &str) -> Result<(), collector::store::StoreError> {
        self.inner.end_session(id)
    }

    fn put_action(
        &self,
        action: &collector::org::agenda::Action,
    ) -> Result<(), collector::store::StoreError> {
        self.inner.put_action(action)
    }

    fn actions(&self) -> Result<Vec<collector::org::agenda::Action>, collector::store::StoreError> {
        self.inner.actions()
    }
}

#[test]
fn when_the_disk_fails_the_answer_is_503_and_the_retry_stores_it_once() {
    let failing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let flag = std::sync::Arc::clone(&failing);
    let app = crate::helpers::spawn_app_over(
        |_| {},
        move |inner| {
            std::sync::Arc::new(FailingFlush {
                inner,
                failing: flag,
            })
        },
    );
    let body = submission(40);
    let reply = app.submit(&body);
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (503, Some("unavailable"))
    );
    assert_eq!(reply.header("retry-after"), Some("1"));
    // While storage is failing, new answers are refused at once, without being written.
    let batch = app.post("/v1/responses/batch", &format!("[{}]", submission(41)), &[]);
    assert_eq!(batch.status, 503);
    assert_eq!(batch.body["results"][0]["status"], "unavailable");
    assert_eq!(app.get("/healthz", &[]).status, 503);
    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    // The flusher retries the pending write; once it succeeds, answers are taken again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.get("/healthz", &[]).status != 200 {
        assert!(std::time::Instant::now() < deadline, "the disk recovered");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The first write was kept in memory and is flushed now: its retry is recognised, not
    // stored again; the refused one is stored now.
    assert_eq!(app.submit(&body).status, 200);
    let batch = app.post("/v1/responses/batch", &format!("[{}]", submission(41)), &[]);
    assert_eq!(batch.body["results"][0]["status"], "stored");
    assert_eq!(app.export("").len(), 2);
}

#[test]
fn a_burst_beyond_the_address_limit_gets_429_and_other_limits_are_unaffected() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.limit_per_address = collector::limits::Rate::parse("0.01/3").expect("a rate");
    });
    let statuses: Vec<u16> = (0..5)
        .map(|n| app.submit(&submission(80 + n)).status)
        .collect();
    assert_eq!(statuses, [201, 201, 201, 429, 429]);
    let reply = app.submit(&submission(90));
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (429, Some("rate_limited"))
    );
    let retry: u64 = reply
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .expect("Retry-After");
    assert!((1..=100).contains(&retry), "{retry}");
    assert_eq!(app.export("").len(), 3, "nothing refused is stored");
    assert_eq!(
        app.get("/v1/survey", &[]).status,
        200,
        "reads are not limited"
    );
}

#[test]
fn one_runaway_device_is_limited_without_throttling_its_neighbours() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.limit_per_device = collector::limits::Rate::parse("0.01/2").expect("a rate");
    });
    let kiosk = |n: u32, device: &str| {
        let mut body = submission(n);
        body["channel"] = json!("kiosk");
        body["touchpoint"] = json!("branch-teller");
        body["context"] = json!({"site_id": "branch-042", "device_id": device});
        app.submit(&body)
    };
    let statuses: Vec<u16> = (0..3).map(|n| kiosk(100 + n, "kiosk-1").status).collect();
    assert_eq!(statuses, [201, 201, 429]);
    assert_eq!(
        kiosk(110, "kiosk-2").status,
        201,
        "the next kiosk behind the same address"
    );
    assert_eq!(
        app.submit(&submission(120)).status,
        201,
        "web answers carry no device"
    );
    let limited = kiosk(103, "kiosk-1");
    assert_eq!(
        (limited.status, limited.body["error"].as_str()),
        (429, Some("rate_limited"))
    );
    assert!(limited.header("retry-after").is_some());
    assert_eq!(app.export("").len(), 4);
}

/// Issue 13: a batch costs one of the address's tokens per answer, so batches cannot carry more
/// answers past the per-address limit than single posts can.
#[test]
fn issue_13_a_batch_of_n_costs_n_of_the_addresses_tokens() {
    let app = crate::helpers::spawn_app_with(|c| {
        c.limit_per_address = collector::limits::Rate::parse("0.01/5").expect("a rate");
    });
    let batch: Vec<Value> = (0..8).map(|n| submission(500 + n)).collect();
    let reply = app.post("/v1/responses/batch", &json!(batch).to_string(), &[]);
    assert_eq!(reply.status, 429, "{}", reply.text);
    assert!(reply.header("retry-after").is_some());
    let statuses: Vec<&str> = reply.body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        statuses,
        ["stored"; 5]
            .iter()
            .chain(&["unavailable"; 3])
            .copied()
            .collect::<Vec<_>>()
    );
    assert_eq!(reply.body["results"][7]["error"], "rate_limited");
    assert_eq!(reply.body["results"][7]["index"], 7);
    let again = app.post(
        "/v1/responses/batch",
        &json!([submission(600)]).to_string(),
        &[],
    );
    assert_eq!(again.status, 429, "the address's tokens are spent");
    assert_eq!(app.export("").len(), 5, "five answers, the burst");
}
