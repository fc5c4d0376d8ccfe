//! `spawn_app()`: a collector on 127.0.0.1:0 with its own data directory (or its own PostgreSQL
//! database, see [`Backend`]), and small HTTP helpers.

use std::{
    sync::{mpsc, Arc},
    thread,
};

use collector::{
    clock::Clock,
    config::Secret,
    store::{PgStore, SledStore, Store},
    Config,
};
use serde_json::{json, Value};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
pub const ALLOWED_ORIGIN: &str = "http://shop.test:8000";
/// When the answers of the tests arrive, as far as bounding their `submitted_at` goes.
pub const ARRIVAL: &str = "2026-11-22T12:00:00Z";

pub struct TestApp {
    pub base: String,
    handle: Option<actix_web::dev::ServerHandle>,
    thread: Option<thread::JoinHandle<()>>,
    /// What it was started with, to start it again on the same store ([`TestApp::restart_over`]).
    config: Config,
    backend: Backend,
    /// The data directory, kept until the app is dropped.
    dir: Option<tempfile::TempDir>,
}

pub fn spawn_app() -> TestApp {
    spawn_app_with(|_| {})
}

pub fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_over(adjust, |store| store)
}

/// A collector over the store as `wrap` changes it (to inject a failure).
pub fn spawn_app_over(
    adjust: impl FnOnce(&mut Config),
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send + 'static,
) -> TestApp {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut config = Config::for_data_dir(dir.path().join("data"));
    config.admin_token = Some(Secret::new(ADMIN_TOKEN.into()));
    config.allow_origins = vec![ALLOWED_ORIGIN.into()];
    // Answers of a fixed day ([`submission`]'s) arrive soon after it, whenever the tests run.
    config.arrival_clock = Clock::fixed(ARRIVAL).expect("a timestamp");
    adjust(&mut config);
    let backend = Backend::new(&config.data);
    start(config, backend, dir, wrap)
}

fn start(
    config: Config,
    backend: Backend,
    dir: tempfile::TempDir,
    wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send + 'static,
) -> TestApp {
    let (tx, rx) = mpsc::channel();
    let (serving, opening) = (config.clone(), backend.clone());
    let thread = thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            let store = opening.open(serving.cache_mib);
            let running =
                collector::start_with_store(serving, wrap(store)).expect("the collector starts");
            let ingest = running.ingest.clone();
            tx.send((running.addr, running.handle()))
                .expect("the test is waiting");
            running.server.await.expect("the server runs");
            ingest.shutdown();
        });
    });
    let (addr, handle) = rx.recv().expect("the collector started");
    TestApp {
        base: format!("http://{addr}"),
        handle: Some(handle),
        thread: Some(thread),
        config,
        backend,
        dir: Some(dir),
    }
}

/// The backend the API tests run on: sled in the app's directory, or, with
/// `TOUCHPOINT_TEST_BACKEND=postgres` (a step of `cargo xtask test`), a fresh database on the
/// PostgreSQL server `cargo xtask test` started.
#[derive(Clone)]
pub enum Backend {
    Sled(std::path::PathBuf),
    Postgres(String),
}

impl Backend {
    /// The backend for a store under `data`.
    pub fn new(data: &std::path::Path) -> Self {
        if std::env::var("TOUCHPOINT_TEST_BACKEND").as_deref() == Ok("postgres") {
            let url = touchpoint_tests::postgres::fresh_database("api").unwrap_or_else(|| {
                panic!(
                    "TOUCHPOINT_TEST_BACKEND=postgres needs {}",
                    touchpoint_tests::postgres::ENV
                )
            });
            return Self::Postgres(url);
        }
        Self::Sled(data.to_owned())
    }

    /// Opens the store (again), with a sled page cache of `cache_mib` MiB.
    pub fn open(&self, cache_mib: u64) -> Arc<dyn Store> {
        match self {
            Self::Postgres(url) => {
                Arc::new(PgStore::open(url).expect("the PostgreSQL store opens"))
            }
            Self::Sled(data) => {
                Arc::new(SledStore::open_with_cache(data, cache_mib).expect("the store opens"))
            }
        }
    }
}

impl TestApp {
    fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            // The stop command is sent when `stop` is called; the returned future only waits.
            drop(handle.stop(true));
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops the collector and starts it again, with the same configuration, on the same store
    /// as `wrap` changes it.
    pub fn restart_over(
        mut self,
        wrap: impl FnOnce(Arc<dyn Store>) -> Arc<dyn Store> + Send + 'static,
    ) -> TestApp {
        self.stop();
        let dir = self.dir.take().expect("the app's directory");
        start(self.config.clone(), self.backend.clone(), dir, wrap)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A status and the JSON body (or `Value::String` of a non-JSON body).
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// The value of header `name` (any case) among `headers`.
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A response whatever its status (an error status is an answer too), with its status and
/// headers.
fn answered(
    result: Result<ureq::Response, ureq::Error>,
) -> (ureq::Response, u16, Vec<(String, String)>) {
    let response = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("transport error: {e}"),
    };
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .filter_map(|n| response.header(&n).map(|v| (n.clone(), v.to_owned())))
        .collect();
    (response, status, headers)
}

fn reply(result: Result<ureq::Response, ureq::Error>) -> Reply {
    let (response, status, headers) = answered(result);
    let text = response.into_string().expect("a readable body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| Value::String(text.clone()));
    Reply {
        status,
        headers,
        body,
        text,
    }
}

impl TestApp {
    /// Signs in to the dashboard with the admin token: the answer, not followed (a redirect with
    /// the session cookie).
    pub fn sign_in(&self) -> ureq::Response {
        ureq::builder()
            .redirects(0)
            .build()
            .post(&self.url("/dashboard/session"))
            .set("Content-Type", "application/x-www-form-urlencoded")
            .send_string(&format!("token={ADMIN_TOKEN}"))
            .expect("a redirect")
    }

    /// Signs in to the dashboard; the session cookie's `name=value`.
    pub fn session(&self) -> String {
        self.sign_in()
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("a session cookie")
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn post(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = ureq::post(&self.url(path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        reply(request.send_string(body))
    }

    /// Posts like the widget does: `text/plain`, no `Origin` (same as a non-browser client).
    pub fn submit(&self, body: &Value) -> Reply {
        self.post(
            "/v1/responses",
            &body.to_string(),
            &[("Content-Type", "text/plain")],
        )
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = ureq::get(&self.url(path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        reply(request.call())
    }

    /// A GET whose body is kept as bytes (a gzip body is not text): status, headers, body.
    pub fn get_bytes(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let mut request = ureq::get(&self.url(path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        let (response, status, headers) = answered(request.call());
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).expect("a body");
        (status, headers, body)
    }

    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = ureq::request(method, &self.url(path));
        for (name, value) in headers {
            request = request.set(name, value);
        }
        reply(request.call())
    }

    /// The NDJSON export, one value per stored record.
    pub fn export(&self, query: &str) -> Vec<Value> {
        let reply = self.get(
            &format!("/v1/export?format=ndjson{query}"),
            &[("Authorization", &format!("Bearer {ADMIN_TOKEN}"))],
        );
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply
            .text
            .lines()
            .map(|l| serde_json::from_str(l).expect("each line is JSON"))
            .collect()
    }
}

/// A valid submission; `n` makes the id unique.
pub fn submission(n: u32) -> Value {
    json!({
        "id": format!("0192f1a4-7b3c-7def-8a90-{n:012}"),
        "survey": {"id": "core-cx", "version": 1},
        "channel": "web",
        "touchpoint": "checkout",
        "answers": {"effort": 6, "confidence": 4, "emotion": "pleased"},
        "locale": "en",
        "context": {"page": "/checkout"},
        "submitted_at": "2026-11-22T10:00:00Z"
    })
}
