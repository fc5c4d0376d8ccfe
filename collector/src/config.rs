//! Configuration: every flag also from the environment, documented defaults, secrets that never
//! print.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use secrecy::{ExposeSecret as _, SecretString};
use subtle::ConstantTimeEq as _;

use crate::{clock::Clock, limits::Rate};

/// Where the collector listens unless told.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The store's page cache unless told, in MiB. sled holds about this much of what it read in
/// resident memory; 128 held 111 MiB more than 16 after opening a million answers. The stats are
/// answered from memory and an export reads the few sealed blocks once; what a smaller cache
/// costs is more of the id index read from the file (the system's page cache) when a request is
/// checked for a duplicate (the README's "Where the disk and the memory go").
pub const DEFAULT_CACHE_MIB: u64 = 16;
/// Posts per client address unless told: generous, because a branch's kiosks share one address.
pub const DEFAULT_LIMIT_PER_ADDRESS: &str = "20/200";
/// Submissions per device unless told.
pub const DEFAULT_LIMIT_PER_DEVICE: &str = "2/30";
/// How long a post-call invitation link stays valid unless configured: 7 days.
pub const DEFAULT_TTL_SECS: u64 = 7 * 24 * 3600;
/// The longest invitation validity that may be configured: 10 years.
pub const MAX_TTL_SECS: u64 = 10 * 365 * 24 * 3600;
/// The shortest admin token accepted: shorter ones are refused at start.
pub const MIN_ADMIN_TOKEN_CHARS: usize = 32;
/// Wrong admin tokens and agent keys one client address may send, RATE/BURST a second: past the
/// burst, its attempts are answered 429 without being checked.
pub const AUTH_FAILURES: &str = "0.1/10";
/// Dashboard sign-ins per client address, RATE/BURST a second: a bucket of its own, so answers
/// from the same address cannot lock an administrator out.
pub const SIGN_INS: &str = "0.2/10";
/// How long a client has to send a request's head on a new connection.
pub const REQUEST_HEAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// How long a connection may stay out of a request (idle, or dripping the head of its next
/// request) before it is closed.
pub const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// How long a client has to send a request's whole body.
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections one client address may hold at once unless told: a branch's kiosks and browsers
/// share one address, each browser opening a few.
pub const DEFAULT_MAX_CONNECTIONS_PER_ADDRESS: usize = 256;
/// Largest batch body: room for the most items at a typical size.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// The largest `POST /v1/outcomes` body.
pub const MAX_OUTCOMES_BYTES: usize = 8 * 1024 * 1024;
/// Distinct touchpoints unless told: a large organisation's journeys, many times over.
pub const DEFAULT_MAX_TOUCHPOINTS: usize = 2_000;
/// Distinct sites (`context.site_id`) unless told: every branch of a large network.
pub const DEFAULT_MAX_SITES: usize = 5_000;
/// Distinct segments (`context.segment`) unless told.
pub const DEFAULT_MAX_SEGMENTS: usize = 1_000;
/// Distinct agents (`context.agent_id`) unless told: a large call centre's staff over years.
pub const DEFAULT_MAX_AGENTS: usize = 10_000;
/// Distinct devices (`context.site_id` + `context.device_id`) unless told.
pub const DEFAULT_MAX_DEVICES: usize = 10_000;

/// A dimension whose distinct values are bounded: anyone can post answers, so anyone could
/// otherwise invent values until every list, menu and stats day is too large to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bounded {
    Touchpoint,
    Site,
    Segment,
    Agent,
    Device,
}

impl Bounded {
    /// The submission's field that carries a new value of this dimension.
    pub fn field(self) -> &'static str {
        match self {
            Self::Touchpoint => "touchpoint",
            Self::Site => "context.site_id",
            Self::Segment => "context.segment",
            Self::Agent => "context.agent_id",
            Self::Device => "context.device_id",
        }
    }
}

/// How many distinct values of each [`Bounded`] dimension the collector accepts. Past a bound a
/// submission bringing a new value is refused (422 `too_many_values`); known values keep working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Bounds {
    /// Distinct touchpoints accepted; an answer with a new one past it is refused (422).
    #[arg(long = "max-touchpoints", env = "TOUCHPOINT_MAX_TOUCHPOINTS", default_value_t = DEFAULT_MAX_TOUCHPOINTS)]
    pub touchpoints: usize,
    /// Distinct sites (context.site_id) accepted.
    #[arg(long = "max-sites", env = "TOUCHPOINT_MAX_SITES", default_value_t = DEFAULT_MAX_SITES)]
    pub sites: usize,
    /// Distinct segments (context.segment) accepted.
    #[arg(long = "max-segments", env = "TOUCHPOINT_MAX_SEGMENTS", default_value_t = DEFAULT_MAX_SEGMENTS)]
    pub segments: usize,
    /// Distinct agents (context.agent_id) accepted.
    #[arg(long = "max-agents", env = "TOUCHPOINT_MAX_AGENTS", default_value_t = DEFAULT_MAX_AGENTS)]
    pub agents: usize,
    /// Distinct devices (context.site_id + context.device_id) accepted.
    #[arg(long = "max-devices", env = "TOUCHPOINT_MAX_DEVICES", default_value_t = DEFAULT_MAX_DEVICES)]
    pub devices: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self {
            touchpoints: DEFAULT_MAX_TOUCHPOINTS,
            sites: DEFAULT_MAX_SITES,
            segments: DEFAULT_MAX_SEGMENTS,
            agents: DEFAULT_MAX_AGENTS,
            devices: DEFAULT_MAX_DEVICES,
        }
    }
}

impl Bounds {
    /// No bound at all: for restoring a backup and generating demo data, which must take
    /// whatever they are given.
    pub const NONE: Self = Self {
        touchpoints: usize::MAX,
        sites: usize::MAX,
        segments: usize::MAX,
        agents: usize::MAX,
        devices: usize::MAX,
    };

    pub fn of(&self, dimension: Bounded) -> usize {
        match dimension {
            Bounded::Touchpoint => self.touchpoints,
            Bounded::Site => self.sites,
            Bounded::Segment => self.segments,
            Bounded::Agent => self.agents,
            Bounded::Device => self.devices,
        }
    }
}
/// The key the demo agent console (`demo-site/agent.html`) sends. It is public, in the page and in
/// this repository, so it is accepted only with `--demo`.
pub const DEMO_AGENT_KEY: &str = "demo-console";

/// A value that must never reach a log line or a debug print (`secrecy` redacts it), compared
/// only in constant time.
#[derive(Debug, Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(SecretString::from(value))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// A new random secret: 32 bytes from the operating system, as 64 hex digits.
    pub fn generate() -> std::io::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::getrandom(&mut bytes)
            .map_err(|_| std::io::Error::other("the system random source failed"))?;
        let hex = bytes.iter().fold(String::with_capacity(64), |mut hex, b| {
            hex.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
            hex.push(char::from_digit(u32::from(b & 15), 16).unwrap_or('0'));
            hex
        });
        Ok(Self::new(hex))
    }

    /// Whether `given` is this secret, compared without an early exit (`subtle`), so the time
    /// taken says nothing about the secret.
    pub fn matches(&self, given: &str) -> bool {
        bool::from(given.as_bytes().ct_eq(self.expose().as_bytes()))
    }
}

/// The certificate chain and private key HTTPS is served with (PEM files).
#[derive(Debug, Clone)]
pub struct Tls {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

/// How long browsers are told to use HTTPS only, once they have reached the collector over it.
pub const HSTS: &str = "max-age=31536000";

/// What `serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub data: PathBuf,
    /// `--store postgres://…`: the PostgreSQL database the collectors share (a secret: the URL
    /// may hold a password); `None`: the sled store under `data`.
    pub store: Option<Secret>,
    /// Origins (`scheme://host[:port]`) whose pages may post answers; the collector's own pages are
    /// always allowed.
    pub allow_origins: Vec<String>,
    /// The organisation file (`--org`): departments, touchpoints, journeys. `None`: departments
    /// are the channels.
    pub org: Option<std::path::PathBuf>,
    /// Serve HTTPS with this certificate chain and key (PEM files); `None`: plain HTTP (behind
    /// a proxy that terminates TLS, or on loopback).
    pub tls: Option<Tls>,
    /// The collector's own origin as its users reach it (`--public-url`), for the links it
    /// issues and to tell its own pages' posts; `None`: as each request reached it.
    pub public_url: Option<String>,
    /// Enables export (and later stats and the dashboard). `None` disables the admin routes.
    pub admin_token: Option<Secret>,
    /// HTTP worker threads; `None` means one per core.
    pub workers: Option<usize>,
    /// The store's page cache in MiB: what bounds its memory.
    pub cache_mib: u64,
    /// Posts per client address (`None`: unlimited).
    pub limit_per_address: Option<Rate>,
    /// Submissions per device (touchpoint + `context.device_id`; `None`: unlimited).
    pub limit_per_device: Option<Rate>,
    /// Wrong admin tokens and agent keys per client address (`None`: unlimited).
    pub limit_wrong_credentials: Option<Rate>,
    /// Connections one client address may hold at once.
    pub max_connections_per_address: usize,
    /// Proxies whose `X-Forwarded-For` is believed; from anyone else it is ignored.
    pub trusted_proxies: Vec<IpAddr>,
    /// Keys of the agents' consoles, which may ask for post-call invitations.
    pub agent_keys: Vec<Secret>,
    /// Signs invitations; `None`: a secret made once in the data directory.
    pub invitation_secret: Option<Secret>,
    /// How long an invitation link stays valid, in seconds.
    pub invitation_ttl_secs: u64,
    /// Refuse agent-channel answers that carry no invitation (the default; off with
    /// `--allow-uninvited-agent-answers`).
    pub require_invitation: bool,
    /// `--allow-private-webhooks`: endpoints on loopback, private or link-local addresses may be
    /// posted to.
    pub allow_private_webhooks: bool,
    /// The delays between a webhook's attempts (`--webhook-retries`); empty: the Standard
    /// Webhooks schedule, 5 s to 24 h.
    pub webhook_retries: Vec<std::time::Duration>,
    /// How many distinct touchpoints, sites, segments, agents and devices are accepted.
    pub bounds: Bounds,
    /// Serve the demo site (`/`, `/demo/web`, `/demo/kiosk`, `/demo/agent`) and accept its agent
    /// key ([`DEMO_AGENT_KEY`]); `--demo`, off unless asked for.
    pub demo: bool,
    /// What ingest takes as an answer's arrival when it bounds `submitted_at`: the system clock
    /// (tests fix it, so answers of a fixed day stay within the bounds).
    pub arrival_clock: Clock,
}

impl Config {
    /// Refuses what cannot be served safely, with the rule it breaks.
    pub fn check(&self) -> Result<(), String> {
        if let Some(token) = &self.admin_token {
            if token.expose().chars().count() < MIN_ADMIN_TOKEN_CHARS {
                return Err(format!(
                    "TOUCHPOINT_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters (a random one: `openssl rand -hex 32`)"
                ));
            }
        }
        Ok(())
    }

    /// A configuration for tests and tools: loopback on a free port, nothing allowed cross-origin.
    pub fn for_data_dir(data: PathBuf) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data,
            store: None,
            allow_origins: Vec::new(),
            public_url: None,
            tls: None,
            org: None,
            admin_token: None,
            workers: Some(2),
            cache_mib: 64,
            limit_per_address: None,
            limit_per_device: None,
            limit_wrong_credentials: Rate::parse(AUTH_FAILURES).expect("the default parses"),
            max_connections_per_address: DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
            trusted_proxies: Vec::new(),
            agent_keys: Vec::new(),
            invitation_secret: None,
            invitation_ttl_secs: DEFAULT_TTL_SECS,
            require_invitation: true,
            allow_private_webhooks: false,
            webhook_retries: Vec::new(),
            bounds: Bounds::default(),
            demo: false,
            arrival_clock: Clock::System,
        }
    }

    /// The keys the agents' consoles may use: those configured, and the demo console's public
    /// key only with `--demo` (without it, a configured demo key is dropped with a warning).
    pub fn agent_keys(&self) -> Vec<Secret> {
        let mut keys: Vec<Secret> = self
            .agent_keys
            .iter()
            .filter(|key| {
                let demo_key = key.matches(DEMO_AGENT_KEY);
                if demo_key && !self.demo {
                    tracing::warn!("the demo console's key is accepted only with --demo: ignored");
                }
                !demo_key
            })
            .cloned()
            .collect();
        if self.demo {
            keys.push(Secret::new(DEMO_AGENT_KEY.to_owned()));
        }
        keys
    }
}

/// Makes the data directory its owner's alone: the directory (and those in it) 0700, its files
/// 0600. The collector also runs with umask 077, so what it writes later is private too.
pub fn keep_private(data: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut dirs = vec![data.to_owned()];
    while let Some(dir) = dirs.pop() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                dirs.push(entry.path());
            } else if kind.is_file() {
                std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

/// Checks and normalises an `--allow-origin` value: `scheme://host[:port]`, no path, lower case.
pub fn parse_origin(text: &str) -> Result<String, String> {
    let trimmed = text.trim().trim_end_matches('/').to_ascii_lowercase();
    let rest = trimmed
        .strip_prefix("https://")
        .or_else(|| trimmed.strip_prefix("http://"))
        .ok_or_else(|| format!("origin {text:?} must start with http:// or https://"))?;
    let valid_host = !rest.is_empty()
        && rest
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b':' | b'[' | b']'));
    if !valid_host {
        return Err(format!(
            "origin {text:?} must be scheme://host[:port], without a path"
        ));
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_print() {
        let config = Config {
            admin_token: Some(Secret::new("hunter2-hunter2".into())),
            ..Config::for_data_dir("d".into())
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn a_short_admin_token_is_refused() {
        let with = |token: &str| Config {
            admin_token: Some(Secret::new(token.into())),
            ..Config::for_data_dir("d".into())
        };
        assert!(with(&"t".repeat(31)).check().is_err());
        assert!(with(&"t".repeat(32)).check().is_ok());
        assert!(
            Config::for_data_dir("d".into()).check().is_ok(),
            "no token: admin off"
        );
    }

    #[test]
    fn the_demo_key_is_an_agent_key_only_in_a_demo() {
        let mut config = Config {
            agent_keys: vec![
                Secret::new("console-key".into()),
                Secret::new(DEMO_AGENT_KEY.into()),
            ],
            ..Config::for_data_dir("d".into())
        };
        let accepts =
            |config: &Config, key: &str| config.agent_keys().iter().any(|k| k.matches(key));
        assert!(accepts(&config, "console-key"));
        assert!(!accepts(&config, DEMO_AGENT_KEY));
        config.demo = true;
        assert!(accepts(&config, DEMO_AGENT_KEY));
        config.agent_keys.clear();
        assert!(
            accepts(&config, DEMO_AGENT_KEY),
            "--demo alone brings its key"
        );
    }

    #[test]
    fn a_secret_matches_only_itself_in_full() {
        let secret = Secret::new("secret-token".into());
        assert!(secret.matches("secret-token"));
        assert!(!secret.matches("secret-tokem"));
        assert!(!secret.matches("secret-token-and-more"));
        assert!(!secret.matches(""));
        assert!(!secret.matches("secret"));
    }

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(
            parse_origin("https://Shop.Example.com/"),
            Ok("https://shop.example.com".into())
        );
        assert_eq!(
            parse_origin("http://127.0.0.1:8081"),
            Ok("http://127.0.0.1:8081".into())
        );
        assert!(parse_origin("shop.example.com").is_err());
        assert!(parse_origin("https://shop.example.com/checkout").is_err());
        assert!(parse_origin("https://").is_err());
    }
}
