//! The catalog: which connectors this engine runs and what each needs to be created, and the
//! organization's workspaces.

use switchboard_core::spec::ConnectorSpec;
use switchboard_core::wire::{
    DefinitionList, NameFilter, SourceDefinition, Template, TemplateAuth, TemplateConfig, TemplateField, TemplateList,
    WorkspaceFilter, WorkspaceInfo, WorkspaceList,
};

use crate::error::ApiResult;
use crate::services::Caller;
use crate::state::AppState;
use crate::tokens::TokenKind;

/// The connector definitions, filtered by a case-insensitive part of the name or slug.
pub fn definitions(st: &AppState, q: &NameFilter) -> DefinitionList {
    let needle = q.name.as_deref().map(str::to_lowercase);
    let definitions = st
        .registry
        .all()
        .filter(|s| {
            needle.as_ref().is_none_or(|n| s.display_name.to_lowercase().contains(n) || s.slug.contains(n.as_str()))
        })
        .map(|s| SourceDefinition {
            source_definition_id: s.definition_id.clone(),
            name: s.display_name.clone(),
            slug: s.slug.clone(),
            icon_url: None,
            support_level: "certified".into(),
        })
        .collect();
    DefinitionList { definitions }
}

/// What a connector needs to be created: credential fields per auth method, required config,
/// the replication config's schema.
fn template(s: &ConnectorSpec) -> Template {
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
                    })
                    .collect(),
            })
            .collect(),
        config: s.required_config().into_iter().map(|c| TemplateConfig { name: c.into(), required: true }).collect(),
        replication_config: s.replication_config.clone().filter(|v| !v.is_null()),
    }
}

/// Every connector's template.
pub fn templates(st: &AppState) -> TemplateList {
    TemplateList { data: st.registry.all().map(|s| template(s)).collect() }
}

/// The organization's workspaces, filtered by a case-insensitive part of the name; application
/// tokens only.
pub async fn workspaces(st: &AppState, caller: &Caller, q: &WorkspaceFilter) -> ApiResult<WorkspaceList> {
    caller.require(&[TokenKind::Application])?;
    let list = st.db.list_workspaces(caller.org(), q.name_contains.as_deref()).await?;
    let data = list.into_iter().map(|w| WorkspaceInfo { id: w.id, name: w.name, created_at: w.created_at }).collect();
    Ok(WorkspaceList { data })
}
