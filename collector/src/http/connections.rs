//! The connection guard: a cap on the connections one client address may hold, and a deadline on
//! a connection that is not in a request. actix-web times out only a connection's first request
//! head and idle keep-alive; a connection that drips the head of its second request, or holds
//! itself open, would otherwise hold a file descriptor forever. The guard shuts such sockets down
//! from a watchdog, so held connections never starve the others (`/healthz` among them).

use std::{
    any::Any,
    collections::HashMap,
    net::{IpAddr, Shutdown},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex, Weak,
    },
    time::Duration,
};

use std::{
    pin::Pin,
    task::{Context, Poll},
};

use actix_web::{
    body::{BodySize, BoxBody, MessageBody},
    dev::{Extensions, ServiceRequest, ServiceResponse},
    middleware::Next,
    rt::net::TcpStream,
    web::Bytes,
};

use actix_tls::accept::rustls_0_23::TlsStream;

use crate::clock;

/// How often the watchdog looks at a connection.
const TICK: Duration = Duration::from_millis(500);

/// Open connections per client address, shared by every worker.
#[derive(Debug, Default)]
pub struct Connections {
    open: Mutex<HashMap<IpAddr, usize>>,
    cap: usize,
    idle: Duration,
}

/// One connection's state, kept in its connection data and dropped when it closes.
#[derive(Debug)]
struct Connection {
    peer: IpAddr,
    registry: Arc<Connections>,
    /// Requests in progress: one at a time over HTTP/1.1, any number of streams over HTTP/2.
    in_request: AtomicUsize,
    /// When the connection last started or finished a request, in milliseconds.
    last_active: AtomicU64,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.registry.release(self.peer);
    }
}

impl Connections {
    /// At most `cap` connections per address; one not in a request is closed after `idle`.
    pub fn new(cap: usize, idle: Duration) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::default(),
            cap,
            idle,
        })
    }

    fn release(&self, peer: IpAddr) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&peer) {
            *n -= 1;
            if *n == 0 {
                open.remove(&peer);
            }
        }
    }

    /// Counts a new connection `io` against its address: past the cap it is shut down at once;
    /// otherwise a watchdog shuts it down once it has been out of a request for `idle`.
    pub fn on_connect(self: &Arc<Self>, io: &dyn Any, data: &mut Extensions) {
        let stream = match io.downcast_ref::<TcpStream>() {
            Some(plain) => plain,
            None => match io.downcast_ref::<TlsStream<TcpStream>>() {
                Some(tls) => tls.get_ref().0,
                None => return,
            },
        };
        let (Ok(peer), Ok(socket)) = (
            stream.peer_addr(),
            socket2::SockRef::from(stream).try_clone(),
        ) else {
            return;
        };
        let peer = peer.ip();
        let admitted = {
            let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
            let n = open.entry(peer).or_default();
            *n += 1;
            *n <= self.cap
        };
        let connection = Arc::new(Connection {
            peer,
            registry: Arc::clone(self),
            in_request: AtomicUsize::new(0),
            last_active: AtomicU64::new(clock::now_millis()),
        });
        if !admitted {
            tracing::warn!(address = %peer, cap = self.cap, "too many connections from one address");
            let _ = socket.shutdown(Shutdown::Both);
            data.insert(connection);
            return;
        }
        let watched = Arc::downgrade(&connection);
        data.insert(connection);
        actix_web::rt::spawn(watch(watched, socket, self.idle));
    }
}

/// Shuts `socket` down once its connection has been out of a request for `idle`; ends with it.
async fn watch(connection: Weak<Connection>, socket: socket2::Socket, idle: Duration) {
    loop {
        actix_web::rt::time::sleep(TICK).await;
        let Some(connection) = connection.upgrade() else {
            return;
        };
        let quiet =
            clock::now_millis().saturating_sub(connection.last_active.load(Ordering::Relaxed));
        if connection.in_request.load(Ordering::Relaxed) == 0 && quiet >= idle.as_millis() as u64 {
            let _ = socket.shutdown(Shutdown::Both);
            return;
        }
    }
}

/// Marks the connection as in a request from its handler's start until its answer's body is
/// sent, so a slow answer (a streamed export) is never cut; the request's own body deadline
/// bounds a slow client.
pub async fn in_request(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let connection = req.conn_data::<Arc<Connection>>().cloned();
    let guard = connection.map(|c| {
        c.in_request.fetch_add(1, Ordering::Relaxed);
        InRequest(c)
    });
    let response = next.call(req).await?;
    Ok(response.map_body(|_, body| Tracked {
        body: body.boxed(),
        _guard: guard,
    }))
}

/// Holds its connection "in a request" until dropped.
struct InRequest(Arc<Connection>);

impl Drop for InRequest {
    fn drop(&mut self) {
        self.0
            .last_active
            .store(clock::now_millis(), Ordering::Relaxed);
        self.0.in_request.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An answer's body that keeps its connection in a request until it is sent (or dropped).
struct Tracked {
    body: BoxBody,
    _guard: Option<InRequest>,
}

impl MessageBody for Tracked {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.body).poll_next(cx)
    }
}
