//! The catalog: which connectors this engine runs and what each needs to be created, and the
//! organization's workspaces. The connector listings come from the registry's summaries: a
//! built-in connector's spec is not parsed to list it (core/build.rs indexed it), only to use it.

use switchboard_core::registry::ConnectorSummary;
use switchboard_core::wire::{
    DefinitionList, NameFilter, SourceDefinition, Template, TemplateAuth, TemplateConfig, TemplateField, TemplateList,
    WorkspaceFilter, WorkspaceInfo, WorkspaceList,
};

use crate::error::ApiResult;
use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::TokenKind;

/// The connector definitions, filtered by a case-insensitive part of the name or slug; each
/// icon is served by this engine under `base` (its own address as the caller reached it).
pub fn definitions(st: &AppState, q: &NameFilter, base: &str) -> DefinitionList {
    let needle = q.name.as_deref().map(str::to_lowercase);
    let definitions = st
        .registry
        .summaries()
        .into_iter()
        .filter(|s| {
            needle.as_ref().is_none_or(|n| s.display_name.to_lowercase().contains(n) || s.slug.contains(n.as_str()))
        })
        .map(|s| SourceDefinition {
            source_definition_id: s.definition_id.clone(),
            name: s.display_name.clone(),
            slug: s.slug.clone(),
            icon_url: Some(format!("{base}/api/v1/integrations/icons/{}", s.slug)),
            support_level: "certified".into(),
        })
        .collect();
    DefinitionList { definitions }
}

/// A connector's icon: a monogram of its display name on a colour drawn from its slug, made
/// here (the engine never fetches anything to show a catalog). `None` for an unknown slug.
pub fn icon(st: &AppState, slug: &str) -> Option<String> {
    let spec = st.registry.summary(slug.trim_end_matches(".svg")).ok()?;
    let letters: String = spec
        .display_name
        .split(|c: char| !c.is_alphanumeric())
        .filter_map(|w| w.chars().next())
        .take(2)
        .flat_map(char::to_uppercase)
        .collect();
    let letters = if letters.is_empty() { "?".to_string() } else { letters };
    // FNV-1a of the slug picks the hue: stable across runs and replicas.
    let hash = spec.slug.bytes().fold(0x811c_9dc5_u32, |h, b| (h ^ u32::from(b)).wrapping_mul(0x0100_0193));
    let hue = hash % 360;
    let label =
        spec.display_name.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    Some(format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64" role="img" aria-label="{label}"><rect width="64" height="64" rx="14" fill="hsl({hue},55%,38%)"/><text x="32" y="41" text-anchor="middle" font-family="system-ui,sans-serif" font-size="24" font-weight="600" fill="#fff">{letters}</text></svg>"##
    ))
}

/// What a connector needs to be created: credential fields per auth method, required config,
/// the replication config's schema.
fn template(s: &ConnectorSummary) -> Template {
    Template {
        id: s.definition_id.clone(),
        name: s.display_name.clone(),
        slug: s.slug.clone(),
        definition_id: s.definition_id.clone(),
        auth: s
            .auth_schemes
            .iter()
            .map(|a| TemplateAuth {
                method: a.name.clone(),
                title: a.title.clone(),
                fields: a
                    .fields
                    .iter()
                    .map(|f| TemplateField {
                        name: f.name.clone(),
                        title: f.title.clone(),
                        description: f.description.clone(),
                        required: f.required,
                        secret: f.secret,
                    })
                    .collect(),
            })
            .collect(),
        config: s.required_config.iter().map(|c| TemplateConfig { name: c.clone(), required: true }).collect(),
        replication_config: s.replication_config.clone().filter(|v| !v.is_null()),
    }
}

/// Every connector's template.
pub fn templates(st: &AppState) -> TemplateList {
    TemplateList { data: st.registry.summaries().iter().map(|s| template(s)).collect() }
}

/// The organization's workspaces, filtered by a case-insensitive part of the name; application
/// tokens only.
pub async fn workspaces(st: &AppState, caller: &Caller, q: &WorkspaceFilter) -> ApiResult<WorkspaceList> {
    caller.require(&[TokenKind::Application])?;
    let list = st.db.list_workspaces(caller.org(), q.name_contains.as_deref()).await?;
    let data = list.into_iter().map(|w| WorkspaceInfo { id: w.id, name: w.name, created_at: w.created_at }).collect();
    Ok(WorkspaceList { data })
}
