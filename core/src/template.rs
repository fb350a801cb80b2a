//! Jinja templates in specs (GraphQL queries and variables, record filters), via minijinja.

use std::sync::{Arc, OnceLock};

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

/// A record filter (`x-record-filter`), compiled once when its spec is loaded and kept in the
/// [`Operation`](crate::spec::Operation): evaluating it on a record never compiles anything.
#[derive(Clone)]
pub struct RecordFilter {
    source: String,
    compiled: Arc<minijinja::Expression<'static, 'static>>,
}

impl RecordFilter {
    /// Compiles `filter`, written with or without `{{ }}` braces (see [`filter_expression`]).
    pub fn compile(filter: &str) -> std::result::Result<Self, String> {
        let source = filter_expression(filter);
        #[cfg(test)]
        FILTER_COMPILES.with(|n| n.set(n.get() + 1));
        let compiled =
            env().compile_expression_owned(source.clone()).map_err(|e| format!("invalid expression: {e}"))?;
        Ok(Self { source, compiled: Arc::new(compiled) })
    }

    /// The expression, without braces.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether `record` (bound to `record` in the expression) passes the filter.
    pub fn matches(&self, record: &Value) -> Result<bool> {
        let v = self
            .compiled
            .eval(minijinja::context! { record => minijinja::Value::from_serialize(record) })
            .map_err(|e| Error::configuration(format!("record filter failed: {e}")))?;
        Ok(v.is_true())
    }
}

impl std::fmt::Debug for RecordFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RecordFilter").field(&self.source).finish()
    }
}

#[cfg(test)]
thread_local! {
    /// How many record filters this thread compiled (tests check it does not grow per record).
    pub(crate) static FILTER_COMPILES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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
        let f = RecordFilter::compile("{{ not record.isPrivate }}").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(f.source(), "not record.isPrivate");
        assert!(f.matches(&json!({"isPrivate": false})).unwrap_or(false));
        assert!(!f.matches(&json!({"isPrivate": true})).unwrap_or(true));
        assert!(RecordFilter::compile("record.(").is_err());
    }

    #[test]
    fn render_fills_params() {
        let s = render("repo:{{ owner }}/{{ repo }} {{ missing }}", &json!({"owner": "o", "repo": "r"}));
        assert_eq!(s.ok().as_deref(), Some("repo:o/r "));
    }
}
