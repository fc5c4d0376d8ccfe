//! The organisation file: read at start, reloaded on request without dropping a request, a bad
//! new file refused with its line while the one in force stays.

use crate::helpers::{spawn_app_with, ADMIN_TOKEN};

const ORG: &str = r#"[organisation]
name = "Northbank"
timezone = "Europe/London"

[[department]]
id = "digital"
name = "Digital"

[[touchpoint]]
id = "checkout"
name = "Checkout"
department = "digital"
"#;

fn reload(app: &crate::helpers::TestApp) -> crate::helpers::Reply {
    app.post(
        "/v1/org/reload",
        "",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    )
}

#[test]
fn a_good_file_reloads_and_a_bad_one_is_refused_with_its_line_while_the_old_one_stays() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("org.toml");
    std::fs::write(&path, ORG).expect("written");
    let app = spawn_app_with(|c| c.org = Some(path.clone()));
    let fine = reload(&app);
    assert_eq!(fine.status, 200, "{}", fine.text);
    assert_eq!(fine.body["organisation"], "Northbank");
    assert_eq!(fine.body["touchpoints"], 1);

    let grown = [
        ORG,
        "\n[[touchpoint]]\nid = \"login\"\nname = \"Login\"\ndepartment = \"digital\"\n",
    ]
    .concat();
    std::fs::write(&path, grown).expect("written");
    assert_eq!(reload(&app).body["touchpoints"], 2);

    std::fs::write(
        &path,
        ORG.replace("department = \"digital\"", "department = \"branches\""),
    )
    .expect("written");
    let refused = reload(&app);
    assert_eq!(refused.status, 422, "{}", refused.text);
    assert_eq!(refused.body["error"], "invalid_organisation");
    assert_eq!(refused.body["line"], 12);
    assert!(
        refused.body["rule"]
            .as_str()
            .is_some_and(|r| r.contains("no [[department]] declares")),
        "{}",
        refused.text
    );
    assert_eq!(
        app.get("/healthz", &[]).status,
        200,
        "the collector serves on with the file in force"
    );
    std::fs::write(&path, ORG).expect("written");
    assert_eq!(
        reload(&app).body["touchpoints"],
        1,
        "the old one stayed until now"
    );
}

#[test]
fn reloading_needs_the_admin_token() {
    let app = spawn_app_with(|_| {});
    assert_eq!(app.post("/v1/org/reload", "", &[]).status, 401);
    let without_file = reload(&app);
    assert_eq!(without_file.status, 422, "{}", without_file.text);
}

#[test]
fn a_bad_file_refuses_the_start_with_its_line() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("org.toml");
    std::fs::write(&path, ORG.replace("Europe/London", "Mars/Olympus")).expect("written");
    let mut config = collector::Config::for_data_dir(dir.path().join("data"));
    config.org = Some(path);
    let store = collector::store::SledStore::open(&dir.path().join("data")).expect("a store");
    let refused = collector::start_with_store(config, std::sync::Arc::new(store));
    let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(message.contains("org.toml:3: timezone"), "{message}");
}

#[test]
fn the_council_records_an_action_sees_it_on_the_agenda_and_closes_it() {
    let app = spawn_app_with(|_| {});
    let cookie = app.session();
    let form = |body: &str, path: &str| {
        app.post(
            path,
            body,
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &cookie),
            ],
        )
    };
    let recorded = form(
        "what=Give+agents+the+fault+checklist&department=call-centre&touchpoint=fault-call&due=2030-01-31",
        "/dashboard/actions",
    );
    assert_eq!(
        recorded.status, 200,
        "followed to the dashboard: {}",
        recorded.text
    );
    let dashboard = || app.get("/dashboard", &[("Cookie", &cookie)]);
    let recorded = dashboard();
    assert!(recorded.text.contains("Give agents the fault checklist"));
    assert!(recorded.text.contains("Call centre (agent)"));
    assert!(recorded
        .text
        .contains("<span class=\"standing open\">open</span>"));
    let id = recorded
        .text
        .split("action=\"/dashboard/actions/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .expect("a close form")
        .to_owned();
    form(
        "note=In+the+call+script+since+Monday",
        &format!("/dashboard/actions/{id}/close"),
    );
    let closed = dashboard();
    assert!(closed
        .text
        .contains("<span class=\"standing done\">done</span>"));
    assert!(closed.text.contains("In the call script since Monday"));

    for (body, field) in [
        ("what=x&department=call-centre&due=someday", "a date"),
        (
            "what=&department=call-centre&due=2030-01-31",
            "say what is to be done",
        ),
        (
            "what=x&department=marketing&due=2030-01-31",
            "one of the organisation",
        ),
    ] {
        let refused = form(body, "/dashboard/actions");
        assert_eq!(refused.status, 400, "{body}");
        assert!(refused.text.contains(field), "{body}: {}", refused.text);
    }
    let cross = app.post(
        "/dashboard/actions",
        "what=x&department=call-centre&due=2030-01-31",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &cookie),
            ("Origin", "https://attacker.example"),
        ],
    );
    assert_eq!(cross.status, 403);
    let unknown = form("note=x", "/dashboard/actions/42/close");
    assert_eq!(unknown.status, 404);
}

/// A journey's steps in order, with their measures, owners and where the journey breaks.
#[test]
fn a_journey_shows_its_steps_and_where_it_breaks() {
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().join("org.toml");
    std::fs::write(
        &path,
        r#"[organisation]
name = "Northbank"
[[department]]
id = "call-centre"
name = "Call centre"
[[department]]
id = "field"
name = "Field service"
[[touchpoint]]
id = "fault-call"
name = "Fault call"
department = "call-centre"
[[touchpoint]]
id = "engineer-visit"
name = "Engineer visit"
department = "field"
[[journey]]
id = "report-a-fault"
name = "Report a fault"
steps = ["fault-call", "engineer-visit"]
"#,
    )
    .expect("written");
    let app = spawn_app_with(|c| c.org = Some(path.clone()));
    let mut n = 0;
    let mut answer = |touchpoint: &str, channel: &str, effort: u8| {
        n += 1;
        let mut body = crate::helpers::submission(1000 + n);
        body["touchpoint"] = serde_json::json!(touchpoint);
        body["channel"] = serde_json::json!(channel);
        body["answers"] = serde_json::json!({"effort": effort});
        if channel == "kiosk" {
            body["context"] = serde_json::json!({"site_id": "b1", "device_id": format!("k{n}")});
        }
        assert_eq!(app.submit(&body).status, 201);
    };
    for _ in 0..5 {
        answer("fault-call", "web", 6);
        answer("engineer-visit", "web", 2);
        answer("engineer-visit", "kiosk", 6);
    }
    let reply = app.get(
        "/v1/journeys",
        &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
    );
    assert_eq!(reply.status, 200, "{}", reply.text);
    let journey = &reply.body["journeys"][0];
    assert_eq!(journey["id"], "report-a-fault");
    let steps: Vec<&str> = journey["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["touchpoint"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        steps,
        ["fault-call", "engineer-visit"],
        "in the customer's order"
    );
    assert_eq!(journey["steps"][1]["department"], "field");
    assert_eq!(journey["steps"][1]["count"], 10);
    assert_eq!(journey["steps"][1]["channels"]["kiosk"]["count"], 5);
    assert_eq!(journey["steps"][1]["channel_gap"], 4.0);
    assert_eq!(journey["effort"]["mean"], 4.67);
    assert_eq!(journey["breaks"]["weakest_step"], "engineer-visit");
    assert_eq!(journey["breaks"]["widest_channel_gap"], "engineer-visit");

    // The dashboard shows the same: departments with their touchpoints, the journey's steps,
    // where it breaks, and a touchpoint nobody owns yet with its count.
    answer("loyalty-survey", "web", 4);
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let stats = |query: &str| {
        app.get(
            &format!("/v1/stats?{query}"),
            &[("Authorization", auth.as_str())],
        )
        .body
    };
    let by_department = stats("group_by=department");
    let counts: Vec<(String, u64)> = by_department["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .map(|g| {
            (
                g["key"]["department"].as_str().unwrap_or("").to_owned(),
                g["count"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("call-centre".to_owned(), 5),
            ("field".to_owned(), 10),
            ("unassigned".to_owned(), 1)
        ]
    );
    assert_eq!(stats("department=field")["total"]["count"], 10);
    assert_eq!(
        stats("department=unassigned&group_by=touchpoint")["groups"][0]["key"]["touchpoint"],
        "loyalty-survey"
    );
    let page = app.get("/dashboard", &[("Cookie", &app.session())]).text;
    let departments = &page[page.find("id=\"departments\"").expect("a departments view")..];
    assert!(
        departments.contains("<h3>Field service</h3>"),
        "{departments}"
    );
    assert!(departments.contains("Engineer visit"));
    assert!(departments.contains("<code>loyalty-survey</code> — 1 answers"));
    let journeys = &page[page.find("id=\"journeys\"").expect("a journeys view")..];
    let visit = &journeys[journeys.find("Engineer visit").expect("the visit")..];
    assert!(
        visit[..visit.find("</li>").expect("its step")].contains("breaks here"),
        "{journeys}"
    );
    assert!(
        journeys.find("Fault call") < journeys.find("Engineer visit"),
        "steps in the customer's order"
    );
}

/// The demo bank's organisation file, which `cargo xtask run` serves, is a good file.
#[test]
fn the_demo_organisation_file_reads() {
    let org = collector::org::Organisation::load(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../demo-site/northbank.toml"
    )))
    .expect("the demo organisation reads");
    assert_eq!(org.name, "Northbank");
    assert!(org.journeys.iter().any(|j| j.id == "report-a-fault"));
}
