//! `switchboard serve --config FILE` as an operator runs it (issue 18): the real binary, real
//! files. Precedence (flag > env > file > default), refusals naming file, line and key, the
//! printed configuration (a usable config file, secrets masked), the deploy/ example file, and
//! an engine served from a config file alone.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{postgres_database, run_to_exit, TempDir};
use serde_json::Value;
use switchboard_engine::crypto::Key;

/// The binary with no `SWITCHBOARD_*` variable of the caller's environment (they would change
/// the effective configuration under test).
fn switchboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("SWITCHBOARD_") {
            c.env_remove(k);
        }
    }
    c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, body).unwrap_or_else(|e| panic!("{e}"));
    p
}

/// `serve --print-config` with `args` and `env`: its stdout, which must be a TOML document.
fn print_config(args: &[&str], env: &[(&str, &str)]) -> (String, toml::Table) {
    let mut cmd = switchboard();
    cmd.args(["serve", "--print-config"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_to_exit(cmd);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "--print-config failed: {}\n{stdout}", text(&out.stderr));
    let table: toml::Table = toml::from_str(&stdout).unwrap_or_else(|e| panic!("not TOML: {e}\n{stdout}"));
    (stdout, table)
}

/// The source the printed configuration notes for `key` (`flag`, `env`, `file`, `default`).
fn source_of(printed: &str, key: &str) -> String {
    printed
        .lines()
        .find(|l| l.starts_with(&format!("{key} = ")) || l.starts_with(&format!("# {key} is not set")))
        .and_then(|l| l.rsplit_once("  # "))
        .map(|(_, s)| s.to_string())
        .unwrap_or_else(|| panic!("{key} is not in the printed configuration:\n{printed}"))
}

/// A refused start: exit status 1 and a `configuration` error; its message.
fn refused(cmd: Command) -> String {
    let out = run_to_exit(cmd);
    let stderr = text(&out.stderr);
    assert!(!out.status.success(), "must be refused; stdout: {}", text(&out.stdout));
    let err: Value =
        serde_json::from_str(stderr.lines().last().unwrap_or_default()).unwrap_or_else(|e| panic!("{e}: {stderr}"));
    assert_eq!(err["code"], "configuration", "{stderr}");
    assert!(!text(&out.stdout).contains("listening"), "it must not serve");
    err["message"].as_str().unwrap_or_default().to_string()
}

#[test]
fn precedence_is_flag_then_env_then_file_then_default() {
    let dir = TempDir::new();
    let file = write(
        &dir.0,
        "switchboard.toml",
        "rate_limit = 11\nrate_burst = 22.5\nbody_limit = 4096\naudit_flush_ms = 300\n",
    );
    let f = file.to_string_lossy().into_owned();
    let env = [("SWITCHBOARD_RATE_LIMIT", "33"), ("SWITCHBOARD_RATE_BURST", "44")];
    let (printed, t) = print_config(&["--config", &f, "--rate-burst", "55"], &env);
    assert_eq!(t["rate_limit"].as_float(), Some(33.0), "env beats the file");
    assert_eq!(source_of(&printed, "rate_limit"), "env");
    assert_eq!(t["rate_burst"].as_float(), Some(55.0), "a flag beats env and the file");
    assert_eq!(source_of(&printed, "rate_burst"), "flag");
    assert_eq!(t["body_limit"].as_integer(), Some(4096), "the file beats the default");
    assert_eq!(source_of(&printed, "body_limit"), "file");
    assert_eq!(t["audit_flush_ms"].as_integer(), Some(300));
    assert_eq!(t["idle_timeout"].as_integer(), Some(60), "untouched: the built-in default");
    assert_eq!(source_of(&printed, "idle_timeout"), "default");
    assert_eq!(source_of(&printed, "database_url"), "default");
    assert!(printed.contains(&format!("# Configuration file: {f}")), "{printed}");

    // The file named by SWITCHBOARD_CONFIG instead of the flag.
    let (printed, t) = print_config(&[], &[("SWITCHBOARD_CONFIG", f.as_str())]);
    assert_eq!(t["rate_limit"].as_float(), Some(11.0));
    assert_eq!(source_of(&printed, "rate_limit"), "file");
    // Without a file, every value is the default.
    let (printed, t) = print_config(&[], &[]);
    assert_eq!(t["rate_limit"].as_float(), Some(50.0));
    assert_eq!(source_of(&printed, "rate_limit"), "default");
    assert!(!printed.contains("# Configuration file:"), "{printed}");
}

#[test]
fn unknown_keys_and_wrong_types_are_refused_with_file_and_line() {
    let dir = TempDir::new();
    let data = dir.0.join("data");
    let bad = write(&dir.0, "bad.toml", "bind = \"127.0.0.1:0\"\n\n# the old name\nlisten = \"127.0.0.1:0\"\n");
    let b = bad.to_string_lossy().into_owned();
    let mut cmd = switchboard();
    cmd.args(["serve", "--config", &b, "--data-dir"]).arg(&data);
    let message = refused(cmd);
    assert!(message.contains(&format!("{b}:4: unknown key `listen`")), "{message}");
    assert!(message.contains("bind") && message.contains("rate_limit"), "the known keys are listed: {message}");
    assert!(!data.exists(), "nothing was set up before the refusal");

    let typed = write(
        &dir.0,
        "typed.toml",
        "bind = \"127.0.0.1:0\"\nrate_limit = \"fast\"\negress_allow = \"127.0.0.1\"\nmax_connections = 0\n\
         token_rate_limit = -2.5\n[upstream_base_url]\ngithub = 8080\n",
    );
    let t = typed.to_string_lossy().into_owned();
    let mut cmd = switchboard();
    cmd.args(["serve", "--config", &t, "--data-dir"]).arg(&data);
    let message = refused(cmd);
    for expected in [
        format!("{t}:2: `rate_limit`: must be a number, not a string"),
        format!("{t}:3: `egress_allow`: must be an array"),
        format!("{t}:4: `max_connections`: "),
        format!("{t}:5: `token_rate_limit`: "),
        format!("{t}:6: `upstream_base_url`: `github` must be a URL string, not an integer"),
    ] {
        assert!(message.contains(&expected), "{expected:?} not in {message}");
    }
    assert!(message.contains("is not a positive number"), "the flag's own check ran: {message}");
    // --print-config refuses the same file: it never prints a configuration it could not serve.
    let mut cmd = switchboard();
    cmd.args(["serve", "--print-config", "--config", &t]);
    assert!(refused(cmd).contains("`rate_limit`"));

    let mut cmd = switchboard();
    cmd.args(["serve", "--print-config", "--config"]).arg(dir.0.join("missing.toml"));
    assert!(refused(cmd).contains("cannot read the configuration file"));
}

#[test]
fn printed_configuration_round_trips_as_a_config_file() {
    let dir = TempDir::new();
    let file = write(
        &dir.0,
        "in.toml",
        r#"
bind = "127.0.0.1:18080"
data_dir = "/var/lib/switchboard"
egress_allow = ["127.0.0.1", "api.internal.example"]
trusted_proxies = ["10.0.0.0/8", "fd00::/8"]
application_token_ttl = 600
rate_limit = 12.5
audit_max_rows = 5000

[upstream_base_url]
github = "http://127.0.0.1:9001"
stripe = "http://127.0.0.1:9002"
"#,
    );
    let f = file.to_string_lossy().into_owned();
    let (first, t1) = print_config(&["--config", &f, "--idle-timeout", "30"], &[("SWITCHBOARD_RATE_BURST", "99")]);
    assert_eq!(t1["upstream_base_url"]["stripe"].as_str(), Some("http://127.0.0.1:9002"));
    assert_eq!(t1["trusted_proxies"].as_array().map(Vec::len), Some(2));
    let again = write(&dir.0, "printed.toml", &first);
    let (second, t2) = print_config(&["--config", &again.to_string_lossy()], &[]);
    assert_eq!(t1, t2, "the printed configuration, used as a file, gives the same configuration");
    // Now every set value comes from the file, the flag's and the variable's included.
    for key in ["bind", "idle_timeout", "rate_burst", "upstream_base_url", "data_dir"] {
        assert_eq!(source_of(&second, key), "file", "{key}");
    }
    let (third, _) = print_config(&["--config", &write(&dir.0, "again.toml", &second).to_string_lossy()], &[]);
    assert_eq!(
        second.lines().skip(3).collect::<Vec<_>>(),
        third.lines().skip(3).collect::<Vec<_>>(),
        "printing is stable"
    );
}

/// Every long option of `serve --help` except the ones about the file itself.
fn serve_options() -> Vec<String> {
    let mut cmd = switchboard();
    cmd.args(["serve", "--help"]);
    let help = text(&run_to_exit(cmd).stdout);
    let mut keys: Vec<String> = help
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| w.trim_end_matches([',', '.', ')']).split(['=', '[', '<']).next().unwrap_or_default().to_string())
        .filter(|w| !w.is_empty() && !["help", "config", "print-config", "version"].contains(&w.as_str()))
        .map(|w| w.replace('-', "_"))
        .collect();
    keys.sort();
    keys.dedup();
    assert!(keys.len() > 15, "serve has its options: {keys:?}\n{help}");
    keys
}

#[test]
fn the_deploy_example_loads_and_names_every_option() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/switchboard.toml.example");
    let body = std::fs::read_to_string(&example).unwrap_or_else(|e| panic!("{}: {e}", example.display()));
    let e = example.to_string_lossy().into_owned();
    let (printed, table) = print_config(&["--config", &e], &[]);
    let set: toml::Table = toml::from_str(&body).unwrap_or_else(|err| panic!("{err}"));
    assert!(!set.is_empty(), "the example sets values");
    for (key, value) in &set {
        assert_eq!(source_of(&printed, key), "file", "{key}");
        assert_eq!(table.get(key), Some(value), "{key} is served as the example says");
    }
    for key in serve_options() {
        let named = body.lines().any(|l| {
            let l = l.trim_start_matches('#').trim_start();
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("[{key}]"))
        });
        assert!(named, "deploy/switchboard.toml.example does not describe `{key}`");
        source_of(&printed, &key);
    }
    assert!(!body.contains("master_key ="), "the master key is never in the file");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_password_is_never_shown() {
    const PASSWORD: &str = "Pw-n0t-f0r-l0gs-77";
    let dir = TempDir::new();
    let url = format!("postgres://sb:{PASSWORD}@127.0.0.1:1/sb");
    let file = write(&dir.0, "db.toml", &format!("database_url = \"{url}\"\n"));
    let f = file.to_string_lossy().into_owned();
    let (printed, t) = tokio::task::block_in_place(|| print_config(&["--config", &f], &[]));
    assert!(!printed.contains(PASSWORD), "{printed}");
    assert_eq!(t["database_url"].as_str(), Some("postgres://sb:***@127.0.0.1:1/sb"));
    assert!(printed.contains("Master key: missing"), "the key is required with a database URL: {printed}");
    let (printed, _) = tokio::task::block_in_place(|| print_config(&[], &[("SWITCHBOARD_DATABASE_URL", &url)]));
    assert!(!printed.contains(PASSWORD) && source_of(&printed, "database_url") == "env", "{printed}");
    let query = "postgresql://127.0.0.1:1/sb?user=sb&password=".to_string() + PASSWORD;
    let (printed, _) = tokio::task::block_in_place(|| print_config(&["--database-url", &query], &[]));
    assert!(!printed.contains(PASSWORD) && printed.contains("password=***"), "{printed}");

    // A start against a database that cannot be reached: the logged configuration and the
    // error say where, never the password.
    let key = Key::generate().to_base64();
    let mut cmd = switchboard();
    cmd.args(["serve", "--config", &f]).env("SWITCHBOARD_MASTER_KEY", &key).env("SWITCHBOARD_LOG", "debug");
    let out = tokio::task::block_in_place(|| run_to_exit(cmd));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("postgres://sb:***@127.0.0.1:1/sb"), "the effective configuration is logged: {all}");
    assert!(!all.contains(PASSWORD), "{all}");
    assert!(!all.contains(&key), "no key material in the output");
    assert!(
        all.contains("holds a password and the file is readable by other users"),
        "a 0644 file is warned of: {all}"
    );

    // An engine that does serve on PostgreSQL (the test server trusts loopback, so it takes any
    // password), with the password in the config file.
    let Some(db) = postgres_database().await else { return };
    let mut with_password = url::Url::parse(&db).unwrap_or_else(|e| panic!("{e}"));
    let _ = with_password.set_password(Some(PASSWORD));
    let file = write(
        &dir.0,
        "pg.toml",
        &format!(
            "bind = \"127.0.0.1:0\"\ndata_dir = \"{}\"\ndatabase_url = \"{with_password}\"\naudit_flush_ms = 50\n",
            dir.0.join("pg-data").display()
        ),
    );
    let mut cmd = switchboard();
    cmd.args(["serve", "--config"]).arg(&file).env("SWITCHBOARD_MASTER_KEY", &key);
    let mut engine = tokio::task::block_in_place(|| Running::start(cmd));
    let status = tokio::task::block_in_place(|| healthz(&engine.base));
    assert_eq!(status, 200);
    let logs = engine.stop();
    assert!(logs.contains("effective configuration") && logs.contains(":***@"), "{logs}");
    assert!(!logs.contains(PASSWORD), "{logs}");
}

/// A `switchboard serve` started by the test; killed on drop.
struct Running {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Running {
    /// Starts `cmd` and waits for its `{"listening": ...}` line (30 s at most).
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start switchboard: {e}"));
        let output = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take();
        let sink = output.clone();
        std::thread::spawn(move || {
            if let Some(err) = stderr {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&(line + "\n"));
                }
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take();
        let sink = output.clone();
        std::thread::spawn(move || {
            if let Some(out) = stdout {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    sink.lock().unwrap_or_else(|e| e.into_inner()).push_str(&(line.clone() + "\n"));
                    let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                    if let Some(l) = v.get("listening").and_then(Value::as_str) {
                        let _ = tx.send(l.to_string());
                    }
                }
            }
        });
        let mut running = Running { child, base: String::new(), output };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(base) => running.base = base,
            Err(_) => panic!("serve did not listen: {}", running.stop()),
        }
        running
    }

    /// Kills the engine; everything it wrote.
    fn stop(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        self.output.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of `GET {base}/healthz`, over a plain socket.
fn healthz(base: &str) -> u16 {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap_or_else(|e| panic!("{addr}: {e}"));
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    s.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let mut response = String::new();
    let _ = s.read_to_string(&mut response);
    response.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

/// A loopback port free a moment ago.
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    l.local_addr().map(|a| a.port()).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn an_engine_served_from_a_config_file_answers_on_its_bind_address() {
    let dir = TempDir::new();
    let key_file = write(&dir.0, "master.key", &format!("{}\n", Key::generate().to_base64()));
    let port = free_port();
    let data = dir.0.join("data");
    let file = write(
        &dir.0,
        "switchboard.toml",
        &format!(
            "bind = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nmaster_key_file = \"{}\"\negress_allow = [\"127.0.0.1\"]\n\
             audit_flush_ms = 50\n",
            data.display(),
            key_file.display()
        ),
    );
    let mut cmd = switchboard();
    cmd.args(["serve", "--config"]).arg(&file);
    let mut engine = Running::start(cmd);
    assert_eq!(engine.base, format!("http://127.0.0.1:{port}"), "the file's bind address is used");
    assert_eq!(healthz(&engine.base), 200);
    assert!(data.join("switchboard.db").exists(), "the file's data_dir is used");
    assert!(!data.join("master.key").exists(), "the key came from master_key_file, no key file was made");
    let logs = engine.stop();
    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let setting = |name: &str| {
        lines
            .iter()
            .find(|l| l["fields"]["message"] == "effective configuration" && l["fields"]["setting"] == name)
            .map(|l| l["fields"].clone())
            .unwrap_or_else(|| panic!("no effective configuration line for {name}: {logs}"))
    };
    assert_eq!(setting("bind")["source"], "file");
    assert_eq!(setting("bind")["value"], format!("\"127.0.0.1:{port}\""));
    assert_eq!(setting("rate_limit")["source"], "default");
    assert_eq!(setting("master_key")["value"], "read from master_key_file");
    let key = std::fs::read_to_string(&key_file).unwrap_or_default();
    assert!(!logs.contains(key.trim()), "no key material in the logs");

    // The key from the file and from the environment at once: refused, never guessed.
    let mut cmd = switchboard();
    cmd.args(["serve", "--config"]).arg(&file).env("SWITCHBOARD_MASTER_KEY", Key::generate().to_base64());
    assert!(refused(cmd).contains("set only one"));
}
