//! Dashboard sessions: signing in once with the admin token opens a session held in memory and
//! named by an HttpOnly, Secure, SameSite=Strict cookie, so the token never travels in a URL. A
//! restart signs everyone out.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use actix_web::{
    cookie::{time, Cookie, SameSite},
    HttpRequest,
};

use crate::config::Secret;

/// The session cookie's name.
pub const COOKIE: &str = "tp_session";

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Signed-in sessions, by random id, with their expiry.
#[derive(Default)]
pub struct Sessions {
    open: Mutex<HashMap<String, Instant>>,
}

impl Sessions {
    /// Opens a session; its id is a new random secret.
    pub fn create(&self) -> std::io::Result<String> {
        let id = Secret::generate()?.expose().to_owned();
        let now = Instant::now();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.retain(|_, expires| *expires > now);
        open.insert(id.clone(), now + SESSION_TTL);
        Ok(id)
    }

    /// The request's session id, when its cookie names a live session.
    pub fn of(&self, req: &HttpRequest) -> Option<String> {
        let id = req.cookie(COOKIE)?.value().to_owned();
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&id)
            .is_some_and(|expires| *expires > Instant::now())
            .then_some(id)
    }

    pub fn end(&self, id: &str) {
        self.open
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

fn cookie(value: &str, max_age: Duration) -> Cookie<'static> {
    Cookie::build(COOKIE, value.to_owned())
        .http_only(true)
        .secure(true)
        .same_site(SameSite::Strict)
        .path("/")
        .max_age(time::Duration::seconds(max_age.as_secs() as i64))
        .finish()
}

/// The cookie that opens the session `id`.
pub fn session_cookie(id: &str) -> Cookie<'static> {
    cookie(id, SESSION_TTL)
}

/// The cookie that ends one.
pub fn cleared_cookie() -> Cookie<'static> {
    cookie("", Duration::ZERO)
}
