//! The `switchboard` command line against the fake upstream, as a user runs it.

mod common;

use std::process::Command;

use common::run_to_exit;

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
    assert_eq!(err["code"], "upstream_authentication", "the provider rejected the credentials: {stderr}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsupported_database_url_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("sb-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let runs: [&[&str]; 3] = [
        &["serve", "--bind", "127.0.0.1:0", "--database-url", "mysql://user:hunter2@db.example/x"],
        &["admin", "create-application", "--organization", "acme", "--database-url", "mysql://x"],
        &["admin", "rotate-key", "--database-url", "mysql://x"],
    ];
    for args in runs {
        let mut cmd = switchboard();
        cmd.args(args)
            .arg("--data-dir")
            .arg(&dir)
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env_remove("SWITCHBOARD_MASTER_KEY")
            .env_remove("SWITCHBOARD_OLD_MASTER_KEYS");
        let out = tokio::task::block_in_place(|| run_to_exit(cmd));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} must fail; stderr: {stderr}");
        let err: Value = serde_json::from_str(stderr.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {stderr}"));
        assert_eq!(err["code"], "configuration", "{args:?}: {stderr}");
        let message = err["message"].as_str().unwrap_or_default();
        for form in ["mysql", "postgres://", "postgresql://", "sqlite://"] {
            assert!(message.contains(form), "{args:?}: {form} is not named in {message:?}");
        }
        assert!(!stderr.contains("hunter2"), "the URL's password is not repeated: {stderr}");
        assert!(!dir.exists(), "{args:?} fell back to SQLite in {}", dir.display());
    }
    // The same URL from the environment.
    let mut cmd = switchboard();
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("SWITCHBOARD_DATABASE_URL", "mysql://x")
        .env_remove("SWITCHBOARD_MASTER_KEY");
    let out = tokio::task::block_in_place(|| run_to_exit(cmd));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgresql://"));
    assert!(!dir.exists());
}

/// A bad `SWITCHBOARD_EXCHANGES_PER_ORIGIN` (the limit of core's shared HTTP client, which the
/// engine's token refreshes use) stops `serve` at start with a message naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_exchange_limit_is_refused_at_start() {
    let dir = std::env::temp_dir().join(format!("sb-cli-limit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut cmd = switchboard();
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&dir)
        .env("SWITCHBOARD_EXCHANGES_PER_ORIGIN", "0")
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_MASTER_KEY");
    let out = tokio::task::block_in_place(|| run_to_exit(cmd));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "serve must fail; stderr: {stderr}");
    let err: Value =
        serde_json::from_str(stderr.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(err["code"], "configuration", "{stderr}");
    let message = err["message"].as_str().unwrap_or_default();
    assert!(message.contains("SWITCHBOARD_EXCHANGES_PER_ORIGIN must be a positive whole number"), "{message}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_base_urls_are_checked_at_start() {
    let dir = std::env::temp_dir().join(format!("sb-cli-upstream-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    // (value, what must be said): an unknown connector is refused by name, a URL that is not
    // http(s) by the argument parser.
    let cases = [("jira-of-the-future=http://127.0.0.1:1", "jira-of-the-future"), ("github=ftp://x", "http(s)")];
    for (value, said) in cases {
        let mut cmd = switchboard();
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--upstream-base-url", value])
            .arg("--data-dir")
            .arg(&dir)
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env_remove("SWITCHBOARD_UPSTREAM_BASE_URLS");
        let out = tokio::task::block_in_place(|| run_to_exit(cmd));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{value} must be refused; stderr: {stderr}");
        assert!(stderr.contains(said), "{value}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A reader that goes away early (`switchboard connectors | head -n 1`) ends the program quietly
/// with status 0, as command-line tools do, never with a panic.
#[test]
fn a_closed_stdout_ends_the_listing_quietly() {
    for args in [&["connectors"][..], &["connectors", "github"], &["connectors", "--json"]] {
        let mut cmd = switchboard();
        cmd.args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
        // Close the read end before the program writes: its first write meets a broken pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap_or_else(|e| panic!("{e}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?}, stderr: {stderr}", out.status);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// `switchboard connectors` lines its columns up whatever the slugs' and names' lengths: a
/// connector from `--specs` with a long slug and name shifts no row.
#[test]
fn the_connectors_table_keeps_its_columns_for_long_names() {
    let dir = std::env::temp_dir().join(format!("switchboard-table-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let pet = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/openapi/petstore-3.0.yaml");
    let mut import = switchboard();
    import.args(["connectors", "import", "--name", "a-connector-with-a-rather-long-slug", "--out"]);
    import.arg(dir.join("long.yaml")).arg(&pet);
    let out = run_to_exit(import);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut list = switchboard();
    list.arg("--specs").arg(&dir).arg("connectors");
    let out = run_to_exit(list);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.contains("a-connector-with-a-rather-long-slug"), "{stdout}");
    // Where each column starts, in characters: the header's, then every row's.
    let starts = |line: &str| -> Vec<usize> {
        let chars: Vec<char> = line.chars().collect();
        (0..chars.len()).filter(|&i| chars[i] != ' ' && i >= 2 && chars[i - 1] == ' ' && chars[i - 2] == ' ').collect()
    };
    let mut lines = stdout.lines();
    let header = starts(lines.next().unwrap_or_default());
    assert_eq!(header.len(), 3, "SLUG, NAME, DEFINITION ID, OPERATIONS: {stdout}");
    let mut rows = 0;
    for line in lines {
        // Display names hold single spaces; a column starts after two or more.
        let row = starts(line);
        assert!(header.iter().all(|h| row.contains(h)), "{line:?} is not aligned with the header {header:?}");
        rows += 1;
    }
    assert!(rows > 50, "{stdout}");
    let _ = std::fs::remove_dir_all(&dir);
}
