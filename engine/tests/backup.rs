//! `switchboard admin backup` / `restore` and master-key rotation as operators run them: real
//! `switchboard serve` processes, the command line, and the fake GitHub. A backup taken while an
//! engine serves restores into a new data directory where a second engine executes with the
//! restored credentials; a restore without the right master key fails and touches nothing; a
//! backup from before a key rotation is recovered with the old key and rotated forward.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::serve::Serve;
use common::{call, Answer, TempDir};
use fake_upstream::leaks::Watch;
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_engine::crypto::Key;

/// Runs `switchboard ARGS` with no master key, data directory or database URL from the
/// caller's environment; `env` is set last.
fn switchboard(args: &[&str], paths: &[(&str, &Path)], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args)
        .env_remove("SWITCHBOARD_MASTER_KEY")
        .env_remove("SWITCHBOARD_OLD_MASTER_KEYS")
        .env_remove("SWITCHBOARD_DATABASE_URL")
        .env_remove("SWITCHBOARD_DATA_DIR");
    for (flag, path) in paths {
        cmd.arg(flag).arg(path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    tokio::task::block_in_place(|| cmd.output()).unwrap_or_else(|e| panic!("cannot run switchboard: {e}"))
}

fn stdout_json(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "exit {:?}: {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `admin backup --data-dir DATA --out OUT` (+ `extra`).
fn backup(data: &Path, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["admin", "backup"];
    args.extend_from_slice(extra);
    switchboard(&args, &[("--data-dir", data), ("--out", out)], env)
}

/// `admin restore --data-dir DATA --from FROM` (+ `extra`).
fn restore(data: &Path, from: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec!["admin", "restore"];
    args.extend_from_slice(extra);
    switchboard(&args, &[("--data-dir", data), ("--from", from)], env)
}

fn key_id(key_b64: &str) -> String {
    Key::parse(key_b64).unwrap_or_else(|e| panic!("{e}")).id().to_string()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// The names in a directory (none when it does not exist).
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(d) => d.map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()).unwrap_or_default()).collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// Creates a GitHub connector with the fake's personal access token; returns its id.
async fn create_github(base: &str, token: &str, fake: &FakeUpstream) -> String {
    let c = call(
        "POST",
        &format!("{base}/api/v1/integrations/connectors"),
        Some(token),
        Some(json!({
            "connector_type": "github", "workspace_name": "w",
            "credentials": {"personal_access_token": creds::GITHUB_TOKEN},
            "replication_config": {"repositories": ["octo/hello"]}, "config": {"base_url": fake.base_url("github")}})),
        &[],
    )
    .await;
    assert_eq!(c.status, 201, "{}", c.text);
    c.body["id"].as_str().unwrap_or_default().to_string()
}

async fn execute(base: &str, token: &str, id: &str) -> Answer {
    call(
        "POST",
        &format!("{base}/api/v1/integrations/connectors/{id}/execute"),
        Some(token),
        Some(json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}})),
        &[],
    )
    .await
}

/// Executes `id` on `base` and checks the fake answered records to the stored PAT.
async fn executes_with_the_stored_pat(base: &str, token: &str, id: &str, fake: &FakeUpstream) {
    fake.clear_requests();
    let run = execute(base, token, id).await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert!(run.body["result"].as_array().is_some_and(|a| !a.is_empty()), "{}", run.text);
    let sent = fake.requests_for("github");
    assert!(!sent.is_empty(), "the execution reached the fake");
    for r in sent {
        let auth = r.headers.get("authorization").cloned().unwrap_or_default();
        assert!(auth.contains(creds::GITHUB_TOKEN), "the restored PAT was sent: {}", r.path);
    }
}

/// The engine A setup: serving with master key `key` on `dir`, one GitHub connector.
struct Served {
    serve: Serve,
    client_id: String,
    secret: String,
    token: String,
    connector: String,
}

async fn serve_with_connector(dir: &Path, env: &[(&str, &str)], fake: &FakeUpstream) -> Served {
    let serve = tokio::task::block_in_place(|| Serve::start(dir, None, env));
    let (client_id, secret) = serve.first_creds();
    let token = serve.app_token(&client_id, &secret).await;
    let connector = create_github(&serve.base, &token, fake).await;
    executes_with_the_stored_pat(&serve.base, &token, &connector, fake).await;
    Served { serve, client_id, secret, token, connector }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_while_serving_restores_into_a_new_engine() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let key = Key::generate().to_base64();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str())];
    let a_dir = TempDir::new();
    let a = serve_with_connector(&a_dir.0, &env, &fake).await;

    // Executions keep running on A while the backup is taken.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load = {
        let (stop, done) = (stop.clone(), done.clone());
        let (base, token, id) = (a.serve.base.clone(), a.token.clone(), a.connector.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let run = execute(&base, &token, &id).await;
                assert_eq!(run.status, 200, "an execution during the backup: {}", run.text);
                done.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    while done.load(Ordering::SeqCst) < 3 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out_dir = TempDir::new();
    let file = out_dir.0.join("switchboard.backup");
    let before = done.load(Ordering::SeqCst);
    let out = backup(&a_dir.0, &file, &[], &env);
    let after = done.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    load.await.unwrap_or_else(|e| panic!("{e}"));
    eprintln!("executions on A while the backup ran: {}", after - before);
    assert!(after > before, "A served executions while the backup ran");
    let summary = stdout_json(&out);
    assert!(!stderr(&out).contains("WARNING"), "no key file in use, no warning: {}", stderr(&out));

    // The summary: path, size, rows, key ids; no key material.
    let bytes = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    assert_eq!(summary["bytes"], json!(bytes), "{summary}");
    let path = std::fs::canonicalize(&file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(summary["path"], json!(path.display().to_string()));
    for (table, rows) in [("organizations", 1), ("applications", 1), ("connectors", 1), ("server_keys", 1)] {
        assert_eq!(summary["tables"][table], json!(rows), "{table}: {summary}");
    }
    assert!(summary["tables"]["signing_keys"].as_i64().is_some_and(|n| n >= 1), "{summary}");
    let sealed = summary["sealed_records"].as_u64().unwrap_or(0);
    assert!(sealed >= 3, "connector, signing key and server key: {summary}");
    assert_eq!(summary["key_ids"], json!({ key_id(&key): sealed }), "every secret under the one key");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&key) && !stderr(&out).contains(&key));
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600, "the backup file is private");

    // No plaintext secret in the backup's bytes, in any encoding.
    let mut watch = Watch::default();
    for s in [creds::GITHUB_TOKEN, a.secret.as_str(), key.as_str()] {
        watch.add(s);
    }
    let control = format!("x{}y", base64_of(creds::GITHUB_TOKEN));
    assert!(!watch.leaks(&control).is_empty(), "the scan finds an encoded secret");
    let raw = std::fs::read(&file).unwrap_or_else(|e| panic!("{e}"));
    let leaks = watch.leaks(&String::from_utf8_lossy(&raw));
    assert!(leaks.is_empty(), "secrets in the backup file: {leaks:?}");

    // An existing file is not overwritten without --force.
    let again = backup(&a_dir.0, &file, &[], &env);
    assert!(!again.status.success(), "overwrote an existing backup");
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&file).unwrap_or_default(), raw, "the existing file is unchanged");
    assert_eq!(listing(&out_dir.0), vec!["switchboard.backup".to_string()], "no temporary file left");
    stdout_json(&backup(&a_dir.0, &file, &["--force"], &env));
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);

    // Restore into a new data directory; engine B on it executes with the restored credentials
    // and A's application credentials still get tokens.
    let b_root = TempDir::new();
    let b_dir = b_root.0.join("data");
    let restored = stdout_json(&restore(&b_dir, &file, &[], &env));
    assert_eq!(restored["organizations"], json!(1), "{restored}");
    assert_eq!(restored["kept_aside"], json!([]));
    assert!(restored["schema_version"].as_i64().is_some_and(|v| v >= 4), "{restored}");
    #[cfg(unix)]
    assert_eq!(mode(&b_dir.join("switchboard.db")), 0o600);
    let (client_id, secret, connector) = (a.client_id.clone(), a.secret.clone(), a.connector.clone());
    drop(a);
    let mut b = tokio::task::block_in_place(|| Serve::start(&b_dir, None, &env));
    assert!(b.first.is_none(), "the restored store is initialised: no new first application");
    let token = b.app_token(&client_id, &secret).await;
    executes_with_the_stored_pat(&b.base, &token, &connector, &fake).await;
    let logs = b.output();
    assert!(!logs.contains(creds::GITHUB_TOKEN) && !logs.contains(&secret), "a secret reached B's output");

    // The target now holds data: a second restore is refused unless --force, which keeps the
    // old database aside.
    b.kill();
    let refused = restore(&b_dir, &file, &[], &env);
    assert!(!refused.status.success(), "restored over a database without --force");
    assert!(stderr(&refused).contains("already holds a database"), "{}", stderr(&refused));
    let forced = stdout_json(&restore(&b_dir, &file, &["--force"], &env));
    let aside = forced["kept_aside"].as_array().cloned().unwrap_or_default();
    assert!(!aside.is_empty(), "{forced}");
    for p in &aside {
        assert!(Path::new(p.as_str().unwrap_or_default()).exists(), "{p} kept aside");
    }
    let b = tokio::task::block_in_place(|| Serve::start(&b_dir, None, &env));
    let token = b.app_token(&client_id, &secret).await;
    executes_with_the_stored_pat(&b.base, &token, &connector, &fake).await;
}

fn base64_of(s: &str) -> String {
    fake_upstream::leaks::encodings(s)[1].clone()
}

/// A store made by the command line with master key `key` (an organization, an application
/// and the sealed server key), backed up to `file`.
fn small_backup(data: &Path, file: &Path, key: &str) {
    let env = [("SWITCHBOARD_MASTER_KEY", key)];
    stdout_json(&switchboard(
        &["admin", "create-application", "--organization", "acme"],
        &[("--data-dir", data)],
        &env,
    ));
    let summary = stdout_json(&backup(data, file, &[], &env));
    assert_eq!(summary["key_ids"], json!({ key_id(key): 1 }), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_without_the_right_master_key_fails_and_touches_nothing() {
    let (src, out, target) = (TempDir::new(), TempDir::new(), TempDir::new());
    let key = Key::generate().to_base64();
    let file = out.0.join("b.db");
    small_backup(&src.0, &file, &key);

    // Another key: refused, naming the key id needed, never a key.
    let other = Key::generate().to_base64();
    let wrong = restore(&target.0, &file, &[], &[("SWITCHBOARD_MASTER_KEY", other.as_str())]);
    assert!(!wrong.status.success());
    let err: Value = serde_json::from_str(stderr(&wrong).trim()).unwrap_or_else(|e| panic!("{e}: {}", stderr(&wrong)));
    assert_eq!(err["code"], json!("configuration"), "{err}");
    let message = err["message"].as_str().unwrap_or_default();
    assert!(message.contains(&key_id(&key)) && message.contains("nothing was changed"), "{message}");
    assert!(!message.contains(&key) && !message.contains(&other), "no key material in the error");
    assert!(listing(&target.0).is_empty(), "the target is untouched: {:?}", listing(&target.0));

    // No key at all: refused, and no key file is made in the target.
    let none = restore(&target.0, &file, &[], &[]);
    assert!(!none.status.success());
    assert!(stderr(&none).contains(&key_id(&key)), "{}", stderr(&none));
    assert!(listing(&target.0).is_empty(), "no key file made: {:?}", listing(&target.0));

    // A file that is not a Switchboard database: refused, target untouched.
    let junk = out.0.join("junk.db");
    std::fs::write(&junk, b"not a database at all, just text").unwrap_or_else(|e| panic!("{e}"));
    let bad = restore(&target.0, &junk, &[], &[("SWITCHBOARD_MASTER_KEY", key.as_str())]);
    assert!(stderr(&bad).contains("not a SQLite database"), "{}", stderr(&bad));
    let other_sqlite = src.0.join("other.db");
    sqlite_exec(&other_sqlite, "CREATE TABLE t (x); INSERT INTO t VALUES (1);");
    let bad = restore(&target.0, &other_sqlite, &[], &[("SWITCHBOARD_MASTER_KEY", key.as_str())]);
    assert!(stderr(&bad).contains("not a Switchboard database"), "{}", stderr(&bad));
    assert!(listing(&target.0).is_empty(), "{:?}", listing(&target.0));

    // The right key restores.
    let restored = stdout_json(&restore(&target.0, &file, &[], &[("SWITCHBOARD_MASTER_KEY", key.as_str())]));
    assert_eq!(restored["organizations"], json!(1), "{restored}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_end_to_end_and_recovery_of_a_backup_from_before_it() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let (k1, k2) = (Key::generate().to_base64(), Key::generate().to_base64());
    let only_k1 = [("SWITCHBOARD_MASTER_KEY", k1.as_str())];
    let k2_and_k1 = [("SWITCHBOARD_MASTER_KEY", k2.as_str()), ("SWITCHBOARD_OLD_MASTER_KEYS", k1.as_str())];
    let only_k2 = [("SWITCHBOARD_MASTER_KEY", k2.as_str())];
    let (dir, out) = (TempDir::new(), TempDir::new());
    let a = serve_with_connector(&dir.0, &only_k1, &fake).await;
    let (client_id, secret, connector) = (a.client_id.clone(), a.secret.clone(), a.connector.clone());
    let before_rotation = out.0.join("before-rotation.db");
    let summary = stdout_json(&backup(&dir.0, &before_rotation, &[], &only_k1));
    assert!(summary["key_ids"][key_id(&k1)].as_u64().is_some_and(|n| n >= 3), "{summary}");

    // Rotation, online: the engine restarts with K2 current and K1 old, the command reseals
    // while it serves, then the engine restarts with K2 only.
    drop(a);
    let s = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &k2_and_k1));
    let token = s.app_token(&client_id, &secret).await;
    let rotated = stdout_json(&switchboard(&["admin", "rotate-key"], &[("--data-dir", &dir.0)], &k2_and_k1));
    assert_eq!(rotated["key_id"], json!(key_id(&k2)));
    assert!(rotated["records_resealed"].as_u64().is_some_and(|n| n >= 3), "{rotated}");
    executes_with_the_stored_pat(&s.base, &token, &connector, &fake).await;
    drop(s);
    let s = tokio::task::block_in_place(|| Serve::start(&dir.0, None, &only_k2));
    let token = s.app_token(&client_id, &secret).await;
    executes_with_the_stored_pat(&s.base, &token, &connector, &fake).await;
    let after = stdout_json(&backup(&dir.0, &out.0.join("after-rotation.db"), &[], &only_k2));
    assert_eq!(after["key_ids"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()), Some(vec![key_id(&k2)]));
    drop(s);

    // The backup from before the rotation needs K1: with K2 alone it is refused, naming K1's id.
    let target = TempDir::new();
    let refused = restore(&target.0, &before_rotation, &[], &only_k2);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains(&key_id(&k1)), "{}", stderr(&refused));
    assert!(listing(&target.0).is_empty());

    // Recovery: restore with K1 as an old key, rotate, then run on K2 alone.
    stdout_json(&restore(&target.0, &before_rotation, &[], &k2_and_k1));
    let rotated = stdout_json(&switchboard(&["admin", "rotate-key"], &[("--data-dir", &target.0)], &k2_and_k1));
    assert!(rotated["records_resealed"].as_u64().is_some_and(|n| n >= 3), "{rotated}");
    let s = tokio::task::block_in_place(|| Serve::start(&target.0, None, &only_k2));
    let token = s.app_token(&client_id, &secret).await;
    executes_with_the_stored_pat(&s.base, &token, &connector, &fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_embedded_key_file_the_backup_warns_and_can_carry_a_copy() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let (dir, out) = (TempDir::new(), TempDir::new());
    let a = serve_with_connector(&dir.0, &[], &fake).await;
    let (client_id, secret, connector) = (a.client_id.clone(), a.secret.clone(), a.connector.clone());
    let key_file = std::fs::read_to_string(dir.0.join("master.key")).unwrap_or_else(|e| panic!("{e}"));

    let plain = backup(&dir.0, &out.0.join("plain.db"), &[], &[]);
    let summary = stdout_json(&plain);
    assert!(stderr(&plain).contains("NOT in the backup"), "{}", stderr(&plain));
    assert_eq!(summary["key_file_included"], json!(false));
    assert!(!listing(&out.0).iter().any(|n| n.ends_with(".master.key")));

    let file = out.0.join("with-key.db");
    let with_key = backup(&dir.0, &file, &["--include-key-file"], &[]);
    let summary = stdout_json(&with_key);
    assert_eq!(summary["key_file_included"], json!(true));
    let copy = out.0.join("with-key.db.master.key");
    assert_eq!(std::fs::read_to_string(&copy).unwrap_or_default(), key_file, "the key file's copy");
    #[cfg(unix)]
    assert_eq!(mode(&copy), 0o600);
    for text in [String::from_utf8_lossy(&with_key.stdout).into_owned(), stderr(&with_key)] {
        for k in key_file.lines() {
            assert!(!text.contains(k), "key material printed");
        }
    }
    // The key is still not inside the backup file itself.
    let raw = String::from_utf8_lossy(&std::fs::read(&file).unwrap_or_default()).into_owned();
    let mut watch = Watch::default();
    key_file.lines().for_each(|k| watch.add(k));
    assert!(watch.leaks(&raw).is_empty(), "the master key is in the backup");

    // Restore: the key file goes into the new data directory first (the documented step).
    drop(a);
    let target = TempDir::new();
    let refused = restore(&target.0, &file, &[], &[]);
    assert!(stderr(&refused).contains("no master key is configured"), "{}", stderr(&refused));
    std::fs::copy(&copy, target.0.join("master.key")).unwrap_or_else(|e| panic!("{e}"));
    stdout_json(&restore(&target.0, &file, &[], &[]));
    let s = tokio::task::block_in_place(|| Serve::start(&target.0, None, &[]));
    let token = s.app_token(&client_id, &secret).await;
    executes_with_the_stored_pat(&s.base, &token, &connector, &fake).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gets_pg_dump_guidance_instead_of_a_backup() {
    let (dir, out) = (TempDir::new(), TempDir::new());
    let url = "postgres://switchboard:pg-password-1234@127.0.0.1:9/switchboard";
    let env = [("SWITCHBOARD_MASTER_KEY", "")];
    for (step, tool) in [("backup", "pg_dump"), ("restore", "pg_restore")] {
        let flag = if step == "backup" { "--out" } else { "--from" };
        let res = switchboard(
            &["admin", step, "--database-url", url],
            &[("--data-dir", &dir.0), (flag, &out.0.join("x.db"))],
            &env,
        );
        assert!(!res.status.success(), "{step} on PostgreSQL must not pretend");
        let err = stderr(&res);
        assert!(err.contains("pg_dump") && err.contains(tool), "{err}");
        assert!(!err.contains("pg-password-1234"), "the URL's password was printed");
        assert!(listing(&out.0).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_urls_work_and_an_altered_backup_is_refused() {
    let (src, out, target) = (TempDir::new(), TempDir::new(), TempDir::new());
    let key = Key::generate().to_base64();
    let env = [("SWITCHBOARD_MASTER_KEY", key.as_str())];
    small_backup(&src.0, &out.0.join("unused.db"), &key);
    // The same store named by --database-url, backed up and restored into another file.
    let live = format!("sqlite://{}", src.0.join("switchboard.db").display());
    let file = out.0.join("by-url.db");
    let summary = stdout_json(&switchboard(&["admin", "backup", "--database-url", &live], &[("--out", &file)], &env));
    assert_eq!(summary["tables"]["organizations"], json!(1), "{summary}");
    let restored_file = target.0.join("elsewhere.db");
    let restored_url = format!("sqlite://{}", restored_file.display());
    let restored =
        stdout_json(&switchboard(&["admin", "restore", "--database-url", &restored_url], &[("--from", &file)], &env));
    assert_eq!(restored["organizations"], json!(1), "{restored}");
    assert!(restored_file.exists());
    let again = switchboard(&["admin", "restore", "--database-url", &restored_url], &[("--from", &file)], &env);
    assert!(stderr(&again).contains("already holds a database"), "{}", stderr(&again));

    // A sealed value altered inside the backup (another record's ciphertext moved onto it) is
    // refused, with the right key, and the target is left as it was.
    let altered = out.0.join("altered.db");
    std::fs::copy(&file, &altered).unwrap_or_else(|e| panic!("{e}"));
    let sql = "UPDATE server_keys SET name = 'moved'; \
               INSERT INTO server_keys (name, secret_key_id, secret_ct, created_at) \
               SELECT 'client_secret_hmac', secret_key_id, secret_ct, created_at FROM server_keys \
               WHERE name = 'moved';";
    sqlite_exec(&altered, sql);
    let empty = TempDir::new();
    let refused = restore(&empty.0, &altered, &[], &env);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("do not decrypt"), "{}", stderr(&refused));
    assert!(listing(&empty.0).is_empty());
}

/// Runs `sql` on the SQLite file at `path` (created if missing), as a tool outside the engine
/// would.
fn sqlite_exec(path: &std::path::Path, sql: &str) {
    let db = rusqlite::Connection::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    db.execute_batch(sql).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
