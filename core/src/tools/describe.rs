//! Text and JSON descriptions of a connector's operations, for people (`switchboard
//! connectors SLUG`) and for agents' system prompts. Params are written by the same renderer as
//! the tool schemas ([`ParamRenderer::line`]).

use std::fmt::Write as _;

use serde_json::{json, Value};

use super::render::{next_page_hint, ParamRenderer};
use crate::spec::ConnectorSpec;

pub use super::render::visible_params;

/// A text description of every entity, action and param.
pub fn describe(spec: &ConnectorSpec) -> String {
    let mut out = format!(
        "{} ({}): entities and actions, called as execute(entity, action, params).\n",
        spec.display_name, spec.slug
    );
    for entity in spec.entities() {
        let _ = writeln!(out, "\n{entity}");
        for op in spec.operations.iter().filter(|o| o.entity == entity) {
            let summary = op.summary.clone().unwrap_or_default();
            let _ = writeln!(out, "  {}: {}", op.action, summary);
            for p in visible_params(op) {
                let _ = writeln!(out, "    - {}", ParamRenderer(p).line());
            }
            if let Some(hint) = op.pagination.as_ref().and_then(next_page_hint) {
                let _ = writeln!(out, "    {hint}");
            }
        }
    }
    out
}

/// A JSON summary: definition id, auth methods, operations with their params.
pub fn summary_json(spec: &ConnectorSpec) -> Value {
    json!({
        "slug": spec.slug,
        "name": spec.display_name,
        "definition_id": spec.definition_id,
        "auth": spec.auth_schemes.iter().map(|s| json!({
            "method": s.title,
            "fields": s.fields,
        })).collect::<Vec<_>>(),
        "required_config": spec.required_config(),
        "operations": spec.operations.iter().map(|o| json!({
            "entity": o.entity,
            "action": o.action,
            "summary": o.summary,
            "params": visible_params(o).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
