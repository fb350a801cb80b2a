//! The connectors a process knows: the specs embedded at build time, plus any loaded from a
//! directory at run time (`--specs DIR`, `SWITCHBOARD_SPECS`), ours or reference-format.
//!
//! A built-in spec is parsed the first time its connector is used, not at start: core/build.rs
//! embeds each one's index (slug, definition id, display name, description, operations, auth
//! schemes and their fields, required config, replication config: its [`ConnectorSummary`],
//! which the loader wrote to `core/specs-index.json`), which is
//! all a lookup ([`Registry::get`] finds by it) and a listing ([`Registry::summaries`]) need, so
//! starting a process (the engine, a binding's first call) and listing the catalog cost the same
//! whatever the number of built-in connectors. Only [`Registry::all`] (every full spec: code
//! generation, tests) parses them all. A built-in spec is parsed at most once per process;
//! clones of a registry share the parse.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::error::{Error, ErrorCode, Result};
use crate::spec::{parse_spec, ConnectorSpec};

mod embedded {
    /// What lookups and listings need of a built-in spec: its summary, embedded at build time.
    pub struct Index {
        pub slug: &'static str,
        pub definition_id: &'static str,
        pub display_name: &'static str,
        pub description: Option<&'static str>,
        /// `(entity, action)` of each operation, in the spec's order.
        pub operations: &'static [(&'static str, &'static str)],
        pub auth: &'static [Auth],
        pub required_config: &'static [&'static str],
        /// The replication config's value, as JSON text.
        pub replication_config: Option<&'static str>,
    }

    /// A security scheme: its key, title and credential fields.
    pub struct Auth {
        pub name: &'static str,
        pub title: &'static str,
        pub fields: &'static [Field],
    }

    /// A credential field.
    pub struct Field {
        pub name: &'static str,
        pub title: Option<&'static str>,
        pub description: Option<&'static str>,
        pub required: bool,
        pub secret: bool,
    }

    /// One `connectors/*.yaml`: its file name, its index (`None` when `core/specs-index.json`
    /// has no current entry for it: the spec is then parsed at start) and its text, deflated
    /// (core/build.rs).
    pub struct Embedded {
        pub file: &'static str,
        pub index: Option<Index>,
        pub deflated: &'static [u8],
        /// The text's length in bytes.
        pub len: usize,
    }

    impl Embedded {
        /// The spec's text.
        pub fn text(&self) -> crate::Result<String> {
            use std::io::Read as _;
            let mut text = String::with_capacity(self.len);
            flate2::read::DeflateDecoder::new(self.deflated).read_to_string(&mut text).map_err(|e| {
                crate::Error::internal(format!("built-in spec {}: cannot inflate its text: {e}", self.file))
            })?;
            Ok(text)
        }

        /// The spec, parsed from its text.
        pub fn parse(&self) -> crate::Result<crate::spec::ConnectorSpec> {
            crate::spec::parse_spec(self.file, &self.text()?)
        }
    }

    include!(concat!(env!("OUT_DIR"), "/specs.rs"));
}

/// What a catalog shows of a connector: for a built-in one, known without parsing its spec.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ConnectorSummary {
    pub slug: String,
    pub definition_id: String,
    pub display_name: String,
    pub description: Option<String>,
    /// `(entity, action)` of every operation, in the spec's order.
    pub operations: Vec<(String, String)>,
    pub auth_schemes: Vec<AuthSummary>,
    /// What [`ConnectorSpec::required_config`] says.
    pub required_config: Vec<String>,
    /// The spec's `x-replication-config` as written (`None` when it has none).
    pub replication_config: Option<Value>,
}

/// One way to authenticate a connector: the scheme's key, its title and credential fields.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AuthSummary {
    pub name: String,
    pub title: String,
    pub fields: Vec<FieldSummary>,
}

/// A credential field of an auth scheme.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldSummary {
    pub name: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub required: bool,
    pub secret: bool,
}

impl ConnectorSummary {
    /// The summary of a parsed spec.
    pub fn of(spec: &ConnectorSpec) -> ConnectorSummary {
        ConnectorSummary {
            slug: spec.slug.clone(),
            definition_id: spec.definition_id.clone(),
            display_name: spec.display_name.clone(),
            description: spec.description.clone(),
            operations: spec.operations.iter().map(|o| (o.entity.clone(), o.action.clone())).collect(),
            auth_schemes: spec
                .auth_schemes
                .iter()
                .map(|a| AuthSummary {
                    name: a.name.clone(),
                    title: a.title.clone(),
                    fields: a
                        .fields
                        .iter()
                        .map(|f| FieldSummary {
                            name: f.name.clone(),
                            title: f.title.clone(),
                            description: f.description.clone(),
                            required: f.required,
                            secret: f.secret,
                        })
                        .collect(),
                })
                .collect(),
            required_config: spec.required_config().into_iter().map(str::to_string).collect(),
            replication_config: spec.replication_config.clone(),
        }
    }

    /// The summary a built-in spec's embedded index holds.
    fn from_index(file: &str, i: &embedded::Index) -> ConnectorSummary {
        let owned = |s: Option<&str>| s.map(str::to_string);
        ConnectorSummary {
            slug: i.slug.into(),
            definition_id: i.definition_id.into(),
            display_name: i.display_name.into(),
            description: owned(i.description),
            operations: i.operations.iter().map(|(e, a)| (e.to_string(), a.to_string())).collect(),
            auth_schemes: i
                .auth
                .iter()
                .map(|a| AuthSummary {
                    name: a.name.into(),
                    title: a.title.into(),
                    fields: a
                        .fields
                        .iter()
                        .map(|f| FieldSummary {
                            name: f.name.into(),
                            title: owned(f.title),
                            description: owned(f.description),
                            required: f.required,
                            secret: f.secret,
                        })
                        .collect(),
                })
                .collect(),
            required_config: i.required_config.iter().map(|c| c.to_string()).collect(),
            // JSON the loader wrote from a parsed value; should it not read back, the summary
            // differs from the spec and the spec's parse reports it.
            replication_config: i.replication_config.and_then(|text| {
                serde_json::from_str(text)
                    .map_err(
                        |e| tracing::error!(file, error = %e, "built-in spec index: replication config unreadable"),
                    )
                    .ok()
            }),
        }
    }

    /// The parts in which `self` and `other` differ, by name.
    fn differences(&self, other: &ConnectorSummary) -> Vec<&'static str> {
        let parts = [
            ("slug", self.slug == other.slug),
            ("definition id", self.definition_id == other.definition_id),
            ("display name", self.display_name == other.display_name),
            ("description", self.description == other.description),
            ("operations", self.operations == other.operations),
            ("auth schemes", self.auth_schemes == other.auth_schemes),
            ("required config", self.required_config == other.required_config),
            ("replication config", self.replication_config == other.replication_config),
        ];
        parts.into_iter().filter(|(_, same)| !same).map(|(name, _)| name).collect()
    }
}

/// A set of connector specs, by slug, and the spec files of a directory that did not load.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: BTreeMap<String, Slot>,
    rejected: Vec<Rejected>,
}

/// A spec file that did not load, and why (the file and JSON pointer of the fault).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub file: String,
    pub error: Error,
}

/// A registry entry: a parsed spec, or a built-in one parsed on first use.
#[derive(Debug, Clone)]
enum Slot {
    Parsed(Arc<ConnectorSpec>),
    Lazy(&'static LazySpec),
}

/// A built-in spec and, once they have been asked for, its summary and the result of parsing it.
struct LazySpec {
    source: &'static embedded::Embedded,
    index: &'static embedded::Index,
    summary: OnceLock<Arc<ConnectorSummary>>,
    parsed: OnceLock<Result<Arc<ConnectorSpec>>>,
}

impl std::fmt::Debug for LazySpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySpec")
            .field("file", &self.source.file)
            .field("slug", &self.index.slug)
            .field("parsed", &self.parsed.get().map(|r| r.is_ok()))
            .finish()
    }
}

impl LazySpec {
    /// The summary the embedded index holds, made on the first call.
    fn summary(&self) -> &Arc<ConnectorSummary> {
        self.summary.get_or_init(|| Arc::new(ConnectorSummary::from_index(self.source.file, self.index)))
    }

    /// The spec, parsed on the first call. What its embedded index says must be what it says.
    fn get(&self) -> &Result<Arc<ConnectorSpec>> {
        self.parsed.get_or_init(|| {
            let parsed = self.source.parse().and_then(|spec| {
                let differ = self.summary().differences(&ConnectorSummary::of(&spec));
                if !differ.is_empty() {
                    return Err(Error::internal(format!(
                        "built-in spec {}: its index (core/specs-index.json) differs from the spec in: {}",
                        self.source.file,
                        differ.join(", ")
                    )));
                }
                Ok(Arc::new(spec))
            });
            if let Err(e) = &parsed {
                tracing::error!(file = self.source.file, error = %e.message, "built-in connector spec does not load");
            }
            parsed
        })
    }
}

impl Slot {
    fn spec(&self) -> Result<Arc<ConnectorSpec>> {
        match self {
            Slot::Parsed(s) => Ok(s.clone()),
            Slot::Lazy(l) => l.get().clone(),
        }
    }

    fn is_parsed(&self) -> bool {
        match self {
            Slot::Parsed(_) => true,
            Slot::Lazy(l) => l.parsed.get().is_some(),
        }
    }

    /// What a listing shows: a built-in spec's from its embedded index, unparsed.
    fn summary(&self) -> Arc<ConnectorSummary> {
        match self {
            Slot::Parsed(s) => Arc::new(ConnectorSummary::of(s)),
            Slot::Lazy(l) => l.summary().clone(),
        }
    }

    /// Whether `k` (lowercase) is this connector's definition id or display name.
    fn answers_to(&self, k: &str) -> bool {
        let (id, name) = match self {
            Slot::Parsed(s) => (s.definition_id.as_str(), s.display_name.as_str()),
            Slot::Lazy(l) => (l.index.definition_id, l.index.display_name),
        };
        id.eq_ignore_ascii_case(k) || name.eq_ignore_ascii_case(k)
    }
}

/// The built-in specs, one entry per embedded file, for the life of the process.
fn lazy_builtins() -> &'static [LazySpec] {
    static LAZY: OnceLock<Vec<LazySpec>> = OnceLock::new();
    LAZY.get_or_init(|| {
        embedded::EMBEDDED
            .iter()
            .filter_map(|e| {
                e.index.as_ref().map(|index| LazySpec {
                    source: e,
                    index,
                    summary: OnceLock::new(),
                    parsed: OnceLock::new(),
                })
            })
            .collect()
    })
}

impl Registry {
    /// The specs embedded in this build. Cheap: a spec is parsed on the first lookup of its
    /// connector (an error only if a spec without a current index entry fails to parse).
    pub fn builtin() -> Result<&'static Registry> {
        static BUILTIN: OnceLock<Result<Registry>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let mut r = Registry::default();
                let mut lazy = lazy_builtins().iter();
                for e in embedded::EMBEDDED {
                    if e.index.is_some() {
                        if let Some(l) = lazy.next() {
                            r.specs.insert(l.index.slug.to_string(), Slot::Lazy(l));
                        }
                    } else {
                        r.insert(e.parse()?);
                    }
                }
                Ok(r)
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The built-in specs plus those in `dir` (a spec there replaces a built-in one of the same
    /// slug). `dir` may hold `<slug>.yaml` files or `<slug>/connector.yaml` folders.
    pub fn with_dir(dir: &Path) -> Result<Registry> {
        let mut r = Registry::builtin()?.clone();
        r.load_dir(dir)?;
        Ok(r)
    }

    /// The process-wide registry SDKs use: the built-in specs plus `SWITCHBOARD_SPECS` when set,
    /// loaded once on first use.
    pub fn shared() -> Result<&'static Registry> {
        static SHARED: OnceLock<Result<Registry>> = OnceLock::new();
        SHARED.get_or_init(Registry::from_env).as_ref().map_err(Clone::clone)
    }

    /// The built-in specs, plus `SWITCHBOARD_SPECS` when set.
    pub fn from_env() -> Result<Registry> {
        match std::env::var_os("SWITCHBOARD_SPECS") {
            Some(d) if !d.is_empty() => Registry::with_dir(Path::new(&d)),
            _ => Ok(Registry::builtin()?.clone()),
        }
    }

    /// Loads every spec file in `dir`. A file that does not load fails alone: it is kept in
    /// [`Registry::rejected`] with its reason (and logged), and every other file loads. Only a
    /// directory that cannot be read is an error.
    pub fn load_dir(&mut self, dir: &Path) -> Result<()> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| Error::configuration(format!("cannot read spec directory {}: {e}", dir.display())))?;
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_dir() {
                for name in ["connector.yaml", "connector.yml"] {
                    if p.join(name).is_file() {
                        files.push(p.join(name));
                    }
                }
            } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
                files.push(p);
            }
        }
        files.sort();
        for f in files {
            let name = f.display().to_string();
            let loaded = std::fs::read_to_string(&f)
                .map_err(|e| Error::configuration(format!("cannot read spec {name}: {e}")))
                .and_then(|text| parse_spec(&name, &text));
            match loaded {
                Ok(spec) => self.insert(spec),
                Err(error) => {
                    tracing::warn!(file = %name, error = %error.message, "connector spec not loaded");
                    self.rejected.push(Rejected { file: name, error });
                }
            }
        }
        Ok(())
    }

    /// The spec files of loaded directories that did not load, with their reasons.
    pub fn rejected(&self) -> &[Rejected] {
        &self.rejected
    }

    /// Adds or replaces a spec.
    pub fn insert(&mut self, spec: ConnectorSpec) {
        self.specs.insert(spec.slug.clone(), Slot::Parsed(Arc::new(spec)));
    }

    /// Every connector's summary, by slug, without parsing any spec: what a catalog lists.
    pub fn summaries(&self) -> Vec<Arc<ConnectorSummary>> {
        self.specs.values().map(Slot::summary).collect()
    }

    /// The summary of the connector `key` names (as [`Registry::get`] finds it), without
    /// parsing its spec.
    pub fn summary(&self, key: &str) -> Result<Arc<ConnectorSummary>> {
        self.find(key).map(Slot::summary)
    }

    /// Every spec, by slug. Parses every built-in spec not parsed yet (a listing wants
    /// [`Registry::summaries`] instead); one that does not parse is left out (and logged):
    /// [`Registry::load_all`] reports it.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ConnectorSpec>> {
        self.specs.values().filter_map(|s| match s {
            Slot::Parsed(s) => Some(s),
            Slot::Lazy(l) => l.get().as_ref().ok(),
        })
    }

    /// Every spec, by slug, or the first that does not parse.
    pub fn load_all(&self) -> Result<Vec<Arc<ConnectorSpec>>> {
        self.specs.values().map(Slot::spec).collect()
    }

    /// Every connector's slug, in order, without parsing any spec.
    pub fn slugs(&self) -> impl Iterator<Item = &str> {
        self.specs.keys().map(String::as_str)
    }

    /// How many of this registry's specs are parsed so far (for tests and benchmarks: a lookup
    /// parses the one spec it finds).
    pub fn parsed_count(&self) -> usize {
        self.specs.values().filter(|s| s.is_parsed()).count()
    }

    /// Looks a connector up by slug, display name or definition id, ignoring case. Parses its
    /// spec if it is a built-in one not used yet.
    pub fn get(&self, key: &str) -> Result<Arc<ConnectorSpec>> {
        self.find(key)?.spec()
    }

    /// The entry `key` names: a slug, display name or definition id, ignoring case.
    fn find(&self, key: &str) -> Result<&Slot> {
        let k = key.trim().to_ascii_lowercase();
        if let Some(s) = self.specs.get(&k) {
            return Ok(s);
        }
        match self.specs.values().find(|s| s.answers_to(&k)) {
            Some(s) => Ok(s),
            None => Err(Error::new(
                ErrorCode::Configuration,
                format!(
                    "unknown connector {key:?}; available: {}",
                    self.specs.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_spec_inflates_to_its_file() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../connectors");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
            .collect();
        files.sort();
        let embedded: Vec<&str> = embedded::EMBEDDED.iter().map(|e| e.file).collect();
        assert_eq!(embedded, files);
        for e in embedded::EMBEDDED {
            let text = e.text().unwrap_or_else(|err| panic!("{}: {}", e.file, err.message));
            assert_eq!(text.len(), e.len, "{}", e.file);
            assert!(text == std::fs::read_to_string(dir.join(e.file)).unwrap_or_default(), "{}", e.file);
            assert!(e.deflated.len() < e.len / 2, "{}: {} bytes deflated to {}", e.file, e.len, e.deflated.len());
        }
    }

    include!("fingerprint.rs");

    /// `core/specs-index.json` is what the loader reads of every `connectors/*.yaml`: its
    /// summary and the fingerprint of its text (core/build.rs embeds an entry only with the
    /// fingerprint of the text it embeds). `SWITCHBOARD_UPDATE_INDEX=1` writes the file.
    #[test]
    fn the_committed_index_is_what_the_loader_reads() {
        let core = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut index = serde_json::Map::new();
        for e in embedded::EMBEDDED {
            let text = e.text().unwrap_or_else(|err| panic!("{}: {}", e.file, err.message));
            let spec = parse_spec(e.file, &text).unwrap_or_else(|err| panic!("{}: {}", e.file, err.message));
            let summary = serde_json::to_value(ConnectorSummary::of(&spec)).unwrap_or_else(|err| panic!("{err}"));
            index.insert(
                e.file.into(),
                serde_json::json!({"fingerprint": fingerprint(text.as_bytes()), "summary": summary}),
            );
        }
        let mut want = serde_json::to_string_pretty(&index).unwrap_or_else(|err| panic!("{err}"));
        want.push('\n');
        let path = core.join("specs-index.json");
        if std::env::var_os("SWITCHBOARD_UPDATE_INDEX").is_some_and(|v| v == "1") {
            std::fs::write(&path, &want).unwrap_or_else(|err| panic!("{}: {err}", path.display()));
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "{} is not what the loader reads of connectors/: run SWITCHBOARD_UPDATE_INDEX=1 cargo test -p \
             switchboard-core --lib committed_index, then rebuild",
            path.display()
        );
        // And this build embedded an index for every spec (none parsed at start).
        let unindexed: Vec<&str> = embedded::EMBEDDED.iter().filter(|e| e.index.is_none()).map(|e| e.file).collect();
        assert!(unindexed.is_empty(), "built without an index: {unindexed:?}");
    }

    const GOOD: &str = r#"
openapi: 3.1.0
info: {title: Widgets, version: "1", x-connector-name: widgets, x-connector-definition-id: 00000000-0000-0000-0000-0000000000aa}
servers: [{url: "https://api.widgets.example"}]
components:
  securitySchemes:
    key: {type: http, scheme: bearer}
paths:
  /widgets:
    get:
      x-entity: widgets
      x-action: list
      x-file-url: "[0].url"
      responses: {"200": {description: ok}}
"#;

    #[test]
    fn a_bad_spec_file_fails_alone_with_its_reason() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("sb-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("broken")).map_err(|e| Error::internal(e.to_string()))?;
        std::fs::write(dir.join("widgets.yaml"), GOOD).map_err(|e| Error::internal(e.to_string()))?;
        std::fs::write(dir.join("broken/connector.yaml"), "openapi: 3.1.0\ninfo: {title: Broken}\npaths: {}\n")
            .map_err(|e| Error::internal(e.to_string()))?;
        let r = Registry::with_dir(&dir)?;
        let _ = std::fs::remove_dir_all(&dir);
        assert!(r.get("widgets").is_ok(), "the good file loads");
        assert!(r.get("github").is_ok(), "the built-in specs stay");
        let [rejected] = r.rejected() else { panic!("one file is rejected: {:?}", r.rejected()) };
        assert!(rejected.file.ends_with("broken/connector.yaml"), "{}", rejected.file);
        assert!(rejected.error.message.contains("x-connector-name"), "{}", rejected.error.message);
        Ok(())
    }
}
