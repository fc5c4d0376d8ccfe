//! The council's agenda: the actions a council meeting decides (what, the owning department, a
//! touchpoint, a due date), kept by the store, closed with a note, and read back first thing in
//! the next period's report.

use serde::{Deserialize, Serialize};

/// One action the council decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Made when the action is recorded: its arrival time in microseconds, as text.
    pub id: String,
    pub what: String,
    pub department: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub touchpoint: Option<String>,
    /// `YYYY-MM-DD`.
    pub due: String,
    /// When it was recorded, RFC 3339.
    pub recorded_at: String,
    /// When it was closed, RFC 3339; `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// What was done, written on closing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Where an action stands on a given day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    Done,
    Open,
    Overdue,
}

impl Standing {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Open => "open",
            Self::Overdue => "overdue",
        }
    }
}

/// Why an action cannot be recorded: the field and its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct BadAction {
    pub field: &'static str,
    pub rule: &'static str,
}

impl Action {
    /// A new open action, its fields checked: `what` 1–500 characters, `department` and
    /// `touchpoint` identifiers, `due` a `YYYY-MM-DD` date.
    pub fn record(
        id: String,
        what: &str,
        department: &str,
        touchpoint: Option<&str>,
        due: &str,
        recorded_at: String,
    ) -> Result<Self, BadAction> {
        let what = what.trim();
        if what.is_empty() || what.chars().count() > 500 {
            return Err(BadAction {
                field: "what",
                rule: "say what is to be done, in at most 500 characters",
            });
        }
        let ident = |value: &str, field| {
            protocol::Ident::parse(value)
                .map(|_| value.to_owned())
                .ok_or(BadAction {
                    field,
                    rule: "1-64 characters of A-Z, a-z, 0-9, '.', '_', ':', '/' or '-'",
                })
        };
        let touchpoint = touchpoint
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| ident(t, "touchpoint"))
            .transpose()?;
        if !is_date(due) {
            return Err(BadAction {
                field: "due",
                rule: "a date, YYYY-MM-DD",
            });
        }
        Ok(Self {
            id,
            what: what.to_owned(),
            department: ident(department.trim(), "department")?,
            touchpoint,
            due: due.to_owned(),
            recorded_at,
            closed_at: None,
            note: None,
        })
    }

    /// Closes the action with what was done.
    pub fn close(&mut self, note: &str, closed_at: String) -> Result<(), BadAction> {
        let note = note.trim();
        if note.chars().count() > 1000 {
            return Err(BadAction {
                field: "note",
                rule: "at most 1000 characters",
            });
        }
        self.note = (!note.is_empty()).then(|| note.to_owned());
        self.closed_at = Some(closed_at);
        Ok(())
    }

    /// Where the action stands on `today` (`YYYY-MM-DD`): done once closed (by then), overdue
    /// once its due date has passed open.
    pub fn standing(&self, today: &str) -> Standing {
        if self.closed_on().is_some_and(|closed| closed <= today) {
            Standing::Done
        } else if self.due.as_str() < today {
            Standing::Overdue
        } else {
            Standing::Open
        }
    }
}

impl Action {
    /// The day it was recorded, `YYYY-MM-DD`.
    pub fn recorded_on(&self) -> &str {
        self.recorded_at.get(..10).unwrap_or("")
    }

    /// The day it was closed, `YYYY-MM-DD`, if it was.
    pub fn closed_on(&self) -> Option<&str> {
        self.closed_at.as_deref().and_then(|c| c.get(..10))
    }
}

/// Whether `text` is a real `YYYY-MM-DD` date.
fn is_date(text: &str) -> bool {
    text.len() == 10
        && protocol::Timestamp::parse(&[text, "T00:00:00Z"].concat())
            .is_ok_and(|t| t.as_str().starts_with(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(due: &str) -> Result<Action, BadAction> {
        Action::record(
            "1".into(),
            "Give call agents the fault checklist",
            "call-centre",
            Some("fault-call"),
            due,
            "2026-11-20T10:00:00Z".into(),
        )
    }

    #[test]
    fn an_action_stands_open_then_overdue_unless_done() {
        let mut a = action("2026-12-01").expect("valid");
        assert_eq!(a.standing("2026-11-30"), Standing::Open);
        assert_eq!(
            a.standing("2026-12-01"),
            Standing::Open,
            "due today is not late"
        );
        assert_eq!(a.standing("2026-12-02"), Standing::Overdue);
        a.close(
            "Checklist in the script since 28 Nov",
            "2026-12-03T09:00:00Z".into(),
        )
        .expect("closed");
        assert_eq!(a.standing("2026-12-09"), Standing::Done);
        assert_eq!(
            a.standing("2026-12-02"),
            Standing::Overdue,
            "as it stood before it was closed"
        );
        assert_eq!(
            a.note.as_deref(),
            Some("Checklist in the script since 28 Nov")
        );
    }

    #[test]
    fn a_bad_action_names_its_field() {
        for (due, field) in [
            ("2026-13-01", "due"),
            ("tomorrow", "due"),
            ("2026-02-30", "due"),
        ] {
            assert_eq!(action(due).err().map(|e| e.field), Some(field), "{due}");
        }
        let empty = Action::record("1".into(), "  ", "d", None, "2026-12-01", String::new());
        assert_eq!(empty.err().map(|e| e.field), Some("what"));
        let bad_department = Action::record(
            "1".into(),
            "x",
            "call centre",
            None,
            "2026-12-01",
            String::new(),
        );
        assert_eq!(bad_department.err().map(|e| e.field), Some("department"));
    }
}
