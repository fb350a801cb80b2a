//! A real `switchboard serve` process for the engine tests that need one (process, resilience,
//! soak): started on an ephemeral port, its stderr (the JSON logs) and stdout collected, killed
//! on drop.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{json, Value};

use super::call;

/// A running `switchboard serve`.
pub struct Serve {
    pub child: Child,
    pub base: String,
    /// `{organization_id, client_id, client_secret}` printed on an empty store.
    pub first: Option<Value>,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Appends everything `from` yields to `into`, on a thread of its own.
fn collect(mut from: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            into.lock().unwrap_or_else(|e| e.into_inner()).push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
}

fn text(s: &Mutex<String>) -> String {
    s.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Serve {
    /// `switchboard serve` on `data_dir` (and `database_url`), debug logs, egress to
    /// 127.0.0.1, no master key from the caller's environment; `env` is set last.
    pub fn start(data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Serve {
        Self::spawn(Command::new(env!("CARGO_BIN_EXE_switchboard")), data_dir, database_url, env)
    }

    /// Runs `cmd` (the binary, or a wrapper passing on its arguments) with `serve` arguments.
    pub fn spawn(mut cmd: Command, data_dir: &Path, database_url: Option<&str>, env: &[(&str, &str)]) -> Serve {
        cmd.args(["serve", "--bind", "127.0.0.1:0", "--egress-allow", "127.0.0.1"])
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("SWITCHBOARD_MASTER_KEY")
            .env_remove("SWITCHBOARD_MASTER_KEY_FILE")
            .env_remove("SWITCHBOARD_OLD_MASTER_KEYS")
            .env_remove("SWITCHBOARD_DATABASE_URL")
            .env("SWITCHBOARD_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(u) = database_url {
            cmd.arg("--database-url").arg(u);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start switchboard serve: {e}"));
        let (stderr, stdout) = (Arc::new(Mutex::new(String::new())), Arc::new(Mutex::new(String::new())));
        if let Some(err) = child.stderr.take() {
            collect(err, stderr.clone());
        }
        let out = child.stdout.take().unwrap_or_else(|| panic!("no stdout"));
        let mut reader = BufReader::new(out);
        let mut first = None;
        let base = loop {
            let mut line = String::new();
            let n = reader.read_line(&mut line).unwrap_or(0);
            assert!(n > 0, "serve exited early: {}", text(&stderr));
            stdout.lock().unwrap_or_else(|e| e.into_inner()).push_str(&line);
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            if let Some(a) = v.get("first_application") {
                first = Some(a.clone());
            }
            if let Some(l) = v.get("listening").and_then(Value::as_str) {
                break l.to_string();
            }
        };
        // Keep reading stdout, so the engine never writes into a full or closed pipe.
        collect(reader, stdout.clone());
        eprintln!("switchboard serve ready in {:?}", started.elapsed());
        Serve { child, base, first, stderr, stdout }
    }

    /// The JSON logs (stderr) so far.
    pub fn logs(&self) -> String {
        text(&self.stderr)
    }

    /// Everything the process wrote so far: its logs, then its stdout (which holds the first
    /// application's secret, printed once by design).
    pub fn output(&self) -> String {
        format!("{}{}", text(&self.stderr), text(&self.stdout))
    }

    /// `base` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// SIGKILL: no shutdown hook, no flush, no lease release.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The first application's client id and secret.
    pub fn first_creds(&self) -> (String, String) {
        let f = self.first.clone().unwrap_or_else(|| panic!("an empty store prints the first application"));
        (f["client_id"].as_str().unwrap_or_default().into(), f["client_secret"].as_str().unwrap_or_default().into())
    }

    /// An application token for these client credentials.
    pub async fn app_token(&self, client_id: &str, secret: &str) -> String {
        let body = json!({"client_id": client_id, "client_secret": secret});
        let a = call("POST", &self.url("/api/v1/applications/token"), None, Some(body), &[]).await;
        assert_eq!(a.status, 200, "{}", a.text);
        a.body["access_token"].as_str().unwrap_or_default().to_string()
    }

    /// The process's resident set in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let rss = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).map(|v| v.trim().trim_end_matches("kB").trim());
        rss.and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no VmRSS for {pid}"))
    }
}
