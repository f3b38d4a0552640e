//! The web client's files, embedded in the binary: plain HTML, CSS and JavaScript modules
//! from the repository's `web/` folder, served as they are (no build step).

use super::api::ApiError;
use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// Name, media type, contents.
const FILES: &[(&str, &str, &str)] = &[
    ("index.html", "text/html; charset=utf-8", include_str!("../../../../../web/index.html")),
    ("style.css", "text/css; charset=utf-8", include_str!("../../../../../web/style.css")),
    ("app.js", "text/javascript; charset=utf-8", include_str!("../../../../../web/app.js")),
    ("api.js", "text/javascript; charset=utf-8", include_str!("../../../../../web/api.js")),
    ("favicon.svg", "image/svg+xml", include_str!("../../../../../web/favicon.svg")),
];

const OPENAPI: &str = include_str!("../../../../../web/openapi.json");

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

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocols a user of `/api/users` may have: every door's name, the desk's, and an
    /// offline account's.
    fn protocols() -> Vec<&'static str> {
        let mut all: Vec<&str> = crate::doors::DOORS.iter().map(|d| d.name).collect();
        all.extend([hub::DESK, "account"]);
        all.sort_unstable();
        all
    }

    #[test]
    fn the_api_document_and_the_page_name_every_door() {
        let doc: serde_json::Value = serde_json::from_str(OPENAPI).unwrap();
        let listed = doc["components"]["schemas"]["User"]["properties"]["protocol"]["enum"].as_array().unwrap();
        let mut listed: Vec<&str> = listed.iter().map(|p| p.as_str().unwrap()).collect();
        listed.sort_unstable();
        assert_eq!(listed, protocols(), "web/openapi.json's User.protocol");
        let (_, _, app) = FILES.iter().find(|(name, _, _)| *name == "app.js").unwrap();
        for protocol in protocols() {
            assert!(app.contains(&format!("\n  {protocol}: '")), "web/app.js has no label for {protocol}");
        }
    }
}
