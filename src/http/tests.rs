//! The edge's layers around routes that production does not have: one that panics and one
//! that never answers, served on a real loopback socket so that the connection's fate shows.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::config::Config;

/// Serves the test routes behind every layer of [`super::edge`]; returns the address.
async fn serve_test_routes(timeout: &str) -> std::net::SocketAddr {
    super::metrics::handle();
    let timeout = timeout.to_owned();
    let config =
        Config::from_lookup(move |k| (k == "HTTP_REQUEST_TIMEOUT").then(|| timeout.clone()))
            .expect("config");
    let routes = Router::new()
        .route("/ok", get(|| async { "ok" }))
        .route(
            "/panic",
            get(|| async {
                if true {
                    panic!("resolver bug");
                }
                "unreachable"
            }),
        )
        .route("/hang", get(std::future::pending::<&'static str>));
    let router = super::edge(routes, &config.http);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(super::serve(
        listener,
        router,
        std::future::pending(),
        Duration::from_secs(1),
    ));
    addr
}

/// Sends one HTTP/1.1 request on `stream` (kept alive) and reads the whole response.
async fn exchange(
    stream: &mut BufReader<TcpStream>,
    path: &str,
    request_id: Option<&str>,
) -> (u16, Vec<String>, String) {
    let id = request_id.map_or(String::new(), |id| format!("x-request-id: {id}\r\n"));
    let request = format!("GET {path} HTTP/1.1\r\nhost: test\r\n{id}\r\n");
    stream
        .get_mut()
        .write_all(request.as_bytes())
        .await
        .unwrap();
    let mut status = String::new();
    stream.read_line(&mut status).await.unwrap();
    let code = status
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let mut headers = Vec::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        stream.read_line(&mut line).await.unwrap();
        let line = line.trim_end().to_ascii_lowercase();
        if line.is_empty() {
            break;
        }
        if let Some(n) = line.strip_prefix("content-length: ") {
            length = n.parse().unwrap();
        }
        headers.push(line);
    }
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.unwrap();
    (code, headers, String::from_utf8(body).unwrap())
}

/// Collects what is logged on this thread.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_panic_answers_a_graphql_500_logs_once_and_keeps_the_connection() {
    let log = Captured::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // This test's runtime has one thread, so the server's tasks log here too.
    let _guard = tracing::subscriber::set_default(subscriber);
    let addr = serve_test_routes("30s").await;
    let mut stream = BufReader::new(TcpStream::connect(addr).await.unwrap());

    let (status, _, body) = exchange(&mut stream, "/panic", Some("panic-1")).await;
    assert_eq!(status, 500, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "INTERNAL_SERVER_ERROR"
    );
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "panic-1");
    assert_eq!(body["errors"][0]["message"], "internal server error");
    assert!(
        !body.to_string().contains("resolver bug"),
        "no detail to the client: {body}"
    );

    let (status, _, body) = exchange(&mut stream, "/ok", Some("after")).await;
    assert_eq!(
        (status, body.as_str()),
        (200, "ok"),
        "the same connection still serves"
    );

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("resolver bug"))
        .collect();
    assert_eq!(lines.len(), 1, "logged once: {text}");
    assert!(
        lines[0].contains("panic-1") && lines[0].contains("tests.rs"),
        "{}",
        lines[0]
    );

    let finished: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("request finished") && l.contains("panic-1"))
        .collect();
    assert!(
        finished.len() == 1 && finished[0].contains("WARN") && finished[0].contains("500"),
        "one request line, at warn, for the failed request: {text}"
    );

    let metrics = super::metrics::handle().render();
    assert!(
        metrics.contains(r#"adminql_http_server_errors_total{route="/panic"} 1"#),
        "a panic is a server error for the SLI:\n{metrics}"
    );
}

#[tokio::test]
async fn a_timeout_answers_a_graphql_503_with_retry_after() {
    let addr = serve_test_routes("100ms").await;
    let mut stream = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let (status, headers, body) = exchange(&mut stream, "/hang", Some("slow-1")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        headers.contains(&"retry-after: 1".to_owned()),
        "{headers:?}"
    );
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["errors"][0]["extensions"]["code"],
        "SERVICE_UNAVAILABLE"
    );
    assert_eq!(body["errors"][0]["extensions"]["requestId"], "slow-1");
    assert_eq!(body["errors"][0]["extensions"]["retryAfter"], 1);
    let metrics = super::metrics::handle().render();
    assert!(
        metrics.contains(r#"adminql_http_server_errors_total{route="/hang"} 1"#),
        "{metrics}"
    );
    let (status, _, _) = exchange(&mut stream, "/ok", Some("next")).await;
    assert_eq!(status, 200, "the connection outlives the timeout");
}

#[tokio::test]
async fn a_request_without_an_id_gets_a_new_one_in_its_answer() {
    let addr = serve_test_routes("30s").await;
    let mut stream = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let id_of = |headers: &[String]| {
        let header = headers
            .iter()
            .find_map(|h| h.strip_prefix("x-request-id: "))
            .unwrap_or_else(|| panic!("no x-request-id in {headers:?}"));
        uuid::Uuid::parse_str(header).unwrap_or_else(|e| panic!("{header}: {e}"))
    };

    let (status, headers, _) = exchange(&mut stream, "/ok", None).await;
    assert_eq!(status, 200);
    let first = id_of(&headers);
    let (status, headers, _) = exchange(&mut stream, "/ok", None).await;
    assert_eq!(status, 200);
    assert_ne!(first, id_of(&headers), "each request its own id");
    let (_, headers, _) = exchange(&mut stream, "/ok", Some("client-7")).await;
    assert!(
        headers.contains(&"x-request-id: client-7".to_owned()),
        "{headers:?}"
    );
}
