//! Issue 13: e-mail addresses, phone and card numbers a customer types into a comment are masked
//! before the comment is stored, so they never reach an export, and a retry is still a retry.

use serde_json::json;

use crate::helpers::{spawn_app, submission};

#[test]
fn contact_and_card_details_in_comments_are_masked_before_they_are_stored() {
    let app = spawn_app();
    let cases = [
        ("reach me at jane.doe@example.com", "reach me at [email]"),
        ("ｊａｎｅ＠ｅｘａｍｐｌｅ．ｃｏｍ", "[email]"),
        (
            "call +44 20 7946 0958 after five",
            "call [phone] after five",
        ),
        ("اتصل بي ٠٥٠ ١٢٣ ٤٥٦٧", "اتصل بي [phone]"),
        (
            "card 4111 1111 1111 1111 charged twice",
            "card [card] charged twice",
        ),
        ("nothing private here", "nothing private here"),
    ];
    for (n, (comment, _)) in cases.iter().enumerate() {
        let mut body = submission(n as u32);
        body["comment"] = json!(comment);
        assert_eq!(app.submit(&body).status, 201, "{comment}");
        assert_eq!(
            app.submit(&body).status,
            200,
            "a retry of a masked comment is a duplicate, not a conflict: {comment}"
        );
    }
    let stored: Vec<_> = app
        .export("")
        .iter()
        .map(|row| row["comment"].as_str().unwrap_or_default().to_owned())
        .collect();
    let masked: Vec<_> = cases.iter().map(|(_, masked)| masked.to_string()).collect();
    assert_eq!(stored, masked);
}
