//! `cargo xtask bench webhooks`: events out, measured in one run against a receiver on loopback
//! (an HTTP/1.1 server in this process that answers 200, or closes connections while it is away):
//!
//! 1. alert latency: 100 answers a second for 20 s, one in ten low on a touchpoint of its own, so
//!    each opens an alert; from each low answer's 201 to its `alert.opened` at the receiver;
//! 2. a backlog: 10,000 answers stored while the endpoint is away (each failed at least once);
//!    from its return (and one new answer) until all 10,000 `response.created` arrived;
//! 3. durable ingest with two endpoints against none: two collectors side by side, wrk rounds
//!    alternating; what the endpoints received meanwhile and what still waits afterwards.
//!
//! Every wait has a deadline: a run ends in bounded time or fails saying what did not happen.

use std::{
    collections::{HashMap, HashSet},
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use crate::{
    server::{exchange, free_addr, run_started_at, serve_command, Server},
    wrk::{median, wrk, WrkRun},
};

/// The admin token of the collectors this benchmark starts.
const TOKEN: &str = "bench-webhooks-admin-token-0123456789";
/// A `whsec_` secret for the endpoints (the receiver does not check it; the tests do).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// Answers a second while alert latency is measured, and for how long.
const RATE: u64 = 100;
const LOAD_SECONDS: u64 = 20;
/// Events queued for an endpoint that is away.
const BACKLOG: usize = 10_000;
/// The longest any wait may take.
const PATIENCE: Duration = Duration::from_secs(300);

/// What the receiver keeps: when each alert's `alert.opened` arrived (by scope), and the
/// `webhook-id`s of the `response.created` events it accepted.
#[derive(Default)]
struct Received {
    alerts: HashMap<String, Instant>,
    answers: HashSet<String>,
    /// Posts accepted, of every kind and endpoint.
    posts: usize,
}

struct Receiver {
    url: String,
    down: Arc<AtomicBool>,
    received: Arc<Mutex<Received>>,
}

impl Receiver {
    fn start() -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
        let url = format!(
            "http://{}/hook",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let down = Arc::new(AtomicBool::new(false));
        let received = Arc::new(Mutex::new(Received::default()));
        {
            let (down, received) = (Arc::clone(&down), Arc::clone(&received));
            std::thread::spawn(move || {
                for stream in listener.incoming().map_while(Result::ok) {
                    let (down, received) = (Arc::clone(&down), Arc::clone(&received));
                    std::thread::spawn(move || serve(stream, &down, &received));
                }
            });
        }
        Ok(Self {
            url,
            down,
            received,
        })
    }

    fn with<T>(&self, read: impl FnOnce(&Received) -> T) -> T {
        read(&self.received.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// One connection: requests read whole, answered 200, or closed unanswered while `down`.
fn serve(stream: TcpStream, down: &AtomicBool, received: &Mutex<Received>) {
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        let (mut length, mut id) = (0, String::new());
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                } else if name.eq_ignore_ascii_case("webhook-id") {
                    id = value.trim().to_owned();
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() || down.load(Ordering::SeqCst) {
            return;
        }
        let arrived = Instant::now();
        let body = String::from_utf8_lossy(&body);
        {
            let mut received = received.lock().unwrap_or_else(|p| p.into_inner());
            received.posts += 1;
            // The collector writes JSON with its keys sorted: `type` comes last.
            if body.ends_with(r#""type":"alert.opened"}"#) {
                if let Some(scope) = string_field(&body, "scope") {
                    received.alerts.entry(scope).or_insert(arrived);
                }
            } else if body.ends_with(r#""type":"response.created"}"#) {
                received.answers.insert(id);
            }
        }
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// The value of the first `"name":"…"` in compact JSON.
fn string_field(json: &str, name: &str) -> Option<String> {
    let start = json.find(&format!("\"{name}\":\""))? + name.len() + 4;
    Some(json[start..].split('"').next()?.to_owned())
}

/// Waits until `done` holds, at most [`PATIENCE`]; says what did not happen otherwise.
fn wait_until(what: &str, mut done: impl FnMut() -> Result<bool, String>) -> Result<(), String> {
    let deadline = Instant::now() + PATIENCE;
    while !done()? {
        if Instant::now() > deadline {
            return Err(format!("{what}: not within {} s", PATIENCE.as_secs()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// An answer's body: `n` makes the id unique.
fn answer(run: &str, n: u64, touchpoint: &str, effort: u64) -> String {
    format!(
        r#"{{"id":"bench-hook-{run}-{n:012}","survey":{{"id":"core-cx","version":1}},"channel":"web","touchpoint":"{touchpoint}","answers":{{"effort":{effort},"confidence":4,"emotion":"pleased"}},"locale":"en","submitted_at":"{}"}}"#,
        run_started_at()
    )
}

/// A kept-alive connection to `addr` that posts and reads.
struct Client {
    addr: String,
    stream: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: &str) -> Result<Self, String> {
        let stream = TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(Self {
            addr: addr.to_owned(),
            stream: BufReader::new(stream),
        })
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        kind: &str,
        body: &str,
    ) -> Result<(u16, String), String> {
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        let (status, body) = exchange(&mut self.stream, &request)?;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    fn post(&mut self, body: &str) -> Result<(), String> {
        match self.request("POST", "/v1/responses", "text/plain", body)? {
            (201, _) => Ok(()),
            (status, body) => Err(format!("an answer was answered {status}: {body}")),
        }
    }

    /// The figure of the `/metrics` line that starts with `series`.
    fn metric(&mut self, series: &str) -> Result<f64, String> {
        let (_, text) = self.request("GET", "/metrics", "text/plain", "")?;
        Ok(text
            .lines()
            .find_map(|l| l.strip_prefix(series))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0))
    }
}

/// An organisation file in `dir` whose `endpoints` (id, format, events) post to `url`, with the
/// one-answer alert `struggled` when there is an endpoint called `team`.
fn org_file(
    dir: &Path,
    name: &str,
    url: &str,
    endpoints: &[(&str, &str, &str)],
) -> Result<String, String> {
    let mut text = String::from("[organisation]\nname = \"Bench\"\n");
    for (id, format, events) in endpoints {
        text.push_str(&format!(
            "\n[[endpoint]]\nid = \"{id}\"\nurl = \"{url}\"\nsecret = \"env:TP_BENCH_HOOK\"\nformat = \"{format}\"\nevents = [{events}]\n"
        ));
    }
    if endpoints.iter().any(|(id, _, _)| *id == "team") {
        text.push_str("\n[[alert]]\nid = \"struggled\"\neffort_at_most = 2\nnotify = [\"team\"]\n");
    }
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| e.to_string())?;
    Ok(path.display().to_string())
}

/// A release collector over a fresh `dir/name` with the organisation file `org`, if any.
fn collector(dir: &Path, name: &str, org: Option<&str>) -> Result<(Server, String), String> {
    let data = dir.join(name);
    let _ = std::fs::remove_dir_all(&data);
    let addr = free_addr()?;
    let mut command: Command = serve_command(&addr, &data);
    command
        .env("RUST_LOG", "warn")
        .env("TOUCHPOINT_ADMIN_TOKEN", TOKEN)
        .env("TP_BENCH_HOOK", SECRET);
    if let Some(org) = org {
        command.args(["--org", org, "--allow-private-webhooks"]);
    }
    let server = Server::start(&mut command, dir.join(format!("{name}.log")), &addr)?;
    Ok((server, addr))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Part 1: from a low answer's 201 to its `alert.opened`, while [`RATE`] answers a second flow.
fn alert_latency(dir: &Path) -> Result<String, String> {
    let receiver = Receiver::start()?;
    let events = r#""response.created", "alert.opened""#;
    let org = org_file(
        dir,
        "alerts.toml",
        &receiver.url,
        &[("team", "standard-webhooks", events)],
    )?;
    let (_server, addr) = collector(dir, "hooks-alerts", Some(&org))?;
    let mut client = Client::connect(&addr)?;
    let mut sent = HashMap::new();
    let start = Instant::now();
    for n in 0..RATE * LOAD_SECONDS {
        let due = start + Duration::from_micros(1_000_000 / RATE * n);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if n % 10 == 0 {
            let touchpoint = format!("tp-{n}");
            client.post(&answer("alert", n, &touchpoint, 1))?;
            sent.insert(format!("touchpoint:{touchpoint}"), Instant::now());
        } else {
            client.post(&answer("alert", n, "checkout", 6))?;
        }
    }
    let offered = start.elapsed();
    wait_until("every alert.opened at the receiver", || {
        Ok(receiver.with(|r| r.alerts.len()) >= sent.len())
    })?;
    let mut latencies: Vec<f64> = receiver.with(|r| {
        r.alerts
            .iter()
            .filter_map(|(scope, at)| {
                Some(at.duration_since(*sent.get(scope)?).as_secs_f64() * 1e3)
            })
            .collect()
    });
    latencies.sort_by(f64::total_cmp);
    Ok(format!(
        "| from the 201 of a low answer to `alert.opened` at the receiver, {RATE} answers/s flowing ({} answers in {:.1} s, {} alerts) | p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms |",
        RATE * LOAD_SECONDS,
        offered.as_secs_f64(),
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(0.0),
    ))
}

/// Part 2: [`BACKLOG`] events queued while the endpoint is away, delivered after it returns.
fn backlog(dir: &Path) -> Result<String, String> {
    let receiver = Receiver::start()?;
    receiver.down.store(true, Ordering::SeqCst);
    let org = org_file(
        dir,
        "backlog.toml",
        &receiver.url,
        &[("team", "standard-webhooks", r#""response.created""#)],
    )?;
    let (_server, addr) = collector(dir, "hooks-backlog", Some(&org))?;
    let mut client = Client::connect(&addr)?;
    for batch in 0..(BACKLOG / 100) as u64 {
        let items: Vec<String> = (0..100)
            .map(|i| answer("backlog", batch * 100 + i, "checkout", 6))
            .collect();
        let (status, body) = client.request(
            "POST",
            "/v1/responses/batch",
            "application/json",
            &format!("[{}]", items.join(",")),
        )?;
        if status != 200 || body.matches(r#""status":"stored""#).count() != 100 {
            return Err(format!("a batch was not stored whole: {status} {body}"));
        }
    }
    let failed = r#"touchpoint_webhook_deliveries_total{endpoint="team",outcome="failed"}"#;
    wait_until(
        "every queued event failed once while the endpoint was away",
        || Ok(client.metric(failed)? >= BACKLOG as f64),
    )?;
    receiver.down.store(false, Ordering::SeqCst);
    let back = Instant::now();
    // A new answer is due at once: its acceptance tells the collector the endpoint is back.
    client.post(&answer("backlog", BACKLOG as u64, "checkout", 6))?;
    wait_until("the backlog delivered", || {
        Ok(receiver.with(|r| r.answers.len()) > BACKLOG)
    })?;
    Ok(format!(
        "| {BACKLOG} events queued while the endpoint was away, all delivered after it came back | {:.2} s |",
        back.elapsed().as_secs_f64()
    ))
}

/// Part 3: wrk against a collector with two endpoints and one without, rounds alternating.
fn ingest_with_endpoints(dir: &Path, seconds: u64, rounds: usize) -> Result<String, String> {
    let receiver = Receiver::start()?;
    let events = r#""response.created""#;
    let org = org_file(
        dir,
        "two.toml",
        &receiver.url,
        &[
            ("one", "standard-webhooks", events),
            ("two", "slack", events),
        ],
    )?;
    let (_plain, plain) = collector(dir, "hooks-none", None)?;
    let (_hooked, hooked) = collector(dir, "hooks-two", Some(&org))?;
    let url = |addr: &str| format!("http://{addr}/v1/responses");
    wrk(dir, &url(&plain), "hooks-warm-none", 2)?;
    wrk(dir, &url(&hooked), "hooks-warm-two", 2)?;
    let (mut none, mut two) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let a = wrk(dir, &url(&plain), &format!("hooks-none{round}"), seconds)?;
        let b = wrk(dir, &url(&hooked), &format!("hooks-two{round}"), seconds)?;
        eprintln!(
            "round {round}: no endpoint {:.0} req/s p99 {:.2} ms | two endpoints {:.0} req/s p99 {:.2} ms",
            a.requests_per_sec, a.p99_ms, b.requests_per_sec, b.p99_ms
        );
        if a.non_2xx + b.non_2xx > 0 {
            return Err("a collector answered with a non-2xx status".into());
        }
        none.push(a);
        two.push(b);
    }
    let (_, queue) = Client::connect(&hooked)?.request("GET", "/v1/endpoints", "text/plain", "")?;
    let waiting = |name: &str| {
        queue
            .split_once(&format!("\"{name}\":"))
            .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let rps = |runs: &[WrkRun]| median(runs.iter().map(|r| r.requests_per_sec).collect());
    let p99 = |runs: &[WrkRun]| median(runs.iter().map(|r| r.p99_ms).collect());
    let (none_rps, two_rps) = (rps(&none), rps(&two));
    let stored: u64 = two.iter().map(|r| r.requests).sum();
    let delivered = receiver.with(|r| r.posts);
    Ok(format!(
        "| durable ingest, wrk -t1 -c32, {seconds} s x {rounds} alternating rounds (medians) | no endpoint {none_rps:.0} req/s (p99 {:.2} ms); two endpoints {two_rps:.0} req/s (p99 {:.2} ms): {:+.1} % |\n\
         | the two endpoints' events meanwhile | {delivered} posts accepted for {stored} answers (x 2 endpoints); after the last round {} events in the outbox, {} deliveries waiting |",
        p99(&none),
        p99(&two),
        100.0 * (two_rps - none_rps) / none_rps,
        waiting("outbox"),
        waiting("deliveries"),
    ))
}

/// The three parts in one run.
pub fn run(dir: &Path, seconds: u64, rounds: usize) -> Result<String, String> {
    crate::tools::ensure_apt(&[("wrk", "wrk")])?;
    let latency = alert_latency(dir)?;
    eprintln!("{latency}");
    let backlog = backlog(dir)?;
    eprintln!("{backlog}");
    let ingest = ingest_with_endpoints(dir, seconds, rounds)?;
    Ok(format!(
        "## Webhooks and alerts (receiver on loopback, release build)\n| what | figure |\n|---|---|\n{latency}\n{backlog}\n{ingest}\n"
    ))
}
