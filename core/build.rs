//! Embeds every `connectors/*.yaml` into the crate: writes `$OUT_DIR/specs.rs` with one
//! [`Embedded`] entry per spec: the file name, its text (deflated: a process parses a few of
//! the 56 specs, and the 2 MB of their texts would otherwise sit in every binary and, on
//! kernels that map a file's page-cache folios whole, in its resident memory), and its index:
//! what a lookup and a listing need without parsing the spec at run time (slug, definition id,
//! display name, description, the entity/action pairs, the auth schemes with their credential
//! fields, the required config, the replication config's schema).
//!
//! The index comes from `core/specs-index.json`, which the spec loader itself wrote (the test
//! `registry::tests::the_committed_index_is_what_the_loader_reads` fails when it is not current;
//! `SWITCHBOARD_UPDATE_INDEX=1 cargo test -p switchboard-core --lib committed_index` rewrites
//! it). An entry is used only if its fingerprint is that of the text embedded here: a spec
//! edited since gets no index, and the registry parses that one at start (correct, only slower;
//! tests/registry_lazy.rs fails on it). What the index says is also checked against the parsed
//! spec whenever a spec is parsed (a mismatch is an error naming the file).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

include!("src/fingerprint.rs");

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into()));
    let dir = manifest.join("..").join("connectors");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(&dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    let index_file = manifest.join("specs-index.json");
    println!("cargo:rerun-if-changed={}", index_file.display());
    let index_doc: Value =
        std::fs::read_to_string(&index_file).ok().and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_else(|| {
            println!("cargo:warning={} unreadable: every built-in spec is parsed at start", index_file.display());
            Value::Null
        });
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
        let entry = index_doc.get(&name).filter(|e| e["fingerprint"].as_str() == Some(&fingerprint(text.as_bytes())));
        let index = match entry.and_then(|e| index_literal(&e["summary"])) {
            Some(i) => format!("Some({i})"),
            None => {
                println!("cargo:warning=connectors/{name}: no current entry in core/specs-index.json; parsed at start");
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

/// An `Index` literal (src/registry.rs) of a `ConnectorSummary` as the index file holds it;
/// `None` if any part is missing or of another type.
fn index_literal(s: &Value) -> Option<String> {
    let text = |v: &Value| v.as_str().map(|s| format!("{s:?}"));
    let opt = |v: &Value| if v.is_null() { Some("None".to_string()) } else { text(v).map(|t| format!("Some({t})")) };
    let list = |v: &Value, item: &dyn Fn(&Value) -> Option<String>| -> Option<String> {
        let items: Option<Vec<String>> = v.as_array()?.iter().map(item).collect();
        Some(format!("&[{}]", items?.join(", ")))
    };
    let operation = |o: &Value| Some(format!("({}, {})", text(&o[0])?, text(&o[1])?));
    let field = |f: &Value| {
        Some(format!(
            "Field {{ name: {}, title: {}, description: {}, required: {}, secret: {} }}",
            text(&f["name"])?,
            opt(&f["title"])?,
            opt(&f["description"])?,
            f["required"].as_bool()?,
            f["secret"].as_bool()?
        ))
    };
    let auth = |a: &Value| {
        Some(format!(
            "Auth {{ name: {}, title: {}, fields: {} }}",
            text(&a["name"])?,
            text(&a["title"])?,
            list(&a["fields"], &field)?
        ))
    };
    let replication = match &s["replication_config"] {
        Value::Null => "None".to_string(),
        v => format!("Some({:?})", v.to_string()),
    };
    Some(format!(
        "Index {{ slug: {}, definition_id: {}, display_name: {}, description: {}, operations: {}, auth: {}, \
         required_config: {}, replication_config: {replication} }}",
        text(&s["slug"])?,
        text(&s["definition_id"])?,
        text(&s["display_name"])?,
        opt(&s["description"])?,
        list(&s["operations"], &operation)?,
        list(&s["auth_schemes"], &auth)?,
        list(&s["required_config"], &text)?,
    ))
}
