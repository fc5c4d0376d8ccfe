//! The checks requests pass before a handler runs: origin allowlist and CORS, content type,
//! body size, the client's address (for rate limits), the admin token, the dashboard session.

use std::net::IpAddr;

use actix_web::{
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        header::{self, HeaderValue},
        Method,
    },
    middleware::Next,
    web::{self, BytesMut},
    HttpMessage as _, HttpRequest, HttpResponse,
};
use futures_util::StreamExt as _;

use super::{error::ApiError, AppState};
use crate::{clock, config};

/// The request's `Origin`, when it is another origin that the allowlist admits.
pub enum OriginCheck {
    /// No `Origin` header (not a browser), or the collector's own pages.
    Own,
    Allowed(HeaderValue),
    Denied(HeaderValue),
}

/// Where the request's `Origin` stands: the collector's own, on `allow` (when given), or denied.
pub fn check_origin(req: &HttpRequest, state: &AppState, allow: &[String]) -> OriginCheck {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return OriginCheck::Own;
    };
    let text = origin.to_str().unwrap_or("").to_ascii_lowercase();
    if text == own_origin(req, state) {
        OriginCheck::Own
    } else if allow.contains(&text) {
        OriginCheck::Allowed(origin.clone())
    } else {
        OriginCheck::Denied(origin.clone())
    }
}

/// This collector's own origin: `--public-url` when set; otherwise as the request reached it, by
/// its `Host`, or by what a trusted proxy forwarded. Forwarded headers from anyone else are
/// ignored: a client cannot name its own origin as the collector's.
pub fn own_origin(req: &HttpRequest, state: &AppState) -> String {
    if let Some(url) = &state.public_url {
        return url.clone();
    }
    let from_proxy = req
        .peer_addr()
        .is_some_and(|peer| state.trusted_proxies.contains(&peer.ip()));
    if from_proxy {
        let info = req.connection_info();
        return [info.scheme(), "://", info.host()]
            .concat()
            .to_ascii_lowercase();
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or("");
    [state.scheme, "://", host].concat().to_ascii_lowercase()
}

/// Refuses a request from an origin the allowlist does not admit.
pub fn allowed_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    match check_origin(req, state, &state.allow_origins) {
        OriginCheck::Denied(_) => Err(ApiError::OriginNotAllowed),
        _ => Ok(()),
    }
}

/// CORS for the cross-origin routes it wraps: allowed origins (and only those) get their origin
/// echoed back, with `Vary: Origin` where a cache could keep the answer and `Retry-After` exposed
/// where the answer has one. The allowlist itself is enforced by the handlers, because
/// `text/plain` posts get no preflight.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let echo = match req.app_data::<web::Data<AppState>>() {
        Some(state) => match check_origin(req.request(), state, &state.allow_origins) {
            OriginCheck::Allowed(origin) => Some(origin),
            // So the widget can read the 403 and stop retrying, instead of seeing a network error.
            OriginCheck::Denied(origin) if req.method() == Method::POST => Some(origin),
            _ => None,
        },
        None => None,
    };
    // A cache may keep the answer to a preflight, never one to a post (it has no freshness), so
    // only the former varies by origin; every header here is bytes on each answer to the widget.
    let cacheable = req.method() != Method::POST;
    let mut res = next.call(req).await?;
    if let Some(origin) = echo {
        let headers = res.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        if cacheable {
            headers.insert(header::VARY, HeaderValue::from_static("Origin"));
        }
        // The widget honours Retry-After, which a cross-origin script may read only when exposed:
        // on the answers that carry it.
        if headers.contains_key(header::RETRY_AFTER) {
            headers.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("Retry-After"),
            );
        }
    }
    Ok(res)
}

/// The answer to a CORS preflight of a cross-origin route.
pub async fn preflight(
    req: HttpRequest,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    allowed_origin(&req, &state)?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "POST"))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "content-type, authorization",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish())
}

/// A body, when present, is JSON or plain text (which browsers send without a preflight).
pub fn json_or_text(req: &HttpRequest) -> Result<(), ApiError> {
    if req.headers().get(header::CONTENT_TYPE).is_none() {
        return Ok(());
    }
    match req.mime_type() {
        Ok(Some(mime))
            if mime.essence_str() == "application/json" || mime.essence_str() == "text/plain" =>
        {
            Ok(())
        }
        _ => Err(ApiError::UnsupportedMediaType),
    }
}

/// The body, refused past `limit` bytes (declared or streamed) or when it takes longer than
/// [`config::BODY_TIMEOUT`] to arrive.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<BytesMut, ApiError> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::UnreadableBody)?;
            if body.len() + chunk.len() > limit {
                return Err(ApiError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    actix_web::rt::time::timeout(config::BODY_TIMEOUT, read)
        .await
        .map_err(|_| ApiError::BodyTimeout)??;
    Ok(body)
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest address in
/// `X-Forwarded-For` that is not one of the trusted proxies. Used for rate limits only, never stored.
pub fn client_address(req: &HttpRequest, trusted: &[IpAddr]) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    let Some(peer) = peer else {
        return String::new();
    };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    let forwarded = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().parse::<IpAddr>())
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .find_map(|a| a.as_ref().ok().filter(|ip| !trusted.contains(ip)))
        .copied()
        .unwrap_or(peer)
        .to_string()
}

/// Takes one of the client address's tokens.
pub fn per_address(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    match per_address_up_to(req, state, 1) {
        (1, _) => Ok(()),
        (_, retry_after) => Err(ApiError::RateLimited {
            retry_after: retry_after.unwrap_or(1),
        }),
    }
}

/// Takes up to `n` of the client address's tokens, one per answer: how many it took, and when
/// fewer, the seconds until the next.
pub fn per_address_up_to(req: &HttpRequest, state: &AppState, n: u64) -> (u64, Option<u64>) {
    state.per_address.take_up_to(
        &client_address(req, &state.trusted_proxies),
        n,
        clock::now_millis(),
    )
}

/// The token of an `Authorization: Bearer …` header, or "" without one.
pub fn bearer(req: &HttpRequest) -> &str {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map_or("", str::trim)
}

/// Checks a credential (`what`: "admin token", "agent key") with `valid`. An address whose wrong
/// attempts are used up is answered 429 without the credential being checked at all; a wrong one
/// is counted against its address and logged, never with the credential. `Ok(false)`: wrong.
pub fn credential(
    req: &HttpRequest,
    state: &AppState,
    what: &'static str,
    valid: impl FnOnce() -> bool,
) -> Result<bool, ApiError> {
    let address = client_address(req, &state.trusted_proxies);
    let now = clock::now_millis();
    state
        .auth_failures
        .check(&address, now)
        .map_err(|retry_after| ApiError::RateLimited { retry_after })?;
    if valid() {
        return Ok(true);
    }
    let _ = state.auth_failures.take(&address, now);
    tracing::warn!(%address, path = req.path(), credential = what, "a wrong credential");
    Ok(false)
}

/// The admin routes' one guard: the admin token, or nothing is served.
pub async fn admin_only(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or(ApiError::AdminDisabled)?;
    let token = state.admin_token.as_ref().ok_or(ApiError::AdminDisabled)?;
    if !credential(req.request(), state, "admin token", || {
        token.matches(bearer(req.request()))
    })? {
        return Err(ApiError::Unauthorized.into());
    }
    next.call(req).await
}

/// Sign-in and sign-out are posted by the dashboard's own pages only: a post from any other
/// origin (allowlisted ones included) is refused.
pub fn same_origin(req: &HttpRequest, state: &AppState) -> Result<(), ApiError> {
    match check_origin(req, state, &[]) {
        OriginCheck::Own => Ok(()),
        _ => Err(ApiError::OriginNotAllowed),
    }
}

/// Whether the request carries a live dashboard session; refused while admin routes are
/// disabled.
pub fn signed_in(req: &HttpRequest, state: &AppState) -> Result<bool, ApiError> {
    if state.admin_token.is_none() {
        return Err(ApiError::AdminDisabled);
    }
    Ok(state.sessions.of(req).is_some())
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.5".parse().expect("an address");
        let request = |peer: &str, forwarded: &str| {
            TestRequest::default()
                .peer_addr(format!("{peer}:4000").parse().expect("a socket address"))
                .insert_header(("X-Forwarded-For", forwarded))
                .to_http_request()
        };
        let trusted = [proxy];
        assert_eq!(
            client_address(&request("10.0.0.5", "203.0.113.7"), &trusted),
            "203.0.113.7"
        );
        assert_eq!(
            client_address(
                &request("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.5"),
                &trusted
            ),
            "203.0.113.7",
            "the nearest untrusted hop, not what the client claims first"
        );
        assert_eq!(
            client_address(&request("192.0.2.9", "203.0.113.7"), &trusted),
            "192.0.2.9"
        );
        assert_eq!(
            client_address(&request("10.0.0.5", "not an address"), &trusted),
            "10.0.0.5"
        );
    }

    #[test]
    fn bodies_are_json_or_plain_text_whatever_their_parameters() {
        let with = |value: &str| {
            json_or_text(
                &TestRequest::default()
                    .insert_header(("Content-Type", value))
                    .to_http_request(),
            )
            .is_ok()
        };
        assert!(with("application/json"));
        assert!(with("text/plain;charset=UTF-8"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(!with("application/x-www-form-urlencoded"));
        assert!(!with("multipart/form-data; boundary=x"));
        assert!(json_or_text(&TestRequest::default().to_http_request()).is_ok());
    }

    #[test]
    fn a_bearer_token_is_read_from_its_header_only() {
        let with = |value: &str| {
            bearer(
                &TestRequest::default()
                    .insert_header(("Authorization", value))
                    .to_http_request(),
            )
            .to_owned()
        };
        assert_eq!(with("Bearer abc "), "abc");
        assert_eq!(with("Basic abc"), "");
        assert_eq!(bearer(&TestRequest::default().to_http_request()), "");
    }
}
