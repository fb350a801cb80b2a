//! Every operation of every connector in `connectors/` runs at least once against a fake, and
//! every record it returns has the types of the operation's record schema.
//!
//! Targets, per connector:
//! - a hand-written fake (`github`, `gong`, `hubspot`, `linear`, `stripe`) at `/<slug>`, with the
//!   credentials and config of `tests/cases/<slug>.yaml` and, per operation, the params of the
//!   first successful case of that operation there (the seeded ids the fake knows), else params
//!   generated from the spec;
//! - the generic fake (`tests/fake-upstream/src/generic.rs`) at `/<slug>` for every other
//!   connector, and at `/_generic/<slug>` for the hand-written ones too, with credentials for one
//!   auth scheme and params generated from the spec (required params only: `example`,
//!   `examples`, `default`, the first `enum` value, else a value of the declared type/format).
//!
//! An operation a fake cannot play is listed in [`EXPECTED_FAILURES`] with its reason: it still
//! runs, the test prints and counts it, and fails if it starts passing (so the list stays true).
//! Against the generic fake every connector is also checked for a 401 on a bad credential, a
//! `rate_limited` answer on repeated 429s, and full pagination of every paginated list.
//!
//! `cargo test --profile ci -p switchboard-core --test every_operation -- --nocapture` prints
//! the per-connector counts.

mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fake_upstream::{generic, FakeUpstream, Fault};
use futures::StreamExt;
use serde_json::{json, Map, Value};
use switchboard_core::spec::{AuthKind, ConnectorSpec, Operation, RetryConfig};
use switchboard_core::{Connector, ConnectorOptions, ExecuteOptions};

/// Operations a fake cannot play with the params this test builds: (target prefix, connector,
/// entity, action, reason). The target prefix is `<slug>` or `_generic/<slug>`.
const EXPECTED_FAILURES: &[(&str, &str, &str, &str, &str)] = &[];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn spec_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(repo().join("connectors"))
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"));
    files.sort();
    files
}

fn load(path: &Path) -> ConnectorSpec {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    switchboard_core::spec::parse_spec(&name, &text).unwrap_or_else(|e| panic!("{e}"))
}

/// Credentials for the generic fake: one scheme's fields (not OAuth2 when another exists),
/// each `<field>-valid-0001`; for OAuth2, the shared client and initial refresh token. Values
/// with `invalid` in them are what the generic fake rejects.
fn generic_credentials(spec: &ConnectorSpec, bad: bool) -> Value {
    let scheme =
        spec.auth_schemes.iter().find(|s| !matches!(s.kind, AuthKind::OAuth2(_))).or_else(|| spec.auth_schemes.first());
    let Some(scheme) = scheme else { return json!({}) };
    let mut creds = Map::new();
    if let AuthKind::OAuth2(_) = scheme.kind {
        // A bad credential is a rejected access token whose refresh is rejected too: with a good
        // refresh token (or, for a client-credentials flow, a good client secret) the runtime
        // rightly recovers from the 401 (OAuth2-only connectors).
        let (at, rt, secret) = if bad {
            ("at-invalid-0001", "rt-invalid-0001", "client-secret-invalid-0001")
        } else {
            (
                "at-valid-0001",
                fake_upstream::creds::OAUTH_INITIAL_REFRESH_TOKEN,
                fake_upstream::creds::OAUTH_CLIENT_SECRET,
            )
        };
        for (k, v) in [
            ("access_token", at),
            ("refresh_token", rt),
            ("client_id", fake_upstream::creds::OAUTH_CLIENT_ID),
            ("client_secret", secret),
        ] {
            if scheme.fields.iter().any(|f| f.name == k) {
                creds.insert(k.into(), json!(v));
            }
        }
    }
    for f in &scheme.fields {
        if !creds.contains_key(&f.name) && (f.required || scheme.mapping.values().any(|t| t.contains(&f.name))) {
            let v = if bad { format!("{}-invalid-0001", f.name) } else { format!("{}-valid-0001", f.name) };
            creds.insert(f.name.clone(), json!(v));
        }
    }
    Value::Object(creds)
}

/// Where and how a connector runs.
struct Target {
    /// `<slug>` or `_generic/<slug>`.
    prefix: String,
    generic: bool,
    credentials: Value,
    config: Map<String, Value>,
    /// The cases file, for the params of hand-written fakes.
    cases: Option<Value>,
}

fn targets(spec: &ConnectorSpec, fake: &FakeUpstream) -> Vec<Target> {
    let host = format!("http://{}", fake.addr);
    let slug = &spec.slug;
    let generic_target = |prefix: String| {
        let mut config = Map::new();
        for var in spec.required_config() {
            config.insert(var.to_string(), json!("example"));
        }
        config.insert("base_url".into(), json!(format!("{host}/{prefix}")));
        config.insert("token_url".into(), json!(format!("{host}/{prefix}/_oauth/token")));
        Target { prefix, generic: true, credentials: generic_credentials(spec, false), config, cases: None }
    };
    if !generic::HAND_WRITTEN.contains(&slug.as_str()) {
        return vec![generic_target(slug.clone())];
    }
    let path = repo().join(format!("tests/cases/{slug}.yaml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let cases: Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut config: Map<String, Value> =
        support::fill(cases.get("config").unwrap_or(&json!({})), &host).as_object().cloned().unwrap_or_default();
    config.insert("base_url".into(), json!(fake.base_url(slug)));
    let own = Target {
        prefix: slug.clone(),
        generic: false,
        credentials: support::fill(cases.get("credentials").unwrap_or(&Value::Null), &host),
        config,
        cases: Some(cases),
    };
    vec![own, generic_target(format!("{}/{slug}", generic::PREFIX))]
}

fn connector(spec: &Arc<ConnectorSpec>, t: &Target, credentials: Value) -> Result<Connector, switchboard_core::Error> {
    let options = ConnectorOptions {
        retry: Some(RetryConfig { max_attempts: 2, initial_delay_ms: 5, max_delay_ms: 20, max_elapsed_ms: 2000 }),
        ..ConnectorOptions::default()
    };
    Connector::new(spec.clone(), credentials, Value::Object(t.config.clone()), options)
}

/// The params of the first case of `op` that succeeds with the file's own credentials.
fn case_params(cases: &Value, op: &Operation, host: &str) -> Option<Value> {
    cases.get("cases")?.as_array()?.iter().find_map(|c| {
        let fits = c.get("entity").and_then(Value::as_str) == Some(op.entity.as_str())
            && c.get("action").and_then(Value::as_str) == Some(op.action.as_str())
            && c.get("error").is_none()
            && c.get("credentials").is_none()
            && c.get("config").is_none();
        fits.then(|| support::fill(c.get("params").unwrap_or(&json!({})), host))
    })
}

#[derive(Default)]
struct Tally {
    ran: usize,
    expected_failures: Vec<String>,
    failures: Vec<String>,
    lines: Vec<String>,
}

async fn run_target(spec: &Arc<ConnectorSpec>, t: &Target, fake: &FakeUpstream, tally: &mut Tally) {
    let host = format!("http://{}", fake.addr);
    let mut ok = 0;
    let mut from_cases = 0;
    let mut xfail = 0;
    fake.reset();
    let conn = match connector(spec, t, t.credentials.clone()) {
        Ok(c) => c,
        Err(e) => {
            tally.failures.push(format!("{}: cannot make a connector: {e}", t.prefix));
            return;
        }
    };
    for op in &spec.operations {
        let name = format!("{} {}.{}", t.prefix, op.entity, op.action);
        // Each operation on the fake's initial data, as its case ran (a cancel must not spoil a
        // later update); the generic fake keeps no data.
        if !t.generic {
            fake.reset();
        }
        let params = match t.cases.as_ref().and_then(|c| case_params(c, op, &host)) {
            Some(p) => {
                from_cases += 1;
                p
            }
            None => support::required_params(op),
        };
        let expected = EXPECTED_FAILURES
            .iter()
            .find(|(p, s, e, a, _)| *p == t.prefix && *s == spec.slug && *e == op.entity && *a == op.action);
        let result = conn
            .execute(
                &op.entity,
                &op.action,
                params.clone(),
                &ExecuteOptions { skip_truncation: true, ..Default::default() },
            )
            .await;
        let mut errs = Vec::new();
        match &result {
            Err(e) => errs.push(format!("{}: {}", e.code, e.message)),
            Ok(r) => {
                support::records::check_record_types(op, &r.data, &mut errs);
                if t.generic {
                    check_generic_shape(op, &r.data, &mut errs);
                }
            }
        }
        tally.ran += 1;
        match (expected, errs.is_empty()) {
            (Some((.., why)), false) => {
                xfail += 1;
                tally.expected_failures.push(format!("{name}: {why} (got: {})", errs.join("; ")));
            }
            (Some(_), true) => {
                tally.failures.push(format!("{name}: passes now; drop it from EXPECTED_FAILURES"));
            }
            (None, true) => ok += 1,
            (None, false) => tally.failures.push(format!("{name} with {params}: {}", errs.join("; "))),
        }
    }
    let n = spec.operations.len();
    let how = if t.generic {
        "generic fake".to_string()
    } else {
        format!("hand-written fake, {from_cases} with params from tests/cases")
    };
    tally.lines.push(format!("{:<24} {ok:>3}/{n} operations passed ({how}), {xfail} expected failures", t.prefix));
    if t.generic {
        generic_behaviour(spec, t, fake, tally).await;
    }
}

/// What only the generic fake promises: a list gives records, a get or write a record.
fn check_generic_shape(op: &Operation, data: &Value, errs: &mut Vec<String>) {
    match op.action.as_str() {
        "list" | "search" if data.as_array().is_none_or(Vec::is_empty) => {
            errs.push(format!("the generic fake's list gave no records: {data}"))
        }
        "get" | "create" | "update" if op.record_schema().is_some() && data.is_null() => {
            errs.push("the generic fake's record did not reach the extractor path".into())
        }
        "download" if data.get("size").and_then(Value::as_u64).is_none_or(|s| s == 0) => {
            errs.push(format!("the generic fake's download gave no bytes: {data}"))
        }
        _ => {}
    }
}

/// Against the generic fake: a bad credential is `authentication`, repeated 429s are
/// `rate_limited`, and every paginated list pages through all [`generic::TOTAL`] records.
async fn generic_behaviour(spec: &Arc<ConnectorSpec>, t: &Target, fake: &FakeUpstream, tally: &mut Tally) {
    let Some(op) = spec.operations.iter().find(|o| o.action == "list").or(spec.operations.first()) else { return };
    let params = support::required_params(op);
    let opts = ExecuteOptions { skip_truncation: true, ..Default::default() };
    if !spec.auth_schemes.is_empty() {
        let bad = connector(spec, t, generic_credentials(spec, true));
        fake.reset();
        match bad {
            Ok(c) => match c.execute(&op.entity, &op.action, params.clone(), &opts).await {
                Err(e) if matches!(e.code.as_str(), "authentication" | "upstream_authentication") => {}
                other => tally.failures.push(format!(
                    "{}: a credential with `invalid` should be an authentication error, got {:?}",
                    t.prefix,
                    other.map(|r| r.data).map_err(|e| format!("{}: {}", e.code, e.message))
                )),
            },
            Err(e) => tally.failures.push(format!("{}: bad-credential connector: {e}", t.prefix)),
        }
    }
    fake.reset();
    fake.add_fault(Fault {
        prefix: t.prefix.clone(),
        status: 429,
        retry_after: Some("0".into()),
        count: -1,
        body: None,
        delay_ms: None,
        skip: 0,
        echo: false,
        echo_as: None,
    });
    if let Ok(c) = connector(spec, t, t.credentials.clone()) {
        match c.execute(&op.entity, &op.action, params, &opts).await {
            Err(e) if e.code.as_str() == "rate_limited" => {}
            other => tally.failures.push(format!(
                "{}: repeated 429s should be rate_limited, got {:?}",
                t.prefix,
                other.map(|r| r.data).map_err(|e| format!("{}: {}", e.code, e.message))
            )),
        }
    }
    fake.reset();
    let mut paged = 0;
    for op in spec.operations.iter().filter(|o| o.returns_list() && o.pagination.is_some()) {
        let Ok(c) = connector(spec, t, t.credentials.clone()) else { continue };
        let pages: Vec<_> =
            c.paginate(&op.entity, &op.action, support::required_params(op), opts.clone()).collect().await;
        let total: usize =
            pages.iter().filter_map(|p| p.as_ref().ok()).map(|p| p.data.as_array().map_or(0, Vec::len)).sum();
        let failed: Vec<String> = pages.iter().filter_map(|p| p.as_ref().err()).map(|e| e.to_string()).collect();
        if !failed.is_empty() || total != generic::TOTAL {
            tally.failures.push(format!(
                "{} {}.{}: paginate gave {total} of {} records in {} pages {failed:?}",
                t.prefix,
                op.entity,
                op.action,
                generic::TOTAL,
                pages.len()
            ));
        }
        paged += 1;
    }
    tally.lines.push(format!("{:<24} auth, 429 and {paged} paginated lists checked", ""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_runs_against_a_fake() {
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake: {e}"));
    let mut tally = Tally::default();
    let mut connectors = 0;
    let mut operations = 0;
    for path in spec_files() {
        let spec = Arc::new(load(&path));
        connectors += 1;
        operations += spec.operations.len();
        for t in targets(&spec, &fake) {
            run_target(&spec, &t, &fake, &mut tally).await;
        }
    }
    for line in &tally.lines {
        eprintln!("{line}");
    }
    for x in &tally.expected_failures {
        eprintln!("expected failure: {x}");
    }
    eprintln!(
        "{connectors} connectors, {operations} operations; {} runs, {} expected failures, {} failures",
        tally.ran,
        tally.expected_failures.len(),
        tally.failures.len()
    );
    for (p, s, e, a, _) in EXPECTED_FAILURES {
        let known = spec_files().iter().any(|f| {
            let spec = load(f);
            spec.slug == *s && spec.operation(e, a).is_some() && (p == s || *p == format!("{}/{s}", generic::PREFIX))
        });
        assert!(known, "EXPECTED_FAILURES names {p} {e}.{a}, which no spec has");
    }
    assert!(tally.failures.is_empty(), "{} failure(s):\n  {}", tally.failures.len(), tally.failures.join("\n  "));
}

/// The generic fake plays every spec in `connectors/` (none is left out for failing to load).
#[test]
fn the_generic_fake_loads_every_spec() {
    assert!(generic::rejected().is_empty(), "specs the generic fake cannot load: {:?}", generic::rejected());
    for path in spec_files() {
        let spec = load(&path);
        assert!(generic::api(&spec.slug).is_some(), "the generic fake does not play {}", spec.slug);
    }
}
