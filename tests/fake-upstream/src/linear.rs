//! Fake Linear API.
//!
//! Linear is GraphQL only: everything is `POST /graphql` with `{"query", "variables"}`. The fake
//! parses the document and validates its selections against Linear's schema (the part it
//! serves, `schema/linear.graphql`, cut from Linear's published schema with every field and
//! argument of each type): an unknown field, an unknown argument, a missing required argument,
//! selections under a scalar or none under an object, a fragment on an unknown or impossible type
//! are answered as Linear answers them, HTTP 400 with one graphql-js worded error each
//! (`Cannot query field "x" on type "Issue". Did you mean "id"?`, code
//! `GRAPHQL_VALIDATION_FAILED`). It then reads the operation name (`query ListIssues(...)`,
//! `mutation CreateIssue(...)`), checks the variable definitions (every `$var` used is declared
//! and every declared one is used), and answers `{"data": ...}` with only what the document
//! selects (see [`crate::graphql`]). A field Linear has but the fake does not model is an error
//! naming it, never made up.
//!
//! What it mirrors from the real API:
//! - auth: a personal API key sent raw (`Authorization: lin_api_...`, no `Bearer`) or an OAuth
//!   access token as `Authorization: Bearer <token>`; anything else is answered like Linear does,
//!   with HTTP 400 and an `AUTHENTICATION_ERROR` GraphQL error;
//! - Relay pagination: `first` (default 50, at most 250) / `after`, `pageInfo { hasNextPage
//!   endCursor }`, a node's id being its cursor;
//! - unknown ids: HTTP 400, `data: null` and `Entity not found: <Type>` (`INPUT_ERROR`);
//! - mutations: `{"issueCreate": {"success": true, "issue": {...}}}` and alike;
//! - OAuth: `POST /oauth/token` (refresh-token grant, rotating refresh tokens).

use std::collections::HashSet;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::{bearer, creds, graphql, lock, FakeState, Shared};

/// Page size when `first` is not given.
const DEFAULT_PAGE_SIZE: i64 = 50;
/// Largest `first` Linear accepts.
const MAX_PAGE_SIZE: i64 = 250;
/// The workspace's project statuses: name and type (`ProjectStatusType`), in order. A project
/// has one (`statusId` on create and update); its deprecated `state` is the status's type.
const PROJECT_STATUSES: [(&str, &str); 6] = [
    ("Backlog", "backlog"),
    ("Planned", "planned"),
    ("In Progress", "started"),
    ("Paused", "paused"),
    ("Completed", "completed"),
    ("Canceled", "canceled"),
];
/// Workspace URL key used in `url` fields.
const WORKSPACE: &str = "https://linear.app/acme";

/// A Linear team.
#[derive(Debug, Clone)]
struct Team {
    id: String,
    key: String,
    name: String,
    description: String,
    timezone: String,
    private: bool,
    created_at: String,
}

/// A workspace member.
#[derive(Debug, Clone)]
struct User {
    id: String,
    name: String,
    display_name: String,
    email: String,
    active: bool,
    admin: bool,
    timezone: String,
    created_at: String,
}

/// One step of a team's issue workflow.
#[derive(Debug, Clone)]
struct WorkflowState {
    id: String,
    team_id: String,
    name: String,
    /// `backlog`, `unstarted`, `started`, `completed` or `canceled`.
    kind: String,
    color: String,
    position: f64,
    created_at: String,
}

/// A project status of the workspace.
#[derive(Debug, Clone)]
struct ProjectStatus {
    id: String,
    name: String,
    /// `backlog`, `planned`, `started`, `paused`, `completed` or `canceled`.
    kind: String,
    color: String,
    position: f64,
    created_at: String,
}

/// A project, shared by one or more teams.
#[derive(Debug, Clone)]
struct Project {
    id: String,
    name: String,
    description: String,
    status_id: String,
    priority: i64,
    color: String,
    progress: f64,
    start_date: Option<String>,
    target_date: Option<String>,
    lead_id: Option<String>,
    team_ids: Vec<String>,
    created_at: String,
    updated_at: String,
}

/// An issue.
#[derive(Debug, Clone)]
struct Issue {
    id: String,
    team_id: String,
    number: u32,
    /// `<team key>-<number>`, e.g. `ENG-1`.
    identifier: String,
    title: String,
    description: Option<String>,
    priority: i64,
    estimate: Option<i64>,
    due_date: Option<String>,
    state_id: String,
    assignee_id: Option<String>,
    project_id: Option<String>,
    created_at: String,
    updated_at: String,
}

/// A comment on an issue.
#[derive(Debug, Clone)]
struct Comment {
    id: String,
    issue_id: String,
    user_id: String,
    parent_id: Option<String>,
    body: String,
    created_at: String,
    updated_at: String,
    edited_at: Option<String>,
}

/// Anything listed through a Relay connection: its id is its cursor.
trait Node {
    fn id(&self) -> &str;
}

macro_rules! impl_node {
    ($($t:ty),*) => {$(
        impl Node for $t {
            fn id(&self) -> &str {
                &self.id
            }
        }
    )*};
}
impl_node!(Team, User, WorkflowState, ProjectStatus, Project, Issue, Comment);

/// Seeded data of the fake.
#[derive(Debug, Default)]
pub struct Data {
    teams: Vec<Team>,
    users: Vec<User>,
    states: Vec<WorkflowState>,
    statuses: Vec<ProjectStatus>,
    projects: Vec<Project>,
    issues: Vec<Issue>,
    comments: Vec<Comment>,
    /// Bumped by every mutation; gives `updatedAt` and `lastSyncId`.
    clock: usize,
}

/// A deterministic UUID: `prefix` is 8 hex digits naming the kind of object.
fn uuid(prefix: &str, n: usize) -> String {
    format!("{prefix}-0000-4000-8000-{n:012}")
}

/// A deterministic timestamp: day `day` of March 2024, `minutes` after midnight.
fn ts(day: usize, minutes: usize) -> String {
    format!("2024-03-{day:02}T{:02}:{:02}:00.000Z", (minutes / 60) % 24, minutes % 60)
}

/// A URL slug of a title.
fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

const TEAM_PREFIX: &str = "7ea30000";
const USER_PREFIX: &str = "05e20000";
const STATE_PREFIX: &str = "57a70000";
const PROJECT_PREFIX: &str = "90e10000";
const PROJECT_STATUS_PREFIX: &str = "5a7a0000";
const ISSUE_PREFIX: &str = "155e0000";
const COMMENT_PREFIX: &str = "c0330000";

/// Issue titles of the seed (cycled, with a follow-up suffix after the first round).
const ISSUE_TITLES: [&str; 20] = [
    "Fix login redirect loop",
    "Add dark mode toggle",
    "Migrate billing webhooks to v2",
    "Slow dashboard load for large workspaces",
    "Export issues as CSV",
    "Update onboarding illustrations",
    "Rate limit the public API",
    "Crash when uploading HEIC images",
    "Refresh invoice email template",
    "Add SSO for enterprise plans",
    "Typo on the pricing page",
    "Keyboard shortcuts for triage",
    "Flaky end-to-end checkout test",
    "Audit log retention setting",
    "Redesign empty states",
    "Support webhooks retries",
    "Improve search relevance",
    "Mobile navigation overlaps content",
    "Rotate database credentials",
    "Customer can't reset password",
];

impl Data {
    /// The initial data after start or reset: 3 teams, 6 users, 15 workflow states (5 per
    /// team), 7 projects, 60 issues (two pages at the default page size) and 8 comments on the
    /// first three issues.
    pub fn seed() -> Self {
        let teams: Vec<Team> = [
            ("ENG", "Engineering", "Web app, API and infrastructure.", "America/New_York"),
            ("DES", "Design", "Product and brand design.", "Europe/London"),
            ("OPS", "Operations", "Support, billing and internal tools.", "Europe/Berlin"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (key, name, description, tz))| Team {
            id: uuid(TEAM_PREFIX, i + 1),
            key: key.to_string(),
            name: name.to_string(),
            description: description.to_string(),
            timezone: tz.to_string(),
            private: false,
            created_at: ts(1, i),
        })
        .collect();

        let users: Vec<User> = [
            ("Ada Lovelace", "ada", true, true, "Europe/London"),
            ("Grace Hopper", "grace", false, true, "America/New_York"),
            ("Alan Turing", "alan", false, true, "Europe/London"),
            ("Katherine Johnson", "katherine", false, true, "America/Chicago"),
            ("Linus Torvalds", "linus", false, true, "America/Los_Angeles"),
            ("Margaret Hamilton", "margaret", false, false, "America/New_York"),
        ]
        .iter()
        .enumerate()
        .map(|(i, (name, handle, admin, active, tz))| User {
            id: uuid(USER_PREFIX, i + 1),
            name: name.to_string(),
            display_name: handle.to_string(),
            email: format!("{handle}@acme.dev"),
            active: *active,
            admin: *admin,
            timezone: tz.to_string(),
            created_at: ts(2, i),
        })
        .collect();

        let workflow = [
            ("Backlog", "backlog", "#bec2c8"),
            ("Todo", "unstarted", "#e2e2e2"),
            ("In Progress", "started", "#f2c94c"),
            ("Done", "completed", "#5e6ad2"),
            ("Canceled", "canceled", "#95a2b3"),
        ];
        let mut states = Vec::new();
        for team in &teams {
            for (pos, (name, kind, color)) in workflow.iter().enumerate() {
                let n = states.len() + 1;
                states.push(WorkflowState {
                    id: uuid(STATE_PREFIX, n),
                    team_id: team.id.clone(),
                    name: name.to_string(),
                    kind: kind.to_string(),
                    color: color.to_string(),
                    position: pos as f64,
                    created_at: ts(3, n),
                });
            }
        }

        let team_id = |i: usize| teams[i].id.clone();
        let user_id = |i: usize| Some(users[i].id.clone());
        let date = |s: &str| Some(s.to_string());
        let statuses: Vec<ProjectStatus> = PROJECT_STATUSES
            .iter()
            .enumerate()
            .map(|(i, (name, kind))| ProjectStatus {
                id: uuid(PROJECT_STATUS_PREFIX, i + 1),
                name: name.to_string(),
                kind: kind.to_string(),
                color: ["#bec2c8", "#95a2b3", "#f2c94c", "#5e6ad2", "#4cb782", "#eb5757"][i].to_string(),
                position: i as f64,
                created_at: ts(1, i),
            })
            .collect();
        let status_of = |kind: &str| {
            statuses.iter().find(|s| s.kind == kind).map(|s| s.id.clone()).unwrap_or_else(|| panic!("no {kind} status"))
        };
        let projects: Vec<Project> = [
            (
                "Q3 Platform Migration",
                vec![team_id(0), team_id(2)],
                "started",
                1,
                user_id(0),
                date("2024-07-01"),
                date("2024-09-30"),
                0.42,
            ),
            (
                "Mobile App Redesign",
                vec![team_id(1), team_id(0)],
                "planned",
                2,
                user_id(1),
                date("2024-08-15"),
                date("2024-11-29"),
                0.0,
            ),
            (
                "Billing v2",
                vec![team_id(2), team_id(0)],
                "started",
                2,
                user_id(3),
                date("2024-06-03"),
                date("2024-10-31"),
                0.65,
            ),
            (
                "Design System",
                vec![team_id(1)],
                "completed",
                3,
                user_id(1),
                date("2024-01-08"),
                date("2024-04-26"),
                1.0,
            ),
            ("API Rate Limiting", vec![team_id(0)], "backlog", 0, None, None, None, 0.0),
            ("Customer Onboarding", vec![team_id(2)], "paused", 3, user_id(4), date("2024-05-06"), None, 0.2),
            ("Search Revamp", vec![team_id(0)], "canceled", 4, user_id(2), None, None, 0.1),
        ]
        .into_iter()
        .enumerate()
        .map(|(i, (name, team_ids, state, priority, lead_id, start_date, target_date, progress))| Project {
            id: uuid(PROJECT_PREFIX, i + 1),
            name: name.to_string(),
            description: format!("{name}: goals, scope and milestones."),
            status_id: status_of(state),
            priority,
            color: ["#5e6ad2", "#26b5ce", "#f2c94c", "#4cb782", "#eb5757", "#bb87fc", "#95a2b3"][i].to_string(),
            progress,
            start_date,
            target_date,
            lead_id,
            team_ids,
            created_at: ts(4, i),
            updated_at: ts(4, 60 + i),
        })
        .collect();

        let mut issues: Vec<Issue> = Vec::new();
        for i in 1..=60usize {
            let team = &teams[(i - 1) % teams.len()];
            let number = u32::try_from((i - 1) / teams.len() + 1).unwrap_or(u32::MAX);
            let base = ISSUE_TITLES[(i - 1) % ISSUE_TITLES.len()];
            let round = (i - 1) / ISSUE_TITLES.len();
            let title = if round == 0 { base.to_string() } else { format!("{base} (follow-up {round})") };
            let team_states: Vec<&WorkflowState> = states.iter().filter(|s| s.team_id == team.id).collect();
            let state_id = team_states[(i - 1) % team_states.len()].id.clone();
            let team_projects: Vec<&Project> = projects.iter().filter(|p| p.team_ids.contains(&team.id)).collect();
            let project_id = (i % 4 != 0 && !team_projects.is_empty())
                .then(|| team_projects[(i / 3) % team_projects.len()].id.clone());
            issues.push(Issue {
                id: uuid(ISSUE_PREFIX, i),
                team_id: team.id.clone(),
                number,
                identifier: format!("{}-{number}", team.key),
                description: (i % 5 != 0).then(|| format!("Context and acceptance criteria for \"{title}\".")),
                title,
                priority: (i % 5) as i64,
                estimate: (i % 2 == 1).then_some((i % 3 + 1) as i64),
                due_date: (i % 6 == 0).then(|| format!("2024-10-{:02}", i / 6 + 1)),
                state_id,
                assignee_id: (i % 7 != 0).then(|| users[(i - 1) % 5].id.clone()),
                project_id,
                created_at: ts(5, i),
                updated_at: ts(6, i),
            });
        }

        let comments: Vec<Comment> = [
            (1, 1, None, "I can reproduce this on Safari 17 after the session expires."),
            (1, 0, Some(1), "Thanks! Looks like the redirect URL loses the `next` parameter."),
            (1, 2, None, "Fix is up for review in #4821."),
            (1, 3, None, "Verified on staging."),
            (1, 0, None, "Shipped in today's release."),
            (2, 4, None, "Should this follow the OS setting by default?"),
            (2, 1, None, "Yes, with a manual override in preferences."),
            (3, 3, None, "Stripe sends both event versions during the migration window."),
        ]
        .iter()
        .enumerate()
        .map(|(i, (issue, user, parent, body))| Comment {
            id: uuid(COMMENT_PREFIX, i + 1),
            issue_id: uuid(ISSUE_PREFIX, *issue),
            user_id: users[*user].id.clone(),
            parent_id: parent.map(|p| uuid(COMMENT_PREFIX, p)),
            body: body.to_string(),
            created_at: ts(7, i),
            updated_at: ts(7, i),
            edited_at: None,
        })
        .collect();

        Self { teams, users, states, statuses, projects, issues, comments, clock: 0 }
    }

    /// Advances the clock for a mutation and returns the new `updatedAt`.
    fn tick(&mut self) -> String {
        self.clock += 1;
        ts(20, self.clock)
    }

    // ------------------------------------------------------------------ rendering

    fn team_ref(&self, id: &str) -> Value {
        self.teams
            .iter()
            .find(|t| t.id == id)
            .map_or(Value::Null, |t| json!({"id": t.id, "key": t.key, "name": t.name}))
    }

    fn user_ref(&self, id: Option<&str>) -> Value {
        id.and_then(|id| self.users.iter().find(|u| u.id == id))
            .map_or(Value::Null, |u| json!({"id": u.id, "name": u.name, "email": u.email}))
    }

    fn team_json(&self, t: &Team) -> Value {
        json!({
            "id": t.id, "key": t.key, "name": t.name, "description": t.description,
            "timezone": t.timezone, "private": t.private,
            "issueCount": self.issues.iter().filter(|i| i.team_id == t.id).count(),
            "createdAt": t.created_at, "updatedAt": t.created_at,
        })
    }

    fn user_json(&self, u: &User) -> Value {
        json!({
            "id": u.id, "name": u.name, "displayName": u.display_name, "email": u.email,
            "active": u.active, "admin": u.admin, "guest": false, "timezone": u.timezone,
            "createdAt": u.created_at, "updatedAt": u.created_at,
        })
    }

    fn state_json(&self, s: &WorkflowState) -> Value {
        json!({
            "id": s.id, "name": s.name, "type": s.kind, "color": s.color, "position": s.position,
            "description": Value::Null, "team": self.team_ref(&s.team_id),
            "createdAt": s.created_at, "updatedAt": s.created_at,
        })
    }

    fn project_status_json(&self, s: &ProjectStatus) -> Value {
        json!({
            "id": s.id, "name": s.name, "type": s.kind, "color": s.color, "position": s.position,
            "description": Value::Null, "indefinite": s.kind == "backlog" || s.kind == "paused",
            "archivedAt": Value::Null, "createdAt": s.created_at, "updatedAt": s.created_at,
        })
    }

    fn project_json(&self, p: &Project) -> Value {
        let teams: Vec<Value> = p.team_ids.iter().map(|t| self.team_ref(t)).collect();
        let status = self.statuses.iter().find(|s| s.id == p.status_id);
        json!({
            "id": p.id, "name": p.name, "description": p.description,
            "state": status.map(|s| s.kind.clone()),
            "status": status.map(|s| self.project_status_json(s)),
            "priority": p.priority, "color": p.color, "progress": p.progress,
            "startDate": p.start_date, "targetDate": p.target_date,
            "url": format!("{WORKSPACE}/project/{}-{}", slug(&p.name), &p.id[p.id.len() - 12..]),
            "lead": self.user_ref(p.lead_id.as_deref()),
            "teams": {"nodes": teams},
            "createdAt": p.created_at, "updatedAt": p.updated_at,
        })
    }

    fn issue_url(i: &Issue) -> String {
        format!("{WORKSPACE}/issue/{}/{}", i.identifier, slug(&i.title))
    }

    fn issue_json(&self, i: &Issue) -> Value {
        let state = self
            .states
            .iter()
            .find(|s| s.id == i.state_id)
            .map_or(Value::Null, |s| json!({"id": s.id, "name": s.name, "type": s.kind}));
        let project = i
            .project_id
            .as_deref()
            .and_then(|id| self.projects.iter().find(|p| p.id == id))
            .map_or(Value::Null, |p| json!({"id": p.id, "name": p.name}));
        let priority_label = ["No priority", "Urgent", "High", "Medium", "Low"]
            .get(usize::try_from(i.priority).unwrap_or(0))
            .copied()
            .unwrap_or("No priority");
        json!({
            "id": i.id, "identifier": i.identifier, "number": i.number, "title": i.title,
            "description": i.description, "priority": i.priority, "priorityLabel": priority_label,
            "estimate": i.estimate, "dueDate": i.due_date, "url": Self::issue_url(i),
            "state": state, "assignee": self.user_ref(i.assignee_id.as_deref()),
            "team": self.team_ref(&i.team_id), "project": project,
            "createdAt": i.created_at, "updatedAt": i.updated_at,
        })
    }

    fn comment_json(&self, c: &Comment) -> Value {
        let issue = self.issues.iter().find(|i| i.id == c.issue_id);
        let short = &c.id[c.id.len() - 8..];
        json!({
            "id": c.id, "body": c.body,
            "url": issue.map(|i| format!("{}#comment-{short}", Self::issue_url(i))),
            "user": self.user_ref(Some(&c.user_id)),
            "issue": issue.map_or(Value::Null, |i| json!({"id": i.id, "identifier": i.identifier, "title": i.title})),
            "parent": c.parent_id.as_ref().map_or(Value::Null, |p| json!({"id": p})),
            "createdAt": c.created_at, "updatedAt": c.updated_at, "editedAt": c.edited_at,
        })
    }

    // ------------------------------------------------------------------ lookups

    /// Index of an issue by UUID or identifier (`ENG-1`), as Linear's `issue(id:)` accepts both.
    fn issue_index(&self, id: &str) -> Result<usize, GqlError> {
        self.issues
            .iter()
            .position(|i| i.id == id || i.identifier.eq_ignore_ascii_case(id))
            .ok_or(GqlError::NotFound("Issue"))
    }

    // ------------------------------------------------------------------ operations

    /// Runs one parsed operation.
    fn execute(&mut self, doc: &Document, vars: &Vars) -> Result<Value, GqlError> {
        match (doc.kind, doc.name.as_str()) {
            (OpKind::Query, "ListIssues") => {
                Ok(json!({"issues": connection(&self.issues, vars, |i| self.issue_json(i))?}))
            }
            (OpKind::Query, "GetIssue") => {
                let idx = self.issue_index(&vars.required_str("id")?)?;
                Ok(json!({"issue": self.issue_json(&self.issues[idx])}))
            }
            (OpKind::Query, "ListProjects") => {
                Ok(json!({"projects": connection(&self.projects, vars, |p| self.project_json(p))?}))
            }
            (OpKind::Query, "GetProject") => {
                let p = find(&self.projects, &vars.required_str("id")?, "Project")?;
                Ok(json!({"project": self.project_json(p)}))
            }
            (OpKind::Query, "ListTeams") => Ok(json!({"teams": connection(&self.teams, vars, |t| self.team_json(t))?})),
            (OpKind::Query, "GetTeam") => {
                let t = find(&self.teams, &vars.required_str("id")?, "Team")?;
                Ok(json!({"team": self.team_json(t)}))
            }
            (OpKind::Query, "ListProjectStatuses") => {
                Ok(json!({"projectStatuses": connection(&self.statuses, vars, |s| self.project_status_json(s))?}))
            }
            (OpKind::Query, "ListWorkflowStates") => {
                Ok(json!({"workflowStates": connection(&self.states, vars, |s| self.state_json(s))?}))
            }
            (OpKind::Query, "ListUsers") => Ok(json!({"users": connection(&self.users, vars, |u| self.user_json(u))?})),
            (OpKind::Query, "GetUser") => {
                let u = find(&self.users, &vars.required_str("id")?, "User")?;
                Ok(json!({"user": self.user_json(u)}))
            }
            (OpKind::Query, "ListComments") => {
                let issue = &self.issues[self.issue_index(&vars.required_str("issueId")?)?];
                let comments: Vec<&Comment> = self.comments.iter().filter(|c| c.issue_id == issue.id).collect();
                let page = connection(comments, vars, |c| self.comment_json(c))?;
                Ok(json!({"issue": {"id": issue.id, "comments": page}}))
            }
            (OpKind::Query, "GetComment") => {
                let c = find(&self.comments, &vars.required_str("id")?, "Comment")?;
                Ok(json!({"comment": self.comment_json(c)}))
            }
            (OpKind::Mutation, "CreateIssue") => self.create_issue(vars),
            (OpKind::Mutation, "UpdateIssue") => self.update_issue(vars),
            (OpKind::Mutation, "CreateProject") => self.create_project(vars),
            (OpKind::Mutation, "UpdateProject") => self.update_project(vars),
            (OpKind::Mutation, "CreateComment") => self.create_comment(vars),
            (OpKind::Mutation, "UpdateComment") => self.update_comment(vars),
            (_, name) => Err(GqlError::Validation(format!(
                "Unknown operation \"{name}\": this fake serves ListIssues, GetIssue, CreateIssue, UpdateIssue, \
                 ListProjects, GetProject, CreateProject, UpdateProject, ListTeams, GetTeam, ListWorkflowStates, \
                 ListUsers, GetUser, ListComments, GetComment, CreateComment and UpdateComment."
            ))),
        }
    }

    /// Checks the issue fields shared by create and update that point at other objects.
    fn check_issue_refs(&self, team_id: &str, vars: &Vars) -> Result<(), GqlError> {
        if let Some(state_id) = vars.str("stateId")? {
            let state = find(&self.states, &state_id, "WorkflowState")?;
            if state.team_id != team_id {
                return Err(GqlError::InvalidInput("The workflow state does not belong to the issue's team.".into()));
            }
        }
        if let Some(user_id) = vars.str("assigneeId")? {
            find(&self.users, &user_id, "User")?;
        }
        if let Some(project_id) = vars.str("projectId")? {
            find(&self.projects, &project_id, "Project")?;
        }
        if let Some(p) = vars.int("priority")? {
            check_priority(p)?;
        }
        if let Some(d) = vars.str("dueDate")? {
            check_date("dueDate", &d)?;
        }
        Ok(())
    }

    fn create_issue(&mut self, vars: &Vars) -> Result<Value, GqlError> {
        let team_id = vars.required_str("teamId")?;
        let title = vars.required_str("title")?;
        let team = find(&self.teams, &team_id, "Team")?.clone();
        self.check_issue_refs(&team.id, vars)?;
        let state_id = match vars.str("stateId")? {
            Some(s) => s,
            None => self
                .states
                .iter()
                .find(|s| s.team_id == team.id && s.kind == "unstarted")
                .map(|s| s.id.clone())
                .ok_or_else(|| GqlError::InvalidInput("The team has no workflow states.".into()))?,
        };
        let number = self.issues.iter().filter(|i| i.team_id == team.id).map(|i| i.number).max().unwrap_or(0) + 1;
        let now = self.tick();
        let issue = Issue {
            id: uuid(ISSUE_PREFIX, self.issues.len() + 1),
            team_id: team.id.clone(),
            number,
            identifier: format!("{}-{number}", team.key),
            title,
            description: vars.str("description")?,
            priority: vars.int("priority")?.unwrap_or(0),
            estimate: vars.int("estimate")?,
            due_date: vars.str("dueDate")?,
            state_id,
            assignee_id: vars.str("assigneeId")?,
            project_id: vars.str("projectId")?,
            created_at: now.clone(),
            updated_at: now,
        };
        let rendered = self.issue_json(&issue);
        self.issues.push(issue);
        Ok(json!({"issueCreate": {"success": true, "lastSyncId": self.clock, "issue": rendered}}))
    }

    fn update_issue(&mut self, vars: &Vars) -> Result<Value, GqlError> {
        let idx = self.issue_index(&vars.required_str("id")?)?;
        let team_id = self.issues[idx].team_id.clone();
        self.check_issue_refs(&team_id, vars)?;
        let now = self.tick();
        let issue = &mut self.issues[idx];
        if let Some(v) = vars.str("title")? {
            issue.title = v;
        }
        if let Some(v) = vars.str("description")? {
            issue.description = Some(v);
        }
        if let Some(v) = vars.str("stateId")? {
            issue.state_id = v;
        }
        if let Some(v) = vars.str("assigneeId")? {
            issue.assignee_id = Some(v);
        }
        if let Some(v) = vars.str("projectId")? {
            issue.project_id = Some(v);
        }
        if let Some(v) = vars.int("priority")? {
            issue.priority = v;
        }
        if let Some(v) = vars.int("estimate")? {
            issue.estimate = Some(v);
        }
        if let Some(v) = vars.str("dueDate")? {
            issue.due_date = Some(v);
        }
        issue.updated_at = now;
        let rendered = self.issue_json(&self.issues[idx]);
        Ok(json!({"issueUpdate": {"success": true, "lastSyncId": self.clock, "issue": rendered}}))
    }

    /// Checks the project fields shared by create and update.
    fn check_project_fields(&self, vars: &Vars) -> Result<(), GqlError> {
        if let Some(status) = vars.str("statusId")? {
            find(&self.statuses, &status, "ProjectStatus")?;
        }
        if let Some(lead) = vars.str("leadId")? {
            find(&self.users, &lead, "User")?;
        }
        if let Some(p) = vars.int("priority")? {
            check_priority(p)?;
        }
        for field in ["startDate", "targetDate"] {
            if let Some(d) = vars.str(field)? {
                check_date(field, &d)?;
            }
        }
        Ok(())
    }

    fn create_project(&mut self, vars: &Vars) -> Result<Value, GqlError> {
        let name = vars.required_str("name")?;
        let team_ids = vars.required_str_list("teamIds")?;
        if team_ids.is_empty() {
            return Err(GqlError::InvalidInput("A project needs at least one team.".into()));
        }
        for t in &team_ids {
            find(&self.teams, t, "Team")?;
        }
        self.check_project_fields(vars)?;
        let now = self.tick();
        let project = Project {
            id: uuid(PROJECT_PREFIX, self.projects.len() + 1),
            name,
            description: vars.str("description")?.unwrap_or_default(),
            status_id: match vars.str("statusId")? {
                Some(id) => id,
                None => self.statuses.iter().find(|s| s.kind == "planned").map(|s| s.id.clone()).unwrap_or_default(),
            },
            priority: vars.int("priority")?.unwrap_or(0),
            color: vars.str("color")?.unwrap_or_else(|| "#bec2c8".into()),
            progress: 0.0,
            start_date: vars.str("startDate")?,
            target_date: vars.str("targetDate")?,
            lead_id: vars.str("leadId")?,
            team_ids,
            created_at: now.clone(),
            updated_at: now,
        };
        let rendered = self.project_json(&project);
        self.projects.push(project);
        Ok(json!({"projectCreate": {"success": true, "lastSyncId": self.clock, "project": rendered}}))
    }

    fn update_project(&mut self, vars: &Vars) -> Result<Value, GqlError> {
        let id = vars.required_str("id")?;
        let idx = self.projects.iter().position(|p| p.id == id).ok_or(GqlError::NotFound("Project"))?;
        self.check_project_fields(vars)?;
        let now = self.tick();
        let project = &mut self.projects[idx];
        if let Some(v) = vars.str("name")? {
            project.name = v;
        }
        if let Some(v) = vars.str("description")? {
            project.description = v;
        }
        if let Some(v) = vars.str("statusId")? {
            project.status_id = v;
        }
        if let Some(v) = vars.str("leadId")? {
            project.lead_id = Some(v);
        }
        if let Some(v) = vars.str("startDate")? {
            project.start_date = Some(v);
        }
        if let Some(v) = vars.str("targetDate")? {
            project.target_date = Some(v);
        }
        if let Some(v) = vars.int("priority")? {
            project.priority = v;
        }
        if let Some(v) = vars.str("color")? {
            project.color = v;
        }
        project.updated_at = now;
        let rendered = self.project_json(&self.projects[idx]);
        Ok(json!({"projectUpdate": {"success": true, "lastSyncId": self.clock, "project": rendered}}))
    }

    fn create_comment(&mut self, vars: &Vars) -> Result<Value, GqlError> {
        let issue_id = self.issues[self.issue_index(&vars.required_str("issueId")?)?].id.clone();
        let body = vars.required_str("body")?;
        let parent_id = vars.str("parentId")?;
        if let Some(parent) = &parent_id {
            if find(&self.comments, parent, "Comment")?.issue_id != issue_id {
                return Err(GqlError::InvalidInput("The parent comment belongs to another issue.".into()));
            }
        }
        let now = self.tick();
        let comment = Comment {
            id: uuid(COMMENT_PREFIX, self.comments.len() + 1),
            issue_id,
            // The viewer: the owner of the API key or OAuth grant.
            user_id: self.users[0].id.clone(),
            parent_id,
            body,
            created_at: now.clone(),
            updated_at: now,
            edited_at: None,
        };
        let rendered = self.comment_json(&comment);
        self.comments.push(comment);
        Ok(json!({"commentCreate": {"success": true, "lastSyncId": self.clock, "comment": rendered}}))
    }

    fn update_comment(&mut self, vars: &Vars) -> Result<Value, GqlError> {
        let id = vars.required_str("id")?;
        let idx = self.comments.iter().position(|c| c.id == id).ok_or(GqlError::NotFound("Comment"))?;
        let body = vars.required_str("body")?;
        let now = self.tick();
        let comment = &mut self.comments[idx];
        comment.body = body;
        comment.edited_at = Some(now.clone());
        comment.updated_at = now;
        let rendered = self.comment_json(&self.comments[idx]);
        Ok(json!({"commentUpdate": {"success": true, "lastSyncId": self.clock, "comment": rendered}}))
    }
}

/// Finds an object by id, or Linear's `Entity not found: <kind>` error.
fn find<'a, T: Node>(items: &'a [T], id: &str, kind: &'static str) -> Result<&'a T, GqlError> {
    items.iter().find(|n| n.id() == id).ok_or(GqlError::NotFound(kind))
}

fn check_priority(p: i64) -> Result<(), GqlError> {
    if (0..=4).contains(&p) {
        Ok(())
    } else {
        Err(GqlError::InvalidInput("priority must be an integer between 0 and 4.".into()))
    }
}

/// `TimelessDate` values are `YYYY-MM-DD`.
fn check_date(field: &str, d: &str) -> Result<(), GqlError> {
    let ok =
        d.len() == 10 && d.char_indices().all(|(i, c)| if i == 4 || i == 7 { c == '-' } else { c.is_ascii_digit() });
    if ok {
        Ok(())
    } else {
        Err(GqlError::Validation(format!(
            "Variable \"${field}\" got invalid value \"{d}\"; Expected type \"TimelessDate\". Dates are YYYY-MM-DD."
        )))
    }
}

/// One page of a Relay connection over `items`, from the `first` / `after` variables:
/// `{"nodes": [...], "pageInfo": {...}}`. Cursors are node ids.
fn connection<'a, T: Node + 'a>(
    items: impl IntoIterator<Item = &'a T>,
    vars: &Vars,
    render: impl Fn(&T) -> Value,
) -> Result<Value, GqlError> {
    let first = vars.int("first")?.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&first) {
        return Err(GqlError::InvalidInput(format!("first must be between 1 and {MAX_PAGE_SIZE}.")));
    }
    let all: Vec<&T> = items.into_iter().collect();
    let start = match vars.str("after")? {
        None => 0,
        Some(cursor) => {
            all.iter()
                .position(|n| n.id() == cursor)
                .ok_or_else(|| GqlError::InvalidInput(format!("Cursor \"{cursor}\" is not valid.")))?
                + 1
        }
    };
    let page: Vec<&T> = all.iter().skip(start).take(usize::try_from(first).unwrap_or(0)).copied().collect();
    let end = start + page.len();
    let nodes: Vec<Value> = page.iter().map(|n| render(n)).collect();
    let edges: Vec<Value> = page.iter().zip(&nodes).map(|(n, v)| json!({"cursor": n.id(), "node": v})).collect();
    Ok(json!({
        "nodes": nodes,
        "edges": edges,
        "pageInfo": {
            "hasNextPage": end < all.len(),
            "hasPreviousPage": start > 0,
            "startCursor": page.first().map(|n| n.id()),
            "endCursor": page.last().map(|n| n.id()),
        },
    }))
}

// ---------------------------------------------------------------------- GraphQL plumbing

/// A GraphQL error, answered in Linear's shape.
#[derive(Debug)]
enum GqlError {
    /// Missing or rejected credentials.
    Unauthenticated,
    /// An id that names nothing; the argument is the type (`Issue`).
    NotFound(&'static str),
    /// The document or its variables do not validate.
    Validation(String),
    /// Input Linear rejects (bad priority, state of another team, ...).
    InvalidInput(String),
}

impl GqlError {
    /// The answer's body (always with HTTP 400).
    fn body(self) -> Value {
        match self {
            GqlError::Unauthenticated => json!({"errors": [{
                "message": "Authentication required, not authenticated",
                "extensions": {
                    "type": "authentication error",
                    "code": "AUTHENTICATION_ERROR",
                    "userError": true,
                    "userPresentableMessage": "You need to authenticate to access this operation.",
                },
            }]}),
            GqlError::NotFound(kind) => json!({"data": null, "errors": [{
                "message": format!("Entity not found: {kind}"),
                "extensions": {
                    "type": "invalid input",
                    "code": "INPUT_ERROR",
                    "statusCode": 400,
                    "userError": true,
                    "userPresentableMessage": format!("Could not find referenced {kind}."),
                },
            }]}),
            GqlError::Validation(msg) => json!({"errors": [{
                "message": msg,
                "extensions": {"type": "graphql error", "code": "GRAPHQL_VALIDATION_FAILED", "userError": true},
            }]}),
            GqlError::InvalidInput(msg) => json!({"data": null, "errors": [{
                "message": "Argument Validation Error",
                "extensions": {
                    "type": "invalid input",
                    "code": "INPUT_ERROR",
                    "statusCode": 400,
                    "userError": true,
                    "userPresentableMessage": msg,
                },
            }]}),
        }
    }
}

impl IntoResponse for GqlError {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(self.body())).into_response()
    }
}

/// Whether an operation reads or writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Query,
    Mutation,
}

/// What the fake needs of a GraphQL document: its operation and declared variables.
#[derive(Debug)]
struct Document {
    kind: OpKind,
    name: String,
    declared: HashSet<String>,
}

/// The `$name`s in a piece of GraphQL text.
fn dollar_names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(pos) = rest.find('$') {
        rest = &rest[pos + 1..];
        let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        if end > 0 {
            out.push(rest[..end].to_string());
        }
        rest = &rest[end..];
    }
    out
}

impl Document {
    /// Parses the operation header (`query Name($a: T, ...)`) and validates variable usage.
    fn parse(query: &str) -> Result<Self, GqlError> {
        if query.contains("{%") || query.contains("{{") || query.contains("%}") {
            return Err(GqlError::Validation("Syntax Error: Unexpected \"%\" (an unrendered template?).".into()));
        }
        if query.matches('{').count() != query.matches('}').count() {
            return Err(GqlError::Validation("Syntax Error: Expected Name, found <EOF>.".into()));
        }
        let text = query.trim_start();
        let (kind, rest) = if let Some(r) = text.strip_prefix("query") {
            (OpKind::Query, r)
        } else if let Some(r) = text.strip_prefix("mutation") {
            (OpKind::Mutation, r)
        } else {
            return Err(GqlError::Validation(
                "The fake needs a named operation (`query Name(...)` or `mutation Name(...)`).".into(),
            ));
        };
        let rest = rest.trim_start();
        let name_end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = rest[..name_end].to_string();
        if name.is_empty() {
            return Err(GqlError::Validation("The fake needs a named operation; this one is anonymous.".into()));
        }
        let rest = rest[name_end..].trim_start();
        let (defs, body) = match rest.strip_prefix('(') {
            Some(r) => {
                let close = r
                    .find(')')
                    .ok_or_else(|| GqlError::Validation("Syntax Error: Expected \")\", found <EOF>.".into()))?;
                (&r[..close], &r[close + 1..])
            }
            None => ("", rest),
        };
        let declared: HashSet<String> = dollar_names(defs).into_iter().collect();
        let used: HashSet<String> = dollar_names(body).into_iter().collect();
        let mut undefined: Vec<&String> = used.difference(&declared).collect();
        undefined.sort();
        if let Some(v) = undefined.first() {
            return Err(GqlError::Validation(format!("Variable \"${v}\" is not defined by operation \"{name}\".")));
        }
        let mut unused: Vec<&String> = declared.difference(&used).collect();
        unused.sort();
        if let Some(v) = unused.first() {
            return Err(GqlError::Validation(format!("Variable \"${v}\" is never used in operation \"{name}\".")));
        }
        Ok(Self { kind, name, declared })
    }
}

/// The variables of a request, seen through the operation's declarations: a variable the
/// document does not declare is ignored, as a GraphQL server does.
struct Vars<'a> {
    values: &'a Map<String, Value>,
    declared: &'a HashSet<String>,
}

impl Vars<'_> {
    /// A declared, non-null variable.
    fn get(&self, name: &str) -> Option<&Value> {
        self.declared.contains(name).then(|| self.values.get(name)).flatten().filter(|v| !v.is_null())
    }

    fn invalid(name: &str, ty: &str, v: &Value) -> GqlError {
        GqlError::Validation(format!("Variable \"${name}\" got invalid value {v}; Expected type \"{ty}\"."))
    }

    fn str(&self, name: &str) -> Result<Option<String>, GqlError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(Self::invalid(name, "String", v)),
        }
    }

    fn int(&self, name: &str) -> Result<Option<i64>, GqlError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| Self::invalid(name, "Int", v)),
        }
    }

    fn required_str(&self, name: &str) -> Result<String, GqlError> {
        self.str(name)?.ok_or_else(|| {
            GqlError::Validation(format!("Variable \"${name}\" of required type \"String!\" was not provided."))
        })
    }

    fn required_str_list(&self, name: &str) -> Result<Vec<String>, GqlError> {
        match self.get(name) {
            None => Err(GqlError::Validation(format!(
                "Variable \"${name}\" of required type \"[String!]!\" was not provided."
            ))),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_string).ok_or_else(|| Self::invalid(name, "[String!]!", v)))
                .collect(),
            Some(v) => Err(Self::invalid(name, "[String!]!", v)),
        }
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

/// Whether the request carries a personal API key (raw) or a live OAuth access token (Bearer).
fn authenticated(state: &FakeState, headers: &HeaderMap) -> bool {
    if let Some(token) = bearer(headers) {
        return state.oauth_access_valid("linear", &token);
    }
    headers.get("authorization").and_then(|v| v.to_str().ok()).is_some_and(|v| v.trim() == creds::LINEAR_API_KEY)
}

/// `POST /graphql`.
async fn graphql(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if !authenticated(&state, &headers) {
        return GqlError::Unauthenticated.into_response();
    }
    let request: GqlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return GqlError::Validation(format!("POST body must be a JSON GraphQL request: {e}")).into_response()
        }
    };
    let (status, body) = answer(&mut lock(&state.linear), request);
    (status, Json(body)).into_response()
}

/// Runs one GraphQL request: parse, validate the selections against the schema (every problem
/// reported), check the variables, resolve, and keep only what the document selects.
fn answer(d: &mut Data, request: GqlRequest) -> (StatusCode, Value) {
    let bad = |e: GqlError| (StatusCode::BAD_REQUEST, e.body());
    let parsed = match graphql::parse(&request.query) {
        Ok(d) => d,
        Err(e) => return syntax_error(&request.query, &e),
    };
    let Some(op) = graphql::operation(&parsed, request.operation_name.as_deref()) else {
        let message = "Must provide operation name if query contains multiple operations.";
        return bad(GqlError::Validation(message.into()));
    };
    let problems = graphql::validate(schema(), &op);
    if !problems.is_empty() {
        let errors: Vec<Value> = problems.iter().map(problem_json).collect();
        return (StatusCode::BAD_REQUEST, json!({ "errors": errors }));
    }
    let doc = match Document::parse(&request.query) {
        Ok(d) => d,
        Err(e) => return bad(e),
    };
    let values = request.variables.unwrap_or_default();
    let vars = Vars { values: &values, declared: &doc.declared };
    match d.execute(&doc, &vars).map(|data| graphql::shape(schema(), &op, &data, &values)) {
        Ok(Ok(data)) => (StatusCode::OK, json!({ "data": data })),
        Ok(Err(why)) => bad(GqlError::Validation(format!("The fake cannot answer this selection: {why}."))),
        Err(e) => bad(e),
    }
}

/// The schema subset the fake serves (`schema/linear.graphql`).
fn schema() -> &'static graphql::Schema {
    static SCHEMA: OnceLock<graphql::Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        graphql::Schema::parse(include_str!("../schema/linear.graphql"))
            .unwrap_or_else(|e| panic!("schema/linear.graphql: {e}"))
    })
}

/// The extensions of Linear's GraphQL errors for a document that does not parse or validate.
fn document_extensions(code: &str) -> Value {
    json!({"type": "graphql error", "code": code, "userError": true})
}

/// Linear's answer to a document that does not parse (graphql-js's wording).
fn syntax_error(query: &str, e: &graphql::SyntaxError) -> (StatusCode, Value) {
    let what = match (&e.unexpected, &e.lexical) {
        (Some(t), _) => format!("Unexpected {t:?}"),
        (None, Some(l)) => format!("Unexpected {l}"),
        (None, None) => "Unexpected <EOF>".to_string(),
    };
    let hint = if query.contains("{{") || query.contains("{%") { " (an unrendered template?)" } else { "" };
    let body = json!({"errors": [{
        "message": format!("Syntax Error: {what}.{hint}"),
        "locations": [{"line": e.line, "column": e.column}],
        "extensions": document_extensions("GRAPHQL_PARSE_FAILED"),
    }]});
    (StatusCode::BAD_REQUEST, body)
}

/// One validation problem as Linear reports it (graphql-js's messages).
fn problem_json(p: &graphql::Problem) -> Value {
    use graphql::ProblemKind as K;
    let fields_of = |type_name: &str| -> Vec<String> {
        let names = schema().get(type_name).map(|t| t.fields.iter().map(|f| f.name.as_str()).collect::<Vec<_>>());
        names.unwrap_or_default().into_iter().map(str::to_string).collect()
    };
    let message = match &p.kind {
        K::UndefinedField { type_name, field } | K::UnionSelection { type_name, field } => {
            let known = fields_of(type_name);
            let hint = graphql::did_you_mean(&graphql::suggestions(field, known.iter().map(String::as_str)));
            format!("Cannot query field \"{field}\" on type \"{type_name}\".{hint}")
        }
        K::UnknownArgument { type_name, field_name, argument, known, .. } => {
            let hint = graphql::did_you_mean(&graphql::suggestions(argument, known.iter().map(String::as_str)));
            format!("Unknown argument \"{argument}\" on field \"{type_name}.{field_name}\".{hint}")
        }
        K::MissingArguments { field, arguments, .. } => arguments
            .iter()
            .map(|(name, ty)| {
                format!("Field \"{field}\" argument \"{name}\" of type \"{ty}\" is required, but it was not provided.")
            })
            .collect::<Vec<_>>()
            .join("\n"),
        K::LeafSelections { field, ty_display, .. } => {
            format!("Field \"{field}\" must not have a selection since type \"{ty_display}\" has no subfields.")
        }
        K::NoSelections { field, ty_display, .. } => format!(
            "Field \"{field}\" of type \"{ty_display}\" must have a selection of subfields. Did you mean \"{field} {{ ... }}\"?"
        ),
        K::UndefinedType { type_name } => format!("Unknown type \"{type_name}\"."),
        K::ImpossibleSpread { fragment, type_name, parent } => {
            let name = fragment.as_ref().map(|f| format!(" \"{f}\"")).unwrap_or_default();
            format!(
                "Fragment{name} cannot be spread here as objects of type \"{parent}\" can never be of type \"{type_name}\"."
            )
        }
        K::UndefinedFragment { name } => format!("Unknown fragment \"{name}\"."),
        K::FieldsConflict { field, first, second } => format!(
            "Fields \"{field}\" conflict because they return conflicting types \"{first}\" and \"{second}\". Use different aliases on the fields to fetch both if this was intentional."
        ),
        K::Unmodelled { type_name, field } => {
            format!("The fake does not serve type \"{type_name}\" (selecting \"{field}\"), though Linear has it.")
        }
    };
    json!({
        "message": message,
        "locations": [{"line": p.line, "column": p.column}],
        "extensions": document_extensions("GRAPHQL_VALIDATION_FAILED"),
    })
}

/// `POST /oauth/token`: the refresh-token grant (form body, client credentials in the body).
async fn token(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    crate::token_endpoint(&state, "linear", &headers, query.as_deref().unwrap_or(""), &body)
}

/// Routes under `/linear`.
pub fn routes() -> Router<Shared> {
    Router::new().route("/graphql", post(graphql)).route("/oauth/token", post(token))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run(query: &str, variables: Value) -> (StatusCode, Value) {
        let request =
            GqlRequest { query: query.into(), variables: variables.as_object().cloned(), operation_name: None };
        answer(&mut Data::seed(), request)
    }

    #[test]
    fn answers_only_the_selection() {
        let (status, v) = run(
            "query GetIssue($id: String!) { issue(id: $id) { key: identifier state { name } } }",
            json!({"id": "ENG-1"}),
        );
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            v["data"]["issue"].as_object().map(|m| m.keys().cloned().collect::<Vec<_>>()),
            Some(vec!["key".into(), "state".into()])
        );
        assert_eq!(v["data"]["issue"]["key"], "ENG-1");
        assert_eq!(v["data"]["issue"]["state"].as_object().map(|m| m.len()), Some(1));
    }

    #[test]
    fn rejects_unknown_fields_as_linear_does() {
        let (status, v) = run("query GetIssue($id: String!) { issue(id: $id) { id titel } }", json!({"id": "ENG-1"}));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            v,
            json!({"errors": [{
                "message": "Cannot query field \"titel\" on type \"Issue\". Did you mean \"title\" or \"state\"?",
                "locations": [{"line": 1, "column": 52}],
                "extensions": {"type": "graphql error", "code": "GRAPHQL_VALIDATION_FAILED", "userError": true},
            }]})
        );
        let (_, v) = run("query GetIssue($id: String!) { issue(id: $id) { id state } }", json!({"id": "ENG-1"}));
        assert_eq!(
            v["errors"][0]["message"],
            "Field \"state\" of type \"WorkflowState!\" must have a selection of subfields. Did you mean \"state { ... }\"?"
        );
    }

    #[test]
    fn parses_operation_and_variables() {
        let doc = Document::parse("query GetIssue($id: String!) { issue(id: $id) { id } }").unwrap();
        assert_eq!(doc.kind, OpKind::Query);
        assert_eq!(doc.name, "GetIssue");
        assert!(doc.declared.contains("id"));
    }

    #[test]
    fn rejects_unused_and_undefined_variables() {
        assert!(Document::parse("query A($id: String!, $x: Int) { issue(id: $id) { id } }").is_err());
        assert!(Document::parse("query A { issue(id: $id) { id } }").is_err());
        assert!(Document::parse("mutation A($t: String!) { {% if x %} }").is_err());
    }

    #[test]
    fn seed_pages_issues() {
        let data = Data::seed();
        assert_eq!(data.issues.len(), 60);
        assert_eq!(data.issues[0].identifier, "ENG-1");
        assert_eq!(data.issues[1].identifier, "DES-1");
        let values = Map::new();
        let declared = HashSet::new();
        let vars = Vars { values: &values, declared: &declared };
        let page = connection(&data.issues, &vars, |i| json!(i.id)).unwrap();
        assert_eq!(page["nodes"].as_array().map(Vec::len), Some(50));
        assert_eq!(page["pageInfo"]["hasNextPage"], true);
    }
}
