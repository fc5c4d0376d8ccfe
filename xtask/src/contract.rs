//! The contract step of `cargo xtask test`: Schemathesis, pinned and installed from PyPI into a
//! virtual environment of its own, tests the real collector binary against
//! `collector/openapi.json`, so the document and the behaviour keep agreeing.
//!
//! What no schema can say lives beside it, in `xtask/contract/`: `schemathesis.toml` (a survey
//! link is valid only when this collector signed it, a journey's period begins before it ends,
//! an action form is redirected to sign-in before it is read) and `hooks.py` (an answer's
//! invitation is valid only when signed, too). Every check is on.
//!
//! The collector runs over a temporary store on a free loopback port, with the rate limits off
//! (`--limit-per-address off --limit-per-device off --limit-wrong-credentials off`): the run posts
//! hundreds of answers and tries wrong credentials from one address, and a 429 there would hide
//! what it is looking for. It has the demo bank's organisation file, so departments and journeys
//! have something to show. Schemathesis sends the admin token on every request, so the admin
//! routes are tested past their guard, and its `ignored_auth` check drops the token to see that
//! they refuse without it.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::{cargo, describe, root, run, target_dir, tools};

/// The Schemathesis release the contract is checked with; a new one is a deliberate change here.
const SCHEMATHESIS: &str = "4.32.5";

/// Generated cases per operation in each phase: enough to reach every documented parameter and
/// status, few enough that the step stays short on a shared two-core machine.
const MAX_EXAMPLES: &str = "40";

/// The same cases on every run, so a failure in CI is the failure you get locally;
/// `TOUCHPOINT_CONTRACT_SEED` explores others.
const DEFAULT_SEED: &str = "13";

/// The whole run is stopped (and fails) past this, whatever hangs; it takes under a minute.
/// (Not Schemathesis's `--max-time`, which makes fuzzing repeat until the time is spent.)
const DEADLINE: Duration = Duration::from_secs(10 * 60);

/// Installs Schemathesis when missing, starts the collector, runs every check against it.
pub fn check() -> Result<(), String> {
    let schemathesis = ensure_schemathesis()?;
    // The debug binary the tests step builds, built the same way: after that step, a no-op.
    run(cargo().args("test --workspace --exclude touchpoint-widget --no-run".split(' ')))?;
    let binary = target_dir().join("debug/touchpoint-collector");
    let dir = target_dir().join(format!("contract-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let token = tools::random_token()?;
    let mut collector = Collector::start(&binary, &dir, &token)?;
    let seed = std::env::var("TOUCHPOINT_CONTRACT_SEED").unwrap_or_else(|_| DEFAULT_SEED.into());
    let result = schemathesis_run(&schemathesis, &collector.base, &token, &seed, &dir);
    collector.stop();
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Err(_) => eprintln!(
            "contract: the collector's log is {}; rerun with TOUCHPOINT_CONTRACT_SEED={seed}",
            dir.join("collector.log").display()
        ),
    }
    result
}

/// `.tools/schemathesis-<version>/bin/schemathesis`, made with `python3 -m venv` and pip the first
/// time; a later run finds it and installs nothing.
fn ensure_schemathesis() -> Result<PathBuf, String> {
    let venv = root().join(format!(".tools/schemathesis-{SCHEMATHESIS}"));
    let program = venv.join("bin/schemathesis");
    let installed = Command::new(&program)
        .arg("--version")
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains(SCHEMATHESIS)
        });
    if installed {
        return Ok(program);
    }
    run(Command::new("python3")
        .args(["-m", "venv", "--clear"])
        .arg(&venv))
    .map_err(|e| format!("{e} (on Debian, `apt-get install python3-venv`)"))?;
    run(Command::new(venv.join("bin/pip")).args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        &format!("schemathesis=={SCHEMATHESIS}"),
    ]))?;
    Ok(program)
}

/// `schemathesis run` with every check on, bounded in cases per operation and in time.
fn schemathesis_run(
    program: &Path,
    base: &str,
    token: &str,
    seed: &str,
    dir: &Path,
) -> Result<(), String> {
    let settings = root().join("xtask/contract");
    let mut command = Command::new(program);
    command
        .arg("--config-file")
        .arg(settings.join("schemathesis.toml"))
        .env("SCHEMATHESIS_HOOKS", settings.join("hooks.py"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("run")
        .arg(format!("{base}/v1/openapi.json"))
        .args(["--url", base])
        .args(["--checks", "all"])
        .args(["--max-examples", MAX_EXAMPLES])
        .args(["--seed", seed])
        .args(["--workers", "1"])
        .args(["--request-timeout", "10"])
        .args(["--generation-database", "none"])
        .args(["--no-color"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        // Its report and any files it writes stay in the run's directory, not in the checkout.
        .current_dir(dir);
    // The token is a throwaway, but the echoed command need not show it.
    eprintln!("$ {}", describe(&command).replace(token, "<admin token>"));
    let mut child = command
        .spawn()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let status = crate::wait_at_most(&mut child, DEADLINE)?;
    if status.success() {
        Ok(())
    } else {
        Err(format!(
            "schemathesis found the document and the behaviour disagreeing ({status})"
        ))
    }
}

/// The real collector binary serving a temporary store on a free loopback port.
struct Collector {
    child: Child,
    base: String,
}

impl Collector {
    fn start(binary: &Path, dir: &Path, token: &str) -> Result<Self, String> {
        let log_path = dir.join("collector.log");
        let log =
            std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
        let mut child = Command::new(binary)
            .args("serve --listen 127.0.0.1:0 --workers 2".split(' '))
            .args("--limit-per-address off --limit-per-device off".split(' '))
            // The run sends wrong and missing credentials on purpose; past ten from an address,
            // everything that asks one would be 429 and the rest of the admin routes unseen.
            .args(["--limit-wrong-credentials", "off"])
            // The document describes the demo pages too, which only --demo serves.
            .arg("--demo")
            // The demo bank's departments and journeys, so /v1/journeys and reloads have some.
            .arg("--org")
            .arg(root().join("demo-site/northbank.toml"))
            .arg("--data")
            .arg(dir.join("data"))
            .env("TOUCHPOINT_ADMIN_TOKEN", token)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        // It logs `listening addr=127.0.0.1:PORT` once bound.
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            if let Some(addr) = text
                .split_once("listening addr=")
                .and_then(|(_, rest)| rest.split_whitespace().next())
            {
                return Ok(Self {
                    child,
                    base: format!("http://{addr}"),
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("the collector exited ({status}):\n{text}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!(
            "the collector did not report its address; see {}",
            log_path.display()
        ))
    }

    /// Its store is thrown away: no need for a clean shutdown.
    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
