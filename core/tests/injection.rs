//! Caller-supplied params cannot change where a request goes or what a GraphQL document does.
//!
//! - Path params: for every path param of every operation of every built-in connector, values
//!   that try to leave their segment (`..`, `.`, `a/../b`, `%2e%2e`, `x?y`, `x#y`, ...) are
//!   either refused with a `validation` error naming the param before anything is sent, or the
//!   fake sees them percent-encoded inside that one segment of the operation's own path.
//! - GraphQL `fields`: for every GraphQL operation with a `fields` param, query text (closing
//!   braces and a mutation, aliases, arguments, comments, fragments, directives) is refused with
//!   a `validation` error before anything is sent; declared field names still work.

mod support;

use fake_upstream::{creds, FakeUpstream};
use percent_encoding::percent_decode_str;
use serde_json::{json, Map, Value};
use switchboard_core::spec::{AuthKind, BodyKind, ConnectorSpec, Operation, Param, ParamLocation, ParamType};
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
            // A static option when there is one; an OAuth one gets the fake's client and refresh
            // token (the fake is reset before every call, so the refresh token is fresh).
            let scheme = spec
                .auth_schemes
                .iter()
                .find(|s| !matches!(s.kind, AuthKind::OAuth2(_)))
                .or(spec.auth_schemes.first())
                .unwrap_or_else(|| panic!("{other} has no auth scheme"));
            if matches!(scheme.kind, AuthKind::OAuth2(_)) && !scheme.fields.iter().any(|f| f.name == "access_token") {
                let creds = fake_upstream::leaks::refresh_credentials(scheme, &mut Default::default());
                return Value::Object(creds);
            }
            let fields: serde_json::Map<String, Value> = scheme
                .fields
                .iter()
                // An access token when the option has one, so an OAuth option needs no refresh.
                .filter(|f| {
                    f.required
                        || f.name == "access_token"
                        || scheme.mapping.values().any(|t| t.contains(&format!("${{{}}}", f.name)))
                })
                .map(|f| (f.name.clone(), json!(format!("fake-{}", f.name))))
                .collect();
            Value::Object(fields)
        }
    }
}

fn connector(spec: &std::sync::Arc<ConnectorSpec>, fake: &FakeUpstream) -> Connector {
    // The base URL, and the token URL when the first option is OAuth (on the fake as well).
    let config =
        match spec.auth_schemes.iter().find(|s| !matches!(s.kind, AuthKind::OAuth2(_))).or(spec.auth_schemes.first()) {
            Some(scheme) => fake.connector_config(spec, scheme),
            None => json!({"base_url": fake.base_url(&spec.slug)}),
        };
    Connector::new(spec.clone(), credentials(&spec.slug), config, ConnectorOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", spec.slug))
}

/// A path template segment with each `{name}` replaced by that param's value, in one pass.
fn fill_segment(template: &str, params: &Map<String, Value>) -> String {
    let (mut out, mut rest) = (String::new(), template);
    while let (Some(i), Some(j)) = (rest.find('{'), rest.find('}')) {
        out.push_str(&rest[..i]);
        match params.get(&rest[i + 1..j]) {
            Some(Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => {}
        }
        rest = &rest[j + 1..];
    }
    out.push_str(rest);
    out
}

/// Every param a caller must give, with valid values.
fn required_params(op: &Operation) -> Map<String, Value> {
    match support::required_params(op) {
        Value::Object(m) => m,
        _ => Map::new(),
    }
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
                    // An OAuth option's first call refreshes on the fake's token endpoint first.
                    let requests: Vec<_> =
                        fake.requests().into_iter().filter(|r| !r.path.ends_with("/_oauth/token")).collect();
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
                        // A template segment may hold literals around its params (`{sid}.json`,
                        // `act_{account_id}`, `(account={account},user={user})`): the sent
                        // segment, decoded, is the template with each param's value put in.
                        let ok = if w.contains('{') {
                            percent_decode_str(g).decode_utf8_lossy() == fill_segment(w, &params)
                        } else {
                            g == w
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
