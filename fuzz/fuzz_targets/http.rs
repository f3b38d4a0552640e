//! Fuzzes the HTTP API's request parsing, in-process, against a real hub (its store in a
//! temporary folder, its front doors on loopback): methods, paths, query strings, a bearer
//! token or none, and bodies of any shape. No request may panic the server or get a 5xx, and
//! every error from the API is a 4xx with a JSON `{"code","error"}` body.
//!
//! An input is: a method byte, a flags byte (bit 0: sign the request with a live session's
//! token), then the path and query up to a newline, then the body.

#![no_main]

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Method, Request, Uri};
use libfuzzer_sys::fuzz_target;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use tower::ServiceExt;

const METHODS: [Method; 6] = [Method::GET, Method::POST, Method::DELETE, Method::PUT, Method::PATCH, Method::HEAD];

struct Server {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    /// A signed-in session's token, and how many were signed in (for fresh names).
    token: Mutex<(String, u32)>,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let data = std::env::temp_dir().join(format!("switchboard-fuzz-http-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let mut config = server::Config::loopback(data);
        config.msg_rate = 0;
        let running = runtime.block_on(server::start(config)).unwrap();
        let app = running.web_app();
        Box::leak(Box::new(running)); // serves until the process ends
        let server = Server { runtime, app, token: Mutex::new((String::new(), 0)) };
        server.sign_in();
        server
    })
}

impl Server {
    fn call(&self, request: Request<Body>) -> (u16, Vec<u8>) {
        let mut request = request;
        request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
        self.runtime.block_on(async {
            let response = self.app.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let body = axum::body::to_bytes(response.into_body(), 16 << 20).await.unwrap();
            (status, body.to_vec())
        })
    }

    /// Signs a new guest in, and keeps its token.
    fn sign_in(&self) {
        let mut token = self.token.lock().unwrap();
        token.1 += 1;
        let body = format!("{{\"name\":\"fuzzer{}\"}}", token.1);
        let request = Request::post("/api/session").body(Body::from(body)).unwrap();
        let (status, body) = self.call(request);
        assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
        let session: serde_json::Value = serde_json::from_slice(&body).unwrap();
        token.0 = session["token"].as_str().unwrap().to_owned();
    }
}

fuzz_target!(|data: &[u8]| {
    let [method, flags, rest @ ..] = data else { return };
    let (path, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let Ok(uri) = Uri::try_from(path) else { return };
    let server = server();
    let mut request = Request::builder().method(METHODS[usize::from(*method) % METHODS.len()].clone()).uri(uri);
    let signed = flags & 1 == 1;
    if signed {
        request = request.header(header::AUTHORIZATION, format!("Bearer {}", server.token.lock().unwrap().0));
    }
    let Ok(request) = request.body(Body::from(body.to_vec())) else { return };
    let api = request.uri().path().starts_with("/api/") || request.uri().path() == "/ws";
    let head = request.method() == Method::HEAD;
    let (status, body) = server.call(request);
    assert!(status < 500, "{status}: {}", String::from_utf8_lossy(&body));
    if api && status >= 400 && !head {
        let error: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("{status} without a JSON body ({e}): {:?}", String::from_utf8_lossy(&body)));
        assert!(error["code"].is_string() && error["error"].is_string(), "{status}: {error}");
    }
    if signed && status == 401 {
        server.sign_in(); // it signed itself out: the next input gets a live session again
    }
});
