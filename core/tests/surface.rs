//! Name compatibility with the reference connectors: every spec in `connectors/` whose slug is
//! in `docs/reference-surface.json` (the reference's definition ids, base URLs and operations with
//! their param names) must use the reference's definition id and spell every entity, action and
//! param the way the reference does, so an agent moves over without edits.
//!
//! - Fails: a wrong definition id; an entity/action or a param the surface lacks, unless
//!   `docs/surface-extensions.json` lists it with a reason (a deliberate addition); an allow-list
//!   entry that names nothing we declare, or something the surface already has (stale).
//! - Reports, without failing: the surface operations a connector does not cover yet, and the
//!   surface params of covered operations it does not offer (a connector may be partial).
//!
//! Slugs map to surface keys as written, or with `_` read as `-` (`zendesk_support` ->
//! `zendesk-support`); a spec whose definition id belongs to another surface key fails with the
//! slug it should have. A spec not in the surface at all (a connector of our own) is reported.
//!
//! `cargo test --profile ci -p switchboard-core --test surface -- --nocapture` prints the report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use switchboard_core::spec::{parse_spec, ConnectorSpec};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[derive(Debug, Deserialize)]
struct SurfaceConnector {
    definition_id: String,
    #[allow(dead_code)]
    base_url: String,
    operations: Vec<SurfaceOperation>,
}

#[derive(Debug, Deserialize)]
struct SurfaceOperation {
    entity: String,
    action: String,
    required: Vec<String>,
    optional: Vec<String>,
}

impl SurfaceOperation {
    fn params(&self) -> BTreeSet<&str> {
        self.required.iter().chain(&self.optional).map(String::as_str).collect()
    }
}

/// One deliberate addition: an operation (`params` absent) or params of an operation (`*` for
/// `entity` / `action` matches every operation of the connector).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Extension {
    connector: String,
    entity: String,
    action: String,
    #[serde(default)]
    params: Option<Vec<String>>,
    reason: String,
}

impl Extension {
    fn matches(&self, entity: &str, action: &str) -> bool {
        (self.entity == "*" || self.entity == entity) && (self.action == "*" || self.action == action)
    }

    fn label(&self) -> String {
        match &self.params {
            Some(p) => format!("{}: {}.{} params {:?}", self.connector, self.entity, self.action, p),
            None => format!("{}: operation {}.{}", self.connector, self.entity, self.action),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Extensions {
    extensions: Vec<Extension>,
}

fn surface() -> BTreeMap<String, SurfaceConnector> {
    let path = repo().join("docs/reference-surface.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn extensions() -> Vec<Extension> {
    let path = repo().join("docs/surface-extensions.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let x: Extensions = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for e in &x.extensions {
        assert!(!e.reason.trim().is_empty(), "{}: every extension gives its reason", e.label());
        assert!(e.params.as_ref().is_none_or(|p| !p.is_empty()), "{}: `params: []` names nothing", e.label());
    }
    x.extensions
}

/// Every spec file in `connectors/`, parsed by core's loader (the files, not the embedded
/// registry, so a spec in progress is checked as soon as it is written).
fn specs(dir: &Path) -> Vec<ConnectorSpec> {
    let mut files: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    assert!(!files.is_empty(), "no specs in {}", dir.display());
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            parse_spec(&name, &text).unwrap_or_else(|e| panic!("{e}"))
        })
        .collect()
}

/// Lower-case letters and digits only, to tell a misspelling (`issueNumber` for
/// `issue_number`) from an addition.
fn squash(s: &str) -> String {
    s.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The surface key of a slug: as written, or with `_` read as `-`.
fn surface_key<'s>(slug: &str, surface: &'s BTreeMap<String, SurfaceConnector>) -> Option<&'s str> {
    [slug.to_string(), slug.replace('_', "-")]
        .into_iter()
        .find_map(|k| surface.get_key_value(&k).map(|(k, _)| k.as_str()))
}

#[derive(Default)]
struct Outcome {
    failures: Vec<String>,
    report: Vec<String>,
}

fn check_connector(
    spec: &ConnectorSpec,
    key: &str,
    sc: &SurfaceConnector,
    exts: &[Extension],
    used: &mut BTreeSet<usize>,
    out: &mut Outcome,
) {
    let slug = &spec.slug;
    if !spec.definition_id.eq_ignore_ascii_case(&sc.definition_id) {
        out.failures.push(format!(
            "{slug}: definition id {} differs from the reference's {} ({key})",
            spec.definition_id, sc.definition_id
        ));
    }
    let mine: Vec<(usize, &Extension)> = exts.iter().enumerate().filter(|(_, e)| e.connector == *slug).collect();
    // The reference defines a few operations twice (on two paths); the last one wins, as in its
    // runtime (and in our loader).
    let mut by_name: BTreeMap<(&str, &str), &SurfaceOperation> = BTreeMap::new();
    for o in &sc.operations {
        by_name.insert((o.entity.as_str(), o.action.as_str()), o);
    }
    let mut covered = 0;
    let mut params_missing = Vec::new();
    for op in &spec.operations {
        let name = format!("{}.{}", op.entity, op.action);
        let Some(sop) = by_name.get(&(op.entity.as_str(), op.action.as_str())) else {
            let allowed =
                mine.iter().find(|(_, e)| e.params.is_none() && e.entity == op.entity && e.action == op.action);
            match allowed {
                Some((i, _)) => {
                    used.insert(*i);
                }
                None => {
                    let near: Vec<String> = sc
                        .operations
                        .iter()
                        .filter(|o| squash(&o.entity) == squash(&op.entity))
                        .map(|o| format!("{}.{}", o.entity, o.action))
                        .collect();
                    out.failures.push(format!(
                        "{slug}: operation {name} is not in the reference surface{}; rename it or list it in \
                         docs/surface-extensions.json with a reason",
                        if near.is_empty() { String::new() } else { format!(" (it has {})", near.join(", ")) }
                    ));
                }
            }
            continue;
        };
        covered += 1;
        let surface_params = sop.params();
        for p in &op.params {
            // The reference's name among the param's aliases (`x-aliases`): a caller using it is
            // served, under the name the API itself reads.
            if surface_params.contains(p.name.as_str()) || p.aliases.iter().any(|a| surface_params.contains(a.as_str()))
            {
                continue;
            }
            let allowed = mine.iter().find(|(_, e)| {
                e.matches(&op.entity, &op.action) && e.params.as_ref().is_some_and(|ps| ps.contains(&p.name))
            });
            if let Some((i, _)) = allowed {
                used.insert(*i);
                continue;
            }
            let spelled = surface_params.iter().find(|s| squash(s) == squash(&p.name));
            out.failures.push(match spelled {
                Some(s) => format!("{slug}: {name} param {:?} is spelled {s:?} in the reference", p.name),
                None => format!(
                    "{slug}: {name} param {:?} is not in the reference surface (it has {:?}); rename it or list it \
                     in docs/surface-extensions.json with a reason",
                    p.name, surface_params
                ),
            });
        }
        let ours: BTreeSet<&str> = op.params.iter().map(|p| p.name.as_str()).collect();
        let lacking: Vec<&str> = surface_params.difference(&ours).copied().collect();
        if !lacking.is_empty() {
            params_missing.push(format!("{name} {lacking:?}"));
        }
    }
    // An extension must name something the surface lacks: one it now has is stale.
    for (_, e) in &mine {
        if e.params.is_none() && by_name.contains_key(&(e.entity.as_str(), e.action.as_str())) {
            out.failures.push(format!("{}: the surface has this operation; drop the extension", e.label()));
        }
        if let Some(ps) = &e.params {
            for (_, sop) in by_name.iter().filter(|(k, _)| e.matches(k.0, k.1)) {
                let has = sop.params();
                for p in ps.iter().filter(|p| has.contains(p.as_str())) {
                    if e.entity != "*" && e.action != "*" {
                        out.failures.push(format!("{}: the surface has {p:?}; drop it from the extension", e.label()));
                    }
                }
            }
        }
    }
    let uncovered: Vec<String> = sc
        .operations
        .iter()
        .filter(|o| spec.operation(&o.entity, &o.action).is_none())
        .map(|o| format!("{}.{}", o.entity, o.action))
        .collect();
    out.report.push(format!(
        "{slug} ({key}): {covered}/{} surface operations covered, {} of ours",
        sc.operations.len(),
        spec.operations.len()
    ));
    if !uncovered.is_empty() {
        out.report.push(format!("  not covered yet: {}", uncovered.join(", ")));
    }
    if !params_missing.is_empty() {
        out.report.push(format!("  surface params not offered: {}", params_missing.join("; ")));
    }
}

fn run(dir: &Path) -> Outcome {
    let surface = surface();
    let exts = extensions();
    let specs = specs(dir);
    let mut out = Outcome::default();
    let mut used = BTreeSet::new();
    let mut shipped = BTreeSet::new();
    for spec in &specs {
        shipped.insert(spec.slug.clone());
        let by_id = surface.iter().find(|(_, c)| c.definition_id.eq_ignore_ascii_case(&spec.definition_id));
        match (surface_key(&spec.slug, &surface), by_id) {
            (Some(key), _) => check_connector(spec, key, &surface[key], &exts, &mut used, &mut out),
            (None, Some((key, _))) => out.failures.push(format!(
                "{}: the definition id is the reference's {key:?}: name the connector {key:?} (x-connector-name)",
                spec.slug
            )),
            (None, None) => out.report.push(format!("{}: not a reference connector (not in the surface)", spec.slug)),
        }
    }
    for (i, e) in exts.iter().enumerate() {
        if !shipped.contains(&e.connector) {
            out.failures.push(format!("{}: no spec in connectors/ has this slug", e.label()));
        } else if !used.contains(&i) {
            out.failures.push(format!("{}: names nothing the spec declares beyond the surface (stale)", e.label()));
        }
    }
    let covered: usize = specs
        .iter()
        .filter_map(|s| surface_key(&s.slug, &surface).map(|k| (s, &surface[k])))
        .map(|(s, sc)| sc.operations.iter().filter(|o| s.operation(&o.entity, &o.action).is_some()).count())
        .sum();
    let total: usize = surface.values().map(|c| c.operations.len()).sum();
    let connectors = specs.iter().filter(|s| surface_key(&s.slug, &surface).is_some()).count();
    out.report.push(format!(
        "surface: {connectors}/{} reference connectors shipped, {covered}/{total} operations covered",
        surface.len()
    ));
    out
}

#[test]
fn our_specs_use_the_reference_names() {
    let out = run(&repo().join("connectors"));
    for line in &out.report {
        eprintln!("{line}");
    }
    assert!(out.failures.is_empty(), "{} name problem(s):\n  {}", out.failures.len(), out.failures.join("\n  "));
}

/// The vendored surface is the contract file: 56 connectors, each with a UUID definition id and
/// operations named by entity and action. A few are listed twice (the reference defines them on
/// two paths; its loader keeps the first): reported, not failed.
#[test]
fn the_vendored_surface_is_well_formed() {
    let surface = surface();
    assert_eq!(surface.len(), 56, "the reference has 56 connectors");
    for (key, c) in &surface {
        assert_eq!(c.definition_id.len(), 36, "{key}: definition id {:?}", c.definition_id);
        let mut seen = BTreeSet::new();
        for o in &c.operations {
            assert!(!o.entity.is_empty() && !o.action.is_empty(), "{key}: an operation without a name");
            if !seen.insert((&o.entity, &o.action)) {
                eprintln!("{key}: {}.{} is listed twice in the surface", o.entity, o.action);
            }
        }
    }
    // The copy in the repository matches the project's contract file when it is at hand.
    let shared = repo().join("../shared/spec/reference-surface.json");
    if let Ok(text) = std::fs::read_to_string(&shared) {
        let theirs: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", shared.display()));
        let ours: Value = serde_json::from_str(
            &std::fs::read_to_string(repo().join("docs/reference-surface.json")).unwrap_or_default(),
        )
        .unwrap_or_default();
        assert_eq!(ours, theirs, "docs/reference-surface.json differs from {}: copy it again", shared.display());
    }
}

/// The checker itself: a misspelt param, an invented operation and a wrong id are caught.
#[test]
fn the_checker_catches_invented_names() {
    let dir = std::env::temp_dir().join(format!("sb-surface-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let spec = r#"
openapi: 3.1.0
info: {title: Airtable, version: "1", x-connector-name: airtable, x-connector-definition-id: 00000000-0000-0000-0000-000000000000}
servers: [{url: "https://api.airtable.com/v0"}]
paths:
  /meta/bases:
    get:
      x-entity: bases
      x-action: list
      parameters: [{name: Offset, in: query, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /meta/widgets:
    get:
      x-entity: widgets
      x-action: list
      responses: {"200": {description: ok}}
"#;
    std::fs::write(dir.join("airtable.yaml"), spec).unwrap_or_else(|e| panic!("{e}"));
    let out = run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let all = out.failures.join("\n");
    assert!(all.contains("definition id 00000000-0000-0000-0000-000000000000 differs"), "{all}");
    assert!(all.contains("param \"Offset\" is spelled \"offset\""), "{all}");
    assert!(all.contains("operation widgets.list is not in the reference surface"), "{all}");
    assert!(out.report.iter().any(|l| l.contains("not covered yet: tables.list")), "{:?}", out.report);
}
