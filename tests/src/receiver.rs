//! A real webhook receiver for the end-to-end tests: an HTTP/1.1 server on 127.0.0.1 that checks
//! every request's Standard Webhooks signature against the secret, keeps what it received, and
//! answers as the test tells it (fail the first attempts, go away, come back).

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde_json::Value;
use sha2::Sha256;

/// A test secret, as an endpoint's environment variable holds it.
pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An organisation file with one endpoint, `team`, at `url` (signing with [`SECRET`], taking
/// `events`: a TOML list's items), and an alert, `struggled`, on effort ≤ 2 at the checkout; its
/// path in `dir`.
pub fn org_file(dir: &std::path::Path, url: &str, events: &str) -> String {
    std::env::set_var("TP_TEST_HOOK_SECRET", SECRET);
    let path = dir.join("org.toml");
    std::fs::write(
        &path,
        format!(
            r#"
[organisation]
name = "Northbank"
timezone = "Europe/London"

[[department]]
id = "shop"
name = "Shop"

[[touchpoint]]
id = "checkout"
name = "Checkout"
department = "shop"

[[endpoint]]
id = "team"
url = "{url}"
secret = "env:TP_TEST_HOOK_SECRET"
events = [{events}]

[[alert]]
id = "struggled"
touchpoint = "checkout"
effort_at_most = 2
notify = ["team"]
"#
        ),
    )
    .expect("write the organisation file");
    path.display().to_string()
}

/// One request the receiver accepted (answered 2xx) or refused.
#[derive(Debug, Clone)]
pub struct Hook {
    pub id: String,
    pub timestamp: String,
    /// The `webhook-signature` header as it came.
    pub signature: String,
    /// The body's bytes, as signed.
    pub raw: Vec<u8>,
    pub body: Value,
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    hooks: Mutex<Vec<Hook>>,
    /// When each hook arrived, in the same order.
    arrived: Mutex<Vec<Instant>>,
    bad_signatures: AtomicUsize,
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
    /// With those 500s, ask for this many seconds' pause (`Retry-After`; 0: none).
    retry_after: AtomicUsize,
    /// Close every connection without an answer.
    down: AtomicBool,
    /// Answer every request with this status (0: the usual).
    always: AtomicUsize,
}

/// The running receiver; its thread ends with the test process.
pub struct Receiver {
    pub url: String,
    shared: Arc<Shared>,
}

impl Receiver {
    /// Starts a receiver that fails the first `fail_first` requests with 500.
    pub fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let shared = Arc::new(Shared::default());
        shared.fail_first.store(fail_first, Ordering::SeqCst);
        {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                for stream in listener.incoming().map_while(Result::ok) {
                    let shared = Arc::clone(&shared);
                    std::thread::spawn(move || serve(stream, &shared));
                }
            });
        }
        Self { url, shared }
    }

    /// Asks for `secs` seconds' pause (`Retry-After`) with each of the first failures.
    pub fn retry_after(&self, secs: usize) {
        self.shared.retry_after.store(secs, Ordering::SeqCst);
    }

    /// Whether the receiver is away (connections closed unanswered).
    pub fn set_down(&self, down: bool) {
        self.shared.down.store(down, Ordering::SeqCst);
    }

    /// Answers every request with `status` (0 for the usual answers).
    pub fn always(&self, status: u16) {
        self.shared.always.store(status as usize, Ordering::SeqCst);
    }

    /// Every request received, in order.
    pub fn hooks(&self) -> Vec<Hook> {
        self.shared
            .hooks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Every request received with when it arrived.
    pub fn arrivals(&self) -> Vec<(Hook, Instant)> {
        let arrived = self
            .shared
            .arrived
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        self.hooks().into_iter().zip(arrived).collect()
    }

    /// The requests answered 2xx.
    pub fn accepted(&self) -> Vec<Hook> {
        self.hooks()
            .into_iter()
            .filter(|h| (200..300).contains(&h.status))
            .collect()
    }

    /// Requests whose signature did not verify.
    pub fn bad_signatures(&self) -> usize {
        self.shared.bad_signatures.load(Ordering::SeqCst)
    }

    /// Waits (up to `limit`) until `done` holds for what was received; returns whether it did.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&[Hook]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            if done(&self.hooks()) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Whether `signature` (the header, possibly several space-separated) holds a valid `v1`
/// signature of `id.timestamp.body` under `secret`.
pub fn verify(secret: &str, id: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    );
    signature.split(' ').any(|s| s == expected)
}

fn serve(stream: TcpStream, shared: &Shared) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    loop {
        let mut headers = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            headers.push(trimmed.to_owned());
        }
        if shared.down.load(Ordering::SeqCst) {
            return; // away: the connection closes unanswered
        }
        let header = |name: &str| {
            headers.iter().find_map(|h| {
                let (k, v) = h.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let length: usize = header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let id = header("webhook-id").unwrap_or_default();
        let timestamp = header("webhook-timestamp").unwrap_or_default();
        let signature = header("webhook-signature").unwrap_or_default();
        let signed = verify(SECRET, &id, &timestamp, &body, &signature);
        if !signed {
            shared.bad_signatures.fetch_add(1, Ordering::SeqCst);
        }
        let always = shared.always.load(Ordering::SeqCst) as u16;
        let status = if !signed {
            401
        } else if always != 0 {
            always
        } else if shared
            .fail_first
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            500
        } else {
            200
        };
        let retry_after = match shared.retry_after.load(Ordering::SeqCst) {
            secs if secs > 0 && status == 500 => format!("retry-after: {secs}\r\n"),
            _ => String::new(),
        };
        let mut hooks = shared.hooks.lock().unwrap_or_else(|p| p.into_inner());
        shared
            .arrived
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Instant::now());
        hooks.push(Hook {
            id,
            timestamp,
            signature,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            raw: body,
            status,
        });
        drop(hooks);
        let answer = format!("HTTP/1.1 {status} X\r\n{retry_after}content-length: 0\r\n\r\n");
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}
