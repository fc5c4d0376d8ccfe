//! `cargo xtask`: the project's build, run, test and benchmark automation, std only.
//!
//! - `run`: builds what is needed and runs the collector on its embedded store (`./data`).
//! - `test`: installs what is missing, then runs every check and test: format, lints, unit,
//!   API and end-to-end tests against the real binary, and the OpenAPI contract (`contract`).
//! - `bench`: durable ingest against a bare endpoint, export of a million stored answers, stats
//!   over them, comment themes and the business view over them, the widget's main-thread cost,
//!   and a bounded soak at a steady rate.
//! - `size`: what a visitor downloads: the built files (gzip and Brotli bodies), and every byte
//!   measured in Chromium, over HTTPS and over HTTP, until an answer is delivered (or, for a
//!   visitor who never opens the survey, the page is idle).
//! - `circles`: whether modules of the collector, the widget or xtask import each other in a
//!   circle (also a step of `test`).
//!
//! Modules: `widget/` (the widget's build and size report), `bench`, `bench_ingest`,
//! `bench_postgres`, `bench_themes`, `bench_impact`, `bench_webhooks` and `soak` (the benchmarks)
//! over `server` (the release collector started, spoken to and measured), `circles` (the
//! import-circle check), `contract` (Schemathesis against the OpenAPI document), `tools`
//! (installing what is missing).

mod bench;
mod bench_impact;
mod bench_ingest;
mod bench_memory;
mod bench_postgres;
mod bench_themes;
mod bench_webhooks;
mod circles;
mod contract;
mod server;
mod soak;
mod tools;
mod widget;
mod wrk;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode, Stdio},
    sync::OnceLock,
};

const USAGE: &str = "\
usage: cargo xtask <command>

  run [--listen ADDR] [--data DIR]   build and run the collector (demo data on a fresh store)
  test                               install what is missing, then run every check and test
  bench [ingest|export|stats|postgres] [--seconds N] [--rounds N] [--count N]
                                     benchmarks; figures for the README
  bench ingest --before BINARY [--seconds N] [--rounds N]
                                     durable ingest of BINARY (an earlier collector build) and
                                     of this build, side by side: CPU and switches per request
  bench widget [--runs N] [--slow-network]
                                     the widget's main-thread cost in Chromium (long tasks), and
                                     the click to the survey, on loopback or a slow network
  bench backlog [--count N]          a kiosk's backlog of N answers drained under the default limits
  bench soak [--minutes N] [--rate R] [--duplicates PERCENT]
                                     steady load for a bounded time: latency, memory, disk
  bench themes [--count N] [--queries N] [--seconds N] [--rounds N]
                                     GET /v1/themes over N answers (30 % with a comment; each
                                     query --queries times, default 200), memory, the phrase
                                     table, ingest with a comment against without one
  bench impact [--count N]           POST /v1/outcomes per line and GET /v1/impact over N answers
  bench webhooks [--seconds N] [--rounds N]
                                     alert latency at 100 answers/s, 10,000 queued events
                                     delivered, ingest with two endpoints against none
  size                               build the widget and print its transfer size, also as
                                     measured in Chromium until an answer is delivered
                                     (over HTTPS with Brotli, and over HTTP with gzip)
  circles                            check that no modules import each other in a circle
  contract                           Schemathesis against the debug collector and its OpenAPI document
";

/// The workspace root (xtask lives one level below it).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask is inside the workspace")
        .to_owned()
}

/// The target directory cargo uses for this workspace: `$CARGO_TARGET_DIR` (relative to the
/// root, where [`cargo`] runs, if relative) or `target/`.
pub fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root().join(dir),
        _ => root().join("target"),
    }
}

/// Runs `command`, echoing it; an error names the command that failed.
pub fn run(command: &mut Command) -> Result<(), String> {
    eprintln!("$ {}", describe(command));
    let status = command
        .status()
        .map_err(|e| format!("{}: {e}", describe(command)))?;
    succeeded(command, status)
}

/// `Ok` when `command` exited with success, else an error that names it and its status.
fn succeeded(command: &Command, status: std::process::ExitStatus) -> Result<(), String> {
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{}` failed ({status})", describe(command)))
    }
}

/// [`run`], but a command still running after `limit` is stopped with everything it started,
/// and fails: a test that hangs fails its step, and the run goes on to report the others.
pub fn run_within(command: &mut Command, limit: std::time::Duration) -> Result<(), String> {
    eprintln!("$ {}", describe(command));
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", describe(command)))?;
    match wait_at_most(&mut child, limit) {
        Ok(status) => succeeded(command, status),
        Err(e) => Err(format!("`{}`: {e}", describe(command))),
    }
}

/// Waits for `child`; past `limit`, stops it and every process it started, and fails.
pub fn wait_at_most(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> Result<std::process::ExitStatus, String> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Ok(status);
        }
        if std::time::Instant::now() >= deadline {
            kill_tree(child.id());
            let _ = child.wait();
            return Err(format!(
                "still running after {} s, and stopped",
                limit.as_secs()
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// SIGKILLs `pid` and every process below it. Found through `/proc` rather than a process group
/// of their own, so Ctrl-C in the terminal still reaches them all.
fn kill_tree(pid: u32) {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let child: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
            let after = stat.get(stat.rfind(')')? + 1..)?;
            let parent = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((child, parent))
        })
        .collect();
    let mut tree = vec![pid];
    let mut i = 0;
    while let Some(&p) = tree.get(i) {
        tree.extend(parents.iter().filter(|(_, q)| *q == p).map(|(c, _)| *c));
        i += 1;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(tree.iter().map(u32::to_string))
        .stderr(Stdio::null())
        .status();
}

/// The command's stdout, or `None` when it cannot run or fails.
pub fn output(command: &mut Command) -> Option<String> {
    let out = command.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

pub fn describe(command: &Command) -> String {
    std::iter::once(command.get_program().to_string_lossy().into_owned())
        .chain(command.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A cargo command in the workspace. It carries the widget build's variables when the widget was
/// built in this run, so every cargo invocation sees the same collector build (no rebuild
/// between them).
pub fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    if let Some((dist, hash)) = WIDGET.get() {
        command
            .env("TOUCHPOINT_WIDGET_DIST", dist)
            .env("TOUCHPOINT_WIDGET_BUILD", hash);
    }
    command
}

/// The widget built in this run: its directory and a hash of its files.
static WIDGET: OnceLock<(PathBuf, String)> = OnceLock::new();

/// Installs the widget's tools when missing and builds it into `target/widget-dist`, once per run;
/// the collector built afterwards embeds it.
pub fn build_widget() -> Result<PathBuf, String> {
    if let Some((dist, _)) = WIDGET.get() {
        return Ok(dist.clone());
    }
    widget::ensure_tools(&root())?;
    let dist = widget::build(&root())?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dist)
        .map_err(|e| format!("{}: {e}", dist.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    names.sort();
    let mut all = Vec::new();
    for name in &names {
        all.extend(std::fs::read(name).map_err(|e| format!("{}: {e}", name.display()))?);
    }
    let _ = WIDGET.set((dist.clone(), format!("{:016x}", widget::fnv1a64(&all))));
    Ok(dist)
}

/// Builds the collector in release (plus `extra` cargo arguments), with the widget embedded (built
/// first when this run has not); returns the binary's path.
pub fn build_release_collector(extra: &[&str]) -> Result<PathBuf, String> {
    build_widget()?;
    run(cargo()
        .args("build --release -p touchpoint-collector --bin touchpoint-collector".split(' '))
        .args(extra))?;
    Ok(target_dir().join("release/touchpoint-collector"))
}

/// The value after `--name` in `args`, if given.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run_collector(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench::main(&args[1..]),
        Some("contract") => contract::check(),
        Some("size") => build_widget().and_then(|dist| {
            println!("{}", widget::size_report(&dist)?);
            println!("\n{}", widget::measured_report()?);
            Ok(())
        }),
        Some("circles") => circles::check(&root()),
        Some("help" | "--help" | "-h") | None => {
            print!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command {other:?}\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run_collector(args: &[String]) -> Result<(), String> {
    let listen = flag(args, "--listen").unwrap_or_else(|| "127.0.0.1:8080".into());
    let data = flag(args, "--data").map_or_else(|| root().join("data"), PathBuf::from);
    let binary = build_release_collector(&[])?;
    if !data.exists() {
        eprintln!(
            "A fresh store at {}: adding demo answers from every channel.",
            data.display()
        );
        run(Command::new(&binary)
            .arg("seed-demo")
            .arg("--data")
            .arg(&data))?;
    }
    let token = std::env::var("TOUCHPOINT_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
        .map_or_else(tools::random_token, Ok)?;
    let origin = format!("http://{listen}");
    // The demo agent console asks for post-call invitations with this key.
    let agent_keys = std::env::var("TOUCHPOINT_AGENT_KEYS")
        .ok()
        .filter(|k| !k.is_empty())
        .map_or_else(
            || DEMO_AGENT_KEY.to_owned(),
            |k| format!("{k},{DEMO_AGENT_KEY}"),
        );
    eprintln!(
        "\nTouchpoint collector on {origin}\n  demo:    {origin}/  (web: {origin}/demo/web, kiosk: {origin}/demo/kiosk, agent: {origin}/demo/agent)\n  dashboard: {origin}/dashboard  (sign in with the admin token below)\n  export:  curl -H 'Authorization: Bearer {token}' '{origin}/v1/export?format=csv'\n  (admin token for this run; set TOUCHPOINT_ADMIN_TOKEN to choose your own)\n"
    );
    run(Command::new(&binary)
        .args([
            "serve",
            "--listen",
            &listen,
            "--allow-origin",
            &origin,
            "--demo",
            "--data",
        ])
        .arg(&data)
        // The demo bank's departments, touchpoints and journeys.
        .arg("--org")
        .arg(root().join("demo-site/northbank.toml"))
        .env("TOUCHPOINT_ADMIN_TOKEN", &token)
        .env("TOUCHPOINT_AGENT_KEYS", agent_keys))
}

/// The key the demo agent console (`demo-site/agent.html`) sends; `cargo xtask run` accepts it.
const DEMO_AGENT_KEY: &str = "demo-console";

/// Debian's PostgreSQL server programs: `cargo xtask test` installs `postgresql` without them.
pub const INITDB: &str = "/usr/lib/postgresql/15/bin/initdb";

/// The longest a step of tests may run (each takes a few minutes, cold builds included): past
/// it, the step is stopped and fails, so a hang never outlasts CI's own limit unreported.
const STEP_LIMIT: std::time::Duration = std::time::Duration::from_secs(25 * 60);

/// Every check and test, in the order that fails fastest. Each step runs even when an earlier
/// one failed, so one run reports everything.
fn test() -> Result<(), String> {
    let started = std::time::Instant::now();
    let mut steps: Vec<(&str, Result<(), String>)> = Vec::new();
    let mut step = |name: &'static str, result: Result<(), String>| {
        if let Err(e) = &result {
            eprintln!("xtask test: {name} FAILED: {e}");
        }
        steps.push((name, result));
    };
    let words = |command: &'static str| command.split(' ');
    step("format", run(cargo().args(words("fmt --all -- --check"))));
    step("import circles", circles::check(&root()));
    step(
        "browser install",
        tools::ensure_apt(&[
            ("chromium", "chromium"),
            ("chromedriver", "chromium-driver"),
        ]),
    );
    step("widget build", build_widget().map(|_| ()));
    step(
        "lints",
        run(cargo().args(words(
            "clippy --workspace --exclude touchpoint-widget --all-targets -- -D warnings",
        ))),
    );
    step(
        "lints (wasm32)",
        run(cargo().args(words(
            "clippy -p touchpoint-widget --target wasm32-unknown-unknown --all-targets -- -D warnings",
        )))
        .and_then(|()| {
            // The web module: the widget without the kiosk and agent channels.
            run(cargo().args(words(
                "clippy -p touchpoint-widget --target wasm32-unknown-unknown --all-targets --no-default-features -- -D warnings",
            )))
        })
        .and_then(|()| {
            run(cargo().args(words(
                "clippy -p touchpoint-protocol --lib --target wasm32-unknown-unknown -- -D warnings",
            )))
        }),
    );
    let postgres = tools::ensure_apt(&[(INITDB, "postgresql")])
        .and_then(|()| touchpoint_tests::postgres::Postgres::start());
    let postgres_url: Result<String, String> = postgres
        .as_ref()
        .map(|server| server.url("postgres"))
        .map_err(Clone::clone);
    step("PostgreSQL for the tests", postgres_url.clone().map(drop));
    let mut tests = cargo();
    tests
        .args(words("test --workspace --exclude touchpoint-widget"))
        .env("CI", "true");
    if let Ok(url) = &postgres_url {
        tests.env(touchpoint_tests::postgres::ENV, url);
    }
    step("tests", run_within(&mut tests, STEP_LIMIT));
    step(
        "API tests on PostgreSQL",
        postgres_url.clone().and_then(|url| {
            // The in-process API tests, and the end-to-end ones about the API rather than
            // about sled's files (those are in `collector.rs` and `hardening.rs`).
            run_within(
                cargo()
                    .args(words(
                        "test -p touchpoint-collector -p touchpoint-tests --test api --test invitations --test outcomes",
                    ))
                    .env(touchpoint_tests::postgres::ENV, &url)
                    .env("TOUCHPOINT_TEST_BACKEND", "postgres")
                    .env("CI", "true"),
                STEP_LIMIT,
            )
        }),
    );
    drop(postgres);
    step(
        "widget tests (headless Chromium)",
        run_within(
            cargo()
                .args(words(
                    "test -p touchpoint-widget --target wasm32-unknown-unknown",
                ))
                .env("WASM_BINDGEN_TEST_TIMEOUT", "180"),
            STEP_LIMIT,
        )
        .and_then(|()| {
            run_within(
                cargo()
                    .args(words(
                        "test -p touchpoint-widget --target wasm32-unknown-unknown --no-default-features",
                    ))
                    .env("WASM_BINDGEN_TEST_TIMEOUT", "180"),
                STEP_LIMIT,
            )
        }),
    );
    step(
        "fuzz parse_submission (30 s)",
        run(cargo()
            .args(words(
                "test -p touchpoint-protocol --features json fuzz_parse_submission -- --ignored --nocapture",
            ))
            .env("TOUCHPOINT_FUZZ_SECONDS", "30")),
    );
    step("end-to-end browser tests", browser_tests());
    step("contract (Schemathesis)", contract::check());
    let failed: Vec<&str> = steps
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(n, _)| *n)
        .collect();
    let passed = steps.len() - failed.len();
    eprintln!(
        "xtask test: {} steps in {:.0}s",
        steps.len(),
        started.elapsed().as_secs_f64()
    );
    println!("xtask: {passed} passed, {} failed", failed.len());
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("failed: {}", failed.join(", ")))
    }
}

/// `tests/browser` with its npm packages installed when missing.
pub fn browser_packages() -> Result<PathBuf, String> {
    let dir = root().join("tests/browser");
    if !dir.join("node_modules/playwright-core").exists()
        || !dir.join("node_modules/axe-core").exists()
    {
        run(Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir))?;
    }
    Ok(dir)
}

/// `tests/browser`: Playwright (the library only, driving Debian's Chromium) against the debug
/// collector binary that `cargo test` just built with the widget embedded.
fn browser_tests() -> Result<(), String> {
    let dir = browser_packages()?;
    // A test that hangs fails after 5 minutes (the longest takes seconds); the runner exits when
    // the tests are done, even if one left a browser or a server behind.
    run_within(
        Command::new("node")
            .args([
                "--test",
                "--test-concurrency=1",
                "--test-reporter=spec",
                "--test-timeout=300000",
                "--test-force-exit",
            ])
            .arg(dir.join("widget.test.mjs"))
            .arg(dir.join("dashboard.test.mjs"))
            .arg(dir.join("themes.test.mjs"))
            .arg(dir.join("impact.test.mjs"))
            .arg(dir.join("channels.test.mjs"))
            .arg(dir.join("council.test.mjs"))
            .current_dir(&dir)
            .env("CARGO_TARGET_DIR", target_dir()),
        STEP_LIMIT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The state letter of `pid` in `/proc` (`Z` once killed and not yet reaped), if it exists.
    fn state(pid: &str) -> Option<char> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        stat.get(stat.rfind(')')? + 2..)?.chars().next()
    }

    #[test]
    fn a_step_past_its_limit_is_stopped_with_what_it_started() {
        let dir = std::env::temp_dir().join(format!("xtask-within-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let pid_file = dir.join("pid");
        let mut command = Command::new("sh");
        command.arg("-c").arg(format!(
            "sleep 600 & echo $! > {}.tmp && mv {0}.tmp {0}; wait",
            pid_file.display()
        ));
        let error = run_within(&mut command, std::time::Duration::from_secs(1))
            .expect_err("a command past its limit fails");
        assert!(error.contains("still running after 1 s"), "{error}");
        let grandchild =
            std::fs::read_to_string(&pid_file).expect("the shell wrote its child's pid");
        let grandchild = grandchild.trim();
        // SIGKILL is delivered when the process next runs: wait for it to be gone (or a zombie).
        let gone = (0..500).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(20));
            matches!(state(grandchild), None | Some('Z'))
        });
        assert!(
            gone,
            "the shell's child is stopped too: {:?}",
            state(grandchild)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_step_within_its_limit_reports_its_status() {
        assert!(run_within(
            &mut Command::new("true"),
            std::time::Duration::from_secs(60)
        )
        .is_ok());
        let error = run_within(
            &mut Command::new("false"),
            std::time::Duration::from_secs(60),
        )
        .expect_err("false fails");
        assert!(error.contains("failed"), "{error}");
    }
}
