//! The built-in registry parses a spec on the first use of its connector, not at start nor to
//! list the catalog, and every built-in spec still loads (a broken one fails here) and says
//! what its build-time index says.
//!
//! One test on purpose: the built-in registry is process-wide and tests in one binary run in
//! parallel, so the counts below hold only if nothing else in this binary looks connectors up.

use std::path::PathBuf;
use std::sync::Arc;

use switchboard_core::registry::ConnectorSummary;
use switchboard_core::{ErrorCode, Registry};

const WIDGETS: &str = r#"
openapi: 3.1.0
info: {title: Widgets API, version: "1", x-connector-name: widgets, x-connector-definition-id: 00000000-0000-0000-0000-0000000000aa}
servers: [{url: "https://api.widgets.example"}]
components:
  securitySchemes:
    key: {type: http, scheme: bearer}
paths:
  /widgets:
    get:
      x-entity: widgets
      x-action: list
      responses: {"200": {description: ok}}
"#;

/// The `connectors/*.yaml` files of the source tree.
fn spec_files() -> Vec<String> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../connectors");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .collect();
    names.sort();
    names
}

#[test]
fn builtin_specs_are_parsed_on_first_use_and_all_of_them_load() {
    let files = spec_files();
    assert!(files.len() >= 56, "{} spec files", files.len());
    let reg = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));

    // Start: every built-in connector known, none parsed (the build indexed every one).
    assert_eq!(reg.slugs().count(), files.len(), "one connector per spec file");
    assert_eq!(reg.parsed_count(), 0, "nothing is parsed before a lookup");

    // A directory of extra specs is read at once; the built-in ones stay unparsed.
    let dir = std::env::temp_dir().join(format!("sb-registry-lazy-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("widgets.yaml"), WIDGETS).unwrap_or_else(|e| panic!("{e}"));
    let with_dir = Registry::with_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(with_dir.parsed_count(), 1, "only the directory's spec");
    assert_eq!(with_dir.slugs().count(), files.len() + 1);
    assert_eq!(with_dir.get("Widgets").map(|s| s.slug.clone()).ok().as_deref(), Some("widgets"));
    assert_eq!(reg.parsed_count(), 0);

    // Listing the catalog parses nothing: every connector's summary (what the engine's
    // definitions and templates, `switchboard connectors` and the SDKs' lookups show) comes
    // from the build-time index.
    let summaries = reg.summaries();
    assert_eq!(summaries.len(), files.len());
    assert_eq!(reg.parsed_count(), 0, "listing the summaries parsed a spec");
    let listed: Vec<&str> = summaries.iter().map(|s| s.slug.as_str()).collect();
    assert_eq!(listed, reg.slugs().collect::<Vec<_>>(), "by slug, every connector once");
    for s in &summaries {
        assert!(!s.operations.is_empty(), "{} lists its operations", s.slug);
        assert!(!s.display_name.is_empty() && !s.definition_id.is_empty(), "{}", s.slug);
    }
    let gh_summary = reg.summary(" GitHub ").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gh_summary.slug, "github");
    assert!(gh_summary.operations.iter().any(|(e, a)| e == "issues" && a == "list"));
    let pat = gh_summary.auth_schemes.iter().flat_map(|a| &a.fields).find(|f| f.name == "personal_access_token");
    assert!(pat.is_some_and(|f| f.secret), "github's token field is listed, as a secret");
    let by_id = reg.summary("EF69EF6E-AA7F-4AF1-A01D-EF775033524E").unwrap_or_else(|e| panic!("{e}"));
    assert!(Arc::ptr_eq(&gh_summary, &by_id), "one summary per built-in connector");
    assert!(reg.summary("no-such-connector").is_err());
    assert_eq!(reg.parsed_count(), 0, "a summary lookup parsed a spec");
    // A directory's spec is listed from its parse, beside the built-in ones.
    let widgets = with_dir.summary("widgets").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(widgets.operations, vec![("widgets".to_string(), "list".to_string())]);
    assert_eq!(with_dir.summaries().len(), files.len() + 1);
    assert_eq!(reg.parsed_count(), 0);

    // One lookup parses one spec; the other spellings find the same parse.
    let gh = reg.get("github").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(gh.slug, "github");
    assert_eq!(reg.parsed_count(), 1);
    for key in ["GitHub", " GITHUB ", "ef69ef6e-aa7f-4af1-a01d-ef775033524e", "EF69EF6E-AA7F-4AF1-A01D-EF775033524E"] {
        let again = reg.get(key).unwrap_or_else(|e| panic!("{key}: {e}"));
        assert!(Arc::ptr_eq(&gh, &again), "{key} finds the parsed github spec");
    }
    assert_eq!(reg.parsed_count(), 1);

    // By display name and by definition id, before the spec was ever parsed.
    let gong = reg.get("gong").map(|s| s.definition_id.clone());
    assert_eq!(reg.parsed_count(), 2);
    assert_eq!(gong.ok().as_deref(), Some("32382e40-3b49-4b99-9c5c-4076501914e7"));
    let by_name = reg.get("STRIPE").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(reg.parsed_count(), 3);
    let by_id = reg.get(&by_name.definition_id.to_uppercase()).unwrap_or_else(|e| panic!("{e}"));
    assert!(Arc::ptr_eq(&by_name, &by_id));

    // Clones share what is parsed: the engine and the CLI clone the built-in registry.
    let copy = reg.clone();
    let copied = copy.get("github").unwrap_or_else(|e| panic!("{e}"));
    assert!(Arc::ptr_eq(&gh, &copied));
    assert_eq!(reg.parsed_count(), 3);

    // An unknown name parses nothing and lists what there is.
    let e = reg.get("no-such-connector").err().unwrap_or_else(|| panic!("an unknown connector is an error"));
    assert_eq!(e.code, ErrorCode::Configuration);
    assert!(e.message.contains("github") && e.message.contains("zendesk-support"), "{}", e.message);
    assert_eq!(reg.parsed_count(), 3, "a miss parses nothing");

    // Every built-in spec loads (a broken one fails here, with its file and pointer), and what
    // the build read of each (slug, definition id, display name) finds it.
    let all = reg.load_all().unwrap_or_else(|e| panic!("a built-in spec does not load: {e}"));
    assert_eq!(all.len(), files.len());
    assert_eq!(reg.parsed_count(), files.len());
    assert_eq!(reg.all().count(), files.len());
    for spec in &all {
        assert!(files.contains(&spec.source), "{} comes from {}", spec.slug, spec.source);
        // What the build read is what the spec says (the parse checks it too).
        let summary = reg.summary(&spec.slug).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(*summary, ConnectorSummary::of(spec), "{}: the build-time index", spec.slug);
        for key in [&spec.slug, &spec.definition_id, &spec.display_name] {
            let found = reg.get(key).unwrap_or_else(|e| panic!("{key}: {e}"));
            assert!(Arc::ptr_eq(spec, &found), "{key} finds {}", spec.slug);
        }
    }
    let listed = all.iter().find(|s| s.slug == "github").unwrap_or_else(|| panic!("github is listed"));
    assert!(Arc::ptr_eq(listed, &gh), "the listing reuses the parse a lookup made");
}
