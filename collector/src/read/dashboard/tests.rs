//! The dashboard's tests: however many values were ever sent, the page shows a bounded number of
//! them, says so, and still offers the one chosen.

use super::*;
use crate::store::SledStore;

/// A store holding one answer at each of 300 touchpoints, 30 sites and 30 segments.
fn crowded() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SledStore::open(dir.path()).expect("open");
    let received = protocol::Timestamp::parse("2026-11-22T12:00:00Z")
        .expect("a time")
        .unix_millis() as u64
        * 1000;
    for n in 0..300u64 {
        let body = format!(
            r#"{{"id":"crowdedcrowded{n:04}","survey":{{"id":"core-cx","version":1}},"channel":"web","touchpoint":"tp-{n:03}","answers":{{"effort":{}}},"locale":"en","context":{{"site_id":"site-{:02}","segment":"seg-{:02}"}},"submitted_at":"2026-11-22T10:00:00Z"}}"#,
            n % 7 + 1,
            n % 30,
            n % 30
        );
        let s = protocol::parse_submission(body.as_bytes()).expect("valid");
        store.put_at(&s, &s.to_json(), received + n).expect("put");
    }
    (dir, store)
}

/// The part of `page` from `start` to the next `end`.
fn part<'a>(page: &'a str, start: &str, end: &str) -> &'a str {
    let from = page.find(start).expect("the part is on the page");
    let len = page[from..].find(end).expect("the part ends");
    &page[from..from + len]
}

/// Regression (issue 13): every touchpoint ever sent was a menu entry and a matrix row, each row
/// searching the whole matrix.
#[test]
fn menus_matrix_and_bars_show_the_busiest_and_say_so() {
    let (_dir, store) = crowded();
    let page = render(&store, &Params::default(), None).expect("renders");
    let menu = part(&page, "<select name=\"touchpoint\">", "</select>");
    assert_eq!(
        menu.matches("<option").count(),
        MENU_VALUES + 1,
        "and 'all'"
    );
    assert!(page.contains("The menus offer the busiest of 300 touchpoints"));
    let matrix = part(&page, "<table class=\"matrix\">", "</table>");
    let rows = matrix.matches("<tr><th scope=\"row\">").count();
    assert!(
        (sections::MATRIX_ROWS..=sections::MATRIX_ROWS + 3).contains(&rows),
        "{rows} rows"
    );
    assert!(page.contains("busiest of the 300 touchpoints in this view"));
    assert!(page.contains("busiest of the 30 sites in this view"));
    assert!(page.contains("busiest of the 30 segments in this view"));
    let departments = part(&page, "id=\"departments\"", "</section>");
    assert!(departments.contains("The 20 weakest of its 300 touchpoints"));
    assert!(departments.matches("<tr><th scope=\"row\">").count() <= 20);

    let chosen = Params {
        touchpoint: Some("tp-299".into()),
        ..Params::default()
    };
    let page = render(&store, &chosen, None).expect("renders");
    assert!(
        page.contains("<option value=\"tp-299\" selected>"),
        "the chosen value is offered even when it is not among the busiest"
    );
}
