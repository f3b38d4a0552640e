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

/// The OpenAPI document as served: a user's `protocol` is one of the table's doors, the
/// desk's or an offline account's, filled in from the table.
fn document() -> &'static str {
    static DOCUMENT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        let mut doc: serde_json::Value = serde_json::from_str(OPENAPI).expect("web/openapi.json is JSON");
        let mut protocols: Vec<&str> = crate::doors::DOORS.iter().map(|d| d.name).collect();
        protocols.extend([hub::DESK, "account"]);
        doc["components"]["schemas"]["User"]["properties"]["protocol"]["enum"] = protocols.into();
        doc.to_string()
    })
}

pub(super) async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], document()).into_response()
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

    /// The served document names every door, whatever web/openapi.json says; the page's
    /// labels are for protocols that exist (a door without one shows its name).
    #[test]
    fn the_api_document_names_every_door_and_the_page_labels_none_that_is_gone() {
        let doc: serde_json::Value = serde_json::from_str(document()).unwrap();
        let listed = doc["components"]["schemas"]["User"]["properties"]["protocol"]["enum"].as_array().unwrap();
        let mut listed: Vec<&str> = listed.iter().map(|p| p.as_str().unwrap()).collect();
        listed.sort_unstable();
        assert_eq!(listed, protocols(), "the served document's User.protocol");
        let (_, _, app) = FILES.iter().find(|(name, _, _)| *name == "app.js").unwrap();
        let labels = app.split("const PROTOCOLS = {").nth(1).unwrap().split('}').next().unwrap();
        let labelled: Vec<&str> = labels.lines().filter_map(|l| l.trim().split_once(':')).map(|(k, _)| k).collect();
        assert!(labelled.len() >= 6, "{labelled:?}");
        for protocol in labelled {
            assert!(protocols().contains(&protocol), "web/app.js labels {protocol}, which is no protocol");
        }
    }
}
