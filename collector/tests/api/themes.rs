//! `GET /v1/themes` over HTTP: the themes of a fixed multilingual corpus (a snapshot), its
//! filters, the admin token, and a clear 400 for every kind of bad parameter.

use serde_json::{json, Value};

use crate::helpers::{spawn_app, submission, TestApp, ADMIN_TOKEN};

fn themes(app: &TestApp, query: &str) -> crate::helpers::Reply {
    app.get(
        &format!("/v1/themes{query}"),
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    )
}

/// (day, touchpoint, locale, effort, emotion, comment).
const CORPUS: &[(&str, &str, &str, u8, &str, &str)] = &[
    (
        "21",
        "card-activation",
        "en",
        3,
        "frustrated",
        "The activation code never arrived.",
    ),
    (
        "21",
        "address-change",
        "en",
        5,
        "neutral",
        "Too many steps to change my address.",
    ),
    (
        "22",
        "card-activation",
        "en",
        2,
        "angry",
        "The activation code never arrived, I tried three times.",
    ),
    (
        "22",
        "card-activation",
        "en",
        1,
        "angry",
        "Activation code expired before I could use it.",
    ),
    (
        "22",
        "card-activation",
        "en",
        3,
        "frustrated",
        "The activation codes were wrong twice.",
    ),
    (
        "22",
        "card-activation",
        "en",
        2,
        "frustrated",
        "<b>activation code</b> <script>alert(1)</script>",
    ),
    (
        "22",
        "address-change",
        "en",
        4,
        "neutral",
        "Too many steps to change my address.",
    ),
    (
        "22",
        "address-change",
        "en",
        5,
        "pleased",
        "Changing my address took too many steps, but it worked.",
    ),
    (
        "22",
        "card-activation",
        "es",
        2,
        "angry",
        "El código de activación nunca llegó.",
    ),
    (
        "22",
        "card-activation",
        "es",
        3,
        "frustrated",
        "No recibí el código de activación.",
    ),
    (
        "22",
        "address-change",
        "es",
        4,
        "neutral",
        "Demasiados pasos para cambiar mi dirección.",
    ),
    (
        "22",
        "card-activation",
        "fr",
        2,
        "frustrated",
        "Le code d'activation n'est jamais arrivé.",
    ),
    (
        "22",
        "card-activation",
        "fr",
        3,
        "neutral",
        "Code d'activation reçu trop tard.",
    ),
    (
        "22",
        "card-activation",
        "de",
        1,
        "angry",
        "Der Aktivierungscode kam nie an.",
    ),
    (
        "22",
        "card-activation",
        "de",
        3,
        "frustrated",
        "Aktivierungscode abgelaufen, bitte neuen senden.",
    ),
    (
        "22",
        "card-activation",
        "ar",
        2,
        "angry",
        "لم يصل رمز التفعيل أبداً.",
    ),
    (
        "22",
        "card-activation",
        "ar",
        3,
        "frustrated",
        "رمز التفعيل لا يعمل.",
    ),
];

fn load_corpus(app: &TestApp) {
    for (n, (day, touchpoint, locale, effort, emotion, comment)) in CORPUS.iter().enumerate() {
        let mut body = submission(n as u32);
        body["touchpoint"] = json!(touchpoint);
        body["locale"] = json!(locale);
        body["answers"] = json!({"effort": effort, "confidence": 2 + n % 3, "emotion": emotion});
        body["comment"] = json!(comment);
        body["submitted_at"] = json!(format!("2026-11-{day}T10:00:{n:02}Z"));
        let reply = app.submit(&body);
        assert_eq!(reply.status, 201, "{}", reply.text);
    }
    // An answer without a comment counts in no theme.
    assert_eq!(app.submit(&submission(99)).status, 201);
}

fn labels(body: &Value) -> Vec<(String, String, u64)> {
    body["themes"]
        .as_array()
        .expect("themes")
        .iter()
        .map(|t| {
            (
                t["locale"].as_str().unwrap_or_default().to_owned(),
                t["theme"].as_str().unwrap_or_default().to_owned(),
                t["count"].as_u64().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn themes_of_a_multilingual_corpus() {
    let app = spawn_app();
    load_corpus(&app);
    let reply = themes(&app, "?from=2026-11-22&to=2026-11-23");
    assert_eq!(reply.status, 200, "{}", reply.text);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    insta::assert_snapshot!(serde_json::to_string_pretty(&reply.body).expect("json"));
    // Each locale's activation code is a theme, and its words are not shown beside it.
    let found = labels(&reply.body);
    for (locale, label, count) in [
        ("en", "activation code", 4),
        ("es", "código de activación", 2),
        ("fr", "code d'activation", 2),
        ("de", "aktivierungscode", 2),
        ("ar", "رمز التفعيل", 2),
    ] {
        assert!(
            found.contains(&(locale.to_owned(), label.to_owned(), count)),
            "{locale} {label}: {found:?}"
        );
    }
    assert!(!found.iter().any(|(l, t, _)| l == "en" && t == "activation"));
    assert_eq!(reply.body["comments"], 15);
    assert_eq!(reply.body["previous"]["comments"], 2);
}

#[test]
fn themes_follow_the_filters() {
    let app = spawn_app();
    load_corpus(&app);
    let spanish = themes(
        &app,
        "?from=2026-11-22&to=2026-11-23&locale=es&touchpoint=card-activation",
    );
    assert_eq!(spanish.status, 200, "{}", spanish.text);
    assert_eq!(
        labels(&spanish.body),
        [("es".to_owned(), "código de activación".to_owned(), 2)]
    );
    assert_eq!(spanish.body["comments"], 2);
    // Without an organisation file, web touchpoints belong to the digital department.
    let digital = themes(&app, "?from=2026-11-22&to=2026-11-23&department=digital");
    assert_eq!(
        labels(&digital.body),
        labels(&themes(&app, "?from=2026-11-22&to=2026-11-23").body)
    );
    let branches = themes(&app, "?from=2026-11-22&to=2026-11-23&department=branches");
    assert_eq!(branches.body["themes"], json!([]));
    // Without a period: the 28 days up to the latest answer. "steps" is in every comment that
    // says "changing my address": it is left out.
    let default = themes(&app, "?locale=en&touchpoint=address-change");
    assert_eq!(default.body["from"], "2026-10-26");
    assert_eq!(default.body["to"], "2026-11-23");
    assert_eq!(
        labels(&default.body),
        [
            ("en".to_owned(), "changing my address".to_owned(), 3),
            ("en".to_owned(), "steps to change".to_owned(), 2),
        ]
    );
}

#[test]
fn themes_need_the_admin_token_and_good_parameters() {
    let app = spawn_app();
    assert_eq!(app.get("/v1/themes", &[]).status, 401);
    for (query, message) in [
        ("?locale=xx", "locale must be one of"),
        ("?from=2026-11-23&to=2026-11-22", "from must be before to"),
        ("?from=yesterday", "from must be a YYYY-MM-DD date"),
        ("?touchpoint=a%20b", "touchpoint must be 1-64 characters"),
        ("?group_by=day", "unknown or repeated parameter"),
        ("?locale=en&locale=es", "unknown or repeated parameter"),
    ] {
        let reply = themes(&app, query);
        assert_eq!(reply.status, 400, "{query}: {}", reply.text);
        assert_eq!(reply.body["error"], "invalid_query", "{query}");
        assert!(
            reply.body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with(message)),
            "{query}: {}",
            reply.text
        );
    }
}

/// The value of the sample `name` in `/metrics`.
fn metric(app: &TestApp, name: &str) -> u64 {
    let reply = app.get(
        "/metrics",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply
        .text
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} in\n{}", reply.text))
}

#[test]
fn issue_17_the_phrase_table_is_measured_and_keeps_each_phrase_once() {
    let app = spawn_app();
    assert_eq!(metric(&app, "touchpoint_theme_phrases"), 0);
    let commented = |n: u32| {
        let mut body = submission(n);
        body["comment"] = json!("The activation code never arrived.");
        assert_eq!(app.submit(&body).status, 201);
    };
    commented(1);
    let phrases = metric(&app, "touchpoint_theme_phrases");
    // "activ", "code", "activ code", "arriv": "never" separates.
    assert_eq!(phrases, 4);
    assert!(metric(&app, "touchpoint_theme_phrase_bytes") > 0);
    commented(2);
    assert_eq!(metric(&app, "touchpoint_theme_phrases"), phrases);
}
