//! What anyone may fetch: the widget's files, the instrument, the `/embed` page, the demo site,
//! the API description, and the health check.

use actix_web::{
    http::header::{self, AcceptEncoding, ContentEncoding, Encoding, Header as _},
    web, HttpRequest, HttpResponse,
};
use serde_json::json;

use super::{error::ApiError, pages, pages::Page, AppState};
use crate::assets;

/// Every route, request and error body, for API clients and audits.
pub const OPENAPI: &str = include_str!("../../openapi.json");

/// The widget's files. They are public and hold no secrets: any page may load them (the loader
/// imports the glue as a module and fetches the wasm, both in CORS mode). Browsers get the body
/// compressed at build time, far smaller than compressing on the fly: Brotli where they accept
/// it (browsers offer it over HTTPS), else gzip, else the file as it is. No `nosniff` (the
/// collector's pages and API answers keep it): these are the build's own bytes, each served with
/// its exact type, so there is nothing for a browser to sniff; module scripts and streamed wasm
/// are refused under any other type whatever the header says, and the files are public, so
/// cross-origin read blocking has nothing to keep. It cost each visitor about 24 bytes.
pub async fn widget_file(
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let asset = assets::widget_file(&path).ok_or(if assets::has_widget() {
        ApiError::NotFound
    } else {
        ApiError::WidgetNotBuilt
    })?;
    // No `public`: it matters only for answers to requests with credentials or of a status not
    // cached by default, and these are plain GETs answered 200; every visitor downloads the header.
    let cache = if asset.immutable {
        "max-age=31536000, immutable"
    } else {
        "max-age=300"
    };
    let mut response = HttpResponse::Ok();
    response
        .content_type(asset.content_type)
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"))
        .insert_header((header::VARY, "Accept-Encoding"));
    let offered = [
        (ContentEncoding::Brotli, asset.brotli),
        (ContentEncoding::Gzip, asset.gzip),
    ];
    Ok(match preferred_body(&req, &offered) {
        // A body with its Content-Encoding set is left alone by the Compress middleware.
        Some((coding, body)) => response
            .insert_header((header::CONTENT_ENCODING, coding.as_str()))
            .body(body),
        None => response.body(asset.bytes),
    })
}

/// Of the `offered` bodies (coding, body), the one the request's `Accept-Encoding` prefers, as
/// actix-web's [`AcceptEncoding::negotiate`] ranks them (the one its Compress middleware uses):
/// the highest `q`, Brotli before gzip on a tie, never `q=0`. `None`: the file as it is (the
/// request prefers it, names nothing it may have, or has no such header).
fn preferred_body(
    req: &HttpRequest,
    offered: &[(ContentEncoding, Option<&'static [u8]>)],
) -> Option<(ContentEncoding, &'static [u8])> {
    let supported: Vec<Encoding> = offered
        .iter()
        .filter(|(_, body)| body.is_some())
        .map(|(coding, _)| Encoding::Known(*coding))
        .chain([Encoding::identity()])
        .collect();
    let chosen = AcceptEncoding::parse(req)
        .ok()?
        .negotiate(supported.iter())?;
    offered
        .iter()
        .find(|(coding, _)| Encoding::Known(*coding) == chosen)
        .and_then(|(coding, body)| Some((*coding, (*body)?)))
}

/// The survey alone, for pages whose CSP forbids WebAssembly: the loader shows it in an iframe.
pub async fn embed_page(state: web::Data<AppState>) -> HttpResponse {
    Page::embed(&state.embed_csp, assets::EMBED_PAGE)
}

/// The `/embed` page's script: open on the framing page's request, Escape told to it.
pub async fn embed_js() -> HttpResponse {
    pages::static_file("text/javascript; charset=utf-8", assets::EMBED_JS)
}

/// A demo page: `/` or one under `/demo/`.
pub async fn demo_page(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    assets::DEMO_PAGES
        .iter()
        .find(|(path, _)| *path == req.path())
        .map(|(_, html)| Page::Public.ok(*html))
        .ok_or(ApiError::NotFound)
}

pub async fn demo_js() -> HttpResponse {
    pages::static_file("text/javascript; charset=utf-8", assets::DEMO_AGENT_JS)
}

pub async fn demo_css() -> HttpResponse {
    pages::static_file(
        "text/css; charset=utf-8",
        include_str!("../../../demo-site/site.css"),
    )
}

pub async fn openapi() -> HttpResponse {
    pages::static_file("application/json", OPENAPI)
}

/// No icon: an empty answer that browsers cache, instead of a 404 in every page's console.
pub async fn favicon() -> HttpResponse {
    HttpResponse::NoContent()
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .finish()
}

/// 200 while answers can be stored; 503 while storage is failing (reads are still served) or the
/// database cannot be reached (saying which).
pub async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if let Some(waiting) = state.ingest.store().waiting_for() {
        return HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "5"))
            .json(json!({
                "status": "waiting_for_store",
                "message": format!("answers are refused with 503 while the collector waits for {waiting}; it reconnects by itself"),
            }));
    }
    if state.ingest.commit().accepting() {
        HttpResponse::Ok().json(json!({"status": "ok"}))
    } else {
        HttpResponse::ServiceUnavailable()
            .insert_header((header::RETRY_AFTER, "30"))
            .json(json!({
                "status": "storage_failing",
                "message": "answers cannot be stored now and are refused with 503; exports and reads are still served"
            }))
    }
}

/// `GET /v1/survey`: the instrument with every locale.
pub async fn survey(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(state.survey.clone())
}

/// The instrument with every locale, as `GET /v1/survey` serves it.
pub fn survey_document() -> serde_json::Value {
    let cx = &protocol::CORE_CX;
    let locales: serde_json::Map<String, serde_json::Value> = cx
        .locales
        .iter()
        .map(|l| {
            let ui = &l.ui;
            (
                l.code.to_owned(),
                json!({
                    "name": l.name,
                    "dir": if l.rtl { "rtl" } else { "ltr" },
                    "questions": {
                        "effort": {"text": l.effort, "labels": l.effort_labels},
                        "confidence": {"text": l.confidence, "labels": l.confidence_labels},
                        "emotion": {"text": l.emotion, "labels": l.emotion_labels},
                        "comment": {"text": l.comment},
                    },
                    "ui": {
                        "feedback": ui.feedback, "title": ui.title, "send": ui.send,
                        "close": ui.close, "thank_you": ui.thank_you, "optional": ui.optional,
                        "need_answer": ui.need_answer, "start": ui.start,
                        "choose_language": ui.choose_language, "idle_reset": ui.idle_reset,
                        "larger_text": ui.larger_text,
                        "already_answered": ui.already_answered, "link_invalid": ui.link_invalid,
                        "queued": ui.queued, "post_call": ui.post_call,
                        "share_link": ui.share_link, "qr_alt": ui.qr_alt, "assist": ui.assist,
                        "link_failed": ui.link_failed,
                    },
                }),
            )
        })
        .collect();
    json!({
        "id": cx.id,
        "version": cx.version,
        "questions": [
            {"id": "effort", "type": "scale", "min": 1, "max": cx.effort_max},
            {"id": "confidence", "type": "scale", "min": 1, "max": cx.confidence_max},
            {"id": "emotion", "type": "choice", "options": cx.emotions},
            {"id": "comment", "type": "text", "optional": true, "max_chars": cx.comment_max_chars},
        ],
        "locales": locales,
    })
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    /// The coding chosen for a request sending `Accept-Encoding: value` (no header when `None`),
    /// when the file has both bodies, or gzip alone.
    fn chosen(value: Option<&str>, with_brotli: bool) -> Option<&'static str> {
        let mut req = TestRequest::default();
        if let Some(value) = value {
            req = req.insert_header(("Accept-Encoding", value));
        }
        let brotli: Option<&'static [u8]> = with_brotli.then_some(b"br");
        let offered = [
            (ContentEncoding::Brotli, brotli),
            (ContentEncoding::Gzip, Some(&b"gz"[..])),
        ];
        preferred_body(&req.to_http_request(), &offered).map(|(coding, _)| coding.as_str())
    }

    #[test]
    fn brotli_is_taken_when_accepted_else_gzip_when_named_and_not_refused() {
        let accepts = |value: &str| chosen(Some(value), true);
        assert_eq!(accepts("gzip, deflate, br, zstd"), Some("br"));
        assert_eq!(accepts("gzip, deflate"), Some("gzip"));
        assert_eq!(accepts("br;q=1.0, GZIP;q=0.5"), Some("br"));
        assert_eq!(accepts("br;q=0.5, gzip"), Some("gzip"));
        assert_eq!(accepts("BR"), Some("br"));
        // Anything: the file as it is, as actix-web negotiates.
        assert_eq!(accepts("*"), None);
        assert_eq!(accepts("gzip, *;q=0.1"), Some("gzip"));
        assert_eq!(accepts("identity"), None);
        assert_eq!(accepts("br;q=0, deflate"), None);
        assert_eq!(accepts("br;q=0, *"), None);
        assert_eq!(accepts("gzip;q=0"), None);
        assert_eq!(accepts("gzip; q=0.0, br;q=0, identity"), None);
        assert_eq!(accepts("x-gzip-not"), None);
        assert_eq!(chosen(None, true), None);
        // A file without a Brotli body is sent as gzip to a browser that would take either.
        assert_eq!(chosen(Some("gzip, deflate, br, zstd"), false), Some("gzip"));
        assert_eq!(chosen(Some("br"), false), None);
    }
}
