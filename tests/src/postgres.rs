//! A PostgreSQL server of the machine's own binaries (Debian's `postgresql` package, under
//! `/usr/lib/postgresql/15/bin`) in a temporary directory on a free loopback port: what the
//! PostgreSQL tests run against, and what `cargo xtask test` starts for the whole run. It runs as
//! the `postgres` user when started by root (PostgreSQL refuses root).

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Where Debian puts the server's programs.
pub const BIN: &str = "/usr/lib/postgresql/15/bin";

/// The environment variable that names the server `cargo xtask test` started (a URL to its
/// `postgres` database); the tests that need PostgreSQL are skipped, saying so, without it.
pub const ENV: &str = "TOUCHPOINT_TEST_POSTGRES";

/// A server in its own directory, stopped (immediately) when dropped if this process started it.
pub struct Postgres {
    pub dir: PathBuf,
    pub port: u16,
    started_here: bool,
    _temp: Option<tempfile::TempDir>,
}

fn running_as_root() -> bool {
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) has no preconditions.
    let uid = unsafe { libc::geteuid() };
    uid == 0
}

/// `program` from [`BIN`], as the `postgres` user when this process is root.
fn command(program: &str) -> Command {
    let path = Path::new(BIN).join(program);
    if running_as_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(path);
        command
    } else {
        Command::new(path)
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{command:?}: {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{command:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

/// A free loopback port (bound and released: the server takes it right after).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

impl Postgres {
    /// A new cluster in a temporary directory, started.
    pub fn start() -> Result<Self, String> {
        let temp = tempfile::Builder::new()
            .prefix("touchpoint-pg")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let dir = temp.path().join("cluster");
        let mut server = Self::init(&dir, &[])?;
        server._temp = Some(temp);
        Ok(server)
    }

    /// A new cluster in `dir` (which must not exist), started with `settings` (`name=value`).
    pub fn init(dir: &Path, settings: &[&str]) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        Self::give_to_postgres(dir)?;
        run(command("initdb")
            .args([
                "--auth=trust",
                "--username=postgres",
                "--encoding=UTF8",
                "--no-instructions",
            ])
            .arg("-D")
            .arg(dir))?;
        let server = Self {
            dir: dir.to_owned(),
            port: free_port(),
            started_here: true,
            _temp: None,
        };
        let mut conf = format!(
            "listen_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\nmax_connections = 300\nshared_buffers = 32MB\nwal_level = replica\nmax_wal_senders = 4\n",
            server.port,
            dir.display()
        );
        for setting in settings {
            conf.push_str(setting);
            conf.push('\n');
        }
        append(&dir.join("postgresql.conf"), &conf)?;
        append(
            &dir.join("pg_hba.conf"),
            "host replication all 127.0.0.1/32 trust\n",
        )?;
        server.start_again()?;
        Ok(server)
    }

    /// A standby of `primary` in `dir`, streaming from it, started; `name` is its
    /// `application_name` (what `synchronous_standby_names` lists).
    pub fn standby_of(primary: &Postgres, dir: &Path, name: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        Self::give_to_postgres(dir)?;
        run(command("pg_basebackup")
            .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "stream", "-R"])
            .arg(format!("--port={}", primary.port))
            .arg("-D")
            .arg(dir))?;
        let server = Self {
            dir: dir.to_owned(),
            port: free_port(),
            started_here: true,
            _temp: None,
        };
        append(
            &dir.join("postgresql.conf"),
            &format!(
                // Promoted, it runs alone: it waits for no standby of its own.
                "port = {}\nunix_socket_directories = '{}'\nsynchronous_standby_names = ''\n",
                server.port,
                dir.display()
            ),
        )?;
        // After the line `pg_basebackup -R` wrote there, which it replaces.
        append(
            &dir.join("postgresql.auto.conf"),
            &format!(
                "primary_conninfo = 'host=127.0.0.1 port={} user=postgres application_name={name}'\n",
                primary.port
            ),
        )?;
        server.start_again()?;
        Ok(server)
    }

    fn give_to_postgres(dir: &Path) -> Result<(), String> {
        if running_as_root() {
            // The directories above must let the postgres user through.
            let mut up = dir.to_owned();
            while let Some(parent) = up.parent().map(Path::to_owned) {
                if parent.as_os_str().is_empty() || parent == Path::new("/") {
                    break;
                }
                if parent.starts_with(std::env::temp_dir()) && parent != std::env::temp_dir() {
                    run(Command::new("chmod").arg("a+x").arg(&parent))?;
                }
                up = parent;
            }
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir))?;
            run(Command::new("chmod").arg("700").arg(dir))?;
        }
        Ok(())
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn start_again(&self) -> Result<(), String> {
        run(command("pg_ctl")
            .args(["-w", "-t", "60", "-l"])
            .arg(self.dir.join("server.log"))
            .arg("-D")
            .arg(&self.dir)
            .arg("start")
            .stdout(Stdio::null()))
    }

    /// Stops the server (fast: open sessions are ended).
    pub fn stop(&self) -> Result<(), String> {
        run(command("pg_ctl")
            .args(["-w", "-m", "fast", "-D"])
            .arg(&self.dir)
            .arg("stop"))
    }

    /// SIGKILL to the postmaster and every process it started, as when its machine is lost: no
    /// checkpoint, no goodbye, no session left answering.
    pub fn kill(&self) {
        let pid = std::fs::read_to_string(self.dir.join("postmaster.pid"))
            .ok()
            .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok());
        if let Some(pid) = pid {
            let mut doomed = children_of(pid);
            doomed.push(pid);
            for pid in doomed {
                #[allow(unsafe_code)]
                // SAFETY: kill(2) on the server's postmaster (from its pid file) and its children.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
            let deadline = Instant::now() + Duration::from_secs(30);
            while Instant::now() < deadline && self.accepts() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Promotes a standby to primary, waiting until it takes writes.
    pub fn promote(&self) -> Result<(), String> {
        run(command("pg_ctl")
            .args(["-w", "-D"])
            .arg(&self.dir)
            .arg("promote"))
    }

    /// Whether something accepts connections on its port.
    pub fn accepts(&self) -> bool {
        std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
    }

    /// Runs `sql` in database `db` with `psql`; its output, unaligned and without headers.
    pub fn psql(&self, db: &str, sql: &str) -> Result<String, String> {
        let output = self
            .psql_command(db)
            .arg("-c")
            .arg(sql)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&output.stderr).into_owned())
        }
    }

    /// A `psql` session on database `db`, kept open: statements sent one at a time, so a
    /// transaction can be held open against the collectors.
    pub fn session(&self, db: &str) -> Result<Session, String> {
        let mut child = self
            .psql_command(db)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let (stdin, stdout) = match (child.stdin.take(), child.stdout.take()) {
            (Some(stdin), Some(stdout)) => (stdin, stdout),
            _ => return Err("psql's pipes".into()),
        };
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Session {
            child,
            stdin,
            lines,
            sent: 0,
        })
    }

    /// `psql` on database `db`: unaligned, without headers, stopping at the first error.
    fn psql_command(&self, db: &str) -> Command {
        let mut psql = command("psql");
        psql.args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
        ])
        .arg(format!("--port={}", self.port))
        .arg("-d")
        .arg(db);
        psql
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }
}

/// An open `psql` session ([`Postgres::session`]); ended (and its transaction with it) when
/// dropped.
pub struct Session {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    lines: std::sync::mpsc::Receiver<String>,
    sent: u64,
}

impl Session {
    /// Runs `sql` and waits (at most 10 s) until psql has carried it out; the lines it printed.
    pub fn run(&mut self, sql: &str) -> Result<Vec<String>, String> {
        use std::io::Write as _;
        self.sent += 1;
        let marker = format!("-- done {} --", self.sent);
        writeln!(self.stdin, "{sql}\n\\echo '{marker}'")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("psql: {e}"))?;
        let mut printed = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_secs(10)) {
                Ok(line) if line == marker => return Ok(printed),
                Ok(line) => printed.push(line),
                Err(_) => return Err(format!("psql did not carry out {sql}: {printed:?}")),
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if !self.started_here {
            return;
        }
        let _ = run(command("pg_ctl")
            .args(["-w", "-m", "immediate", "-D"])
            .arg(&self.dir)
            .arg("stop"));
    }
}

/// The processes whose parent is `pid` (from `/proc`).
fn children_of(pid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat"))
                .ok()
                .and_then(|stat| {
                    // After the command's closing parenthesis: state, then the parent's pid.
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(1)?.parse::<i32>().ok()
                })
                == Some(pid)
        })
        .collect()
}

fn append(path: &Path, text: &str) -> Result<(), String> {
    use std::io::Write as _;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The server `cargo xtask test` started ([`ENV`]), if one was named.
fn shared_server() -> Option<Postgres> {
    let admin = std::env::var(ENV).ok()?;
    let (base, _) = admin.rsplit_once('/')?;
    let port = base.rsplit_once(':')?.1.parse::<u16>().ok()?;
    Some(Postgres {
        dir: PathBuf::new(),
        port,
        started_here: false,
        _temp: None,
    })
}

/// A new, empty database on the server `cargo xtask test` started ([`ENV`]); its URL. `None`
/// when no server was named.
pub fn fresh_database(prefix: &str) -> Option<String> {
    shared_server().map(|server| server.create_database(prefix))
}

impl Postgres {
    /// A new, empty database on this server; its URL.
    pub fn create_database(&self, prefix: &str) -> String {
        let name = format!("{prefix}_{}", unique());
        self.psql("postgres", &format!("CREATE DATABASE {name}"))
            .expect("a test database is created");
        self.url(&name)
    }
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}_{n}_{nanos}", std::process::id())
}

/// A new, empty database for one test, and its server: the one `cargo xtask test` started
/// ([`ENV`]), or else one started for the test (stopped when dropped).
pub fn database(prefix: &str) -> (Postgres, String) {
    let server =
        shared_server().unwrap_or_else(|| Postgres::start().expect("a PostgreSQL server starts"));
    let url = server.create_database(prefix);
    (server, url)
}

/// With `TOUCHPOINT_TEST_BACKEND=postgres` (a step of `cargo xtask test`), the database that
/// stands for the data directory `data` on the server [`ENV`] names, created the first time, so
/// a collector started again over the same directory finds the same store.
pub fn store_for(data: &Path) -> Option<String> {
    if std::env::var("TOUCHPOINT_TEST_BACKEND").ok()? != "postgres" {
        return None;
    }
    let server = shared_server()?;
    // FNV-1a of the path: a name PostgreSQL takes, the same for the same directory.
    let hash = data
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
    let name = format!("dir_{hash:016x}");
    let exists = server
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        )
        .is_ok_and(|n| n == "1");
    if !exists {
        server
            .psql("postgres", &format!("CREATE DATABASE {name}"))
            .expect("a test database is created");
    }
    Some(server.url(&name))
}
