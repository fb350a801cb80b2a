//! Fake GitHub API: the GraphQL API (v4) for reads and the REST API (v3) for writes.
//!
//! GraphQL (`POST /graphql`): the fake parses the document and validates it against GitHub's
//! schema (the part it serves, `schema/github.graphql`, cut from the public schema with every
//! field and argument of each type): a field the type does not have, an argument the field does
//! not take, a missing required argument, selections under a scalar or none under an object, a
//! fragment on an unknown or impossible type are all answered as GitHub answers them: HTTP 200,
//! no `data`, and one error each with `path` (`["query Name", "repository", "x"]`), `extensions`
//! (`code: undefinedField`, `typeName`, `fieldName`, ...), `locations` and graphql-ruby's
//! message (`Field 'x' doesn't exist on type 'Repository'`). It then checks the variable
//! definitions (every `$var` used is declared and every declared one used, values coerce to
//! their declared types and enums), runs the handler registered for the operation's name in
//! [`OPERATIONS`], and returns only what the document selects (aliases, nested selections,
//! fragments by runtime type, `__typename`, `@include` / `@skip`; see [`crate::graphql`]). A
//! field GitHub has but the fake does not model is an error naming it, never made up.
//!
//! What it mirrors from the real API:
//! - auth: `Authorization: Bearer <token>` or `token <token>`; a bad token is HTTP 401
//!   `{"message": "Bad credentials", ...}`, a missing one 401 "requires authentication";
//! - Relay pagination: `first` (required, at most 100) / `after`, `pageInfo { hasNextPage
//!   endCursor }`, opaque base64 cursors (`cursor:v2:<n>`), `totalCount`;
//! - unknown repository, user, organization, issue, ...: HTTP 200, `null` at that field and a
//!   `NOT_FOUND` error ("Could not resolve to a Repository with the name 'o/x'.");
//!   nullable lookups (`ref`, `release`, `label`, `milestone`, `team`, `object`) are just `null`;
//! - issues, pull requests and discussions share one number space per repository;
//! - search (`search(query:, type:)`) with the common qualifiers (`repo:`, `is:`, `label:`,
//!   `author:`, `language:`, `location:`, ...) and free text;
//! - REST writes: `POST /repos/{o}/{r}/issues` (201), `PATCH .../issues/{n}` (200),
//!   `POST .../issues/{n}/comments` (201), `POST .../pulls` (201), with 404 `Not Found` and 422
//!   `Validation Failed` bodies as GitHub sends them.

use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use axum::{Json, Router};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{creds, graphql, lock, FakeState, Shared};

/// Largest `first` GitHub accepts on a connection.
const MAX_PAGE_SIZE: i64 = 100;
/// The user the fake's token belongs to.
const VIEWER: &str = "octocat";
const WEB: &str = "https://github.com";
const API: &str = "https://api.github.com";
const GRAPHQL_DOCS: &str = "https://docs.github.com/graphql";
const REST_DOCS: &str = "https://docs.github.com/rest";

// ---------------------------------------------------------------------------------- model

/// A user account.
#[derive(Debug, Clone)]
struct User {
    db_id: u64,
    login: String,
    name: String,
    email: String,
    bio: String,
    company: Option<String>,
    location: String,
    website: Option<String>,
    twitter: Option<String>,
    followers: u32,
    following: u32,
    created_at: String,
}

/// An organization, with its members, teams and projects.
#[derive(Debug, Clone)]
struct Org {
    db_id: u64,
    login: String,
    name: String,
    description: String,
    email: String,
    location: String,
    website: String,
    verified: bool,
    created_at: String,
    members: Vec<String>,
    teams: Vec<Team>,
    projects: Vec<Project>,
}

/// A team of an organization.
#[derive(Debug, Clone)]
struct Team {
    db_id: u64,
    slug: String,
    name: String,
    description: String,
    /// `VISIBLE` or `SECRET`.
    privacy: &'static str,
    parent: Option<String>,
    members: Vec<String>,
    repos: Vec<String>,
    created_at: String,
}

/// A Projects (v2) board of an organization.
#[derive(Debug, Clone)]
struct Project {
    db_id: u64,
    number: u32,
    title: String,
    short_description: String,
    readme: String,
    public: bool,
    closed: bool,
    creator: String,
    created_at: String,
    /// Field definitions, in GraphQL shape.
    fields: Vec<Value>,
    items: Vec<ProjectItem>,
}

/// One item of a project.
#[derive(Debug, Clone)]
struct ProjectItem {
    db_id: u64,
    content: ItemContent,
    /// Field values, in GraphQL shape (`ProjectV2ItemField*Value`).
    values: Vec<Value>,
    created_at: String,
}

/// What a project item points at.
#[derive(Debug, Clone)]
enum ItemContent {
    /// An issue or pull request: `owner/name` and number.
    Issue(String, u32),
    /// A draft issue: title and body.
    Draft(String, String),
}

/// A repository and everything in it.
#[derive(Debug, Clone, Default)]
struct Repo {
    db_id: u64,
    owner: String,
    name: String,
    description: String,
    homepage: Option<String>,
    language: Option<String>,
    license: Option<(String, String)>,
    topics: Vec<String>,
    private: bool,
    /// Owned by an organization (else by a user).
    org_owned: bool,
    fork: bool,
    archived: bool,
    stars: u32,
    forks: u32,
    created_at: String,
    updated_at: String,
    pushed_at: String,
    default_branch: String,
    /// Issues and pull requests (one number space, shared with discussions).
    issues: Vec<Issue>,
    comments: Vec<Comment>,
    reviews: Vec<Review>,
    labels: Vec<Label>,
    milestones: Vec<Milestone>,
    /// Every commit; the default branch's history is [`Repo::history`].
    commits: Vec<Commit>,
    branches: Vec<Ref>,
    tags: Vec<Ref>,
    /// Releases, in GraphQL shape.
    releases: Vec<Value>,
    /// Discussions, in GraphQL shape.
    discussions: Vec<Value>,
    /// `(login, starredAt)`.
    stargazers: Vec<(String, String)>,
    /// `(path, text)` of the files at every ref.
    files: Vec<(String, String)>,
}

/// An issue, or a pull request when `pull` is set (GitHub models pull requests as issues).
#[derive(Debug, Clone)]
struct Issue {
    db_id: u64,
    number: u32,
    title: String,
    body: String,
    author: String,
    open: bool,
    /// REST spelling: `completed`, `not_planned`, `reopened`.
    state_reason: Option<String>,
    labels: Vec<String>,
    assignees: Vec<String>,
    milestone: Option<u32>,
    created_at: String,
    updated_at: String,
    closed_at: Option<String>,
    pull: Option<Pull>,
}

impl Issue {
    /// A new open issue by `author`, without labels, assignees or milestone.
    fn new(db_id: u64, number: u32, title: String, body: String, author: &str, created_at: String) -> Self {
        Self {
            db_id,
            number,
            title,
            body,
            author: author.into(),
            open: true,
            state_reason: None,
            labels: vec![],
            assignees: vec![],
            milestone: None,
            updated_at: created_at.clone(),
            created_at,
            closed_at: None,
            pull: None,
        }
    }
}

/// What a pull request adds to an issue.
#[derive(Debug, Clone)]
struct Pull {
    head: String,
    base: String,
    draft: bool,
    merged_at: Option<String>,
    merged_by: Option<String>,
    additions: u32,
    deletions: u32,
    changed_files: u32,
    commits: u32,
    maintainer_can_modify: bool,
    review_decision: Option<&'static str>,
}

/// A comment on an issue or pull request.
#[derive(Debug, Clone)]
struct Comment {
    db_id: u64,
    issue: u32,
    author: String,
    body: String,
    created_at: String,
    /// Why the comment was minimized (`OUTDATED`, `SPAM`, ...), if it was.
    minimized: Option<&'static str>,
}

/// A pull request review.
#[derive(Debug, Clone)]
struct Review {
    db_id: u64,
    pull: u32,
    author: String,
    state: &'static str,
    body: String,
    submitted_at: String,
    comments: u32,
}

/// A label of a repository.
#[derive(Debug, Clone)]
struct Label {
    db_id: u64,
    name: String,
    color: String,
    description: String,
    default: bool,
}

/// A milestone of a repository.
#[derive(Debug, Clone)]
struct Milestone {
    db_id: u64,
    number: u32,
    title: String,
    description: String,
    open: bool,
    due_on: Option<String>,
    created_at: String,
    closed_at: Option<String>,
}

/// A commit.
#[derive(Debug, Clone)]
struct Commit {
    oid: String,
    message: String,
    date: String,
    author: String,
    additions: u32,
    deletions: u32,
    /// Paths it touched.
    files: Vec<String>,
    parent: Option<String>,
    /// Whether it is on the default branch.
    on_default: bool,
}

/// A branch or tag.
#[derive(Debug, Clone)]
struct Ref {
    name: String,
    /// The commit it points at.
    oid: String,
    /// Annotated tags: the tag message.
    annotation: Option<String>,
}

// ---------------------------------------------------------------------------------- seed

/// Seeded data of the fake.
#[derive(Debug, Default)]
pub struct Data {
    users: Vec<User>,
    orgs: Vec<Org>,
    repos: Vec<Repo>,
    /// Bumped by every write; gives new timestamps.
    clock: u32,
    /// Last database id handed out to a created object.
    last_db_id: u64,
}

/// A timestamp in 2024.
fn ts(month: u32, day: u32) -> String {
    format!("2024-{month:02}-{day:02}T12:00:00Z")
}

/// A GraphQL global node id (`I_kwDO...`).
fn gid(prefix: &str, db_id: u64) -> String {
    format!("{prefix}_kwDOA{db_id:07}")
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn user(db_id: u64, login: &str, name: &str, location: &str, bio: &str, company: Option<&str>, followers: u32) -> User {
    User {
        db_id,
        login: login.into(),
        name: name.into(),
        email: format!("{login}@users.noreply.github.com"),
        bio: bio.into(),
        company: company.map(Into::into),
        location: location.into(),
        website: (login == VIEWER).then(|| "https://github.blog".to_string()),
        twitter: (login == VIEWER).then(|| "github".to_string()),
        followers,
        following: followers / 100,
        created_at: ts(1, u32::try_from(db_id % 28).unwrap_or(0) + 1),
    }
}

/// A repository without content.
fn repo(db_id: u64, full: &str, description: &str, language: Option<&str>, stars: u32, updated: (u32, u32)) -> Repo {
    let (owner, name) = full.split_once('/').unwrap_or((full, full));
    Repo {
        db_id,
        owner: owner.into(),
        name: name.into(),
        description: description.into(),
        language: language.map(Into::into),
        stars,
        forks: stars / 10,
        created_at: ts(1, 2),
        updated_at: ts(updated.0, updated.1),
        pushed_at: ts(updated.0, updated.1),
        default_branch: "main".into(),
        ..Repo::default()
    }
}

/// A single-select or other field value of a project item.
fn field_value(field: &str, value: Value) -> Value {
    let (typename, field_type, mut v) = match value {
        Value::String(s) if s.len() == 10 && s.as_bytes()[4] == b'-' => {
            ("ProjectV2ItemFieldDateValue", "ProjectV2Field", json!({"date": s}))
        }
        Value::String(s) => ("ProjectV2ItemFieldSingleSelectValue", "ProjectV2SingleSelectField", json!({"name": s})),
        other => ("ProjectV2ItemFieldNumberValue", "ProjectV2Field", json!({"number": other})),
    };
    v["__typename"] = json!(typename);
    v["field"] = json!({"__typename": field_type, "name": field});
    v
}

/// An `Actor` (author, creator, ...): the fake's accounts are all users.
fn actor(login: &str) -> Value {
    json!({"__typename": "User", "login": login})
}

impl Data {
    /// The initial data after start or reset: 5 users, 2 organizations, 7 repositories and in
    /// `octo/hello` 5 issues, 4 pull requests, 3 discussions, 10 comments, 3 reviews, 9 labels,
    /// 3 milestones, 8 commits, 4 branches, 3 tags, 4 releases, 5 stargazers and 6 files.
    pub fn seed() -> Self {
        let users = vec![
            user(583_231, "octocat", "The Octocat", "San Francisco", "GitHub's mascot.", Some("@github"), 9_500),
            user(480_938, "hubot", "Hubot", "GitHub HQ", "A chat bot.", Some("@github"), 1_200),
            user(1_209, "monalisa", "Mona Lisa Octocat", "Paris", "Painting pixels.", None, 800),
            user(2, "defunkt", "Chris Wanstrath", "San Francisco", "Hubot's creator.", None, 22_000),
            user(1, "mojombo", "Tom Preston-Werner", "San Francisco", "Jekyll, TOML.", None, 24_000),
        ];

        let mut hello = Repo {
            description: "A friendly greeter for the command line.".into(),
            homepage: Some("https://octo.dev/hello".into()),
            license: Some(("MIT".into(), "MIT License".into())),
            topics: strings(&["cli", "rust", "greeting"]),
            stars: 5,
            forks: 2,
            ..repo(1_001, "octo/hello", "", Some("Rust"), 5, (3, 25))
        };
        hello.labels = [
            ("bug", "d73a4a", "Something isn't working"),
            ("documentation", "0075ca", "Improvements or additions to documentation"),
            ("duplicate", "cfd3d7", "This issue or pull request already exists"),
            ("enhancement", "a2eeef", "New feature or request"),
            ("good first issue", "7057ff", "Good for newcomers"),
            ("help wanted", "008672", "Extra attention is needed"),
            ("invalid", "e4e669", "This doesn't seem right"),
            ("question", "d876e3", "Further information is requested"),
            ("wontfix", "ffffff", "This will not be worked on"),
        ]
        .iter()
        .zip(40_001..)
        .map(|((name, color, description), db_id)| Label {
            db_id,
            name: name.to_string(),
            color: color.to_string(),
            description: description.to_string(),
            default: true,
        })
        .collect();
        hello.milestones = [
            (1, "v1.0", "First stable release.", false, Some(ts(3, 1))),
            (2, "v1.1", "JSON output and Windows support.", true, Some(ts(6, 30))),
            (3, "v2.0", "Plugin system.", true, None),
        ]
        .into_iter()
        .map(|(number, title, description, open, due_on)| Milestone {
            db_id: 50_000 + u64::from(number),
            number,
            title: title.into(),
            description: description.into(),
            open,
            closed_at: (!open).then(|| ts(3, 1)),
            due_on,
            created_at: ts(1, 16),
        })
        .collect();

        type IssueRow = (
            &'static str,
            &'static str,
            Option<&'static str>,
            &'static [&'static str],
            &'static [&'static str],
            Option<u32>,
            (u32, u32),
            Option<(u32, u32)>,
        );
        let issue_rows: [IssueRow; 5] = [
            (
                "Crash when the config file is missing",
                "hubot",
                Some("completed"),
                &["bug"],
                &["octocat"],
                Some(1),
                (2, 1),
                Some((3, 11)),
            ),
            ("Add a --json output flag", "monalisa", None, &["enhancement"], &["monalisa"], Some(2), (2, 5), None),
            (
                "Typo in the README install section",
                "defunkt",
                Some("completed"),
                &["documentation", "good first issue"],
                &[],
                Some(1),
                (2, 8),
                Some((2, 10)),
            ),
            (
                "Support Windows paths",
                "hubot",
                None,
                &["bug", "help wanted"],
                &["octocat", "hubot"],
                Some(2),
                (2, 15),
                None,
            ),
            ("Document the plugin API", "defunkt", None, &["documentation"], &[], Some(3), (2, 18), None),
        ];
        for (i, (title, author, reason, labels, assignees, milestone, created, closed)) in
            issue_rows.into_iter().enumerate()
        {
            let number = u32::try_from(i).unwrap_or(0) + 1;
            let body = format!("{title}.\n\nSteps, context and expected behaviour are below.");
            hello.issues.push(Issue {
                open: closed.is_none(),
                state_reason: reason.map(Into::into),
                labels: strings(labels),
                assignees: strings(assignees),
                milestone,
                updated_at: ts(closed.unwrap_or(created).0, closed.unwrap_or(created).1),
                closed_at: closed.map(|(m, d)| ts(m, d)),
                ..Issue::new(20_000 + u64::from(number), number, title.into(), body, author, ts(created.0, created.1))
            });
        }
        type PullRow = (
            &'static str,
            &'static str,
            &'static str,
            bool,
            Option<(u32, u32)>,
            bool,
            (u32, u32, u32, u32),
            Option<&'static str>,
            &'static [&'static str],
            &'static [&'static str],
            Option<u32>,
            (u32, u32),
        );
        let pull_rows: [PullRow; 4] = [
            (
                "Bump serde from 1.0.196 to 1.0.197",
                "hubot",
                "deps/serde",
                false,
                Some((3, 4)),
                false,
                (3, 3, 2, 1),
                None,
                &[],
                &[],
                None,
                (3, 2),
            ),
            (
                "Fall back to defaults when the config file is missing",
                "octocat",
                "fix-missing-config",
                false,
                Some((3, 11)),
                true,
                (42, 7, 2, 3),
                Some("APPROVED"),
                &["bug"],
                &["octocat"],
                Some(1),
                (3, 5),
            ),
            (
                "Add --json output",
                "monalisa",
                "json-output",
                false,
                None,
                false,
                (120, 15, 4, 5),
                Some("CHANGES_REQUESTED"),
                &["enhancement"],
                &[],
                Some(2),
                (3, 14),
            ),
            (
                "WIP: Windows path support",
                "hubot",
                "windows-paths",
                true,
                None,
                false,
                (30, 4, 2, 1),
                Some("REVIEW_REQUIRED"),
                &["bug"],
                &["hubot"],
                Some(2),
                (3, 18),
            ),
        ];
        for (i, (title, author, head, draft, closed, merged, stats, decision, labels, assignees, milestone, created)) in
            pull_rows.into_iter().enumerate()
        {
            let number = u32::try_from(i).unwrap_or(0) + 6;
            let closed_at = closed.map(|(m, d)| ts(m, d));
            let body = format!("{title}.\n\nSee the commits for details.");
            hello.issues.push(Issue {
                open: closed.is_none(),
                labels: strings(labels),
                assignees: strings(assignees),
                milestone,
                updated_at: closed_at.clone().unwrap_or_else(|| ts(created.0, created.1)),
                pull: Some(Pull {
                    head: head.into(),
                    base: "main".into(),
                    draft,
                    merged_at: if merged { closed_at.clone() } else { None },
                    merged_by: merged.then(|| "hubot".to_string()),
                    additions: stats.0,
                    deletions: stats.1,
                    changed_files: stats.2,
                    commits: stats.3,
                    maintainer_can_modify: !merged,
                    review_decision: decision,
                }),
                closed_at,
                ..Issue::new(20_000 + u64::from(number), number, title.into(), body, author, ts(created.0, created.1))
            });
        }
        hello.comments = [
            (1, "hubot", "Stack trace: `No such file or directory (os error 2)`.", (2, 1), None),
            (1, "octocat", "Reproduced on 0.9.0, working on a fix.", (2, 2), None),
            (1, "octocat", "Fixed in #7.", (3, 11), None),
            (2, "octocat", "Sounds good, let's target v1.1.", (2, 6), None),
            (4, "monalisa", "Backslashes in `--config C:\\hello.toml` break parsing.", (2, 16), None),
            (5, "hubot", "Draft outline in docs/plugins.md.", (2, 20), None),
            (5, "defunkt", "+1, the hooks need examples.", (2, 21), Some("OUTDATED")),
            (7, "hubot", "LGTM once CI passes.", (3, 10), None),
            (8, "octocat", "Can we keep the text output the default?", (3, 15), None),
            (8, "monalisa", "Yes, --json is opt-in.", (3, 15), None),
        ]
        .into_iter()
        .zip(30_001..)
        .map(|((issue, author, body, (m, d), minimized), db_id)| Comment {
            db_id,
            issue,
            author: author.into(),
            body: body.into(),
            created_at: ts(m, d),
            minimized,
        })
        .collect();
        hello.reviews = [
            (7, "monalisa", "COMMENTED", "Nit: rename `cfg` to `config`.", (3, 9), 1),
            (7, "hubot", "APPROVED", "Looks good, thanks!", (3, 10), 0),
            (8, "octocat", "CHANGES_REQUESTED", "Please add tests for the JSON schema.", (3, 15), 2),
        ]
        .into_iter()
        .zip(60_001..)
        .map(|((pull, author, state, body, (m, d), comments), db_id)| Review {
            db_id,
            pull,
            author: author.into(),
            state,
            body: body.into(),
            submitted_at: ts(m, d),
            comments,
        })
        .collect();

        // Default branch history, newest first, then the heads of the other branches.
        let commit_rows = [
            (
                "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
                "Fall back to defaults when the config file is missing (#7)",
                (3, 11),
                "octocat",
                &["src/config.rs"][..],
                true,
            ),
            (
                "553c2077f0edc3d5dc5d17262f6aa498e69d6f8e",
                "Release v1.0.0",
                (3, 1),
                "octocat",
                &["Cargo.toml"][..],
                true,
            ),
            (
                "762941318ee16e59dabbacb1b4049eec22f0d303",
                "Add plugin docs",
                (2, 20),
                "hubot",
                &["docs/plugins.md"][..],
                true,
            ),
            (
                "b3cbd5bbd7e81436d2eee04537ea2b4c0cad4cdf",
                "Fix typo in README (#3)",
                (2, 10),
                "defunkt",
                &["README.md"][..],
                true,
            ),
            (
                "6dcb09b5b57875f334f61aebed695e2e4193db5e",
                "Read the config from ~/.hello.toml",
                (1, 25),
                "octocat",
                &["src/config.rs", "src/main.rs"][..],
                true,
            ),
            (
                "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678",
                "Initial commit",
                (1, 15),
                "octocat",
                &["README.md", "LICENSE", "Cargo.toml", "src/main.rs"][..],
                true,
            ),
            (
                "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c",
                "Add --json flag",
                (3, 14),
                "monalisa",
                &["src/main.rs", "src/output.rs"][..],
                false,
            ),
            (
                "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d",
                "Normalize path separators (WIP)",
                (3, 18),
                "hubot",
                &["src/config.rs"][..],
                false,
            ),
        ];
        let head = commit_rows[0].0;
        hello.commits = commit_rows
            .iter()
            .enumerate()
            .map(|(i, (oid, message, (m, d), author, files, on_default))| Commit {
                oid: oid.to_string(),
                message: format!("{message}\n\nSigned-off-by: {author} <{author}@users.noreply.github.com>"),
                date: ts(*m, *d),
                author: author.to_string(),
                additions: 10 * u32::try_from(files.len()).unwrap_or(1) + u32::try_from(i).unwrap_or(0),
                deletions: u32::try_from(i).unwrap_or(0),
                files: strings(files),
                parent: if *on_default {
                    commit_rows.get(i + 1).filter(|c| c.5).map(|c| c.0.to_string())
                } else {
                    Some(head.to_string())
                },
                on_default: *on_default,
            })
            .collect();
        let r = |name: &str, oid: &str, annotation: Option<&str>| Ref {
            name: name.into(),
            oid: oid.into(),
            annotation: annotation.map(Into::into),
        };
        hello.branches = vec![
            r("develop", head, None),
            r("json-output", commit_rows[6].0, None),
            r("main", head, None),
            r("windows-paths", commit_rows[7].0, None),
        ];
        hello.tags = vec![
            r("v1.0.1", head, Some("Version 1.0.1: config fallback fix.")),
            r("v1.0.0", commit_rows[1].0, Some("Version 1.0.0")),
            r("v0.9.0", commit_rows[3].0, None),
        ];
        hello.releases = [
            (70_004, "v1.1.0", "v1.1.0 (draft)", true, false, false, (3, 20), None),
            (70_003, "v1.0.1", "v1.0.1", false, false, true, (3, 12), Some(head)),
            (70_002, "v1.0.0", "v1.0.0", false, false, false, (3, 1), Some(commit_rows[1].0)),
            (70_001, "v0.9.0", "v0.9.0 beta", false, true, false, (2, 10), Some(commit_rows[3].0)),
        ]
        .into_iter()
        .map(|(db_id, tag, name, draft, pre, latest, (m, d), commit)| {
            json!({
                "id": gid("RE", db_id), "databaseId": db_id, "name": name, "tagName": tag,
                "description": format!("## {name}\n\nSee the changelog."),
                "url": format!("{WEB}/octo/hello/releases/tag/{tag}"),
                "isDraft": draft, "isPrerelease": pre, "isLatest": latest,
                "createdAt": ts(m, d), "publishedAt": (!draft).then(|| ts(m, d)),
                "author": {"login": "octocat"},
                "tagCommit": commit.map(|oid| json!({"oid": oid})),
                "releaseAssets": {"nodes": if draft { vec![] } else { vec![json!({
                    "name": format!("hello-{tag}-x86_64-linux.tar.gz"), "size": 1_048_576,
                    "downloadUrl": format!("{WEB}/octo/hello/releases/download/{tag}/hello-{tag}-x86_64-linux.tar.gz"),
                })] }},
            })
        })
        .collect();
        hello.discussions = [
            (
                12u32,
                "Idea: plugin system",
                "monalisa",
                ("Ideas", "ideas", false),
                true,
                None,
                &["enhancement"][..],
                4,
                (3, 25),
            ),
            (
                11,
                "How do I set a custom config path?",
                "defunkt",
                ("Q&A", "q-a", true),
                false,
                Some("Pass `--config <path>` or set `HELLO_CONFIG`."),
                &["question"][..],
                2,
                (3, 22),
            ),
            (
                10,
                "v1.0.1 is out!",
                "octocat",
                ("Announcements", "announcements", false),
                false,
                None,
                &[][..],
                1,
                (3, 20),
            ),
        ]
        .into_iter()
        .map(|(number, title, author, (category, slug, answerable), closed, answer, labels, comments, (m, d))| {
            let db_id = 80_000 + u64::from(number);
            json!({
                "id": gid("D", db_id), "databaseId": db_id, "number": number, "title": title,
                "body": format!("{title}\n\nLet's talk about it."),
                "url": format!("{WEB}/octo/hello/discussions/{number}"),
                "closed": closed, "closedAt": closed.then(|| ts(m, d + 2)),
                "stateReason": closed.then_some("RESOLVED"), "locked": false,
                "isAnswered": answer.is_some(), "answerChosenAt": answer.map(|_| ts(m, d + 1)),
                "upvoteCount": comments * 3, "createdAt": ts(m, d), "updatedAt": ts(m, d + 2),
                "__typename": "Discussion", "author": actor(author),
                "category": {"name": category, "slug": slug, "isAnswerable": answerable},
                "answer": answer.map(|body| json!({"id": gid("DC", db_id), "body": body, "author": actor("octocat")})),
                "labels": {"nodes": labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()},
                "comments": {"totalCount": comments},
            })
        })
        .collect();
        hello.stargazers =
            [("octocat", (3, 25)), ("mojombo", (3, 1)), ("defunkt", (2, 14)), ("monalisa", (2, 2)), ("hubot", (1, 20))]
                .into_iter()
                .map(|(login, (m, d))| (login.to_string(), ts(m, d)))
                .collect();
        hello.files = [
            ("Cargo.toml", "[package]\nname = \"hello\"\nversion = \"1.0.1\"\nedition = \"2021\"\n"),
            ("LICENSE", "MIT License\n\nCopyright (c) 2024 Octo Inc.\n"),
            ("README.md", "# hello\n\nA friendly greeter for the command line.\n\n    cargo install hello\n"),
            ("docs/plugins.md", "# Plugins\n\nPlugins hook into the greeting pipeline.\n"),
            ("src/config.rs", "pub fn load() -> Config {\n    Config::from_file().unwrap_or_default()\n}\n"),
            ("src/main.rs", "fn main() {\n    println!(\"Hello, world!\");\n}\n"),
        ]
        .into_iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();

        let repos = vec![
            hello,
            repo(1_002, "octo/world", "A world map renderer for hello's greetings.", Some("Rust"), 12, (3, 10)),
            repo(1_003, "octo/docs", "Documentation site of octo's tools.", Some("JavaScript"), 3, (2, 28)),
            Repo {
                homepage: Some("https://octocat.github.io".into()),
                ..repo(1_296_269, "octocat/Hello-World", "My first repository on GitHub!", None, 2_500, (3, 5))
            },
            repo(
                1_300_192,
                "octocat/Spoon-Knife",
                "This repo is for demonstration purposes only.",
                Some("HTML"),
                12_000,
                (2, 14),
            ),
            Repo { fork: true, ..repo(1_300_193, "octocat/linguist", "Language Savant.", Some("Ruby"), 40, (1, 30)) },
            Repo {
                private: true,
                ..repo(
                    1_004,
                    "octo-labs/experiments",
                    "Experiments that may become products.",
                    Some("Python"),
                    0,
                    (3, 2),
                )
            },
        ];

        let team =
            |db_id: u64, slug: &str, name: &str, privacy, parent: Option<&str>, members: &[&str], repos: &[&str]| {
                Team {
                    db_id,
                    slug: slug.into(),
                    name: name.into(),
                    description: format!("{name} of octo."),
                    privacy,
                    parent: parent.map(Into::into),
                    members: strings(members),
                    repos: strings(repos),
                    created_at: ts(1, 10),
                }
            };
        let status_field = json!({"__typename": "ProjectV2SingleSelectField", "id": "PVTSSF_lADOA0000001", "name": "Status", "dataType": "SINGLE_SELECT", "options": [
            {"id": "f75ad846", "name": "Todo", "color": "GRAY"},
            {"id": "47fc9ee4", "name": "In Progress", "color": "YELLOW"},
            {"id": "98236657", "name": "Done", "color": "GREEN"},
        ]});
        let item = |db_id: u64, content: ItemContent, values: Vec<Value>| ProjectItem {
            db_id,
            content,
            values,
            created_at: ts(3, 1),
        };
        let issue = |n| ItemContent::Issue("octo/hello".into(), n);
        let project = |db_id: u64,
                       number: u32,
                       title: &str,
                       public: bool,
                       closed: bool,
                       creator: &str,
                       items: Vec<ProjectItem>| Project {
            db_id,
            number,
            title: title.into(),
            short_description: format!("{title} of octo's tools."),
            readme: format!("# {title}\n\nHow we use this board."),
            public,
            closed,
            creator: creator.into(),
            created_at: ts(1, 20),
            fields: vec![
                json!({"__typename": "ProjectV2Field", "id": "PVTF_lADOA0000001", "name": "Title", "dataType": "TITLE"}),
                status_field.clone(),
                json!({"__typename": "ProjectV2Field", "id": "PVTF_lADOA0000003", "name": "Estimate", "dataType": "NUMBER"}),
                json!({"__typename": "ProjectV2Field", "id": "PVTF_lADOA0000004", "name": "Target date", "dataType": "DATE"}),
            ],
            items,
        };
        let orgs = vec![
            Org {
                db_id: 9_919,
                login: "octo".into(),
                name: "Octo Inc.".into(),
                description: "Tools for friendly command lines.".into(),
                email: "hello@octo.dev".into(),
                location: "San Francisco, CA".into(),
                website: "https://octo.dev".into(),
                verified: true,
                created_at: ts(1, 1),
                members: strings(&["octocat", "hubot", "monalisa", "defunkt"]),
                teams: vec![
                    team(90_001, "core", "Core", "VISIBLE", None, &["octocat", "hubot"], &["hello", "world"]),
                    team(90_002, "core-reviewers", "Core reviewers", "SECRET", Some("core"), &["hubot"], &["hello"]),
                    team(90_003, "docs", "Docs", "VISIBLE", None, &["monalisa", "defunkt"], &["docs", "hello"]),
                ],
                projects: vec![
                    project(
                        95_001,
                        1,
                        "Roadmap",
                        true,
                        false,
                        "octocat",
                        vec![
                            item(
                                96_001,
                                issue(2),
                                vec![field_value("Status", json!("In Progress")), field_value("Estimate", json!(3))],
                            ),
                            item(
                                96_002,
                                issue(4),
                                vec![
                                    field_value("Status", json!("Todo")),
                                    field_value("Target date", json!("2024-06-15")),
                                ],
                            ),
                            item(96_003, issue(9), vec![field_value("Status", json!("In Progress"))]),
                            item(
                                96_004,
                                ItemContent::Draft(
                                    "Investigate shell completions".into(),
                                    "bash, zsh and fish.".into(),
                                ),
                                vec![field_value("Status", json!("Todo"))],
                            ),
                            item(
                                96_005,
                                issue(5),
                                vec![field_value("Status", json!("Todo")), field_value("Estimate", json!(5))],
                            ),
                        ],
                    ),
                    project(
                        95_002,
                        2,
                        "Bug triage",
                        false,
                        true,
                        "hubot",
                        vec![item(96_006, issue(1), vec![field_value("Status", json!("Done"))])],
                    ),
                    project(95_003, 3, "Docs revamp", true, false, "monalisa", vec![]),
                ],
            },
            Org {
                db_id: 9_920,
                login: "octo-labs".into(),
                name: "Octo Labs".into(),
                description: "Experiments that may become products.".into(),
                email: "labs@octo.dev".into(),
                location: "Remote".into(),
                website: "https://labs.octo.dev".into(),
                verified: false,
                created_at: ts(2, 1),
                members: strings(&["octocat", "monalisa"]),
                teams: vec![],
                projects: vec![],
            },
        ];
        let repos =
            repos.into_iter().map(|r| Repo { org_owned: orgs.iter().any(|o| o.login == r.owner), ..r }).collect();
        Self { users, orgs, repos, clock: 0, last_db_id: 100_000 }
    }

    /// Advances the clock for a write: the new timestamp.
    fn tick(&mut self) -> String {
        self.clock += 1;
        format!("2024-04-01T{:02}:{:02}:00Z", 9 + self.clock / 60, self.clock % 60)
    }

    /// A fresh database id.
    fn next_db_id(&mut self) -> u64 {
        self.last_db_id += 1;
        self.last_db_id
    }

    // ------------------------------------------------------------------------ lookups

    fn find_repo(&self, owner: &str, name: &str) -> Option<usize> {
        self.repos.iter().position(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
    }

    /// `repository(owner: $owner, name: $name)`, or GitHub's `NOT_FOUND`.
    fn repo(&self, v: &Vars) -> Result<&Repo, GqlError> {
        let (owner, name) = (v.str("owner"), v.str("name"));
        self.find_repo(owner, name).map(|i| &self.repos[i]).ok_or_else(|| {
            GqlError::not_found(
                &["repository"],
                format!("Could not resolve to a Repository with the name '{owner}/{name}'."),
            )
        })
    }

    /// `user(login: $login)`, or `NOT_FOUND`.
    fn user(&self, login: &str) -> Result<&User, GqlError> {
        self.users.iter().find(|u| u.login.eq_ignore_ascii_case(login)).ok_or_else(|| {
            GqlError::not_found(&["user"], format!("Could not resolve to a User with the login of '{login}'."))
        })
    }

    /// `organization(login: $login)`, or `NOT_FOUND`.
    fn org(&self, login: &str) -> Result<&Org, GqlError> {
        self.orgs.iter().find(|o| o.login.eq_ignore_ascii_case(login)).ok_or_else(|| {
            GqlError::not_found(
                &["organization"],
                format!("Could not resolve to an Organization with the login of '{login}'."),
            )
        })
    }

    /// The issue or pull request `number`, or `NOT_FOUND` at `path` naming `kind`.
    fn numbered<'a>(repo: &'a Repo, number: i64, pull: bool, field: &str) -> Result<&'a Issue, GqlError> {
        let kind = if pull { "a PullRequest" } else { "an Issue" };
        repo.issues.iter().find(|i| i64::from(i.number) == number && i.pull.is_some() == pull).ok_or_else(|| {
            GqlError::not_found(
                &["repository", field],
                format!("Could not resolve to {kind} with the number of {number}."),
            )
        })
    }

    /// Repositories owned by `login`, most recently updated first.
    fn repos_of(&self, login: &str) -> Vec<&Repo> {
        let mut out: Vec<&Repo> = self.repos.iter().filter(|r| r.owner.eq_ignore_ascii_case(login)).collect();
        out.sort_by(|a, b| b.updated_at.cmp(&a.updated_at));
        out
    }

    // ------------------------------------------------------------------------ GraphQL shapes

    fn user_json(&self, u: &User) -> Value {
        json!({
            "__typename": "User", "id": gid("U", u.db_id), "databaseId": u.db_id, "login": u.login, "name": u.name,
            "email": u.email, "bio": u.bio, "company": u.company, "location": u.location,
            "url": format!("{WEB}/{}", u.login),
            "avatarUrl": format!("https://avatars.githubusercontent.com/u/{}?v=4", u.db_id),
            "websiteUrl": u.website, "twitterUsername": u.twitter,
            "createdAt": u.created_at, "updatedAt": ts(3, 1),
            "followers": {"totalCount": u.followers}, "following": {"totalCount": u.following},
            "repositories": {"totalCount": self.repos_of(&u.login).len()},
        })
    }

    fn org_json(&self, o: &Org) -> Value {
        json!({
            "__typename": "Organization", "id": gid("O", o.db_id), "databaseId": o.db_id, "login": o.login, "name": o.name,
            "description": o.description, "email": o.email, "url": format!("{WEB}/{}", o.login),
            "websiteUrl": o.website, "location": o.location,
            "avatarUrl": format!("https://avatars.githubusercontent.com/u/{}?v=4", o.db_id),
            "isVerified": o.verified, "createdAt": o.created_at, "updatedAt": ts(3, 1),
            "repositories": {"totalCount": self.repos_of(&o.login).len()},
            "membersWithRole": {"totalCount": o.members.len()},
            "teams": {"totalCount": o.teams.len()},
        })
    }

    fn team_json(o: &Org, t: &Team) -> Value {
        let parent = t.parent.as_ref().and_then(|p| o.teams.iter().find(|x| &x.slug == p));
        json!({
            "id": gid("T", t.db_id), "databaseId": t.db_id, "slug": t.slug, "name": t.name,
            "description": t.description, "privacy": t.privacy,
            "url": format!("{WEB}/orgs/{}/teams/{}", o.login, t.slug),
            "createdAt": t.created_at, "updatedAt": t.created_at,
            "parentTeam": parent.map(|p| json!({"slug": p.slug, "name": p.name})),
            "members": {"totalCount": t.members.len()}, "repositories": {"totalCount": t.repos.len()},
        })
    }

    fn repo_json(r: &Repo) -> Value {
        json!({
            "__typename": "Repository", "id": gid("R", r.db_id), "databaseId": r.db_id, "name": r.name,
            "nameWithOwner": format!("{}/{}", r.owner, r.name), "description": r.description,
            "url": format!("{WEB}/{}/{}", r.owner, r.name), "homepageUrl": r.homepage,
            "visibility": if r.private { "PRIVATE" } else { "PUBLIC" }, "isPrivate": r.private,
            "isFork": r.fork, "isArchived": r.archived, "isTemplate": false,
            "stargazerCount": r.stars, "forkCount": r.forks,
            "createdAt": r.created_at, "updatedAt": r.updated_at, "pushedAt": r.pushed_at,
            "primaryLanguage": r.language.as_ref().map(|l| json!({"name": l})),
            "licenseInfo": r.license.as_ref().map(|(id, name)| json!({"spdxId": id, "name": name})),
            "owner": {"__typename": if r.org_owned { "Organization" } else { "User" }, "login": r.owner},
            "defaultBranchRef": {"name": r.default_branch},
            "repositoryTopics": {"nodes": r.topics.iter().map(|t| json!({"topic": {"name": t}})).collect::<Vec<_>>()},
        })
    }

    /// The fields issues and pull requests share.
    fn issueish_json(r: &Repo, i: &Issue, kind: &str) -> Value {
        let labels: Vec<Value> = i
            .labels
            .iter()
            .filter_map(|n| r.labels.iter().find(|l| &l.name == n))
            .map(|l| json!({"name": l.name, "color": l.color}))
            .collect();
        json!({
            "databaseId": i.db_id, "number": i.number, "title": i.title, "body": i.body,
            "url": format!("{WEB}/{}/{}/{kind}/{}", r.owner, r.name, i.number),
            "locked": false, "createdAt": i.created_at, "updatedAt": i.updated_at, "closedAt": i.closed_at,
            "author": actor(&i.author),
            "assignees": {"nodes": i.assignees.iter().map(|a| json!({"login": a})).collect::<Vec<_>>()},
            "labels": {"nodes": labels},
            "comments": {"totalCount": r.comments.iter().filter(|c| c.issue == i.number).count()},
        })
    }

    fn issue_json(r: &Repo, i: &Issue) -> Value {
        let mut v = Self::issueish_json(r, i, "issues");
        v["__typename"] = json!("Issue");
        v["id"] = json!(gid("I", i.db_id));
        v["state"] = json!(if i.open { "OPEN" } else { "CLOSED" });
        v["stateReason"] = json!(i.state_reason.as_ref().map(|s| s.to_ascii_uppercase()));
        v["milestone"] = i
            .milestone
            .and_then(|n| r.milestones.iter().find(|m| m.number == n))
            .map_or(Value::Null, |m| json!({"number": m.number, "title": m.title}));
        v
    }

    fn pull_json(r: &Repo, i: &Issue) -> Value {
        let Some(p) = &i.pull else { return json!({}) };
        let mut v = Self::issueish_json(r, i, "pull");
        let state = match (i.open, p.merged_at.is_some()) {
            (true, _) => "OPEN",
            (false, true) => "MERGED",
            (false, false) => "CLOSED",
        };
        let extra = json!({
            "__typename": "PullRequest", "id": gid("PR", i.db_id), "state": state, "isDraft": p.draft,
            "baseRefName": p.base, "headRefName": p.head,
            "merged": p.merged_at.is_some(), "mergedAt": p.merged_at,
            "mergedBy": p.merged_by.as_deref().map(actor),
            "additions": p.additions, "deletions": p.deletions, "changedFiles": p.changed_files,
            "reviewDecision": p.review_decision,
            "commits": {"totalCount": p.commits},
            "reviews": {"totalCount": r.reviews.iter().filter(|x| x.pull == i.number).count()},
        });
        merge(&mut v, extra);
        v
    }

    fn comment_json(r: &Repo, c: &Comment) -> Value {
        let kind = if r.issues.iter().any(|i| i.number == c.issue && i.pull.is_some()) { "pull" } else { "issues" };
        json!({
            "id": gid("IC", c.db_id), "databaseId": c.db_id, "body": c.body,
            "url": format!("{WEB}/{}/{}/{kind}/{}#issuecomment-{}", r.owner, r.name, c.issue, c.db_id),
            "createdAt": c.created_at, "updatedAt": c.created_at,
            "isMinimized": c.minimized.is_some(), "minimizedReason": c.minimized.map(str::to_ascii_lowercase),
            "authorAssociation": if c.author == VIEWER { "OWNER" } else { "MEMBER" },
            "__typename": "IssueComment", "author": actor(&c.author),
        })
    }

    fn review_json(r: &Repo, x: &Review) -> Value {
        json!({
            "id": gid("PRR", x.db_id), "databaseId": x.db_id, "state": x.state, "body": x.body,
            "url": format!("{WEB}/{}/{}/pull/{}#pullrequestreview-{}", r.owner, r.name, x.pull, x.db_id),
            "submittedAt": x.submitted_at, "author": actor(&x.author), "comments": {"totalCount": x.comments},
        })
    }

    fn label_json(r: &Repo, l: &Label) -> Value {
        let count =
            |pull: bool| r.issues.iter().filter(|i| i.pull.is_some() == pull && i.labels.contains(&l.name)).count();
        json!({
            "id": gid("LA", l.db_id), "name": l.name, "color": l.color, "description": l.description,
            "isDefault": l.default, "url": format!("{WEB}/{}/{}/labels/{}", r.owner, r.name, l.name.replace(' ', "%20")),
            "createdAt": r.created_at,
            "issues": {"totalCount": count(false)}, "pullRequests": {"totalCount": count(true)},
        })
    }

    fn milestone_json(r: &Repo, m: &Milestone) -> Value {
        let items: Vec<&Issue> = r.issues.iter().filter(|i| i.milestone == Some(m.number)).collect();
        let closed = items.iter().filter(|i| !i.open).count();
        let progress = if items.is_empty() { 0.0 } else { 100.0 * closed as f64 / items.len() as f64 };
        json!({
            "id": gid("MI", m.db_id), "number": m.number, "title": m.title, "description": m.description,
            "state": if m.open { "OPEN" } else { "CLOSED" },
            "url": format!("{WEB}/{}/{}/milestone/{}", r.owner, r.name, m.number),
            "dueOn": m.due_on, "closedAt": m.closed_at, "createdAt": m.created_at,
            "updatedAt": m.closed_at.clone().unwrap_or_else(|| m.created_at.clone()),
            "progressPercentage": progress,
            "issues": {"totalCount": items.iter().filter(|i| i.pull.is_none()).count()},
            "pullRequests": {"totalCount": items.iter().filter(|i| i.pull.is_some()).count()},
        })
    }

    fn commit_json(&self, r: &Repo, c: &Commit) -> Value {
        let user = self.users.iter().find(|u| u.login == c.author);
        json!({
            "__typename": "Commit",
            "oid": c.oid, "abbreviatedOid": &c.oid[..7],
            "messageHeadline": c.message.lines().next().unwrap_or_default(), "message": c.message,
            "committedDate": c.date, "url": format!("{WEB}/{}/{}/commit/{}", r.owner, r.name, c.oid),
            "additions": c.additions, "deletions": c.deletions, "changedFiles": c.files.len(),
            "changedFilesIfAvailable": c.files.len(),
            "author": {"name": user.map_or(c.author.as_str(), |u| u.name.as_str()), "email": format!("{}@users.noreply.github.com", c.author), "user": user.map(|u| json!({"login": u.login}))},
            "parents": {"nodes": c.parent.iter().map(|p| json!({"oid": p})).collect::<Vec<_>>()},
        })
    }

    /// A branch or tag ref: its target is the commit, or the annotated tag object.
    fn ref_json(&self, r: &Repo, x: &Ref, prefix: &str) -> Value {
        let commit = r.commits.iter().find(|c| c.oid == x.oid);
        let commit_json = commit.map_or(Value::Null, |c| self.commit_json(r, c));
        let target = match &x.annotation {
            Some(message) => json!({
                "__typename": "Tag", "oid": oid_of(&format!("tag {}", x.name)), "name": x.name, "message": message,
                "tagger": {"name": "The Octocat", "email": "octocat@users.noreply.github.com", "date": commit.map(|c| &c.date)},
                "target": {"__typename": "Commit", "oid": x.oid},
            }),
            None => commit_json,
        };
        let open_pulls =
            r.issues.iter().filter(|i| i.open && i.pull.as_ref().is_some_and(|p| p.head == x.name)).count();
        json!({
            "name": x.name, "prefix": prefix, "target": target,
            "associatedPullRequests": {"totalCount": open_pulls},
        })
    }

    /// `object(expression: "<rev>")`: the commit a revision names (oid or prefix, branch, tag, HEAD).
    fn resolve_commit<'a>(r: &'a Repo, rev: &str) -> Option<&'a Commit> {
        let oid = if rev == "HEAD" {
            r.branches.iter().find(|b| b.name == r.default_branch).map(|b| b.oid.as_str())
        } else {
            r.branches.iter().chain(&r.tags).find(|b| b.name == rev).map(|b| b.oid.as_str())
        };
        match oid {
            Some(oid) => r.commits.iter().find(|c| c.oid == oid),
            None if rev.len() >= 4 && rev.chars().all(|c| c.is_ascii_hexdigit()) => {
                r.commits.iter().find(|c| c.oid.starts_with(&rev.to_ascii_lowercase()))
            }
            None => None,
        }
    }

    /// `object(expression: "<rev>:<path>")`: a blob, a tree (its entries) or nothing.
    fn resolve_path(r: &Repo, expression: &str) -> Option<GitObject> {
        let (rev, path) = expression.split_once(':')?;
        Self::resolve_commit(r, rev)?;
        let path = path.trim_matches('/');
        if let Some((_, text)) = r.files.iter().find(|(p, _)| p == path) {
            return Some(GitObject::Blob(json!({
                "__typename": "Blob", "oid": oid_of(text), "abbreviatedOid": &oid_of(text)[..7], "byteSize": text.len(),
                "isBinary": false, "isTruncated": false, "text": text,
            })));
        }
        let dir = if path.is_empty() { String::new() } else { format!("{path}/") };
        let mut entries: Vec<Value> = Vec::new();
        for (p, text) in &r.files {
            let Some(rest) = p.strip_prefix(&dir) else { continue };
            let (name, is_tree) = match rest.split_once('/') {
                Some((d, _)) => (d, true),
                None => (rest, false),
            };
            if entries.iter().any(|e| e["name"] == name) {
                continue;
            }
            let full = format!("{dir}{name}");
            entries.push(json!({
                "name": name, "path": full, "type": if is_tree { "tree" } else { "blob" },
                "mode": if is_tree { 16_384 } else { 33_188 }, "oid": oid_of(&full),
                "size": if is_tree { 0 } else { text.len() },
            }));
        }
        if entries.is_empty() {
            return None;
        }
        entries.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        Some(GitObject::Tree(entries))
    }

    fn project_json(o: &Org, p: &Project, detail: bool) -> Value {
        let mut v = json!({
            "id": gid("PVT", p.db_id), "number": p.number, "title": p.title,
            "shortDescription": p.short_description, "url": format!("{WEB}/orgs/{}/projects/{}", o.login, p.number),
            "public": p.public, "closed": p.closed, "createdAt": p.created_at, "updatedAt": ts(3, 20),
            "creator": actor(&p.creator), "items": {"totalCount": p.items.len()},
        });
        if detail {
            v["readme"] = json!(p.readme);
            v["fields"] = json!({"nodes": p.fields});
        }
        v
    }

    fn project_item_json(&self, it: &ProjectItem) -> Value {
        let (kind, content) = match &it.content {
            ItemContent::Draft(title, body) => {
                ("DRAFT_ISSUE", json!({"__typename": "DraftIssue", "title": title, "body": body}))
            }
            ItemContent::Issue(full, number) => {
                let (owner, name) = full.split_once('/').unwrap_or_default();
                let found = self.find_repo(owner, name).and_then(|ri| {
                    self.repos[ri].issues.iter().find(|i| i.number == *number).map(|i| (&self.repos[ri], i))
                });
                match found {
                    None => ("REDACTED", Value::Null),
                    Some((r, i)) => {
                        let (typename, kind, mut v) = match i.pull {
                            Some(_) => ("PullRequest", "PULL_REQUEST", Self::pull_json(r, i)),
                            None => ("Issue", "ISSUE", Self::issue_json(r, i)),
                        };
                        let content = json!({
                            "__typename": typename, "number": i.number, "title": i.title,
                            "state": v["state"].take(), "url": v["url"].take(), "repository": {"nameWithOwner": full},
                        });
                        (kind, content)
                    }
                }
            }
        };
        json!({
            "id": gid("PVTI", it.db_id), "type": kind, "isArchived": false,
            "createdAt": it.created_at, "updatedAt": it.created_at, "content": content,
            "fieldValues": {"nodes": it.values},
        })
    }

    // ------------------------------------------------------------------------ GraphQL operations

    fn list_repositories_of(&self, login: &str, v: &Vars, path: &[&str]) -> Result<Value, GqlError> {
        let repos = self.repos_of(login).into_iter().map(Self::repo_json).collect();
        Ok(nest(&path[..1], json!({"repositories": page(repos, v, path)?.nodes()})))
    }

    fn list_refs(&self, v: &Vars, tags: bool) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let (refs, prefix) = if tags { (&r.tags, "refs/tags/") } else { (&r.branches, "refs/heads/") };
        let nodes = refs.iter().map(|x| self.ref_json(r, x, prefix)).collect();
        Ok(json!({"repository": {"refs": page(nodes, v, &["repository", "refs"])?.nodes()}}))
    }

    fn get_ref(&self, v: &Vars) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let qualified = v.str("qualifiedName");
        let found = [("refs/heads/", &r.branches), ("refs/tags/", &r.tags)].into_iter().find_map(|(prefix, refs)| {
            let name = qualified.strip_prefix(prefix)?;
            refs.iter().find(|x| x.name == name).map(|x| self.ref_json(r, x, prefix))
        });
        Ok(json!({"repository": {"ref": found}}))
    }

    fn list_commits(&self, v: &Vars) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let path = v.opt_str("path").map(|p| p.trim_matches('/').to_string());
        let history = r
            .commits
            .iter()
            .filter(|c| c.on_default)
            .filter(|c| path.as_ref().is_none_or(|p| c.files.iter().any(|f| f == p || f.starts_with(&format!("{p}/")))))
            .map(|c| self.commit_json(r, c))
            .collect();
        let conn = page(history, v, &["repository", "defaultBranchRef", "target", "history"])?.nodes();
        Ok(json!({"repository": {"defaultBranchRef": {"target": {"__typename": "Commit", "history": conn}}}}))
    }

    /// Issues (`pull == false`) or pull requests, newest first, filtered by `$states`.
    fn list_issueish(&self, v: &Vars, pull: bool) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let states = v.strs("states");
        let field = if pull { "pullRequests" } else { "issues" };
        let mut items: Vec<(&Issue, Value)> = r
            .issues
            .iter()
            .filter(|i| i.pull.is_some() == pull)
            .map(|i| (i, if pull { Self::pull_json(r, i) } else { Self::issue_json(r, i) }))
            .filter(|(_, j)| states.as_ref().is_none_or(|s| s.iter().any(|s| j["state"] == *s)))
            .collect();
        items.sort_by(|a, b| b.0.created_at.cmp(&a.0.created_at));
        let nodes = items.into_iter().map(|(_, j)| j).collect();
        Ok(json!({"repository": {field: page(nodes, v, &["repository", field])?.nodes()}}))
    }

    fn get_issueish(&self, v: &Vars, pull: bool) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let field = if pull { "pullRequest" } else { "issue" };
        let i = Self::numbered(r, v.int("number").unwrap_or_default(), pull, field)?;
        Ok(json!({"repository": {field: if pull { Self::pull_json(r, i) } else { Self::issue_json(r, i) }}}))
    }

    /// Comments (`reviews == false`) or reviews of an issue or pull request, oldest first.
    fn list_thread(&self, v: &Vars, pull: bool, reviews: bool) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let parent = if pull { "pullRequest" } else { "issue" };
        let i = Self::numbered(r, v.int("number").unwrap_or_default(), pull, parent)?;
        let (field, nodes) = if reviews {
            ("reviews", r.reviews.iter().filter(|x| x.pull == i.number).map(|x| Self::review_json(r, x)).collect())
        } else {
            ("comments", r.comments.iter().filter(|c| c.issue == i.number).map(|c| Self::comment_json(r, c)).collect())
        };
        let conn = page(nodes, v, &["repository", parent, field])?.nodes();
        Ok(json!({"repository": {parent: {field: conn}}}))
    }

    /// `node(id:)` for an `IssueComment`.
    fn get_comment(&self, v: &Vars) -> Result<Value, GqlError> {
        let id = v.str("id");
        self.repos
            .iter()
            .find_map(|r| r.comments.iter().find(|c| gid("IC", c.db_id) == id).map(|c| Self::comment_json(r, c)))
            .map(|c| json!({"node": c}))
            .ok_or_else(|| {
                GqlError::not_found(&["node"], format!("Could not resolve to a node with the global id of '{id}'"))
            })
    }

    fn search_repositories(&self, v: &Vars) -> Result<Value, GqlError> {
        let q = SearchQuery::parse(v.str("query"));
        let mut hits: Vec<&Repo> = self
            .repos
            .iter()
            .filter(|r| {
                let text = format!("{} {} {}", r.name, r.description, r.topics.join(" "));
                q.matches(&text, |key, val| match key {
                    "user" | "org" | "owner" => Some(r.owner.eq_ignore_ascii_case(val)),
                    "repo" => Some(format!("{}/{}", r.owner, r.name).eq_ignore_ascii_case(val)),
                    "language" => Some(r.language.as_ref().is_some_and(|l| l.eq_ignore_ascii_case(val))),
                    "topic" => Some(r.topics.iter().any(|t| t.eq_ignore_ascii_case(val))),
                    "is" => Some(match val {
                        "public" => !r.private,
                        "private" => r.private,
                        _ => true,
                    }),
                    "fork" => Some(val != "false" || !r.fork),
                    "archived" => Some((val == "true") == r.archived),
                    _ => None,
                })
            })
            .collect();
        hits.sort_by_key(|r| std::cmp::Reverse(r.stars));
        search_result(hits.into_iter().map(Self::repo_json).collect(), "repositoryCount", v)
    }

    /// `search(type: ISSUE)`: issues and pull requests (the document's fragments pick).
    fn search_issueish(&self, v: &Vars) -> Result<Value, GqlError> {
        let q = SearchQuery::parse(v.str("query"));
        let mut hits: Vec<(&Repo, &Issue)> = Vec::new();
        for r in &self.repos {
            for i in &r.issues {
                let text = format!("{} {}", i.title, i.body);
                let full = format!("{}/{}", r.owner, r.name);
                let merged = i.pull.as_ref().is_some_and(|p| p.merged_at.is_some());
                let ok = q.matches(&text, |key, val| match (key, val) {
                    ("repo", _) => Some(full.eq_ignore_ascii_case(val)),
                    ("user" | "org" | "owner", _) => Some(r.owner.eq_ignore_ascii_case(val)),
                    ("is" | "type", "issue") => Some(i.pull.is_none()),
                    ("is" | "type", "pr") => Some(i.pull.is_some()),
                    ("is" | "state", "open") => Some(i.open),
                    ("is" | "state", "closed") => Some(!i.open),
                    ("is", "merged") => Some(merged),
                    ("is", "unmerged") => Some(i.pull.is_some() && !merged),
                    ("is", "draft") => Some(i.pull.as_ref().is_some_and(|p| p.draft)),
                    ("label", _) => Some(i.labels.iter().any(|l| l.eq_ignore_ascii_case(val))),
                    ("author", _) => Some(i.author.eq_ignore_ascii_case(val)),
                    ("assignee", _) => Some(i.assignees.iter().any(|a| a.eq_ignore_ascii_case(val))),
                    ("milestone", _) => {
                        Some(r.milestones.iter().any(|m| Some(m.number) == i.milestone && m.title == val))
                    }
                    ("no", "label") => Some(i.labels.is_empty()),
                    ("no", "assignee") => Some(i.assignees.is_empty()),
                    ("no", "milestone") => Some(i.milestone.is_none()),
                    _ => None,
                });
                if ok {
                    hits.push((r, i));
                }
            }
        }
        hits.sort_by(|a, b| b.1.created_at.cmp(&a.1.created_at));
        let nodes = hits
            .into_iter()
            .map(|(r, i)| if i.pull.is_some() { Self::pull_json(r, i) } else { Self::issue_json(r, i) })
            .collect();
        search_result(nodes, "issueCount", v)
    }

    fn search_users(&self, v: &Vars) -> Result<Value, GqlError> {
        let q = SearchQuery::parse(v.str("query"));
        let hits = self
            .users
            .iter()
            .filter(|u| {
                q.matches(&format!("{} {} {}", u.login, u.name, u.email), |key, val| match key {
                    "type" => Some(val.eq_ignore_ascii_case("user")),
                    "location" => Some(u.location.to_ascii_lowercase().contains(&val.to_ascii_lowercase())),
                    "user" => Some(u.login.eq_ignore_ascii_case(val)),
                    _ => None,
                })
            })
            .map(|u| self.user_json(u))
            .collect();
        search_result(hits, "userCount", v)
    }

    fn search_discussions(&self, v: &Vars) -> Result<Value, GqlError> {
        let q = SearchQuery::parse(v.str("query"));
        let mut hits = Vec::new();
        for r in &self.repos {
            let full = format!("{}/{}", r.owner, r.name);
            for d in &r.discussions {
                let text =
                    format!("{} {}", d["title"].as_str().unwrap_or_default(), d["body"].as_str().unwrap_or_default());
                let ok = q.matches(&text, |key, val| match (key, val) {
                    ("repo", _) => Some(full.eq_ignore_ascii_case(val)),
                    ("user" | "org" | "owner", _) => Some(r.owner.eq_ignore_ascii_case(val)),
                    ("is", "answered") => Some(d["isAnswered"] == true),
                    ("is", "unanswered") => Some(d["isAnswered"] == false),
                    ("is", "open") => Some(d["closed"] == false),
                    ("is", "closed") => Some(d["closed"] == true),
                    ("author", _) => Some(d["author"]["login"].as_str().is_some_and(|a| a.eq_ignore_ascii_case(val))),
                    ("category", _) => {
                        Some(d["category"]["name"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(val)))
                    }
                    ("label", _) => {
                        Some(d["labels"]["nodes"].as_array().is_some_and(|l| l.iter().any(|l| l["name"] == val)))
                    }
                    _ => None,
                });
                if ok {
                    hits.push(d.clone());
                }
            }
        }
        search_result(hits, "discussionCount", v)
    }

    fn list_discussions(&self, v: &Vars) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let states = v.strs("states");
        let answered = v.bool("answered");
        let nodes = r
            .discussions
            .iter()
            .filter(|d| {
                let state = if d["closed"] == true { "CLOSED" } else { "OPEN" };
                states.as_ref().is_none_or(|s| s.contains(&state)) && answered.is_none_or(|a| d["isAnswered"] == a)
            })
            .cloned()
            .collect();
        Ok(json!({"repository": {"discussions": page(nodes, v, &["repository", "discussions"])?.nodes()}}))
    }

    fn get_discussion(&self, v: &Vars) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let number = v.int("number").unwrap_or_default();
        let d = r.discussions.iter().find(|d| d["number"] == number).ok_or_else(|| {
            GqlError::not_found(
                &["repository", "discussion"],
                format!("Could not resolve to a Discussion with the number of {number}."),
            )
        })?;
        Ok(json!({"repository": {"discussion": d}}))
    }

    fn project<'a>(&'a self, v: &Vars) -> Result<(&'a Org, &'a Project), GqlError> {
        let o = self.org(v.str("login"))?;
        let number = v.int("number").unwrap_or_default();
        o.projects.iter().find(|p| i64::from(p.number) == number).map(|p| (o, p)).ok_or_else(|| {
            GqlError::not_found(
                &["organization", "projectV2"],
                format!("Could not resolve to a ProjectV2 with the number {number}."),
            )
        })
    }

    fn list_project_items(&self, v: &Vars) -> Result<Value, GqlError> {
        let (_, p) = self.project(v)?;
        let nodes = p.items.iter().map(|it| self.project_item_json(it)).collect();
        let conn = page(nodes, v, &["organization", "projectV2", "items"])?.nodes();
        Ok(json!({"organization": {"projectV2": {"items": conn}}}))
    }

    fn list_stargazers(&self, v: &Vars) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let mut stars: Vec<&(String, String)> = r.stargazers.iter().collect();
        stars.sort_by(|a, b| b.1.cmp(&a.1));
        let edges = stars
            .into_iter()
            .filter_map(|(login, at)| self.users.iter().find(|u| &u.login == login).map(|u| (u, at)))
            .map(|(u, at)| json!({"starredAt": at, "node": {"login": u.login, "name": u.name, "url": format!("{WEB}/{}", u.login), "avatarUrl": format!("https://avatars.githubusercontent.com/u/{}?v=4", u.db_id)}}))
            .collect();
        let conn = page(edges, v, &["repository", "stargazers"])?.edges();
        Ok(json!({"repository": {"stargazerCount": r.stars, "stargazers": conn}}))
    }

    /// `object(expression: "<rev>:<path>")`: a `Blob`, a `Tree` or `null` (the document's
    /// fragment picks what it wants of it).
    fn object_at_path(&self, v: &Vars) -> Result<Value, GqlError> {
        let r = self.repo(v)?;
        let object = match Self::resolve_path(r, v.str("expression")) {
            Some(GitObject::Blob(b)) => b,
            Some(GitObject::Tree(entries)) => json!({"__typename": "Tree", "entries": entries}),
            None => Value::Null,
        };
        Ok(json!({"repository": {"object": object}}))
    }
}

/// What `object(expression: "rev:path")` found.
enum GitObject {
    Blob(Value),
    Tree(Vec<Value>),
}

/// A deterministic 40-hex-digit object id for a piece of content.
fn oid_of(seed: &str) -> String {
    (0u64..3)
        .map(|salt| {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
            for b in seed.bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
            }
            format!("{h:016x}")
        })
        .collect::<String>()[..40]
        .to_string()
}

/// Merges the keys of `extra` into `v`.
fn merge(v: &mut Value, extra: Value) {
    if let (Value::Object(a), Value::Object(b)) = (v, extra) {
        a.extend(b);
    }
}

/// `{"a": {"b": value}}` for the path `["a", "b"]`.
fn nest(path: &[&str], value: Value) -> Value {
    path.iter().rev().fold(value, |acc, key| json!({ *key: acc }))
}

// ---------------------------------------------------------------------------------- operations

/// A GraphQL operation the fake serves.
type Handler = fn(&Data, &Vars) -> Result<Value, GqlError>;

/// Every operation by name, as the connector's documents name them.
const OPERATIONS: &[(&str, Handler)] = &[
    ("GetRepository", |d, v| Ok(json!({"repository": Data::repo_json(d.repo(v)?)}))),
    ("ListUserRepositories", |d, v| {
        d.list_repositories_of(&d.user(v.str("login"))?.login, v, &["user", "repositories"])
    }),
    ("ListOrgRepositories", |d, v| {
        d.list_repositories_of(&d.org(v.str("login"))?.login, v, &["organization", "repositories"])
    }),
    ("ListViewerRepositories", |d, v| d.list_repositories_of(VIEWER, v, &["viewer", "repositories"])),
    ("SearchRepositories", Data::search_repositories),
    ("ListBranches", |d, v| d.list_refs(v, false)),
    ("GetBranch", Data::get_ref),
    ("ListTags", |d, v| d.list_refs(v, true)),
    ("GetTag", Data::get_ref),
    ("ListCommits", Data::list_commits),
    ("GetCommit", |d, v| {
        let r = d.repo(v)?;
        let commit = Data::resolve_commit(r, v.str("expression")).map(|c| d.commit_json(r, c));
        Ok(json!({"repository": {"object": commit}}))
    }),
    ("ListReleases", |d, v| {
        let r = d.repo(v)?;
        Ok(json!({"repository": {"releases": page(r.releases.clone(), v, &["repository", "releases"])?.nodes()}}))
    }),
    ("GetRelease", |d, v| {
        let r = d.repo(v)?;
        let release = r.releases.iter().find(|x| x["tagName"] == v.str("tagName"));
        Ok(json!({"repository": {"release": release}}))
    }),
    ("ListIssues", |d, v| d.list_issueish(v, false)),
    ("GetIssue", |d, v| d.get_issueish(v, false)),
    ("SearchIssues", Data::search_issueish),
    ("ListIssueComments", |d, v| d.list_thread(v, false, false)),
    ("GetIssueComment", Data::get_comment),
    ("ListPullRequests", |d, v| d.list_issueish(v, true)),
    ("GetPullRequest", |d, v| d.get_issueish(v, true)),
    ("SearchPullRequests", Data::search_issueish),
    ("ListPullRequestReviews", |d, v| d.list_thread(v, true, true)),
    ("ListPullRequestComments", |d, v| d.list_thread(v, true, false)),
    ("GetPullRequestComment", Data::get_comment),
    ("ListLabels", |d, v| {
        let r = d.repo(v)?;
        let mut labels: Vec<&Label> = r.labels.iter().collect();
        labels.sort_by_key(|l| l.name.to_ascii_lowercase());
        let nodes = labels.into_iter().map(|l| Data::label_json(r, l)).collect();
        Ok(json!({"repository": {"labels": page(nodes, v, &["repository", "labels"])?.nodes()}}))
    }),
    ("GetLabel", |d, v| {
        let r = d.repo(v)?;
        let label =
            r.labels.iter().find(|l| l.name.eq_ignore_ascii_case(v.str("labelName"))).map(|l| Data::label_json(r, l));
        Ok(json!({"repository": {"label": label}}))
    }),
    ("ListMilestones", |d, v| {
        let r = d.repo(v)?;
        let states = v.strs("states");
        let nodes = r
            .milestones
            .iter()
            .map(|m| Data::milestone_json(r, m))
            .filter(|m| states.as_ref().is_none_or(|s| s.iter().any(|s| m["state"] == *s)))
            .collect();
        Ok(json!({"repository": {"milestones": page(nodes, v, &["repository", "milestones"])?.nodes()}}))
    }),
    ("GetMilestone", |d, v| {
        let r = d.repo(v)?;
        let number = v.int("number").unwrap_or_default();
        let m = r.milestones.iter().find(|m| i64::from(m.number) == number).map(|m| Data::milestone_json(r, m));
        Ok(json!({"repository": {"milestone": m}}))
    }),
    ("GetOrganization", |d, v| Ok(json!({"organization": d.org_json(d.org(v.str("login"))?)}))),
    ("ListUserOrganizations", |d, v| {
        let u = d.user(v.str("login"))?;
        let orgs = d.orgs.iter().filter(|o| o.members.contains(&u.login)).map(|o| d.org_json(o)).collect();
        Ok(json!({"user": {"organizations": page(orgs, v, &["user", "organizations"])?.nodes()}}))
    }),
    ("GetUser", |d, v| Ok(json!({"user": d.user_json(d.user(v.str("login"))?)}))),
    ("ListOrgMembers", |d, v| {
        let o = d.org(v.str("login"))?;
        let members =
            o.members.iter().filter_map(|m| d.users.iter().find(|u| &u.login == m)).map(|u| d.user_json(u)).collect();
        Ok(
            json!({"organization": {"membersWithRole": page(members, v, &["organization", "membersWithRole"])?.nodes()}}),
        )
    }),
    ("SearchUsers", Data::search_users),
    ("GetViewer", |d, _| Ok(json!({"viewer": d.user_json(d.user(VIEWER)?)}))),
    ("ListTeams", |d, v| {
        let o = d.org(v.str("login"))?;
        let mut teams: Vec<&Team> = o.teams.iter().collect();
        teams.sort_by_key(|t| t.name.to_ascii_lowercase());
        let nodes = teams.into_iter().map(|t| Data::team_json(o, t)).collect();
        Ok(json!({"organization": {"teams": page(nodes, v, &["organization", "teams"])?.nodes()}}))
    }),
    ("GetTeam", |d, v| {
        let o = d.org(v.str("login"))?;
        let team = o.teams.iter().find(|t| t.slug == v.str("slug")).map(|t| Data::team_json(o, t));
        Ok(json!({"organization": {"team": team}}))
    }),
    ("ListStargazers", Data::list_stargazers),
    ("ListProjects", |d, v| {
        let o = d.org(v.str("login"))?;
        let nodes = o.projects.iter().map(|p| Data::project_json(o, p, false)).collect();
        Ok(json!({"organization": {"projectsV2": page(nodes, v, &["organization", "projectsV2"])?.nodes()}}))
    }),
    ("GetProject", |d, v| {
        let (o, p) = d.project(v)?;
        Ok(json!({"organization": {"projectV2": Data::project_json(o, p, true)}}))
    }),
    ("ListProjectItems", Data::list_project_items),
    ("ListDiscussions", Data::list_discussions),
    ("GetDiscussion", Data::get_discussion),
    ("SearchDiscussions", Data::search_discussions),
    ("GetFileContent", Data::object_at_path),
    ("ListDirectoryContent", Data::object_at_path),
];

// ---------------------------------------------------------------------------------- paging

/// One page of a connection.
struct Page {
    total: usize,
    /// Offset of the first item.
    start: usize,
    items: Vec<Value>,
    has_next: bool,
}

/// An opaque cursor: base64 of `cursor:v2:<position>`.
fn cursor(position: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("cursor:v2:{position}"))
}

/// The position a cursor stands for.
fn decode_cursor(c: &str) -> Option<usize> {
    let raw = base64::engine::general_purpose::STANDARD.decode(c).ok()?;
    String::from_utf8(raw).ok()?.strip_prefix("cursor:v2:")?.parse().ok()
}

/// Pages `items` from `$first` / `$after` as GitHub does; `path` names the connection field
/// (for errors).
fn page(items: Vec<Value>, v: &Vars, path: &[&str]) -> Result<Page, GqlError> {
    let name = path.last().copied().unwrap_or_default();
    let first = v.int("first").ok_or_else(|| {
        GqlError::field(
            path,
            "MISSING_PAGINATION_BOUNDARIES",
            format!("You must provide a `first` or `last` value to properly paginate the `{name}` connection."),
        )
    })?;
    if first > MAX_PAGE_SIZE {
        return Err(GqlError::field(path, "EXCESSIVE_PAGINATION", format!("Requesting {first} records on the `{name}` connection exceeds the `first` limit of {MAX_PAGE_SIZE} records.")));
    }
    if first < 0 {
        return Err(GqlError::field(
            path,
            "INVALID_PAGINATION",
            format!("`first` on the `{name}` connection cannot be less than zero."),
        ));
    }
    let start = match v.opt_str("after") {
        None => 0,
        Some(c) => decode_cursor(c).ok_or_else(|| {
            GqlError::field(path, "INVALID_CURSOR_ARGUMENTS", format!("`{c}` does not appear to be a valid cursor."))
        })?,
    };
    let total = items.len();
    let items: Vec<Value> = items.into_iter().skip(start).take(usize::try_from(first).unwrap_or(0)).collect();
    Ok(Page { total, start, has_next: start + items.len() < total, items })
}

impl Page {
    fn page_info(&self) -> Value {
        json!({
            "hasNextPage": self.has_next, "hasPreviousPage": self.start > 0,
            "startCursor": (!self.items.is_empty()).then(|| cursor(self.start + 1)),
            "endCursor": (!self.items.is_empty()).then(|| cursor(self.start + self.items.len())),
        })
    }

    /// `{totalCount, pageInfo, nodes, edges}`: each item is a node; its edge is `{cursor, node}`.
    fn nodes(self) -> Value {
        let info = self.page_info();
        let edges: Vec<Value> = (self.items.iter().enumerate())
            .map(|(i, n)| json!({"cursor": cursor(self.start + i + 1), "node": n}))
            .collect();
        json!({"totalCount": self.total, "pageInfo": info, "nodes": self.items, "edges": edges})
    }

    /// `{totalCount, pageInfo, edges, nodes}`: each item is an edge (with its `node` and what
    /// the edge itself holds), given its `cursor`.
    fn edges(self) -> Value {
        let info = self.page_info();
        let edges: Vec<Value> = self
            .items
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                e["cursor"] = json!(cursor(self.start + i + 1));
                e
            })
            .collect();
        let nodes: Vec<Value> = edges.iter().map(|e| e["node"].clone()).collect();
        json!({"totalCount": self.total, "pageInfo": info, "edges": edges, "nodes": nodes})
    }
}

/// A `search` connection with its `<type>Count`.
fn search_result(hits: Vec<Value>, count: &str, v: &Vars) -> Result<Value, GqlError> {
    let p = page(hits, v, &["search"])?;
    let total = p.total;
    let mut conn = p.nodes();
    if let Value::Object(m) = &mut conn {
        m.remove("totalCount");
        m.insert(count.to_string(), json!(total));
    }
    Ok(json!({ "search": conn }))
}

/// A search string: free words and `key:value` qualifiers (`-key:value` negates; values may be
/// quoted).
struct SearchQuery {
    words: Vec<String>,
    qualifiers: Vec<(bool, String, String)>,
}

impl SearchQuery {
    fn parse(q: &str) -> Self {
        let mut tokens = Vec::new();
        let mut cur = String::new();
        let mut quoted = false;
        for c in q.chars() {
            match c {
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !cur.is_empty() {
                        tokens.push(std::mem::take(&mut cur));
                    }
                }
                c => cur.push(c),
            }
        }
        if !cur.is_empty() {
            tokens.push(cur);
        }
        let mut out = Self { words: Vec::new(), qualifiers: Vec::new() };
        for t in tokens {
            match t.split_once(':') {
                Some((k, val)) if !k.is_empty() && !val.is_empty() => {
                    let (neg, k) = k.strip_prefix('-').map_or((false, k), |k| (true, k));
                    out.qualifiers.push((neg, k.to_ascii_lowercase(), val.to_string()));
                }
                _ => out.words.push(t.to_ascii_lowercase()),
            }
        }
        out
    }

    /// Whether an item matches: every word appears in `text`, and every qualifier `check`
    /// knows (`Some`) holds; unknown qualifiers (`in:`, `sort:`, ...) are ignored.
    fn matches(&self, text: &str, check: impl Fn(&str, &str) -> Option<bool>) -> bool {
        let text = text.to_ascii_lowercase();
        self.words.iter().all(|w| text.contains(w.as_str()))
            && self.qualifiers.iter().all(|(neg, k, v)| check(k, v).is_none_or(|ok| ok != *neg))
    }
}

// ---------------------------------------------------------------------------------- GraphQL plumbing

/// A GraphQL error, answered in GitHub's shape (always HTTP 200).
#[derive(Debug)]
enum GqlError {
    /// A field failed: `data` holds `null` at `path`, the error has a `type`.
    Field { path: Vec<String>, kind: &'static str, message: String },
    /// The document or its variables do not validate: no `data`.
    Invalid { message: String, extensions: Value },
}

impl GqlError {
    fn field(path: &[&str], kind: &'static str, message: String) -> Self {
        Self::Field { path: path.iter().map(|s| s.to_string()).collect(), kind, message }
    }

    fn not_found(path: &[&str], message: String) -> Self {
        Self::field(path, "NOT_FOUND", message)
    }

    fn invalid(message: String, extensions: Value) -> Self {
        Self::Invalid { message, extensions }
    }
}

impl GqlError {
    /// The answer's body.
    fn body(self) -> Value {
        match self {
            GqlError::Field { path, kind, message } => {
                let keys: Vec<&str> = path.iter().map(String::as_str).collect();
                let data = match keys.split_last() {
                    Some((last, parents)) => nest(parents, json!({ *last: null })),
                    None => Value::Null,
                };
                json!({"data": data, "errors": [{
                    "type": kind, "path": path, "locations": [{"line": 1, "column": 1}], "message": message,
                }]})
            }
            GqlError::Invalid { message, extensions } => json!({"errors": [{
                "message": message, "extensions": extensions, "locations": [{"line": 1, "column": 1}],
            }]}),
        }
    }
}

impl IntoResponse for GqlError {
    fn into_response(self) -> Response {
        (StatusCode::OK, Json(self.body())).into_response()
    }
}

/// Enum input types the connector's documents use.
const ENUMS: &[(&str, &[&str])] = &[
    ("IssueState", &["OPEN", "CLOSED"]),
    ("PullRequestState", &["OPEN", "CLOSED", "MERGED"]),
    ("MilestoneState", &["OPEN", "CLOSED"]),
    ("DiscussionState", &["OPEN", "CLOSED"]),
];

/// Why `value` is not a valid `ty` (`Int!`, `[IssueState!]`, ...), with the path inside it.
fn type_problem(ty: &str, value: &Value, path: &mut Vec<Value>) -> Option<String> {
    let (inner, non_null) = match ty.strip_suffix('!') {
        Some(t) => (t, true),
        None => (ty, false),
    };
    if value.is_null() {
        return non_null.then(|| "Expected value to not be null".to_string());
    }
    if let Some(item_ty) = inner.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let items = value.as_array().map_or_else(|| vec![value], |a| a.iter().collect());
        return items.into_iter().enumerate().find_map(|(i, item)| {
            path.push(json!(i));
            let p = type_problem(item_ty, item, path);
            if p.is_none() {
                path.pop();
            }
            p
        });
    }
    let ok = match inner {
        "Int" => value.is_i64(),
        "String" => value.is_string(),
        "ID" => value.is_string() || value.is_i64(),
        "Boolean" => value.is_boolean(),
        other => {
            let values = ENUMS.iter().find(|(n, _)| *n == other).map_or(&[][..], |(_, v)| *v);
            if !value.as_str().is_some_and(|s| values.contains(&s)) {
                return Some(format!("Expected {value} to be one of: {}", values.join(", ")));
            }
            true
        }
    };
    (!ok).then(|| format!("Could not coerce value {value} to {inner}"))
}

/// The `$name`s in a piece of GraphQL text.
fn dollar_names(text: &str) -> Vec<&str> {
    text.split('$')
        .skip(1)
        .map(|rest| &rest[..rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len())])
        .filter(|n| !n.is_empty())
        .collect()
}

/// The variables of a request, checked against the operation's definitions.
struct Vars(Map<String, Value>);

impl Vars {
    /// Parses the operation header (`query Name($a: T!, ...)`), validates variable usage and
    /// types, and returns the operation name with the variables.
    fn bind(query: &str, values: Map<String, Value>) -> Result<(String, Self), GqlError> {
        let no_ext = || json!({});
        if query.contains("{{") || query.contains("{%") {
            return Err(GqlError::invalid("Parse error on \"{\" (LCURLY) (an unrendered template?)".into(), no_ext()));
        }
        if query.matches('{').count() != query.matches('}').count() {
            return Err(GqlError::invalid("Parse error on end of file: unbalanced braces".into(), no_ext()));
        }
        let rest = query.trim_start().strip_prefix("query").ok_or_else(|| {
            GqlError::invalid(
                "The fake serves only named queries (`query Name(...)`); writes use the REST API.".into(),
                no_ext(),
            )
        })?;
        let rest = rest.trim_start();
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = rest[..end].to_string();
        let rest = rest[end..].trim_start();
        let (defs, body) = match rest.strip_prefix('(') {
            Some(r) => r
                .split_once(')')
                .ok_or_else(|| GqlError::invalid("Parse error on end of file: expected `)`".into(), no_ext()))?,
            None => ("", rest),
        };
        let declared: Vec<(&str, &str)> = defs
            .split(',')
            .filter_map(|d| {
                let (n, ty) = d.split_once(':')?;
                let ty = ty.split('=').next().unwrap_or_default().trim();
                Some((n.trim().trim_start_matches('$'), ty))
            })
            .collect();
        let used = dollar_names(body);
        if let Some(v) = used.iter().find(|u| !declared.iter().any(|(n, _)| n == *u)) {
            return Err(GqlError::invalid(
                format!("Variable ${v} is used by {name} but not declared"),
                json!({"code": "variableNotDefined", "variableName": v}),
            ));
        }
        for (n, ty) in &declared {
            if !used.contains(n) {
                return Err(GqlError::invalid(
                    format!("Variable ${n} is declared by {name} but not used"),
                    json!({"code": "variableNotUsed", "variableName": n}),
                ));
            }
            let base = ty.trim_matches(|c| c == '[' || c == ']' || c == '!');
            if !["Int", "String", "ID", "Boolean"].contains(&base) && !ENUMS.iter().any(|(e, _)| *e == base) {
                return Err(GqlError::invalid(
                    format!("{base} isn't a defined input type (on ${n})"),
                    json!({"code": "variableRequiresValidType", "typeName": base, "variableName": n}),
                ));
            }
            let value = values.get(*n).cloned().unwrap_or(Value::Null);
            let mut path = Vec::new();
            if let Some(explanation) = type_problem(ty, &value, &mut path) {
                let at = path.iter().map(Value::to_string).collect::<Vec<_>>().join(".");
                let suffix = if at.is_empty() { String::new() } else { format!(" for {at}") };
                return Err(GqlError::invalid(
                    format!("Variable ${n} of type {ty} was provided invalid value{suffix}"),
                    json!({"value": value, "problems": [{"path": path, "explanation": explanation}]}),
                ));
            }
        }
        let declared_names: Vec<&str> = declared.iter().map(|(n, _)| *n).collect();
        let values = values.into_iter().filter(|(k, _)| declared_names.contains(&k.as_str())).collect();
        Ok((name, Self(values)))
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name).filter(|v| !v.is_null())
    }

    /// A string variable; empty when absent (required ones were checked by [`Vars::bind`]).
    fn str(&self, name: &str) -> &str {
        self.opt_str(name).unwrap_or_default()
    }

    fn opt_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Value::as_str)
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(Value::as_i64)
    }

    fn bool(&self, name: &str) -> Option<bool> {
        self.get(name).and_then(Value::as_bool)
    }

    /// A list of strings (a single value counts as a list of one, as GraphQL coerces it).
    fn strs(&self, name: &str) -> Option<Vec<&str>> {
        self.get(name).map(|v| match v {
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            other => other.as_str().into_iter().collect(),
        })
    }
}

/// The body of a GraphQL request.
#[derive(Debug, Deserialize)]
struct GqlRequest {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default, rename = "operationName")]
    operation_name: Option<String>,
}

// ---------------------------------------------------------------------------------- auth

/// Checks `Authorization: Bearer <token>` / `token <token>`; the 401 answer otherwise, with
/// `docs` as `documentation_url`.
fn authenticate(state: &FakeState, headers: &HeaderMap, docs: &str) -> Result<(), Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token"))
        .map(|(_, t)| t.trim().to_string());
    let message = match token {
        Some(t) if t == creds::GITHUB_TOKEN || state.oauth_access_valid("github", &t) => return Ok(()),
        Some(_) => "Bad credentials",
        None if docs == GRAPHQL_DOCS => "This endpoint requires you to be authenticated.",
        None => "Requires authentication",
    };
    Err((StatusCode::UNAUTHORIZED, Json(json!({"message": message, "documentation_url": docs, "status": "401"})))
        .into_response())
}

/// `POST /graphql`.
async fn graphql(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = authenticate(&state, &headers, GRAPHQL_DOCS) {
        return r;
    }
    let request: GqlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(_) => return RestError::BadJson(GRAPHQL_DOCS).into_response(),
    };
    let answer = execute(&lock(&state.github), request);
    Json(answer).into_response()
}

/// The schema subset the fake serves (`schema/github.graphql`).
fn schema() -> &'static graphql::Schema {
    static SCHEMA: OnceLock<graphql::Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        graphql::Schema::parse(include_str!("../schema/github.graphql"))
            .unwrap_or_else(|e| panic!("schema/github.graphql: {e}"))
    })
}

/// Runs one GraphQL request the way GitHub does, answered with HTTP 200 whatever happens:
/// parse, validate the document against the schema (every problem reported, no `data`), bind
/// the variables, resolve, and return only what the document selects.
fn execute(d: &Data, request: GqlRequest) -> Value {
    let doc = match graphql::parse(&request.query) {
        Ok(doc) => doc,
        Err(e) => return syntax_error(&request.query, &e),
    };
    let Some(op) = graphql::operation(&doc, request.operation_name.as_deref()) else {
        let message = match &request.operation_name {
            Some(n) => format!("No operation named \"{n}\""),
            None => "An operation name is required".to_string(),
        };
        return json!({"errors": [{"message": message}]});
    };
    if op.kind != "query" || op.name.is_none() {
        let message = "The fake serves only named queries (`query Name(...)`); writes use the REST API.";
        return GqlError::invalid(message.into(), json!({})).body();
    }
    let problems = graphql::validate(schema(), &op);
    if !problems.is_empty() {
        return json!({"errors": problems.iter().map(problem_json).collect::<Vec<_>>()});
    }
    let (name, vars) = match Vars::bind(&request.query, request.variables.unwrap_or_default()) {
        Ok(x) => x,
        Err(e) => return e.body(),
    };
    let Some((_, handler)) = OPERATIONS.iter().find(|(n, _)| *n == name) else {
        let message = format!("The fake does not serve operation `{name}`.");
        return GqlError::invalid(message, json!({"code": "undefinedOperation"})).body();
    };
    let data = match handler(d, &vars) {
        Ok(data) => data,
        Err(e) => return e.body(),
    };
    match graphql::shape(schema(), &op, &data, &vars.0) {
        Ok(data) => json!({ "data": data }),
        Err(why) => {
            let message = format!("The fake cannot answer this selection: {why}.");
            GqlError::invalid(message, json!({"code": "fakeUnmodelled"})).body()
        }
    }
}

/// GitHub's answer to a document that does not parse (graphql-ruby's wording and token names).
fn syntax_error(query: &str, e: &graphql::SyntaxError) -> Value {
    let message = match (&e.unexpected, &e.lexical) {
        (None, None) => "Unexpected end of document".to_string(),
        (None, Some(what)) => format!("Parse error on {what} at [{}, {}]", e.line, e.column),
        (Some(tok), _) => {
            let kind = match tok.as_str() {
                "{" => "LCURLY",
                "}" => "RCURLY",
                "(" => "LPAREN",
                ")" => "RPAREN",
                "[" => "LBRACKET",
                "]" => "RBRACKET",
                ":" => "COLON",
                "$" => "VAR_SIGN",
                "!" => "BANG",
                "=" => "EQUALS",
                "@" => "DIR_SIGN",
                "..." => "ELLIPSIS",
                "|" => "PIPE",
                "&" => "AMP",
                t if t.starts_with('"') => "STRING",
                t if t.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                    if t.contains(['.', 'e', 'E']) {
                        "FLOAT"
                    } else {
                        "INT"
                    }
                }
                _ => "IDENTIFIER",
            };
            let hint = if query.contains("{{") || query.contains("{%") { " (an unrendered template?)" } else { "" };
            format!("Parse error on {tok:?} ({kind}) at [{}, {}]{hint}", e.line, e.column)
        }
    };
    json!({"errors": [{"message": message, "locations": [{"line": e.line, "column": e.column}]}]})
}

/// One static validation problem as GitHub reports it (graphql-ruby's messages and codes).
fn problem_json(p: &graphql::Problem) -> Value {
    use graphql::ProblemKind as K;
    let (message, extensions) = match &p.kind {
        K::UndefinedField { type_name, field } => (
            format!("Field '{field}' doesn't exist on type '{type_name}'"),
            json!({"code": "undefinedField", "typeName": type_name, "fieldName": field}),
        ),
        K::UnknownArgument { field, argument, .. } => (
            format!("Field '{field}' doesn't accept argument '{argument}'"),
            json!({"code": "argumentNotAccepted", "name": field, "typeName": "Field", "argumentName": argument}),
        ),
        K::MissingArguments { field, arguments, .. } => {
            let names = arguments.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ");
            (
                format!("Field '{field}' is missing required arguments: {names}"),
                json!({"code": "missingRequiredArguments", "className": "Field", "name": field, "arguments": names}),
            )
        }
        K::LeafSelections { field, type_name, kind, selections, .. } => {
            let listed = selections.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
            (
                format!(
                    "Selections can't be made on {}s (field '{field}' returns {type_name} but has selections [{listed}])",
                    kind.name()
                ),
                json!({"code": "selectionMismatch", "nodeName": format!("field '{field}'"), "typeName": type_name}),
            )
        }
        K::NoSelections { field, type_name, .. } => (
            format!(
                "Field must have selections (field '{field}' returns {type_name} but has no selections. Did you mean '{field} {{ ... }}'?)"
            ),
            json!({"code": "selectionMismatch", "nodeName": format!("field '{field}'"), "typeName": type_name}),
        ),
        K::UnionSelection { type_name, .. } => (
            format!("Selections can't be made directly on unions (see selections on {type_name})"),
            json!({"code": "selectionMismatch", "nodeName": type_name}),
        ),
        K::UndefinedType { type_name } => (
            format!("No such type {type_name}, so it can't be a fragment condition"),
            json!({"code": "undefinedType", "typeName": type_name}),
        ),
        K::ImpossibleSpread { fragment, type_name, parent } => {
            let name = fragment.as_ref().map(|f| format!(" {f}")).unwrap_or_default();
            (
                format!("Fragment{name} on {type_name} can't be spread inside {parent}"),
                json!({
                    "code": "cannotSpreadFragment", "typeName": type_name,
                    "fragmentName": if name.is_empty() { "unknown" } else { name.as_str() }, "parentName": parent,
                }),
            )
        }
        K::UndefinedFragment { name } => (
            format!("Fragment {name} was used, but not defined"),
            json!({"code": "useAndDefineFragment", "fragmentName": name}),
        ),
        K::FieldsConflict { field, first, second } => (
            format!("Field '{field}' has a return_type conflict: `{first}` or `{second}`?"),
            json!({"code": "fieldConflict", "fieldName": field, "conflicts": format!("`{first}` or `{second}`")}),
        ),
        K::Unmodelled { type_name, field } => (
            format!("The fake does not serve type '{type_name}' (selecting '{field}'), though GitHub has it"),
            json!({"code": "fakeUnmodelled", "typeName": type_name, "fieldName": field}),
        ),
    };
    json!({
        "path": p.path, "extensions": extensions,
        "locations": [{"line": p.line, "column": p.column}], "message": message,
    })
}

// ---------------------------------------------------------------------------------- REST writes

/// A REST error in GitHub's shape.
enum RestError {
    /// 400 "Problems parsing JSON".
    BadJson(&'static str),
    /// 404 "Not Found".
    NotFound(&'static str),
    /// 422 "Validation Failed" with `errors`.
    Invalid(&'static str, Vec<Value>),
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let (status, body) = match self {
            RestError::BadJson(docs) => (
                StatusCode::BAD_REQUEST,
                json!({"message": "Problems parsing JSON", "documentation_url": docs, "status": "400"}),
            ),
            RestError::NotFound(docs) => {
                (StatusCode::NOT_FOUND, json!({"message": "Not Found", "documentation_url": docs, "status": "404"}))
            }
            RestError::Invalid(docs, errors) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"message": "Validation Failed", "errors": errors, "documentation_url": docs, "status": "422"}),
            ),
        };
        (status, Json(body)).into_response()
    }
}

const CREATE_ISSUE_DOCS: &str = "https://docs.github.com/rest/issues/issues#create-an-issue";
const UPDATE_ISSUE_DOCS: &str = "https://docs.github.com/rest/issues/issues#update-an-issue";
const CREATE_COMMENT_DOCS: &str = "https://docs.github.com/rest/issues/comments#create-an-issue-comment";
const CREATE_PULL_DOCS: &str = "https://docs.github.com/rest/pulls/pulls#create-a-pull-request";

/// A `missing_field` / `invalid` entry of a 422's `errors`.
fn field_error(resource: &str, field: &str, code: &str, value: Option<&Value>) -> Value {
    let mut e = json!({"resource": resource, "code": code, "field": field});
    if let Some(v) = value {
        e["value"] = v.clone();
    }
    e
}

/// The JSON object body of a write.
fn json_body(body: &[u8], docs: &'static str) -> Result<Map<String, Value>, RestError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(RestError::BadJson(docs)),
    }
}

/// A required, non-blank string field.
fn required_str(
    body: &Map<String, Value>,
    field: &str,
    resource: &str,
    docs: &'static str,
) -> Result<String, RestError> {
    match body.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        None | Some(Value::Null) => {
            Err(RestError::Invalid(docs, vec![field_error(resource, field, "missing_field", None)]))
        }
        Some(v) => Err(RestError::Invalid(docs, vec![field_error(resource, field, "invalid", Some(v))])),
    }
}

fn rest_user(d: &Data, login: &str) -> Value {
    let id = d.users.iter().find(|u| u.login == login).map_or(0, |u| u.db_id);
    json!({
        "login": login, "id": id, "node_id": gid("U", id),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "url": format!("{API}/users/{login}"), "html_url": format!("{WEB}/{login}"),
        "type": "User", "site_admin": false,
    })
}

/// An issue (or a pull request seen through the Issues API) in REST shape.
fn rest_issue(d: &Data, r: &Repo, i: &Issue) -> Value {
    let base = format!("{API}/repos/{}/{}", r.owner, r.name);
    let labels: Vec<Value> = i
        .labels
        .iter()
        .filter_map(|n| r.labels.iter().find(|l| &l.name == n))
        .map(|l| json!({"id": l.db_id, "node_id": gid("LA", l.db_id), "url": format!("{base}/labels/{}", l.name.replace(' ', "%20")), "name": l.name, "color": l.color, "default": l.default, "description": l.description}))
        .collect();
    let milestone = i.milestone.and_then(|n| r.milestones.iter().find(|m| m.number == n)).map(|m| {
        let items = r.issues.iter().filter(|x| x.milestone == Some(m.number));
        json!({
            "url": format!("{base}/milestones/{}", m.number), "html_url": format!("{WEB}/{}/{}/milestone/{}", r.owner, r.name, m.number),
            "id": m.db_id, "node_id": gid("MI", m.db_id), "number": m.number, "title": m.title, "description": m.description,
            "state": if m.open { "open" } else { "closed" },
            "open_issues": items.clone().filter(|x| x.open).count(), "closed_issues": items.filter(|x| !x.open).count(),
            "created_at": m.created_at, "due_on": m.due_on, "closed_at": m.closed_at,
        })
    });
    let assignees: Vec<Value> = i.assignees.iter().map(|a| rest_user(d, a)).collect();
    let mut v = json!({
        "id": i.db_id, "node_id": gid(if i.pull.is_some() { "PR" } else { "I" }, i.db_id),
        "url": format!("{base}/issues/{}", i.number), "repository_url": base,
        "comments_url": format!("{base}/issues/{}/comments", i.number),
        "html_url": format!("{WEB}/{}/{}/{}/{}", r.owner, r.name, if i.pull.is_some() { "pull" } else { "issues" }, i.number),
        "number": i.number, "state": if i.open { "open" } else { "closed" }, "state_reason": i.state_reason,
        "title": i.title, "body": i.body, "user": rest_user(d, &i.author), "labels": labels,
        "assignee": assignees.first(), "assignees": assignees, "milestone": milestone,
        "locked": false, "comments": r.comments.iter().filter(|c| c.issue == i.number).count(),
        "created_at": i.created_at, "updated_at": i.updated_at, "closed_at": i.closed_at,
        "author_association": if i.author == VIEWER { "OWNER" } else { "MEMBER" },
    });
    if let Some(p) = &i.pull {
        v["pull_request"] = json!({
            "url": format!("{base}/pulls/{}", i.number), "html_url": format!("{WEB}/{}/{}/pull/{}", r.owner, r.name, i.number),
            "diff_url": format!("{WEB}/{}/{}/pull/{}.diff", r.owner, r.name, i.number), "merged_at": p.merged_at,
        });
    }
    v
}

/// A pull request in REST shape (`/pulls` endpoints).
fn rest_pull(d: &Data, r: &Repo, i: &Issue) -> Value {
    let mut v = rest_issue(d, r, i);
    let Some(p) = &i.pull else { return v };
    let branch = |name: &str| {
        let sha = r.branches.iter().find(|b| b.name == name).map(|b| b.oid.clone());
        json!({"label": format!("{}:{name}", r.owner), "ref": name, "sha": sha, "user": rest_user(d, &r.owner), "repo": {"id": r.db_id, "name": r.name, "full_name": format!("{}/{}", r.owner, r.name)}})
    };
    merge(
        &mut v,
        json!({
            "url": format!("{API}/repos/{}/{}/pulls/{}", r.owner, r.name, i.number),
            "draft": p.draft, "merged": p.merged_at.is_some(), "merged_at": p.merged_at, "mergeable": null,
            "head": branch(&p.head), "base": branch(&p.base), "maintainer_can_modify": p.maintainer_can_modify,
            "commits": p.commits, "additions": p.additions, "deletions": p.deletions, "changed_files": p.changed_files,
            "review_comments": 0,
        }),
    );
    if let Value::Object(m) = &mut v {
        m.remove("pull_request");
    }
    v
}

fn rest_comment(d: &Data, r: &Repo, c: &Comment) -> Value {
    let base = format!("{API}/repos/{}/{}", r.owner, r.name);
    let mut html = Data::comment_json(r, c)["url"].take();
    if html.is_null() {
        html = json!(format!("{WEB}/{}/{}/issues/{}", r.owner, r.name, c.issue));
    }
    json!({
        "id": c.db_id, "node_id": gid("IC", c.db_id), "url": format!("{base}/issues/comments/{}", c.db_id),
        "html_url": html, "issue_url": format!("{base}/issues/{}", c.issue), "body": c.body,
        "user": rest_user(d, &c.author), "created_at": c.created_at, "updated_at": c.created_at,
        "author_association": if c.author == VIEWER { "OWNER" } else { "MEMBER" },
    })
}

/// Checks a write's labels / assignees / milestone fields against the repository.
fn check_issue_fields(d: &Data, r: &Repo, body: &Map<String, Value>, docs: &'static str) -> Result<(), RestError> {
    let invalid =
        |field: &str, v: &Value| RestError::Invalid(docs, vec![field_error("Issue", field, "invalid", Some(v))]);
    if let Some(v) = body.get("assignees") {
        let ok = v
            .as_array()
            .is_some_and(|a| a.iter().all(|x| x.as_str().is_some_and(|l| d.users.iter().any(|u| u.login == l))));
        if !ok {
            return Err(invalid("assignees", v));
        }
    }
    if let Some(v) = body.get("labels") {
        if !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)) {
            return Err(invalid("labels", v));
        }
    }
    match body.get("milestone") {
        None | Some(Value::Null) => {}
        Some(v) => {
            if !v.as_u64().is_some_and(|n| r.milestones.iter().any(|m| u64::from(m.number) == n)) {
                return Err(invalid("milestone", v));
            }
        }
    }
    Ok(())
}

/// Applies `labels` (creating missing ones, as GitHub does), `assignees` and `milestone`.
fn apply_issue_fields(r: &mut Repo, number: u32, body: &Map<String, Value>, next_label_id: u64) {
    let strs = |v: &Value| -> Vec<String> {
        v.as_array().map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()).unwrap_or_default()
    };
    if let Some(v) = body.get("labels") {
        let names = strs(v);
        for (k, n) in names.iter().enumerate() {
            if !r.labels.iter().any(|l| l.name.eq_ignore_ascii_case(n)) {
                r.labels.push(Label {
                    db_id: next_label_id + k as u64,
                    name: n.clone(),
                    color: "ededed".into(),
                    description: String::new(),
                    default: false,
                });
            }
        }
        let canonical: Vec<String> = names
            .iter()
            .filter_map(|n| r.labels.iter().find(|l| l.name.eq_ignore_ascii_case(n)).map(|l| l.name.clone()))
            .collect();
        if let Some(i) = r.issues.iter_mut().find(|i| i.number == number) {
            i.labels = canonical;
        }
    }
    let Some(i) = r.issues.iter_mut().find(|i| i.number == number) else { return };
    if let Some(v) = body.get("assignees") {
        i.assignees = strs(v);
    }
    if let Some(v) = body.get("milestone") {
        i.milestone = v.as_u64().and_then(|n| u32::try_from(n).ok());
    }
}

/// Runs a write under the lock after auth and body parsing.
async fn write(
    state: &FakeState,
    headers: &HeaderMap,
    body: &[u8],
    docs: &'static str,
    f: impl FnOnce(&mut Data, Map<String, Value>) -> Result<(StatusCode, Value), RestError>,
) -> Response {
    if let Err(r) = authenticate(state, headers, REST_DOCS) {
        return r;
    }
    let result = json_body(body, docs).and_then(|b| f(&mut lock(&state.github), b));
    match result {
        Ok((status, v)) => {
            let mut resp = (status, Json(&v)).into_response();
            if status == StatusCode::CREATED {
                if let Some(loc) = v["url"].as_str().and_then(|u| u.parse().ok()) {
                    resp.headers_mut().insert(header::LOCATION, loc);
                }
            }
            resp
        }
        Err(e) => e.into_response(),
    }
}

/// The repository of a REST path, or 404.
fn rest_repo(d: &Data, owner: &str, name: &str, docs: &'static str) -> Result<usize, RestError> {
    d.find_repo(owner, name).ok_or(RestError::NotFound(docs))
}

/// The next number in a repository (issues, pull requests and discussions share them).
fn next_number(r: &Repo) -> u32 {
    let top = r
        .issues
        .iter()
        .map(|i| i.number)
        .chain(r.discussions.iter().filter_map(|d| d["number"].as_u64().and_then(|n| u32::try_from(n).ok())));
    top.max().unwrap_or(0) + 1
}

/// `POST /repos/{owner}/{repo}/issues`.
async fn create_issue(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    write(&state, &headers, &body, CREATE_ISSUE_DOCS, |d, b| {
        let ri = rest_repo(d, &owner, &name, CREATE_ISSUE_DOCS)?;
        let title = required_str(&b, "title", "Issue", CREATE_ISSUE_DOCS)?;
        check_issue_fields(d, &d.repos[ri], &b, CREATE_ISSUE_DOCS)?;
        let now = d.tick();
        let db_id = d.next_db_id();
        let label_ids = d.last_db_id + 1;
        d.last_db_id += 10;
        let r = &mut d.repos[ri];
        let number = next_number(r);
        let text = b.get("body").and_then(Value::as_str).unwrap_or_default().to_string();
        r.issues.push(Issue::new(db_id, number, title, text, VIEWER, now));
        apply_issue_fields(r, number, &b, label_ids);
        let (r, i) = (&d.repos[ri], &d.repos[ri].issues[d.repos[ri].issues.len() - 1]);
        Ok((StatusCode::CREATED, rest_issue(d, r, i)))
    })
    .await
}

/// `PATCH /repos/{owner}/{repo}/issues/{issue_number}`.
async fn update_issue(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, name, number)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    write(&state, &headers, &body, UPDATE_ISSUE_DOCS, |d, b| {
        let ri = rest_repo(d, &owner, &name, UPDATE_ISSUE_DOCS)?;
        let number: u32 = number.parse().map_err(|_| RestError::NotFound(UPDATE_ISSUE_DOCS))?;
        let ii =
            d.repos[ri].issues.iter().position(|i| i.number == number).ok_or(RestError::NotFound(UPDATE_ISSUE_DOCS))?;
        check_issue_fields(d, &d.repos[ri], &b, UPDATE_ISSUE_DOCS)?;
        let invalid = |field: &str, v: &Value| {
            RestError::Invalid(UPDATE_ISSUE_DOCS, vec![field_error("Issue", field, "invalid", Some(v))])
        };
        if let Some(v) = b.get("title") {
            if v.as_str().is_none_or(|s| s.trim().is_empty()) {
                return Err(invalid("title", v));
            }
        }
        let state_val = b.get("state").map(|v| (v, v.as_str())).map(|(v, s)| match s {
            Some("open") => Ok(true),
            Some("closed") => Ok(false),
            _ => Err(invalid("state", v)),
        });
        let open = state_val.transpose()?;
        let reason = match b.get("state_reason") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_str() {
                Some(s @ ("completed" | "not_planned" | "duplicate" | "reopened")) => Some(s.to_string()),
                _ => return Err(invalid("state_reason", v)),
            },
        };
        let now = d.tick();
        let label_ids = d.last_db_id + 1;
        d.last_db_id += 10;
        let r = &mut d.repos[ri];
        let i = &mut r.issues[ii];
        if let Some(t) = b.get("title").and_then(Value::as_str) {
            i.title = t.to_string();
        }
        if let Some(t) = b.get("body").and_then(Value::as_str) {
            i.body = t.to_string();
        }
        match open {
            Some(false) if i.open => {
                i.open = false;
                i.closed_at = Some(now.clone());
                i.state_reason = Some(reason.unwrap_or_else(|| "completed".into()));
            }
            Some(true) if !i.open => {
                i.open = true;
                i.closed_at = None;
                i.state_reason = Some("reopened".into());
            }
            _ => {
                if let Some(reason) = reason.filter(|_| !i.open) {
                    i.state_reason = Some(reason);
                }
            }
        }
        i.updated_at = now;
        apply_issue_fields(r, number, &b, label_ids);
        let r = &d.repos[ri];
        Ok((StatusCode::OK, rest_issue(d, r, &r.issues[ii])))
    })
    .await
}

/// `POST /repos/{owner}/{repo}/issues/{issue_number}/comments` (issues and pull requests).
async fn create_comment(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, name, number)): Path<(String, String, String)>,
    body: Bytes,
) -> Response {
    write(&state, &headers, &body, CREATE_COMMENT_DOCS, |d, b| {
        let ri = rest_repo(d, &owner, &name, CREATE_COMMENT_DOCS)?;
        let number: u32 = number.parse().map_err(|_| RestError::NotFound(CREATE_COMMENT_DOCS))?;
        if !d.repos[ri].issues.iter().any(|i| i.number == number) {
            return Err(RestError::NotFound(CREATE_COMMENT_DOCS));
        }
        let text = required_str(&b, "body", "IssueComment", CREATE_COMMENT_DOCS)?;
        let now = d.tick();
        let db_id = d.next_db_id();
        let comment = Comment {
            db_id,
            issue: number,
            author: VIEWER.into(),
            body: text,
            created_at: now.clone(),
            minimized: None,
        };
        let r = &mut d.repos[ri];
        r.comments.push(comment.clone());
        if let Some(i) = r.issues.iter_mut().find(|i| i.number == number) {
            i.updated_at = now;
        }
        Ok((StatusCode::CREATED, rest_comment(d, &d.repos[ri], &comment)))
    })
    .await
}

/// `POST /repos/{owner}/{repo}/pulls`.
async fn create_pull(
    State(state): State<Shared>,
    headers: HeaderMap,
    Path((owner, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    write(&state, &headers, &body, CREATE_PULL_DOCS, |d, b| {
        let ri = rest_repo(d, &owner, &name, CREATE_PULL_DOCS)?;
        let mut missing = Vec::new();
        for f in ["title", "head", "base"] {
            if b.get(f).and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
                missing.push(field_error("PullRequest", f, "missing_field", None));
            }
        }
        if !missing.is_empty() {
            return Err(RestError::Invalid(CREATE_PULL_DOCS, missing));
        }
        let s = |f: &str| b.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
        let (title, base) = (s("title"), s("base"));
        let head_arg = s("head");
        let r = &d.repos[ri];
        // `owner:branch` names a branch of a fork; only the repository's own owner is known here.
        let head = match head_arg.split_once(':') {
            Some((o, branch)) if o.eq_ignore_ascii_case(&r.owner) => branch.to_string(),
            Some(_) => String::new(),
            None => head_arg.clone(),
        };
        for (field, branch) in [("base", &base), ("head", &head)] {
            if !r.branches.iter().any(|x| &x.name == branch) {
                return Err(RestError::Invalid(
                    CREATE_PULL_DOCS,
                    vec![field_error("PullRequest", field, "invalid", None)],
                ));
            }
        }
        let custom = |message: String| {
            RestError::Invalid(
                CREATE_PULL_DOCS,
                vec![json!({"resource": "PullRequest", "code": "custom", "message": message})],
            )
        };
        if head == base {
            return Err(custom(format!("No commits between {base} and {head}")));
        }
        if r.issues.iter().any(|i| i.open && i.pull.as_ref().is_some_and(|p| p.head == head && p.base == base)) {
            return Err(custom(format!("A pull request already exists for {}:{head}.", r.owner)));
        }
        let now = d.tick();
        let db_id = d.next_db_id();
        let r = &mut d.repos[ri];
        let number = next_number(r);
        r.issues.push(Issue {
            pull: Some(Pull {
                head,
                base,
                draft: b.get("draft").and_then(Value::as_bool).unwrap_or(false),
                merged_at: None,
                merged_by: None,
                additions: 12,
                deletions: 3,
                changed_files: 2,
                commits: 1,
                maintainer_can_modify: b.get("maintainer_can_modify").and_then(Value::as_bool).unwrap_or(true),
                review_decision: Some("REVIEW_REQUIRED"),
            }),
            ..Issue::new(db_id, number, title, s("body"), VIEWER, now)
        });
        let r = &d.repos[ri];
        Ok((StatusCode::CREATED, rest_pull(d, r, &r.issues[r.issues.len() - 1])))
    })
    .await
}

/// Routes under `/github`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/graphql", post(graphql))
        .route("/repos/{owner}/{repo}/issues", post(create_issue))
        .route("/repos/{owner}/{repo}/issues/{number}", patch(update_issue))
        .route("/repos/{owner}/{repo}/issues/{number}/comments", post(create_comment))
        .route("/repos/{owner}/{repo}/pulls", post(create_pull))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn vars(query: &str, v: Value) -> Result<(String, Vars), GqlError> {
        Vars::bind(query, v.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn binds_and_validates_variables() {
        let q = "query GetIssue($owner: String!, $name: String!, $number: Int!) { repository(owner: $owner, name: $name) { issue(number: $number) { id } } }";
        let (name, v) = vars(q, json!({"owner": "octo", "name": "hello", "number": 1})).unwrap();
        assert_eq!(name, "GetIssue");
        assert_eq!(v.int("number"), Some(1));
        assert!(vars(q, json!({"owner": "octo", "name": "hello", "number": "1"})).is_err());
        assert!(vars(q, json!({"owner": "octo", "number": 1})).is_err());
        assert!(vars("query A($x: Int) { a }", json!({})).is_err());
        assert!(vars("query A { a(b: $x) }", json!({})).is_err());
        let states = "query L($s: [IssueState!]) { a(s: $s) }";
        assert!(vars(states, json!({"s": ["OPEN"]})).is_ok());
        assert!(vars(states, json!({"s": ["open"]})).is_err());
    }

    fn run(query: &str, variables: Value) -> Value {
        let request =
            GqlRequest { query: query.into(), variables: variables.as_object().cloned(), operation_name: None };
        execute(&Data::seed(), request)
    }

    #[test]
    fn answers_only_the_selection() {
        let q = "query GetRepository($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { \
                 name stars: stargazerCount owner { __typename login } } }";
        assert_eq!(
            run(q, json!({"owner": "octo", "name": "hello"})),
            json!({"data": {"repository": {"name": "hello", "stars": 5, "owner": {"__typename": "Organization", "login": "octo"}}}})
        );
        // A search for issues: pull requests are in the results too, and come back `{}`.
        let q =
            "query SearchIssues($query: String!, $first: Int!, $after: String) { search(query: $query, type: ISSUE, \
                 first: $first, after: $after) { issueCount nodes { ... on Issue { number } } } }";
        let v = run(q, json!({"query": "repo:octo/hello config", "first": 10, "after": null}));
        assert_eq!(v, json!({"data": {"search": {"issueCount": 2, "nodes": [{}, {"number": 1}]}}}));
    }

    #[test]
    fn rejects_unknown_fields_as_github_does() {
        let q = "query GetRepository($owner: String!, $name: String!) { repository(owner: $owner, name: $name) { name stars } }";
        assert_eq!(
            run(q, json!({"owner": "octo", "name": "hello"})),
            json!({"errors": [{
                "path": ["query GetRepository", "repository", "stars"],
                "extensions": {"code": "undefinedField", "typeName": "Repository", "fieldName": "stars"},
                "locations": [{"line": 1, "column": 102}],
                "message": "Field 'stars' doesn't exist on type 'Repository'",
            }]})
        );
        let q =
            "query GetRepository($owner: String!, $name: String!) { repository(owner: $owner, name: $name, nope: 1) { \
                 object(expression: \"HEAD\") { ... on Commit { oid } ... on Gist { id } } owner } }";
        let errors = run(q, json!({"owner": "octo", "name": "hello"}))["errors"].clone();
        let messages: Vec<&str> = errors.as_array().unwrap().iter().filter_map(|e| e["message"].as_str()).collect();
        assert_eq!(
            messages,
            [
                "Field 'repository' doesn't accept argument 'nope'",
                "Fragment on Gist can't be spread inside GitObject",
                "Field must have selections (field 'owner' returns RepositoryOwner but has no selections. Did you mean 'owner { ... }'?)",
            ]
        );
        assert_eq!(errors[1]["path"], json!(["query GetRepository", "repository", "object", "... on Gist"]));
        let e = run("query GetRepository { repository(owner: \"o\", name: \"n\") { {{ fields }} } }", json!({}));
        assert_eq!(e["errors"][0]["message"], "Parse error on \"{\" (LCURLY) at [1, 59] (an unrendered template?)");
    }

    #[test]
    fn pages_with_opaque_cursors() {
        let items: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let v = Vars(json!({"first": 2}).as_object().cloned().unwrap());
        let p = page(items.clone(), &v, &["x"]).unwrap().nodes();
        assert_eq!(p["nodes"], json!([0, 1]));
        let end = p["pageInfo"]["endCursor"].as_str().unwrap().to_string();
        let v = Vars(json!({"first": 2, "after": end}).as_object().cloned().unwrap());
        assert_eq!(page(items, &v, &["x"]).unwrap().nodes()["nodes"], json!([2, 3]));
    }

    #[test]
    fn search_query_qualifiers() {
        let q = SearchQuery::parse("is:issue repo:octo/hello -label:bug location:\"San Francisco\" crash");
        assert_eq!(q.words, vec!["crash"]);
        assert_eq!(q.qualifiers.len(), 4);
        assert!(q.matches("A crash", |k, _| (k == "is").then_some(true)));
        assert!(!q.matches("A crash", |k, _| (k == "label").then_some(true)));
    }

    #[test]
    fn seed_resolves_paths() {
        let d = Data::seed();
        let r = &d.repos[0];
        assert!(matches!(Data::resolve_path(r, "HEAD:README.md"), Some(GitObject::Blob(_))));
        match Data::resolve_path(r, "HEAD:") {
            Some(GitObject::Tree(e)) => assert_eq!(e.len(), 5),
            _ => panic!("root is a tree"),
        }
        assert!(Data::resolve_path(r, "HEAD:nope").is_none());
        assert_eq!(
            Data::resolve_commit(r, "7fd1a60").map(|c| c.oid.as_str()),
            Some("7fd1a60b01f91b314f59955a4e4d4e80d8edf11d")
        );
    }
}
