//! Post-call invitations: who may ask for one, what the link shows, and how an answer carrying
//! one is checked (signature, expiry, the call it binds, one answer per call).

use collector::{
    channel::agent::{Claims, Invitations},
    config::Secret,
};
use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, submission, TestApp, ADMIN_TOKEN};

const AGENT_KEY: &str = "console-key-0123456789";
const SECRET: &str = "invitation-secret-for-tests-0123456789";

fn app() -> TestApp {
    spawn_app_with(|c| {
        c.agent_keys = vec![Secret::new(AGENT_KEY.into())];
        c.invitation_secret = Some(Secret::new(SECRET.into()));
    })
}

fn invite(app: &TestApp, key: &str, body: &Value) -> crate::helpers::Reply {
    app.post(
        "/v1/invitations",
        &body.to_string(),
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &format!("Bearer {key}")),
        ],
    )
}

fn call(interaction: &str) -> Value {
    json!({"touchpoint": "billing", "interaction_id": interaction, "agent_id": "a-7",
           "queue": "cards", "locale": "fr"})
}

/// The customer's answer to the invitation `token`, as the hosted page's widget writes it.
fn answer(n: u32, interaction: &str, token: &str) -> Value {
    let mut body = submission(n);
    body["channel"] = json!("agent");
    body["touchpoint"] = json!("billing");
    body["locale"] = json!("fr");
    body["context"] = json!({"interaction_id": interaction, "agent_id": "a-7", "segment": "cards",
                             "invitation": token});
    body
}

#[test]
fn an_agent_key_gets_a_signed_link_and_the_customer_answers_once() {
    let app = app();
    let reply = invite(&app, AGENT_KEY, &call("call-123"));
    assert_eq!(reply.status, 201, "{}", reply.text);
    let token = reply.body["token"].as_str().expect("a token").to_owned();
    // The link is short: an id the store resolves to the token.
    let url = reply.body["url"].as_str().expect("a url");
    let id = url.strip_prefix(&app.url("/s/")).expect("a link here");
    assert!(id.len() <= 24 && !id.contains('.'), "{url}");
    let short = app.get(&format!("/s/{id}"), &[]);
    assert_eq!(short.status, 200);
    assert!(short.text.contains(&format!("data-invitation=\"{token}\"")));
    assert!(reply.body["expires_at"]
        .as_str()
        .is_some_and(|t| t.ends_with('Z')));

    let page = app.get(&format!("/s/{token}"), &[]);
    assert_eq!(page.status, 200);
    for attr in [
        "data-touchpoint=\"billing\"",
        "data-interaction=\"call-123\"",
        "data-agent=\"a-7\"",
        "data-segment=\"cards\"",
        "data-locale=\"fr\"",
        &format!("data-invitation=\"{token}\""),
        "src=\"/widget.js\"",
    ] {
        assert!(page.text.contains(attr), "{attr} in {}", page.text);
    }
    let qr = app.get(&format!("/s/{token}/qr.svg"), &[]);
    assert_eq!(qr.status, 200);
    assert_eq!(qr.header("content-type"), Some("image/svg+xml"));
    assert!(qr.text.contains("<svg"));

    assert_eq!(app.submit(&answer(1, "call-123", &token)).status, 201);
    assert_eq!(
        app.submit(&answer(1, "call-123", &token)).status,
        200,
        "a retry"
    );
    let second = app.submit(&answer(2, "call-123", &token));
    assert_eq!(
        (second.status, second.body["error"].as_str()),
        (409, Some("already_answered"))
    );
    let rows = app.export("");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["context"]["interaction_id"], "call-123");
    assert_eq!(rows[0]["context"]["agent_id"], "a-7");
    assert_eq!(rows[0]["context"]["invitation"], token.as_str());
    // The link opened again says at once that the call is answered, in its language, and
    // offers no survey.
    let again = app.get(&format!("/s/{token}"), &[]);
    assert_eq!(again.status, 409);
    assert!(
        again.text.contains("déjà reçu une réponse"),
        "{}",
        again.text
    );
    assert!(!again.text.contains("widget.js"), "{}", again.text);
}

#[test]
fn the_admin_token_also_works_and_nobody_else_gets_a_link() {
    let app = app();
    assert_eq!(invite(&app, ADMIN_TOKEN, &call("call-1")).status, 201);
    for key in [
        "",
        "console-key-0123456788",
        "console-key-0123456789-and-more",
    ] {
        let reply = invite(&app, key, &call("call-1"));
        assert_eq!(reply.status, 401, "{key:?}");
        assert_eq!(reply.body["error"], "unauthorized");
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }
    let closed = spawn_app_with(|c| c.admin_token = None);
    let reply = invite(&closed, AGENT_KEY, &call("call-1"));
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (403, Some("invitations_disabled"))
    );
}

#[test]
fn a_bad_invitation_request_names_the_field() {
    let app = app();
    for (body, field) in [
        (
            json!({"touchpoint": "billing", "interaction_id": "call 1", "agent_id": "a-7"}),
            "interaction_id",
        ),
        (
            json!({"touchpoint": "", "interaction_id": "call-1", "agent_id": "a-7"}),
            "touchpoint",
        ),
        (
            json!({"touchpoint": "b", "interaction_id": "c", "agent_id": "a-7", "locale": "pt"}),
            "locale",
        ),
        (
            json!({"touchpoint": "b", "interaction_id": "c", "agent_id": "a-7", "queue": "a b"}),
            "queue",
        ),
        (json!({"touchpoint": "b", "interaction_id": "c"}), ""),
        (
            json!({"touchpoint": "b", "interaction_id": "c", "agent_id": "a", "extra": 1}),
            "",
        ),
    ] {
        let reply = invite(&app, AGENT_KEY, &body);
        assert_eq!(reply.status, 400, "{body}");
        assert_eq!(reply.body["error"], "invalid_invitation_request");
        assert_eq!(reply.body["field"], field, "{body}");
    }
}

#[test]
fn tampered_expired_and_mismatched_invitations_store_nothing() {
    let app = app();
    let token = invite(&app, AGENT_KEY, &call("call-200")).body["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    // The customer rewrites the claims to answer for another call; the signature no longer fits.
    let signer = Invitations::new(
        Secret::new("not-the-collector-secret-0123456".into()),
        60,
        vec![],
    );
    let forged = signer.issue(
        &Claims::new("billing", "call-201", "a-7", None, None, u64::MAX / 2).expect("claims"),
    );
    let (payload, signature) = token.split_once('.').expect("two parts");
    let swapped = format!(
        "{}.{signature}",
        forged.split_once('.').expect("two parts").0
    );
    let expired = Invitations::new(Secret::new(SECRET.into()), 60, vec![])
        .issue(&Claims::new("billing", "call-202", "a-7", None, None, 1_000).expect("claims"));

    for (bad, status) in [
        (swapped.as_str(), 400),
        (forged.as_str(), 400),
        (payload, 400),
        (expired.as_str(), 410),
    ] {
        let page = app.get(&format!("/s/{bad}"), &[]);
        assert_eq!(page.status, status, "{bad}");
        assert!(
            page.text.contains("expired or is not valid"),
            "{}",
            page.text
        );
        assert!(!page.text.contains("widget.js"), "no survey on a bad link");
        assert_eq!(app.get(&format!("/s/{bad}/qr.svg"), &[]).status, status);
    }
    for (n, (interaction, bad, code)) in [
        ("call-201", swapped.as_str(), "invalid_invitation"),
        ("call-202", expired.as_str(), "invitation_expired"),
        ("call-999", token.as_str(), "invitation_mismatch"),
    ]
    .into_iter()
    .enumerate()
    {
        let reply = app.submit(&answer(10 + n as u32, interaction, bad));
        assert_eq!(reply.body["error"], code, "{}", reply.text);
        assert!(reply.status == 400 || reply.status == 410);
    }
    let mut web = answer(20, "call-200", &token);
    web["channel"] = json!("web");
    assert_eq!(app.submit(&web).body["error"], "invitation_mismatch");
    let mut other_agent = answer(21, "call-200", &token);
    other_agent["context"]["agent_id"] = json!("a-8");
    assert_eq!(
        app.submit(&other_agent).body["error"],
        "invitation_mismatch"
    );
    assert!(app.export("").is_empty(), "nothing stored");
}

#[test]
fn by_default_an_agent_answer_without_an_invitation_is_refused() {
    let app = spawn_app_with(|c| {
        c.admin_token = Some(Secret::new(ADMIN_TOKEN.into()));
    });
    let mut bare = answer(40, "call-400", "unused");
    bare["context"]
        .as_object_mut()
        .expect("an object")
        .remove("invitation");
    let reply = app.submit(&bare);
    assert_eq!(
        (reply.status, reply.body["error"].as_str()),
        (400, Some("invitation_required"))
    );
    let mut web = bare.clone();
    web["channel"] = json!("web");
    assert_eq!(
        app.submit(&web).status,
        201,
        "other channels are not affected"
    );
    let token = invite(&app, ADMIN_TOKEN, &call("call-400")).body["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    assert_eq!(app.submit(&answer(41, "call-400", &token)).status, 201);
    // --allow-uninvited-agent-answers: integrations that post agent answers themselves.
    let open = spawn_app_with(|c| c.require_invitation = false);
    assert_eq!(open.submit(&bare).status, 201);
}

#[test]
fn an_assisted_answer_is_stored_as_assisted() {
    let app = app();
    let invited = invite(&app, AGENT_KEY, &call("call-300")).body;
    let token = |name: &str| invited[name].as_str().expect("a token").to_owned();
    let mut body = answer(30, "call-300", &token("token"));
    body["context"]["assisted"] = json!(true);
    assert_eq!(
        app.submit(&body).body["error"],
        "invitation_mismatch",
        "the customer's link cannot claim assisted capture"
    );
    body["context"]["invitation"] = json!(token("assist_token"));
    assert_eq!(app.submit(&body).status, 201);
    let rows = app.export("");
    assert_eq!(rows[0]["context"]["assisted"], true);
    // The CSV export carries it too, in its own column.
    let csv = app.get(
        "/v1/export?format=csv",
        &[(
            "Authorization",
            &format!("Bearer {}", crate::helpers::ADMIN_TOKEN),
        )],
    );
    assert_eq!(csv.status, 200, "{}", csv.text);
    let mut lines = csv.text.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().expect("a header").split(',').collect();
    let row: Vec<&str> = lines.next().expect("a row").split(',').collect();
    let at = header
        .iter()
        .position(|h| *h == "assisted")
        .expect("an assisted column");
    assert_eq!(row[at], "true");
}
