//! `switchboard mcp --hosted` as a desktop MCP client runs it: the real binary over stdio, with
//! client credentials and a workspace, against an engine in this process whose scoped tokens
//! live 3 seconds. The session must keep working across many token lifetimes (the server holds
//! a scoped token and renews it before it expires), offer only the workspace's connectors, and
//! answer bad input with protocol-correct errors without ending the session.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use common::{call, start, Backend, Engine};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Lifetime of the engine's scoped tokens in this test, in seconds.
const SCOPED_TTL: u64 = 3;
/// The engine accepts a token this long after it expired (its clock skew allowance).
const SKEW: u64 = switchboard_engine::tokens::LEEWAY_SECS;

/// A `switchboard mcp` child process spoken to in newline-delimited JSON-RPC.
struct McpProcess {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::UnboundedReceiver<String>,
    next_id: u64,
}

impl McpProcess {
    fn spawn(args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.arg("mcp").args(args).env_clear().env("SWITCHBOARD_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("switchboard mcp: {e}"));
        let stdin = child.stdin.take().unwrap_or_else(|| panic!("no stdin"));
        let stdout = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let (tx, lines) = mpsc::unbounded_channel();
        // A thread reads stdout, so waiting for an answer can time out while the engine in this
        // process keeps serving.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, stdin, lines, next_id: 1 }
    }

    fn write(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap_or_else(|e| panic!("writing to switchboard mcp: {e}"));
        self.stdin.flush().unwrap_or_else(|e| panic!("{e}"));
    }

    /// Sends a request and waits for the answer with its id (skipping notifications).
    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.write(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string());
        self.answer(id).await
    }

    /// The next message, whatever its id.
    async fn next(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(60), self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no message within 60 s"))
            .unwrap_or_else(|| panic!("switchboard mcp closed stdout"));
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {line}"))
    }

    async fn answer(&mut self, id: u64) -> Value {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), self.lines.recv())
                .await
                .unwrap_or_else(|_| panic!("no answer to request {id} within 60 s"))
                .unwrap_or_else(|| panic!("switchboard mcp closed stdout before answering request {id}"));
            let msg: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {line}"));
            if msg["id"] == json!(id) {
                return msg;
            }
        }
    }

    async fn initialize(&mut self) {
        let init = self
            .request(
                "initialize",
                json!({"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "desk", "version": "1"}}),
            )
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "switchboard", "{init}");
        self.write(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string());
    }

    async fn call_tool(&mut self, name: &str, arguments: Value) -> Value {
        self.request("tools/call", json!({"name": name, "arguments": arguments})).await
    }
}

impl Drop for McpProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The tool result's text parsed as JSON, and whether it is a tool error.
fn tool_result(answer: &Value) -> (Value, bool) {
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("not a tool result: {answer}"));
    let body = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (body, answer["result"]["isError"] == json!(true))
}

/// The sum of the engine's `/metrics` samples whose line starts with `series`.
async fn metric(e: &Engine, series: &str) -> u64 {
    let m = call("GET", &e.url("/metrics"), None, None, &[]).await;
    m.text
        .lines()
        .filter_map(|l| l.strip_prefix(series))
        .filter_map(|rest| rest.rsplit(' ').next().and_then(|n| n.parse::<u64>().ok()))
        .sum()
}

const SCOPED_MINTED: &str = "switchboard_tokens_issued_total{kind=\"scoped\"}";
const EXECUTE_401: &str =
    "switchboard_http_requests_total{method=\"POST\",route=\"/api/v1/integrations/connectors/{id}/execute\",status=\"401\"}";

fn list_issues() -> Value {
    json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 2}})
}

async fn desk_setup(e: &Engine) -> (FakeUpstream, McpProcess) {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let app = e.app_token().await;
    e.github_connector(&app, Some("ws-desk"), &fake.base_url("github"), creds::GITHUB_TOKEN).await;
    let other = json!({"connector_type": "github", "name": "elsewhere", "workspace_name": "ws-other",
        "credentials": {"personal_access_token": creds::GITHUB_TOKEN}, "config": {"base_url": fake.base_url("github")},
        "replication_config": {"repositories": ["octo/hello"]}});
    assert_eq!(e.post("/api/v1/integrations/connectors", &app, other).await.status, 201);
    let env = [
        ("SWITCHBOARD_API_URL", e.base.as_str()),
        ("SWITCHBOARD_CLIENT_ID", e.app.client_id.as_str()),
        ("SWITCHBOARD_CLIENT_SECRET", e.app.client_secret.as_str()),
    ];
    let mut mcp = McpProcess::spawn(&["--hosted", "--workspace", "ws-desk"], &env);
    mcp.initialize().await;
    (fake, mcp)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_stdio_renews_its_scoped_token_and_keeps_working() {
    let Some(e) = start(Backend::Sqlite, |s| s.scoped_token_ttl = SCOPED_TTL).await else { return };
    let (_fake, mut mcp) = desk_setup(&e).await;
    let tools = mcp.request("tools/list", json!({})).await;
    let names: Vec<&str> =
        tools["result"]["tools"].as_array().into_iter().flatten().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["gh_execute", "describe"], "only ws-desk's connector: {tools}");

    let run = |answer: Value| {
        let (body, failed) = tool_result(&answer);
        assert!(!failed, "{answer}");
        assert_eq!(body["data"][0]["number"], 5, "{answer}");
    };
    run(mcp.call_tool("gh_execute", list_issues()).await);
    // The listing and the first call: one scoped token (the client credentials only mint it).
    assert_eq!(metric(&e, SCOPED_MINTED).await, 1);

    // Past the token's lifetime but within the engine's skew allowance, the old token would
    // still be accepted: a second token now means it was renewed by time, not after a refusal.
    tokio::time::sleep(Duration::from_secs(SCOPED_TTL + 1)).await;
    run(mcp.call_tool("gh_execute", list_issues()).await);
    assert_eq!(metric(&e, SCOPED_MINTED).await, 2);

    // Well past every token's end (lifetime and skew): the session still works.
    tokio::time::sleep(Duration::from_secs(SCOPED_TTL + SKEW + 1)).await;
    run(mcp.call_tool("gh_execute", list_issues()).await);
    run(mcp.call_tool("gh_execute", list_issues()).await);
    assert_eq!(metric(&e, SCOPED_MINTED).await, 3);
    // No call was ever sent with a token the engine refused.
    assert_eq!(metric(&e, EXECUTE_401).await, 0);
    // And only ever as the workspace: another workspace's connector is an unknown tool.
    let foreign = mcp.call_tool("elsewhere_execute", list_issues()).await;
    assert_eq!(foreign["error"]["code"], -32602, "{foreign}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hosted_stdio_answers_bad_input_with_protocol_errors_and_keeps_serving() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let (_fake, mut mcp) = desk_setup(&e).await;

    // An unknown tool: JSON-RPC invalid params.
    let unknown = mcp.call_tool("nope_execute", list_issues()).await;
    assert_eq!(unknown["error"]["code"], -32602, "{unknown}");
    // Wrong argument types, a non-object params, an unknown field: validation tool errors.
    for args in [
        json!({"entity": 5, "action": ["list"]}),
        json!({"entity": "issues", "action": "list", "params": "x"}),
        json!({"entity": "issues", "action": "list", "surprise": true}),
    ] {
        let a = mcp.call_tool("gh_execute", args.clone()).await;
        let (body, failed) = tool_result(&a);
        assert!(failed && body["code"] == "validation", "{args}: {a}");
    }
    // Missing params: refused by the engine's validation, as the execute route does.
    let (body, failed) = tool_result(&mcp.call_tool("gh_execute", json!({"entity": "issues", "action": "list"})).await);
    assert!(failed && body["code"] == "validation" && body["message"].as_str().is_some_and(|m| m.contains("owner")));
    // Arguments over the 256 KiB bound: payload_too_large, nothing sent to the engine.
    let executes = metric(&e, "switchboard_executions_total").await;
    let big = json!({"entity": "issues", "action": "list", "params": {"owner": "x".repeat(300_000), "repo": "r"}});
    let (body, failed) = tool_result(&mcp.call_tool("gh_execute", big).await);
    assert!(failed && body["code"] == "payload_too_large", "{body}");
    assert_eq!(metric(&e, "switchboard_executions_total").await, executes);
    // An unknown method and a line that is not JSON at all.
    let nothing = mcp.request("resources/list", json!({})).await;
    assert_eq!(nothing["error"]["code"], json!(-32601), "method not found: {nothing}");
    // Lines JSON-RPC refuses, each answered with its code and an id (null when unreadable).
    for (line, id, code) in [
        ("{this is not json", Value::Null, -32700),
        ("[]", Value::Null, -32600),
        (r#"{"jsonrpc": "2.0", "id": 77}"#, json!(77), -32600),
        (r#"{"jsonrpc": "2.0", "id": "p", "method": "tools/call", "params": 5}"#, json!("p"), -32602),
    ] {
        mcp.write(line);
        let answer = mcp.next().await;
        assert!(answer.as_object().is_some_and(|o| o.contains_key("id")), "{line}: {answer}");
        assert_eq!((&answer["id"], answer["error"]["code"].as_i64()), (&id, Some(code)), "{line}: {answer}");
    }
    // A notification is never answered, even one that cannot be read.
    mcp.write(r#"{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": 5}"#);
    mcp.write(r#"{"jsonrpc": "2.0", "id": "after", "method": "ping"}"#);
    let pong = mcp.next().await;
    assert_eq!(pong["id"], "after", "the next message answers the ping: {pong}");
    // Still serving.
    let (body, failed) = tool_result(&mcp.call_tool("gh_execute", list_issues()).await);
    assert!(!failed && body["data"][0]["number"] == 5, "{body}");
}
