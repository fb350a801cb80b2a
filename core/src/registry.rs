//! The connectors a process knows: the specs embedded at build time, plus any loaded from a
//! directory at run time (`--specs DIR`, `SWITCHBOARD_SPECS`), ours or reference-format.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use crate::error::{Error, ErrorCode, Result};
use crate::spec::{parse_spec, ConnectorSpec};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/specs.rs"));
}

/// A set of connector specs, by slug, and the spec files of a directory that did not load.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    specs: BTreeMap<String, Arc<ConnectorSpec>>,
    rejected: Vec<Rejected>,
}

/// A spec file that did not load, and why (the file and JSON pointer of the fault).
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub file: String,
    pub error: Error,
}

impl Registry {
    /// The specs embedded in this build, parsed once per process.
    pub fn builtin() -> Result<&'static Registry> {
        static BUILTIN: OnceLock<Result<Registry>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                let mut r = Registry::default();
                for (name, text) in embedded::EMBEDDED {
                    r.insert(parse_spec(name, text)?);
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
        self.specs.insert(spec.slug.clone(), Arc::new(spec));
    }

    /// Every spec, by slug.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ConnectorSpec>> {
        self.specs.values()
    }

    /// Looks a connector up by slug, display name or definition id, ignoring case.
    pub fn get(&self, key: &str) -> Result<Arc<ConnectorSpec>> {
        let k = key.trim().to_ascii_lowercase();
        if let Some(s) = self.specs.get(&k) {
            return Ok(s.clone());
        }
        self.specs
            .values()
            .find(|s| s.definition_id.eq_ignore_ascii_case(&k) || s.display_name.eq_ignore_ascii_case(&k))
            .cloned()
            .ok_or_else(|| {
                Error::new(
                    ErrorCode::Configuration,
                    format!(
                        "unknown connector {key:?}; available: {}",
                        self.specs.keys().cloned().collect::<Vec<_>>().join(", ")
                    ),
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
