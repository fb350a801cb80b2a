//! No credential leaves through an error path, whatever a provider echoes back.
//!
//! For every auth scheme of every built-in connector, credentials are made from the scheme's
//! fields with distinctive random values (each holding characters that base64, percent, form and
//! JSON encodings all change), the fake upstream is told to echo the next request (headers,
//! query, body) in its error body, message fields and request-id headers, and an operation is
//! run. The error (Display, Debug, message, request id, details, its JSON) and every TRACE log
//! line written during the calls are scanned for every secret value, and every value the scheme
//! derives and sends (the Basic header's `user:password`, OAuth client auth, a refreshed token),
//! in every encoding.

mod support;

use std::sync::{Arc, Mutex};

use fake_upstream::leaks::{random_credentials, Watch};
use fake_upstream::{FakeUpstream, Fault};
use serde_json::{Map, Value};
use switchboard_core::spec::{AuthKind, AuthScheme};
use switchboard_core::{Connector, ConnectorOptions, Error, Registry};

/// A log sink for tracing that keeps every line.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

/// Every text of an error a caller can see.
fn error_texts(e: &Error) -> Vec<(&'static str, String)> {
    vec![
        ("Display", e.to_string()),
        ("Debug", format!("{e:?}")),
        ("message", e.message.clone()),
        ("request_id", e.request_id.clone().unwrap_or_default()),
        ("details", e.details.as_ref().map(Value::to_string).unwrap_or_default()),
        ("JSON", serde_json::to_string(e).unwrap_or_default()),
    ]
}

/// One run: credentials, the echo fault, and what to watch.
struct Run {
    name: String,
    creds: Map<String, Value>,
    fault: Fault,
    watch: Watch,
    /// The OAuth API whose minted tokens must be watched too (a refresh succeeds first).
    refreshes: Option<String>,
}

/// The runs for one scheme: every field random, answered 400, 500 and 401 (for OAuth a 401
/// also sends a refresh, echoed too); for OAuth schemes, a refresh-token grant echoed by the
/// token endpoint, and a successful refresh whose new token the API call then echoes.
fn runs(slug: &str, scheme: &AuthScheme) -> Vec<Run> {
    let mut out = Vec::new();
    for (status, count) in [(400, 1), (500, 1), (401, 2)] {
        let mut watch = Watch::default();
        let creds = random_credentials(scheme, &[], &mut watch);
        let mut fault = Fault::echo(slug, status);
        fault.count = count;
        out.push(Run {
            name: format!("{slug}/{}: every field, {status}", scheme.name),
            creds,
            fault,
            watch,
            refreshes: None,
        });
    }
    // The refresh runs drop the access token: only for OAuth options that run without one
    // (Slack's requires its access token and refreshes only after a 401).
    let refreshable =
        scheme.mapping.contains_key("refresh_token") || scheme.fields.iter().any(|f| f.name == "refresh_token");
    if matches!(scheme.kind, AuthKind::OAuth2(_)) && refreshable && !scheme.required_fields().contains(&"access_token")
    {
        let mut watch = Watch::default();
        let creds = random_credentials(scheme, &["access_token"], &mut watch);
        out.push(Run {
            name: format!("{slug}/{}: refresh-token grant echoed", scheme.name),
            creds,
            fault: Fault::echo(slug, 400),
            watch,
            refreshes: None,
        });
        let mut watch = Watch::default();
        let creds = fake_upstream::leaks::refresh_credentials(scheme, &mut watch);
        let mut fault = Fault::echo(slug, 400);
        fault.skip = 1; // the refresh goes through; the API call with the new token is echoed
        out.push(Run {
            name: format!("{slug}/{}: token after a refresh echoed", scheme.name),
            creds,
            fault,
            watch,
            refreshes: Some(slug.to_string()),
        });
    }
    out
}

#[tokio::test]
async fn no_secret_leaks_through_an_echoing_upstream_for_any_auth_scheme() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake upstream: {e}"));
    let registry = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let mut all_watched = Watch::default();
    let (mut schemes, mut scanned) = (0, 0);
    for spec in registry.all() {
        for scheme in &spec.auth_schemes {
            schemes += 1;
            for mut run in runs(&spec.slug, scheme) {
                fake.reset();
                fake.add_fault(run.fault.clone());
                let c = Connector::new(
                    spec.clone(),
                    Value::Object(run.creds.clone()),
                    fake.connector_config(spec, scheme),
                    ConnectorOptions::default(),
                )
                .unwrap_or_else(|e| panic!("{}: {e}", run.name));
                let mut check = c.check().await;
                if check.error.is_none() && check.checked_entity.is_none() {
                    // Every operation needs params, so the check ran none (at most a refresh):
                    // run the connector's first operation with sample params.
                    let op = &spec.operations[0];
                    let res =
                        c.execute(&op.entity, &op.action, support::required_params(op), &Default::default()).await;
                    check.error = res.err();
                }
                if let Some(api) = &run.refreshes {
                    let (access, refresh) =
                        fake.state.with_oauth(api, |o| (o.access_tokens.clone(), o.refresh_token.clone()));
                    assert!(!access.is_empty(), "{}: the refresh must have succeeded", run.name);
                    access.iter().for_each(|t| run.watch.add(t));
                    run.watch.add(&refresh);
                }
                let Some(err) = check.error else {
                    failures.push(format!("{}: the call succeeded; the echo fault was not hit", run.name));
                    continue;
                };
                assert!(!fake.requests().is_empty(), "{}: nothing was sent", run.name);
                // The echo reached the error (and was redacted there), or the test proves nothing.
                if !error_texts(&err).iter().any(|(_, text)| text.contains("****")) {
                    failures.push(format!("{}: the echoed request did not reach the error: {err:?}", run.name));
                }
                for (what, text) in error_texts(&err) {
                    scanned += 1;
                    for leak in run.watch.leaks(&text) {
                        failures.push(format!("{}: {leak} in the error's {what}: {text}", run.name));
                    }
                }
                all_watched.extend(&run.watch);
            }
        }
    }
    let captured = logs.text();
    assert!(captured.contains("TRACE") || captured.contains("DEBUG"), "the calls log at trace level");
    for leak in all_watched.leaks(&captured) {
        failures.push(format!("{leak} in the TRACE logs"));
    }
    assert!(schemes >= 9, "every auth scheme of every connector: {schemes}");
    assert!(failures.is_empty(), "{} leaks (of {scanned} texts scanned):\n{}", failures.len(), failures.join("\n"));
}
