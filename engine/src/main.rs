//! `switchboard`: the command line of Switchboard.
//!
//! `serve` runs the engine; `admin` creates applications and rotates the master key; `exec`
//! runs one connector operation in local mode; `connectors` lists the built-in connectors or
//! describes one, `connectors import` drafts a spec from an OpenAPI document and `connectors
//! check` validates spec files; `mcp` serves connectors as MCP tools over stdio. Errors print as JSON `{code, message, ...}` on stderr with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use switchboard_core::{describe, Connector, ConnectorOptions, Error, ErrorCode, ExecuteOptions, Registry};
use switchboard_engine::config as serve_config;
use switchboard_engine::crypto::{write_key_file, Key, KeyRing};
use switchboard_engine::db::{self, Db};
use switchboard_engine::ratelimit::Cidr;
use switchboard_engine::services::execution;
use switchboard_engine::services::tokens;
use switchboard_engine::spec_tools::{check, import};
use switchboard_engine::{admin, mcp, serve, AppState, Settings};

/// mimalloc rather than the system allocator: fewer instructions per execute (BENCHMARKS.md,
/// "Start-up and allocator, instruction counts").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Switchboard: connectors for AI agents, local or hosted")]
struct Cli {
    /// Extra directory of connector specs (ours or reference-format), loaded after the built-in ones.
    #[arg(long, global = true, env = "SWITCHBOARD_SPECS")]
    specs: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Store {
    /// Directory of the embedded SQLite database and key file.
    #[arg(long, env = "SWITCHBOARD_DATA_DIR", default_value = "./switchboard-data")]
    data_dir: PathBuf,
    /// postgres://... (or postgresql://...) to use PostgreSQL, sqlite://... for a SQLite file
    /// elsewhere; without it, SQLite in --data-dir.
    #[arg(long, env = "SWITCHBOARD_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// File holding the master key (base64, first line), e.g. a systemd credential, instead
    /// of SWITCHBOARD_MASTER_KEY (setting both is refused).
    #[arg(long, env = "SWITCHBOARD_MASTER_KEY_FILE")]
    master_key_file: Option<PathBuf>,
}

impl Store {
    /// The database URL, if one is set (an empty one is none).
    fn url(&self) -> Option<&str> {
        self.database_url.as_deref().filter(|u| !u.trim().is_empty())
    }

    /// Refuses a database URL that cannot be used and two master key sources, before anything
    /// else is set up.
    fn check(&self) -> Result<(), Error> {
        if let Some(url) = self.url() {
            db::database_kind(url).map_err(api)?;
        }
        serve_config::check_key_sources(self.master_key_file.as_deref())
    }

    async fn open(&self) -> Result<Db, Error> {
        Db::open(self.url(), &self.data_dir).await.map_err(api)
    }

    /// The key file in the data directory, when the master key lives there: no database URL,
    /// no `SWITCHBOARD_MASTER_KEY`, no `--master-key-file`.
    fn data_dir_key_file(&self) -> Option<PathBuf> {
        (self.url().is_none() && self.master_key_file.is_none() && env("SWITCHBOARD_MASTER_KEY").is_none())
            .then(|| self.data_dir.join("master.key"))
    }

    /// The master key ring: from `--master-key-file`, `SWITCHBOARD_MASTER_KEY`, or the data
    /// directory's key file (created when the store is new). Every command runs [`Self::check`]
    /// first.
    fn key_ring(&self) -> Result<KeyRing, Error> {
        if let Some(path) = &self.master_key_file {
            return serve_config::key_ring_from_file(path);
        }
        if self.data_dir_key_file().is_some() {
            admin::check_key_file_kept(&self.data_dir).map_err(api)?;
        }
        let dir = self.url().is_none().then_some(self.data_dir.as_path());
        KeyRing::load(env("SWITCHBOARD_MASTER_KEY").as_deref(), env("SWITCHBOARD_OLD_MASTER_KEYS").as_deref(), dir)
            .map_err(api)
    }
}

/// Limits of the token endpoint, the one route callable without a token.
#[derive(Args, Clone)]
struct TokenLimitArgs {
    /// Token requests per second allowed per client_id (wrong secrets included).
    #[arg(long, env = "SWITCHBOARD_TOKEN_RATE_LIMIT", default_value_t = 10.0, value_parser = positive)]
    token_rate_limit: f64,
    /// Burst of token requests allowed per client_id.
    #[arg(long, env = "SWITCHBOARD_TOKEN_RATE_BURST", default_value_t = 20.0, value_parser = positive)]
    token_rate_burst: f64,
    /// Token requests per second allowed per client address (IPv6: per /64).
    #[arg(long, env = "SWITCHBOARD_TOKEN_ADDRESS_RATE_LIMIT", default_value_t = 20.0, value_parser = positive)]
    token_address_rate_limit: f64,
    /// Burst of token requests allowed per client address.
    #[arg(long, env = "SWITCHBOARD_TOKEN_ADDRESS_RATE_BURST", default_value_t = 50.0, value_parser = positive)]
    token_address_rate_burst: f64,
    /// Proxies (addresses or CIDR blocks, comma-separated) whose X-Forwarded-For names the
    /// client address: the right-most hop that is not a trusted proxy. Without it, the socket
    /// peer is the client address.
    #[arg(long, env = "SWITCHBOARD_TRUSTED_PROXIES", value_delimiter = ',')]
    trusted_proxies: Vec<Cidr>,
}

impl TokenLimitArgs {
    fn apply(self, settings: Settings) -> Settings {
        Settings {
            token_rate_per_client: self.token_rate_limit,
            token_burst_per_client: self.token_rate_burst,
            token_rate_per_address: self.token_address_rate_limit,
            token_burst_per_address: self.token_address_rate_burst,
            trusted_proxies: self.trusted_proxies,
            ..settings
        }
    }
}

/// `SLUG=URL` of `--upstream-base-url`.
fn slug_url(s: &str) -> Result<(String, String), String> {
    let (slug, url) = s.split_once('=').ok_or_else(|| format!("{s:?} is not SLUG=URL"))?;
    let url = url.trim().trim_end_matches('/');
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok((slug.trim().to_string(), url.to_string()))
        }
        _ => Err(format!("{url:?} is not an http(s) URL")),
    }
}

/// `--public-url`: an http(s) URL without query or fragment, kept without its trailing slash.
fn public_url(s: &str) -> Result<String, String> {
    let url = s.trim().trim_end_matches('/');
    match url::Url::parse(url) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.host_str().is_some()
                && u.query().is_none()
                && u.fragment().is_none() =>
        {
            Ok(url.to_string())
        }
        _ => Err(format!("{url:?} is not an http(s) URL without query or fragment")),
    }
}

/// `--bind`: HOST:PORT with a port that exists (the host is resolved when binding).
fn bind_address(s: &str) -> Result<String, String> {
    let s = s.trim();
    match s.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(s.to_string()),
        _ => Err(format!("{s:?} is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:8080)")),
    }
}

/// A positive number of requests.
fn positive(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{s:?} is not a positive number")),
    }
}

/// Bounds on client connections: a client that connects and sends nothing, or trickles a
/// request, is closed instead of holding a descriptor forever.
#[derive(Args, Clone)]
struct ConnectionArgs {
    /// Seconds a connection has to send a request head, from its start or from its first byte
    /// after an idle spell; a slower one is closed.
    #[arg(long, env = "SWITCHBOARD_HEADER_READ_TIMEOUT", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    header_read_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request before it is closed.
    #[arg(long, env = "SWITCHBOARD_IDLE_TIMEOUT", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    idle_timeout: u64,
    /// Most connections served at once; more wait in the listen queue. The engine raises its
    /// open-file limit to the hard limit at start; keep this well under it.
    #[arg(long, env = "SWITCHBOARD_MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Most requests one stored connector has in progress at once with one upstream origin
    /// (scheme, host and port); more wait for a turn within the upstream timeout. Per
    /// connector, so one tenant's calls never wait for another's.
    #[arg(long, env = "SWITCHBOARD_UPSTREAM_EXCHANGES_PER_CONNECTOR", default_value_t = switchboard_core::http::EXCHANGES_PER_ORIGIN as u32, value_parser = clap::value_parser!(u32).range(1..))]
    upstream_exchanges_per_connector: u32,
    /// Most bytes of a provider's answer read (after gzip decoding); a longer answer fails the
    /// execution as `upstream_http` instead of taking the engine's memory.
    #[arg(long, env = "SWITCHBOARD_UPSTREAM_BODY_LIMIT", default_value_t = switchboard_core::http::MAX_BODY as u64, value_parser = clap::value_parser!(u64).range(1024..))]
    upstream_body_limit: u64,
    /// Threads serving requests, each with a single-threaded runtime of its own, so a request,
    /// its upstream exchange and its answer never change threads. Unset: one per CPU; 0: none,
    /// the shared runtime serves (work stealing between its workers). On PostgreSQL each
    /// serving thread queries through a pool of its own.
    #[arg(long, env = "SWITCHBOARD_SERVING_THREADS", value_parser = clap::value_parser!(u16))]
    serving_threads: Option<u16>,
}

impl ConnectionArgs {
    fn apply(self, settings: Settings) -> Settings {
        Settings {
            header_read_timeout: std::time::Duration::from_secs(self.header_read_timeout),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout),
            max_connections: self.max_connections as usize,
            upstream_exchanges_per_connector: self.upstream_exchanges_per_connector as usize,
            upstream_body_limit: usize::try_from(self.upstream_body_limit).unwrap_or(usize::MAX),
            serving_threads: self.serving_threads.map(usize::from),
            ..settings
        }
    }
}

/// Raises this process's open-file soft limit to its hard limit: every connection is a
/// descriptor, and the usual soft limit (1024) is below the default `--max-connections`.
fn raise_open_file_limit(max_connections: usize) {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) if limit < max_connections as u64 + 256 => tracing::warn!(
            open_files = limit,
            max_connections,
            "the open-file limit is close to --max-connections: lower it or raise the hard limit"
        ),
        Ok(limit) => tracing::info!(open_files = limit, "open-file limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the engine.
    Serve {
        /// Address to listen on, HOST:PORT.
        #[arg(long, env = "SWITCHBOARD_BIND", default_value = "127.0.0.1:8080", value_parser = bind_address)]
        bind: String,
        #[command(flatten)]
        store: Store,
        /// Extra hosts connectors may send credentials to (comma-separated), e.g. 127.0.0.1 for tests.
        #[arg(long, env = "SWITCHBOARD_EGRESS_ALLOW", value_delimiter = ',')]
        egress_allow: Vec<String>,
        /// Lifetime of application tokens, in seconds (1 to 86,400: a day at most, so a leaked
        /// token does not outlive a secret's rotation by more).
        #[arg(long, env = "SWITCHBOARD_APPLICATION_TOKEN_TTL", default_value_t = 900,
              value_parser = clap::value_parser!(u64).range(1..=86_400))]
        application_token_ttl: u64,
        /// Sustained requests per second allowed per organization.
        #[arg(long, env = "SWITCHBOARD_RATE_LIMIT", default_value_t = 50.0, value_parser = positive)]
        rate_limit: f64,
        /// Burst of requests allowed per organization.
        #[arg(long, env = "SWITCHBOARD_RATE_BURST", default_value_t = 200.0, value_parser = positive)]
        rate_burst: f64,
        /// Largest request body in bytes.
        #[arg(long, env = "SWITCHBOARD_BODY_LIMIT", default_value_t = 1024 * 1024)]
        body_limit: usize,
        /// Audit records older than this many days are pruned (0: kept whatever their age).
        #[arg(long, env = "SWITCHBOARD_AUDIT_MAX_AGE_DAYS", default_value_t = 30)]
        audit_max_age_days: u64,
        /// Most audit records kept; the oldest beyond it are pruned (0: no limit).
        #[arg(long, env = "SWITCHBOARD_AUDIT_MAX_ROWS", default_value_t = 1_000_000)]
        audit_max_rows: u64,
        /// Longest an audit record waits in memory before it is written, in milliseconds
        /// (records are written in batches off the request path, and all of them on a graceful
        /// stop; a process killed with SIGKILL loses at most this much).
        #[arg(long, env = "SWITCHBOARD_AUDIT_FLUSH_MS", default_value_t = 200)]
        audit_flush_ms: u64,
        /// Longest a connector row read for an execution is kept in memory, in milliseconds
        /// (0: read from the database for every execution). A change through any replica drops
        /// it sooner: at once on SQLite, when the change's announcement arrives on PostgreSQL.
        #[arg(long, env = "SWITCHBOARD_CONNECTOR_CACHE_MS", default_value_t = 10_000)]
        connector_cache_ms: u64,
        #[command(flatten)]
        token_limits: TokenLimitArgs,
        #[command(flatten)]
        connections: ConnectionArgs,
        /// Base URL of a connector's API, as SLUG=URL (repeatable or comma-separated), for
        /// connectors whose config names no base_url: a test double, a proxy, an on-premises
        /// install. Its host must be allowed (the spec's own host, or --egress-allow).
        #[arg(long, env = "SWITCHBOARD_UPSTREAM_BASE_URLS", value_delimiter = ',', value_parser = slug_url)]
        upstream_base_url: Vec<(String, String)>,
        /// Where browsers reach this engine (e.g. https://engine.example.com): OAuth providers
        /// send end users back to {public-url}/api/v1/oauth/callback, the redirect URI to
        /// register with each OAuth app.
        #[arg(long, env = "SWITCHBOARD_PUBLIC_URL", value_parser = public_url)]
        public_url: Option<String>,
        /// TOML file of these options under their long names in snake_case (rate_limit = 50.0);
        /// flags and environment variables win over it. See docs/operations-config.md.
        #[arg(long, env = "SWITCHBOARD_CONFIG")]
        config: Option<PathBuf>,
        /// Print the effective configuration as TOML (secrets masked, each value's source noted)
        /// and exit without serving.
        #[arg(long)]
        print_config: bool,
    },
    /// Operator tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Run one operation in local mode; prints {"data", "meta"} as JSON.
    Exec {
        /// Connector slug, name or definition id (e.g. github).
        slug: String,
        /// Entity (e.g. issues).
        entity: String,
        /// Action (e.g. list).
        action: String,
        /// Params as a JSON object.
        #[arg(long, default_value = "{}")]
        params: String,
        /// Credentials as a JSON object, or @FILE to read them from a file.
        #[arg(long, env = "SWITCHBOARD_CREDENTIALS", hide_env_values = true)]
        credentials: Option<String>,
        /// Connector config as a JSON object (e.g. {"base_url": "..."}).
        #[arg(long, default_value = "{}")]
        config: String,
        /// Keep only these dot paths of each record (comma-separated).
        #[arg(long, value_delimiter = ',')]
        select_fields: Vec<String>,
        /// Drop these dot paths from each record (comma-separated).
        #[arg(long, value_delimiter = ',')]
        exclude_fields: Vec<String>,
        /// Return long text whole.
        #[arg(long)]
        skip_truncation: bool,
    },
    /// Serve MCP (Model Context Protocol) over stdio in local mode: one `<name>_execute` tool per
    /// configured connector and a `describe` tool.
    ///
    /// The connectors come from --credentials-file (or SWITCHBOARD_MCP_CONNECTORS, the same
    /// text): a JSON or YAML mapping of tool name -> {connector, credentials, config}, where
    /// connector is a slug, name or definition id (default: the tool name).
    Mcp {
        /// JSON or YAML file mapping tool name -> {connector, credentials, config}.
        #[arg(long, env = "SWITCHBOARD_MCP_CREDENTIALS_FILE")]
        credentials_file: Option<PathBuf>,
        /// The same mapping as JSON or YAML text (used when no file is given).
        #[arg(long, env = "SWITCHBOARD_MCP_CONNECTORS", hide_env_values = true)]
        connectors: Option<String>,
        /// Most characters of one tool result (longer lists lose their last records, with a note).
        #[arg(long, default_value_t = switchboard_engine::mcp::DEFAULT_MAX_OUTPUT_CHARS as u64, value_parser = clap::value_parser!(u64).range(1000..))]
        max_output_chars: u64,
        /// `connector`: one `<name>_execute` tool per connector; `operation`: one
        /// `<name>_<entity>_<action>` tool per operation, taking exactly its params.
        #[arg(long, default_value = "connector")]
        tools: mcp::ToolStyle,
        /// Offer a workspace's connectors stored in an engine instead (SWITCHBOARD_API_URL and
        /// SWITCHBOARD_CLIENT_ID / SWITCHBOARD_CLIENT_SECRET, or SWITCHBOARD_SCOPED_TOKEN).
        #[arg(long, conflicts_with_all = ["credentials_file", "connectors"])]
        hosted: bool,
        /// The workspace of --hosted (a scoped token's own when not given).
        #[arg(long, env = "SWITCHBOARD_WORKSPACE_NAME", requires = "hosted")]
        workspace: Option<String>,
    },
    /// List the built-in connectors, or describe one connector's entities, actions and params;
    /// `import` drafts a spec from an OpenAPI document, `check` validates spec files.
    #[command(args_conflicts_with_subcommands = true)]
    Connectors {
        #[command(subcommand)]
        command: Option<ConnectorsCommand>,
        /// A connector slug to describe.
        slug: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ConnectorsCommand {
    /// Derive a DRAFT connector spec from a provider's OpenAPI 3.0 / 3.1 document (JSON or YAML).
    ///
    /// Entities come from path resources, actions from methods (GET collection: list, GET item:
    /// get, POST: create, PATCH/PUT: update, DELETE: delete), params and schemas from the
    /// document. Guesses (pagination style, record extractors, auth fields, renamed entities)
    /// are written as `x-review` notes on the spec and listed on stderr. Check the draft with
    /// `switchboard connectors check`, then run it with `--specs DIR`.
    Import {
        /// The OpenAPI document (.json, .yaml or .yml).
        openapi_doc: PathBuf,
        /// Connector slug (default: from info.title).
        #[arg(long)]
        name: Option<String>,
        /// Write the draft here instead of stdout (an existing file is refused without --force).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Replace an existing --out file.
        #[arg(long, requires = "out")]
        force: bool,
        /// Print the review summary on stderr as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate spec files (ours or the reference format) with core's own loader.
    ///
    /// Each problem is printed as FILE:LINE:COLUMN: error|warning: JSON-POINTER: message.
    /// Warnings (an operation defined twice, a record without a schema, draft notes) do not
    /// fail; any error exits with status 1.
    Check {
        /// Spec files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print a JSON array of reports {file, ok, slug, operations, errors, warnings}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an application; prints {"organization_id", "client_id", "client_secret"}.
    CreateApplication {
        /// Organization name (created if new).
        #[arg(long)]
        organization: String,
        #[command(flatten)]
        store: Store,
    },
    /// Re-encrypt every secret under a new master key.
    ///
    /// Online: start the engines with the new key in SWITCHBOARD_MASTER_KEY and the old one in
    /// SWITCHBOARD_OLD_MASTER_KEYS, run this, then drop the old key. With --generate (or the
    /// embedded key file) a new key is made here and printed once (or written to the key file),
    /// and every record is resealed under it at once: run it with every engine stopped.
    RotateKey {
        #[command(flatten)]
        store: Store,
        /// Make a new key instead of using the one in SWITCHBOARD_MASTER_KEY.
        #[arg(long)]
        generate: bool,
    },
    /// Add a JWT signing key, which signs every token from then on; prints {"kid", "retired"}.
    ///
    /// Engines that serve use it within a minute; tokens signed before stay valid until they
    /// expire. With --retire-old every other key is deleted, so every token signed with one is
    /// refused (within a minute on serving engines): after a leak of the database and the master
    /// key (rotate the master key too), or to make every issued token invalid at once.
    RotateSigningKey {
        #[command(flatten)]
        store: Store,
        /// Delete every other signing key: the tokens they signed are refused.
        #[arg(long)]
        retire_old: bool,
    },
    /// Write a consistent snapshot of the SQLite database to a file (mode 0600) while engines
    /// serve; prints {"path", "bytes", "tables", "rows", "key_ids", ...}.
    ///
    /// The secrets in it stay sealed under the master key, which is not in the backup: with the
    /// embedded key file, keep a copy of master.key apart (or pass --include-key-file). On
    /// PostgreSQL this exits with the pg_dump / pg_restore commands to use instead.
    Backup {
        #[command(flatten)]
        store: Store,
        /// The backup file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace an existing file.
        #[arg(long)]
        force: bool,
        /// Also copy the data directory's key file to OUT.master.key (mode 0600).
        #[arg(long)]
        include_key_file: bool,
    },
    /// Restore a backup into an empty data directory (or SQLite database) and migrate it.
    ///
    /// Nothing is touched unless the file is a Switchboard database whose secrets the
    /// configured master keys open (the error names the key id needed). Stop the engines on the
    /// target first.
    Restore {
        #[command(flatten)]
        store: Store,
        /// The backup file to restore.
        #[arg(long)]
        from: PathBuf,
        /// Restore over an existing database, kept aside as switchboard.db.bak-<time>.
        #[arg(long)]
        force: bool,
    },
}

/// Writes to stdout. A reader that went away (`switchboard connectors | head`) ends the program
/// quietly, as command-line tools do, instead of a panic; any other write error is reported.
fn out(args: std::fmt::Arguments) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("cannot write to stdout: {e}");
        std::process::exit(1);
    }
}

/// `print!` and `println!` through [`out`] for every line this program prints.
macro_rules! print {
    ($($t:tt)*) => { out(format_args!($($t)*)) };
}
macro_rules! println {
    () => { out(format_args!("\n")) };
    ($($t:tt)*) => { out(format_args!("{}\n", format_args!($($t)*))) };
}

fn parse_json(what: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text)
        .map_err(|e| Error::new(ErrorCode::BadRequest, format!("--{what} is not valid JSON: {e}")))
}

fn read_credentials(arg: Option<String>) -> Result<Value, Error> {
    let Some(arg) = arg else { return Ok(Value::Object(Default::default())) };
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Error::configuration(format!("cannot read credentials file {path}: {e}")))?,
        None => arg,
    };
    // Never echo the text back: it holds secrets.
    serde_json::from_str(&text).map_err(|e| {
        Error::new(
            ErrorCode::BadRequest,
            format!("--credentials is not valid JSON (line {}, column {})", e.line(), e.column()),
        )
    })
}

fn registry(specs: Option<PathBuf>) -> Result<Registry, Error> {
    match specs {
        Some(dir) => Registry::with_dir(&dir),
        None => Ok(Registry::builtin()?.clone()),
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// An engine error (or a storage or crypto one) as the command line's error.
fn api(e: impl Into<switchboard_engine::error::ApiError>) -> Error {
    let e = e.into();
    Error::new(e.code, e.message)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing requests in flight");
}

/// Writes an imported draft to `path`: a file already there (a spec someone may have reviewed
/// and edited) is kept unless `force`.
fn write_draft(path: &Path, text: &str, force: bool) -> Result<(), Error> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true);
    if force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let written = opts.open(path).and_then(|mut f| f.write_all(text.as_bytes()));
    written.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => Error::new(
            ErrorCode::Conflict,
            format!(
                "{} already exists: pass --force to replace it, or choose another --out; nothing was written",
                path.display()
            ),
        ),
        _ => Error::configuration(format!("cannot write {}: {e}", path.display())),
    })
}

async fn run(cli: Cli, effective: Option<serve_config::Effective>) -> Result<(), Error> {
    match cli.command {
        Command::Serve {
            bind,
            store,
            egress_allow,
            application_token_ttl,
            rate_limit,
            rate_burst,
            body_limit,
            audit_max_age_days,
            audit_max_rows,
            audit_flush_ms,
            connector_cache_ms,
            token_limits,
            connections,
            upstream_base_url,
            public_url,
            config: _,
            print_config,
        } => {
            store.check()?;
            let registry = registry(cli.specs)?;
            let mut upstream_base_urls = std::collections::BTreeMap::new();
            for (key, url) in upstream_base_url {
                upstream_base_urls.insert(registry.get(&key)?.slug.clone(), url);
            }
            let effective = effective.unwrap_or_default();
            if print_config {
                print!("{}", effective.to_toml());
                return Ok(());
            }
            effective.log();
            // Bound before the store is opened: a bad address fails before anything is created
            // (or a first application printed for a store no engine serves).
            let listener = tokio::net::TcpListener::bind(&bind)
                .await
                .map_err(|e| Error::configuration(format!("cannot listen on {bind}: {e}")))?;
            // Held until the engine exits: offline commands (restore, an offline key rotation)
            // are refused while it serves.
            if store.url().is_none() {
                switchboard_engine::crypto::create_private_dir(&store.data_dir)
                    .map_err(|e| Error::configuration(format!("cannot create {}: {e}", store.data_dir.display())))?;
            }
            let _serving = admin::lock_store(store.url(), &store.data_dir, None).map_err(api)?;
            let keys = store.key_ring()?;
            let settings = Settings {
                data_dir: store.data_dir.clone(),
                database_url: store.url().map(str::to_string),
                egress_allow: egress_allow
                    .into_iter()
                    .map(|h| h.trim().to_ascii_lowercase())
                    .filter(|h| !h.is_empty())
                    .collect(),
                application_token_ttl: application_token_ttl.max(1),
                rate_per_sec: rate_limit,
                rate_burst,
                body_limit,
                audit_max_age: std::time::Duration::from_secs(audit_max_age_days.saturating_mul(24 * 3600)),
                audit_max_rows,
                audit_flush_interval: std::time::Duration::from_millis(audit_flush_ms.max(1)),
                connector_cache_ttl: std::time::Duration::from_millis(connector_cache_ms),
                upstream_base_urls,
                public_url,
                ..Settings::default()
            };
            let settings = token_limits.apply(settings);
            let settings = connections.apply(settings);
            raise_open_file_limit(settings.max_connections);
            let state = AppState::new(settings, keys, registry).await.map_err(api)?;
            execution::spawn_audit_pruner(state.db.clone(), state.settings.clone());
            // Context store syncs the last process was running when it stopped go on.
            switchboard_engine::context_store::sync::resume_interrupted(&state);
            // Keys added or retired by `admin rotate-signing-key` take effect here too.
            switchboard_engine::tokens::keep_keys_fresh(&state);
            if let Some(first) = admin::bootstrap(&state.db, state.secrets.hasher()).await.map_err(api)? {
                println!(
                    "{}",
                    json!({"first_application": first.to_json(), "note": "shown once: store the client_secret now"})
                );
            }
            let addr = listener.local_addr().map_err(|e| Error::internal(e.to_string()))?;
            println!("{}", json!({"listening": format!("http://{addr}")}));
            tracing::info!(%addr, postgres = state.db.is_postgres(), "switchboard engine listening");
            // Handlers see the peer address as ConnectInfo<SocketAddr>, as with
            // into_make_service_with_connect_info.
            serve(listener, state, shutdown_signal()).await;
        }
        Command::Admin { command: AdminCommand::CreateApplication { organization, store } } => {
            // The secret is stored as the keyed hash, whose key is sealed under the master key,
            // from the same sources as for `serve`. The key before the database, as `serve`
            // does: a new store's key file exists before its first record.
            store.check()?;
            let ring = store.key_ring()?;
            let db = store.open().await?;
            let hasher = tokens::secret_hasher(&db, &ring).await.map_err(api)?;
            let created = admin::create_application(&db, &hasher, &organization).await.map_err(api)?;
            println!("{}", created.to_json());
        }
        Command::Admin { command: AdminCommand::Backup { store, out, force, include_key_file } } => {
            store.check()?;
            let source = admin::backup_source(store.url(), &store.data_dir).map_err(api)?;
            let key_file = store.master_key_file.clone().or_else(|| store.data_dir_key_file()).filter(|p| p.exists());
            let report =
                admin::backup(&source, &out, force, key_file.as_deref(), include_key_file).await.map_err(api)?;
            if let Some(warning) = report.warning {
                eprintln!("{warning}");
            }
            println!("{}", report.summary);
        }
        Command::Admin { command: AdminCommand::Restore { store, from, force } } => {
            store.check()?;
            let _offline = admin::lock_store(store.url(), &store.data_dir, Some("admin restore")).map_err(api)?;
            let ring = match &store.master_key_file {
                Some(path) => Some(serve_config::key_ring_from_file(path)?),
                None => {
                    let dir = store.url().is_none().then_some(store.data_dir.as_path());
                    let master = env("SWITCHBOARD_MASTER_KEY");
                    let old = env("SWITCHBOARD_OLD_MASTER_KEYS");
                    admin::existing_key_ring(master.as_deref(), old.as_deref(), dir).map_err(api)?
                }
            };
            let summary =
                admin::restore(&from, store.url(), &store.data_dir, ring.as_ref(), force).await.map_err(api)?;
            println!("{summary}");
        }
        Command::Admin { command: AdminCommand::RotateSigningKey { store, retire_old } } => {
            store.check()?;
            admin::require_store(store.url(), &store.data_dir).map_err(api)?;
            let ring = store.key_ring()?;
            let db = store.open().await?;
            let (kid, retired) =
                switchboard_engine::tokens::rotate_signing_key(&db, &ring, retire_old).await.map_err(api)?;
            println!("{}", json!({"kid": kid, "retired": retired}));
        }
        Command::Admin { command: AdminCommand::RotateKey { store, generate } } => {
            store.check()?;
            admin::require_store(store.url(), &store.data_dir).map_err(api)?;
            // A key file of the operator's (--master-key-file) is never written: rotate as with
            // SWITCHBOARD_MASTER_KEY, the new key in it and the old one in SWITCHBOARD_OLD_MASTER_KEYS.
            let uses_file = store.data_dir_key_file().is_some();
            // A new key no engine has (or the data directory's key file rewritten) needs every
            // engine stopped; the online rotation with the keys in the environment does not.
            let _offline = if generate || uses_file {
                let what = if uses_file { "rotating the key in master.key" } else { "rotate-key --generate" };
                admin::lock_store(store.url(), &store.data_dir, Some(what)).map_err(api)?
            } else {
                None
            };
            let ring = store.key_ring()?;
            let db = store.open().await?;
            let old_current = ring.current().clone();
            let (ring, new_key) = if generate || uses_file {
                let new = Key::generate();
                (ring.rotated(new.clone()), Some(new))
            } else {
                (ring, None)
            };
            if let (true, Some(new)) = (uses_file, &new_key) {
                // Keep the old key readable in the file until every record is resealed.
                write_key_file(&store.data_dir, new, &[old_current]).map_err(api)?;
            }
            let n = admin::reseal_all(&db, &ring).await.map_err(api)?;
            if let (true, Some(new)) = (uses_file, &new_key) {
                write_key_file(&store.data_dir, new, &[]).map_err(api)?;
            }
            let mut out = json!({"key_id": ring.current_id(), "records_resealed": n});
            if let (false, Some(new)) = (uses_file, &new_key) {
                out["master_key"] = json!(new.to_base64());
                out["note"] = json!("set SWITCHBOARD_MASTER_KEY to master_key on every engine; shown once");
            }
            println!("{out}");
        }
        Command::Exec {
            slug,
            entity,
            action,
            params,
            credentials,
            config,
            select_fields,
            exclude_fields,
            skip_truncation,
        } => {
            let reg = registry(cli.specs)?;
            let spec = reg.get(&slug)?;
            let params = parse_json("params", &params)?;
            let config = parse_json("config", &config)?;
            let creds = read_credentials(credentials)?;
            let connector = Connector::new(spec, creds, config, ConnectorOptions::default())?;
            let opts = ExecuteOptions { select_fields, exclude_fields, skip_truncation, intent: None };
            let res = connector.execute(&entity, &action, params, &opts).await?;
            println!("{}", json!({"data": res.data, "meta": res.meta}));
        }
        Command::Connectors {
            command: Some(ConnectorsCommand::Import { openapi_doc, name, out, force, json }),
            ..
        } => {
            let doc = import::read_document(&openapi_doc)?;
            let imported = import::import(&doc, name.as_deref())?;
            let source = openapi_doc
                .file_name()
                .map_or_else(|| openapi_doc.display().to_string(), |n| n.to_string_lossy().into_owned());
            let text = imported.to_yaml(&source)?;
            // The draft must load with the runtime's own loader before anyone gets it.
            switchboard_core::spec::parse_spec(&format!("{}.yaml", imported.summary.slug), &text)?;
            match out {
                Some(path) => write_draft(&path, &text, force)?,
                None => print!("{text}"),
            }
            if json {
                eprintln!("{}", json!(imported.summary));
            } else {
                eprint!("{}", imported.summary.to_text());
            }
        }
        Command::Connectors { command: Some(ConnectorsCommand::Check { files, json }), .. } => {
            let mut reports = Vec::new();
            for f in &files {
                let report = check::check_file(f)
                    .map_err(|e| Error::configuration(format!("cannot read {}: {e}", f.display())))?;
                reports.push(report);
            }
            if json {
                println!("{}", json!(reports));
            } else {
                for r in &reports {
                    print!("{}", r.to_text());
                }
            }
            if reports.iter().any(|r| !r.ok) {
                return Err(Error::configuration(format!(
                    "{} of {} spec files do not load",
                    reports.iter().filter(|r| !r.ok).count(),
                    reports.len()
                )));
            }
        }
        Command::Connectors { command: None, slug: None, json } => {
            let reg = registry(cli.specs)?;
            // A spec file that did not load is listed with its reason (file and JSON pointer);
            // the others work. Built-in specs are listed from their build-time index, unparsed.
            let summaries = reg.summaries();
            if json {
                let mut all: Vec<Value> = summaries
                    .iter()
                    .map(|s| json!({"slug": s.slug, "name": s.display_name, "definition_id": s.definition_id, "operations": s.operations.len()}))
                    .collect();
                all.extend(reg.rejected().iter().map(|r| json!({"file": r.file, "error": r.error})));
                println!("{}", Value::Array(all));
            } else {
                // Columns as wide as their longest value (in characters), so a long slug or
                // name from --specs does not shift the row.
                let width = |head: &str, cells: Vec<&str>| {
                    cells.into_iter().chain([head]).map(|c| c.chars().count()).max().unwrap_or(0)
                };
                let slug = width("SLUG", summaries.iter().map(|s| s.slug.as_str()).collect());
                let name = width("NAME", summaries.iter().map(|s| s.display_name.as_str()).collect());
                let id = width("DEFINITION ID", summaries.iter().map(|s| s.definition_id.as_str()).collect());
                println!("{:<slug$}  {:<name$}  {:<id$}  OPERATIONS", "SLUG", "NAME", "DEFINITION ID");
                for s in &summaries {
                    let n = s.operations.len();
                    println!("{:<slug$}  {:<name$}  {:<id$}  {n}", s.slug, s.display_name, s.definition_id);
                }
                for r in reg.rejected() {
                    println!("NOT LOADED   {}: {}", r.file, r.error.message);
                }
            }
        }
        Command::Mcp { hosted: true, workspace, max_output_chars, tools, .. } => {
            let reg = registry(cli.specs)?;
            let settings = switchboard_core::sdk::ClientSettings::default();
            let server =
                mcp::local::LocalServer::hosted(&reg, settings, workspace, max_output_chars as usize, tools).await?;
            server.serve_stdio().await?;
        }
        Command::Mcp { credentials_file, connectors, max_output_chars, tools, .. } => {
            let reg = registry(cli.specs)?;
            let mapping = match (credentials_file, connectors) {
                (Some(path), _) => {
                    let text = std::fs::read_to_string(&path).map_err(|e| {
                        Error::configuration(format!("cannot read credentials file {}: {e}", path.display()))
                    })?;
                    mcp::local::parse_connectors(&format!("credentials file {}", path.display()), &text)?
                }
                (None, Some(text)) => mcp::local::parse_connectors("SWITCHBOARD_MCP_CONNECTORS", &text)?,
                (None, None) => Default::default(),
            };
            let server = mcp::local::LocalServer::new(&reg, mapping, max_output_chars as usize, tools)?;
            server.serve_stdio().await?;
        }
        Command::Connectors { command: None, slug: Some(slug), json } => {
            let reg = registry(cli.specs)?;
            let spec = reg.get(&slug)?;
            if json {
                println!("{}", describe::summary_json(&spec));
            } else {
                print!("{}", describe::describe(&spec));
            }
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // `serve --config FILE`: the file's values are read before the command line is parsed.
    let (cli, effective) = match serve_config::parse_command_line::<Cli>() {
        Ok(parsed) => parsed,
        Err(e) => {
            eprintln!("{}", serde_json::to_string(&e).unwrap_or_else(|_| e.message.clone()));
            return ExitCode::from(1);
        }
    };
    // The server logs requests; one-shot commands keep stderr for their error JSON.
    let default_level = match &cli.command {
        Command::Serve { .. } => "info",
        // `check` reports what the loader would log as its own warnings.
        Command::Connectors { command: Some(_), .. } => "error",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| default_level.into()),
        )
        .with_writer(std::io::stderr)
        .json()
        .init();
    match run(cli, effective).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "{}",
                serde_json::to_string(&e)
                    .unwrap_or_else(|_| format!("{{\"code\":\"internal\",\"message\":{:?}}}", e.message))
            );
            ExitCode::from(1)
        }
    }
}
