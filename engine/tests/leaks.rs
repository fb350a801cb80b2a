//! No credential leaves the engine through an error, whatever a provider echoes back: for every
//! auth scheme of every built-in connector, a connector is stored with distinctive random
//! credentials (or, for a refresh that must succeed, the fake's OAuth client), the fake upstream
//! echoes the next request (headers, query, body) in its error body and request-id headers, and
//! the execute and check answers (body and every header) are scanned for every secret, every
//! value derived from them and every token a refresh brought, in every encoding.

mod common;

use common::{start, Answer, Engine};
use fake_upstream::leaks::{random_credentials, Watch};
use fake_upstream::{lock, FakeUpstream, Fault};
use serde_json::{json, Map, Value};
use switchboard_core::spec::{AuthKind, AuthScheme};

/// One run: the credentials to store, the echo fault, and what to watch.
struct Run {
    name: String,
    creds: Map<String, Value>,
    fault: Fault,
    watch: Watch,
    /// A refresh must succeed first; the tokens it mints are watched too.
    refreshes: bool,
}

fn runs(slug: &str, scheme: &AuthScheme) -> Vec<Run> {
    let mut out = Vec::new();
    for (status, count) in [(400, 1), (401, 2)] {
        let mut watch = Watch::default();
        let creds = random_credentials(scheme, &[], &mut watch);
        let mut fault = Fault::echo(slug, status);
        fault.count = count;
        let name = format!("{slug}/{}: every field, {status}", scheme.name);
        out.push(Run { name, creds, fault, watch, refreshes: false });
    }
    // The echo written as an HTML error page shows it.
    let mut watch = Watch::default();
    let creds = random_credentials(scheme, &[], &mut watch);
    let mut fault = Fault::echo(slug, 400);
    fault.echo_as = Some("html".to_string());
    let name = format!("{slug}/{}: every field, 400, echoed as HTML", scheme.name);
    out.push(Run { name, creds, fault, watch, refreshes: false });
    // The refresh runs drop the access token: only for OAuth options that run without one
    // (Slack's requires its access token and refreshes only after a 401).
    let refreshable =
        scheme.mapping.contains_key("refresh_token") || scheme.fields.iter().any(|f| f.name == "refresh_token");
    if matches!(scheme.kind, AuthKind::OAuth2(_)) && refreshable && !scheme.required_fields().contains(&"access_token")
    {
        let mut watch = Watch::default();
        let creds = random_credentials(scheme, &["access_token"], &mut watch);
        let name = format!("{slug}/{}: refresh-token grant echoed", scheme.name);
        out.push(Run { name, creds, fault: Fault::echo(slug, 400), watch, refreshes: false });
        let mut watch = Watch::default();
        let creds = fake_upstream::leaks::refresh_credentials(scheme, &mut watch);
        let mut fault = Fault::echo(slug, 400);
        fault.skip = 1; // the refresh goes through; the API call with the new token is echoed
        let name = format!("{slug}/{}: token after a refresh echoed", scheme.name);
        out.push(Run { name, creds, fault, watch, refreshes: true });
    }
    out
}

/// The whole answer as text: status, every header, the body.
fn answer_text(a: &Answer) -> String {
    let mut out = format!("{}\n", a.status);
    for (k, v) in &a.headers {
        out.push_str(&format!("{k}: {}\n", String::from_utf8_lossy(v.as_bytes())));
    }
    out.push_str(&a.text);
    out
}

fn scan(run: &Run, what: &str, a: &Answer, failures: &mut Vec<String>) {
    let text = answer_text(a);
    for leak in run.watch.leaks(&text) {
        failures.push(format!("{}: {leak} in the {what} answer: {text}", run.name));
    }
}

async fn check_engine(e: &Engine, fake: &FakeUpstream) -> (usize, Vec<String>) {
    let app = e.app_token().await;
    let scoped = e.scoped_token(&app, "leaks").await;
    let registry = switchboard_core::Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let mut runs_done = 0;
    for spec in registry.all() {
        // The health check's operation, or (when every operation needs params) the first one
        // with sample params.
        let op = spec.check_operation().unwrap_or(&spec.operations[0]);
        let params = fake_upstream::sample::required_params(op);
        for scheme in &spec.auth_schemes {
            for mut run in runs(&spec.slug, scheme) {
                runs_done += 1;
                fake.reset();
                let mut body = json!({
                    "connector_type": spec.slug,
                    "name": format!("leak-{runs_done}"),
                    "credentials": run.creds,
                    "config": fake.connector_config(spec, scheme),
                });
                if let Some(schema) = &spec.replication_config {
                    body["replication_config"] = fake_upstream::sample::sample(schema, "replication_config", 0);
                }
                let created = e.post("/api/v1/integrations/connectors", &scoped, body).await;
                assert_eq!(created.status, 201, "{}: {}", run.name, created.text);
                scan(&run, "create", &created, &mut failures);
                let id = created.body["id"].as_str().unwrap_or_default().to_string();

                fake.add_fault(run.fault.clone());
                let exec = e
                    .post(
                        &format!("/api/v1/integrations/connectors/{id}/execute"),
                        &scoped,
                        json!({"entity": op.entity, "action": op.action, "params": params.clone()}),
                    )
                    .await;
                if run.refreshes {
                    let (access, refresh) =
                        fake.state.with_oauth(&spec.slug, |o| (o.access_tokens.clone(), o.refresh_token.clone()));
                    assert!(!access.is_empty(), "{}: the refresh must have succeeded", run.name);
                    access.iter().for_each(|t| run.watch.add(t));
                    run.watch.add(&refresh);
                }
                if exec.status < 400 || !exec.text.contains("****") {
                    failures.push(format!("{}: the echoed request did not reach the error: {}", run.name, exec.text));
                }
                scan(&run, "execute", &exec, &mut failures);

                // The health check, with the token (if refreshed) already in the handle.
                lock(&fake.state.faults).clear();
                let mut fault = run.fault.clone();
                fault.skip = 0;
                fake.add_fault(fault);
                let check = e.post(&format!("/api/v1/integrations/connectors/{id}/check"), &scoped, json!({})).await;
                // A connector whose every operation needs params checks a static credential
                // without a request: there is no echo to see, only the answer to scan.
                let checks_remotely = spec.check_operation().is_some();
                if checks_remotely && (check.body["status"] != "unhealthy" || !check.text.contains("****")) {
                    failures.push(format!("{}: the check did not see the echo: {}", run.name, check.text));
                }
                scan(&run, "check", &check, &mut failures);
            }
        }
    }
    (runs_done, failures)
}

both_backends!(no_secret_leaks_through_an_echoing_upstream, |backend| async move {
    let Some(e) = start(backend, |_| {}).await else { return };
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let (runs, failures) = check_engine(&e, &fake).await;
    assert!(runs >= 20, "every auth scheme of every connector: {runs} runs");
    assert!(failures.is_empty(), "{} leaks in {runs} runs:\n{}", failures.len(), failures.join("\n"));
});
