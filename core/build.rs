//! Embeds every `connectors/*.yaml` into the crate: writes `$OUT_DIR/specs.rs` with one
//! [`Embedded`] entry per spec: the file name, its text (deflated: a process parses a few of
//! the 56 specs, and the 2 MB of their texts would otherwise sit in every binary and, on
//! kernels that map a file's page-cache folios whole, in its resident memory), and its index:
//! what a lookup and a listing need without parsing the spec at run time (slug, definition id,
//! display name, description, the entity/action pairs, the auth schemes with their credential
//! fields, the required config, the replication config's schema).
//!
//! The index is read here from the YAML document the way the spec loader (src/spec/load.rs)
//! derives those values. A spec this cannot index (a document the loader would refuse in one of
//! these parts) gets no index: the registry then parses that one at start, as it parsed them
//! all before, and reports its fault. What the build read is checked against the parsed spec
//! whenever the spec is parsed (a mismatch is an error naming this file), and a test
//! (tests/registry_lazy.rs) parses every built-in spec.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let dir = manifest.join("..").join("connectors");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into()));
    let deflated_dir = out_dir.join("specs");
    if let Err(e) = std::fs::create_dir_all(&deflated_dir) {
        panic!("cannot create {}: {e}", deflated_dir.display());
    }
    let mut out = String::from("/// Embedded connector specs, one per `connectors/*.yaml`, in file-name order.\n");
    out.push_str("pub static EMBEDDED: &[Embedded] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("cannot read {}: {e}", f.display()));
        let index = match serde_norway::from_str::<Value>(&text).ok().as_ref().and_then(index_of) {
            Some(i) => format!("Some({})", i.to_rust()),
            None => {
                println!("cargo:warning=connectors/{name}: not indexed at build time; parsed at start");
                "None".to_string()
            }
        };
        let deflated = deflated_dir.join(format!("{name}.deflate"));
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
        let bytes = encoder.write_all(text.as_bytes()).and_then(|()| encoder.finish());
        if let Err(e) = bytes.and_then(|b| std::fs::write(&deflated, b)) {
            panic!("cannot write {}: {e}", deflated.display());
        }
        let _ = writeln!(
            out,
            "    Embedded {{ file: {name:?}, index: {index}, deflated: include_bytes!({:?}), len: {} }},",
            path_string(&deflated),
            text.len()
        );
    }
    out.push_str("];\n");
    if let Err(e) = std::fs::write(out_dir.join("specs.rs"), out) {
        panic!("cannot write specs.rs: {e}");
    }
}

fn path_string(p: &Path) -> String {
    p.display().to_string()
}

/// What the build reads of one spec; written out as an `Index` literal (src/registry.rs).
struct Index {
    slug: String,
    definition_id: String,
    display_name: String,
    description: Option<String>,
    operations: Vec<(String, String)>,
    auth: Vec<Auth>,
    required_config: Vec<String>,
    /// The replication config's value as JSON text.
    replication_config: Option<String>,
}

struct Auth {
    name: String,
    title: String,
    fields: Vec<Field>,
}

struct Field {
    name: String,
    title: Option<String>,
    description: Option<String>,
    required: bool,
    /// What the spec says (`secret`, else `airbyte_secret`); `None`: the runtime's rule decides.
    secret: Option<bool>,
}

fn opt(s: &Option<String>) -> String {
    match s {
        Some(s) => format!("Some({s:?})"),
        None => "None".into(),
    }
}

impl Index {
    fn to_rust(&self) -> String {
        let ops: Vec<String> = self.operations.iter().map(|(e, a)| format!("({e:?}, {a:?})")).collect();
        let auth: Vec<String> = self
            .auth
            .iter()
            .map(|a| {
                let fields: Vec<String> = a
                    .fields
                    .iter()
                    .map(|f| {
                        format!(
                            "Field {{ name: {:?}, title: {}, description: {}, required: {}, secret: {:?} }}",
                            f.name,
                            opt(&f.title),
                            opt(&f.description),
                            f.required,
                            f.secret
                        )
                    })
                    .collect();
                format!("Auth {{ name: {:?}, title: {:?}, fields: &[{}] }}", a.name, a.title, fields.join(", "))
            })
            .collect();
        let config: Vec<String> = self.required_config.iter().map(|c| format!("{c:?}")).collect();
        format!(
            "Index {{ slug: {:?}, definition_id: {:?}, display_name: {:?}, description: {}, operations: &[{}], \
             auth: &[{}], required_config: &[{}], replication_config: {} }}",
            self.slug,
            self.definition_id,
            self.display_name,
            opt(&self.description),
            ops.join(", "),
            auth.join(", "),
            config.join(", "),
            opt(&self.replication_config)
        )
    }
}

const ACTIONS: [&str; 7] = ["get", "list", "search", "create", "update", "delete", "download"];
const METHODS: [&str; 7] = ["get", "post", "put", "patch", "delete", "head", "options"];

/// An extension in either spelling, the `x-` one first (as the loader's `ext`).
fn ext<'v>(obj: &'v Map<String, Value>, name: &str) -> Option<&'v Value> {
    obj.get(&format!("x-{name}")).or_else(|| obj.get(&format!("x-airbyte-{name}")))
}

fn as_str(v: Option<&Value>) -> Option<String> {
    v.and_then(Value::as_str).map(str::to_string)
}

/// Follows local `$ref`s as the loader does; `None` where the loader fails.
fn resolve<'v>(root: &'v Value, mut v: &'v Value) -> Option<&'v Value> {
    for _ in 0..32 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return Some(v);
        };
        v = root.pointer(r.strip_prefix('#')?)?;
    }
    None
}

/// The index of a spec document; `None` where the loader would refuse these parts of it.
fn index_of(root: &Value) -> Option<Index> {
    let doc = root.as_object()?;
    if !as_str(doc.get("openapi")).unwrap_or_default().starts_with("3.") {
        return None;
    }
    let info = doc.get("info")?.as_object()?;
    let slug = as_str(ext(info, "connector-name"))?;
    let definition_id = as_str(ext(info, "connector-definition-id"))?;
    let title = as_str(info.get("title")).unwrap_or_else(|| slug.clone());
    let display_name = as_str(ext(info, "connector-display-name"))
        .unwrap_or_else(|| title.trim_end_matches(" API Connector").trim_end_matches(" API").to_string());
    let description = as_str(info.get("description")).map(|d| d.trim().to_string());
    let replication_config = ext(info, "replication-config").map(Value::to_string);

    // Server variables with no default and no credential to come from, and placeholders of the
    // URL no variable declares: the config a connector needs (sorted, as the loader's map).
    let servers = doc.get("servers").and_then(Value::as_array).filter(|s| !s.is_empty())?;
    let server_url = as_str(servers[0].get("url"))?;
    let mut variables: std::collections::BTreeMap<String, bool> = Default::default();
    if let Some(vars) = servers[0].get("variables").and_then(Value::as_object) {
        for (k, v) in vars {
            let from_credential = v.as_object().and_then(|o| ext(o, "from-credential")).is_some();
            variables.insert(k.clone(), v.get("default").is_none() && !from_credential);
        }
    }
    let mut rest = server_url.as_str();
    while let Some(start) = rest.find('{') {
        let Some(end) = rest[start..].find('}') else { break };
        variables.entry(rest[start + 1..start + end].to_string()).or_insert(true);
        rest = &rest[start + end + 1..];
    }
    let required_config = variables.into_iter().filter(|(_, required)| *required).map(|(k, _)| k).collect();

    let mut auth = Vec::new();
    if let Some(schemes) = doc.get("components").and_then(|c| c.get("securitySchemes")).and_then(Value::as_object) {
        for (name, scheme) in schemes {
            auth.push(auth_scheme(root, name, scheme)?);
        }
    }

    // Connector operations (x-entity and x-action) in document order; one defined twice keeps
    // its first place (the loader keeps the last definition there).
    let mut operations: Vec<(String, String)> = Vec::new();
    for item in doc.get("paths")?.as_object()?.values() {
        let item = resolve(root, item)?.as_object()?;
        for (method, op) in item {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let op = op.as_object()?;
            let (Some(entity), Some(action)) = (ext(op, "entity"), ext(op, "action")) else { continue };
            let entity = entity.as_str().filter(|s| !s.is_empty())?.to_string();
            let action = action.as_str().filter(|a| ACTIONS.contains(a))?.to_string();
            if !operations.iter().any(|(e, a)| *e == entity && *a == action) {
                operations.push((entity, action));
            }
        }
    }
    if operations.is_empty() {
        return None;
    }
    Some(Index {
        slug,
        definition_id,
        display_name,
        description,
        operations,
        auth,
        required_config,
        replication_config,
    })
}

/// One security scheme's name, title and credential fields (the loader's `auth_schemes`).
fn auth_scheme(root: &Value, name: &str, scheme: &Value) -> Option<Auth> {
    let s = resolve(root, scheme)?.as_object()?;
    let defaults: &[(&str, bool)] = match as_str(s.get("type")).unwrap_or_default().as_str() {
        "http" => match as_str(s.get("scheme")).unwrap_or_default().to_ascii_lowercase().as_str() {
            "bearer" => &[("token", true)],
            "basic" => &[("username", true), ("password", true)],
            _ => return None,
        },
        "apiKey" => {
            as_str(s.get("name"))?;
            if !matches!(as_str(s.get("in")).as_deref(), Some("header" | "query")) {
                return None;
            }
            &[("api_key", true)]
        }
        "oauth2" => {
            &[("access_token", false), ("refresh_token", false), ("client_id", false), ("client_secret", false)]
        }
        _ => return None,
    };
    let (fields, title) = match ext(s, "auth-config").and_then(Value::as_object) {
        Some(cfg) => {
            let required: Vec<&str> = cfg
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut fields = Vec::new();
            for (k, v) in cfg.get("properties").and_then(Value::as_object).into_iter().flatten() {
                let mut secret = None;
                for key in ["secret", "airbyte_secret"] {
                    let Some(flag) = v.get(key) else { continue };
                    let flag = flag.as_bool()?;
                    if secret.is_some_and(|s| s != flag) {
                        return None;
                    }
                    secret = Some(flag);
                }
                fields.push(Field {
                    name: k.clone(),
                    title: as_str(v.get("title")),
                    description: as_str(v.get("description")),
                    required: required.contains(&k.as_str()),
                    secret,
                });
            }
            (fields, as_str(cfg.get("title")))
        }
        None => {
            let fields = defaults
                .iter()
                .map(|(n, r)| Field { name: n.to_string(), title: None, description: None, required: *r, secret: None })
                .collect();
            (fields, None)
        }
    };
    Some(Auth { name: name.to_string(), title: title.unwrap_or_else(|| name.to_string()), fields })
}
