//! Standard input and output for rmcp's stdio transport, with the lines JSON-RPC 2.0 refuses
//! answered as it says. rmcp answers every line it cannot read as a message with an invalid
//! request (-32600) that has no `id` member at all; JSON-RPC wants the parse error (-32700) for
//! text that is not JSON, invalid params (-32602) with the request's id for a request it can
//! tell, and an `id` (null when it cannot be read) in every answer. rmcp gets the lines it can
//! read, as they came; one task writes both its answers and these to stdout, a line at a time.

use rmcp::model::ClientJsonRpcMessage;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

const PARSE_ERROR: i32 = -32700;
const INVALID_REQUEST: i32 = -32600;
const INVALID_PARAMS: i32 = -32602;

/// What to do with one line of input (or one `/mcp` body).
#[derive(Debug, PartialEq)]
pub(super) enum Line {
    /// A message rmcp reads: passed on.
    Forward,
    /// Nothing to pass on or answer: a blank line, or a notification or response rmcp cannot
    /// read (JSON-RPC answers neither).
    Skip,
    /// Refused: this answer goes to stdout.
    Answer(Value),
}

/// What JSON-RPC says of one line (or one `/mcp` body): passed on to rmcp when it reads it as a
/// message; else the answer, with the request's id when it can be read, or nothing for a
/// notification or a response. Both transports answer with it.
pub(super) fn check(line: &[u8]) -> Line {
    let line = line.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Line::Skip;
    }
    let unread = match serde_json::from_slice::<ClientJsonRpcMessage>(line) {
        Ok(_) => return Line::Forward,
        Err(e) => e,
    };
    let value = match serde_json::from_slice::<Value>(line) {
        // serde's syntax errors name a place (line and column), never the text.
        Err(e) => {
            return Line::Answer(error(Value::Null, PARSE_ERROR, format!("Parse error: the line is not JSON ({e})")))
        }
        Ok(v) => v,
    };
    let Some(object) = value.as_object() else {
        let what = if value.is_array() { "a batch (MCP has none since 2025-06-18)" } else { "not an object" };
        return Line::Answer(error(Value::Null, INVALID_REQUEST, format!("Invalid Request: {what}")));
    };
    // An id JSON-RPC allows (a string or an integer) is answered with; any other is unreadable.
    let id = object.get("id").filter(|i| i.is_string() || i.is_i64() || i.is_u64()).cloned();
    let method = object.get("method").and_then(Value::as_str);
    let why = switchboard_core::redact::without_values(&unread.to_string());
    match (id, method) {
        // A request rmcp could not read although it names a method (rmcp reads every method
        // name, answering an unknown one itself): its params are wrong.
        (Some(id), Some(method)) if object.get("jsonrpc") == Some(&json!("2.0")) => {
            Line::Answer(error(id, INVALID_PARAMS, format!("Invalid params of {method}: {why}")))
        }
        // A notification or a response: never answered.
        (None, _) if !object.contains_key("id") && (method.is_some() || object.contains_key("result")) => Line::Skip,
        (None, None) if object.contains_key("result") || object.contains_key("error") => Line::Skip,
        (id, _) => Line::Answer(error(
            id.unwrap_or(Value::Null),
            INVALID_REQUEST,
            format!("Invalid Request: not a JSON-RPC 2.0 message ({why})"),
        )),
    }
}

fn error(id: Value, code: i32, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The tasks reading stdin and writing stdout; the writer ends once rmcp's writer is dropped
/// and every line is out.
pub struct Tasks {
    reader: JoinHandle<()>,
    writer: JoinHandle<()>,
}

impl Tasks {
    /// Stops reading stdin, then waits until everything rmcp wrote is on stdout. Called once
    /// rmcp's session has ended (and its writer has been dropped).
    pub async fn finish(self) {
        self.reader.abort();
        let _ = self.writer.await;
    }
}

/// Standard input and output, checked line by line (see the module's documentation): rmcp's
/// side of them (what it reads, where it writes), and the tasks that serve them.
pub fn streams() -> ((DuplexStream, DuplexStream), Tasks) {
    let (mut to_rmcp, input) = tokio::io::duplex(64 * 1024);
    let (output, from_rmcp) = tokio::io::duplex(64 * 1024);
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let answers = tx.clone();
    let reader = tokio::spawn(async move {
        let mut lines = BufReader::new(tokio::io::stdin()).split(b'\n');
        while let Ok(Some(line)) = lines.next_segment().await {
            match check(&line) {
                Line::Forward => {
                    let mut line = line;
                    line.push(b'\n');
                    if to_rmcp.write_all(&line).await.is_err() {
                        break;
                    }
                }
                Line::Skip => {}
                Line::Answer(answer) => {
                    let _ = answers.send(format!("{answer}\n").into_bytes());
                }
            }
        }
        // Dropping `to_rmcp` ends rmcp's input: the session ends as at the end of stdin.
    });
    let copier = tokio::spawn(async move {
        let mut lines = BufReader::new(from_rmcp).split(b'\n');
        while let Ok(Some(mut line)) = lines.next_segment().await {
            line.push(b'\n');
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = rx.recv().await {
            if stdout.write_all(&line).await.is_err() || stdout.flush().await.is_err() {
                break;
            }
        }
        let _ = copier.await;
    });
    ((input, output), Tasks { reader, writer })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(line: &str) -> (Value, i64) {
        match check(line.as_bytes()) {
            Line::Answer(a) => {
                assert!(a.as_object().is_some_and(|o| o.contains_key("id")), "every answer has an id: {a}");
                (a["id"].clone(), a["error"]["code"].as_i64().unwrap_or_default())
            }
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn lines_json_rpc_refuses_are_answered_with_its_codes() {
        assert_eq!(answered("{this is not json"), (Value::Null, -32700));
        assert_eq!(answered("[]"), (Value::Null, -32600));
        assert_eq!(answered(r#"[{"jsonrpc":"2.0","id":5,"method":"tools/list"}]"#), (Value::Null, -32600));
        assert_eq!(answered("42"), (Value::Null, -32600));
        assert_eq!(answered(r#"{"id":9}"#), (json!(9), -32600));
        assert_eq!(answered(r#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":5}"#), (json!("a"), -32602));
        assert_eq!(answered(r#"{"jsonrpc":"2.0","id":[1],"method":"tools/list"}"#), (Value::Null, -32600));
    }

    #[test]
    fn messages_rmcp_reads_pass_and_notifications_are_never_answered() {
        for line in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"foo/bar"}"#,
            "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\r",
        ] {
            assert_eq!(check(line.as_bytes()), Line::Forward, "{line}");
        }
        for line in ["", "  ", r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":5}"#] {
            assert_eq!(check(line.as_bytes()), Line::Skip, "{line:?}");
        }
    }

    #[test]
    fn answers_quote_no_value() {
        let Line::Answer(a) = check(br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":"sk_live_SECRET"}"#)
        else {
            panic!("refused")
        };
        assert!(!a.to_string().contains("SECRET"), "{a}");
    }
}
