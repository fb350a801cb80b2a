//! The kit's own checks: malformed files are rejected, calls are resolved as runners expect,
//! outcomes are compared as the README says, and a runner cannot skip a scenario unnoticed.

use std::collections::HashMap;
use std::path::Path;

use conformance_kit::check::check;
use conformance_kit::drive::shuffled;
use conformance_kit::format::{method, parse, validate, Expect};
use conformance_kit::plan::{resolve, Vars};
use conformance_kit::{run, Call, Engine, ErrorOutcome, Options, Outcome, Plan, Runner, Status, Suite, World};
use serde_json::{json, Value};

const OK: &str = r#"
scenarios:
  - name: fine
    local: {gh: {connector: github, credentials: {personal_access_token: "{creds.github_token}"}, config: {base_url: "{fake.github}"}}}
    steps:
      - {call: local.execute, on: gh, args: {entity: issues, action: list, params: {owner: octo, repo: hello}}, expect: {data_len: 5}}
"#;

fn problems(yaml: &str) -> String {
    match parse(yaml) {
        Err(e) => e,
        Ok(doc) => validate(&[("t.yaml".to_string(), doc)]).join("\n"),
    }
}

fn suite(yaml: &str) -> Suite {
    let doc = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(validate(&[("t.yaml".to_string(), doc)]), Vec::<String>::new());
    let doc = parse(yaml).unwrap_or_else(|e| panic!("{e}"));
    Suite { scenarios: doc.scenarios.into_iter().map(|s| ("t.yaml".to_string(), s)).collect() }
}

#[test]
fn malformed_scenarios_are_rejected() {
    assert_eq!(problems(OK), "");
    let hosted = "scenarios:\n  - name: h\n    setup: {engine: true}\n    steps:\n      - {call: workspace.list_connectors, args: {workspace_name: WS}}\n";
    let cases = [
        (OK.replace("local.execute", "local.run"), "unknown method"),
        (OK.replace("data_len: 5", "pages: 5"), "expect.pages does not apply"),
        (OK.replace("expect:", "expected:"), "unknown field"),
        (OK.replace("entity: issues, ", ""), "\"entity\" is required"),
        (OK.replace("action: list", "action: list, limit: 3"), "unknown argument \"limit\""),
        (OK.replace("on: gh", "on: nope"), "no local handle"),
        (OK.replace("{fake.github}", "{fake.jira}"), "unknown placeholder {fake.jira}"),
        (OK.replace("expect: {data_len: 5}", "expect: {error: {code: oops}}"), "unknown error code"),
        (OK.replace("name: fine", "name: fine\n    requires: [teleport]"), "unknown capability"),
        (OK.replace("call: local.execute, on: gh", "call: executor.execute"), "needs setup.engine"),
        (format!("{OK}{}", OK.replace("scenarios:\n", "")), "also used"),
        (OK.replace("data_len: 5", "data_len: five"), "invalid type"),
        (hosted.replace("WS", "shared"), "must contain {workspace}"),
        ("scenarios: [".to_string(), "malformed"),
    ];
    for (yaml, want) in cases {
        let got = problems(&yaml);
        assert!(got.contains(want), "expected a problem containing {want:?}, got {got:?} for:\n{yaml}");
    }
    assert_eq!(problems(&hosted.replace("WS", "\"{workspace}-b\"")), "");
}

#[test]
fn the_suite_is_well_formed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conformance");
    let suite = Suite::load(&dir).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    let plan = Plan::new(&suite, None);
    assert!(plan.scenarios.len() >= 40, "only {} scenarios", plan.scenarios.len());
    let mut seen = HashMap::new();
    for sc in &plan.scenarios {
        assert_eq!(seen.insert(sc.workspace.clone(), sc.name.clone()), None, "workspace {} twice", sc.workspace);
    }
}

#[test]
fn the_order_is_shuffled_the_same_way_everywhere() {
    let a = shuffled(64, 1);
    assert_eq!(a, shuffled(64, 1));
    assert_ne!(a, (0..64).collect::<Vec<_>>());
    assert_ne!(a, shuffled(64, 2));
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..64).collect::<Vec<_>>());
}

fn vars() -> Vars {
    Vars {
        fake: "http://127.0.0.1:1".into(),
        closed: "http://127.0.0.1:2".into(),
        workspace: "conformance-007".into(),
        ids: HashMap::from([("gh".to_string(), "c-1".to_string())]),
    }
}

#[test]
fn calls_have_the_shapes_of_the_sdk_types() {
    let yaml = r#"
scenarios:
  - name: h
    requires: [hosted_timeout]
    setup:
      engine: true
      connectors: [{save_as: gh, connector_type: github, credentials: {personal_access_token: "{creds.github_token}"}, config: {base_url: "{fake.github}"}}]
    steps:
      - {call: executor.execute, client: {timeout_ms: 500}, args: {connector_id: "{gh}", entity: issues, action: list, select_fields: [id]}}
      - {call: executor.check, args: {connector_definition_id: github}}
      - {call: connect, args: {slug: github}, save_as: ex}
"#;
    let plan = Plan::new(&suite(yaml), None);
    let engine = Engine { base_url: "http://e".into(), client_id: "id".into(), client_secret: "s".into() };
    let calls: Vec<Call> = plan.scenarios[0]
        .steps
        .iter()
        .map(|s| resolve(s, &vars(), Some(&engine)).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let j = |c: &Call| serde_json::to_value(c).unwrap_or_default();
    assert_eq!(
        j(&calls[0]),
        json!({"call": "workspace.create_connector",
               "client": {"base_url": "http://e", "client_id": "id", "client_secret": "s"},
               "workspace_name": "conformance-007",
               "connector": {"connector_type": "github", "credentials": {"personal_access_token": "ghp_fake_valid_token_0001"},
                             "config": {"base_url": "http://127.0.0.1:1/github"}}})
    );
    assert_eq!(
        j(&calls[1]),
        json!({"call": "executor.execute",
               "client": {"base_url": "http://e", "client_id": "id", "client_secret": "s", "timeout": 0.5},
               "target": {"connector_id": "c-1"},
               "request": {"entity": "issues", "action": "list", "params": {}, "select_fields": ["id"],
                           "exclude_fields": [], "skip_truncation": false}})
    );
    assert_eq!(
        j(&calls[2])["target"],
        json!({"workspace_name": "conformance-007", "connector_definition_id": "github"})
    );
    assert_eq!(j(&calls[3])["save_as"], json!("ex"));
    assert_eq!(j(&calls[3])["slug"], json!("github"));
}

#[test]
fn outcomes_are_compared_as_the_readme_says() {
    let exp = |v: Value| -> Expect { serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}")) };
    let shape = |name: &str| method(name).map(|m| m.shape).unwrap_or_else(|| panic!("{name}"));
    let value = |v: Value| Outcome::Value(v);
    let exec = shape("local.execute");
    let page = json!({"data": [{"id": 1, "n": 2}, {"id": 2}], "meta": {"has_next_page": true, "end_cursor": "x"}});
    assert!(check(
        &exp(json!({"data": [{"id": 1.0}, {}], "data_len": 2, "meta": {"has_next_page": true}})),
        exec,
        &value(page.clone()),
        &vars()
    )
    .is_empty());
    assert!(!check(&exp(json!({"data": [{"id": 1}]})), exec, &value(page.clone()), &vars()).is_empty());
    assert!(
        !check(&exp(json!({"data_equals": [{"id": 1}, {"id": 2}]})), exec, &value(page.clone()), &vars()).is_empty()
    );
    assert!(!check(&exp(json!({"absent": ["n"]})), exec, &value(page.clone()), &vars()).is_empty());
    let pages = json!([page, {"data": [{"id": 3}]}]);
    let paginate = shape("local.paginate");
    assert!(check(
        &exp(json!({"pages": 2, "total": 3, "page_lengths": [2, 1], "records": [{}, {}, {"id": 3}]})),
        paginate,
        &value(pages),
        &vars()
    )
    .is_empty());
    let err = Outcome::Error(ErrorOutcome {
        code: "rate_limited".into(),
        message: "slow down, conformance-007".into(),
        status_code: Some(429),
        retry_after: Some(1.0),
        request_id: Some("r".into()),
        ..Default::default()
    });
    let want = |e: Value| exp(json!({"error": e}));
    let good = json!({"code": "rate_limited", "status_code": 429, "retry_after": 1, "request_id": true, "message_contains": "{workspace}"});
    assert!(check(&want(good), exec, &err, &vars()).is_empty());
    assert!(!check(&want(json!({"code": "rate_limited", "message_excludes": ["{workspace}"]})), exec, &err, &vars())
        .is_empty());
    assert!(!check(&want(json!({"code": "network"})), exec, &err, &vars()).is_empty());
    assert!(!check(&want(json!({"code": "rate_limited", "request_id": false})), exec, &err, &vars()).is_empty());
    assert!(!check(&exp(json!({})), exec, &err, &vars()).is_empty(), "an error where none is expected fails");
    assert!(!check(&want(json!({"code": "network"})), exec, &value(json!({"data": []})), &vars()).is_empty());
    assert!(!check(&exp(json!({})), exec, &Outcome::Fail("boom".into()), &vars()).is_empty());
    let value_shape = shape("workspace.list_connectors");
    assert!(check(
        &exp(json!({"count": 1, "value": [{"id": "{gh}"}]})),
        value_shape,
        &value(json!([{"id": "c-1", "name": "n"}])),
        &vars()
    )
    .is_empty());
    let outcome: Outcome =
        serde_json::from_str(r#"{"error": {"code": "not_found", "message": "m", "class": "ConnectorNotFoundError"}}"#)
            .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(outcome, Outcome::Error(ref e) if e.class.as_deref() == Some("ConnectorNotFoundError")));
    assert!(serde_json::from_str::<Outcome>(r#"{"value": 1, "error": {}}"#).is_err());
}

/// Answers the first call of each scenario with a value, then gives up.
struct Quitter {
    calls: usize,
}

impl Runner for Quitter {
    fn begin(&mut self, _: &str) -> Result<(), String> {
        Ok(())
    }

    async fn call(&mut self, _: &Call) -> Result<Outcome, String> {
        self.calls += 1;
        match self.calls {
            1 => Ok(Outcome::Value(json!({"data": [1, 2, 3, 4, 5], "meta": {}}))),
            _ => Err("gone".into()),
        }
    }
}

#[tokio::test]
async fn a_runner_cannot_skip_a_scenario_unnoticed() {
    let yaml = format!(
        "{OK}{}{}",
        OK.replace("scenarios:\n", "").replace("name: fine", "name: second"),
        OK.replace("scenarios:\n", "").replace("name: fine", "name: timed\n    requires: [local_timeout]"),
    );
    let plan = Plan::new(&suite(&yaml), None);
    let world = World::start(None).await.unwrap_or_else(|e| panic!("{e}"));
    let report = run(&plan, &world, &mut Quitter { calls: 0 }, &Options::new("test", &[])).await;
    let by_name: HashMap<&str, &Status> = report.results.iter().map(|r| (r.name.as_str(), &r.status)).collect();
    assert_eq!(report.results.len(), 3);
    assert!(matches!(by_name["timed"], Status::Skipped(why) if why.contains("local_timeout")), "{by_name:?}");
    let failed = report.results.iter().filter(|r| matches!(r.status, Status::Failed(_) | Status::NotRun(_))).count();
    assert_eq!(failed, 1, "{}", report.text());
    assert!(!report.ok());
    assert_eq!(report.counts(), (1, 1, 1), "{}", report.text());
}
