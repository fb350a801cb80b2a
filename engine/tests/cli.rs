//! The `switchboard` command line against the fake upstream, as a user runs it.

use std::process::Command;

use fake_upstream::{creds, FakeUpstream};
use serde_json::Value;

fn switchboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env_remove("SWITCHBOARD_SPECS").env_remove("SWITCHBOARD_CREDENTIALS");
    c
}

async fn run(mut cmd: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("cannot run switchboard: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_prints_records_as_json() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = switchboard();
    cmd.args(["exec", "github", "issues", "list", "--params", r#"{"owner":"octo","repo":"hello","per_page":2}"#])
        .arg("--credentials")
        .arg(format!(r#"{{"personal_access_token":"{}"}}"#, creds::GITHUB_TOKEN))
        .arg("--config")
        .arg(format!(r#"{{"base_url":"{}"}}"#, fake.base_url("github")));
    let out = run(cmd).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "stdout: {stdout}\nstderr: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"));
    let data = v["data"].as_array().unwrap_or_else(|| panic!("data must be a list: {v}"));
    assert_eq!(data.len(), 2);
    assert!(data.iter().all(|r| r.get("number").is_some() && r.get("title").is_some()), "{v}");
    assert_eq!(v["meta"]["has_next_page"], Value::Bool(true), "{v}");
    let reqs = fake.requests_for("github");
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        reqs[0].headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {}", creds::GITHUB_TOKEN).as_str())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_errors_are_typed_json_on_stderr_without_secrets() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let secret = "ghp_definitely_not_valid_99";
    let mut cmd = switchboard();
    cmd.args(["exec", "github", "issues", "list", "--params", r#"{"owner":"octo","repo":"hello"}"#])
        .env("SWITCHBOARD_CREDENTIALS", format!(r#"{{"personal_access_token":"{secret}"}}"#))
        .arg("--config")
        .arg(format!(r#"{{"base_url":"{}"}}"#, fake.base_url("github")));
    let out = run(cmd).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let err: Value =
        serde_json::from_str(stderr.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(err["code"], "authentication", "{stderr}");
    assert!(!stderr.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret));

    let mut cmd = switchboard();
    cmd.args([
        "exec",
        "github",
        "issues",
        "list",
        "--params",
        r#"{"owner":"octo"}"#,
        "--credentials",
        r#"{"personal_access_token":"x"}"#,
    ]);
    let out = run(cmd).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"validation\"") && stderr.contains("repo"), "{stderr}");

    let mut cmd = switchboard();
    cmd.args(["exec", "nosuch", "a", "b"]);
    let out = run(cmd).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("\"configuration\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connectors_lists_and_describes() {
    let out = run({
        let mut c = switchboard();
        c.args(["connectors", "--json"]);
        c
    })
    .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    let slugs: Vec<&str> = v.as_array().into_iter().flatten().filter_map(|c| c["slug"].as_str()).collect();
    for s in ["github", "stripe", "hubspot", "gong", "linear"] {
        assert!(slugs.contains(&s), "{s} missing from {slugs:?}");
    }
    let out = run({
        let mut c = switchboard();
        c.args(["connectors", "github"]);
        c
    })
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("issues") && text.contains("owner: string, required"), "{text}");
}
