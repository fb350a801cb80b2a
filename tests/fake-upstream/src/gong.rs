//! Fake Gong API (`https://api.gong.io`), mounted under `/gong`.
//!
//! Auth is checked the way Gong does: HTTP Basic with the access key as user and the access key
//! secret as password ([`creds::GONG_ACCESS_KEY`], [`creds::GONG_ACCESS_SECRET`]), or `Bearer`
//! with an access token minted by the OAuth token endpoint, served at Gong's real path
//! `/oauth2/generate-customer-token` (on `app.gong.io` for the real service). Anything else gets
//! 401 with Gong's error body `{"requestId": "...", "errors": ["..."]}`.
//!
//! Lists page the Gong way: the answer carries `records {totalRecords, currentPageSize,
//! currentPageNumber, cursor}` and `cursor` is present only while more pages remain. GET
//! endpoints take the cursor as a query parameter; the POST "read" endpoints
//! (`/v2/calls/extensive`, `/v2/calls/transcript`, `/v2/stats/...`) take a JSON body with a
//! `filter` object and the cursor as a top-level `cursor` field. Gong pages 100 records; this fake
//! pages [`PAGE_SIZE`] so the few seeded records span several pages.
//!
//! Media URLs returned by `/v2/calls/extensive` (with `contentSelector.exposedFields.media`) point
//! back at this fake (`/gong/media/{callId}/audio.mp3|video.mp4`) and, like Gong's pre-signed
//! storage URLs, need no credentials.

use axum::body::Bytes;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{basic, bearer, creds, lock, FakeState, Shared};

/// Records per page. Gong pages 100; the fake pages 3 so the seeded data needs 2+ pages.
pub const PAGE_SIZE: usize = 3;

/// A Gong user (`/v2/users`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email_address: String,
    pub created: String,
    pub active: bool,
    pub email_aliases: Vec<String>,
    pub first_name: String,
    pub last_name: String,
    pub title: String,
    pub phone_number: Option<String>,
    pub manager_id: Option<String>,
    pub settings: UserSettings,
    pub spoken_languages: Vec<SpokenLanguage>,
}

/// Recording settings of a user.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UserSettings {
    pub web_conferences_recorded: bool,
    pub telephony_calls_imported: bool,
    pub emails_imported: bool,
}

/// A language a user speaks.
#[derive(Debug, Clone, Serialize)]
pub struct SpokenLanguage {
    pub language: String,
    pub primary: bool,
}

/// A company workspace (`/v2/workspaces`).
#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// A recorded call: the basic data of `/v2/calls` plus what the extensive and transcript
/// endpoints add (not serialized with the basic data).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    pub id: String,
    pub url: String,
    pub title: String,
    pub scheduled: String,
    pub started: String,
    pub duration: u32,
    pub primary_user_id: String,
    pub direction: String,
    pub system: String,
    pub scope: String,
    pub media: String,
    pub language: String,
    pub workspace_id: String,
    pub purpose: Option<String>,
    pub meeting_url: String,
    pub is_private: bool,
    /// Participants (`parties` of the extensive data).
    #[serde(skip)]
    pub parties: Vec<Party>,
    /// Monologues of the transcript.
    #[serde(skip)]
    pub transcript: Vec<Monologue>,
    /// Topics discussed, with their duration in seconds.
    #[serde(skip)]
    pub topics: Vec<(String, u32)>,
    /// AI brief of the call.
    #[serde(skip)]
    pub brief: String,
}

/// A call participant.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Party {
    pub id: String,
    pub email_address: String,
    pub name: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub speaker_id: String,
    pub affiliation: String,
    pub methods: Vec<String>,
}

/// One speaker turn of a transcript.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Monologue {
    pub speaker_id: String,
    pub topic: String,
    pub sentences: Vec<Sentence>,
}

/// One transcribed sentence, times in milliseconds from the call start.
#[derive(Debug, Clone, Serialize)]
pub struct Sentence {
    pub start: u32,
    pub end: u32,
    pub text: String,
}

/// A public library folder and the calls in it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Folder {
    pub id: String,
    pub name: String,
    pub parent_folder_id: Option<String>,
    pub created_by: String,
    pub updated: String,
    #[serde(skip)]
    pub workspace_id: String,
    #[serde(skip)]
    pub calls: Vec<LibraryCall>,
}

/// A call saved in a library folder.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LibraryCall {
    pub id: String,
    pub title: String,
    pub note: String,
    pub added_by: String,
    pub created: String,
    pub url: String,
    pub snippet: Snippet,
}

/// The part of a library call that was saved, in seconds.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snippet {
    pub from_sec: u32,
    pub to_sec: u32,
}

/// A filled-in scorecard (`/v2/stats/activity/scorecards`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AnsweredScorecard {
    pub answered_scorecard_id: String,
    pub scorecard_id: String,
    pub scorecard_name: String,
    pub call_id: String,
    pub call_start_time: String,
    pub reviewed_user_id: String,
    pub reviewer_user_id: String,
    pub review_method: String,
    pub review_time: String,
    pub visibility_type: String,
    pub answers: Vec<Answer>,
}

/// One answer of a filled-in scorecard.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer {
    pub question_id: u64,
    pub question_revision_id: u64,
    pub is_overall: bool,
    pub score: Option<u32>,
    pub answer_text: Option<String>,
    pub not_applicable: bool,
}

/// Seeded data of the fake.
#[derive(Debug, Default)]
pub struct Data {
    pub users: Vec<User>,
    pub workspaces: Vec<Workspace>,
    pub calls: Vec<Call>,
    /// Scorecard settings (`/v2/settings/scorecards`), in Gong's shape.
    pub scorecards: Vec<Value>,
    /// Keyword trackers (`/v2/settings/trackers`), in Gong's shape.
    pub trackers: Vec<Value>,
    pub folders: Vec<Folder>,
    pub answered_scorecards: Vec<AnsweredScorecard>,
    /// Counter behind the `requestId` of each answer.
    requests: u64,
}

/// First user id; users are numbered on from it.
const USER_BASE: u64 = 234_599_484_848_423_001;
/// First call id.
const CALL_BASE: u64 = 7_782_342_274_025_937_001;
/// The two workspaces.
const WORKSPACE_SALES: &str = "623457276584334";
const WORKSPACE_SUCCESS: &str = "623457276584335";

fn user_id(i: usize) -> String {
    (USER_BASE + i as u64).to_string()
}

fn call_id(i: usize) -> String {
    (CALL_BASE + i as u64).to_string()
}

impl Data {
    /// The initial data after start or reset: 7 users (3 pages), 2 workspaces, 8 calls (3 pages)
    /// hosted by the first 4 users, 2 scorecards, 3 trackers, 4 library folders and 5 answered
    /// scorecards (2 pages).
    pub fn seed() -> Self {
        let people = [
            ("Dana", "Reyes", "VP Sales", None),
            ("Omar", "Haddad", "Account Executive", Some(0)),
            ("Lena", "Vogel", "Account Executive", Some(0)),
            ("Kenji", "Sato", "Sales Development Rep", Some(0)),
            ("Priya", "Nair", "Customer Success Manager", None),
            ("Marco", "Bianchi", "Customer Success Manager", Some(4)),
            ("Ana", "Lima", "Solutions Engineer", Some(4)),
        ];
        let users: Vec<User> = people
            .iter()
            .enumerate()
            .map(|(i, (first, last, title, manager))| User {
                id: user_id(i),
                email_address: format!("{}.{}@acme-corp.example", first.to_lowercase(), last.to_lowercase()),
                created: format!("2023-0{}-1{}T09:00:00Z", 1 + i % 9, i % 10),
                active: i != 6,
                email_aliases: Vec::new(),
                first_name: (*first).to_string(),
                last_name: (*last).to_string(),
                title: (*title).to_string(),
                phone_number: (i % 2 == 0).then(|| format!("+1-415-555-01{i:02}")),
                manager_id: manager.map(user_id),
                settings: UserSettings {
                    web_conferences_recorded: true,
                    telephony_calls_imported: i < 4,
                    emails_imported: i % 3 != 2,
                },
                spoken_languages: vec![SpokenLanguage { language: "en-US".into(), primary: true }],
            })
            .collect();

        let workspaces = vec![
            Workspace {
                id: WORKSPACE_SALES.into(),
                name: "Sales".into(),
                description: "New business and SDR teams".into(),
            },
            Workspace {
                id: WORKSPACE_SUCCESS.into(),
                name: "Customer Success".into(),
                description: "Onboarding and renewals".into(),
            },
        ];

        let accounts =
            ["Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises", "Wonka", "Tyrell"];
        let kinds = ["Discovery call", "Demo", "Pricing review", "Renewal check-in"];
        let calls: Vec<Call> = accounts
            .iter()
            .enumerate()
            .map(|(i, account)| {
                let host = i % 4;
                let id = call_id(i);
                let kind = kinds[i % kinds.len()];
                let host_user = &users[host];
                let host_name = format!("{} {}", host_user.first_name, host_user.last_name);
                let customer = format!("Jordan {}", account.split(' ').next().unwrap_or(account));
                Call {
                    url: format!("https://app.gong.io/call?id={id}"),
                    title: format!("{kind} - {account}"),
                    scheduled: format!("2024-03-{:02}T15:00:00Z", i + 1),
                    started: format!("2024-03-{:02}T15:02:00Z", i + 1),
                    duration: 1200 + 300 * i as u32,
                    primary_user_id: host_user.id.clone(),
                    direction: if i % 3 == 0 { "Outbound" } else { "Conference" }.into(),
                    system: "Zoom".into(),
                    scope: "External".into(),
                    media: "Video".into(),
                    language: "eng".into(),
                    workspace_id: if i % 2 == 0 { WORKSPACE_SALES } else { WORKSPACE_SUCCESS }.into(),
                    purpose: Some(format!("{kind} with {account}")),
                    meeting_url: format!("https://zoom.example/j/90000{i:02}"),
                    is_private: false,
                    parties: vec![
                        Party {
                            id: format!("{id}1"),
                            email_address: host_user.email_address.clone(),
                            name: host_name.clone(),
                            title: host_user.title.clone(),
                            user_id: Some(host_user.id.clone()),
                            speaker_id: format!("{id}01"),
                            affiliation: "Internal".into(),
                            methods: vec!["Invitee".into(), "Attendee".into()],
                        },
                        Party {
                            id: format!("{id}2"),
                            email_address: format!("jordan@{}.example", account.to_lowercase().replace(' ', "-")),
                            name: customer.clone(),
                            title: "Head of Operations".into(),
                            user_id: None,
                            speaker_id: format!("{id}02"),
                            affiliation: "External".into(),
                            methods: vec!["Invitee".into(), "Attendee".into()],
                        },
                    ],
                    transcript: vec![
                        Monologue {
                            speaker_id: format!("{id}01"),
                            topic: "Call Setup".into(),
                            sentences: vec![
                                Sentence {
                                    start: 1_000,
                                    end: 4_500,
                                    text: format!("Thanks for joining, I'm {host_name}."),
                                },
                                Sentence {
                                    start: 4_600,
                                    end: 8_200,
                                    text: format!("Today is about the {}.", kind.to_lowercase()),
                                },
                            ],
                        },
                        Monologue {
                            speaker_id: format!("{id}02"),
                            topic: "Pricing".into(),
                            sentences: vec![Sentence {
                                start: 8_400,
                                end: 13_000,
                                text: format!("Great, {account} wants to understand the pricing tiers."),
                            }],
                        },
                    ],
                    topics: vec![("Call Setup".into(), 60), ("Pricing".into(), 420 + 30 * i as u32)],
                    brief: format!(
                        "{host_name} ran a {} with {account}; next step is a follow-up.",
                        kind.to_lowercase()
                    ),
                    id,
                }
            })
            .collect();

        let scorecards = vec![
            json!({
                "scorecardId": 6_843_152_929_075_440_001_u64,
                "scorecardName": "SDR Call Scorecard",
                "workspaceId": 623_457_276_584_334_u64,
                "enabled": true,
                "updaterUserId": USER_BASE,
                "created": "2023-06-01T10:00:00Z",
                "updated": "2024-01-15T10:00:00Z",
                "reviewMethod": "MANUAL",
                "questions": [
                    {"questionId": 1001, "questionRevisionId": 2001, "questionText": "Did the rep confirm the pain points?",
                     "isOverall": false, "questionType": "RANGE", "minRange": 1, "maxRange": 5},
                    {"questionId": 1002, "questionRevisionId": 2002, "questionText": "Overall call quality",
                     "isOverall": true, "questionType": "RANGE", "minRange": 1, "maxRange": 5}
                ]
            }),
            json!({
                "scorecardId": 6_843_152_929_075_440_002_u64,
                "scorecardName": "Renewal Readiness",
                "workspaceId": 623_457_276_584_335_u64,
                "enabled": true,
                "updaterUserId": USER_BASE + 4,
                "created": "2023-09-12T10:00:00Z",
                "updated": "2024-02-02T10:00:00Z",
                "reviewMethod": "AUTOMATIC",
                "questions": [
                    {"questionId": 1101, "questionRevisionId": 2101, "questionText": "Was the renewal date discussed?",
                     "isOverall": false, "questionType": "YES_NO"}
                ]
            }),
        ];

        let tracker = |n: u64, name: &str, workspace: &str, keywords: &[&str], affiliation: &str| {
            json!({
                "trackerId": (6_840_000_929_075_400_000_u64 + n).to_string(),
                "trackerName": name,
                "workspaceId": workspace,
                "languageKeywords": [{"language": "eng", "keywords": keywords, "includeRelatedForms": true}],
                "affiliation": affiliation,
                "partOfQuestion": false,
                "saidAt": "Anytime",
                "saidAtInterval": null,
                "saidAtUnit": null,
                "saidInTopics": [],
                "filterQuery": "",
                "created": "2023-05-04T08:00:00Z",
                "creatorUserId": user_id(0),
                "updated": "2024-01-20T08:00:00Z",
                "updaterUserId": user_id(0),
            })
        };
        let trackers = vec![
            tracker(1, "Competitors", WORKSPACE_SALES, &["initrode", "vandelay"], "NonCompany"),
            tracker(2, "Pricing", WORKSPACE_SALES, &["price", "discount", "budget"], "Anyone"),
            tracker(3, "Churn risk", WORKSPACE_SUCCESS, &["cancel", "switch vendors"], "NonCompany"),
        ];

        let library_call = |i: usize, note: &str| LibraryCall {
            id: call_id(i),
            title: calls[i].title.clone(),
            note: note.into(),
            added_by: user_id(0),
            created: format!("2024-03-{:02}T18:00:00Z", i + 2),
            url: format!("https://app.gong.io/call?id={}", call_id(i)),
            snippet: Snippet { from_sec: 60, to_sec: 240 },
        };
        let folders = vec![
            Folder {
                id: "3843152912968920001".into(),
                name: "Sales Onboarding".into(),
                parent_folder_id: None,
                created_by: user_id(0),
                updated: "2024-03-10T12:00:00Z".into(),
                workspace_id: WORKSPACE_SALES.into(),
                calls: vec![
                    library_call(0, "Textbook discovery"),
                    library_call(2, "Handles the budget objection"),
                    library_call(4, ""),
                ],
            },
            Folder {
                id: "3843152912968920002".into(),
                name: "Great Demos".into(),
                parent_folder_id: Some("3843152912968920001".into()),
                created_by: user_id(1),
                updated: "2024-03-11T12:00:00Z".into(),
                workspace_id: WORKSPACE_SALES.into(),
                calls: vec![library_call(1, "Crisp demo flow")],
            },
            Folder {
                id: "3843152912968920003".into(),
                name: "Objection Handling".into(),
                parent_folder_id: Some("3843152912968920001".into()),
                created_by: user_id(0),
                updated: "2024-03-12T12:00:00Z".into(),
                workspace_id: WORKSPACE_SALES.into(),
                calls: Vec::new(),
            },
            Folder {
                id: "3843152912968920004".into(),
                name: "Renewals Playbook".into(),
                parent_folder_id: None,
                created_by: user_id(4),
                updated: "2024-03-13T12:00:00Z".into(),
                workspace_id: WORKSPACE_SUCCESS.into(),
                calls: vec![library_call(3, "Renewal done right"), library_call(7, "")],
            },
        ];

        let answered_scorecards = (0..5)
            .map(|i| {
                let call = &calls[i];
                let manual = i != 3;
                AnsweredScorecard {
                    answered_scorecard_id: (1_850_000_000_000_000_001_u64 + i as u64).to_string(),
                    scorecard_id: if manual { "6843152929075440001" } else { "6843152929075440002" }.into(),
                    scorecard_name: if manual { "SDR Call Scorecard" } else { "Renewal Readiness" }.into(),
                    call_id: call.id.clone(),
                    call_start_time: call.started.clone(),
                    reviewed_user_id: call.primary_user_id.clone(),
                    reviewer_user_id: if manual { user_id(0) } else { user_id(4) },
                    review_method: if manual { "MANUAL" } else { "AUTOMATIC" }.into(),
                    review_time: format!("2024-03-{:02}T09:30:00Z", i + 3),
                    visibility_type: "PUBLIC".into(),
                    answers: if manual {
                        vec![
                            Answer {
                                question_id: 1001,
                                question_revision_id: 2001,
                                is_overall: false,
                                score: Some(3 + (i as u32 % 3)),
                                answer_text: None,
                                not_applicable: false,
                            },
                            Answer {
                                question_id: 1002,
                                question_revision_id: 2002,
                                is_overall: true,
                                score: Some(4),
                                answer_text: None,
                                not_applicable: false,
                            },
                        ]
                    } else {
                        vec![Answer {
                            question_id: 1101,
                            question_revision_id: 2101,
                            is_overall: false,
                            score: None,
                            answer_text: Some("Yes".into()),
                            not_applicable: false,
                        }]
                    },
                }
            })
            .collect();

        Self { users, workspaces, calls, scorecards, trackers, folders, answered_scorecards, requests: 0 }
    }

    /// A fresh `requestId`, shaped like Gong's (19 lower-case alphanumerics).
    fn next_request_id(&mut self) -> String {
        self.requests += 1;
        format!("4al018gzaztc{:07}", self.requests)
    }

    fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }
}

/// Routes under `/gong`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/oauth2/generate-customer-token", post(token))
        .route("/v2/users", get(list_users))
        .route("/v2/users/{id}", get(get_user))
        .route("/v2/calls", get(list_calls))
        .route("/v2/calls/{id}", get(get_call))
        .route("/v2/calls/extensive", post(calls_extensive))
        .route("/v2/calls/transcript", post(call_transcripts))
        .route("/v2/workspaces", get(list_workspaces))
        .route("/v2/stats/activity/aggregate", post(|s, h, b| user_stats(s, h, b, StatsKind::Aggregate)))
        .route("/v2/stats/activity/day-by-day", post(|s, h, b| user_stats(s, h, b, StatsKind::DayByDay)))
        .route("/v2/stats/interaction", post(|s, h, b| user_stats(s, h, b, StatsKind::Interaction)))
        .route("/v2/stats/activity/scorecards", post(answered_scorecards))
        .route("/v2/settings/scorecards", get(|s, h, q| settings(s, h, q, Setting::Scorecards)))
        .route("/v2/settings/trackers", get(|s, h, q| settings(s, h, q, Setting::Trackers)))
        .route("/v2/library/folders", get(library_folders))
        .route("/v2/library/folder-content", get(folder_content))
        .route("/v2/coaching", get(coaching))
        .route("/media/{call_id}/{file}", get(media))
}

// ---------------------------------------------------------------------------------------------
// Plumbing: auth, errors, paging, request bodies.

/// A Gong error: the status and the message put in `errors`.
struct GongError {
    status: StatusCode,
    message: String,
}

impl GongError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn into_response(self, request_id: &str) -> Response {
        (self.status, Json(json!({"requestId": request_id, "errors": [self.message]}))).into_response()
    }
}

/// The fields of an answer, without `requestId` (added by [`handle`]).
type Body = Map<String, Value>;

/// Whether the request carries valid Gong credentials: the access key pair over Basic, or a
/// live OAuth access token over Bearer.
fn authorized(state: &FakeState, headers: &HeaderMap) -> bool {
    if let Some((key, secret)) = basic(headers) {
        return key == creds::GONG_ACCESS_KEY && secret == creds::GONG_ACCESS_SECRET;
    }
    bearer(headers).is_some_and(|token| state.oauth_access_valid("gong", &token))
}

/// Locks the data, checks auth, runs `f` and answers with `requestId` first, then `f`'s fields
/// (or Gong's error body).
fn handle(state: &FakeState, headers: &HeaderMap, f: impl FnOnce(&mut Data) -> Result<Body, GongError>) -> Response {
    let mut data = lock(&state.gong);
    let request_id = data.next_request_id();
    if !authorized(state, headers) {
        return GongError::new(StatusCode::UNAUTHORIZED, "Access denied: the API credentials are invalid or expired")
            .into_response(&request_id);
    }
    match f(&mut data) {
        Ok(fields) => {
            let mut body = Map::new();
            body.insert("requestId".into(), json!(request_id));
            body.extend(fields);
            Json(Value::Object(body)).into_response()
        }
        Err(e) => e.into_response(&request_id),
    }
}

fn to_values<T: Serialize>(items: impl IntoIterator<Item = T>) -> Vec<Value> {
    items.into_iter().map(|i| serde_json::to_value(i).unwrap_or(Value::Null)).collect()
}

/// What a cursor encodes: the list it belongs to and the page it asks for.
#[derive(Serialize, Deserialize)]
struct CursorState {
    list: String,
    page: usize,
}

/// An opaque cursor (base64 of JSON, so it starts with `eyJ` like Gong's JWT cursors).
fn encode_cursor(list: &str, page: usize) -> String {
    let state = CursorState { list: list.into(), page };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&state).unwrap_or_default())
}

fn decode_cursor(list: &str, cursor: &str) -> Result<usize, GongError> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|raw| serde_json::from_slice::<CursorState>(&raw).ok())
        .filter(|c| c.list == list)
        .map(|c| c.page)
        .ok_or_else(|| GongError::bad_request("cursor is invalid"))
}

/// One page of `items` under `key`, with Gong's `records` block (`cursor` only when more
/// pages follow).
fn page(key: &str, items: Vec<Value>, cursor: Option<&str>) -> Result<Body, GongError> {
    let number = match cursor.filter(|c| !c.is_empty()) {
        Some(c) => decode_cursor(key, c)?,
        None => 0,
    };
    let total = items.len();
    let start = number * PAGE_SIZE;
    if start > total {
        return Err(GongError::bad_request("cursor is invalid"));
    }
    let chunk: Vec<Value> = items.into_iter().skip(start).take(PAGE_SIZE).collect();
    let mut records = json!({"totalRecords": total, "currentPageSize": chunk.len(), "currentPageNumber": number});
    if start + PAGE_SIZE < total {
        records["cursor"] = json!(encode_cursor(key, number + 1));
    }
    let mut body = Body::new();
    body.insert("records".into(), records);
    body.insert(key.into(), Value::Array(chunk));
    Ok(body)
}

/// A body of fields without paging.
fn body_of(key: &str, items: Vec<Value>) -> Body {
    let mut body = Body::new();
    body.insert(key.into(), Value::Array(items));
    body
}

/// The JSON body of the POST read endpoints: `{"cursor": ..., "filter": {...}, "contentSelector": {...}}`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostBody {
    cursor: Option<String>,
    filter: Option<Value>,
    #[serde(default)]
    content_selector: Value,
}

impl PostBody {
    fn parse(bytes: &[u8]) -> Result<Self, GongError> {
        serde_json::from_slice(bytes).map_err(|e| GongError::bad_request(format!("Malformed request body: {e}")))
    }

    /// The `filter` object, typed; Gong rejects a request without one.
    fn filter<T: for<'de> Deserialize<'de>>(&self) -> Result<T, GongError> {
        let raw = self.filter.clone().ok_or_else(|| GongError::bad_request("filter is required"))?;
        serde_json::from_value(raw).map_err(|e| GongError::bad_request(format!("Malformed filter: {e}")))
    }
}

// ---------------------------------------------------------------------------------------------
// Dates: Gong takes ISO-8601 date-times (`2024-03-01T00:00:00Z`, `...-07:00`) and dates
// (`2024-03-01`).

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD` of a day number.
fn civil_from_days(z: i64) -> String {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Day number of `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<i64> {
    let mut parts = s.splitn(3, '-');
    let y: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let d: i64 = parts.next()?.parse().ok()?;
    ((1..=12).contains(&m) && (1..=31).contains(&d) && s.len() == 10).then(|| days_from_civil(y, m, d))
}

/// Seconds since the epoch of an ISO-8601 date-time with `Z` or a `±HH:MM` offset.
fn parse_datetime(s: &str) -> Option<i64> {
    let (date, time) = s.split_once('T')?;
    let days = parse_date(date)?;
    let clock = time.get(..8)?;
    let mut hms = clock.split(':');
    let h: i64 = hms.next()?.parse().ok()?;
    let mi: i64 = hms.next()?.parse().ok()?;
    let se: i64 = hms.next()?.parse().ok()?;
    let mut rest = &time[8..];
    if let Some(frac) = rest.strip_prefix('.') {
        rest = frac.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            let (oh, om) = rest.get(1..)?.split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

fn datetime_param(name: &str, value: Option<&str>) -> Result<Option<i64>, GongError> {
    value
        .map(|v| {
            parse_datetime(v)
                .ok_or_else(|| GongError::bad_request(format!("{name} is not a valid ISO-8601 date-time: {v}")))
        })
        .transpose()
}

fn date_param(name: &str, value: Option<&str>) -> Result<Option<i64>, GongError> {
    value
        .map(|v| {
            parse_date(v)
                .ok_or_else(|| GongError::bad_request(format!("{name} should be in the format YYYY-MM-DD: {v}")))
        })
        .transpose()
}

/// Day number of a seeded call's start.
fn call_day(call: &Call) -> i64 {
    parse_datetime(&call.started).map_or(0, |s| s.div_euclid(86_400))
}

// ---------------------------------------------------------------------------------------------
// OAuth and media.

/// `POST /oauth2/generate-customer-token`: the refresh-token grant, client credentials in a
/// Basic header (Gong also accepts the grant fields in the query string).
async fn token(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    crate::token_endpoint(&state, "gong", &headers, query.as_deref().unwrap_or(""), &body)
}

/// `GET /media/{callId}/audio.mp3|video.mp4`: the recording behind a media URL (no auth, like
/// a pre-signed storage URL).
async fn media(State(state): State<Shared>, Path((call_id, file)): Path<(String, String)>) -> Response {
    let known = lock(&state.gong).calls.iter().any(|c| c.id == call_id);
    let content_type = match file.as_str() {
        "audio.mp3" => "audio/mpeg",
        "video.mp4" => "video/mp4",
        _ => "",
    };
    if !known || content_type.is_empty() {
        return (StatusCode::NOT_FOUND, "NoSuchKey").into_response();
    }
    let bytes = format!("fake {file} of call {call_id}").into_bytes();
    ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
}

// ---------------------------------------------------------------------------------------------
// Users and workspaces.

#[derive(Deserialize)]
struct CursorQuery {
    cursor: Option<String>,
}

/// `GET /v2/users`.
async fn list_users(State(state): State<Shared>, headers: HeaderMap, Query(q): Query<CursorQuery>) -> Response {
    handle(&state, &headers, |data| page("users", to_values(&data.users), q.cursor.as_deref()))
}

/// `GET /v2/users/{id}`.
async fn get_user(State(state): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&state, &headers, |data| {
        let user = data.user(&id).ok_or_else(|| GongError::not_found(format!("User {id} was not found")))?;
        let mut body = Body::new();
        body.insert("user".into(), json!(user));
        Ok(body)
    })
}

/// `GET /v2/workspaces`.
async fn list_workspaces(State(state): State<Shared>, headers: HeaderMap) -> Response {
    handle(&state, &headers, |data| Ok(body_of("workspaces", to_values(&data.workspaces))))
}

// ---------------------------------------------------------------------------------------------
// Calls.

/// The call filter shared by `/v2/calls` (query) and the extensive/transcript bodies.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CallsFilter {
    from_date_time: Option<String>,
    to_date_time: Option<String>,
    workspace_id: Option<String>,
    call_ids: Option<Vec<String>>,
    primary_user_ids: Option<Vec<String>>,
}

impl CallsFilter {
    /// The matching calls, in start order; Gong answers 404 when none match.
    fn select<'a>(&self, calls: &'a [Call]) -> Result<Vec<&'a Call>, GongError> {
        let from = datetime_param("fromDateTime", self.from_date_time.as_deref())?;
        let to = datetime_param("toDateTime", self.to_date_time.as_deref())?;
        let found: Vec<&Call> = calls
            .iter()
            .filter(|c| {
                let started = parse_datetime(&c.started).unwrap_or(0);
                from.is_none_or(|f| started >= f)
                    && to.is_none_or(|t| started < t)
                    && self.workspace_id.as_ref().is_none_or(|w| &c.workspace_id == w)
                    && self.call_ids.as_ref().is_none_or(|ids| ids.contains(&c.id))
                    && self.primary_user_ids.as_ref().is_none_or(|ids| ids.contains(&c.primary_user_id))
            })
            .collect();
        if found.is_empty() {
            return Err(GongError::not_found("No calls found corresponding to the provided filters"));
        }
        Ok(found)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CallsQuery {
    cursor: Option<String>,
    #[serde(flatten)]
    filter: CallsFilter,
}

/// `GET /v2/calls?fromDateTime&toDateTime&workspaceId&cursor`.
async fn list_calls(State(state): State<Shared>, headers: HeaderMap, Query(q): Query<CallsQuery>) -> Response {
    handle(&state, &headers, |data| {
        let calls = q.filter.select(&data.calls)?;
        page("calls", to_values(calls), q.cursor.as_deref())
    })
}

/// `GET /v2/calls/{id}`.
async fn get_call(State(state): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    handle(&state, &headers, |data| {
        let call = data
            .calls
            .iter()
            .find(|c| c.id == id)
            .ok_or_else(|| GongError::not_found(format!("Call {id} was not found")))?;
        let mut body = Body::new();
        body.insert("call".into(), json!(call));
        Ok(body)
    })
}

/// Whether `contentSelector.exposedFields` at `pointer` (e.g. `/parties`) is `true`.
fn exposed(selector: &Value, pointer: &str) -> bool {
    selector.pointer(&format!("/exposedFields{pointer}")) == Some(&Value::Bool(true))
}

/// The extensive data of a call: `metaData` always, the rest as the content selector asks.
fn extensive(call: &Call, selector: &Value, origin: &str) -> Value {
    let mut record = Map::new();
    record.insert("metaData".into(), json!(call));
    if selector.get("context").and_then(Value::as_str).is_some_and(|c| c != "None") {
        record.insert("context".into(), json!([{"system": "Salesforce", "objects": [{"objectType": "Opportunity", "objectId": format!("006{}", &call.id[..8])}]}]));
    }
    if exposed(selector, "/parties") {
        record.insert("parties".into(), json!(call.parties));
    }
    let mut content = Map::new();
    if exposed(selector, "/content/topics") {
        content.insert(
            "topics".into(),
            Value::Array(call.topics.iter().map(|(name, secs)| json!({"name": name, "duration": secs})).collect()),
        );
    }
    if exposed(selector, "/content/trackers") {
        content.insert(
            "trackers".into(),
            json!([{"id": "6840000929075400002", "name": "Pricing", "count": 2, "type": "KEYWORD"}]),
        );
    }
    if exposed(selector, "/content/brief") {
        content.insert("brief".into(), json!(call.brief));
    }
    if exposed(selector, "/content/keyPoints") {
        content.insert("keyPoints".into(), json!([{"text": "Customer asked about pricing tiers"}]));
    }
    if exposed(selector, "/content/callOutcome") {
        content.insert("callOutcome".into(), json!({"id": "1", "category": "Answered", "name": "Meeting booked"}));
    }
    if !content.is_empty() {
        record.insert("content".into(), Value::Object(content));
    }
    let mut interaction = Map::new();
    if exposed(selector, "/interaction/speakers") {
        let speakers: Vec<Value> = call
            .parties
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"id": p.speaker_id, "userId": p.user_id, "talkTime": if i == 0 { call.duration / 2 } else { call.duration / 3 }}))
            .collect();
        interaction.insert("speakers".into(), Value::Array(speakers));
    }
    if exposed(selector, "/interaction/personInteractionStats") {
        interaction.insert(
            "interactionStats".into(),
            json!([{"name": "Interactivity", "value": 6.1}, {"name": "Patience", "value": 0.9}]),
        );
    }
    if exposed(selector, "/interaction/questions") {
        interaction.insert("questions".into(), json!({"companyCount": 7, "nonCompanyCount": 4}));
    }
    if !interaction.is_empty() {
        record.insert("interaction".into(), Value::Object(interaction));
    }
    if exposed(selector, "/collaboration/publicComments") {
        record.insert("collaboration".into(), json!({"publicComments": []}));
    }
    if exposed(selector, "/media") {
        record.insert(
            "media".into(),
            json!({
                "audioUrl": format!("{origin}/gong/media/{}/audio.mp3", call.id),
                "videoUrl": format!("{origin}/gong/media/{}/video.mp4", call.id),
            }),
        );
    }
    Value::Object(record)
}

/// Checks the documented enums of a content selector.
fn check_selector(selector: &Value) -> Result<(), GongError> {
    if let Some(context) = selector.get("context") {
        if !matches!(context.as_str(), Some("None" | "Basic" | "Extended")) {
            return Err(GongError::bad_request(format!(
                "contentSelector.context must be one of None, Basic, Extended, got {context}"
            )));
        }
    }
    if let Some(timing) = selector.get("contextTiming").and_then(Value::as_array) {
        if let Some(bad) = timing.iter().find(|t| !matches!(t.as_str(), Some("Now" | "TimeOfCall"))) {
            return Err(GongError::bad_request(format!(
                "contentSelector.contextTiming must contain Now or TimeOfCall, got {bad}"
            )));
        }
    }
    Ok(())
}

/// `POST /v2/calls/extensive`.
async fn calls_extensive(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let origin = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| "http://127.0.0.1".to_string(), |h| format!("http://{h}"));
    handle(&state, &headers, |data| {
        let request = PostBody::parse(&body)?;
        let filter: CallsFilter = request.filter()?;
        check_selector(&request.content_selector)?;
        let calls = filter.select(&data.calls)?;
        let records = calls.into_iter().map(|c| extensive(c, &request.content_selector, &origin)).collect();
        page("calls", records, request.cursor.as_deref())
    })
}

/// `POST /v2/calls/transcript`.
async fn call_transcripts(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, &headers, |data| {
        let request = PostBody::parse(&body)?;
        let filter: CallsFilter = request.filter()?;
        let calls = filter.select(&data.calls)?;
        let records = calls.into_iter().map(|c| json!({"callId": c.id, "transcript": c.transcript})).collect();
        page("callTranscripts", records, request.cursor.as_deref())
    })
}

// ---------------------------------------------------------------------------------------------
// Stats.

/// The user-stats endpoints, which share a filter and differ in the record shape.
#[derive(Clone, Copy)]
enum StatsKind {
    Aggregate,
    DayByDay,
    Interaction,
}

impl StatsKind {
    fn key(self) -> &'static str {
        match self {
            Self::Aggregate => "usersAggregateActivityStats",
            Self::DayByDay => "usersDetailedActivities",
            Self::Interaction => "peopleInteractionStats",
        }
    }
}

/// `filter` of the user-stats endpoints.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatsFilter {
    from_date: Option<String>,
    to_date: Option<String>,
    user_ids: Option<Vec<String>>,
}

/// `POST /v2/stats/activity/aggregate`, `/v2/stats/activity/day-by-day`, `/v2/stats/interaction`:
/// one record per user who hosted calls in `[fromDate, toDate)`.
async fn user_stats(State(state): State<Shared>, headers: HeaderMap, body: Bytes, kind: StatsKind) -> Response {
    handle(&state, &headers, |data| {
        let request = PostBody::parse(&body)?;
        let filter: StatsFilter = request.filter()?;
        let from = date_param("fromDate", filter.from_date.as_deref())?
            .ok_or_else(|| GongError::bad_request("filter.fromDate is required"))?;
        let to = date_param("toDate", filter.to_date.as_deref())?
            .ok_or_else(|| GongError::bad_request("filter.toDate is required"))?;
        if from >= to {
            return Err(GongError::bad_request("fromDate must be before toDate"));
        }
        let mut records = Vec::new();
        for user in &data.users {
            if filter.user_ids.as_ref().is_some_and(|ids| !ids.contains(&user.id)) {
                continue;
            }
            let hosted: Vec<&Call> = data
                .calls
                .iter()
                .filter(|c| c.primary_user_id == user.id && (from..to).contains(&call_day(c)))
                .collect();
            if hosted.is_empty() {
                continue;
            }
            records.push(stats_record(kind, user, &hosted, from, to));
        }
        page(kind.key(), records, request.cursor.as_deref())
    })
}

fn stats_record(kind: StatsKind, user: &User, hosted: &[&Call], from: i64, to: i64) -> Value {
    let n = hosted.len();
    match kind {
        StatsKind::Aggregate => json!({
            "userId": user.id,
            "userEmailAddress": user.email_address,
            "userAggregateActivityStats": {
                "callsAsHost": n,
                "callsAttended": n,
                "callsGaveFeedback": n / 2,
                "callsReceivedFeedback": 1,
                "callsRequestedFeedback": 0,
                "callsScorecardsFilled": n / 2,
                "callsScorecardsReceived": 1,
                "callsSharedInternally": 1,
                "callsSharedExternally": 0,
                "callsCommentsGiven": n,
                "callsCommentsReceived": 1,
                "ownCallsListenedTo": n,
                "othersCallsListenedTo": 2,
            },
        }),
        StatsKind::DayByDay => {
            let days: Vec<Value> = (from..to)
                .map(|day| {
                    let ids: Vec<&str> = hosted.iter().filter(|c| call_day(c) == day).map(|c| c.id.as_str()).collect();
                    json!({
                        "callsAsHost": ids,
                        "callsAttended": ids,
                        "callsGaveFeedback": [],
                        "callsCommentsGiven": [],
                        "ownCallsListenedTo": [],
                        "othersCallsListenedTo": [],
                        "fromDate": civil_from_days(day),
                        "toDate": civil_from_days(day + 1),
                    })
                })
                .collect();
            json!({"userId": user.id, "userEmailAddress": user.email_address, "userDailyActivityStats": days})
        }
        StatsKind::Interaction => {
            let talk: f64 = 0.4 + 0.05 * n as f64;
            json!({
                "userId": user.id,
                "userEmailAddress": user.email_address,
                "personInteractionStats": [
                    {"name": "Longest Monologue", "value": 95 + 10 * n},
                    {"name": "Interactivity", "value": 5.5},
                    {"name": "Patience", "value": 0.8},
                    {"name": "Question Rate", "value": 11.0},
                    {"name": "Talk Ratio", "value": talk},
                ],
            })
        }
    }
}

/// `filter` of `/v2/stats/activity/scorecards`.
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct AnsweredFilter {
    call_from_date: Option<String>,
    call_to_date: Option<String>,
    review_from_date: Option<String>,
    review_to_date: Option<String>,
    review_method: Option<String>,
    scorecard_ids: Option<Vec<String>>,
    reviewed_user_ids: Option<Vec<String>>,
}

/// `POST /v2/stats/activity/scorecards`.
async fn answered_scorecards(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    handle(&state, &headers, |data| {
        let request = PostBody::parse(&body)?;
        let filter: AnsweredFilter = request.filter()?;
        let call_from = date_param("callFromDate", filter.call_from_date.as_deref())?;
        let call_to = date_param("callToDate", filter.call_to_date.as_deref())?;
        let review_from = date_param("reviewFromDate", filter.review_from_date.as_deref())?;
        let review_to = date_param("reviewToDate", filter.review_to_date.as_deref())?;
        let method = match filter.review_method.as_deref() {
            None | Some("BOTH") => None,
            Some(m @ ("AUTOMATIC" | "MANUAL")) => Some(m),
            Some(other) => {
                return Err(GongError::bad_request(format!(
                    "reviewMethod must be AUTOMATIC, MANUAL or BOTH, got {other}"
                )))
            }
        };
        let in_range =
            |day: i64, from: Option<i64>, to: Option<i64>| from.is_none_or(|f| day >= f) && to.is_none_or(|t| day < t);
        let day_of = |s: &str| parse_datetime(s).map_or(0, |v| v.div_euclid(86_400));
        let found = data.answered_scorecards.iter().filter(|a| {
            in_range(day_of(&a.call_start_time), call_from, call_to)
                && in_range(day_of(&a.review_time), review_from, review_to)
                && method.is_none_or(|m| a.review_method == m)
                && filter.scorecard_ids.as_ref().is_none_or(|ids| ids.contains(&a.scorecard_id))
                && filter.reviewed_user_ids.as_ref().is_none_or(|ids| ids.contains(&a.reviewed_user_id))
        });
        page("answeredScorecards", to_values(found), request.cursor.as_deref())
    })
}

// ---------------------------------------------------------------------------------------------
// Settings, library, coaching.

/// The settings lists, which are all filtered by workspace and returned in one piece.
#[derive(Clone, Copy)]
enum Setting {
    Scorecards,
    Trackers,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkspaceQuery {
    workspace_id: Option<String>,
}

/// The workspace id of a settings record (a number for scorecards, a string for trackers).
fn workspace_of(record: &Value) -> String {
    match &record["workspaceId"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `GET /v2/settings/scorecards` and `GET /v2/settings/trackers`.
async fn settings(
    State(state): State<Shared>,
    headers: HeaderMap,
    Query(q): Query<WorkspaceQuery>,
    which: Setting,
) -> Response {
    handle(&state, &headers, |data| {
        let (key, records) = match which {
            Setting::Scorecards => ("scorecards", &data.scorecards),
            Setting::Trackers => ("keywordTrackers", &data.trackers),
        };
        let selected =
            records.iter().filter(|r| q.workspace_id.as_ref().is_none_or(|w| &workspace_of(r) == w)).cloned().collect();
        Ok(body_of(key, selected))
    })
}

/// `GET /v2/library/folders?workspaceId`.
async fn library_folders(State(state): State<Shared>, headers: HeaderMap, Query(q): Query<WorkspaceQuery>) -> Response {
    handle(&state, &headers, |data| {
        let folders: Vec<&Folder> =
            data.folders.iter().filter(|f| q.workspace_id.as_ref().is_none_or(|w| &f.workspace_id == w)).collect();
        if folders.is_empty() {
            return Err(GongError::not_found("No folders found"));
        }
        Ok(body_of("folders", to_values(folders)))
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FolderQuery {
    folder_id: Option<String>,
}

/// `GET /v2/library/folder-content?folderId`: the folder's details and its calls (one piece).
async fn folder_content(State(state): State<Shared>, headers: HeaderMap, Query(q): Query<FolderQuery>) -> Response {
    handle(&state, &headers, |data| {
        let id = q
            .folder_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| GongError::bad_request("folderId is required"))?;
        let folder = data
            .folders
            .iter()
            .find(|f| f.id == id)
            .ok_or_else(|| GongError::not_found(format!("Folder {id} was not found")))?;
        let mut body = Body::new();
        body.insert("id".into(), json!(folder.id));
        body.insert("name".into(), json!(folder.name));
        body.insert("createdBy".into(), json!(folder.created_by));
        body.insert("updated".into(), json!(folder.updated));
        body.insert("calls".into(), json!(folder.calls));
        Ok(body)
    })
}

#[derive(Deserialize)]
struct CoachingQuery {
    #[serde(rename = "workspace-id")]
    workspace_id: Option<String>,
    #[serde(rename = "manager-id")]
    manager_id: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

/// A user as the coaching endpoint shows it.
fn coaching_user(user: &User) -> Value {
    json!({"id": user.id, "emailAddress": user.email_address, "firstName": user.first_name, "lastName": user.last_name, "title": user.title})
}

/// `GET /v2/coaching?workspace-id&manager-id&from&to`: the manager and the coaching metrics of
/// each direct report.
async fn coaching(State(state): State<Shared>, headers: HeaderMap, Query(q): Query<CoachingQuery>) -> Response {
    handle(&state, &headers, |data| {
        let required = |name: &str, v: &Option<String>| {
            v.clone().filter(|s| !s.is_empty()).ok_or_else(|| GongError::bad_request(format!("{name} is required")))
        };
        let workspace = required("workspace-id", &q.workspace_id)?;
        let manager_id = required("manager-id", &q.manager_id)?;
        let from = datetime_param("from", Some(&required("from", &q.from)?))?;
        let to = datetime_param("to", Some(&required("to", &q.to)?))?;
        if !data.workspaces.iter().any(|w| w.id == workspace) {
            return Err(GongError::not_found(format!("Workspace {workspace} was not found")));
        }
        let manager = data
            .user(&manager_id)
            .ok_or_else(|| GongError::not_found(format!("Manager {manager_id} was not found")))?;
        let in_range = |c: &&Call| {
            let started = parse_datetime(&c.started).unwrap_or(0);
            c.workspace_id == workspace && from.is_none_or(|f| started >= f) && to.is_none_or(|t| started < t)
        };
        let reports: Vec<Value> = data
            .users
            .iter()
            .filter(|u| u.manager_id.as_deref() == Some(manager.id.as_str()))
            .map(|report| {
                let calls: Vec<&str> = data
                    .calls
                    .iter()
                    .filter(|c| c.primary_user_id == report.id)
                    .filter(in_range)
                    .map(|c| c.id.as_str())
                    .collect();
                json!({
                    "report": coaching_user(report),
                    "metrics": {
                        "callsListenedTo": calls,
                        "callsAttended": [],
                        "callsWithFeedback": calls.iter().take(1).collect::<Vec<_>>(),
                        "callsWithComments": [],
                        "scorecards": [],
                    },
                })
            })
            .collect();
        Ok(body_of("coachingData", vec![json!({"manager": coaching_user(manager), "directReportsMetrics": reports})]))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        let day = parse_date("2024-03-01").unwrap();
        assert_eq!(civil_from_days(day), "2024-03-01");
        assert_eq!(civil_from_days(day + 1), "2024-03-02");
        assert_eq!(parse_datetime("2024-03-01T00:00:00Z"), Some(day * 86_400));
        assert_eq!(parse_datetime("2024-02-29T17:00:00-07:00"), Some(day * 86_400));
        assert_eq!(parse_datetime("2024-03-01T00:00:00.250Z"), Some(day * 86_400));
        assert_eq!(parse_datetime("2024-03-01"), None);
    }

    #[test]
    fn cursors_are_tied_to_their_list() {
        let c = encode_cursor("users", 2);
        assert!(c.starts_with("eyJ"));
        assert_eq!(decode_cursor("users", &c).ok(), Some(2));
        assert!(decode_cursor("calls", &c).is_err());
    }

    #[test]
    fn seed_pages() {
        let data = Data::seed();
        assert!(data.users.len() > 2 * PAGE_SIZE);
        assert!(data.calls.len() > 2 * PAGE_SIZE);
        assert!(data.answered_scorecards.len() > PAGE_SIZE);
    }
}
