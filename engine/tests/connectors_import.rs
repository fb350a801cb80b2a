//! `switchboard connectors import` on real, public OpenAPI documents, run as a user runs it,
//! and the drafts it writes executing against the generic fake upstream.
//!
//! The documents: the Swagger Petstore (OpenAPI 3.0 and 3.1, YAML, vendored in
//! `tests/openapi/` with their source) and GitHub's REST API description (OpenAPI 3.0.3, JSON,
//! 13 MB) from the npm package `@octokit/openapi`, fetched at a pinned version with `npm pack`
//! into `$HOME/.cache/switchboard-openapi/`. A test fails, never skips, when it cannot have it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use fake_upstream::FakeUpstream;
use serde_json::{json, Value};
use switchboard_core::spec::{parse_spec, ConnectorSpec};

const OCTOKIT_VERSION: &str = "23.0.2";

fn switchboard() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    c.env_remove("SWITCHBOARD_SPECS").env_remove("SWITCHBOARD_CREDENTIALS");
    c
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn petstore(version: &str) -> PathBuf {
    repo().join(format!("tests/openapi/petstore-{version}.yaml"))
}

/// GitHub's REST description, from `npm pack @octokit/openapi@<pinned>` (cached).
fn github_doc() -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let home = std::env::var_os("HOME").unwrap_or_else(|| panic!("HOME is not set"));
    let dir = PathBuf::from(home).join(".cache/switchboard-openapi").join(format!("octokit-openapi-{OCTOKIT_VERSION}"));
    let doc = dir.join("package/generated/api.github.com.json");
    if doc.is_file() {
        return doc;
    }
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let out = Command::new("npm")
        .args(["pack", &format!("@octokit/openapi@{OCTOKIT_VERSION}"), "--pack-destination"])
        .arg(&dir)
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| panic!("npm is needed to fetch @octokit/openapi@{OCTOKIT_VERSION}: {e}"));
    assert!(
        out.status.success(),
        "npm pack @octokit/openapi@{OCTOKIT_VERSION} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tgz = dir.join(format!("octokit-openapi-{OCTOKIT_VERSION}.tgz"));
    let out = Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .args(["-C"])
        .arg(&dir)
        .arg("package/generated/api.github.com.json")
        .output()
        .unwrap_or_else(|e| panic!("cannot run tar: {e}"));
    assert!(out.status.success(), "cannot unpack {}: {}", tgz.display(), String::from_utf8_lossy(&out.stderr));
    assert!(doc.is_file(), "{} is not in the package", doc.display());
    doc
}

/// Runs `connectors import`; the draft text, the stderr summary and the loaded spec.
fn import(doc: &Path, name: Option<&str>, out: &Path) -> (String, String, ConnectorSpec) {
    let mut cmd = switchboard();
    cmd.args(["connectors", "import"]).arg(doc).arg("--out").arg(out);
    if let Some(n) = name {
        cmd.args(["--name", n]);
    }
    let o = cmd.output().unwrap_or_else(|e| panic!("cannot run switchboard: {e}"));
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "import failed: {stderr}");
    let text = std::fs::read_to_string(out).unwrap_or_else(|e| panic!("{e}"));
    // The draft loads with core's own loader.
    let spec = parse_spec("draft.yaml", &text).unwrap_or_else(|e| panic!("the draft does not load: {}", e.message));
    (text, stderr, spec)
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("switchboard-import-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap_or_else(|e| panic!("{e}"));
    d
}

fn op_at<'a>(spec: &'a ConnectorSpec, entity: &str, action: &str) -> &'a switchboard_core::spec::Operation {
    spec.operation(entity, action).unwrap_or_else(|| {
        let all: Vec<String> = spec.operations.iter().map(|o| format!("{}.{}", o.entity, o.action)).collect();
        panic!("no {entity}.{action} in the draft; it has {all:?}")
    })
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn petstore_3_0_becomes_a_draft_with_its_guesses_flagged() {
    let dir = tempdir("pet30");
    let (text, stderr, spec) = import(&petstore("3.0"), None, &dir.join("petstore.yaml"));
    assert_eq!(spec.slug, "swagger-petstore");
    assert_eq!(spec.server_url, "http://petstore.swagger.io/v1");
    let ops: Vec<String> =
        spec.operations.iter().map(|o| format!("{}.{} {} {}", o.entity, o.action, o.method, o.path)).collect();
    assert_eq!(ops, ["pets.list GET /pets", "pets.create POST /pets", "pets.get GET /pets/{petId}"]);
    let list = op_at(&spec, "pets", "list");
    assert!(list.param("limit").is_some());
    let record = list.record_schema().unwrap_or_else(|| panic!("pets.list has no record schema"));
    assert_eq!(record["required"], json!(["id", "name"]), "{record}");
    assert!(op_at(&spec, "pets", "get").param("petId").is_some_and(|p| p.required));

    let doc = yaml(&text);
    let get = &doc["paths"]["/pets"]["get"];
    assert_eq!(get["x-meta-extractor"], json!({"next": "@header.x-next"}));
    let notes = get["x-review"].as_array().unwrap_or_else(|| panic!("no x-review on pets.list: {get}"));
    assert!(
        notes.iter().any(|n| n
            .as_str()
            .is_some_and(|n| n.starts_with("pagination guessed: next page in the `x-next` response header"))),
        "{notes:?}"
    );
    // Integer response keys of the YAML document stay response codes.
    assert!(doc["paths"]["/pets"]["post"]["responses"].get("201").is_some());
    assert!(doc["components"]["schemas"].get("Pet").is_some() && doc["components"]["schemas"].get("Error").is_some());

    // Every guess is listed on stderr.
    assert!(stderr.starts_with("imported connector swagger-petstore: 3 operations on 1 entities"), "{stderr}");
    for needle in [
        "pets.list (GET /pets): pagination guessed",
        "pets.create (POST /pets): a create without a request body",
        "pets.get (GET /pets/{petId}): a GET on an item that answers an array",
        "document: no usable security scheme in the document: a bearer token scheme",
    ] {
        assert!(stderr.contains(needle), "{needle:?} missing from:\n{stderr}");
    }
}

#[test]
fn petstore_3_1_imports_and_the_output_goes_to_stdout_without_out() {
    let o = switchboard()
        .args(["connectors", "import", "--name", "Pets 3.1"])
        .arg(petstore("3.1"))
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("# DRAFT connector spec"), "{text}");
    let spec = parse_spec("pets.yaml", &text).unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(spec.slug, "pets-3-1");
    assert_eq!(spec.operations.len(), 3);
}

#[test]
fn a_document_that_is_not_openapi_3_is_refused() {
    let dir = tempdir("bad");
    let f = dir.join("swagger.yaml");
    std::fs::write(&f, "swagger: '2.0'\ninfo: {title: x, version: '1'}\npaths: {}\n").unwrap_or_else(|e| panic!("{e}"));
    let o = switchboard().args(["connectors", "import"]).arg(&f).output().unwrap_or_else(|e| panic!("{e}"));
    assert!(!o.status.success());
    let err: Value = serde_json::from_str(String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(err["code"], "configuration");
    assert!(err["message"].as_str().is_some_and(|m| m.contains("Swagger 2.0")), "{err}");
}

#[test]
fn githubs_rest_description_becomes_a_loadable_draft() {
    let doc = github_doc();
    let dir = tempdir("github");
    let (text, stderr, spec) = import(&doc, Some("github-rest"), &dir.join("a.yaml"));
    assert_eq!(spec.slug, "github-rest");
    assert_eq!(spec.server_url, "https://api.github.com");
    // Every GET/POST/PUT/PATCH/DELETE of the document is one operation, none lost to a collision.
    let source: Value = serde_json::from_str(&std::fs::read_to_string(&doc).unwrap_or_default()).unwrap_or_default();
    let expected: usize = source["paths"]
        .as_object()
        .map(|p| {
            p.values()
                .map(|item| {
                    ["get", "post", "put", "patch", "delete"].iter().filter(|m| item.get(**m).is_some()).count()
                })
                .sum()
        })
        .unwrap_or(0);
    assert!(expected > 1000, "{expected}");
    assert_eq!(spec.operations.len(), expected);

    // A resource's operations share an entity; a second `issues` collection is qualified.
    for (entity, action, method, path) in [
        ("issues", "list", "GET", "/issues"),
        ("repos_issues", "list", "GET", "/repos/{owner}/{repo}/issues"),
        ("repos_issues", "create", "POST", "/repos/{owner}/{repo}/issues"),
        ("repos_issues", "get", "GET", "/repos/{owner}/{repo}/issues/{issue_number}"),
        ("repos_issues", "update", "PATCH", "/repos/{owner}/{repo}/issues/{issue_number}"),
        ("orgs_issues", "list", "GET", "/orgs/{org}/issues"),
        ("issues", "search", "GET", "/search/issues"),
        ("pulls", "list", "GET", "/repos/{owner}/{repo}/pulls"),
    ] {
        let op = op_at(&spec, entity, action);
        assert_eq!((op.method.as_str(), op.path.as_str()), (method, path), "{entity}.{action}");
    }
    let list = op_at(&spec, "repos_issues", "list");
    for p in ["owner", "repo", "state", "labels", "per_page", "page"] {
        assert!(list.param(p).is_some(), "repos_issues.list lacks {p}");
    }
    assert!(list.record_schema().is_some_and(|s| s["properties"].get("number").is_some()));
    let create = op_at(&spec, "repos_issues", "create");
    assert!(create.param("title").is_some_and(|p| p.required), "the JSON body's properties are params");
    // A list answer that wraps its array gets a guessed extractor, flagged.
    let d = yaml(&text);
    let runs = &d["paths"]["/repos/{owner}/{repo}/actions/runs"]["get"];
    assert_eq!(runs["x-record-extractor"], "$.workflow_runs");
    assert_eq!(
        d["paths"]["/repos/{owner}/{repo}/issues"]["get"]["x-meta-extractor"],
        json!({"next_url": "@link.next"})
    );

    assert!(stderr.contains("renamed:"), "{stderr}");
    assert!(stderr.contains("GET /orgs/{org}/issues -> orgs_issues.list (issues.list is GET /issues)"), "{stderr}");
    assert!(stderr.contains("pagination guessed: Link header (rel=next) with `page`"), "{stderr}");
    assert!(stderr.contains("document: no usable security scheme"), "{stderr}");
    assert_eq!(spec.auth_schemes.len(), 1, "a bearer scheme is added, flagged");

    // Deterministic: the same document gives the same draft.
    let (again, _, _) = import(&doc, Some("github-rest"), &dir.join("b.yaml"));
    assert!(again == text, "two imports of one document differ");
}

fn exec(specs: &Path, slug: &str, entity: &str, action: &str, params: Value, base_url: &str) -> Value {
    let o = switchboard()
        .arg("--specs")
        .arg(specs)
        .args(["exec", slug, entity, action, "--params", &params.to_string()])
        .args(["--config", &json!({"base_url": base_url}).to_string()])
        .args(["--credentials", r#"{"token": "draft-test-token"}"#])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{slug} {entity}.{action}: {}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drafts_run_list_and_get_against_the_generic_fake() {
    let dir = tempdir("fake");
    let gh = github_doc();
    let d = dir.clone();
    let outputs: Vec<Output> = blocking(move || {
        vec![
            switchboard()
                .args(["connectors", "import", "--name", "github-rest", "--out"])
                .arg(d.join("github-rest.yaml"))
                .arg(&gh)
                .output(),
            switchboard()
                .args(["connectors", "import", "--out"])
                .arg(d.join("petstore.yaml"))
                .arg(petstore("3.0"))
                .output(),
        ]
        .into_iter()
        .map(|o| o.unwrap_or_else(|e| panic!("{e}")))
        .collect()
    })
    .await;
    for o in &outputs {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    // The generic fake serves every spec in this directory (read once per process; no other
    // test in this binary starts a fake).
    std::env::set_var("FAKE_UPSTREAM_SPECS", &dir);
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    assert!(fake_upstream::generic::rejected().is_empty(), "{:?}", fake_upstream::generic::rejected());

    let (specs, base) = (dir.clone(), fake.base_url("github-rest"));
    let (list, get) = blocking(move || {
        let list =
            exec(&specs, "github-rest", "repos_issues", "list", json!({"owner": "octo", "repo": "hello"}), &base);
        let get = exec(
            &specs,
            "github-rest",
            "repos_issues",
            "get",
            json!({"owner": "octo", "repo": "hello", "issue_number": 7}),
            &base,
        );
        (list, get)
    })
    .await;
    let records = list["data"].as_array().unwrap_or_else(|| panic!("{list}"));
    assert_eq!(records.len(), fake_upstream::generic::TOTAL, "{list}");
    assert!(records.iter().all(|r| r["number"].is_i64() && r["title"].is_string()), "{list}");
    assert!(get["data"]["number"].is_i64() && get["data"]["title"].is_string(), "{get}");
    let paths: Vec<(String, String)> =
        fake.requests_for("github-rest").iter().map(|r| (r.method.clone(), r.path.clone())).collect();
    assert_eq!(
        paths,
        [
            ("GET".to_string(), "/github-rest/repos/octo/hello/issues".to_string()),
            ("GET".to_string(), "/github-rest/repos/octo/hello/issues/7".to_string())
        ]
    );

    let (specs, base) = (dir.clone(), fake.base_url("swagger-petstore"));
    let (list, get) = blocking(move || {
        (
            exec(&specs, "swagger-petstore", "pets", "list", json!({"limit": 3}), &base),
            exec(&specs, "swagger-petstore", "pets", "get", json!({"petId": "pets_1"}), &base),
        )
    })
    .await;
    let records = list["data"].as_array().unwrap_or_else(|| panic!("{list}"));
    assert!(!records.is_empty() && records.iter().all(|r| r["id"].is_i64() && r["name"].is_string()), "{list}");
    assert!(!get["data"].is_null(), "{get}");
    let reqs = fake.requests_for("swagger-petstore");
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].path, "/swagger-petstore/pets");
    assert_eq!(reqs[1].path, "/swagger-petstore/pets/pets_1");
    assert!(reqs.iter().all(|r| r.headers.get("authorization").map(String::as_str) == Some("Bearer draft-test-token")));
}
