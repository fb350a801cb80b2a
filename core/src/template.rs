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
        // A GraphQL document written as a YAML block keeps its last newline, as the reference sends it.
        env.set_keep_trailing_newline(true);
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

/// Whether `s` is a GraphQL name (`[_A-Za-z][_0-9A-Za-z]*`): no spaces, braces, parentheses,
/// colons, `#` comments or anything else that could change a document.
pub fn is_graphql_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// The top-level fields of a GraphQL selection set written by a spec, by field name, each with
/// its whole text (arguments, directives and sub-selection included):
/// `id author { login } labels(first: 10) { nodes { name } }` gives `id`, `author { login }`
/// and `labels(first: 10) { nodes { name } }`. Inline fragments are left out; reading stops at
/// the first thing it does not understand.
pub fn top_level_selections(set: &str) -> Vec<(String, String)> {
    let b = set.as_bytes();
    let mut out = Vec::new();
    let skip_ws = |mut i: usize| {
        while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b',') {
            i += 1;
        }
        i
    };
    let name_end = |mut i: usize| {
        while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
            i += 1;
        }
        i
    };
    let mut i = skip_ws(0);
    while i < b.len() {
        let start = i;
        if b[i..].starts_with(b"...") {
            let Some(open) = b[i..].iter().position(|c| *c == b'{').map(|p| p + i) else { break };
            let Some(end) = group_end(b, open) else { break };
            i = skip_ws(end);
            continue;
        }
        let end = name_end(i);
        if end == i {
            break;
        }
        let mut name = &set[i..end];
        i = end;
        let j = skip_ws(i);
        if b.get(j) == Some(&b':') {
            let k = skip_ws(j + 1);
            let e = name_end(k);
            if e == k {
                break;
            }
            name = &set[k..e];
            i = e;
        }
        let j = skip_ws(i);
        if b.get(j) == Some(&b'(') {
            let Some(e) = group_end(b, j) else { break };
            i = e;
        }
        loop {
            let j = skip_ws(i);
            if b.get(j) != Some(&b'@') {
                break;
            }
            i = name_end(j + 1);
            let k = skip_ws(i);
            if b.get(k) == Some(&b'(') {
                let Some(e) = group_end(b, k) else { return out };
                i = e;
            }
        }
        let j = skip_ws(i);
        if b.get(j) == Some(&b'{') {
            let Some(e) = group_end(b, j) else { break };
            i = e;
        }
        out.push((name.to_string(), set[start..i].to_string()));
        i = skip_ws(i);
    }
    out
}

/// The index after the bracket that closes the one at `open`, skipping string literals.
fn group_end(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The selection set for the `fields` param of a GraphQL operation: `requested` must be a
/// non-empty array of field names, each one the spec declares selectable (`allowed`, the
/// param's `items.enum`; without one, the top-level selections of the spec's `defaults`, as
/// reference-format specs declare them); each becomes its text in `defaults` (so `author`
/// selects `author { login }`), or the bare name. An item may also be a default selection
/// written out (`"primaryLanguage { name }"`). Nothing a caller writes reaches the document but
/// text the spec holds. The `Err` is a problem phrased to follow the param's name.
pub fn field_selection(
    requested: &Value,
    allowed: Option<&[Value]>,
    defaults: Option<&str>,
) -> std::result::Result<String, String> {
    let Value::Array(items) = requested else {
        return Err("must be an array of field names".to_string());
    };
    let known = defaults.map(top_level_selections).unwrap_or_default();
    let names: Vec<&str> = match allowed.filter(|a| !a.is_empty()) {
        Some(allowed) => allowed.iter().filter_map(Value::as_str).collect(),
        None => known.iter().map(|(n, _)| n.as_str()).collect(),
    };
    if names.is_empty() {
        return Err("cannot be used: this operation declares no selectable fields".to_string());
    }
    if items.is_empty() {
        return Err("must name at least one field".to_string());
    }
    let squeeze = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: Vec<&str> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(given) = item.as_str() else {
            return Err(format!("item {i} must be a field name (a string)"));
        };
        // A default selection written out stands for its name.
        let written = squeeze(given);
        let name = match known.iter().find(|(n, text)| names.contains(&n.as_str()) && squeeze(text) == written) {
            Some((n, _)) => n.as_str(),
            None => given,
        };
        if !is_graphql_name(name) {
            let shown: String = name.chars().take(60).collect();
            return Err(format!(
                "item {i} ({shown:?}) is not a field name: give plain names such as {:?}, without braces, \
                 arguments, aliases or comments (object fields come with their usual sub-selection)",
                names.first().copied().unwrap_or("id")
            ));
        }
        if !names.contains(&name) {
            return Err(format!("item {i} ({name:?}) is not a selectable field here; one of: {}", names.join(", ")));
        }
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        out.push(known.iter().find(|(n, _)| n == name).map(|(_, text)| text.as_str()).unwrap_or(name));
    }
    Ok(out.join(" "))
}

/// Renders `template` with `ctx`.
pub fn render(template: &str, ctx: &Value) -> Result<String> {
    env().render_str(template, ctx).map_err(|e| Error::configuration(format!("template failed to render: {e}")))
}

/// Renders a GraphQL document `template` whose `{{ fields }}` is the selection `fields`, with
/// `ctx` (the call's params and `fields`) made only when the template must be rendered. A
/// template that reads no variable but `fields` renders the same text for the same selection,
/// so that text is kept (per template and selection, bounded) and the next call with the same
/// selection renders nothing: rendering through minijinja was a tenth of a call's CPU.
pub fn render_query(template: &str, fields: &str, ctx: impl FnOnce() -> Value) -> Result<Arc<str>> {
    let cache = rendered_queries();
    let known =
        cache.read().ok().and_then(|c| c.get(template).map(|k| (k.fields_only, k.by_fields.get(fields).cloned())));
    match known {
        Some((_, Some(text))) => return Ok(text),
        // Reads other variables: rendered every time, nothing to keep (no write lock either).
        Some((false, None)) => return Ok(render(template, &ctx())?.into()),
        _ => {}
    }
    let text: Arc<str> = render(template, &ctx())?.into();
    let mut cache = cache.write().unwrap_or_else(|e| e.into_inner());
    if !cache.contains_key(template) && cache.len() >= KEPT_TEMPLATES {
        cache.clear();
    }
    let kept = cache.entry(template.to_string()).or_insert_with(|| KeptQuery {
        fields_only: env()
            .template_from_str(template)
            .is_ok_and(|t| t.undeclared_variables(false).iter().all(|v| v == "fields")),
        by_fields: std::collections::HashMap::new(),
    });
    if kept.fields_only {
        if kept.by_fields.len() >= KEPT_SELECTIONS {
            kept.by_fields.clear();
        }
        kept.by_fields.insert(fields.to_string(), text.clone());
    }
    Ok(text)
}

/// At most this many GraphQL templates have their renderings kept (all are dropped when a new
/// one would pass it: spec sets are far smaller).
const KEPT_TEMPLATES: usize = 4096;
/// At most this many selections are kept per template (callers choose them, so they are bounded).
const KEPT_SELECTIONS: usize = 64;

/// What [`render_query`] keeps of one template.
struct KeptQuery {
    /// The template reads no variable but `fields`: its text depends on the selection alone.
    fields_only: bool,
    /// Its text by selection (only when `fields_only`).
    by_fields: std::collections::HashMap<String, Arc<str>>,
}

type RenderedQueries = std::sync::RwLock<std::collections::HashMap<String, KeptQuery>>;

fn rendered_queries() -> &'static RenderedQueries {
    static CACHE: OnceLock<RenderedQueries> = OnceLock::new();
    CACHE.get_or_init(Default::default)
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
    fn selections_are_read_by_field_name() {
        let set = "id author { login } labels(first: 10) { nodes { name } } stars: stargazerCount\n\
                   ... on Issue { title } target { oid ... on Commit { messageHeadline } } x @include(if: true)";
        let got = top_level_selections(set);
        let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["id", "author", "labels", "stargazerCount", "target", "x"]);
        assert_eq!(got[2].1, "labels(first: 10) { nodes { name } }");
        assert_eq!(got[4].1, "target { oid ... on Commit { messageHeadline } }");
    }

    #[test]
    fn field_selection_takes_declared_names_only() {
        let allowed = [json!("id"), json!("title"), json!("author")];
        let defaults = Some("id title author { login }");
        let pick = |v: Value| field_selection(&v, Some(&allowed), defaults);
        assert_eq!(pick(json!(["title", "author", "title"])).ok().as_deref(), Some("title author { login }"));
        for bad in [
            json!("id } } mutation { deleteRepository(id: 1) { id } } query { viewer { login"),
            json!(["id } } mutation { x }"]),
            json!(["author { email }"]),
            json!(["login: id"]),
            json!(["id # comment"]),
            json!(["id(first: 1)"]),
            json!(["__schema"]),
            json!([1]),
            json!([]),
        ] {
            assert!(pick(bad.clone()).is_err(), "{bad} must be refused");
        }
        // A default selection written out is its name.
        assert_eq!(pick(json!(["author {  login }", "id"])).ok().as_deref(), Some("author { login } id"));
        // Without a declared list, the defaults' top-level names are the list (reference specs).
        let from_defaults = |v: Value| field_selection(&v, None, defaults);
        assert_eq!(from_defaults(json!(["author", "id"])).ok().as_deref(), Some("author { login } id"));
        assert!(from_defaults(json!(["body"])).is_err(), "not among the defaults");
        assert!(from_defaults(json!(["id } } mutation { x }"])).is_err());
        assert!(field_selection(&json!(["id"]), None, None).is_err(), "no declared list, no defaults, no fields");
        assert!(is_graphql_name("_a1") && !is_graphql_name("1a") && !is_graphql_name("a-b") && !is_graphql_name(""));
    }

    /// A kept rendering is only reused where the text cannot differ: a template reading another
    /// variable renders every time, and a kept one equals a fresh rendering.
    #[test]
    fn queries_are_kept_only_when_they_depend_on_the_selection_alone() {
        fn ctx(owner: &'static str, fields: &'static str) -> impl Fn() -> Value {
            move || json!({"owner": owner, "fields": fields})
        }
        let by_fields = "query { nodes { {{ fields }} } }";
        for _ in 0..2 {
            for fields in ["id", "id title"] {
                let kept = render_query(by_fields, fields, ctx("o", fields)).map(|t| t.to_string());
                assert_eq!(kept.ok(), render(by_fields, &ctx("o", fields)()).ok());
            }
        }
        let by_owner = "query { repository(owner: \"{{ owner }}\") { {{ fields }} } }";
        let a = render_query(by_owner, "id", ctx("alice", "id")).map(|t| t.to_string());
        let b = render_query(by_owner, "id", ctx("bob", "id")).map(|t| t.to_string());
        assert_eq!(a.ok().as_deref(), Some("query { repository(owner: \"alice\") { id } }"));
        assert_eq!(b.ok().as_deref(), Some("query { repository(owner: \"bob\") { id } }"));
        let kept = rendered_queries().read().map(|c| c.get(by_owner).map(|k| (k.fields_only, k.by_fields.len())));
        assert_eq!(kept.ok().flatten(), Some((false, 0)), "nothing kept for a template reading `owner`");
        let kept = rendered_queries().read().map(|c| c.get(by_fields).map(|k| (k.fields_only, k.by_fields.len())));
        assert_eq!(kept.ok().flatten(), Some((true, 2)));
    }

    #[test]
    fn render_fills_params() {
        let s = render("repo:{{ owner }}/{{ repo }} {{ missing }}", &json!({"owner": "o", "repo": "r"}));
        assert_eq!(s.ok().as_deref(), Some("repo:o/r "));
    }
}
