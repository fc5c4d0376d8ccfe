//! The organisation: who owns each touchpoint, and what each outcome costs. Read from the organisation file ([`file`]) at
//! start and on reload; without one, departments are the channels, as before. Every reader takes
//! the current one from [`Current`], so a reload regroups history at once: a touchpoint's
//! department is the file's, whenever its answers were given.

pub mod agenda;
pub mod file;
pub mod notify;
pub mod outcomes;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, RwLock,
    },
};

pub use file::OrgError;

/// The department of an answer whose touchpoint the file does not declare.
pub const UNASSIGNED: &str = "unassigned";

/// Without a file, each channel is a department: its id and name.
pub fn channel_department(channel: protocol::Channel) -> (&'static str, &'static str) {
    match channel {
        protocol::Channel::Web => ("digital", "Digital (web)"),
        protocol::Channel::Kiosk => ("branches", "Branches (kiosk)"),
        protocol::Channel::Agent => ("call-centre", "Call centre (agent)"),
    }
}

/// The department that owns an answer on `channel` at `touchpoint`: the file's owner of the
/// touchpoint ([`UNASSIGNED`] when the file does not declare it), or without a file the
/// channel's department.
pub fn department_of<'a>(
    org: Option<&'a Organisation>,
    channel: protocol::Channel,
    touchpoint: &str,
) -> &'a str {
    match org {
        Some(org) => org.department_of(touchpoint).unwrap_or(UNASSIGNED),
        None => channel_department(channel).0,
    }
}

/// A department's name, or its id when no department of that id is known.
pub fn department_name(org: Option<&Organisation>, id: &str) -> String {
    departments(org)
        .into_iter()
        .find(|(known, _)| known == id)
        .map_or_else(|| id.to_owned(), |(_, name)| name)
}

/// Every department, `(id, name)`: the file's, or without one the channels'.
pub fn departments(org: Option<&Organisation>) -> Vec<(String, String)> {
    match org {
        Some(org) => org
            .departments
            .iter()
            .map(|d| (d.id.clone(), d.name.clone()))
            .collect(),
        None => protocol::Channel::ALL
            .iter()
            .map(|c| {
                let (id, name) = channel_department(*c);
                (id.to_owned(), name.to_owned())
            })
            .collect(),
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Department {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touchpoint {
    pub id: String,
    pub name: String,
    /// The owning department's id.
    pub department: String,
}

/// Touchpoints in the customer's order, across departments and channels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    pub id: String,
    pub name: String,
    pub steps: Vec<String>,
}

/// An organisation file, checked.
#[derive(Debug, Clone)]
pub struct Organisation {
    pub name: String,
    /// Days in reports and quiet hours are in this zone.
    pub timezone: jiff::tz::TimeZone,
    pub timezone_name: String,
    pub departments: Vec<Department>,
    pub touchpoints: Vec<Touchpoint>,
    pub journeys: Vec<Journey>,
    /// Where events go (`[[endpoint]]`).
    pub endpoints: Vec<notify::Endpoint>,
    /// What raises an alert (`[[alert]]`).
    pub alerts: Vec<notify::AlertRule>,
    /// What costs are in (`[organisation] currency`, GBP when not given).
    pub currency: outcomes::Currency,
    /// What each outcome costs (`[[outcome]]`).
    pub outcomes: Vec<outcomes::OutcomeCost>,
    /// Each touchpoint's place in `touchpoints`: the report asks a department for every
    /// touchpoint it lists, up to the bound on touchpoints.
    touchpoint_at: HashMap<String, usize>,
}

impl Organisation {
    /// The department that owns `touchpoint`, when the file declares it.
    pub fn department_of(&self, touchpoint: &str) -> Option<&str> {
        self.touchpoint(touchpoint).map(|t| t.department.as_str())
    }

    pub fn department(&self, id: &str) -> Option<&Department> {
        self.departments.iter().find(|d| d.id == id)
    }

    /// What one `outcome` costs, when the file says.
    pub fn outcome(&self, id: &str) -> Option<&outcomes::OutcomeCost> {
        self.outcomes.iter().find(|o| o.id == id)
    }

    /// Whether anything in the file reads answers' `response.created` events: an endpoint that
    /// subscribes to them, or an alert rule (every answer goes through the rules as its event
    /// is handed on). When nothing does, the store makes none ([`Current::answer_events`]).
    pub fn reads_answer_events(&self) -> bool {
        !self.alerts.is_empty()
            || self
                .endpoints
                .iter()
                .any(|e| e.events.contains(&notify::EventKind::ResponseCreated))
    }

    pub fn touchpoint(&self, id: &str) -> Option<&Touchpoint> {
        self.touchpoints.get(*self.touchpoint_at.get(id)?)
    }

    /// Reads and checks the file at `path`.
    pub fn load(path: &std::path::Path) -> Result<Self, OrgError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| OrgError {
            file: name.clone(),
            line: 0,
            rule: format!("cannot be read: {e}"),
        })?;
        file::parse(&name, &text)
    }
}

/// The organisation in force, swapped whole on reload; `None` without a file.
#[derive(Debug, Default)]
pub struct Current {
    org: RwLock<Option<Arc<Organisation>>>,
    path: Option<std::path::PathBuf>,
    /// Whether the organisation in force reads answers' events
    /// ([`Organisation::reads_answer_events`]); false without a file.
    answer_events: Arc<AtomicBool>,
}

impl Current {
    /// Reads the file at `path` (when given) for the first time: a mistake refuses the start.
    pub fn open(path: Option<std::path::PathBuf>) -> Result<Self, OrgError> {
        let org = path.as_deref().map(Organisation::load).transpose()?;
        let reads = org.as_ref().is_some_and(Organisation::reads_answer_events);
        Ok(Self {
            org: RwLock::new(org.map(Arc::new)),
            path,
            answer_events: Arc::new(AtomicBool::new(reads)),
        })
    }

    /// The organisation in force now.
    pub fn get(&self) -> Option<Arc<Organisation>> {
        self.org.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Reads the file again: a good one replaces the one in force, a bad one is refused and the
    /// one in force stays. Without a file there is nothing to reload.
    pub fn reload(&self) -> Result<Arc<Organisation>, OrgError> {
        let Some(path) = &self.path else {
            return Err(OrgError {
                file: String::new(),
                line: 0,
                rule: "the collector runs without an organisation file (--org)".into(),
            });
        };
        let org = Arc::new(Organisation::load(path)?);
        // Events are turned on before the file that reads them is in force, and off only after
        // the one that read them has gone: no answer stored under a file that reads its event
        // goes without one.
        let reads = org.reads_answer_events();
        if reads {
            self.answer_events.store(true, Ordering::SeqCst);
        }
        *self.org.write().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&org));
        if !reads {
            self.answer_events.store(false, Ordering::SeqCst);
        }
        Ok(org)
    }

    /// Whether the organisation in force reads answers' `response.created` events, kept true
    /// or false through every reload: the store makes an answer's event only while it is true
    /// ([`crate::store::Store::answer_events_when`]).
    pub fn answer_events(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.answer_events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "[organisation]\nname = \"Northbank\"\ntimezone = \"Europe/London\"\n\n[[department]]\nid = \"digital\"\nname = \"Digital\"\n";

    fn endpoint(events: &str) -> String {
        format!("\n[[endpoint]]\nid = \"team\"\nurl = \"https://hooks.example.com/x\"\nsecret = \"env:TP_ORG_TEST_HOOK\"\nevents = [{events}]\n")
    }

    #[test]
    fn issue_18_answers_make_events_only_while_the_file_reads_them() {
        std::env::set_var("TP_ORG_TEST_HOOK", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("org.toml");
        let write = |text: String| std::fs::write(&path, text).expect("write");
        let alerts_only = endpoint(r#""alert.opened", "alert.resolved""#);

        write(format!("{HEAD}{alerts_only}"));
        let current = Current::open(Some(path.clone())).expect("open");
        let events = current.answer_events();
        assert!(
            !events.load(Ordering::SeqCst),
            "an endpoint for alerts alone, and no alert rule: nothing reads an answer's event"
        );

        let cases = [
            (endpoint(r#""response.created""#), true),
            (
                format!("{alerts_only}\n[[alert]]\nid = \"struggled\"\neffort_at_most = 2\nnotify = [\"team\"]\n"),
                true,
            ),
            (alerts_only.clone(), false),
        ];
        for (rest, reads) in cases {
            write(format!("{HEAD}{rest}"));
            current.reload().expect("reload");
            assert_eq!(events.load(Ordering::SeqCst), reads, "{rest}");
        }
        assert!(!Current::open(None)
            .expect("no file")
            .answer_events()
            .load(Ordering::SeqCst));
    }
}
