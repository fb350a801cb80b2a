//! The engine lists its connector catalog (definitions, templates, icons) from the build-time
//! index of the built-in specs: no spec is parsed until a connector is used, and what it lists
//! is what the parsed specs say.
//!
//! One test in its own binary on purpose: the built-in registry is process-wide, so its parse
//! count holds only if nothing else in this binary looks connectors up.

mod common;

use common::{start, Backend};
use fake_upstream::{creds, FakeUpstream};
use serde_json::{json, Value};
use switchboard_core::ConnectorSpec;

/// The template the engine would have built from the parsed spec.
fn template_of(s: &ConnectorSpec) -> Value {
    let auth: Vec<Value> = s
        .auth_schemes
        .iter()
        .map(|a| {
            let fields: Vec<Value> = a
                .fields
                .iter()
                .map(|f| {
                    json!({"name": f.name, "title": f.title, "description": f.description, "required": f.required,
                           "secret": f.secret})
                })
                .collect();
            json!({"method": a.name, "title": a.title, "fields": fields})
        })
        .collect();
    let config: Vec<Value> = s.required_config().iter().map(|c| json!({"name": c, "required": true})).collect();
    json!({
        "id": s.definition_id, "name": s.display_name, "slug": s.slug, "definition_id": s.definition_id,
        "auth": auth, "config": config,
        "replication_config": s.replication_config.clone().filter(|v| !v.is_null()),
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_is_listed_without_parsing_a_spec() {
    let Some(e) = start(Backend::Sqlite, |_| {}).await else { return };
    let registry = e.state.registry.clone();
    let builtin = registry.slugs().count();
    assert!(builtin >= 56, "{builtin} connectors");
    assert_eq!(registry.parsed_count(), 0, "the engine started without parsing a spec");

    let app = e.app_token().await;
    let defs = e.get("/api/v1/integrations/definitions/sources", &app).await;
    assert_eq!(defs.status, 200, "{}", defs.text);
    let defs = defs.body["definitions"].as_array().cloned().unwrap_or_default();
    assert_eq!(defs.len(), builtin);
    let filtered = e.get("/api/v1/integrations/definitions/sources?name=GIT", &app).await;
    let slugs: Vec<&str> =
        filtered.body["definitions"].as_array().into_iter().flatten().filter_map(|d| d["slug"].as_str()).collect();
    assert_eq!(slugs, ["github", "gitlab"], "{}", filtered.text);
    let templates = e.get("/api/v1/integrations/templates/sources", &app).await;
    assert_eq!(templates.status, 200, "{}", templates.text);
    let templates = templates.body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(templates.len(), builtin);
    let icon = e.get("/api/v1/integrations/icons/github.svg", &app).await;
    assert_eq!(icon.status, 200);
    assert!(icon.text.contains(r#"aria-label="GitHub""#), "{}", icon.text);
    assert_eq!(registry.parsed_count(), 0, "listing the catalog parsed a spec");

    // Using one connector parses its spec, and only that one.
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let scoped = e.scoped_token(&app, "acme").await;
    let id = e.github_connector(&scoped, None, &fake.base_url("github"), creds::GITHUB_TOKEN).await;
    let path = format!("/api/v1/integrations/connectors/{id}/execute");
    let body = json!({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}});
    let run = e.post(&path, &scoped, body).await;
    assert_eq!(run.status, 200, "{}", run.text);
    assert_eq!(registry.parsed_count(), 1, "using github parses github's spec alone");

    // What was listed is what the parsed specs say.
    let specs = registry.load_all().unwrap_or_else(|e| panic!("{e}"));
    for spec in &specs {
        let def = defs.iter().find(|d| d["slug"] == spec.slug.as_str());
        let Some(def) = def else { panic!("{} is not listed", spec.slug) };
        assert_eq!(def["sourceDefinitionId"], spec.definition_id.as_str(), "{}", spec.slug);
        assert_eq!(def["name"], spec.display_name.as_str(), "{}", spec.slug);
        let template = templates.iter().find(|t| t["slug"] == spec.slug.as_str());
        assert_eq!(template, Some(&template_of(spec)), "{}: the listed template", spec.slug);
    }
}
