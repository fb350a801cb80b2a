//! The operator's configuration file of `switchboard serve` and its printed effective
//! configuration (issue 18).
//!
//! Every long option of `serve` (and the global `--specs`) can be written in a TOML file named
//! by `--config` or `SWITCHBOARD_CONFIG`, under its long name in snake_case (`--rate-limit` is
//! `rate_limit`). The file is read before the command line is parsed and its values become the
//! options' defaults, so precedence is clap's own: command-line flag, then environment variable,
//! then the file, then the built-in default. Each value goes through the same parser as its flag,
//! so a file cannot hold a value the flag would refuse; an unknown key, a value of the wrong TOML
//! type or a refused value stops the start with `FILE:LINE` and the key.
//!
//! The key list is not written down here: it is read from the `serve` command itself, so a new
//! flag is a file key (and a line of the printed configuration) without touching this module.
//!
//! Secrets: the master key is never a setting (it comes from `SWITCHBOARD_MASTER_KEY`, or from
//! the file named by `master_key_file`, e.g. a systemd credential); a database URL's password
//! is masked as `***` wherever the configuration is printed or logged.

use std::any::TypeId;
use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::builder::Resettable;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches, Command, CommandFactory, FromArgMatches};
use switchboard_core::Error;

use crate::crypto::{Key, KeyRing};

/// The subcommand whose options the file sets.
const SUBCOMMAND: &str = "serve";
/// Options of `serve` that are about the file or the run itself, not settings.
const NOT_SETTINGS: &[&str] = &["help", "version", "config", "print_config"];
/// Global options of the root command that `serve` uses, settable in the file too.
const GLOBAL_SETTINGS: &[&str] = &["specs"];
/// The environment variable of the master key (never a setting, never printed).
const MASTER_KEY_ENV: &str = "SWITCHBOARD_MASTER_KEY";
/// What a masked secret is replaced by.
const MASK: &str = "***";

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag.
    Flag,
    /// An environment variable.
    Env,
    /// The configuration file.
    File,
    /// The built-in default (or not set at all).
    Default,
}

impl Source {
    /// `flag`, `env`, `file` or `default`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Flag => "flag",
            Source::Env => "env",
            Source::File => "file",
            Source::Default => "default",
        }
    }
}

/// The TOML shape of a setting, read from its clap argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Integer,
    Bool,
    /// A repeatable option: an array.
    List,
    /// `SLUG=URL` pairs: a table `{slug = "url"}` or an array of `"slug=url"`.
    SlugMap,
}

impl Kind {
    fn of(arg: &Arg) -> Kind {
        let t = arg.get_value_parser().type_id();
        let is = |id: TypeId| t == id;
        if is(TypeId::of::<(String, String)>()) {
            Kind::SlugMap
        } else if matches!(arg.get_action(), ArgAction::Append) {
            Kind::List
        } else if is(TypeId::of::<f64>()) || is(TypeId::of::<f32>()) {
            Kind::Number
        } else if [
            TypeId::of::<u8>(),
            TypeId::of::<u16>(),
            TypeId::of::<u32>(),
            TypeId::of::<u64>(),
            TypeId::of::<usize>(),
            TypeId::of::<i8>(),
            TypeId::of::<i16>(),
            TypeId::of::<i32>(),
            TypeId::of::<i64>(),
            TypeId::of::<isize>(),
        ]
        .into_iter()
        .any(is)
        {
            Kind::Integer
        } else if is(TypeId::of::<bool>()) {
            Kind::Bool
        } else {
            Kind::Text
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Number => "a number",
            Kind::Integer => "a whole number",
            Kind::Bool => "true or false",
            Kind::List => "an array",
            Kind::SlugMap => "a table {slug = \"url\"} or an array of \"slug=url\" strings",
        }
    }
}

/// One setting of the effective configuration.
#[derive(Debug, Clone)]
pub struct Setting {
    /// The key: the long option's name in snake_case.
    pub key: String,
    /// The values as the command line would take them (secrets masked); `None` when not set.
    pub values: Option<Vec<String>>,
    /// Where the value came from.
    pub source: Source,
    kind: Kind,
    help: String,
}

impl Setting {
    /// The value as TOML (`None` when not set).
    pub fn toml_value(&self) -> Option<toml::Value> {
        // A repeatable option not set is an empty array (or table): still a valid file value.
        let none = Vec::new();
        let values = match (&self.values, self.kind) {
            (Some(v), _) => v,
            (None, Kind::List | Kind::SlugMap) => &none,
            (None, _) => return None,
        };
        let scalar = |v: &str| match self.kind {
            Kind::Number => v.parse::<f64>().map(toml::Value::Float).unwrap_or_else(|_| v.into()),
            Kind::Integer => v.parse::<i64>().map(toml::Value::Integer).unwrap_or_else(|_| v.into()),
            Kind::Bool => v.parse::<bool>().map(toml::Value::Boolean).unwrap_or_else(|_| v.into()),
            _ => toml::Value::String(v.to_string()),
        };
        Some(match self.kind {
            Kind::List => toml::Value::Array(values.iter().map(|v| toml::Value::String(v.clone())).collect()),
            Kind::SlugMap => {
                let mut table = toml::Table::new();
                for v in values {
                    let (slug, url) = v.split_once('=').unwrap_or((v.as_str(), ""));
                    table.insert(slug.to_string(), toml::Value::String(url.to_string()));
                }
                toml::Value::Table(table)
            }
            _ => scalar(values.first().map(String::as_str).unwrap_or_default()),
        })
    }
}

/// The effective configuration of one `serve` run: every setting with its source.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    /// The configuration file read, if any.
    pub file: Option<PathBuf>,
    /// Every setting, in the order of `serve --help` (the global ones first).
    pub settings: Vec<Setting>,
    /// Where the master key comes from (never the key itself).
    pub master_key: String,
    /// Things an operator should fix that do not stop the start (logged as warnings).
    pub warnings: Vec<String>,
}

impl Effective {
    /// The setting named `key`.
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }

    /// The configuration as a TOML document usable as a `--config` file: each setting under its
    /// help as a comment, with its source after it; settings not set are commented out.
    pub fn to_toml(&self) -> String {
        let mut out = String::from(
            "# Effective configuration of `switchboard serve` (secrets masked).\n\
             # Precedence: flag > env > file > default; each value's source follows it.\n",
        );
        if let Some(f) = &self.file {
            out.push_str(&format!("# Configuration file: {}\n", f.display()));
        }
        out.push_str(&format!("# Master key: {} (never printed).\n", self.master_key));
        for s in &self.settings {
            out.push('\n');
            for line in s.help.lines() {
                for part in wrap(line, 96) {
                    out.push_str(format!("# {part}").trim_end());
                    out.push('\n');
                }
            }
            match s.toml_value() {
                Some(v) => out.push_str(&format!("{} = {v}  # {}\n", toml_key(&s.key), s.source.as_str())),
                None => out.push_str(&format!("# {} is not set  # {}\n", toml_key(&s.key), s.source.as_str())),
            }
        }
        out
    }

    /// Logs the configuration, one line per setting with its source (secrets masked).
    pub fn log(&self) {
        if let Some(f) = &self.file {
            tracing::info!(file = %f.display(), "configuration file read");
        }
        for s in &self.settings {
            let value = s.toml_value().map_or_else(|| "(not set)".to_string(), |v| v.to_string());
            tracing::info!(setting = %s.key, value = %value, source = s.source.as_str(), "effective configuration");
        }
        tracing::info!(setting = "master_key", value = %self.master_key, "effective configuration");
        for w in &self.warnings {
            tracing::warn!("{w}");
        }
    }
}

/// `text` cut at spaces into lines of at most `width` characters (a longer word stays whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split(' ') {
        let current = lines.last_mut().map_or(0, |l| l.chars().count());
        if current > 0 && current + 1 + word.chars().count() > width {
            lines.push(String::new());
        }
        if let Some(last) = lines.last_mut() {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// A key as TOML writes it (quoted when it is not a bare key).
fn toml_key(key: &str) -> String {
    if !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        key.to_string()
    } else {
        toml::Value::String(key.to_string()).to_string()
    }
}

/// Parses the process's command line, reading `serve`'s configuration file first (see the
/// module docs). Clap's own errors (and `--help`, `--version`) exit as `Parser::parse` does; a
/// configuration file that cannot be used is an error of code `configuration`.
pub fn parse_command_line<C: CommandFactory + FromArgMatches>() -> Result<(C, Option<Effective>), Error> {
    parse_from(std::env::args_os().collect())
}

/// [`parse_command_line`] over the given arguments (the first is the program name).
pub fn parse_from<C: CommandFactory + FromArgMatches>(args: Vec<OsString>) -> Result<(C, Option<Effective>), Error> {
    // Settings are listed in the order of `serve --help`, which `mut_arg` below would change.
    let original = C::command();
    let mut cmd = original.clone();
    let mut from_file = BTreeSet::new();
    let mut file = None;
    let mut warnings = Vec::new();
    // A first pass only to learn the file's name (its flag and its variable are clap's); a
    // command line that does not parse is reported by the real pass below.
    if let Ok(first) = cmd.clone().try_get_matches_from(&args) {
        if let Some((SUBCOMMAND, sub)) = first.subcommand() {
            if let Some(path) = sub.try_get_one::<PathBuf>("config").ok().flatten() {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::configuration(format!("cannot read the configuration file {}: {e}", path.display()))
                })?;
                for (key, values) in file_values(&cmd, path, &text)? {
                    if let Some(w) = exposed_secret(&cmd, path, &key, &values) {
                        warnings.push(w);
                    }
                    cmd = with_default(cmd, &key, values);
                    from_file.insert(key);
                }
                file = Some(path.clone());
            }
        }
    }
    let matches = cmd.clone().get_matches_from(args);
    let cli = C::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let effective = match matches.subcommand() {
        Some((SUBCOMMAND, sub)) => {
            Some(Effective { warnings, ..effective(&original, &matches, sub, &from_file, file) })
        }
        _ => None,
    };
    Ok((cli, effective))
}

/// A warning when the file holds a secret (a database URL's password) and other users can read
/// it. The start goes on: the operator may have reasons, but should know.
fn exposed_secret(cmd: &Command, path: &Path, key: &str, values: &[String]) -> Option<String> {
    let (_, arg) = setting_args(cmd).into_iter().find(|(_, a)| a.get_id().as_str() == key)?;
    if !arg.is_hide_env_values_set() || values.iter().all(|v| mask_secret(v) == *v) {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path).ok()?.permissions().mode() & 0o777;
        if mode & 0o077 == 0 {
            return None;
        }
        Some(format!(
            "{}: `{key}` holds a password and the file is readable by other users (mode {mode:o}): \
             chmod 600 it, or move the password to PGPASSWORD",
            path.display()
        ))
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

/// The arguments that are settings: `(is_global, arg)`.
fn setting_args(cmd: &Command) -> Vec<(bool, &Arg)> {
    let globals = cmd.get_arguments().filter(|a| GLOBAL_SETTINGS.contains(&a.get_id().as_str())).map(|a| (true, a));
    let serve = cmd.find_subcommand(SUBCOMMAND).into_iter().flat_map(|s| s.get_arguments()).filter(|a| {
        let id = a.get_id().as_str();
        !NOT_SETTINGS.contains(&id) && a.get_long().is_some() && !a.is_positional()
    });
    globals.chain(serve.map(|a| (false, a))).collect()
}

/// `cmd` with `values` as the default of setting `key`.
fn with_default(cmd: Command, key: &str, values: Vec<String>) -> Command {
    if GLOBAL_SETTINGS.contains(&key) {
        cmd.mut_arg(key, |a| a.default_values(values))
    } else {
        cmd.mut_subcommand(SUBCOMMAND, |s| s.mut_arg(key, |a| a.default_values(values)))
    }
}

/// The 1-based line of byte `offset` in `text`.
fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// The file's settings as command-line values, each checked by its option's own parser.
/// Every problem is reported (not only the first), each as `FILE:LINE: ...`.
fn file_values(cmd: &Command, path: &Path, text: &str) -> Result<Vec<(String, Vec<String>)>, Error> {
    let file = path.display();
    let syntax = |e: toml::de::Error| {
        let line = e.span().map_or(1, |s| line_of(text, s.start));
        Error::configuration(format!("{file}:{line}: not valid TOML: {}", e.message()))
    };
    // Spans (for the line of each key) from the document parser; typed values from the
    // deserializer. Both read the same text.
    let spanned = toml::de::DeTable::parse(text).map_err(syntax)?;
    let table: toml::Table = toml::from_str(text).map_err(syntax)?;
    let args = setting_args(cmd);
    let mut problems = Vec::new();
    let mut out = Vec::new();
    for (key, value) in &table {
        let line = spanned
            .get_ref()
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map_or(1, |(k, _)| line_of(text, k.span().start));
        let Some((_, arg)) = args.iter().find(|(_, a)| a.get_id().as_str() == key) else {
            let known: Vec<&str> = args.iter().map(|(_, a)| a.get_id().as_str()).collect();
            problems.push((line, format!("{file}:{line}: unknown key `{key}` (known keys: {})", known.join(", "))));
            continue;
        };
        let kind = Kind::of(arg);
        let checked = to_values(kind, value).and_then(|values| check(arg, &values).map(|()| values));
        match checked {
            Ok(values) => out.push((key.clone(), values)),
            Err(e) => problems.push((line, format!("{file}:{line}: `{key}`: {e}"))),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        // In the file's order (the table is not).
        problems.sort();
        Err(Error::configuration(problems.into_iter().map(|(_, p)| p).collect::<Vec<_>>().join("\n")))
    }
}

/// A TOML value as the values its option takes on the command line.
fn to_values(kind: Kind, value: &toml::Value) -> Result<Vec<String>, String> {
    let wrong = || format!("must be {}, not {}", kind.describe(), type_name(value));
    let scalar = |v: &toml::Value| match v {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        _ => None,
    };
    match (kind, value) {
        (Kind::Text, toml::Value::String(s)) => Ok(vec![s.clone()]),
        (Kind::Number, toml::Value::Integer(i)) => Ok(vec![i.to_string()]),
        (Kind::Number, toml::Value::Float(f)) => Ok(vec![f.to_string()]),
        (Kind::Integer, toml::Value::Integer(i)) => Ok(vec![i.to_string()]),
        (Kind::Bool, toml::Value::Boolean(b)) => Ok(vec![b.to_string()]),
        (Kind::List, toml::Value::Array(items)) => items
            .iter()
            .map(|v| scalar(v).ok_or_else(|| format!("must be an array of strings; {} is {}", v, type_name(v))))
            .collect(),
        (Kind::SlugMap, toml::Value::Table(t)) => t
            .iter()
            .map(|(slug, v)| match v {
                toml::Value::String(url) => Ok(format!("{slug}={url}")),
                other => Err(format!("`{slug}` must be a URL string, not {}", type_name(other))),
            })
            .collect(),
        (Kind::SlugMap, toml::Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(format!("must hold \"slug=url\" strings, not {}", type_name(other))),
            })
            .collect(),
        _ => Err(wrong()),
    }
}

fn type_name(v: &toml::Value) -> &'static str {
    match v {
        toml::Value::String(_) => "a string",
        toml::Value::Integer(_) => "an integer",
        toml::Value::Float(_) => "a float",
        toml::Value::Boolean(_) => "a boolean",
        toml::Value::Datetime(_) => "a date-time",
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
    }
}

/// Runs `values` through the option's own parser (the one its flag uses), without the
/// environment, so the file cannot hold what the flag would refuse.
fn check(arg: &Arg, values: &[String]) -> Result<(), String> {
    let Some(long) = arg.get_long() else { return Ok(()) };
    if matches!(arg.get_action(), ArgAction::SetTrue | ArgAction::SetFalse) {
        // A switch takes no value on the command line; its TOML type (a boolean) was checked.
        return Ok(());
    }
    let probe = Command::new("switchboard")
        .no_binary_name(true)
        .arg(arg.clone().env(Resettable::Reset).required(false).default_values(Vec::<&str>::new()));
    let argv: Vec<String> = values.iter().map(|v| format!("--{long}={v}")).collect();
    match probe.try_get_matches_from(argv) {
        Ok(_) => Ok(()),
        Err(e) => {
            let text = e.render().to_string();
            let first = text.lines().next().unwrap_or_default();
            Err(first.strip_prefix("error: ").unwrap_or(first).to_string())
        }
    }
}

/// The effective configuration from the final matches.
fn effective(
    cmd: &Command,
    root: &ArgMatches,
    sub: &ArgMatches,
    from_file: &BTreeSet<String>,
    file: Option<PathBuf>,
) -> Effective {
    let settings: Vec<Setting> = setting_args(cmd)
        .into_iter()
        .map(|(global, arg)| {
            let id = arg.get_id().as_str();
            let m = if global { root } else { sub };
            let secret = arg.is_hide_env_values_set();
            let values: Option<Vec<String>> = m.try_get_raw(id).ok().flatten().map(|raw| {
                raw.map(|v| {
                    let v = v.to_string_lossy();
                    if secret {
                        mask_secret(&v)
                    } else {
                        v.into_owned()
                    }
                })
                .collect()
            });
            let source = match m.value_source(id) {
                Some(ValueSource::CommandLine) => Source::Flag,
                Some(ValueSource::EnvVariable) => Source::Env,
                _ if from_file.contains(id) => Source::File,
                _ => Source::Default,
            };
            let help = arg.get_long_help().or(arg.get_help()).map(|h| h.to_string()).unwrap_or_default();
            Setting { key: id.to_string(), values, source, kind: Kind::of(arg), help }
        })
        .collect();
    let set = |key: &str| settings.iter().any(|s| s.key == key && s.values.is_some());
    let master_key = if set("master_key_file") {
        "read from master_key_file".to_string()
    } else if std::env::var_os(MASTER_KEY_ENV).is_some_and(|v| !v.is_empty()) {
        format!("from {MASTER_KEY_ENV}")
    } else if set("database_url") {
        format!("missing: set {MASTER_KEY_ENV} or master_key_file")
    } else {
        "the key file in data_dir (created on first start)".to_string()
    };
    Effective { file, settings, master_key, warnings: Vec::new() }
}

/// A secret-bearing value as it may be shown: a URL keeps everything but its password (and any
/// `password`-like query parameter), which become `***`; anything else is masked whole.
pub fn mask_secret(value: &str) -> String {
    let Ok(mut url) = url::Url::parse(value) else {
        return MASK.to_string();
    };
    if url.cannot_be_a_base() {
        return MASK.to_string();
    }
    if url.password().is_some() && url.set_password(Some(MASK)).is_err() {
        return MASK.to_string();
    }
    let secret_param = |k: &str| {
        let k = k.to_ascii_lowercase();
        k.contains("password") || k.contains("secret") || k.contains("token") || k == "sslkey"
    };
    if url.query_pairs().any(|(k, _)| secret_param(&k)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret_param(&k) { MASK.to_string() } else { v.into_owned() };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Refuses a master key from both `SWITCHBOARD_MASTER_KEY` and `master_key_file` (`file`), so
/// which key is used is never a guess.
pub fn check_key_sources(file: Option<&Path>) -> Result<(), Error> {
    if file.is_some() && std::env::var_os(MASTER_KEY_ENV).is_some_and(|v| !v.is_empty()) {
        return Err(Error::configuration(format!(
            "both {MASTER_KEY_ENV} and master_key_file are set: set only one of them"
        )));
    }
    Ok(())
}

/// The key ring when the master key comes from `master_key_file` (a file holding the base64 key
/// on its first line, e.g. a systemd credential) instead of `SWITCHBOARD_MASTER_KEY`; setting
/// both is refused ([`check_key_sources`]). Old keys still come from
/// `SWITCHBOARD_OLD_MASTER_KEYS`.
pub fn key_ring_from_file(path: &Path) -> Result<KeyRing, Error> {
    check_key_sources(Some(path))?;
    let name = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::configuration(format!("cannot read the master key file {name}: {e}")))?;
    let key = text.lines().next().unwrap_or_default().trim();
    if key.is_empty() {
        return Err(Error::configuration(format!("the master key file {name} is empty")));
    }
    // The message names what is wrong with the key, never the key.
    let current = Key::parse(key).map_err(|e| Error::configuration(format!("the master key file {name}: {e}")))?;
    let old = std::env::var("SWITCHBOARD_OLD_MASTER_KEYS").ok();
    let old = KeyRing::old_keys(old.as_deref()).map_err(|e| Error::configuration(e.to_string()))?;
    Ok(KeyRing::new(current, old))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Parser, Subcommand};

    #[derive(Parser, Debug)]
    struct Cli {
        #[arg(long, global = true, env = "SB_CONFIG_TEST_SPECS")]
        specs: Option<PathBuf>,
        #[command(subcommand)]
        command: Cmd,
    }

    fn positive(s: &str) -> Result<f64, String> {
        match s.parse::<f64>() {
            Ok(v) if v > 0.0 => Ok(v),
            _ => Err(format!("{s:?} is not a positive number")),
        }
    }

    fn pair(s: &str) -> Result<(String, String), String> {
        s.split_once('=').map(|(a, b)| (a.to_string(), b.to_string())).ok_or_else(|| format!("{s:?} is not SLUG=URL"))
    }

    #[derive(Subcommand, Debug)]
    enum Cmd {
        Serve {
            #[arg(long, env = "SB_CONFIG_TEST_BIND", default_value = "127.0.0.1:8080")]
            bind: String,
            #[arg(long, env = "SB_CONFIG_TEST_RATE", default_value_t = 50.0, value_parser = positive)]
            rate_limit: f64,
            #[arg(long, default_value_t = 900)]
            ttl: u64,
            #[arg(long, value_delimiter = ',')]
            egress_allow: Vec<String>,
            #[arg(long, value_delimiter = ',', value_parser = pair)]
            upstream_base_url: Vec<(String, String)>,
            #[arg(long, hide_env_values = true, env = "SB_CONFIG_TEST_DB")]
            database_url: Option<String>,
            #[arg(long)]
            quiet: bool,
            #[arg(long)]
            config: Option<PathBuf>,
            #[arg(long)]
            print_config: bool,
        },
        Other,
    }

    fn write(text: &str) -> PathBuf {
        let p = std::env::temp_dir().join(format!("sb-config-unit-{}.toml", uuid::Uuid::new_v4()));
        std::fs::write(&p, text).unwrap_or_else(|e| panic!("{e}"));
        p
    }

    fn parse(args: &[&str]) -> Result<(Cli, Option<Effective>), Error> {
        parse_from::<Cli>(std::iter::once("switchboard").chain(args.iter().copied()).map(OsString::from).collect())
    }

    #[test]
    fn file_values_fill_in_under_flags() {
        let p = write(
            "bind = \"0.0.0.0:9000\"\nrate_limit = 7\nttl = 60\negress_allow = [\"a.example\", \"b.example\"]\n\
             specs = \"/srv/specs\"\nquiet = true\n[upstream_base_url]\ngithub = \"http://127.0.0.1:1\"\n",
        );
        let path = p.to_string_lossy().into_owned();
        let (cli, eff) = parse(&["serve", "--config", &path, "--ttl", "5"]).unwrap_or_else(|e| panic!("{e:?}"));
        let _ = std::fs::remove_file(&p);
        let Cmd::Serve { bind, rate_limit, ttl, egress_allow, upstream_base_url, quiet, .. } = cli.command else {
            panic!("not serve")
        };
        assert_eq!(bind, "0.0.0.0:9000");
        assert_eq!(rate_limit, 7.0);
        assert_eq!(ttl, 5, "a flag wins over the file");
        assert_eq!(egress_allow, ["a.example", "b.example"]);
        assert_eq!(upstream_base_url, [("github".to_string(), "http://127.0.0.1:1".to_string())]);
        assert_eq!(cli.specs, Some(PathBuf::from("/srv/specs")));
        assert!(quiet, "a switch set in the file");
        let eff = eff.unwrap_or_else(|| panic!("serve has an effective configuration"));
        let source = |k: &str| eff.get(k).map(|s| s.source).unwrap_or_else(|| panic!("no {k}"));
        assert_eq!(source("bind"), Source::File);
        assert_eq!(source("ttl"), Source::Flag);
        assert_eq!(source("specs"), Source::File);
        assert_eq!(source("database_url"), Source::Default);
        assert!(eff.get("config").is_none() && eff.get("print_config").is_none());
        let printed: toml::Table = toml::from_str(&eff.to_toml()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(printed["rate_limit"], toml::Value::Float(7.0));
        assert_eq!(printed["ttl"], toml::Value::Integer(5));
        assert_eq!(printed["upstream_base_url"]["github"], toml::Value::String("http://127.0.0.1:1".into()));
        assert!(!printed.contains_key("database_url"), "an unset setting is commented out");
    }

    #[test]
    fn problems_name_file_line_and_key() {
        let p = write("bind = \"x\"\n\nnope = 1\nrate_limit = \"fast\"\nttl = -3\negress_allow = \"one\"\n");
        let path = p.to_string_lossy().into_owned();
        let err = parse(&["serve", "--config", &path]).map(|_| ()).err().unwrap_or_else(|| panic!("must fail"));
        let _ = std::fs::remove_file(&p);
        let m = &err.message;
        assert!(m.contains(&format!("{path}:3: unknown key `nope`")), "{m}");
        assert!(m.contains(&format!("{path}:4: `rate_limit`: must be a number, not a string")), "{m}");
        assert!(m.contains(&format!("{path}:5: `ttl`: ")) && m.contains("-3"), "{m}");
        assert!(m.contains(&format!("{path}:6: `egress_allow`: must be an array")), "{m}");
        // The option's own parser runs on file values too.
        let p = write("rate_limit = -1.5\n");
        let path = p.to_string_lossy().into_owned();
        let err = parse(&["serve", "--config", &path]).map(|_| ()).err().unwrap_or_else(|| panic!("must fail"));
        let _ = std::fs::remove_file(&p);
        assert!(err.message.contains(&format!("{path}:1: `rate_limit`:")), "{}", err.message);
        assert!(err.message.contains("is not a positive number"), "{}", err.message);
        // Broken TOML names its line.
        let p = write("bind = \"ok\"\nrate_limit = = 3\n");
        let path = p.to_string_lossy().into_owned();
        let err = parse(&["serve", "--config", &path]).map(|_| ()).err().unwrap_or_else(|| panic!("must fail"));
        let _ = std::fs::remove_file(&p);
        assert!(err.message.starts_with(&format!("{path}:2: not valid TOML")), "{}", err.message);
    }

    #[test]
    fn database_passwords_are_masked() {
        assert_eq!(mask_secret("postgres://sb:hunter2@db.internal:5432/sb"), "postgres://sb:***@db.internal:5432/sb");
        assert_eq!(
            mask_secret("postgresql://db.internal/sb?user=sb&password=hunter2&sslmode=require"),
            "postgresql://db.internal/sb?user=sb&password=***&sslmode=require"
        );
        assert_eq!(mask_secret("postgres://db.internal/sb"), "postgres://db.internal/sb");
        assert_eq!(mask_secret("not a url with hunter2"), "***");
        let (_, eff) =
            parse(&["serve", "--database-url", "postgres://u:hunter2@h/db"]).unwrap_or_else(|e| panic!("{e:?}"));
        let text = eff.unwrap_or_else(|| panic!("serve")).to_toml();
        assert!(text.contains("postgres://u:***@h/db") && !text.contains("hunter2"), "{text}");
    }

    #[test]
    fn other_subcommands_have_no_configuration() {
        let (cli, eff) = parse(&["other"]).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(matches!(cli.command, Cmd::Other) && eff.is_none());
    }

    #[test]
    fn lines_are_counted_from_one() {
        assert_eq!(line_of("a\nb\nc", 0), 1);
        assert_eq!(line_of("a\nb\nc", 2), 2);
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
