//! `/mcp`'s context store tools, on SQLite and PostgreSQL main stores: a connector's synced
//! entities show as `<prefix>_<entity>_context_store_search` tools (operation style) and as the
//! two actions of its `_execute` tool (connector style) in the very next `tools/list` after the
//! sync ends (the list reads the caches fresh, one query per workspace), only for that
//! connector; an application token sees the synced entities of every workspace of its
//! organization, a scoped token its own workspace's; the search tool answers from the cache.

mod common;

use std::time::{Duration, Instant};

use common::{call, start, Answer, Backend, Engine};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};

const ACCEPT: (&str, &str) = ("accept", "application/json, text/event-stream");

async fn mcp(e: &Engine, token: &str, style: &str, method: &str, params: Value) -> Answer {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let a = call("POST", &e.url(&format!("/mcp?tools={style}")), Some(token), Some(body), &[ACCEPT]).await;
    assert_eq!(a.status, 200, "{}", a.text);
    a
}

/// The tools of a `tools/list` answer.
async fn tools(e: &Engine, token: &str, style: &str) -> Vec<Value> {
    let a = mcp(e, token, style, "tools/list", json!({})).await;
    a.body["result"]["tools"].as_array().cloned().unwrap_or_else(|| panic!("no tools: {}", a.text))
}

/// The search tools of `list`, each with the id of the connector its description names.
fn search_tools(list: &[Value], ids: &[&str]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .iter()
        .filter_map(|t| {
            let name = t["name"].as_str()?;
            name.ends_with("_context_store_search").then_some(())?;
            let description = t["description"].as_str().unwrap_or_default();
            let owner = ids.iter().find(|id| description.contains(**id)).map_or("?", |id| *id);
            Some((name.to_string(), owner.to_string()))
        })
        .collect();
    out.sort();
    out
}

async fn create(e: &Engine, token: &str, fake: &FakeUpstream, workspace: &str, name: &str) -> String {
    let body = json!({"connector_type": "stripe", "name": name, "workspace_name": workspace,
        "credentials": {"api_key": creds::STRIPE_KEY}, "config": {"base_url": fake.base_url("stripe")}});
    let c = call("POST", &e.url("/api/v1/integrations/connectors"), Some(token), Some(body), &[]).await;
    assert_eq!(c.status, 201, "{}", c.text);
    c.body["id"].as_str().unwrap_or_default().to_string()
}

/// Syncs `id`'s customers and waits for the sync to end (`succeeded`).
async fn sync_customers(e: &Engine, token: &str, id: &str) {
    let base = format!("/api/v1/integrations/connectors/{id}/context-store");
    let a =
        call("POST", &e.url(&format!("{base}/sync")), Some(token), Some(json!({"entities": ["customers"]})), &[]).await;
    assert_eq!(a.status, 202, "{}", a.text);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = call("GET", &e.url(&format!("{base}/status")), Some(token), None, &[]).await;
        let customers = s.body["entities"][0].clone();
        if customers["status"] != "running" {
            assert_eq!(customers["status"], "succeeded", "{customers}");
            return;
        }
        assert!(Instant::now() < deadline, "the sync never ended: {customers}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The `action` enum of the `_execute` tool whose description names connector `id`.
fn actions_of(list: &[Value], id: &str) -> Vec<String> {
    let tool = list
        .iter()
        .find(|t| t["description"].as_str().is_some_and(|d| d.contains(id)))
        .unwrap_or_else(|| panic!("no tool names {id}"));
    let schema = &tool["inputSchema"]["properties"]["action"]["enum"];
    schema.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

async fn tools_follow_the_syncs(backend: Backend) {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let Some(e) = start(backend, |_| {}).await else { return };
    let app = e.app_token().await;
    let a = create(&e, &app, &fake, "mcp-a", "billing-a").await;
    let b = create(&e, &app, &fake, "mcp-a", "billing-b").await;
    let c = create(&e, &app, &fake, "mcp-b", "billing-c").await;
    let ids = [a.as_str(), b.as_str(), c.as_str()];
    let s = call(
        "POST",
        &e.url("/api/v1/embedded/scoped-token"),
        Some(&app),
        Some(json!({"workspace_name": "mcp-a"})),
        &[],
    )
    .await;
    let scoped = s.body["token"].as_str().unwrap_or_else(|| panic!("no scoped token: {}", s.text)).to_string();

    // Nothing synced: no search tool, no context store action.
    assert_eq!(search_tools(&tools(&e, &scoped, "operation").await, &ids), vec![]);
    assert!(!actions_of(&tools(&e, &scoped, "connector").await, &a).contains(&"context_store_search".to_string()));

    // The list right after the sync ends has billing-a's search tool, and only its.
    sync_customers(&e, &app, &a).await;
    let listed = search_tools(&tools(&e, &scoped, "operation").await, &ids);
    assert_eq!(listed.len(), 1, "{listed:?}");
    let (name, owner) = listed[0].clone();
    assert_eq!(owner, a, "{listed:?}");
    assert!(name.ends_with("_customers_context_store_search"), "{name}");
    let connector_style = tools(&e, &scoped, "connector").await;
    let with = actions_of(&connector_style, &a);
    assert!(with.contains(&"context_store_search".into()) && with.contains(&"context_store_sql_query".into()));
    assert!(!actions_of(&connector_style, &b).contains(&"context_store_search".to_string()));

    // The search tool answers from the cache: the fake sees no request.
    fake.reset();
    let args = json!({"name": name, "arguments": {"query": {"filter": {"eq": {"id": "cus_0003"}}}}});
    let called = mcp(&e, &scoped, "operation", "tools/call", args).await;
    assert_eq!(called.body["result"]["isError"], false, "{}", called.text);
    let text = called.body["result"]["content"][0]["text"].as_str().unwrap_or_default();
    let answer: Value = serde_json::from_str(text).unwrap_or_else(|err| panic!("{err}: {text}"));
    let found: Vec<&str> =
        answer["data"]["data"].as_array().into_iter().flatten().filter_map(|r| r["id"].as_str()).collect();
    assert_eq!(found, vec!["cus_0003"], "{text}");
    assert_eq!(fake.requests_for("stripe").len(), 0, "a search reached the provider");

    // Another workspace's sync: the application token sees both, the scoped token its own.
    sync_customers(&e, &app, &c).await;
    let owners: Vec<String> =
        search_tools(&tools(&e, &app, "operation").await, &ids).into_iter().map(|(_, o)| o).collect();
    let mut expected = vec![a.clone(), c.clone()];
    expected.sort();
    let mut owners_sorted = owners.clone();
    owners_sorted.sort();
    assert_eq!(owners_sorted, expected, "{owners:?}");
    let scoped_owners: Vec<String> =
        search_tools(&tools(&e, &scoped, "operation").await, &ids).into_iter().map(|(_, o)| o).collect();
    assert_eq!(scoped_owners, vec![a.clone()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_follow_the_syncs_sqlite() {
    tools_follow_the_syncs(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_follow_the_syncs_postgres() {
    tools_follow_the_syncs(Backend::Postgres).await;
}
