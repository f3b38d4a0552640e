//! The web client's files, embedded in the binary: plain HTML, CSS and JavaScript modules
//! from the repository's `web/` folder, served as they are (no build step).

use super::api::ApiError;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Name, media type, contents.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../../../web/index.html")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../../../web/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../../../web/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../../../../web/api.js")),
    ("favicon.svg", "image/svg+xml", include_str!("../../../../web/favicon.svg")),
];

const OPENAPI: &str = include_str!("../../../../web/openapi.json");

/// Images may be inline data; scripts and connections only from here.
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; \
                   style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

fn serve(name: &str) -> Option<Response> {
    let &(_, media, body) = FILES.iter().find(|(n, _, _)| *n == name)?;
    let headers = [
        (header::CONTENT_TYPE, media),
        (header::CACHE_CONTROL, "no-cache"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ];
    Some((headers, body).into_response())
}

pub(super) async fn index() -> Response {
    serve("index.html").expect("index.html is embedded")
}

pub(super) async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    serve(&name).ok_or_else(|| {
        ApiError(StatusCode::NOT_FOUND, proto::web::ErrorCode::NotFound, format!("no file named {name}"))
    })
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}
