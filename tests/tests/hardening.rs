//! The public endpoint against a client that means harm (issue 13), on the real binary: slow and
//! held connections are closed, one address cannot hold every connection, the data directory is
//! private, and a wrong credential is logged without itself. Over TLS it speaks HTTP/2 as well as
//! HTTP/1.1 (issue 19).

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpStream},
    time::{Duration, Instant},
};

use touchpoint_tests::{submission, Collector, ADMIN_TOKEN};

/// Long enough for any deadline the collector promises (10 s) on a loaded machine; a connection
/// still open by then was never going to be closed.
const PATIENCE: Duration = Duration::from_secs(60);

fn address(collector: &Collector) -> SocketAddr {
    collector
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("an address")
}

/// Whether the server has closed `stream`, after writing `drip` (if any) to it.
fn closed_by_server(stream: &mut TcpStream, drip: &[u8]) -> bool {
    if !drip.is_empty() && stream.write_all(drip).is_err() {
        return true;
    }
    let mut buf = [0u8; 4096];
    match stream.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
        Err(_) => true,
    }
}

/// Drips `drip` into `stream` until the server closes it; panics after [`PATIENCE`].
fn wait_until_closed(stream: &mut TcpStream, drip: &[u8], what: &str) {
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("a read timeout");
    let started = Instant::now();
    while !closed_by_server(stream, drip) {
        assert!(started.elapsed() < PATIENCE, "{what}: still open");
    }
}

/// The status line of the answer on `stream`.
fn status_line(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("a read timeout");
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).trim().to_owned()
}

#[test]
fn issue_13_slow_and_idle_connections_are_closed() {
    let dir = tempfile::tempdir().expect("a directory");
    let collector = Collector::start(dir.path(), &[]);
    let addr = address(&collector);

    // A second request on a kept-alive connection whose head never ends.
    let mut dripping = TcpStream::connect(addr).expect("connected");
    dripping
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("sent");
    assert!(status_line(&mut dripping).contains("200"));
    dripping
        .write_all(b"GET /healthz HTTP/1.1\r\n")
        .expect("sent");
    wait_until_closed(&mut dripping, b"X", "a dripping second request");

    // A connection that never sends anything.
    let mut idle = TcpStream::connect(addr).expect("connected");
    wait_until_closed(&mut idle, b"", "an idle connection");

    // A body that never arrives in full: answered 408, not held.
    let mut slow = TcpStream::connect(addr).expect("connected");
    slow.write_all(
        b"POST /v1/responses HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 400\r\n\r\n{\"id\":",
    )
    .expect("sent");
    assert!(
        status_line(&mut slow).contains("408"),
        "a body that does not arrive is refused"
    );
    assert_eq!(
        ureq::get(&collector.url("/healthz"))
            .call()
            .map(|r| r.status())
            .ok(),
        Some(200)
    );
}

#[test]
fn issue_13_one_address_cannot_hold_every_connection() {
    let dir = tempfile::tempdir().expect("a directory");
    let collector = Collector::start(dir.path(), &["--max-connections-per-address", "8"]);
    let addr = address(&collector);
    // Another loopback address stands for the attacker, so the checks below come from elsewhere.
    let attacker: SocketAddr = "127.0.0.2:0".parse().expect("an address");
    let mut held: Vec<TcpStream> = (0..30)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("a socket");
            socket.bind(&attacker.into()).expect("bound");
            socket.connect(&addr.into()).expect("connected");
            let stream: TcpStream = socket.into();
            stream
                .set_read_timeout(Some(Duration::from_millis(100)))
                .expect("a read timeout");
            stream
        })
        .collect();
    // The connections past the cap are closed at once; wait until they are.
    let started = Instant::now();
    loop {
        let closed = held
            .iter_mut()
            .map(|s| closed_by_server(s, b""))
            .filter(|c| *c)
            .count();
        if closed >= 22 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5) + PATIENCE,
            "{closed} closed"
        );
    }
    let health = ureq::get(&collector.url("/healthz"))
        .call()
        .map(|r| r.status());
    assert_eq!(
        health.ok(),
        Some(200),
        "held connections do not starve /healthz"
    );
    assert!(
        collector
            .log()
            .contains("too many connections from one address"),
        "{}",
        collector.log()
    );
}

#[test]
fn issue_13_the_data_directory_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("a directory");
    let data = dir.path().join("data");
    let collector = Collector::start(&data, &[]);
    let body = submission(1).to_string();
    assert!(matches!(
        touchpoint_tests::post(&collector.base, &body),
        touchpoint_tests::Delivery::Acknowledged(201)
    ));
    assert!(collector.terminate(), "stopped cleanly");
    let mut dirs = vec![data];
    let mut files = 0;
    while let Some(dir) = dirs.pop() {
        let mode = std::fs::metadata(&dir)
            .expect("a directory")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
        for entry in std::fs::read_dir(&dir).expect("listed") {
            let entry = entry.expect("an entry");
            let meta = entry.metadata().expect("metadata");
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                files += 1;
                let mode = meta.permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{}", entry.path().display());
            }
        }
    }
    assert!(files > 0, "the store wrote files");
}

#[test]
fn issue_13_a_wrong_credential_is_logged_without_itself() {
    let dir = tempfile::tempdir().expect("a directory");
    let collector = Collector::start(dir.path(), &[]);
    let guess = "a-guessed-token-that-must-not-be-logged";
    let answer = ureq::get(&collector.url("/v1/export"))
        .set("Authorization", &format!("Bearer {guess}"))
        .call();
    assert!(matches!(answer, Err(ureq::Error::Status(401, _))));
    let logged = || collector.log();
    let started = Instant::now();
    while !logged().contains("a wrong credential") {
        assert!(started.elapsed() < PATIENCE, "{}", logged());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!logged().contains(guess));
    assert!(!logged().contains(ADMIN_TOKEN));
}

/// A collector serving HTTPS with a self-signed certificate for `localhost` (kept in `dir`), and
/// a TLS client configuration that trusts it.
fn tls_collector(dir: &std::path::Path) -> (Collector, rustls::ClientConfig) {
    let signed = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])
        .expect("a self-signed certificate");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, signed.cert.pem()).expect("written");
    std::fs::write(&key, signed.signing_key.serialize_pem()).expect("written");
    let collector = Collector::start(
        &dir.join("data"),
        &[
            "--tls-cert",
            cert.to_str().expect("a path"),
            "--tls-key",
            key.to_str().expect("a path"),
        ],
    );
    let mut roots = rustls::RootCertStore::empty();
    roots.add(signed.cert.der().clone()).expect("a root");
    let client = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    (collector, client)
}

/// Issue 13: with `--tls-cert` and `--tls-key` the collector serves HTTPS itself and tells
/// browsers to keep to it (HSTS); its links name https.
#[test]
fn issue_13_tls_serves_https_with_hsts() {
    let dir = tempfile::tempdir().expect("a directory");
    let (collector, client) = tls_collector(dir.path());
    let agent = ureq::AgentBuilder::new()
        .tls_config(std::sync::Arc::new(client))
        .build();
    let port = address(&collector).port();
    let health = agent
        .get(&format!("https://localhost:{port}/healthz"))
        .call()
        .expect("served over HTTPS");
    assert_eq!(health.status(), 200);
    assert_eq!(
        health.header("strict-transport-security"),
        Some("max-age=31536000")
    );
    let plain = ureq::get(&format!("http://127.0.0.1:{port}/healthz")).call();
    assert!(plain.is_err(), "no plain HTTP on the TLS port");
}

/// Issue 19: over TLS a client that offers only HTTP/2 (ALPN `h2`, as browsers negotiate it) gets
/// the widget's files and the instrument, with the same bodies and security headers as over
/// HTTP/1.1, and can post an answer, which a retry over HTTP/1.1 finds stored.
#[test]
fn issue_19_tls_speaks_http2_and_http11() {
    let dir = tempfile::tempdir().expect("a directory");
    let (collector, client) = tls_collector(dir.path());
    let port = address(&collector).port();
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let mut h2_only = client.clone();
    h2_only.alpn_protocols = vec![b"h2".to_vec()];
    let h2 = reqwest::blocking::Client::builder()
        .use_preconfigured_tls(h2_only)
        .http2_prior_knowledge()
        .build()
        .expect("an HTTP/2 client");
    let h1 = ureq::AgentBuilder::new()
        .tls_config(std::sync::Arc::new(client))
        .build();
    for path in ["/widget.js", "/v1/survey"] {
        let over_h2 = h2
            .get(url(path))
            .header("Accept-Encoding", "br")
            .send()
            .expect("served over HTTP/2");
        assert_eq!(over_h2.version(), reqwest::Version::HTTP_2, "{path}");
        let over_h1 = match h1.get(&url(path)).set("Accept-Encoding", "br").call() {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{path} over HTTP/1.1: {e}"),
        };
        assert_eq!(over_h1.http_version(), "HTTP/1.1", "{path}");
        assert_eq!(over_h2.status().as_u16(), over_h1.status(), "{path}");
        for name in [
            "content-type",
            "content-encoding",
            "cache-control",
            "strict-transport-security",
            "x-content-type-options",
            "vary",
        ] {
            assert_eq!(
                over_h2.headers().get(name).and_then(|v| v.to_str().ok()),
                over_h1.header(name),
                "{path}: {name}"
            );
        }
        let mut body = Vec::new();
        over_h1
            .into_reader()
            .read_to_end(&mut body)
            .expect("the HTTP/1.1 body");
        assert_eq!(
            over_h2.bytes().expect("the HTTP/2 body").as_ref(),
            body,
            "{path}"
        );
    }
    let answer = submission(1).to_string();
    let posted = h2
        .post(url("/v1/responses"))
        .header("Content-Type", "text/plain")
        .body(answer.clone())
        .send()
        .expect("posted over HTTP/2");
    assert_eq!(posted.version(), reqwest::Version::HTTP_2);
    assert_eq!(posted.status().as_u16(), 201, "stored");
    let again = h1
        .post(&url("/v1/responses"))
        .set("Content-Type", "text/plain")
        .send_string(&answer)
        .expect("posted over HTTP/1.1");
    assert_eq!(again.status(), 200, "the same answer again is a duplicate");
}
