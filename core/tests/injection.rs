//! Caller-supplied params cannot change where a request goes or what a GraphQL document does.
//!
//! - Path params: for every path param of every operation of every built-in connector, values
//!   that try to leave their segment (`..`, `.`, `a/../b`, `%2e%2e`, `x?y`, `x#y`, ...) are
//!   either refused with a `validation` error naming the param before anything is sent, or the
//!   fake sees them percent-encoded inside that one segment of the operation's own path.
//! - GraphQL `fields`: for every GraphQL operation with a `fields` param, query text (closing
//!   braces and a mutation, aliases, arguments, comments, fragments, directives) is refused with
//!   a `validation` error before anything is sent; declared field names still work.

use fake_upstream::{creds, FakeUpstream};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use switchboard_core::spec::{BodyKind, ConnectorSpec, Operation, Param, ParamLocation, ParamType};
use switchboard_core::template::{is_graphql_name, top_level_selections};
use switchboard_core::{Connector, ConnectorOptions, ErrorCode, ExecuteOptions, Registry};

/// Credentials each fake accepts.
fn credentials(slug: &str) -> Value {
    match slug {
        "github" => json!({"personal_access_token": creds::GITHUB_TOKEN}),
        "stripe" => json!({"api_key": creds::STRIPE_KEY}),
        "hubspot" => json!({"private_app_token": creds::HUBSPOT_PRIVATE_APP}),
        "gong" => json!({"access_key": creds::GONG_ACCESS_KEY, "access_key_secret": creds::GONG_ACCESS_SECRET}),
        "linear" => json!({"api_key": creds::LINEAR_API_KEY}),
        // The generic fake accepts any credential but an empty one or one containing `invalid`.
        other => {
            let spec = Registry::builtin().and_then(|r| r.get(other)).unwrap_or_else(|e| panic!("{other}: {e}"));
            let scheme = spec.auth_schemes.first().unwrap_or_else(|| panic!("{other} has no auth scheme"));
            let fields: serde_json::Map<String, Value> = scheme
                .fields
                .iter()
                .filter(|f| f.required || scheme.mapping.values().any(|t| t.contains(&format!("${{{}}}", f.name))))
                .map(|f| (f.name.clone(), json!(format!("fake-{}", f.name))))
                .collect();
            Value::Object(fields)
        }
    }
}

fn connector(spec: &std::sync::Arc<ConnectorSpec>, fake: &FakeUpstream) -> Connector {
    Connector::new(
        spec.clone(),
        credentials(&spec.slug),
        json!({"base_url": fake.base_url(&spec.slug)}),
        ConnectorOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", spec.slug))
}

/// A valid value for a JSON Schema: the first enum value, else the smallest thing of its type.
fn sample(schema: &Value) -> Value {
    if let Some(first) = schema.get("enum").and_then(Value::as_array).and_then(|a| a.first()) {
        return first.clone();
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("string"),
        _ if schema.get("properties").is_some() => "object",
        _ => "string",
    };
    match ty {
        "integer" | "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0).max(1.0) as i64),
        "boolean" => json!(true),
        "array" => json!([sample(schema.get("items").unwrap_or(&json!({})))]),
        "object" => {
            let mut m = Map::new();
            let props = schema.get("properties").and_then(Value::as_object);
            for r in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                let s = props.and_then(|p| p.get(r)).cloned().unwrap_or(json!({}));
                m.insert(r.to_string(), sample(&s));
            }
            Value::Object(m)
        }
        _ => json!("x1"),
    }
}

/// Every param a caller must give, with valid values.
fn required_params(op: &Operation) -> Map<String, Value> {
    op.params.iter().filter(|p| p.is_required_from_caller()).map(|p| (p.name.clone(), sample(&p.schema))).collect()
}

fn takes_strings(p: &Param) -> bool {
    matches!(p.ty, None | Some(ParamType::String))
}

/// Values that try to leave their path segment, and whether they must be refused outright.
const ESCAPES: [(&str, bool); 12] = [
    ("..", true),
    (".", true),
    ("", true),
    ("a/../b", false),
    ("../../admin", false),
    ("%2e%2e", false),
    ("%2E%2E%2Fadmin", false),
    (".%2e", false),
    ("x?y=1", false),
    ("x#y", false),
    ("a%2Fb", false),
    ("{repo}", false),
];

#[tokio::test]
async fn path_params_never_leave_their_segment() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake upstream: {e}"));
    let registry = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let (mut tried, mut sent, mut refused) = (0, 0, 0);
    let mut failures = Vec::new();
    for spec in registry.all() {
        let c = connector(spec, &fake);
        for op in &spec.operations {
            for p in op.params.iter().filter(|p| p.location == ParamLocation::Path) {
                for (value, must_refuse) in ESCAPES {
                    tried += 1;
                    let at = format!("{} {}.{} {}={value:?}", spec.slug, op.entity, op.action, p.name);
                    let mut params = required_params(op);
                    params.insert(p.name.clone(), json!(value));
                    fake.reset();
                    let res = c
                        .execute(&op.entity, &op.action, Value::Object(params.clone()), &ExecuteOptions::default())
                        .await;
                    let requests = fake.requests();
                    let Some(first) = requests.first() else {
                        // Nothing sent: only a validation error naming this param is acceptable.
                        match &res {
                            Err(e)
                                if e.code == ErrorCode::Validation && e.message.contains(&format!("{:?}", p.name)) =>
                            {
                                refused += 1;
                            }
                            other => failures.push(format!("{at}: nothing sent, but {other:?}")),
                        }
                        if !must_refuse && takes_strings(p) {
                            failures.push(format!("{at}: a string param must be sent, encoded"));
                        }
                        continue;
                    };
                    sent += 1;
                    if must_refuse {
                        failures.push(format!("{at}: must be refused before any request, but {} was sent", first.path));
                        continue;
                    }
                    // The first request (a download may fetch a file after it) follows the
                    // operation's template segment by segment, the value inside its own segment.
                    let prefix = format!("/{}", spec.slug);
                    let Some(rest) = first.path.strip_prefix(&prefix) else {
                        failures.push(format!("{at}: left the API's prefix: {}", first.path));
                        continue;
                    };
                    let got: Vec<&str> = rest.split('/').collect();
                    let want: Vec<&str> = op.path.split('/').collect();
                    if got.len() != want.len() {
                        failures.push(format!("{at}: {} does not follow {}", first.path, op.path));
                        continue;
                    }
                    for (g, w) in got.iter().zip(&want) {
                        let ok = match w.strip_prefix('{').and_then(|x| x.strip_suffix('}')) {
                            Some(name) => {
                                let expected = match params.get(name) {
                                    Some(Value::String(s)) => s.clone(),
                                    Some(other) => other.to_string(),
                                    None => String::new(),
                                };
                                percent_decode_str(g).decode_utf8_lossy() == expected
                            }
                            None => g == w,
                        };
                        if !ok {
                            failures.push(format!("{at}: segment {g:?} of {} does not match {w:?}", first.path));
                        }
                    }
                    if let Some(r) = requests.iter().find(|r| !r.path.starts_with(&format!("{prefix}/"))) {
                        failures.push(format!("{at}: a request left the API: {}", r.path));
                    }
                }
            }
        }
    }
    assert!(tried > 100, "every path param of every operation: {tried}");
    assert!(sent > 0 && refused > 0, "both outcomes were exercised ({sent} sent, {refused} refused)");
    assert!(failures.is_empty(), "{} of {tried} failed:\n{}", failures.len(), failures.join("\n"));
}

/// Attempts to write GraphQL through `fields`.
fn injections() -> Vec<Value> {
    vec![
        json!("id } } mutation { deleteRepository(input: {repositoryId: \"R_1\"}) { clientMutationId } } query { viewer { login"),
        json!(["id } } mutation { deleteRepository(input: {repositoryId: \"R_1\"}) { clientMutationId } } query { x {"]),
        json!(["id", "author { login }"]),
        json!(["{ id }"]),
        json!(["stars: stargazerCount"]),
        json!(["id(first: 100)"]),
        json!(["id # } } mutation { x }"]),
        json!(["id\n}"]),
        json!(["... on Repository { id }"]),
        json!(["id @include(if: true)"]),
        json!(["id, url"]),
        json!(["__schema"]),
        json!([""]),
        json!([]),
        json!([{"name": "id"}]),
        json!("id"),
    ]
}

/// The `fields` param of a GraphQL operation and the names it declares.
fn declared_fields(op: &Operation) -> Option<Vec<String>> {
    if !matches!(op.body, BodyKind::GraphQl(_)) {
        return None;
    }
    let p = op.param("fields")?;
    let names = p.schema.get("items")?.get("enum")?.as_array()?;
    Some(names.iter().filter_map(Value::as_str).map(str::to_string).collect())
}

#[tokio::test]
async fn graphql_fields_take_declared_names_only() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake upstream: {e}"));
    let registry = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let mut ops = 0;
    for spec in registry.all() {
        let c = connector(spec, &fake);
        for op in &spec.operations {
            let BodyKind::GraphQl(g) = &op.body else { continue };
            if op.param("fields").is_none() {
                continue;
            }
            ops += 1;
            let at = format!("{} {}.{}", spec.slug, op.entity, op.action);
            // The spec declares the names (identifiers), and every top-level default among them.
            let Some(declared) = declared_fields(op) else {
                failures.push(format!("{at}: `fields` declares no names (items.enum)"));
                continue;
            };
            for name in &declared {
                if !is_graphql_name(name) {
                    failures.push(format!("{at}: declared field {name:?} is not a GraphQL name"));
                }
            }
            for (name, _) in top_level_selections(g.default_fields.as_deref().unwrap_or_default()) {
                if !declared.contains(&name) {
                    failures.push(format!("{at}: default field {name:?} is not declared"));
                }
            }
            for attempt in injections() {
                let mut params = required_params(op);
                params.insert("fields".into(), attempt.clone());
                fake.reset();
                let res = c.execute(&op.entity, &op.action, Value::Object(params), &ExecuteOptions::default()).await;
                match res {
                    Err(e) if e.code == ErrorCode::Validation && e.message.contains("fields") => {}
                    other => failures.push(format!("{at}: fields={attempt} must be refused, got {other:?}")),
                }
                if !fake.requests().is_empty() {
                    failures.push(format!("{at}: fields={attempt} sent a request"));
                }
            }
            // A declared name goes through, and only spec text reaches the document.
            let mut params = required_params(op);
            params.insert("fields".into(), json!([declared[0]]));
            fake.reset();
            let _ = c.execute(&op.entity, &op.action, Value::Object(params), &ExecuteOptions::default()).await;
            match fake
                .requests()
                .first()
                .and_then(|r| r.body_parsed.get("query").and_then(Value::as_str).map(String::from))
            {
                Some(q) if q.contains(&declared[0]) && (!g.is_query || !q.contains("mutation")) => {}
                other => failures.push(format!("{at}: fields=[{:?}] sent {other:?}", declared[0])),
            }
        }
    }
    assert!(ops >= 40, "every GraphQL operation with a `fields` param: {ops}");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
