//! Post-call invitations through the real binary: the signing secret it makes in the data
//! directory outlives a restart (links sent to customers keep working), `--invitation-ttl` sets the
//! expiry, and an agent-channel answer carrying the link is stored once.

use std::time::{SystemTime, UNIX_EPOCH};

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
    let answer = json!({
        "id": "e2e-invitation-0000000001", "survey": {"id": "core-cx", "version": 1},
        "channel": "agent", "touchpoint": "billing", "answers": {"effort": 5}, "locale": "en",
        "context": {"interaction_id": "call-500", "agent_id": "a-7", "invitation": token},
        "submitted_at": touchpoint_tests::submitted_at()
    });
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
