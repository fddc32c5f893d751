//! `antwort serve` as a client meets it: the real binary with the real model, listening on
//! loopback, asked over HTTP.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::binary::{antwort, stderr, stdout};
use common::small::record;

/// A running server, stopped with SIGTERM when dropped.
struct Server {
    child: Child,
    base: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(index: &Path) -> Server {
        Server::start_with(index, &[])
    }

    fn start_with(index: &Path, flags: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_antwort"))
            .arg("--index")
            .arg(index)
            .args(["serve", "--addr", "127.0.0.1:0", "--reload-ms", "100"])
            .args(flags)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("antwort serve starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (address, receive) = std::sync::mpsc::channel();
        let lines = BufReader::new(child.stderr.take().unwrap());
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                if let Some(rest) = line.split(" at http://").nth(1) {
                    let _ = address.send(rest.split('/').next().unwrap_or_default().to_string());
                }
                sink.lock().unwrap().push_str(&(line + "\n"));
            }
        });
        let address = receive
            .recv_timeout(Duration::from_secs(120))
            .unwrap_or_else(|_| panic!("the server did not start: {}", log.lock().unwrap()));
        Server {
            child,
            base: format!("http://{address}"),
            log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Sends SIGTERM and waits for the process: its exit status.
    fn stop(&mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.stop();
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// Status and body of a GET.
fn get(url: &str) -> (u16, String) {
    let mut response = agent().get(url).call().expect("the server answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// Status and body of a POST of `body` with `content_type`.
fn post(url: &str, content_type: &str, body: &str) -> (u16, String) {
    let mut response = agent()
        .post(url)
        .header("Content-Type", content_type)
        .send(body)
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

fn ask(server: &Server, request: Value) -> (u16, Value) {
    let (status, body) = post(
        &server.url("/v1/ask"),
        "application/json",
        &request.to_string(),
    );
    (
        status,
        serde_json::from_str(&body).expect("JSON comes back"),
    )
}

fn ids(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The bundled corpus's index, built once for the tests of this file.
fn bundled_index() -> &'static Path {
    static INDEX: OnceLock<PathBuf> = OnceLock::new();
    INDEX.get_or_init(|| {
        let index = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-bundled-index");
        let built = antwort(&index, &["index"]);
        assert!(built.status.success(), "{}", stderr(&built));
        index
    })
}

#[test]
fn the_server_answers_as_ask_json_does() {
    let index = bundled_index();
    let server = Server::start(index);
    let (status, report) = ask(&server, json!({"query": "Was ist LoRA?", "top_k": 3}));
    assert_eq!(status, 200, "{report}");
    let cli = antwort(index, &["ask", "--json", "--top-k", "3", "Was ist LoRA?"]);
    assert!(cli.status.success(), "{}", stderr(&cli));
    let mut printed: Value = serde_json::from_str(&stdout(&cli)).unwrap();
    let mut served = report.clone();
    for report in [&mut printed, &mut served] {
        report.as_object_mut().unwrap().remove("timings_ms");
    }
    assert_eq!(served, printed);
    assert_eq!(ids(&report)[0], "lora");
    assert_eq!(report["confident"], json!(true));
    assert!(!report["see_also"].as_array().unwrap().is_empty());

    // English against German answers, a filter, and explain.
    let (status, report) = ask(
        &server,
        json!({"query": "How does LoRA make fine-tuning cheaper?", "filters": ["section=intermediate"], "explain": true}),
    );
    assert_eq!(status, 200, "{report}");
    assert_eq!(ids(&report)[0], "lora");
    assert!(report["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["section"] == "intermediate" && r["explain"]["fused_score"].is_number()));

    let (status, body) = get(&server.url("/v1/pairs/lora"));
    assert_eq!(status, 200);
    let pair: Value = serde_json::from_str(&body).unwrap();
    assert!(pair["answer"].as_str().unwrap().contains("LoRA"));
    let (status, body) = get(&server.url("/v1/related/lora?top_k=4"));
    assert_eq!(status, 200);
    let related: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(related["related"].as_array().unwrap().len(), 4);
    let (status, body) = get(&server.url("/v1/topics"));
    assert_eq!(status, 200);
    let topics: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(topics["points"].as_array().unwrap().len(), 36);
    let (status, svg) = get(&server.url("/v1/topics/map.svg"));
    assert_eq!(status, 200);
    assert!(svg.contains("<svg"), "{svg:.200}");
    let (status, page) = get(&server.url("/"));
    assert_eq!(status, 200);
    assert!(page.contains("/app.js") && page.contains("id=\"query\""));
}

#[test]
fn bad_requests_get_a_clear_4xx_and_never_a_500() {
    let server = Server::start(bundled_index());
    let url = server.url("/v1/ask");
    let json_type = "application/json";
    let huge_query = json!({"query": "Frage ".repeat(12_000)}).to_string();
    let cases: Vec<(&str, &str, String, u16, &str)> = vec![
        (
            "malformed JSON",
            json_type,
            "{\"query\": ".into(),
            400,
            "not valid",
        ),
        (
            "not an object",
            json_type,
            "[1, 2]".into(),
            400,
            "not valid",
        ),
        (
            "wrong type",
            json_type,
            r#"{"query": 7}"#.into(),
            400,
            "invalid type",
        ),
        (
            "unknown field",
            json_type,
            r#"{"query": "LoRA", "topk": 3}"#.into(),
            400,
            "unknown field `topk`",
        ),
        (
            "missing query",
            json_type,
            r#"{"top_k": 3}"#.into(),
            400,
            "missing field `query`",
        ),
        (
            "empty query",
            json_type,
            r#"{"query": "   "}"#.into(),
            400,
            "empty",
        ),
        (
            "wordless query",
            json_type,
            r#"{"query": "?!…"}"#.into(),
            400,
            "no words",
        ),
        (
            "huge top_k",
            json_type,
            r#"{"query": "LoRA", "top_k": 1000000}"#.into(),
            400,
            "top_k must be between 1 and 100",
        ),
        (
            "zero top_k",
            json_type,
            r#"{"query": "LoRA", "top_k": 0}"#.into(),
            400,
            "top_k",
        ),
        (
            "negative top_k",
            json_type,
            r#"{"query": "LoRA", "top_k": -1}"#.into(),
            400,
            "invalid value",
        ),
        (
            "unknown mode",
            json_type,
            r#"{"query": "LoRA", "mode": "magic"}"#.into(),
            400,
            "magic",
        ),
        (
            "bad filter",
            json_type,
            r#"{"query": "LoRA", "filters": ["section"]}"#.into(),
            400,
            "FIELD=VALUE",
        ),
        (
            "unknown filter field",
            json_type,
            r#"{"query": "LoRA", "filters": ["tag=gan"]}"#.into(),
            400,
            "section",
        ),
        (
            "not JSON",
            "text/plain",
            "Was ist LoRA?".into(),
            415,
            "Content-Type: application/json",
        ),
        (
            "body over the limit",
            json_type,
            huge_query,
            413,
            "over 65536 bytes",
        ),
    ];
    for (what, content_type, body, status, needle) in cases {
        let (got, text) = post(&url, content_type, &body);
        assert_eq!(got, status, "{what}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{what}: {text}"));
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{what}: {message}");
    }
    let long = json!({"query": "LoRA ".repeat(1000)});
    let (status, report) = ask(&server, long);
    assert_eq!(status, 400, "{report}");
    for (path, status) in [
        ("/v1/pairs/no-such-pair", 404),
        ("/v1/related/no-such-pair", 404),
        ("/v1/related/lora?top_k=0", 400),
        ("/v1/related/lora?top_k=many", 400),
        ("/v1/nothing-here", 404),
        ("/v1/ask", 405),
    ] {
        let (got, text) = get(&server.url(path));
        assert_eq!(got, status, "{path}: {text}");
        let error: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: {text}"));
        assert!(error["error"]["message"].is_string(), "{path}: {text}");
    }
    // After all that, it still answers.
    let (status, report) = ask(&server, json!({"query": "Was ist LoRA?"}));
    assert_eq!((status, ids(&report)[0].as_str()), (200, "lora"));
    assert!(!server.log().contains("panicked"), "{}", server.log());
}

#[test]
fn every_path_of_the_openapi_document_is_served() {
    let server = Server::start(bundled_index());
    let (status, body) = get(&server.url("/openapi.json"));
    assert_eq!(status, 200);
    let document: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 7, "{paths:?}");
    for (path, methods) in paths {
        let path = path.replace("{id}", "lora");
        for (method, operation) in methods.as_object().unwrap() {
            let (status, body) = match method.as_str() {
                "get" => get(&server.url(&path)),
                "post" => post(
                    &server.url(&path),
                    "application/json",
                    r#"{"query": "Was ist LoRA?"}"#,
                ),
                other => panic!("unexpected method {other}"),
            };
            assert_eq!(status, 200, "{method} {path}: {body:.300}");
            let declared = operation["responses"]["200"]["content"]
                .as_object()
                .unwrap();
            if declared.contains_key("application/json") {
                let value: Value = serde_json::from_str(&body).unwrap();
                let schema =
                    &operation["responses"]["200"]["content"]["application/json"]["schema"];
                let schema = match schema["$ref"].as_str() {
                    Some(reference) => {
                        let name = reference.rsplit('/').next().unwrap();
                        &document["components"]["schemas"][name]
                    }
                    None => schema,
                };
                for field in schema["required"].as_array().into_iter().flatten() {
                    let field = field.as_str().unwrap();
                    assert!(
                        value.get(field).is_some(),
                        "{path}: no {field} in {body:.300}"
                    );
                }
            }
        }
    }
    // The request schema names exactly the fields the server takes.
    let properties: Vec<&String> = document["components"]["schemas"]["AskRequest"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    let request = json!({"query": "Was ist LoRA?", "top_k": 2, "mode": "hybrid", "filters": ["section=intermediate"], "explain": true});
    let mut sent: Vec<&String> = request.as_object().unwrap().keys().collect();
    let mut declared = properties.clone();
    sent.sort();
    declared.sort();
    assert_eq!(sent, declared);
    let (status, report) = ask(&server, request);
    assert_eq!(status, 200, "{report}");
}

fn health(server: &Server) -> Value {
    serde_json::from_str(&get(&server.url("/healthz")).1).unwrap()
}

#[test]
fn two_servers_follow_a_rebuild_by_a_third_process_without_a_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("faq.jsonl");
    let mut lines = common::small::records();
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let index = dir.path().join("index");
    let built = antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
    assert!(built.status.success(), "{}", stderr(&built));
    // The first embeds two queries at once (the default), the second one at a time.
    let servers = [
        Server::start(&index),
        Server::start_with(&index, &["--sessions", "1"]),
    ];
    let before: Vec<Value> = servers
        .iter()
        .map(|s| health(s)["generation"].clone())
        .collect();
    assert_eq!(before[0], before[1]);

    let stop = Arc::new(AtomicBool::new(false));
    let (asked, failed) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(Vec::new())),
    );
    let askers: Vec<_> = servers
        .iter()
        .flat_map(|s| [s.url("/v1/ask"), s.url("/v1/ask")])
        .map(|url| {
            let (stop, asked, failed) =
                (Arc::clone(&stop), Arc::clone(&asked), Arc::clone(&failed));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (status, body) = post(
                        &url,
                        "application/json",
                        r#"{"query": "Wie backe ich Brot?", "top_k": 2}"#,
                    );
                    asked.fetch_add(1, Ordering::Relaxed);
                    let first = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|r| r["results"][0]["id"].as_str().map(str::to_string));
                    if status != 200 || first.as_deref() != Some("bread") {
                        failed
                            .lock()
                            .unwrap()
                            .push(format!("{status}: {body:.200}"));
                    }
                }
            })
        })
        .collect();

    lines.push(record(
        "coffee",
        "Wie brühe ich Kaffee auf?",
        "Gemahlene Bohnen mit heißem Wasser übergießen und filtern.",
    ));
    std::fs::write(&corpus, lines.join("\n")).unwrap();
    let rebuilt = antwort(&index, &["index", "--corpus", corpus.to_str().unwrap()]);
    assert!(rebuilt.status.success(), "{}", stderr(&rebuilt));
    let deadline = Instant::now() + Duration::from_secs(60);
    for server in &servers {
        while health(server)["generation"] == before[0] {
            assert!(Instant::now() < deadline, "no reload: {}", server.log());
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(health(server)["pairs"], 4);
        let (status, report) = ask(
            server,
            json!({"query": "Wie mache ich Kaffee?", "top_k": 1}),
        );
        assert_eq!(
            (status, ids(&report)),
            (200, vec!["coffee".to_string()]),
            "{report}"
        );
    }
    // A little more traffic on the new generation, then the count.
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for asker in askers {
        asker.join().unwrap();
    }
    let failed = failed.lock().unwrap();
    assert!(
        asked.load(Ordering::Relaxed) >= 8,
        "too few requests to tell"
    );
    assert!(
        failed.is_empty(),
        "{} of {} failed: {:?}",
        failed.len(),
        asked.load(Ordering::Relaxed),
        &failed[..failed.len().min(3)]
    );
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let mut server = Server::start(bundled_index());
    assert_eq!(health(&server)["status"], "ok");
    let status = server.stop();
    assert!(status.success(), "{status:?}: {}", server.log());
    // The log reader may still be draining the last lines.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.log().contains("antwort: stopped") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        server.log().contains("antwort: stopped"),
        "{}",
        server.log()
    );
}

#[test]
fn a_connection_that_never_finishes_its_request_is_closed() {
    use std::io::{Read, Write};
    let server = Server::start(bundled_index());
    let address = server.base.trim_start_matches("http://").to_string();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .write_all(b"POST /v1/ask HTTP/1.1\r\nHost: antwort\r\n")
        .unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let started = Instant::now();
    let mut buffer = [0u8; 64];
    let read = stream.read(&mut buffer).unwrap_or(0);
    assert_eq!(read, 0, "{:?}", String::from_utf8_lossy(&buffer[..read]));
    let waited = started.elapsed();
    assert!(waited < Duration::from_secs(30), "closed after {waited:?}");
    let (status, report) = ask(&server, json!({"query": "Was ist LoRA?", "top_k": 1}));
    assert_eq!((status, ids(&report)), (200, vec!["lora".to_string()]));
}

/// Hostile request bodies and ids, generated by proptest: every one gets a 200 or a 4xx with a
/// JSON error, never a 5xx, and the server stays up. `PROPTEST_CASES` sets how many (default
/// 256; `scripts/reliability` sends 4,096).
#[test]
fn hostile_requests_never_get_a_5xx() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    let server = Server::start(bundled_index());
    // Ids go into a path, which clients keep short; bodies take anything.
    let id = prop_oneof![
        "[a-zA-ZäöüßÄÖÜ ]{0,30}",
        "[\\x00-\\x1f\u{202a}-\u{202e}\u{0300}-\u{036f}\u{200b}-\u{200f}א-ת]{0,20}",
    ];
    let text = prop_oneof![
        3 => id.clone(),
        1 => Just(String::new()),
        1 => (1usize..200_000).prop_map(|n| "Frage ".repeat(n / 6 + 1)),
    ];
    let value = prop_oneof![
        text.clone().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<bool>().prop_map(Value::from),
        Just(Value::Null),
        prop::collection::vec(text.clone(), 0..4).prop_map(|v| json!(v)),
        prop::collection::btree_map(text.clone(), text.clone(), 0..3).prop_map(|m| json!(m)),
    ];
    let field = prop_oneof![
        Just("query".to_string()),
        Just("top_k".to_string()),
        Just("mode".to_string()),
        Just("filters".to_string()),
        Just("explain".to_string()),
        "[a-z_]{1,10}",
    ];
    let object = prop::collection::btree_map(field, value, 0..6)
        .prop_map(|fields| serde_json::to_vec(&fields).unwrap());
    let mode = prop_oneof![
        Just("bm25".to_string()),
        Just("dense".to_string()),
        Just("hybrid".to_string()),
        Just("rerank".to_string()),
        "[a-z]{0,8}",
    ];
    let top_k = prop_oneof![3 => 1u64..20, 1 => 0u64..2_000_000];
    let request =
        (text.clone(), top_k, mode, any::<bool>()).prop_map(|(query, top_k, mode, explain)| {
            serde_json::to_vec(
                &json!({"query": query, "top_k": top_k, "mode": mode, "explain": explain}),
            )
            .unwrap()
        });
    let body = prop_oneof![
        4 => request,
        4 => object,
        1 => prop::collection::vec(any::<u8>(), 0..300),
        1 => (1usize..5_000).prop_map(|d| format!("{}{}", "{\"a\":".repeat(d), "}".repeat(d)).into_bytes()),
    ];
    let (ran, answered) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let mut runner = TestRunner::new(Config {
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&(body, id), |(body, id)| {
            ran.fetch_add(1, Ordering::Relaxed);
            let response = agent()
                .post(server.url("/v1/ask"))
                .header("Content-Type", "application/json")
                .send(&body[..]);
            // Over the server's 64 kB limit, a 413 may come (and the connection close) before
            // the client has sent it all: the client sees a broken pipe, the server is fine.
            let mut response = match response {
                Ok(response) => response,
                Err(ureq::Error::Io(e)) if body.len() > 64 * 1024 => {
                    prop_assert!(
                        e.kind() == std::io::ErrorKind::BrokenPipe
                            || e.kind() == std::io::ErrorKind::ConnectionReset,
                        "{e}"
                    );
                    return Ok(());
                }
                Err(e) => panic!("the server does not answer: {e}"),
            };
            let status = response.status().as_u16();
            let reply = response.body_mut().read_to_string().unwrap_or_default();
            prop_assert!(
                status == 200 || (400..500).contains(&status),
                "{status}: {reply}"
            );
            if status == 200 {
                answered.fetch_add(1, Ordering::Relaxed);
            } else {
                let error: Value = serde_json::from_str(&reply).expect("a JSON error");
                prop_assert!(error["error"]["message"].is_string(), "{reply}");
            }
            let id: String = id
                .bytes()
                .map(|b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                        char::from(b).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect();
            for path in ["/v1/pairs/", "/v1/related/"] {
                let response = agent().get(server.url(&format!("{path}{id}"))).call();
                let status = response.expect("the server answers").status().as_u16();
                prop_assert!(
                    status == 200 || (400..500).contains(&status),
                    "{path}{id}: {status}"
                );
            }
            Ok(())
        })
        .unwrap();
    assert_eq!(health(&server)["status"], "ok");
    println!(
        "fuzz server requests: {} bodies (and ids), {} answered, the rest refused with a 4xx \
         (over 64 kB, possibly before the whole body was sent), 0 5xx",
        ran.into_inner(),
        answered.into_inner()
    );
}
