//! `switchboard`: the command line of Switchboard.
//!
//! `exec` runs one connector operation in local mode; `connectors` lists the built-in
//! connectors or describes one. Errors print as JSON `{code, message, ...}` on stderr with a
//! non-zero exit status.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};
use switchboard_core::{describe, Connector, ConnectorOptions, Error, ExecuteOptions, Registry};

#[derive(Parser)]
#[command(name = "switchboard", version, about = "Switchboard: connectors for AI agents, local or hosted")]
struct Cli {
    /// Extra directory of connector specs (ours or reference-format), loaded after the built-in ones.
    #[arg(long, global = true, env = "SWITCHBOARD_SPECS")]
    specs: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
    /// List the built-in connectors, or describe one connector's entities, actions and params.
    Connectors {
        /// A connector slug to describe.
        slug: Option<String>,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

fn parse_json(what: &str, text: &str) -> Result<Value, Error> {
    serde_json::from_str(text).map_err(|e| Error::new(switchboard_core::ErrorCode::BadRequest, format!("--{what} is not valid JSON: {e}")))
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
        Error::new(switchboard_core::ErrorCode::BadRequest, format!("--credentials is not valid JSON (line {}, column {})", e.line(), e.column()))
    })
}

fn registry(specs: Option<PathBuf>) -> Result<Registry, Error> {
    match specs {
        Some(dir) => Registry::with_dir(&dir),
        None => Ok(Registry::builtin()?.clone()),
    }
}

async fn run(cli: Cli) -> Result<(), Error> {
    match cli.command {
        Command::Exec { slug, entity, action, params, credentials, config, select_fields, exclude_fields, skip_truncation } => {
            let reg = registry(cli.specs)?;
            let spec = reg.get(&slug)?;
            let params = parse_json("params", &params)?;
            let config = parse_json("config", &config)?;
            let creds = read_credentials(credentials)?;
            let connector = Connector::new(spec, creds, config, ConnectorOptions::default())?;
            let opts = ExecuteOptions { select_fields, exclude_fields, skip_truncation };
            let res = connector.execute(&entity, &action, params, &opts).await?;
            println!("{}", json!({"data": res.data, "meta": res.meta}));
        }
        Command::Connectors { slug: None, json } => {
            let reg = registry(cli.specs)?;
            if json {
                let all: Vec<Value> = reg
                    .all()
                    .map(|s| json!({"slug": s.slug, "name": s.display_name, "definition_id": s.definition_id, "operations": s.operations.len()}))
                    .collect();
                println!("{}", Value::Array(all));
            } else {
                println!("{:<12} {:<14} {:<38} OPERATIONS", "SLUG", "NAME", "DEFINITION ID");
                for s in reg.all() {
                    println!("{:<12} {:<14} {:<38} {}", s.slug, s.display_name, s.definition_id, s.operations.len());
                }
            }
        }
        Command::Connectors { slug: Some(slug), json } => {
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
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SWITCHBOARD_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .json()
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{}", serde_json::to_string(&e).unwrap_or_else(|_| format!("{{\"code\":\"internal\",\"message\":{:?}}}", e.message)));
            ExitCode::from(1)
        }
    }
}
