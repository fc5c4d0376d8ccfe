//! The one builder of HTML pages and their security headers. Every page the collector serves is
//! one of three kinds, and the kind decides its policy, framing and caching.

use actix_web::{
    http::{header, StatusCode},
    HttpResponse,
};

use crate::{assets, read::html};

/// What kind of page, and so which headers it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    /// The collector's public pages (the demo, `/embed`): its scripts only, cacheable.
    Public,
    /// A page about one person's link (`/s/{token}`): as public, but never cached.
    Owned,
    /// The dashboard and the report: no script at all, never framed, never cached.
    Admin,
}

impl Page {
    /// `body` as this kind of page, with `status`.
    pub fn respond(self, status: StatusCode, body: impl Into<String>) -> HttpResponse {
        let mut response = HttpResponse::build(status);
        response
            .content_type("text/html; charset=utf-8")
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
        match self {
            Self::Public => {
                response
                    .insert_header((header::CONTENT_SECURITY_POLICY, assets::PAGE_CSP))
                    .insert_header((header::REFERRER_POLICY, "no-referrer"));
            }
            Self::Owned => {
                response
                    .insert_header((header::CONTENT_SECURITY_POLICY, assets::PAGE_CSP))
                    .insert_header((header::REFERRER_POLICY, "no-referrer"))
                    .insert_header((header::CACHE_CONTROL, "no-store"));
            }
            Self::Admin => {
                // Same-origin, so the dashboard's own form posts carry its origin (with
                // no-referrer a browser sends `Origin: null`, which the sign-in refuses); nothing
                // leaves for another site.
                response
                    .insert_header((header::CONTENT_SECURITY_POLICY, html::CSP))
                    .insert_header((header::REFERRER_POLICY, "same-origin"))
                    .insert_header((header::X_FRAME_OPTIONS, "DENY"))
                    .insert_header((header::CACHE_CONTROL, "no-store"));
            }
        }
        response.body(body.into())
    }

    /// The `/embed` page: public, with `csp` (framable by the allowed origins).
    pub fn embed(csp: &str, body: &'static str) -> HttpResponse {
        let mut response = Self::Public.ok(body);
        if let Ok(value) = header::HeaderValue::from_str(csp) {
            response
                .headers_mut()
                .insert(header::CONTENT_SECURITY_POLICY, value);
        }
        response
    }

    /// `body` as this kind of page, 200.
    pub fn ok(self, body: impl Into<String>) -> HttpResponse {
        self.respond(StatusCode::OK, body)
    }
}

/// A redirect after a form post, never cached.
pub fn see_other(location: &str) -> actix_web::HttpResponseBuilder {
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"));
    response
}

/// A static file's answer: its content type and a short public cache.
pub fn static_file(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}
