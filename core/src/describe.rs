//! Text and JSON descriptions of a connector's operations, for people (`switchboard
//! connectors SLUG`) and for agents' system prompts.

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::spec::{ConnectorSpec, Operation, Param, ParamLocation};

fn param_line(p: &Param) -> String {
    let mut s = format!("{}: {}", p.name, p.ty.map(|t| t.as_str()).unwrap_or("any"));
    if let (Some(crate::spec::ParamType::Array), Some(it)) = (p.ty, p.items) {
        s = format!("{}: array of {}", p.name, it.as_str());
    }
    if p.is_required_from_caller() {
        s.push_str(", required");
    }
    if let Some(e) = &p.enum_values {
        let vals: Vec<String> =
            e.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect();
        let _ = write!(s, ", one of [{}]", vals.join(", "));
    }
    if let Some(d) = &p.default {
        let _ = write!(s, ", default {d}");
    }
    match (p.minimum, p.maximum) {
        (Some(a), Some(b)) => {
            let _ = write!(s, ", {a}..{b}");
        }
        (Some(a), None) => {
            let _ = write!(s, ", >= {a}");
        }
        (None, Some(b)) => {
            let _ = write!(s, ", <= {b}");
        }
        _ => {}
    }
    if let Some(d) = &p.description {
        let first = d.lines().next().unwrap_or_default();
        let _ = write!(s, " - {first}");
    }
    s
}

/// Params a caller may pass (headers with defaults are the connector's business).
pub fn visible_params(op: &Operation) -> impl Iterator<Item = &Param> {
    op.params.iter().filter(|p| !(p.location == ParamLocation::Header && p.default.is_some()))
}

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
                let _ = writeln!(out, "    - {}", param_line(p));
            }
            if let Some(pg) = &op.pagination {
                let from = pg
                    .meta
                    .as_ref()
                    .map(|m| format!("meta.{m}"))
                    .or_else(|| pg.from_last_record.as_ref().map(|f| format!("the last record's {f}")))
                    .unwrap_or_default();
                let _ = writeln!(out, "    next page: pass {from} as {}", pg.param);
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
