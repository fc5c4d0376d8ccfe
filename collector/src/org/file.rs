//! The organisation file (`--org`, TOML): read with `toml` and serde, then checked rule by rule,
//! every mistake refused with its line and the rule it breaks.

use std::collections::HashSet;

use serde::Deserialize;
use toml::Spanned;

use super::{Department, Journey, Organisation, Touchpoint};

/// A mistake in the organisation file: where it is, and the rule it breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {rule}")]
pub struct OrgError {
    pub file: String,
    /// 1-based; 0 when the mistake is the whole file's.
    pub line: usize,
    pub rule: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    organisation: Option<Spanned<Header>>,
    #[serde(default)]
    department: Vec<Spanned<RawDepartment>>,
    #[serde(default)]
    touchpoint: Vec<Spanned<RawTouchpoint>>,
    #[serde(default)]
    journey: Vec<Spanned<RawJourney>>,
    #[serde(default)]
    endpoint: Vec<Spanned<super::notify::RawEndpoint>>,
    #[serde(default)]
    alert: Vec<Spanned<super::notify::RawAlert>>,
    #[serde(default)]
    outcome: Vec<Spanned<super::outcomes::RawOutcome>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    name: Spanned<String>,
    #[serde(default)]
    timezone: Option<Spanned<String>>,
    #[serde(default)]
    currency: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDepartment {
    id: Spanned<String>,
    name: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTouchpoint {
    id: Spanned<String>,
    name: Spanned<String>,
    department: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJourney {
    id: Spanned<String>,
    name: Spanned<String>,
    steps: Spanned<Vec<Spanned<String>>>,
}

/// Reads and checks the organisation file `text`, named `file` in errors.
pub fn parse(file: &str, text: &str) -> Result<Organisation, OrgError> {
    let at = |span: std::ops::Range<usize>, rule: String| OrgError {
        file: file.to_owned(),
        line: text[..span.start.min(text.len())].matches('\n').count() + 1,
        rule,
    };
    let raw: File = toml::from_str(text).map_err(|e| {
        let rule = e.message().to_owned();
        match e.span() {
            Some(span) => at(span, rule),
            None => OrgError {
                file: file.to_owned(),
                line: 0,
                rule,
            },
        }
    })?;
    let Some(header) = raw.organisation else {
        return Err(OrgError {
            file: file.to_owned(),
            line: 0,
            rule: "an [organisation] section with its name is required".into(),
        });
    };
    let header = header.into_inner();
    let name = text_of(&header.name, "the organisation's name", &at)?;
    let timezone = match &header.timezone {
        None => jiff::tz::TimeZone::UTC,
        Some(tz) => jiff::tz::TimeZone::get(tz.get_ref()).map_err(|_| {
            at(
                tz.span(),
                format!(
                    "timezone {:?} is not an IANA time zone (like Europe/London)",
                    tz.get_ref()
                ),
            )
        })?,
    };
    let timezone_name = header
        .timezone
        .as_ref()
        .map_or_else(|| "UTC".to_owned(), |tz| tz.get_ref().clone());

    let mut ids = HashSet::new();
    let mut departments = Vec::new();
    for d in raw.department {
        let d = d.into_inner();
        let id = ident(&d.id, "a department's id", &at)?;
        if !ids.insert(("department", id.clone())) {
            return Err(at(
                d.id.span(),
                format!("department {id:?} is declared twice"),
            ));
        }
        departments.push(Department {
            id,
            name: text_of(&d.name, "a department's name", &at)?,
        });
    }
    let mut touchpoints = Vec::new();
    for t in raw.touchpoint {
        let t = t.into_inner();
        let id = ident(&t.id, "a touchpoint's id", &at)?;
        if !ids.insert(("touchpoint", id.clone())) {
            return Err(at(
                t.id.span(),
                format!("touchpoint {id:?} is declared twice"),
            ));
        }
        let department = t.department.get_ref();
        if !departments.iter().any(|d| &d.id == department) {
            return Err(at(
                t.department.span(),
                format!("touchpoint {id:?} names department {department:?}, which no [[department]] declares"),
            ));
        }
        touchpoints.push(Touchpoint {
            id,
            name: text_of(&t.name, "a touchpoint's name", &at)?,
            department: department.clone(),
        });
    }
    let mut journeys = Vec::new();
    for j in raw.journey {
        let j = j.into_inner();
        let id = ident(&j.id, "a journey's id", &at)?;
        if !ids.insert(("journey", id.clone())) {
            return Err(at(j.id.span(), format!("journey {id:?} is declared twice")));
        }
        if j.steps.get_ref().is_empty() {
            return Err(at(
                j.steps.span(),
                format!("journey {id:?} needs at least one step"),
            ));
        }
        let mut steps = Vec::new();
        for step in j.steps.get_ref() {
            if !touchpoints.iter().any(|t| &t.id == step.get_ref()) {
                return Err(at(
                    step.span(),
                    format!(
                        "journey {id:?} has step {:?}, which no [[touchpoint]] declares",
                        step.get_ref()
                    ),
                ));
            }
            if steps.contains(step.get_ref()) {
                return Err(at(
                    step.span(),
                    format!("journey {id:?} has step {:?} twice", step.get_ref()),
                ));
            }
            steps.push(step.get_ref().clone());
        }
        journeys.push(Journey {
            id,
            name: text_of(&j.name, "a journey's name", &at)?,
            steps,
        });
    }
    let endpoints = super::notify::endpoints(raw.endpoint, &departments, &at)?;
    let alerts = super::notify::alerts(raw.alert, &departments, &endpoints, &at)?;
    let currency = super::outcomes::currency(header.currency.as_ref(), &at)?;
    let outcomes = outcomes(raw.outcome, &at)?;
    let touchpoint_at = touchpoints
        .iter()
        .enumerate()
        .map(|(at, t)| (t.id.clone(), at))
        .collect();
    Ok(Organisation {
        name,
        timezone,
        timezone_name,
        departments,
        touchpoints,
        journeys,
        endpoints,
        alerts,
        currency,
        outcomes,
        touchpoint_at,
    })
}

/// Checks each `[[outcome]]`: an identifier declared once, a name people read, a cost that is
/// a finite amount of at least zero.
fn outcomes(
    raw: Vec<Spanned<super::outcomes::RawOutcome>>,
    at: &dyn Fn(std::ops::Range<usize>, String) -> OrgError,
) -> Result<Vec<super::outcomes::OutcomeCost>, OrgError> {
    let mut checked: Vec<super::outcomes::OutcomeCost> = Vec::new();
    for o in raw {
        let o = o.into_inner();
        let id = ident(&o.id, "an outcome's id", at)?;
        if checked.iter().any(|c| c.id == id) {
            return Err(at(o.id.span(), format!("outcome {id:?} is declared twice")));
        }
        let cost = *o.cost.get_ref();
        if !(0.0..=1e12).contains(&cost) {
            return Err(at(
                o.cost.span(),
                format!(
                    "outcome {id:?} needs a cost of at least 0 (in the organisation's currency)"
                ),
            ));
        }
        let name = match &o.name {
            Some(name) => text_of(name, "an outcome's name", at)?,
            None => id.clone(),
        };
        checked.push(super::outcomes::OutcomeCost { id, name, cost });
    }
    Ok(checked)
}

/// An identifier as the protocol defines one: 1–64 of `[A-Za-z0-9._:/-]`.
fn ident(
    value: &Spanned<String>,
    what: &str,
    at: &dyn Fn(std::ops::Range<usize>, String) -> OrgError,
) -> Result<String, OrgError> {
    protocol::Ident::parse(value.get_ref())
        .map(|_| value.get_ref().clone())
        .ok_or_else(|| {
            at(
                value.span(),
                format!(
                    "{what} must be 1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'"
                ),
            )
        })
}

/// A name people read: not empty, at most 200 characters.
fn text_of(
    value: &Spanned<String>,
    what: &str,
    at: &dyn Fn(std::ops::Range<usize>, String) -> OrgError,
) -> Result<String, OrgError> {
    let text = value.get_ref().trim();
    if text.is_empty() || text.chars().count() > 200 {
        return Err(at(value.span(), format!("{what} must be 1-200 characters")));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[organisation]
name = "Northbank"
timezone = "Europe/London"

[[department]]
id = "digital"
name = "Digital"

[[department]]
id = "field"
name = "Field service"

[[touchpoint]]
id = "card-activation"
name = "Card activation"
department = "digital"

[[touchpoint]]
id = "engineer-visit"
name = "Engineer visit"
department = "field"

[[journey]]
id = "report-a-fault"
name = "Report a fault"
steps = ["card-activation", "engineer-visit"]
"#;

    #[test]
    fn a_good_file_reads_whole() {
        let org = parse("org.toml", GOOD).expect("a good file");
        assert_eq!(org.name, "Northbank");
        assert_eq!(org.timezone_name, "Europe/London");
        assert_eq!(org.departments.len(), 2);
        assert_eq!(org.department_of("engineer-visit"), Some("field"));
        assert_eq!(org.department_of("unknown"), None);
        assert_eq!(org.journeys[0].steps, ["card-activation", "engineer-visit"]);
    }

    /// Every kind of mistake, with the line it is on and words of the rule it breaks.
    #[test]
    fn every_mistake_is_refused_with_its_line_and_rule() {
        let replace = |from: &str, to: &str| GOOD.replacen(from, to, 1);
        let table: Vec<(String, usize, &str)> = vec![
            (
                replace("department = \"field\"", "department = \"fields\""),
                22,
                "no [[department]] declares",
            ),
            (
                replace("id = \"field\"", "id = \"digital\""),
                11,
                "declared twice",
            ),
            (
                replace(
                    "\"card-activation\", \"engineer-visit\"",
                    "\"card-activation\", \"visit\"",
                ),
                27,
                "no [[touchpoint]] declares",
            ),
            (
                replace("Europe/London", "Europe/Lundon"),
                4,
                "not an IANA time zone",
            ),
            (
                replace("id = \"card-activation\"", "id = \"card activation\""),
                15,
                "1-64 characters",
            ),
            (
                replace("name = \"Digital\"", "name = \"\""),
                8,
                "1-200 characters",
            ),
            (replace("steps = [", "stepz = ["), 27, "unknown field"),
            (
                format!("{GOOD}\n[[alert]]\nid = \"struggled\"\nnotify = []\n"),
                29,
                "needs a condition",
            ),
            (
                format!("{GOOD}\n[[alert]]\nid = \"struggled\"\neffort_at_most = 2\nnotify = [\"team\"]\n"),
                32,
                "no [[endpoint]] declares",
            ),
            (
                format!("{GOOD}\n[[endpoint]]\nid = \"team\"\nurl = \"https://hooks.example.com/x\"\nsecret = \"whsec_abc\"\nevents = [\"response.created\"]\n"),
                32,
                "env:VARIABLE",
            ),
            (
                format!("{GOOD}\n[[endpoint]]\nid = \"team\"\nurl = \"ftp://hooks.example.com/x\"\nsecret = \"env:TP_UNSET_FOR_TEST\"\nevents = [\"response.created\"]\n"),
                31,
                "http:// or https://",
            ),
            (
                format!("{GOOD}\n[[endpoint]]\nid = \"team\"\nurl = \"https://hooks.example.com/x\"\nsecret = \"env:TP_UNSET_FOR_TEST\"\nevents = [\"response.created\"]\n"),
                32,
                "is not set",
            ),
            (replace("[organisation]", "[organisation"), 2, ""),
            (replace("name = \"Northbank\"\n", ""), 2, "missing field"),
            (
                replace(
                    "steps = [\"card-activation\", \"engineer-visit\"]",
                    "steps = []",
                ),
                27,
                "at least one step",
            ),
            (
                replace("timezone = \"Europe/London\"", "timezone = \"Europe/London\"\ncurrency = \"pounds\""),
                5,
                "ISO 4217",
            ),
            (
                format!("{GOOD}\n[[outcome]]\nid = \"repeat_contact\"\ncost = -5.0\n"),
                31,
                "a cost of at least 0",
            ),
            (
                format!("{GOOD}\n[[outcome]]\nid = \"repeat contact\"\ncost = 5.0\n"),
                30,
                "1-64 characters",
            ),
            (
                format!("{GOOD}\n[[outcome]]\nid = \"churn\"\ncost = 5\n[[outcome]]\nid = \"churn\"\ncost = 6\n"),
                33,
                "declared twice",
            ),
        ];
        for (text, line, rule) in table {
            let error = parse("org.toml", &text).expect_err(rule);
            assert_eq!(error.line, line, "{error}");
            assert!(error.rule.contains(rule), "{error}");
            assert!(
                error.to_string().starts_with(&format!("org.toml:{line}: ")),
                "{error}"
            );
        }
    }
}
