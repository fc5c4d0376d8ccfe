//! Post-call invitations through the real binary: the signing secret it makes in the data
//! directory outlives a restart (links sent to customers keep working), `--invitation-ttl` sets the
//! expiry, an agent-channel answer carrying the link is stored once, and the link is short (an id
//! the store resolves), with a small QR code, while a long link keeps working.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use touchpoint_tests::{post, Collector, Delivery, ADMIN_TOKEN};

fn invite(base: &str, interaction: &str) -> Value {
    ureq::post(&format!("{base}/v1/invitations"))
        .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
        .send_json(
            json!({"touchpoint": "billing", "interaction_id": interaction, "agent_id": "a-7"}),
        )
        .expect("201")
        .into_json()
        .expect("json")
}

fn page_status(base: &str, token: &str) -> u16 {
    match ureq::get(&format!("{base}/s/{token}")).call() {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(code, _)) => code,
        Err(e) => panic!("transport error: {e}"),
    }
}

/// The answer an invitation's page sends, with `id` and the `token` its page carries.
fn answer(id: &str, interaction: &str, token: &str) -> Value {
    json!({
        "id": id, "survey": {"id": "core-cx", "version": 1},
        "channel": "agent", "touchpoint": "billing", "answers": {"effort": 5}, "locale": "en",
        "context": {"interaction_id": interaction, "agent_id": "a-7", "invitation": token},
        "submitted_at": touchpoint_tests::submitted_at()
    })
}

/// The token the page at `/s/{part}` carries in its widget's `data-invitation`.
fn page_token(base: &str, part: &str) -> String {
    let page = ureq::get(&format!("{base}/s/{part}"))
        .call()
        .expect("200")
        .into_string()
        .expect("html");
    let start = page
        .find("data-invitation=\"")
        .expect("the widget's invitation")
        + 17;
    page[start..][..page[start..].find('"').expect("closed")].to_owned()
}

/// Polls the page at `/s/{part}` until it answers `status`; panics after 15 s.
fn wait_for_status(base: &str, part: &str, status: u16) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = page_status(base, part);
        if now == status {
            return;
        }
        assert!(Instant::now() < deadline, "/s/{part} still answers {now}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Issue 19: the link is `/s/` and at most 24 characters, its QR code version 4 or lower; the
/// short link leads to the same signed, single-use invitation as the token, and the token's long
/// link (sent by earlier versions) keeps working.
#[test]
fn issue_19_a_short_link_is_the_invitation_answered_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(dir.path(), &[]);
    let issued = invite(&collector.base, "call-600");
    let (url, token) = (
        issued["url"].as_str().expect("a url"),
        issued["token"].as_str().expect("a token"),
    );
    let id = url
        .strip_prefix(&format!("{}/s/", collector.base))
        .expect("a link on the collector");
    assert!(id.len() <= 24 && !id.contains('.'), "{url}");
    let qr = qrcode::QrCode::with_error_correction_level(url, qrcode::EcLevel::M).expect("fits");
    assert!(
        matches!(qr.version(), qrcode::Version::Normal(v) if v <= 4),
        "{:?}",
        qr.version()
    );
    assert_eq!(issued["qr"], json!(format!("{url}/qr.svg")));
    let svg = ureq::get(&format!("{url}/qr.svg")).call().expect("200");
    assert_eq!(svg.content_type(), "image/svg+xml");

    assert_eq!(
        page_token(&collector.base, id),
        token,
        "the short link's page"
    );
    assert_eq!(
        page_status(&collector.base, token),
        200,
        "the long link too"
    );
    assert_eq!(page_status(&collector.base, "AAAAAAAAAAAAAAAAAAAAAA"), 400);

    // The short link outlives a restart: the store keeps it durably.
    assert!(collector.terminate());
    let collector = Collector::start(dir.path(), &[]);
    let token = page_token(&collector.base, id);
    assert_eq!(
        post(
            &collector.base,
            &answer("e2e-short-link-000000001", "call-600", &token).to_string()
        ),
        Delivery::Acknowledged(201)
    );
    assert_eq!(
        post(
            &collector.base,
            &answer("e2e-short-link-000000002", "call-600", &token).to_string()
        ),
        Delivery::Refused(409),
        "a second answer through the same link"
    );
    assert_eq!(page_status(&collector.base, id), 409, "already answered");
    assert_eq!(page_status(&collector.base, &token), 409);
    assert_eq!(collector.export().len(), 1);
    collector.kill();
}

/// Issue 19: a short link expires with its invitation, as a long one does.
#[test]
fn issue_19_a_short_link_expires_with_its_invitation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(dir.path(), &["--invitation-ttl", "1"]);
    let issued = invite(&collector.base, "call-601");
    let id = issued["url"]
        .as_str()
        .expect("a url")
        .rsplit('/')
        .next()
        .expect("an id");
    let token = issued["token"].as_str().expect("a token");
    wait_for_status(&collector.base, id, 410);
    assert_eq!(page_status(&collector.base, token), 410);
    assert_eq!(
        post(
            &collector.base,
            &answer("e2e-short-link-000000003", "call-601", token).to_string()
        ),
        Delivery::Refused(410)
    );
    assert_eq!(collector.export().len(), 0);
    collector.kill();
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp `YYYY-MM-DDTHH:MM:SSZ`.
fn unix_seconds(rfc3339: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| rfc3339[range].parse::<i64>().expect("digits");
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    let (y, m) = if m <= 2 { (y - 1, m + 9) } else { (y, m - 3) };
    let days = 365 * y + y / 4 - y / 100 + y / 400 + (153 * m + 2) / 5 + d - 719_469;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

#[test]
fn a_link_outlives_a_restart_and_its_expiry_follows_the_flag() {
    let dir = tempfile::tempdir().expect("tempdir");
    let collector = Collector::start(dir.path(), &["--invitation-ttl", "3600"]);
    let issued = invite(&collector.base, "call-500");
    let token = issued["token"].as_str().expect("a token").to_owned();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let expires = unix_seconds(issued["expires_at"].as_str().expect("expires_at"));
    assert!(
        (now + 3600 - 120..=now + 3600 + 120).contains(&expires),
        "expires at {expires}, now {now}"
    );
    assert_eq!(page_status(&collector.base, &token), 200);
    assert!(collector.terminate());

    let collector = Collector::start(dir.path(), &[]);
    assert_eq!(
        page_status(&collector.base, &token),
        200,
        "the same secret after a restart"
    );
    let answer = answer("e2e-invitation-0000000001", "call-500", &token);
    assert_eq!(
        post(&collector.base, &answer.to_string()),
        Delivery::Acknowledged(201)
    );
    let mut second = answer.clone();
    second["id"] = json!("e2e-invitation-0000000002");
    assert_eq!(
        post(&collector.base, &second.to_string()),
        Delivery::Refused(409)
    );
    assert_eq!(collector.export().len(), 1);
    assert!(
        !dir.path().join("invitation.key").exists(),
        "the secret is kept by the store, not in a file of its own"
    );
    collector.kill();
}
