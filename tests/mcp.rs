//! `antwort mcp` in a real MCP session over stdio: the binary with the real model, spoken to
//! in JSON-RPC as an agent's client speaks to it.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

use serde_json::{json, Value};

use common::binary::{antwort, stderr};

struct Session {
    child: Child,
    input: Option<ChildStdin>,
    messages: Receiver<Value>,
    next_id: u64,
}

impl Session {
    fn start(index: &Path) -> Session {
        let mut child = Command::new(env!("CARGO_BIN_EXE_antwort"))
            .arg("--index")
            .arg(index)
            .arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("antwort mcp starts");
        let (sender, messages) = channel();
        let output = BufReader::new(child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in output.lines().map_while(Result::ok) {
                let message = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("stdout holds only protocol messages: {e}: {line}"));
                if sender.send(message).is_err() {
                    break;
                }
            }
        });
        Session {
            input: child.stdin.take(),
            child,
            messages,
            next_id: 1,
        }
    }

    fn send(&mut self, message: Value) {
        let input = self.input.as_mut().expect("the session is open");
        writeln!(input, "{message}").unwrap();
        input.flush().unwrap();
    }

    /// The response to one request.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let message = self
                .messages
                .recv_timeout(Duration::from_secs(120))
                .unwrap_or_else(|_| panic!("no response to {method}"));
            if message["id"] == json!(id) {
                return message;
            }
        }
    }

    /// The result of one tool call (`isError` and all).
    fn call(&mut self, tool: &str, arguments: Value) -> Value {
        let response = self.request("tools/call", json!({"name": tool, "arguments": arguments}));
        assert!(response.get("error").is_none(), "{tool}: {response}");
        response["result"].clone()
    }
}

fn error_text(result: &Value) -> String {
    assert_eq!(result["isError"], true, "{result}");
    result["content"][0]["text"].as_str().unwrap().to_string()
}

#[test]
fn an_mcp_session_lists_and_calls_every_tool() {
    let dir = tempfile::tempdir().unwrap();
    let index = dir.path().join("index");
    let built = antwort(&index, &["index"]);
    assert!(built.status.success(), "{}", stderr(&built));
    let mut session = Session::start(&index);

    let initialized = session.request(
        "initialize",
        json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}}),
    );
    let server = &initialized["result"];
    assert_eq!(server["serverInfo"]["name"], "antwort", "{initialized}");
    assert!(server["capabilities"]["tools"].is_object(), "{initialized}");
    session.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    let listed = session.request("tools/list", json!({}));
    let tools = listed["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["ask", "get_pair", "related", "topics"]);
    let ask = tools.iter().find(|t| t["name"] == "ask").unwrap();
    let schema = &ask["inputSchema"];
    assert_eq!(schema["type"], "object");
    assert_eq!(schema["required"], json!(["query"]));
    for property in ["query", "top_k", "filters"] {
        assert!(schema["properties"][property].is_object(), "{schema}");
    }
    assert!(tools
        .iter()
        .all(|t| !t["description"].as_str().unwrap().is_empty()));

    // German, then English against the German answers.
    for question in ["Was ist LoRA?", "How does LoRA make fine-tuning cheaper?"] {
        let result = session.call("ask", json!({"query": question, "top_k": 3}));
        assert_eq!(result["isError"], false, "{result}");
        let answers = &result["structuredContent"];
        let best = &answers["results"][0];
        assert_eq!(best["id"], "lora", "{question}: {answers}");
        for field in ["question", "answer", "excerpt", "score"] {
            assert!(!best[field].is_null(), "{field} missing: {best}");
        }
        let quoted: Value =
            serde_json::from_str(result["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(&quoted, answers);
    }
    let filtered = session.call(
        "ask",
        json!({"query": "Was ist LoRA?", "filters": ["section=advanced"]}),
    );
    assert!(filtered["structuredContent"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["section"] == "advanced"));

    let related = session.call("related", json!({"id": "lora", "top_k": 3}));
    let neighbours = related["structuredContent"]["related"].as_array().unwrap();
    assert_eq!(neighbours.len(), 3, "{related}");
    assert!(neighbours
        .iter()
        .all(|r| r["id"] != "lora" && r["question"].is_string()));

    let pair = session.call("get_pair", json!({"id": "lora"}));
    assert!(pair["structuredContent"]["answer"]
        .as_str()
        .unwrap()
        .contains("LoRA"));

    let topics = session.call("topics", json!({}));
    let members: usize = (topics["structuredContent"]["topics"].as_array().unwrap())
        .iter()
        .map(|t| t["pairs"].as_array().unwrap().len())
        .sum();
    assert_eq!(members, 36);

    // Bad arguments are tool errors that say what is wrong; the session goes on.
    let cases = [
        ("ask", json!({"querry": "LoRA"}), "unknown field `querry`"),
        ("ask", json!({}), "missing field `query`"),
        ("ask", json!({"query": "?!"}), "no words"),
        (
            "ask",
            json!({"query": "LoRA", "top_k": 0}),
            "top_k must be between 1 and 100",
        ),
        (
            "ask",
            json!({"query": "LoRA", "top_k": "five"}),
            "invalid type",
        ),
        (
            "ask",
            json!({"query": "LoRA", "filters": ["tag=gan"]}),
            "section",
        ),
        (
            "get_pair",
            json!({"id": "no-such-pair"}),
            "no pair has the id",
        ),
        ("related", json!({"id": "lora", "top_k": 1000}), "top_k"),
    ];
    for (tool, arguments, needle) in cases {
        let message = error_text(&session.call(tool, arguments.clone()));
        assert!(message.contains(needle), "{tool} {arguments}: {message}");
    }
    let unknown = session.request(
        "tools/call",
        json!({"name": "delete_everything", "arguments": {}}),
    );
    assert!(unknown["error"]["message"].is_string(), "{unknown}");
    let again = session.call("ask", json!({"query": "Was ist LoRA?", "top_k": 1}));
    assert_eq!(again["structuredContent"]["results"][0]["id"], "lora");

    // Closing stdin ends the session and the process.
    session.input = None;
    let status = session.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}
