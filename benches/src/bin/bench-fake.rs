//! A fast fake of GitHub's `issues list` for the benchmarks: every answer is rendered once at
//! start and served as shared bytes, over HTTP/1.1 keep-alive on loopback, so the fake costs
//! next to nothing next to the client it measures.
//!
//! - `POST /graphql`: the GraphQL v4 answer to the `ListIssues` query the connectors send
//!   (`data.repository.issues { totalCount pageInfo nodes }`), with the union of the fields the
//!   two GitHub connectors (ours and the reference's) select by default.
//! - `GET /repos/{owner}/{repo}/issues`: the REST v3 answer (an array of issue objects, a `Link`
//!   header to the next page).
//!
//! Every answer carries `--records` issues whatever the page size asked for (GitHub caps pages
//! at 100; the growth point needs bigger pages than that). The request body is read in full but
//! not parsed: the benchmark measures clients, not the fake.
//!
//! Usage: bench-fake [--bind 127.0.0.1:0] [--records 30] [--workers 1]; prints `listening on ADDR`.

use axum::{
    body::Bytes,
    http::{header, HeaderValue},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use clap::Parser;
use serde_json::{json, Value};
use std::io::Write;

#[derive(Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    bind: String,
    /// Issues in every answer.
    #[arg(long, default_value_t = 30)]
    records: usize,
    /// Tokio worker threads.
    #[arg(long, default_value_t = 1)]
    workers: usize,
}

const BODY: &str = "Steps to reproduce:\n\n1. Open the dashboard.\n2. Click **Export** on a report \
with more than 500 rows.\n3. Wait.\n\nExpected: a CSV download.\nActual: the spinner never \
stops and the console shows `TypeError: cannot read properties of undefined (reading 'rows')`.";

const LOGINS: [&str; 5] = ["octocat", "hubot", "monalisa", "defunkt", "mojombo"];
const LABELS: [(&str, &str); 4] =
    [("bug", "d73a4a"), ("enhancement", "a2eeef"), ("question", "d876e3"), ("good first issue", "7057ff")];

fn created(i: usize) -> String {
    // Newest first, one issue an hour back from a fixed instant.
    let hours = i % 24;
    let days = i / 24;
    format!("2026-{:02}-{:02}T{:02}:{:02}:00Z", 11 - (days / 28) % 11, 28 - days % 28, 23 - hours, (i * 7) % 60)
}

fn graphql_node(i: usize, total: usize) -> Value {
    let number = total - i;
    let closed = number.is_multiple_of(3);
    let login = LOGINS[number % LOGINS.len()];
    let (label, color) = LABELS[number % LABELS.len()];
    json!({
        "id": format!("I_kwDOAbCdEf{number:08}"),
        "databaseId": 1_900_000_000 + number,
        "number": number,
        "title": format!("Export hangs on large reports (case {number})"),
        "body": BODY,
        "state": if closed { "CLOSED" } else { "OPEN" },
        "stateReason": if closed { json!("COMPLETED") } else { Value::Null },
        "url": format!("https://github.com/octo/hello/issues/{number}"),
        "locked": false,
        "createdAt": created(i),
        "updatedAt": created(i),
        "closedAt": if closed { json!(created(i)) } else { Value::Null },
        "author": {"login": login, "avatarUrl": format!("https://avatars.githubusercontent.com/u/{}?v=4", 583231 + number % 5)},
        "assignees": {"nodes": [{"login": LOGINS[(number + 1) % LOGINS.len()]}]},
        "labels": {"nodes": [{"name": label, "color": color}]},
        "milestone": if number.is_multiple_of(2) { json!({"number": 3, "title": "v1.2"}) } else { Value::Null },
        "comments": {"totalCount": number % 7},
    })
}

fn rest_issue(i: usize, total: usize) -> Value {
    let number = total - i;
    let closed = number.is_multiple_of(3);
    let login = LOGINS[number % LOGINS.len()];
    let (label, color) = LABELS[number % LABELS.len()];
    let user = |login: &str, id: usize| {
        json!({"login": login, "id": id, "node_id": format!("MDQ6VXNlcj{id}"),
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "url": format!("https://api.github.com/users/{login}"),
            "html_url": format!("https://github.com/{login}"), "type": "User", "site_admin": false})
    };
    let base = "https://api.github.com/repos/octo/hello";
    json!({
        "url": format!("{base}/issues/{number}"),
        "repository_url": base,
        "labels_url": format!("{base}/issues/{number}/labels{{/name}}"),
        "comments_url": format!("{base}/issues/{number}/comments"),
        "events_url": format!("{base}/issues/{number}/events"),
        "html_url": format!("https://github.com/octo/hello/issues/{number}"),
        "id": 1_900_000_000 + number,
        "node_id": format!("I_kwDOAbCdEf{number:08}"),
        "number": number,
        "title": format!("Export hangs on large reports (case {number})"),
        "user": user(login, 583231 + number % 5),
        "labels": [{"id": 208045946 + number % 4, "node_id": "MDU6TGFiZWwyMDgwNDU5NDY=",
            "url": format!("{base}/labels/{label}"), "name": label, "color": color, "default": true,
            "description": "Something isn't working"}],
        "state": if closed { "closed" } else { "open" },
        "locked": false,
        "assignee": user(LOGINS[(number + 1) % LOGINS.len()], 583232),
        "assignees": [user(LOGINS[(number + 1) % LOGINS.len()], 583232)],
        "milestone": if number.is_multiple_of(2) { json!({"number": 3, "title": "v1.2", "state": "open"}) } else { Value::Null },
        "comments": number % 7,
        "created_at": created(i),
        "updated_at": created(i),
        "closed_at": if closed { json!(created(i)) } else { Value::Null },
        "author_association": "CONTRIBUTOR",
        "active_lock_reason": null,
        "body": BODY,
        "reactions": {"url": format!("{base}/issues/{number}/reactions"), "total_count": 0, "+1": 0, "-1": 0,
            "laugh": 0, "hooray": 0, "confused": 0, "heart": 0, "rocket": 0, "eyes": 0},
        "timeline_url": format!("{base}/issues/{number}/timeline"),
        "state_reason": if closed { json!("completed") } else { Value::Null },
    })
}

fn json_response(body: Bytes, link: Option<&'static str>) -> Response {
    let mut res = body.into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    headers.insert("x-ratelimit-remaining", HeaderValue::from_static("4999"));
    if let Some(link) = link {
        headers.insert(header::LINK, HeaderValue::from_static(link));
    }
    res
}

fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let n = args.records;
    let nodes: Vec<Value> = (0..n).map(|i| graphql_node(i, n)).collect();
    let graphql = Bytes::from(
        json!({"data": {"repository": {"issues": {
            "totalCount": n * 4,
            "pageInfo": {"hasNextPage": true, "endCursor": "Y3Vyc29yOnYyOpK5MjAyNi0xMS0yOFQyMzowMDowMFo="},
            "nodes": nodes,
        }}}})
        .to_string(),
    );
    let rest = Bytes::from(Value::Array((0..n).map(|i| rest_issue(i, n)).collect()).to_string());
    let link = "<https://api.github.com/repositories/1296269/issues?page=2>; rel=\"next\", \
                <https://api.github.com/repositories/1296269/issues?page=4>; rel=\"last\"";

    let app = Router::new()
        .route(
            "/graphql",
            post(move |_body: Bytes| {
                let graphql = graphql.clone();
                async move { json_response(graphql, None) }
            }),
        )
        .route(
            "/repos/{owner}/{repo}/issues",
            get(move || {
                let rest = rest.clone();
                async move { json_response(rest, Some(link)) }
            }),
        );

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(args.workers.max(1)).enable_all().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(&args.bind).await?;
        let addr = listener.local_addr()?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on {addr}")?;
        out.flush()?;
        axum::serve(listener, app).await
    })
}
