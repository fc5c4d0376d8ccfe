//! Export behind the admin token: authentication, filters, formats (snapshots).

use serde_json::json;

use crate::helpers::{spawn_app, spawn_app_with, submission, ADMIN_TOKEN};

#[test]
fn export_needs_the_admin_token() {
    let app = spawn_app();
    let none = app.get("/v1/export", &[]);
    assert_eq!(
        (none.status, none.body["error"].as_str()),
        (401, Some("unauthorized"))
    );
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let wrong = app.get(
        "/v1/export",
        &[("Authorization", "Bearer test-admin-token-0123456788")],
    );
    assert_eq!(wrong.status, 401);
    let prefix = app.get(
        "/v1/export",
        &[("Authorization", "Bearer test-admin-token")],
    );
    assert_eq!(prefix.status, 401);
    let right = app.get(
        "/v1/export",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(right.status, 200);
}

#[test]
fn without_a_token_the_admin_routes_are_disabled() {
    let app = spawn_app_with(|c| c.admin_token = None);
    let reply = app.get("/v1/export", &[("Authorization", "Bearer ")]);
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (403, Some("admin_disabled"))
    );
}

#[test]
fn export_filters_by_channel_touchpoint_and_time() {
    // Agent answers posted directly, as an integration without invitations does.
    let app = crate::helpers::spawn_app_with(|c| c.require_invitation = false);
    for (n, channel, touchpoint) in [
        (1, "web", "checkout"),
        (2, "kiosk", "branch-teller"),
        (3, "web", "login"),
        (4, "agent", "billing"),
    ] {
        let mut body = submission(n);
        body["channel"] = json!(channel);
        body["touchpoint"] = json!(touchpoint);
        assert_eq!(app.submit(&body).status, 201);
    }
    let ids = |query: &str| -> Vec<String> {
        app.export(query)
            .iter()
            .map(|r| r["touchpoint"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    assert_eq!(ids("&channel=web"), ["checkout", "login"]);
    assert_eq!(ids("&touchpoint=billing"), ["billing"]);
    assert_eq!(ids("&channel=web&touchpoint=login"), ["login"]);
    assert_eq!(ids("&from=2000-01-01&to=2100-01-01").len(), 4);
    assert!(ids("&to=2000-01-01").is_empty());
    let all = app.export("");
    let third = all[2]["received_at"].as_str().expect("received_at");
    assert_eq!(ids(&format!("&from={third}")), ["login", "billing"]);
    for bad in [
        "&channel=fax",
        "&from=yesterday",
        "&touchpoint=a%20b",
        "&format=xml",
    ] {
        let reply = app.get(
            &format!("/v1/export?x=1{bad}"),
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        );
        assert_eq!(
            (reply.status, reply.body["error"].as_str()),
            (400, Some("invalid_query")),
            "{bad}"
        );
    }
}

/// Replaces every `received_at` value (the one field a test cannot fix) with a placeholder. The
/// collector writes it as `YYYY-MM-DDTHH:MM:SS.mmmZ`; the submissions' own times have no fraction.
fn redact_received_at(text: &str) -> String {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd.dddZ";
    let fits = |window: &[u8]| {
        window.iter().zip(SHAPE).all(|(c, s)| {
            if *s == b'd' {
                c.is_ascii_digit()
            } else {
                c == s
            }
        })
    };
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes.len() - i >= SHAPE.len() && fits(&bytes[i..i + SHAPE.len()]) {
            out.push_str("[received_at]");
            i += SHAPE.len();
        } else {
            let c = text[i..].chars().next().expect("a char");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn snapshot_data(app: &crate::helpers::TestApp) {
    let mut tricky = submission(2);
    tricky["comment"] =
        json!("=HYPERLINK(\"http://x\",\"click\"), then\n\"quotes\" — ünïcödé, شكرا");
    tricky["locale"] = json!("ar");
    tricky["answers"] = json!({"emotion": "frustrated"});
    tricky["context"] = json!({"interaction_id": "call-9", "agent_id": "-a7", "site_id": "branch-042",
                              "device_id": "kiosk-3", "segment": "premium", "page": "/checkout"});
    for body in [submission(1), tricky] {
        assert_eq!(app.submit(&body).status, 201);
    }
}

#[test]
fn csv_export_snapshot() {
    let app = spawn_app();
    snapshot_data(&app);
    let reply = app.get(
        "/v1/export?format=csv",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(
        reply.header("content-type"),
        Some("text/csv; charset=utf-8")
    );
    assert!(
        reply.text.starts_with('\u{feff}'),
        "a byte-order mark for spreadsheet programs"
    );
    assert!(reply.text.ends_with("\r\n"));
    insta::assert_snapshot!(redact_received_at(&reply.text));
}

#[test]
fn ndjson_export_snapshot() {
    let app = spawn_app();
    snapshot_data(&app);
    let reply = app.get(
        "/v1/export?format=ndjson",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(reply.header("content-type"), Some("application/x-ndjson"));
    insta::assert_snapshot!(redact_received_at(&reply.text));
}

#[test]
fn error_bodies_snapshot() {
    let app = spawn_app();
    let mut lines = Vec::new();
    let mut record = |what: &str, reply: crate::helpers::Reply| {
        lines.push(format!("{what}: {} {}", reply.status, reply.text));
    };
    let mut bad = submission(3);
    bad["answers"]["effort"] = json!(0);
    record("invalid", app.submit(&bad));
    bad["answers"]["effort"] = json!(3);
    bad["surprise"] = json!(true);
    record("unknown field", app.submit(&bad));
    app.submit(&submission(4));
    let mut conflict = submission(4);
    conflict["answers"]["effort"] = json!(1);
    record("conflict", app.submit(&conflict));
    record("unauthorized", app.get("/v1/export", &[]));
    record(
        "origin",
        app.post(
            "/v1/responses",
            "{}",
            &[
                ("Content-Type", "text/plain"),
                ("Origin", "http://evil.test"),
            ],
        ),
    );
    insta::assert_snapshot!(lines.join("\n"));
}

/// Reads one sample's value from the Prometheus text.
fn sample(text: &str, name_and_labels: &str) -> u64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(name_and_labels)
                .and_then(|v| v.trim().parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn every_outcome_is_counted_and_the_counts_add_up() {
    let app = spawn_app();
    for n in 0..3 {
        assert_eq!(app.submit(&submission(60 + n)).status, 201);
    }
    assert_eq!(app.submit(&submission(60)).status, 200);
    let mut bad = submission(70);
    bad["answers"]["effort"] = json!(9);
    assert_eq!(app.submit(&bad).status, 400);
    assert_eq!(
        app.post("/v1/responses", "nope", &[("Content-Type", "text/plain")])
            .status,
        400
    );
    let denied = app.post(
        "/v1/responses",
        &submission(71).to_string(),
        &[
            ("Content-Type", "text/plain"),
            ("Origin", "http://evil.test"),
        ],
    );
    assert_eq!(denied.status, 403);
    let batch = app.post(
        "/v1/responses/batch",
        &format!("[{}, {}]", submission(72), submission(61)),
        &[],
    );
    assert_eq!(batch.status, 200);

    assert_eq!(
        app.get("/metrics", &[]).status,
        401,
        "metrics need the admin token"
    );
    let reply = app.get(
        "/metrics",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(reply.status, 200);
    let text = reply.text;
    assert_eq!(
        sample(&text, "touchpoint_submissions_total{outcome=\"stored\"}"),
        4
    );
    assert_eq!(
        sample(&text, "touchpoint_submissions_total{outcome=\"duplicate\"}"),
        2
    );
    for reason in ["effort_out_of_range", "invalid_json", "origin_not_allowed"] {
        let key =
            format!("touchpoint_submissions_total{{outcome=\"rejected\",reason=\"{reason}\"}}");
        assert_eq!(sample(&text, &key), 1, "{reason}\n{text}");
    }
    assert_eq!(
        sample(&text, "touchpoint_submissions_received_total"),
        9,
        "they add up"
    );
    assert!(
        sample(&text, "touchpoint_flush_writes_count") >= 1,
        "{text}"
    );
    assert!(sample(&text, "touchpoint_store_bytes") > 0, "{text}");
}

/// Issue 13: wrong admin tokens are limited per address: past the allowance an address's
/// attempts are answered 429 without being checked, the right token included.
#[test]
fn issue_13_wrong_admin_tokens_are_throttled_per_address() {
    let app = spawn_app();
    let wrong = |n: usize| {
        app.get(
            "/v1/export",
            &[("Authorization", &format!("Bearer wrong-{n}"))],
        )
        .status
    };
    let statuses: Vec<u16> = (0..12).map(wrong).collect();
    assert_eq!(statuses[..10], [401; 10]);
    assert_eq!(statuses[10..], [429, 429]);
    let right = app.get(
        "/v1/export",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(
        (right.status, right.body["error"].as_str()),
        (429, Some("rate_limited")),
        "not even checked while the address is throttled"
    );
    assert!(right.header("retry-after").is_some());
    let sign_in = app.post(
        "/dashboard/session",
        &format!("token={ADMIN_TOKEN}"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
    );
    assert_eq!(sign_in.status, 429, "nor through the dashboard");
}

/// Issue 13: the limit on wrong credentials is set like the other limits, and `off` lifts it (the
/// contract run sends wrong and missing credentials on purpose).
#[test]
fn issue_13_the_limit_on_wrong_credentials_can_be_lifted() {
    let app = crate::helpers::spawn_app_with(|c| c.limit_wrong_credentials = None);
    for n in 0..30 {
        let wrong = app.get(
            "/v1/export",
            &[("Authorization", &format!("Bearer wrong-{n}"))],
        );
        assert_eq!(wrong.status, 401, "attempt {n}");
    }
    let right = app.get(
        "/v1/export",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(right.status, 200);
}

/// Issue 13: an admin token shorter than 32 characters is refused at start.
#[test]
fn issue_13_a_short_admin_token_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("a directory");
    let mut config = collector::Config::for_data_dir(dir.path().to_owned());
    config.admin_token = Some(collector::config::Secret::new("short-token".into()));
    let store = collector::store::SledStore::open(dir.path()).expect("a store");
    let refused = collector::start_with_store(config, std::sync::Arc::new(store));
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("at least 32 characters"), "{message}");
}

/// Issue 13: sign-in and sign-out take posts from the dashboard's own pages only, and sign-in
/// has a bucket of its own: answers from the same address do not use it up.
#[test]
fn issue_13_sign_in_refuses_other_origins_and_has_its_own_bucket() {
    let app = spawn_app_with(|c| {
        c.limit_per_address = collector::limits::Rate::parse("0.01/1").expect("a rate");
    });
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    for path in ["/dashboard/session", "/dashboard/sign-out"] {
        let cross = app.post(
            path,
            &format!("token={ADMIN_TOKEN}"),
            &[form[0], ("Origin", "https://attacker.example")],
        );
        assert_eq!(cross.status, 403, "{path}");
        assert!(cross.header("set-cookie").is_none(), "{path}");
    }
    assert_eq!(app.submit(&submission(1)).status, 201);
    assert_eq!(
        app.submit(&submission(2)).status,
        429,
        "the address's one token is spent"
    );
    let own = app.url("");
    let signed_in = app.post(
        "/dashboard/session",
        &format!("token={ADMIN_TOKEN}"),
        &[form[0], ("Origin", own.trim_end_matches('/'))],
    );
    assert!(
        signed_in.status == 303 || signed_in.status == 200,
        "the sign-in bucket is its own: {}",
        signed_in.status
    );
}
