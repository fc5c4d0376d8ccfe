//! The release collector as the benchmarks and the soak run it: started on a free port and waited
//! for, stopped, spoken to over one kept-alive connection, its store seeded and counted and its
//! memory read.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::target_dir;

/// A binary of the release build (`touchpoint-collector`, `examples/bare_endpoint`).
pub fn release(name: &str) -> PathBuf {
    target_dir().join("release").join(name)
}

/// A server process that is stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    log: PathBuf,
}

impl Server {
    /// Spawns `command` with its stderr in `log` and waits (up to 20 s) until `addr` accepts.
    pub fn start(command: &mut Command, log: PathBuf, addr: &str) -> Result<Self, String> {
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = command
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .map_err(|e| format!("{}: {e}", crate::describe(command)))?;
        let server = Self { child, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                return Err(format!(
                    "nothing listens on {addr}; see {}",
                    server.log.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM and wait; returns the log.
    pub fn stop(mut self) -> String {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The collector serving `data` on `addr` as the benchmarks run it: two workers, no rate limit
/// (the load comes from one address).
pub fn serve_command(addr: &str, data: &Path) -> Command {
    let mut command = Command::new(release("touchpoint-collector"));
    command
        .args([
            "serve",
            "--listen",
            addr,
            "--workers",
            "2",
            "--limit-per-address",
            "off",
            "--data",
        ])
        .arg(data);
    command
}

/// A loopback address nothing listens on yet.
pub fn free_addr() -> Result<String, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener
        .local_addr()
        .map_err(|e| e.to_string())?
        .to_string())
}

/// The last `name=value` the collector logged, without a trailing comma.
pub fn log_field(log: &str, name: &str) -> Option<String> {
    let start = log.rfind(&format!("{name}="))? + name.len() + 1;
    Some(
        log[start..]
            .split_whitespace()
            .next()?
            .trim_end_matches(',')
            .to_owned(),
    )
}

/// The store of `count` generated answers over a year in `data`, seeded when it holds another
/// number of answers.
pub fn seeded_in(data: PathBuf, count: u64) -> Result<PathBuf, String> {
    let binary = release("touchpoint-collector");
    if count_rows(&data).ok() != Some(count) {
        let _ = std::fs::remove_dir_all(&data);
        let started = Instant::now();
        crate::run(
            Command::new(&binary)
                .args([
                    "seed-demo",
                    "--count",
                    &count.to_string(),
                    "--days",
                    "365",
                    "--data",
                ])
                .arg(&data),
        )?;
        eprintln!(
            "seeded {count} answers in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(data)
}

/// Rows in a stopped store, counted by the offline export.
pub fn count_rows(data: &Path) -> Result<u64, String> {
    let output = Command::new(release("touchpoint-collector"))
        .args([
            "export",
            "--format",
            "ndjson",
            "--out",
            "/dev/null",
            "--data",
        ])
        .arg(data)
        .env("RUST_LOG", "info")
        .output()
        .map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&output.stderr);
    log_field(&log, "rows")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("export failed: {log}"))
}

/// A memory figure of process `pid` in KiB (`field`: `VmRSS:` now, `VmHWM:` at its peak); 0 when
/// it cannot be read.
pub fn rss_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// Sends one HTTP/1.1 `request` (written whole, so no Nagle delay) on a kept-alive connection and
/// reads the response, whose body has a `Content-Length`; returns the status and the body.
pub fn exchange(
    stream: &mut BufReader<TcpStream>,
    request: &str,
) -> Result<(u16, Vec<u8>), String> {
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut line = String::new();
    if stream.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
        return Err("the connection closed".into());
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("not an HTTP status line: {line:?}"))?;
    let mut length = None;
    loop {
        line.clear();
        if stream.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
            return Err("the connection closed".into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.trim().parse().map_err(|_| "a bad content-length")?);
            }
        }
    }
    let mut body = vec![0u8; length.ok_or("no content-length")?];
    stream.read_exact(&mut body).map_err(|e| e.to_string())?;
    Ok((status, body))
}

/// When this run started, as its answers' `submitted_at`: the collector refuses answers given more
/// than 14 days before they arrive, and an answer sent again must carry the same bytes.
pub fn run_started_at() -> &'static str {
    static AT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    AT.get_or_init(|| {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        protocol::Timestamp::from_unix_millis(millis)
            .as_str()
            .to_owned()
    })
}
