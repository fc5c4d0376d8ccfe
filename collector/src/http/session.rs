//! Dashboard sessions: signing in once with the admin token opens a session, kept by the store
//! and named by an HttpOnly, Secure, SameSite=Strict cookie, so the token never travels in a URL.

use std::{sync::Arc, time::Duration};

use actix_web::{
    cookie::{time, Cookie, SameSite},
    HttpRequest,
};

use crate::{
    clock,
    config::Secret,
    store::{Store, StoreError},
};

/// The session cookie's name.
pub const COOKIE: &str = "tp_session";

/// How long a session lasts after sign-in.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);

/// Signed-in sessions, by random id, with their expiry, kept by the store (so a collector
/// that shares its store with others knows the sessions they opened).
pub struct Sessions {
    store: Arc<dyn Store>,
}

impl Sessions {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Opens a session; its id is a new random secret.
    pub fn create(&self) -> Result<String, StoreError> {
        let id = Secret::generate()
            .map_err(StoreError::from)?
            .expose()
            .to_owned();
        let now = clock::now_secs();
        self.store
            .open_session(&id, now + SESSION_TTL.as_secs(), now)?;
        Ok(id)
    }

    /// The request's session id, when its cookie names a live session.
    pub fn of(&self, req: &HttpRequest) -> Option<String> {
        let id = req.cookie(COOKIE)?.value().to_owned();
        let expires = self.store.session_expiry(&id).ok().flatten()?;
        (expires > clock::now_secs()).then_some(id)
    }

    pub fn end(&self, id: &str) {
        if let Err(error) = self.store.end_session(id) {
            tracing::warn!(%error, "ending a session failed");
        }
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
