//! How `switchboard serve` and `switchboard admin` set up a store, as an operator runs them: the
//! master key's sources, processes starting together on an empty data directory, SQLite
//! database URLs, and the settings refused before anything is created.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::serve::Serve;
use common::{run_to_exit, TempDir};
use serde_json::Value;
use switchboard_engine::crypto::{Key, KeyRing};
use switchboard_engine::db::Db;

/// `switchboard ARGS` with no master key, key file, data directory or database URL from the
/// caller's environment; `env` is set last.
fn switchboard(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    cmd.args(args);
    for var in [
        "SWITCHBOARD_MASTER_KEY",
        "SWITCHBOARD_MASTER_KEY_FILE",
        "SWITCHBOARD_OLD_MASTER_KEYS",
        "SWITCHBOARD_DATABASE_URL",
        "SWITCHBOARD_DATA_DIR",
        "SWITCHBOARD_RATE_LIMIT",
        "SWITCHBOARD_RATE_BURST",
        "SWITCHBOARD_BIND",
        "SWITCHBOARD_CONFIG",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The JSON on stdout of a command that succeeded.
fn succeeded(out: &Output) -> Value {
    assert!(out.status.success(), "exit {:?}: {}{}", out.status, text(&out.stdout), text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(&out.stdout)))
}

/// The error of a command that failed: its JSON `{code, message}` on stderr, or clap's text for
/// a value its parser refused (`code` is then `usage`).
fn failed(out: &Output) -> (String, String) {
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "must fail; stdout: {} stderr: {stderr}", text(&out.stdout));
    assert!(text(&out.stdout).is_empty(), "a refused start prints nothing on stdout: {}", text(&out.stdout));
    match serde_json::from_str::<Value>(stderr.lines().last().unwrap_or_default()) {
        Ok(e) => (e["code"].as_str().unwrap_or_default().into(), e["message"].as_str().unwrap_or_default().into()),
        Err(_) => ("usage".into(), stderr),
    }
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap_or_else(|| panic!("not UTF-8: {}", p.display()))
}

/// A new master key in a file, as a systemd credential holds it: (its base64, the file).
fn key_file(dir: &Path, name: &str) -> (String, PathBuf) {
    let key = Key::generate().to_base64();
    let file = dir.join(name);
    std::fs::write(&file, format!("{key}\n")).unwrap_or_else(|e| panic!("{e}"));
    (key, file)
}

fn joined<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|_| panic!("a thread panicked"))
}

fn lines(p: &Path) -> usize {
    std::fs::read_to_string(p).unwrap_or_default().lines().filter(|l| !l.trim().is_empty()).count()
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Engines and admin commands started at once on an empty data directory all succeed, on one
/// master key: afterwards the key file holds one key and an engine restarted there opens every
/// application any of them made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_starting_together_on_an_empty_dir_share_one_key() {
    for round in 0..3 {
        let dir = TempDir::new();
        let data = dir.0.join("data");
        let (serves, admins) = tokio::task::block_in_place(|| {
            std::thread::scope(|s| {
                let serves: Vec<_> = (0..3).map(|_| s.spawn(|| Serve::start(&data, None, &[]))).collect();
                let admins: Vec<_> = (0..2)
                    .map(|i| {
                        let org = format!("org{i}");
                        let data = &data;
                        s.spawn(move || {
                            run_to_exit(switchboard(
                                &["admin", "create-application", "--organization", &org, "--data-dir", arg(data)],
                                &[],
                            ))
                        })
                    })
                    .collect();
                (
                    serves.into_iter().map(joined).collect::<Vec<Serve>>(),
                    admins.into_iter().map(joined).collect::<Vec<_>>(),
                )
            })
        });
        // A first application from each engine that found the store empty.
        let mut creds: Vec<(String, String)> =
            serves.iter().filter(|s| s.first.is_some()).map(Serve::first_creds).collect();
        for out in &admins {
            let v = succeeded(out);
            creds.push((
                v["client_id"].as_str().unwrap_or_default().into(),
                v["client_secret"].as_str().unwrap_or_default().into(),
            ));
        }
        drop(serves);
        assert_eq!(lines(&data.join("master.key")), 1, "round {round}: one key, never replaced");
        let leftovers: Vec<_> = std::fs::read_dir(&data)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("master.key."))
            .collect();
        assert!(leftovers.is_empty(), "round {round}: temporary key files left: {leftovers:?}");
        let again = tokio::task::block_in_place(|| Serve::start(&data, None, &[]));
        assert!(again.first.is_none(), "round {round}: the store was not empty");
        for (id, secret) in &creds {
            assert!(!again.app_token(id, secret).await.is_empty());
        }
    }
}

/// The same in one process: threads loading the key ring of one empty data directory get one
/// key, and pools opening its new database at once all migrate it without an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opens_racing_on_an_empty_dir_agree() {
    for _ in 0..5 {
        let dir = TempDir::new();
        let data = dir.0.join("data");
        let ids: Vec<String> = std::thread::scope(|s| {
            let loads: Vec<_> = (0..8).map(|_| s.spawn(|| KeyRing::load(None, None, Some(&data)))).collect();
            loads
                .into_iter()
                .map(|h| joined(h).unwrap_or_else(|e| panic!("{e}")))
                .map(|r| r.current_id().to_string())
                .collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "every loader has the key on disk: {ids:?}");
        let opens = (0..6).map(|_| {
            let data = data.clone();
            tokio::spawn(async move { Db::open(None, &data).await.map(|_| ()) })
        });
        for open in futures::future::join_all(opens).await {
            open.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("a racing open failed: {e}"));
        }
        let db = Db::open(None, &data).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(db.count_organizations().await.unwrap_or_else(|e| panic!("{e}")), 0);
    }
}

/// Every admin command takes the master key from `--master-key-file` or
/// `SWITCHBOARD_MASTER_KEY_FILE`, as `serve` does, and makes no key file of its own; a backup's
/// warning names the key file used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_commands_take_the_master_key_file() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let (key, mk) = key_file(&dir.0, "mk");
    let by_env = [("SWITCHBOARD_MASTER_KEY_FILE", arg(&mk))];
    let (cid, secret) = {
        let serve = tokio::task::block_in_place(|| Serve::start(&data, None, &by_env));
        serve.first_creds()
    };
    let app = succeeded(&run_to_exit(switchboard(
        &["admin", "create-application", "--organization", "acme", "--data-dir", arg(&data)],
        &by_env,
    )));
    assert!(!data.join("master.key").exists(), "no stray key file in the data directory");
    let out = run_to_exit(switchboard(
        &["admin", "rotate-key", "--data-dir", arg(&data), "--master-key-file", arg(&mk)],
        &[],
    ));
    let key_id = Key::parse(&key).map(|k| k.id().to_string()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(succeeded(&out)["key_id"], key_id.as_str());
    assert_eq!(lines(&mk), 1, "the operator's key file is never written");
    let backup = dir.0.join("b.db");
    let out = run_to_exit(switchboard(&["admin", "backup", "--data-dir", arg(&data), "--out", arg(&backup)], &by_env));
    succeeded(&out);
    let warning = text(&out.stderr);
    assert!(warning.contains(arg(&mk)) && !warning.contains("data/master.key"), "{warning}");
    let restored = dir.0.join("restored");
    let out =
        run_to_exit(switchboard(&["admin", "restore", "--data-dir", arg(&restored), "--from", arg(&backup)], &by_env));
    succeeded(&out);
    assert!(!data.join("master.key").exists() && !restored.join("master.key").exists());
    // Both key sources at once are refused by every command, before anything is done.
    let out = run_to_exit(switchboard(
        &["admin", "create-application", "--organization", "acme", "--data-dir", arg(&data)],
        &[("SWITCHBOARD_MASTER_KEY", &Key::generate().to_base64()), by_env[0]],
    ));
    let (code, message) = failed(&out);
    assert_eq!(code, "configuration");
    assert!(message.contains("set only one of them"), "{message}");
    let serve = tokio::task::block_in_place(|| Serve::start(&restored, None, &by_env));
    for (id, secret) in [
        (cid.as_str(), secret.as_str()),
        (app["client_id"].as_str().unwrap_or_default(), app["client_secret"].as_str().unwrap_or_default()),
    ] {
        assert!(!serve.app_token(id, secret).await.is_empty());
    }
}

/// `--database-url sqlite:...` creates a missing database with the modes of the embedded one
/// (0600, its `-wal` and `-shm` too, whatever the umask); one that names no file is refused at
/// start, naming the forms to use.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_database_url_makes_a_private_database() {
    let dir = TempDir::new();
    let key = Key::generate().to_base64();
    for url in
        [format!("sqlite://{}", dir.0.join("abs.db").display()), format!("sqlite:{}", dir.0.join("other.db").display())]
    {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "umask 000 && exec \"$0\" \"$@\"", env!("CARGO_BIN_EXE_switchboard")]);
        let serve = tokio::task::block_in_place(|| {
            Serve::spawn(cmd, &dir.0.join("unused"), Some(&url), &[("SWITCHBOARD_MASTER_KEY", &key)])
        });
        let (id, secret) = serve.first_creds();
        assert!(!serve.app_token(&id, &secret).await.is_empty());
        let file = PathBuf::from(url.trim_start_matches("sqlite://").trim_start_matches("sqlite:"));
        for suffix in ["", "-wal", "-shm"] {
            let p = PathBuf::from(format!("{}{suffix}", file.display()));
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
    assert!(!dir.0.join("unused").exists(), "a database URL uses no data directory");
    for url in ["sqlite://", "sqlite:"] {
        let out = run_to_exit(switchboard(
            &["serve", "--bind", "127.0.0.1:0", "--database-url", url, "--data-dir", arg(&dir.0.join("x"))],
            &[("SWITCHBOARD_MASTER_KEY", &key)],
        ));
        let (code, message) = failed(&out);
        assert_eq!(code, "configuration", "{url}: {message}");
        assert!(message.contains("names no file") && message.contains("sqlite:///"), "{url}: {message}");
    }
}

/// A bad `--bind` (not HOST:PORT, a port that does not exist, a port in use) fails before the
/// data directory is created or a first application printed; `--print-config` refuses what
/// `serve` refuses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_bind_fails_before_anything_is_created() {
    let dir = TempDir::new();
    let data = dir.0.join("fresh");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let in_use = taken.local_addr().unwrap_or_else(|e| panic!("{e}")).to_string();
    for bind in ["notanaddr", "127.0.0.1:99999", ":8080", in_use.as_str()] {
        let out = run_to_exit(switchboard(&["serve", "--bind", bind, "--data-dir", arg(&data)], &[]));
        let (code, message) = failed(&out);
        assert!(code == "usage" || code == "configuration", "{bind}: {code} {message}");
        assert!(message.contains(bind), "{bind}: the message names the value: {message}");
        assert!(!data.exists(), "{bind}: nothing is created");
    }
    let config = dir.0.join("sb.toml");
    std::fs::write(&config, "bind = \"notanaddr\"\n").unwrap_or_else(|e| panic!("{e}"));
    let out = run_to_exit(switchboard(&["serve", "--config", arg(&config), "--data-dir", arg(&data)], &[]));
    let (_, message) = failed(&out);
    assert!(message.contains(&format!("{}:1: `bind`", config.display())), "{message}");
    assert!(!data.exists());
    let out = run_to_exit(switchboard(&["serve", "--print-config", "--bind", "notanaddr"], &[]));
    assert!(failed(&out).1.contains("notanaddr"));
    let (_, mk) = key_file(&dir.0, "mk");
    let out = run_to_exit(switchboard(
        &["serve", "--print-config", "--master-key-file", arg(&mk)],
        &[("SWITCHBOARD_MASTER_KEY", &Key::generate().to_base64())],
    ));
    let (code, message) = failed(&out);
    assert_eq!(code, "configuration");
    assert!(message.contains("set only one of them"), "{message}");
}

/// The organization rate limit and burst are positive finite numbers, from a flag, the
/// environment or the configuration file: anything else stops the start before the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_rate_limits_must_be_positive_numbers() {
    let dir = TempDir::new();
    let data = dir.0.join("fresh");
    for (flag, var) in [("--rate-limit", "SWITCHBOARD_RATE_LIMIT"), ("--rate-burst", "SWITCHBOARD_RATE_BURST")] {
        for value in ["-1", "0", "nan", "inf"] {
            let out = run_to_exit(switchboard(
                &["serve", "--bind", "127.0.0.1:0", "--data-dir", arg(&data), &format!("{flag}={value}")],
                &[],
            ));
            let message = failed(&out).1;
            assert!(message.contains("is not a positive number"), "{flag}={value}: {message}");
            let out = run_to_exit(switchboard(
                &["serve", "--bind", "127.0.0.1:0", "--data-dir", arg(&data)],
                &[(var, value)],
            ));
            let message = failed(&out).1;
            assert!(message.contains("is not a positive number"), "{var}={value}: {message}");
            assert!(!data.exists(), "{flag}={value}: nothing is created");
        }
    }
    // An application token lives a second to a day.
    for value in ["0", "86401", "18446744073709551615"] {
        let out = run_to_exit(switchboard(
            &["serve", "--bind", "127.0.0.1:0", "--data-dir", arg(&data), &format!("--application-token-ttl={value}")],
            &[],
        ));
        let message = failed(&out).1;
        assert!(message.contains("86400"), "--application-token-ttl={value}: {message}");
        assert!(!data.exists(), "--application-token-ttl={value}: nothing is created");
    }
    let config = dir.0.join("sb.toml");
    std::fs::write(&config, "rate_limit = -1\nrate_burst = nan\n").unwrap_or_else(|e| panic!("{e}"));
    let out = run_to_exit(switchboard(&["serve", "--print-config", "--config", arg(&config)], &[]));
    let message = failed(&out).1;
    let file = config.display();
    assert!(
        message.contains(&format!("{file}:1: `rate_limit`")) && message.contains(&format!("{file}:2: `rate_burst`")),
        "{message}"
    );
}

/// `admin rotate-key` on a data directory without a store (a mistyped path) is refused and
/// creates nothing; on a store whose key is not configured it makes no new key file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotate_key_needs_an_existing_store_and_its_key() {
    let dir = TempDir::new();
    let missing = dir.0.join("mistyped");
    for extra in [&[][..], &["--generate"][..]] {
        let mut args = vec!["admin", "rotate-key", "--data-dir", arg(&missing)];
        args.extend_from_slice(extra);
        let (code, message) = failed(&run_to_exit(switchboard(&args, &[])));
        assert_eq!(code, "configuration", "{message}");
        assert!(message.contains("there is no Switchboard database at"), "{message}");
        assert!(!missing.exists(), "{extra:?}: nothing is created");
    }
    // A store made with an environment key, then a command run without it.
    let data = dir.0.join("data");
    let key = Key::generate().to_base64();
    drop(tokio::task::block_in_place(|| Serve::start(&data, None, &[("SWITCHBOARD_MASTER_KEY", &key)])));
    for args in [
        vec!["admin", "rotate-key", "--data-dir", arg(&data)],
        vec!["admin", "create-application", "--organization", "acme", "--data-dir", arg(&data)],
        vec!["serve", "--bind", "127.0.0.1:0", "--data-dir", arg(&data)],
    ] {
        let (code, message) = failed(&run_to_exit(switchboard(&args, &[])));
        assert_eq!(code, "configuration", "{args:?}: {message}");
        assert!(message.contains("SWITCHBOARD_MASTER_KEY"), "{args:?}: {message}");
        assert!(!data.join("master.key").exists(), "{args:?}: no stray key file");
    }
    let out = run_to_exit(switchboard(
        &["admin", "rotate-key", "--data-dir", arg(&data)],
        &[("SWITCHBOARD_MASTER_KEY", &key)],
    ));
    succeeded(&out);
}

/// An organization name follows the rule of the other stored names: not empty or blank.
/// `switchboard admin rotate-signing-key --retire-old` beside a serving engine: it prints the new
/// key's id and how many keys it retired; once the engine has the keys again (here, restarted),
/// tokens signed before are refused and new ones verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_keys_rotate_from_the_command_line() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let status = |serve: &Serve, token: &str| {
        let url = serve.url("/api/v1/workspaces");
        let token = token.to_string();
        async move { common::call("GET", &url, Some(&token), None, &[]).await.status }
    };
    let mut serve = tokio::task::block_in_place(|| Serve::start(&data, None, &[]));
    let (id, secret) = serve.first_creds();
    let old = serve.app_token(&id, &secret).await;
    assert_eq!(status(&serve, &old).await, 200);
    let out = run_to_exit(switchboard(&["admin", "rotate-signing-key", "--retire-old", "--data-dir", arg(&data)], &[]));
    let printed = succeeded(&out);
    assert_eq!(printed["retired"], 1, "{printed}");
    let kid = printed["kid"].as_str().unwrap_or_default().to_string();
    serve.kill();
    let serve = tokio::task::block_in_place(|| Serve::start(&data, None, &[]));
    assert_eq!(status(&serve, &old).await, 401, "a token of the retired key");
    let new = serve.app_token(&id, &secret).await;
    assert_eq!(status(&serve, &new).await, 200);
    let header = jsonwebtoken::decode_header(&new).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()), "the new key signs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_needs_a_name() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    for name in ["", "   ", "a\u{7}b"] {
        let out = run_to_exit(switchboard(
            &["admin", "create-application", "--organization", name, "--data-dir", arg(&data)],
            &[],
        ));
        let (code, message) = failed(&out);
        assert_eq!(code, "validation", "{name:?}: {message}");
        assert!(message.contains("organization name must be 1 to 256 characters"), "{message}");
    }
    succeeded(&run_to_exit(switchboard(
        &["admin", "create-application", "--organization", "acme", "--data-dir", arg(&data)],
        &[],
    )));
}

/// A key file that does not hold a key is named in the error, not SWITCHBOARD_MASTER_KEY; a
/// master key that is not the store's is a `configuration` error, not an `internal` one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_key_problems_are_configuration_errors_naming_their_source() {
    let dir = TempDir::new();
    let bad = dir.0.join("bad.key");
    std::fs::write(&bad, "not a key\n").unwrap_or_else(|e| panic!("{e}"));
    for args in [
        vec!["serve", "--bind", "127.0.0.1:0", "--data-dir", arg(&dir.0), "--master-key-file", arg(&bad)],
        vec![
            "admin",
            "create-application",
            "--organization",
            "a",
            "--data-dir",
            arg(&dir.0),
            "--master-key-file",
            arg(&bad),
        ],
    ] {
        let (code, message) = failed(&run_to_exit(switchboard(&args, &[])));
        assert_eq!(code, "configuration", "{message}");
        assert!(message.contains(&format!("the master key file {}", bad.display())), "{message}");
        assert!(!message.contains("SWITCHBOARD_MASTER_KEY"), "{message}");
    }
    let data = dir.0.join("data");
    let made_with = Key::generate().to_base64();
    drop(tokio::task::block_in_place(|| Serve::start(&data, None, &[("SWITCHBOARD_MASTER_KEY", &made_with)])));
    let wrong = Key::generate().to_base64();
    for args in [
        vec!["serve", "--bind", "127.0.0.1:0", "--data-dir", arg(&data)],
        vec!["admin", "create-application", "--organization", "a", "--data-dir", arg(&data)],
    ] {
        let (code, message) = failed(&run_to_exit(switchboard(&args, &[("SWITCHBOARD_MASTER_KEY", &wrong)])));
        assert_eq!(code, "configuration", "{args:?}: {message}");
        assert!(message.contains("set SWITCHBOARD_MASTER_KEY (or the master key file) to the key"), "{message}");
    }
}

/// Engines on a SQLite store hold its lock: the commands that need every engine stopped
/// (`admin restore`, a rotation that rewrites the data directory's key file, `rotate-key
/// --generate`) are refused while one serves and change nothing; the online ones (a second
/// engine, backup, the rotation with the keys in the environment) go on. Once the engines stop,
/// the offline commands work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_commands_are_refused_while_an_engine_serves() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let mut first = tokio::task::block_in_place(|| Serve::start(&data, None, &[]));
    let second = tokio::task::block_in_place(|| Serve::start(&data, None, &[]));
    assert!(second.first.is_none(), "a second engine serves the same store");
    let backup = dir.0.join("b.db");
    succeeded(&run_to_exit(switchboard(&["admin", "backup", "--data-dir", arg(&data), "--out", arg(&backup)], &[])));
    let key_file = data.join("master.key");
    let key_before = std::fs::read_to_string(&key_file).unwrap_or_default();
    let restore = ["admin", "restore", "--data-dir", arg(&data), "--from", arg(&backup), "--force"];
    let rotate = ["admin", "rotate-key", "--data-dir", arg(&data)];
    for args in [&restore[..], &rotate[..]] {
        let (code, message) = failed(&run_to_exit(switchboard(args, &[])));
        assert_eq!(code, "conflict", "{args:?}: {message}");
        assert!(message.contains("an engine serves") && message.contains("nothing was changed"), "{message}");
    }
    assert_eq!(std::fs::read_to_string(&key_file).unwrap_or_default(), key_before, "the key file is unchanged");
    let names: Vec<String> = std::fs::read_dir(&data)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    assert!(!names.iter().any(|n| n.contains(".bak-")), "nothing was moved aside: {names:?}");
    // Both engines still serve the store.
    let (cid, secret) = first.first_creds();
    assert!(!second.app_token(&cid, &secret).await.is_empty());
    drop(second);
    first.kill();
    succeeded(&run_to_exit(switchboard(&restore, &[])));
    succeeded(&run_to_exit(switchboard(&rotate, &[])));
    assert_ne!(std::fs::read_to_string(&key_file).unwrap_or_default(), key_before, "the key was rotated");

    // With the key in the environment: the online rotation goes on beside an engine, a key made
    // by the command itself (which the engine lacks) waits for it to stop.
    let env_data = dir.0.join("env-data");
    let key = Key::generate().to_base64();
    let by_env = [("SWITCHBOARD_MASTER_KEY", key.as_str())];
    let mut serving = tokio::task::block_in_place(|| Serve::start(&env_data, None, &by_env));
    let online = ["admin", "rotate-key", "--data-dir", arg(&env_data)];
    succeeded(&run_to_exit(switchboard(&online, &by_env)));
    let generate = ["admin", "rotate-key", "--generate", "--data-dir", arg(&env_data)];
    let (code, message) = failed(&run_to_exit(switchboard(&generate, &by_env)));
    assert_eq!(code, "conflict", "{message}");
    assert!(message.contains("rotate-key --generate"), "{message}");
    serving.kill();
    assert!(succeeded(&run_to_exit(switchboard(&generate, &by_env)))["master_key"].is_string());
}
