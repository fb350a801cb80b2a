//! Jinja templates in specs (GraphQL queries and variables, record filters), via minijinja.

use std::sync::OnceLock;

use minijinja::{Environment, UndefinedBehavior};
use serde_json::Value;

use crate::error::{Error, Result};

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Chainable);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        env
    })
}

/// Checks that `template` compiles.
pub fn check(template: &str) -> std::result::Result<(), String> {
    env().template_from_str(template).map(|_| ()).map_err(|e| format!("invalid template: {e}"))
}

/// Checks that `expr` compiles as an expression.
pub fn check_expression(expr: &str) -> std::result::Result<(), String> {
    env().compile_expression(expr).map(|_| ()).map_err(|e| format!("invalid expression: {e}"))
}

/// `{{ not record.x }}` -> `not record.x`: record filters may be written with or without braces.
pub fn filter_expression(s: &str) -> String {
    let t = s.trim();
    match t.strip_prefix("{{").and_then(|x| x.strip_suffix("}}")) {
        Some(inner) => inner.trim().to_string(),
        None => t.to_string(),
    }
}

/// If `template` is exactly `{{ name }}` (a bare variable), the name.
pub fn bare_variable(template: &str) -> Option<&str> {
    let inner = template.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let ok = !inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some(inner)
}

/// Renders `template` with `ctx`.
pub fn render(template: &str, ctx: &Value) -> Result<String> {
    env().render_str(template, ctx).map_err(|e| Error::configuration(format!("template failed to render: {e}")))
}

/// Evaluates a boolean expression with `record` bound to `record`.
pub fn eval_filter(expr: &str, record: &Value) -> Result<bool> {
    let compiled = env()
        .compile_expression(expr)
        .map_err(|e| Error::configuration(format!("record filter does not compile: {e}")))?;
    let v = compiled
        .eval(minijinja::context! { record => minijinja::Value::from_serialize(record) })
        .map_err(|e| Error::configuration(format!("record filter failed: {e}")))?;
    Ok(v.is_true())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bare_variables_are_recognised() {
        assert_eq!(bare_variable("{{ per_page }}"), Some("per_page"));
        assert_eq!(bare_variable("{{per_page}}"), Some("per_page"));
        assert_eq!(bare_variable("repo:{{ owner }}"), None);
        assert_eq!(bare_variable("{{ a | upper }}"), None);
    }

    #[test]
    fn filters_evaluate_on_records() {
        let e = filter_expression("{{ not record.isPrivate }}");
        assert!(eval_filter(&e, &json!({"isPrivate": false})).unwrap_or(false));
        assert!(!eval_filter(&e, &json!({"isPrivate": true})).unwrap_or(true));
    }

    #[test]
    fn render_fills_params() {
        let s = render("repo:{{ owner }}/{{ repo }} {{ missing }}", &json!({"owner": "o", "repo": "r"}));
        assert_eq!(s.ok().as_deref(), Some("repo:o/r "));
    }
}
