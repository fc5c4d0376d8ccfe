//! Helpers for the end-to-end tests: start the real `touchpoint-collector` binary with a data
//! directory on disk, talk to it over HTTP, stop it gently (SIGTERM) or kill it (SIGKILL).

pub mod postgres;
pub mod receiver;

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Mutex, OnceLock},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789abcdefgh";

/// The collector binary `cargo test --workspace` built beside this test binary (or
/// `TOUCHPOINT_COLLECTOR_BIN`).
pub fn collector_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("TOUCHPOINT_COLLECTOR_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let binary = profile_dir.join("touchpoint-collector");
    assert!(
        binary.exists(),
        "{} is missing: build it first (`cargo build -p touchpoint-collector`, which `cargo xtask test` does)",
        binary.display()
    );
    binary
}

/// Runs one of the collector's offline commands (`args`) on the store in `data`, with `env`
/// added and its log at `info`; returns how it ended and its log.
pub fn run_offline(
    data: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let output = Command::new(collector_binary())
        .args(args)
        .arg("--data")
        .arg(data)
        .env("RUST_LOG", "info")
        .envs(env.iter().copied())
        .output()
        .expect("the collector ran");
    (
        output.status,
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// The SHA-256 of the file at `path`, in hex.
pub fn sha256_of(path: &Path) -> String {
    use sha2::{Digest, Sha256};
    let bytes = std::fs::read(path).expect("the file");
    Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A running collector process.
pub struct Collector {
    child: Child,
    pub base: String,
    pub data: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    /// Starts `touchpoint-collector serve` on a free loopback port over `data` (or the PostgreSQL
    /// database standing for it).
    pub fn start(data: &Path, extra_args: &[&str]) -> Self {
        Self::start_with_env(data, extra_args, &[])
    }

    /// As [`Collector::start`], with `env` added to the process's environment.
    pub fn start_with_env(data: &Path, extra_args: &[&str], env: &[(&str, &str)]) -> Self {
        // On PostgreSQL when the run asks for it ([`postgres::store_for`]).
        let store = postgres::store_for(data)
            .filter(|_| !extra_args.contains(&"--store"))
            .map(|url| vec!["--store".to_owned(), url])
            .unwrap_or_default();
        let mut child = Command::new(collector_binary())
            .args("serve --listen 127.0.0.1:0 --workers 2".split(' '))
            // These tests post from one address at hundreds of posts a second.
            .args("--limit-per-address off --limit-per-device off".split(' '))
            // `submission` posts agent answers directly, as an integration without invitations.
            .arg("--allow-uninvited-agent-answers")
            .arg("--data")
            .arg(data)
            .args(extra_args)
            .args(&store)
            .env("TOUCHPOINT_ADMIN_TOKEN", ADMIN_TOKEN)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the collector starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(addr) = line
                        .split_once("listening addr=")
                        .and_then(|(_, rest)| rest.split_whitespace().next())
                    {
                        let _ = tx.send(addr.to_owned());
                    }
                    log.lock().unwrap_or_else(|p| p.into_inner()).push(line);
                }
            });
        }
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "the collector did not report its address:\n{}",
                    log.lock().unwrap_or_else(|p| p.into_inner()).join("\n")
                );
            }
        };
        Self {
            child,
            base: format!("http://{addr}"),
            data: data.to_owned(),
            log,
        }
    }

    /// The collector's process id, for what `/proc` says of it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Everything the process logged so far.
    pub fn log(&self) -> String {
        self.log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .join("\n")
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGHUP: the collector reads its organisation file again.
    pub fn hang_up(&self) {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        let sent = unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGHUP) } == 0;
        assert!(sent, "SIGHUP");
    }

    /// SIGTERM, then waits for the exit; returns whether the exit was clean. A collector still
    /// running a minute later (its shutdown timeout is 10 s) is killed, and that is not clean.
    pub fn terminate(self) -> bool {
        self.terminate_within(Duration::from_secs(60))
            .is_some_and(|status| status.success())
    }

    /// SIGTERM, then waits at most `limit` for the exit (SIGKILL after that); returns the exit
    /// status, or `None` when the process had to be killed.
    pub fn terminate_within(mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid, which has not been reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// The export over HTTP in `format` (`csv` or `ndjson`), as text, or why it failed: the
    /// collector cuts the stream when the store fails under it.
    pub fn try_export_text(&self, format: &str) -> Result<String, String> {
        ureq::get(&self.url(&format!("/v1/export?format={format}")))
            .set("Authorization", &format!("Bearer {ADMIN_TOKEN}"))
            .call()
            .map_err(|e| e.to_string())
            .and_then(|r| r.into_string().map_err(|e| e.to_string()))
    }

    /// The export over HTTP in `format` (`csv` or `ndjson`), as text. A failed export panics with
    /// the collector's log, which says why.
    pub fn export_text(&self, format: &str) -> String {
        self.try_export_text(format)
            .unwrap_or_else(|e| panic!("export: {e}\ncollector log:\n{}", self.log()))
    }

    /// The NDJSON export over HTTP, one value per record.
    pub fn export(&self) -> Vec<Value> {
        self.export_text("ndjson")
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a post came to, as the widget's outbox sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// 201 or 200: the collector holds it durably; remove from the outbox.
    Acknowledged(u16),
    /// Any other status.
    Refused(u16),
    /// No answer (connection refused or reset, timeout): keep it and retry with the same id.
    NoAnswer,
}

/// Posts `body` as the widget does (`text/plain`).
pub fn post(base: &str, body: &str) -> Delivery {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .build();
    match agent
        .post(&format!("{base}/v1/responses"))
        .set("Content-Type", "text/plain")
        .send_string(body)
    {
        Ok(r) => Delivery::Acknowledged(r.status()),
        Err(ureq::Error::Status(503, _)) => Delivery::NoAnswer,
        Err(ureq::Error::Status(code, _)) => Delivery::Refused(code),
        Err(ureq::Error::Transport(_)) => Delivery::NoAnswer,
    }
}

/// The export `rows` hold every id of `acknowledged` exactly once, and nothing else: no answer
/// acknowledged and then lost, none stored twice, none stored without an acknowledgement.
pub fn assert_exported_once<V>(
    rows: &[Value],
    acknowledged: &std::collections::HashMap<String, V>,
) {
    let mut seen = std::collections::HashSet::new();
    for row in rows {
        let id = row["id"].as_str().expect("an id").to_owned();
        assert!(seen.insert(id.clone()), "{id} is stored twice");
        assert!(
            acknowledged.contains_key(&id),
            "{id} is stored but was never acknowledged"
        );
    }
    for id in acknowledged.keys() {
        assert!(seen.contains(id), "{id} was acknowledged and then lost");
    }
}

/// When this run's answers were given: the time the run started. The collector refuses answers
/// given more than 14 days before they arrive, and every copy of one answer (a retry after a
/// crash) must carry the same bytes.
pub fn submitted_at() -> &'static str {
    static AT: OnceLock<String> = OnceLock::new();
    AT.get_or_init(|| {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        protocol::Timestamp::from_unix_millis(millis)
            .as_str()
            .to_owned()
    })
}

/// A valid submission; `n` makes the id unique.
pub fn submission(n: u64) -> Value {
    let channel = ["web", "kiosk", "agent"][(n % 3) as usize];
    json!({
        "id": format!("e2e0-0000-0000-{n:016}"),
        "survey": {"id": "core-cx", "version": 1},
        "channel": channel,
        "touchpoint": "checkout",
        "answers": {"effort": 1 + n % 7, "confidence": 1 + n % 5, "emotion": "neutral"},
        "comment": format!("comment number {n}"),
        "locale": "en",
        "submitted_at": submitted_at()
    })
}
