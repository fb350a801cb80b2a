//! Success answers a connector must not misread, over real sockets from a server that answers
//! every request with one fixed body (as a broken API, a proxy's error page or a wrong base URL
//! would):
//! - a lone UTF-16 surrogate escape in one record (APIs that cut strings by UTF-16 units send
//!   them; Python's `json.loads` reads them) is read as U+FFFD, where it used to make the whole
//!   page unreadable and the list come back empty;
//! - a list answered with something that is not JSON (or not UTF-8) is an `upstream_http` error,
//!   not an empty page an agent would take for "there are none", and a health check against it is
//!   unhealthy.

use serde_json::{json, Value};
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions, Registry};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server answering every request `200` with `body` as `content_type`; its base URL.
async fn answering(content_type: &'static str, body: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                // One request per connection; its head is all this server needs to have read.
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = socket.write_all(&[head.as_bytes(), body].concat()).await;
            });
        }
    });
    format!("http://{addr}")
}

fn stripe(base_url: &str) -> Connector {
    let spec = Registry::builtin().and_then(|r| r.get("stripe")).unwrap_or_else(|e| panic!("{e}"));
    let credentials = json!({"api_key": "sk_test_odd_answers"});
    Connector::new(spec, credentials, json!({"base_url": base_url}), ConnectorOptions::default())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Stripe's customer list, one customer per kind of escape: a first half at the end of a string,
/// a second half alone, a first half followed by an escape that is not a second half, a whole
/// pair (kept), and an escaped backslash followed by the text `ud83d` (not an escape at all).
const CUSTOMERS: &str = r#"{"object":"list","has_more":false,"url":"/v1/customers","data":[
 {"id":"cus_1","name":"cut \ud83d"},
 {"id":"cus_2","name":"\ude00 alone"},
 {"id":"cus_3","name":"\ud83d\u0041"},
 {"id":"cus_4","name":"whole \ud83d\ude00"},
 {"id":"cus_5","name":"not an escape \\ud83d"}]}"#;

#[tokio::test]
async fn a_lone_surrogate_is_read_as_a_replacement_character_not_the_page_lost() {
    let c = stripe(&answering("application/json", CUSTOMERS.as_bytes()).await);
    let expected = ["cut \u{fffd}", "\u{fffd} alone", "\u{fffd}A", "whole \u{1f600}", "not an escape \\ud83d"];
    let names = |data: &Value| -> Vec<String> {
        data.as_array()
            .unwrap_or_else(|| panic!("not a list: {data}"))
            .iter()
            .map(|r| r["name"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let tree = c.execute("customers", "list", json!({}), &ExecuteOptions::default()).await;
    let tree = tree.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&tree.data), expected);
    // The path the engine and the bindings take (records passed as text where they can be).
    let text = c.execute_json("customers", "list", json!({}), &ExecuteOptions::default()).await;
    let text = text.unwrap_or_else(|e| panic!("{e}"));
    let data: Value = serde_json::to_value(&text.data).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(names(&data), expected);
}

#[tokio::test]
async fn a_list_answered_with_a_page_that_is_not_json_is_an_error_not_an_empty_list() {
    let c = stripe(&answering("text/html; charset=utf-8", b"<html><body>Sign in to the proxy</body></html>").await);
    for raw in [false, true] {
        let err = if raw {
            c.execute_json("customers", "list", json!({}), &ExecuteOptions::default()).await.err()
        } else {
            c.execute("customers", "list", json!({}), &ExecuteOptions::default()).await.err()
        };
        let err = err.unwrap_or_else(|| panic!("a page that is not JSON read as a list (raw: {raw})"));
        assert_eq!(err.code, ErrorCode::UpstreamHttp, "{err}");
        assert!(err.message.contains("not JSON (text/html; charset=utf-8)"), "{}", err.message);
        assert_eq!(err.details.as_ref().map(|d| d["upstream_status"].clone()), Some(json!(200)), "{err:?}");
    }
    // JSON in another encoding than UTF-8 is said to be that.
    let latin1 =
        stripe(&answering("application/json; charset=iso-8859-1", b"{\"data\": [{\"id\": \"caf\xe9\"}]}").await);
    let err = latin1.execute("customers", "list", json!({}), &ExecuteOptions::default()).await.err();
    let err = err.unwrap_or_else(|| panic!("a page that is not UTF-8 read as a list"));
    assert!(err.message.contains("not UTF-8 text (application/json; charset=iso-8859-1)"), "{}", err.message);
    // A number beyond what a 64-bit float holds is valid JSON no parser here reads: said so,
    // with where it is.
    let huge =
        stripe(&answering("application/json", b"{\"data\": [{\"id\": \"cus_1\", \"balance\": 1e999999}]}").await);
    let err = huge.execute("customers", "list", json!({}), &ExecuteOptions::default()).await.err();
    let err = err.unwrap_or_else(|| panic!("a page with an unreadable number read as a list"));
    assert_eq!(err.code, ErrorCode::UpstreamHttp, "{err}");
    assert!(err.message.contains("a number too large for a 64-bit float (line 1, column"), "{}", err.message);
    // A health check against such an answer is unhealthy (it read an empty page as healthy).
    assert_eq!(c.check().await.status, "unhealthy");
    // An operation that reads no records from a path keeps a text answer as its value.
    let one = c.execute("customers", "get", json!({"id": "cus_1"}), &ExecuteOptions::default()).await;
    let one = one.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one.data, json!({"value": "<html><body>Sign in to the proxy</body></html>"}));
}
