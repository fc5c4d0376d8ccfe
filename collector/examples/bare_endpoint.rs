//! The benchmark's baseline: actix-web with the collector's worker count, reading a POST body and
//! answering 201 with a small JSON, storing nothing. `cargo xtask bench` measures the collector's
//! durable ingest against it in the same run.

use actix_web::{web, App, HttpResponse, HttpServer};

async fn accept(body: web::Bytes) -> HttpResponse {
    HttpResponse::Created()
        .content_type("application/json")
        .body(if body.is_empty() {
            "{}"
        } else {
            r#"{"status":"stored"}"#
        })
}

fn main() -> std::io::Result<()> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18081".into());
    let workers = std::env::args()
        .nth(2)
        .and_then(|w| w.parse().ok())
        .unwrap_or(2);
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/v1/responses", web::post().to(accept)))
            .workers(workers)
            .bind(listen)?
            .run()
            .await
    })
}
