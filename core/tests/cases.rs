//! Runs every `tests/cases/<slug>.yaml` against the fake upstream: each case executes one
//! operation in local mode and asserts every request the fake saw and the result.
//! One test per connector: `cargo test -p switchboard-core --test cases -- <slug>`.
//!
//! Every case and every pagination entry declares the requests it makes, in order, and the
//! runner checks their number and each one:
//! - `request: {...}`: exactly one request, matching this;
//! - `requests: [{...}, {...}]`: exactly these, in this order (token refreshes, retries, the
//!   pages of a pagination, the download after a lookup, ...);
//! - `requests: 0`: none (the call failed before anything was sent).
//!
//! A request expectation may give `method`, `path`, `query` (pairs that must be present),
//! `no_query` (keys that must be absent), `headers`, `body` (subset of the parsed JSON body) and
//! `form` (pairs of a form body). Besides `data` (subset match), `data_keys: [a, b]` says the
//! record (each record of a list) has exactly these keys: nothing unselected came back.
//!
//! Every record a case or a page returns must also have the JSON types its operation's record
//! schema declares (`Operation::record_schema`, from the spec's response schemas), so the specs
//! stay true to what the fakes (and the real APIs) send.
//!
//! Every successful list or search case runs again through `Connector::execute_json` (the
//! engine's path, which passes records through as text where it can), with the case's options
//! and with truncation on, and must give the same data, meta and next page as `execute`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use fake_upstream::{FakeUpstream, RecordedRequest};
use futures::StreamExt;
use serde_json::{Map, Value};
use switchboard_core::spec::ConnectorSpec;
use switchboard_core::{Connector, ConnectorOptions, ExecuteOptions, Registry};

mod support;
use support::records::check_record_types;

fn cases_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/cases")
}

/// `expected` is a subset of `actual`.
fn subset(expected: &Value, actual: &Value, at: &str, errs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                match a.get(k) {
                    Some(av) => subset(ev, av, &format!("{at}.{k}"), errs),
                    None => errs.push(format!("{at}.{k}: missing (expected {ev})")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                errs.push(format!("{at}: expected {} items, got {}", e.len(), a.len()));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                subset(ev, av, &format!("{at}[{i}]"), errs);
            }
        }
        (Value::Number(e), Value::Number(a)) if e.as_f64() == a.as_f64() => {}
        (e, a) if e == a => {}
        (e, a) => errs.push(format!("{at}: expected {e}, got {a}")),
    }
}

fn check_request(exp: &Value, req: &RecordedRequest, at: &str, errs: &mut Vec<String>) {
    let before = errs.len();
    if !exp.is_object() {
        errs.push(format!("{at}: an expected request is a mapping, got {exp}"));
        return;
    }
    if let Some(m) = exp.get("method").and_then(Value::as_str) {
        if !m.eq_ignore_ascii_case(&req.method) {
            errs.push(format!("request.method: expected {m}, got {}", req.method));
        }
    }
    if let Some(p) = exp.get("path").and_then(Value::as_str) {
        if p != req.path {
            errs.push(format!("request.path: expected {p}, got {}", req.path));
        }
    }
    if let Some(q) = exp.get("query").and_then(Value::as_object) {
        for (k, v) in q {
            let want = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !req.query.iter().any(|(qk, qv)| qk == k && *qv == want) {
                errs.push(format!("request.query: expected {k}={want}, got {:?}", req.query));
            }
        }
    }
    if let Some(nq) = exp.get("no_query").and_then(Value::as_array) {
        for k in nq.iter().filter_map(Value::as_str) {
            if req.query.iter().any(|(qk, _)| qk == k) {
                errs.push(format!("request.query: {k} must be absent, got {:?}", req.query));
            }
        }
    }
    if let Some(h) = exp.get("headers").and_then(Value::as_object) {
        for (k, v) in h {
            let got = req.headers.get(&k.to_ascii_lowercase());
            if got.map(String::as_str) != v.as_str() {
                errs.push(format!("request.headers.{k}: expected {v}, got {got:?}"));
            }
        }
    }
    if let Some(b) = exp.get("body") {
        subset(b, &req.body_parsed, "request.body", errs);
    }
    if let Some(f) = exp.get("form").and_then(Value::as_object) {
        let pairs: Vec<(String, String)> = serde_json::from_value(req.body_parsed.clone()).unwrap_or_default();
        for (k, v) in f {
            let want = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !pairs.iter().any(|(pk, pv)| pk == k && *pv == want) {
                errs.push(format!("request.form: expected {k}={want}, got {pairs:?}"));
            }
        }
    }
    if at != "request" {
        for e in &mut errs[before..] {
            *e = format!("{at} ({} {}): {}", req.method, req.path, e.trim_start_matches("request."));
        }
    }
}

/// The requests a case or pagination entry expects, in order.
fn expected_requests(case: &Value) -> Result<Vec<Value>, String> {
    match (case.get("request"), case.get("requests")) {
        (Some(_), Some(_)) => Err("give `request` (one) or `requests` (a list), not both".into()),
        (Some(r), None) => Ok(vec![r.clone()]),
        (None, Some(Value::Array(list))) => Ok(list.clone()),
        (None, Some(n)) if n.as_u64() == Some(0) => Ok(vec![]),
        (None, Some(other)) => {
            Err(format!("`requests` must list every request, in order (a count is only allowed for 0, got {other})"))
        }
        (None, None) => Err("declare the requests made: `request: {...}`, `requests: [...]` or `requests: 0`".into()),
    }
}

/// The fake saw exactly the `expected` requests, in order.
fn check_requests(case: &Value, reqs: &[RecordedRequest], host: &str, errs: &mut Vec<String>) {
    let seen = || {
        let lines: Vec<String> = reqs
            .iter()
            .map(|r| {
                format!(
                    "\n      {} {}{}{} {}",
                    r.method,
                    r.path,
                    if r.query_string.is_empty() { "" } else { "?" },
                    r.query_string,
                    r.body
                )
            })
            .collect();
        lines.concat()
    };
    let expected = match expected_requests(case) {
        Ok(e) => e,
        Err(e) => return errs.push(format!("{e}; the fake saw {}:{}", reqs.len(), seen())),
    };
    if expected.len() != reqs.len() {
        errs.push(format!("expected {} request(s) to the fake, got {}:{}", expected.len(), reqs.len(), seen()));
    }
    let single = case.get("request").is_some();
    for (i, (exp, req)) in expected.iter().zip(reqs).enumerate() {
        let at = if single { "request".to_string() } else { format!("requests[{i}]") };
        check_request(&support::fill(exp, host), req, &at, errs);
    }
}

/// `data_keys`: the record, or each record of a list, has exactly these keys.
fn check_keys(keys: &Value, data: &Value, errs: &mut Vec<String>) {
    let Some(want) = keys.as_array().map(|a| a.iter().filter_map(Value::as_str).collect::<BTreeSet<_>>()) else {
        return errs.push(format!("data_keys must be a list of names, got {keys}"));
    };
    let records: Vec<(String, &Value)> = match data {
        Value::Array(items) => items.iter().enumerate().map(|(i, r)| (format!("data[{i}]"), r)).collect(),
        other => vec![("data".to_string(), other)],
    };
    for (at, record) in records {
        match record.as_object() {
            Some(m) => {
                let got: BTreeSet<&str> = m.keys().map(String::as_str).collect();
                if got != want {
                    errs.push(format!("{at}: expected exactly the keys {want:?}, got {got:?}"));
                }
            }
            None => errs.push(format!("{at}: expected an object with the keys {want:?}, got {record}")),
        }
    }
}

struct File {
    slug: String,
    doc: Value,
}

fn load_files(filter: Option<&str>) -> Vec<File> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(cases_dir())
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    paths.retain(|p| p.extension().is_some_and(|e| e == "yaml"));
    paths.sort();
    for p in paths {
        let slug = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        if filter.is_some_and(|f| f != slug) {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        let doc: Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        out.push(File { slug, doc });
    }
    out
}

/// The spec file itself (not the embedded registry), so one connector's spec in progress cannot
/// break another's cases.
fn spec_of(file: &File) -> Result<ConnectorSpec, switchboard_core::Error> {
    let slug = file.doc.get("connector").and_then(Value::as_str).unwrap_or(&file.slug);
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../connectors/{slug}.yaml"));
    let text = std::fs::read_to_string(&path)
        .map_err(|e| switchboard_core::Error::configuration(format!("{}: {e}", path.display())))?;
    switchboard_core::spec::parse_spec(&format!("{slug}.yaml"), &text)
}

fn connector(file: &File, fake: &FakeUpstream, case: &Value) -> Result<Connector, switchboard_core::Error> {
    let spec = std::sync::Arc::new(spec_of(file)?);
    let host = format!("http://{}", fake.addr);
    let creds = case.get("credentials").or_else(|| file.doc.get("credentials")).cloned().unwrap_or(Value::Null);
    let mut config: Map<String, Value> = file.doc.get("config").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(c) = case.get("config").and_then(Value::as_object) {
        config.extend(c.clone());
    }
    config.entry("base_url").or_insert_with(|| Value::String(fake.base_url(&file.slug)));
    let options = ConnectorOptions {
        retry: Some(switchboard_core::spec::RetryConfig {
            max_attempts: 2,
            initial_delay_ms: 10,
            max_delay_ms: 50,
            max_elapsed_ms: 2000,
        }),
        ..ConnectorOptions::default()
    };
    Connector::new(spec, support::fill(&creds, &host), support::fill(&Value::Object(config), &host), options)
}

async fn run_file(file: &File, fake: &FakeUpstream) -> Vec<String> {
    let mut failures = Vec::new();
    let host = format!("http://{}", fake.addr);
    let empty = Vec::new();
    let spec = spec_of(file).ok();
    let mut passed_as_text = 0;
    let mut could_pass_as_text = false;
    for case in file.doc.get("cases").and_then(Value::as_array).unwrap_or(&empty) {
        let name = format!("{}: {}", file.slug, case.get("name").and_then(Value::as_str).unwrap_or("?"));
        fake.reset();
        let mut errs = Vec::new();
        let entity = case.get("entity").and_then(Value::as_str).unwrap_or_default();
        let action = case.get("action").and_then(Value::as_str).unwrap_or_default();
        let params = support::fill(&case.get("params").cloned().unwrap_or(Value::Object(Map::new())), &host);
        let result = match connector(file, fake, case) {
            Ok(c) => {
                c.execute(
                    entity,
                    action,
                    params.clone(),
                    &ExecuteOptions { skip_truncation: true, ..Default::default() },
                )
                .await
            }
            Err(e) => Err(e),
        };
        let reqs = fake.requests();
        match (case.get("error").and_then(Value::as_str), &result) {
            (Some(code), Err(e)) => {
                if e.code.as_str() != code {
                    errs.push(format!("expected error {code}, got {}: {}", e.code, e.message));
                }
                if let Some(t) = case.get("error_contains").and_then(Value::as_str) {
                    if !e.message.contains(t) {
                        errs.push(format!("error message should contain {t:?}: {}", e.message));
                    }
                }
            }
            (Some(code), Ok(r)) => errs.push(format!("expected error {code}, got data {}", r.data)),
            (None, Err(e)) => errs.push(format!("unexpected error {}: {}", e.code, e.message)),
            (None, Ok(r)) => {
                if let Some(n) = case.get("data_len").and_then(Value::as_u64) {
                    let got = r.data.as_array().map(Vec::len);
                    if got != Some(n as usize) {
                        errs.push(format!("data_len: expected {n}, got {got:?}"));
                    }
                }
                if let Some(d) = case.get("data") {
                    subset(d, &r.data, "data", &mut errs);
                }
                if let Some(m) = case.get("meta") {
                    subset(m, &Value::Object(r.meta.clone()), "meta", &mut errs);
                }
                if let Some(k) = case.get("data_keys") {
                    check_keys(k, &r.data, &mut errs);
                }
                // The spec's response schemas are true to what the fake sends.
                if let Some(op) = spec.as_ref().and_then(|s| s.operation(entity, action)) {
                    check_record_types(op, &r.data, &mut errs);
                }
            }
        }
        check_requests(case, &reqs, &host, &mut errs);
        let op = spec.as_ref().and_then(|s| s.operation(entity, action));
        let listed = op.is_some_and(|op| op.returns_list());
        could_pass_as_text |= op.is_some_and(|op| op.raw_record_path().is_some())
            && result.as_ref().is_ok_and(|r| r.data.as_array().is_some_and(|a| !a.is_empty()));
        if let (true, None, Ok(_)) = (listed, case.get("error"), &result) {
            match same_as_json(file, fake, case, entity, action, &params).await {
                Ok(true) => passed_as_text += 1,
                Ok(false) => {}
                Err(e) => errs.push(e),
            }
        }
        if !errs.is_empty() {
            failures.push(format!("{name}\n    {}", errs.join("\n    ")));
        }
    }
    // The path is taken, not only allowed: some case of a connector with such lists passed its
    // records through as text.
    if could_pass_as_text && passed_as_text == 0 {
        failures.push(format!("{}: no list case passed its records through as text", file.slug));
    }
    for pg in file.doc.get("pagination").and_then(Value::as_array).unwrap_or(&empty) {
        let name = format!("{} pagination: {}", file.slug, pg.get("name").and_then(Value::as_str).unwrap_or("?"));
        fake.reset();
        let c = match connector(file, fake, pg) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{name}\n    {e}"));
                continue;
            }
        };
        let entity = pg.get("entity").and_then(Value::as_str).unwrap_or_default();
        let action = pg.get("action").and_then(Value::as_str).unwrap_or_default();
        let params = pg.get("params").cloned().unwrap_or(Value::Object(Map::new()));
        let pages: Vec<_> = c.paginate(entity, action, params, ExecuteOptions::default()).collect().await;
        let mut errs = Vec::new();
        let mut total = 0;
        let op = spec.as_ref().and_then(|s| s.operation(entity, action));
        for p in &pages {
            match p {
                Ok(r) => {
                    total += r.data.as_array().map(Vec::len).unwrap_or(0);
                    if let Some(op) = op {
                        check_record_types(op, &r.data, &mut errs);
                    }
                }
                Err(e) => errs.push(format!("page failed: {e}")),
            }
        }
        if let Some(n) = pg.get("pages").and_then(Value::as_u64) {
            if pages.len() as u64 != n {
                errs.push(format!("expected {n} pages, got {}", pages.len()));
            }
        }
        if let Some(n) = pg.get("total").and_then(Value::as_u64) {
            if total as u64 != n {
                errs.push(format!("expected {n} records in all, got {total}"));
            }
        }
        check_requests(pg, &fake.requests(), &host, &mut errs);
        if !errs.is_empty() {
            failures.push(format!("{name}\n    {}", errs.join("\n    ")));
        }
    }
    failures
}

/// Runs the case again through `execute` and `execute_json`, with the case's options and with
/// truncation on (each call on a new handle against a freshly reset fake), and compares what
/// `execute_json` writes out with what `execute` gives: the same data, meta and next page, or
/// the same error (a case whose single-use refresh token the first run spent fails both ways).
/// `Ok(true)` when the records passed through as text.
async fn same_as_json(
    file: &File,
    fake: &FakeUpstream,
    case: &Value,
    entity: &str,
    action: &str,
    params: &Value,
) -> Result<bool, String> {
    let handle = || connector(file, fake, case).map_err(|e| format!("execute_json: {e}"));
    let mut as_text = false;
    for truncate in [false, true] {
        let opts = ExecuteOptions { skip_truncation: !truncate, ..Default::default() };
        fake.reset();
        let want = handle()?.execute(entity, action, params.clone(), &opts).await;
        fake.reset();
        let got = handle()?.execute_json(entity, action, params.clone(), &opts).await;
        let (want, got) = match (want, got) {
            (Ok(want), Ok(got)) => (want, got),
            (Err(a), Err(b)) if a.code == b.code => continue,
            (want, got) => {
                return Err(format!(
                    "execute_json (truncation {truncate}): {:?}, execute: {:?}",
                    got.map(|_| "data").map_err(|e| e.code),
                    want.map(|_| "data").map_err(|e| e.code)
                ))
            }
        };
        as_text |= matches!(got.data, switchboard_core::JsonData::Records(_));
        let text = serde_json::to_string(&got.data).map_err(|e| e.to_string())?;
        let data: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        if data != want.data || got.meta != want.meta || got.next_page != want.next_page {
            return Err(format!(
                "execute_json (truncation {truncate}) differs from execute:\n      {text}\n      {}\n      meta {:?} / {:?}\n      next {:?} / {:?}",
                want.data, got.meta, want.meta, got.next_page, want.next_page
            ));
        }
    }
    Ok(as_text)
}

async fn run_connector(slug: &str) {
    let files = load_files(Some(slug));
    assert_eq!(files.len(), 1, "no case file tests/cases/{slug}.yaml");
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("fake: {e}"));
    let count = files[0].doc.get("cases").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
    assert!(count > 0, "no cases in tests/cases/{slug}.yaml");
    let failures = run_file(&files[0], &fake).await;
    assert!(failures.is_empty(), "{} of {count} {slug} cases failed:\n{}", failures.len(), failures.join("\n"));
    eprintln!("{count} {slug} cases passed");
}

macro_rules! connector_tests {
    ($($slug:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $slug() {
                // Slugs are spelled with `-` (google-drive); a Rust name uses `_` in its place.
                run_connector(&stringify!($slug).replace('_', "-")).await;
            }
        )*

        /// Every case file has its test above, and every built-in connector has a case file.
        #[test]
        fn every_connector_has_cases() {
            let known = [$(stringify!($slug).replace('_', "-")),*];
            for f in load_files(None) {
                assert!(known.contains(&f.slug), "tests/cases/{}.yaml has no test in core/tests/cases.rs", f.slug);
            }
            let reg = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
            for spec in reg.all() {
                assert!(known.contains(&spec.slug), "connector {} has no tests/cases file", spec.slug);
            }
        }
    };
}

connector_tests!(
    github,
    stripe,
    hubspot,
    gong,
    linear,
    slack,
    notion,
    jira,
    google_drive,
    intercom,
    salesforce,
    gmail,
    asana,
    zendesk_support,
    zendesk_chat,
    zendesk_talk,
    shopify,
    greenhouse,
    gitlab,
    freshdesk,
    sentry,
    typeform,
    granola,
    exa,
    confluence,
    airtable,
    outreach,
    chargebee,
    woocommerce,
    harvest,
    amplitude,
    reddit_ads,
    monday,
    zoho_crm,
    pylon,
    clickup_api,
    linkedin_ads,
    twilio,
    sendgrid,
    customer_io,
    incident_io,
    mailchimp,
    ashby,
    klaviyo,
    orb,
    snowflake,
    google_analytics_data_api,
    paypal_transaction,
    google_search_console,
    google_ads,
    facebook_marketing,
    pinterest,
    snapchat_marketing,
    tiktok_marketing,
    amazon_ads,
    amazon_seller_partner,
);

/// Operations of the built-in connectors without a record schema, and why: deletes, downloads
/// and writes the provider documents as answering without a body.
const NO_RECORD_SCHEMA: &[(&str, &str, &str, &str)] = &[
    ("gong", "call_audio", "download", "the recording's bytes, not JSON"),
    ("gong", "call_video", "download", "the recording's bytes, not JSON"),
    ("hubspot", "notes", "delete", "204 No Content"),
    ("hubspot", "calls", "delete", "204 No Content"),
    ("hubspot", "emails", "delete", "204 No Content"),
    ("hubspot", "meetings", "delete", "204 No Content"),
    ("hubspot", "tasks", "delete", "204 No Content"),
    ("hubspot", "associations", "delete", "204 No Content"),
    ("jira", "issues", "delete", "204 No Content"),
    ("jira", "issue_comments", "delete", "204 No Content"),
    ("jira", "issues_assignee", "update", "204 No Content (Atlassian documents no body)"),
    ("jira", "issue_transitions", "create", "204 No Content (Atlassian documents no body)"),
    ("jira", "issue_links", "create", "201 Created without a body (Atlassian documents none)"),
    ("google-drive", "files", "delete", "204 No Content"),
    ("google-drive", "files", "download", "the file's bytes, not JSON"),
    ("google-drive", "files_export", "download", "the exported bytes, not JSON"),
    ("gmail", "labels", "delete", "204 No Content"),
    ("gmail", "drafts", "delete", "204 No Content"),
    ("salesforce", "sobjects", "update", "204 No Content"),
    ("salesforce", "accounts", "update", "204 No Content"),
    ("salesforce", "contacts", "update", "204 No Content"),
    ("salesforce", "leads", "update", "204 No Content"),
    ("salesforce", "opportunities", "update", "204 No Content"),
    ("salesforce", "tasks", "update", "204 No Content"),
    ("salesforce", "events", "update", "204 No Content"),
    ("salesforce", "campaigns", "update", "204 No Content"),
    ("salesforce", "cases", "update", "204 No Content"),
    ("salesforce", "notes", "update", "204 No Content"),
    ("salesforce", "users", "update", "204 No Content"),
    ("salesforce", "sobjects", "delete", "204 No Content"),
    ("salesforce", "accounts", "delete", "204 No Content"),
    ("salesforce", "contacts", "delete", "204 No Content"),
    ("salesforce", "leads", "delete", "204 No Content"),
    ("salesforce", "opportunities", "delete", "204 No Content"),
    ("salesforce", "tasks", "delete", "204 No Content"),
    ("salesforce", "events", "delete", "204 No Content"),
    ("salesforce", "campaigns", "delete", "204 No Content"),
    ("salesforce", "cases", "delete", "204 No Content"),
    ("salesforce", "notes", "delete", "204 No Content"),
    ("salesforce", "content_versions", "download", "the file's bytes, not JSON"),
    ("salesforce", "attachments", "download", "the attachment's bytes, not JSON"),
    ("intercom", "tags", "delete", "200 with an empty body"),
    ("asana", "tasks", "delete", "an empty data object ({\"data\": {}})"),
    ("asana", "projects", "delete", "an empty data object"),
    ("asana", "sections", "delete", "an empty data object"),
    ("asana", "tags", "delete", "an empty data object"),
    ("asana", "task_tags", "delete", "an empty data object (POST removeTag)"),
    ("asana", "task_tags", "create", "an empty data object (POST addTag)"),
    ("asana", "section_tasks", "create", "an empty data object (POST addTask)"),
    ("asana", "attachments", "download", "the file's bytes, not JSON"),
    ("greenhouse", "attachments", "download", "the file's bytes, not JSON (fetched from the URL the lookup answers)"),
    ("linkedin-ads", "accounts", "create", "201 with an empty body; the id is in x-restli-id (meta created_id)"),
    ("linkedin-ads", "accounts", "update", "204 No Content"),
    ("linkedin-ads", "account_users", "create", "201 or 204 without a body"),
    ("linkedin-ads", "account_users", "update", "204 No Content"),
    ("linkedin-ads", "account_users", "delete", "204 No Content"),
    ("linkedin-ads", "accounts", "delete", "204 No Content"),
    ("linkedin-ads", "campaigns", "create", "201 with an empty body; the id is in x-restli-id (meta created_id)"),
    ("linkedin-ads", "campaigns", "update", "204 No Content"),
    ("linkedin-ads", "campaigns", "delete", "204 No Content"),
    ("linkedin-ads", "campaign_groups", "create", "201 with an empty body; the id is in x-restli-id (meta created_id)"),
    ("linkedin-ads", "campaign_groups", "update", "204 No Content"),
    ("linkedin-ads", "campaign_groups", "delete", "204 No Content"),
    ("linkedin-ads", "creatives", "create", "201 with an empty body; the id is in x-restli-id (meta created_id)"),
    ("linkedin-ads", "creatives", "update", "204 No Content"),
    ("linkedin-ads", "creatives", "delete", "204 No Content"),
    ("linkedin-ads", "conversions", "create", "201 with an empty body; the id is in x-restli-id (meta created_id)"),
    ("linkedin-ads", "conversions", "update", "204 No Content"),
    ("linkedin-ads", "campaign_conversions", "create", "201 or 204 without a body"),
    ("linkedin-ads", "campaign_conversions", "delete", "204 No Content"),
];

/// Every operation of the built-in connectors declares the schema of its records, with at least
/// one property, except the deletes and downloads listed above.
#[test]
fn every_record_operation_has_a_record_schema() {
    let reg = Registry::builtin().unwrap_or_else(|e| panic!("{e}"));
    let mut faults = Vec::new();
    let mut exempt_seen = Vec::new();
    for spec in reg.all() {
        for op in &spec.operations {
            let name = format!("{}: {}.{}", spec.slug, op.entity, op.action);
            let exempt =
                NO_RECORD_SCHEMA.iter().any(|(s, e, a, _)| *s == spec.slug && *e == op.entity && *a == op.action);
            if exempt {
                exempt_seen.push((spec.slug.clone(), op.entity.clone(), op.action.clone()));
                assert!(
                    matches!(op.action.as_str(), "delete" | "download") || op.record_schema().is_none(),
                    "{name}: only deletes, downloads and bodiless writes may go without a record schema"
                );
                assert!(op.record_schema().is_none(), "{name} is exempt yet has a record schema: drop the exemption");
                continue;
            }
            match op.record_schema() {
                None => faults.push(format!("{name} has no record schema ({})", op.pointer)),
                Some(s) if s.get("properties").and_then(Value::as_object).is_none_or(|p| p.is_empty()) => {
                    faults.push(format!("{name} has a record schema without properties ({})", op.pointer))
                }
                Some(_) => {}
            }
        }
    }
    for (s, e, a, _) in NO_RECORD_SCHEMA {
        assert!(
            exempt_seen.iter().any(|x| x.0 == *s && x.1 == *e && x.2 == *a),
            "the exemption {s}: {e}.{a} names no operation"
        );
    }
    assert!(faults.is_empty(), "operations without a record schema:\n  {}", faults.join("\n  "));
}
