//! Fake HubSpot CRM API: v3 objects and search, v4 associations, custom object schemas and the
//! OAuth token endpoint, behaving like `api.hubapi.com` for what `connectors/hubspot.yaml` uses.
//!
//! - Auth: `Authorization: Bearer <token>` with the private app token or an OAuth access token
//!   minted by `POST /oauth/v1/token` (refresh-token grant, or authorization-code grant with
//!   PKCE after the consent screen of `GET /oauth/authorize`). Anything else answers 401 with HubSpot's error body:
//!   category `EXPIRED_AUTHENTICATION` for an expired OAuth token, `INVALID_AUTHENTICATION`
//!   otherwise.
//! - Every CRM object type (contacts, companies, deals, tickets, engagements, custom objects) is
//!   served by the same handlers under `/crm/v3/objects/{objectType}`, as HubSpot does; a type is
//!   named by its plural name, its singular name or its id (`0-1`, `2-3508482`).
//! - Lists page with `limit` (default 10, at most 100) and `after` (the id of the next record,
//!   returned as `paging.next.after`, absent on the last page). Search pages by offset with
//!   `limit` up to 200 and answers `total`.
//! - Errors are `{status: "error", message, correlationId, category}`; unknown ids answer 404
//!   `OBJECT_NOT_FOUND`, unknown object types 400 `Unable to infer object type from: X`.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::{bearer, creds, lock, token_endpoint, Shared};

/// The portal (account) id the fake plays; it appears in custom object names.
const PORTAL_ID: u64 = 12345;
/// Seeded records are created one hour apart from 2024-01-15T09:00:00Z.
const SEED_EPOCH_MS: u64 = 1_705_309_200_000;
/// Ids given to records created through the API start here.
const FIRST_NEW_ID: u64 = 5001;

// ---------------------------------------------------------------------------------------------
// Object types
// ---------------------------------------------------------------------------------------------

/// A CRM object type: the names the API accepts for it and how its records look.
#[derive(Debug)]
pub struct ObjectType {
    /// HubSpot's object type id (`0-1` for contacts, `2-…` for custom objects).
    pub type_id: &'static str,
    /// Name used in responses: the plural name, or a custom object's fully qualified name.
    pub name: &'static str,
    /// Singular name, used in association labels (`contact_to_company`).
    pub singular: &'static str,
    /// Every name a path may use for this type (compared case-insensitively).
    aliases: &'static [&'static str],
    /// The property holding the creation time (`createdate` or `hs_createdate`).
    created_property: &'static str,
    /// The property holding the last modification time.
    modified_property: &'static str,
    /// Properties returned when a request names none (beyond id and timestamps).
    default_properties: &'static [&'static str],
    /// First id of the seeded records.
    id_base: u64,
}

/// Engagements and custom objects return no properties by default beyond id and timestamps.
const BARE_DEFAULTS: &[&str] = &[];

/// The object types the fake knows: HubSpot's standard objects plus one custom object (cars).
static OBJECT_TYPES: &[ObjectType] = &[
    ObjectType {
        type_id: "0-1",
        name: "contacts",
        singular: "contact",
        aliases: &["contacts", "contact", "0-1"],
        created_property: "createdate",
        modified_property: "lastmodifieddate",
        default_properties: &["email", "firstname", "lastname"],
        id_base: 101,
    },
    ObjectType {
        type_id: "0-2",
        name: "companies",
        singular: "company",
        aliases: &["companies", "company", "0-2"],
        created_property: "createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: &["domain", "name"],
        id_base: 201,
    },
    ObjectType {
        type_id: "0-3",
        name: "deals",
        singular: "deal",
        aliases: &["deals", "deal", "0-3"],
        created_property: "createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: &["amount", "closedate", "dealname", "dealstage", "pipeline"],
        id_base: 301,
    },
    ObjectType {
        type_id: "0-5",
        name: "tickets",
        singular: "ticket",
        aliases: &["tickets", "ticket", "0-5"],
        created_property: "createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: &["content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "subject"],
        id_base: 401,
    },
    ObjectType {
        type_id: "0-46",
        name: "notes",
        singular: "note",
        aliases: &["notes", "note", "0-46"],
        created_property: "hs_createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: BARE_DEFAULTS,
        id_base: 501,
    },
    ObjectType {
        type_id: "0-48",
        name: "calls",
        singular: "call",
        aliases: &["calls", "call", "0-48"],
        created_property: "hs_createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: BARE_DEFAULTS,
        id_base: 601,
    },
    ObjectType {
        type_id: "0-49",
        name: "emails",
        singular: "email",
        aliases: &["emails", "email", "0-49"],
        created_property: "hs_createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: BARE_DEFAULTS,
        id_base: 701,
    },
    ObjectType {
        type_id: "0-47",
        name: "meetings",
        singular: "meeting",
        aliases: &["meetings", "meeting", "0-47"],
        created_property: "hs_createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: BARE_DEFAULTS,
        id_base: 801,
    },
    ObjectType {
        type_id: "0-27",
        name: "tasks",
        singular: "task",
        aliases: &["tasks", "task", "0-27"],
        created_property: "hs_createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: BARE_DEFAULTS,
        id_base: 901,
    },
    ObjectType {
        type_id: "2-3508482",
        name: "p12345_cars",
        singular: "car",
        aliases: &["p12345_cars", "2-3508482"],
        created_property: "hs_createdate",
        modified_property: "hs_lastmodifieddate",
        default_properties: BARE_DEFAULTS,
        id_base: 1001,
    },
];

/// HubSpot's default (unlabeled) association type ids, as `(from, to, typeId)` by singular name.
const DEFAULT_ASSOCIATION_TYPES: &[(&str, &str, u32)] = &[
    ("contact", "company", 279),
    ("company", "contact", 280),
    ("contact", "deal", 4),
    ("deal", "contact", 3),
    ("contact", "ticket", 15),
    ("ticket", "contact", 16),
    ("deal", "company", 341),
    ("company", "deal", 342),
    ("ticket", "company", 339),
    ("company", "ticket", 340),
    ("deal", "ticket", 27),
    ("ticket", "deal", 28),
    ("note", "contact", 202),
    ("contact", "note", 201),
    ("note", "company", 190),
    ("company", "note", 189),
    ("note", "deal", 214),
    ("deal", "note", 213),
    ("note", "ticket", 228),
    ("ticket", "note", 227),
    ("call", "contact", 194),
    ("contact", "call", 193),
    ("call", "company", 182),
    ("company", "call", 181),
    ("call", "deal", 206),
    ("deal", "call", 205),
    ("call", "ticket", 220),
    ("ticket", "call", 219),
    ("email", "contact", 198),
    ("contact", "email", 197),
    ("email", "company", 186),
    ("company", "email", 185),
    ("email", "deal", 210),
    ("deal", "email", 209),
    ("email", "ticket", 224),
    ("ticket", "email", 223),
    ("meeting", "contact", 200),
    ("contact", "meeting", 199),
    ("meeting", "company", 188),
    ("company", "meeting", 187),
    ("meeting", "deal", 212),
    ("deal", "meeting", 211),
    ("meeting", "ticket", 226),
    ("ticket", "meeting", 225),
    ("task", "contact", 204),
    ("contact", "task", 203),
    ("task", "company", 192),
    ("company", "task", 191),
    ("task", "deal", 216),
    ("deal", "task", 215),
    ("task", "ticket", 230),
    ("ticket", "task", 229),
    ("car", "contact", 138),
    ("contact", "car", 137),
];

/// The object type a path segment names, or HubSpot's 400 when it names none.
fn object_type(name: &str) -> HsResult<&'static ObjectType> {
    OBJECT_TYPES
        .iter()
        .find(|t| t.aliases.iter().any(|a| a.eq_ignore_ascii_case(name)))
        .ok_or_else(|| HsError::validation(format!("Unable to infer object type from: {name}")))
}

/// The object type with a given singular name.
fn by_singular(singular: &str) -> Option<&'static ObjectType> {
    OBJECT_TYPES.iter().find(|t| t.singular == singular)
}

/// The default association type id from one type to another, if HubSpot defines one.
fn default_association_type(from: &ObjectType, to: &ObjectType) -> Option<u32> {
    DEFAULT_ASSOCIATION_TYPES.iter().find(|(f, t, _)| *f == from.singular && *t == to.singular).map(|(_, _, id)| *id)
}

// ---------------------------------------------------------------------------------------------
// Errors and auth
// ---------------------------------------------------------------------------------------------

/// An error answered in HubSpot's shape: `{status, message, correlationId, category}`.
#[derive(Debug)]
pub struct HsError {
    status: StatusCode,
    category: &'static str,
    message: String,
}

/// Result of a handler step.
type HsResult<T> = Result<T, HsError>;

impl HsError {
    fn new(status: StatusCode, category: &'static str, message: impl Into<String>) -> Self {
        Self { status, category, message: message.into() }
    }

    /// 400 `VALIDATION_ERROR`.
    fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message)
    }

    /// 404 `OBJECT_NOT_FOUND`.
    fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "OBJECT_NOT_FOUND", "resource not found")
    }

    /// 401 for a missing or unknown credential.
    fn invalid_authentication(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "INVALID_AUTHENTICATION", message)
    }

    /// 401 for an OAuth access token past its lifetime.
    fn expired_authentication() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "EXPIRED_AUTHENTICATION",
            "The OAuth token used to make this call expired 2 hour(s) ago.",
        )
    }
}

impl IntoResponse for HsError {
    /// The body, plus the `X-HubSpot-Correlation-Id` header HubSpot sends with the same id.
    fn into_response(self) -> Response {
        let correlation_id = uuid::Uuid::new_v4().to_string();
        let body = json!({
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id,
            "category": self.category,
        });
        (self.status, [("x-hubspot-correlation-id", correlation_id)], Json(body)).into_response()
    }
}

/// Proof that a request carried a credential HubSpot accepts (private app token or a live OAuth
/// access token); extracting it answers HubSpot's 401 otherwise.
struct Authorized;

impl FromRequestParts<Shared> for Authorized {
    type Rejection = HsError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Self, Self::Rejection> {
        match bearer(&parts.headers) {
            None => Err(HsError::invalid_authentication(
                "Authentication credentials not found. This API supports both API Key and OAuth 2.0 authentication and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
            )),
            Some(t) if t == creds::HUBSPOT_PRIVATE_APP || state.oauth_access_valid("hubspot", &t) => Ok(Self),
            Some(t) if t == creds::OAUTH_EXPIRED_ACCESS_TOKEN => Err(HsError::expired_authentication()),
            Some(_) => Err(HsError::invalid_authentication(
                "The access token provided is invalid or has been revoked.",
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Data
// ---------------------------------------------------------------------------------------------

/// One CRM record. HubSpot stores every property value as a string.
#[derive(Debug, Clone)]
struct CrmObject {
    id: u64,
    properties: BTreeMap<String, String>,
    created_at: String,
    updated_at: String,
    /// Set once archived (deleted); archived records only show with `archived=true`.
    archived_at: Option<String>,
}

/// An association between two records (stored once, read in both directions).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Link {
    a: (&'static str, u64),
    b: (&'static str, u64),
}

impl Link {
    /// The id of the record of type `to` linked to `(from_type, from_id)` by this link, if any.
    fn other_end(&self, from_type: &str, from_id: u64, to: &str) -> Option<u64> {
        if self.a == (from_type, from_id) && self.b.0 == to {
            Some(self.b.1)
        } else if self.b == (from_type, from_id) && self.a.0 == to {
            Some(self.a.1)
        } else {
            None
        }
    }
}

/// A custom object schema (`/crm-object-schemas/v3/schemas`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct ObjectSchema {
    id: String,
    object_type_id: String,
    fully_qualified_name: String,
    name: String,
    labels: SchemaLabels,
    primary_display_property: String,
    secondary_display_properties: Vec<String>,
    required_properties: Vec<String>,
    searchable_properties: Vec<String>,
    properties: Vec<SchemaProperty>,
    associations: Vec<SchemaAssociation>,
    created_at: String,
    updated_at: String,
    archived: bool,
}

/// Singular and plural labels of a custom object.
#[derive(Debug, Clone, Serialize)]
struct SchemaLabels {
    singular: String,
    plural: String,
}

/// One property definition of a custom object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SchemaProperty {
    name: String,
    label: String,
    #[serde(rename = "type")]
    kind: String,
    field_type: String,
    group_name: String,
}

/// An association definition of a custom object.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct SchemaAssociation {
    id: String,
    name: String,
    from_object_type_id: String,
    to_object_type_id: String,
}

/// Seeded data of the fake.
#[derive(Debug)]
pub struct Data {
    /// Records by object type id, ordered by id.
    objects: HashMap<&'static str, BTreeMap<u64, CrmObject>>,
    links: Vec<Link>,
    schemas: Vec<ObjectSchema>,
    next_id: u64,
    /// The fake clock (epoch ms) stamping writes; advances a minute per write.
    clock_ms: u64,
}

impl Default for Data {
    fn default() -> Self {
        Self::seed()
    }
}

#[rustfmt::skip]
const FIRST_NAMES: [&str; 25] = [
    "Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Dennis", "Barbara", "Ken", "Radia", "Tim",
    "Frances", "Guido", "Hedy", "John", "Joan", "Niklaus", "Sophie", "Vint", "Adele", "Bjarne", "Anita",
    "Edsger", "Mary", "Donald",
];
#[rustfmt::skip]
const LAST_NAMES: [&str; 25] = [
    "Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Ritchie", "Liskov", "Thompson",
    "Perlman", "Berners-Lee", "Allen", "van Rossum", "Lamarr", "McCarthy", "Clarke", "Wirth", "Wilson",
    "Cerf", "Goldberg", "Stroustrup", "Borg", "Dijkstra", "Shaw", "Knuth",
];
const COMPANIES: [(&str, &str, &str); 12] = [
    ("Acme Corp", "acme.com", "MANUFACTURING"),
    ("Globex", "globex.com", "COMPUTER_SOFTWARE"),
    ("Initech", "initech.com", "INFORMATION_TECHNOLOGY_AND_SERVICES"),
    ("Umbrella", "umbrella.com", "PHARMACEUTICALS"),
    ("Hooli", "hooli.com", "INTERNET"),
    ("Stark Industries", "stark.com", "DEFENSE_SPACE"),
    ("Wayne Enterprises", "wayne.com", "CONSTRUCTION"),
    ("Wonka Industries", "wonka.com", "FOOD_PRODUCTION"),
    ("Cyberdyne Systems", "cyberdyne.com", "COMPUTER_HARDWARE"),
    ("Soylent", "soylent.com", "FOOD_BEVERAGES"),
    ("Tyrell Corp", "tyrell.com", "BIOTECHNOLOGY"),
    ("Vandelay Industries", "vandelay.com", "IMPORT_AND_EXPORT"),
];
const LIFECYCLE_STAGES: [&str; 4] = ["lead", "marketingqualifiedlead", "opportunity", "customer"];
const DEAL_STAGES: [&str; 5] = ["appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon", "closedlost"];
const PRIORITIES: [&str; 3] = ["LOW", "MEDIUM", "HIGH"];

impl Data {
    /// The initial data after start or reset: 25 contacts (plus 2 archived), 12 companies,
    /// 15 deals, 12 of each other type, associations between them, and two custom object
    /// schemas (cars, and an archived one).
    pub fn seed() -> Self {
        let mut d = Self {
            objects: HashMap::new(),
            links: Vec::new(),
            schemas: vec![cars_schema(), widgets_schema()],
            next_id: FIRST_NEW_ID,
            clock_ms: SEED_EPOCH_MS + 1_000 * 3_600 * 1_000,
        };
        for (i, (name, domain, industry)) in COMPANIES.iter().enumerate() {
            d.seed_record(
                "companies",
                i,
                &[
                    ("name", name.to_string()),
                    ("domain", domain.to_string()),
                    ("industry", industry.to_string()),
                    ("city", ["Boston", "Austin", "Denver", "Seattle"][i % 4].to_string()),
                    ("numberofemployees", (50 * (i + 1)).to_string()),
                ],
            );
        }
        for i in 0..27 {
            let (first, last) = (FIRST_NAMES[i % 25], LAST_NAMES[(i * 7) % 25]);
            let domain = COMPANIES[i % 12].1;
            let email = format!("{}.{}@{domain}", first.to_lowercase(), last.to_lowercase().replace(' ', ""));
            let id = d.seed_record(
                "contacts",
                i,
                &[
                    ("email", email),
                    ("firstname", first.to_string()),
                    ("lastname", last.to_string()),
                    ("company", COMPANIES[i % 12].0.to_string()),
                    ("jobtitle", ["Engineer", "CTO", "Buyer", "Analyst", "VP Sales"][i % 5].to_string()),
                    ("lifecyclestage", LIFECYCLE_STAGES[i % 4].to_string()),
                    ("phone", format!("+1-555-01{:02}", i)),
                ],
            );
            if i >= 25 {
                d.archive("contacts", id);
            } else {
                d.seed_link("contacts", i, "companies", i % 12);
            }
        }
        for i in 0..15 {
            d.seed_record(
                "deals",
                i,
                &[
                    ("dealname", format!("{} - {} licenses", COMPANIES[i % 12].0, 10 * (i + 1))),
                    ("amount", (2_500 * (i + 1)).to_string()),
                    ("dealstage", DEAL_STAGES[i % 5].to_string()),
                    ("pipeline", "default".to_string()),
                    ("closedate", iso8601(SEED_EPOCH_MS + (i as u64 + 30) * 86_400_000)),
                ],
            );
            d.seed_link("deals", i, "companies", i % 12);
            d.seed_link("deals", i, "contacts", i);
        }
        for i in 0..12 {
            d.seed_record(
                "tickets",
                i,
                &[
                    ("subject", format!("Cannot export report #{}", i + 1)),
                    ("content", "The export button stays greyed out.".to_string()),
                    ("hs_pipeline", "0".to_string()),
                    ("hs_pipeline_stage", ((i % 4) + 1).to_string()),
                    ("hs_ticket_priority", PRIORITIES[i % 3].to_string()),
                ],
            );
            d.seed_link("tickets", i, "contacts", i);
            let at = iso8601(SEED_EPOCH_MS + i as u64 * 86_400_000);
            d.seed_record(
                "notes",
                i,
                &[
                    ("hs_timestamp", at.clone()),
                    ("hs_note_body", format!("Discussed pricing options with contact #{}", i + 1)),
                ],
            );
            d.seed_link("notes", i, "contacts", i);
            d.seed_record(
                "calls",
                i,
                &[
                    ("hs_timestamp", at.clone()),
                    ("hs_call_title", format!("Discovery call #{}", i + 1)),
                    ("hs_call_body", "Walked through the onboarding plan.".to_string()),
                    ("hs_call_direction", ["OUTBOUND", "INBOUND"][i % 2].to_string()),
                    ("hs_call_duration", (60_000 * (i + 1)).to_string()),
                    ("hs_call_status", "COMPLETED".to_string()),
                ],
            );
            d.seed_link("calls", i, "contacts", i);
            d.seed_record(
                "emails",
                i,
                &[
                    ("hs_timestamp", at.clone()),
                    ("hs_email_subject", format!("Follow-up #{}", i + 1)),
                    ("hs_email_text", "Thanks for your time today.".to_string()),
                    ("hs_email_direction", "EMAIL".to_string()),
                    ("hs_email_status", "SENT".to_string()),
                ],
            );
            d.seed_link("emails", i, "contacts", i);
            d.seed_record(
                "meetings",
                i,
                &[
                    ("hs_timestamp", at.clone()),
                    ("hs_meeting_title", format!("Quarterly review #{}", i + 1)),
                    ("hs_meeting_body", "Agenda: roadmap, renewal.".to_string()),
                    ("hs_meeting_start_time", at.clone()),
                    ("hs_meeting_end_time", iso8601(SEED_EPOCH_MS + i as u64 * 86_400_000 + 1_800_000)),
                    ("hs_meeting_outcome", ["SCHEDULED", "COMPLETED", "NO_SHOW"][i % 3].to_string()),
                ],
            );
            d.seed_link("meetings", i, "contacts", i);
            d.seed_record(
                "tasks",
                i,
                &[
                    ("hs_timestamp", at),
                    ("hs_task_subject", format!("Send proposal #{}", i + 1)),
                    ("hs_task_body", "Include the volume discount.".to_string()),
                    ("hs_task_status", ["NOT_STARTED", "IN_PROGRESS", "COMPLETED"][i % 3].to_string()),
                    ("hs_task_priority", PRIORITIES[i % 3].to_string()),
                    ("hs_task_type", "TODO".to_string()),
                ],
            );
            d.seed_link("tasks", i, "deals", i);
            d.seed_record(
                "p12345_cars",
                i,
                &[
                    ("make", ["Volvo", "Saab", "Fiat"][i % 3].to_string()),
                    ("model", format!("Model {}", i + 1)),
                    ("year", (2015 + i).to_string()),
                    ("vin", format!("VIN{:014}", i + 1)),
                ],
            );
            d.seed_link("p12345_cars", i, "contacts", i);
        }
        d
    }

    /// Adds the `index`-th seeded record of a type; returns its id.
    fn seed_record(&mut self, type_name: &str, index: usize, props: &[(&str, String)]) -> u64 {
        let Ok(ty) = object_type(type_name) else { return 0 };
        let id = ty.id_base + index as u64;
        let at = iso8601(SEED_EPOCH_MS + index as u64 * 3_600_000);
        let mut properties: BTreeMap<String, String> = props.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        properties.insert("hs_object_id".into(), id.to_string());
        properties.insert(ty.created_property.into(), at.clone());
        properties.insert(ty.modified_property.into(), at.clone());
        let record = CrmObject { id, properties, created_at: at.clone(), updated_at: at, archived_at: None };
        self.objects.entry(ty.type_id).or_default().insert(id, record);
        id
    }

    /// Links the `i`-th seeded record of one type to the `j`-th of another.
    fn seed_link(&mut self, a: &str, i: usize, b: &str, j: usize) {
        if let (Ok(ta), Ok(tb)) = (object_type(a), object_type(b)) {
            self.link(ta, ta.id_base + i as u64, tb, tb.id_base + j as u64);
        }
    }

    /// Archives a seeded record.
    fn archive(&mut self, type_name: &str, id: u64) {
        let Ok(ty) = object_type(type_name) else { return };
        let at = iso8601(SEED_EPOCH_MS + 48 * 3_600_000);
        if let Some(o) = self.objects.get_mut(ty.type_id).and_then(|m| m.get_mut(&id)) {
            o.archived_at = Some(at);
        }
    }

    /// Advances the fake clock and returns the new time.
    fn tick(&mut self) -> String {
        self.clock_ms += 60_000;
        iso8601(self.clock_ms)
    }

    /// The records of one type, by id.
    fn records(&self, ty: &ObjectType) -> impl Iterator<Item = &CrmObject> {
        self.objects.get(ty.type_id).into_iter().flat_map(|m| m.values())
    }

    /// Finds a record by id (or by the unique property `id_property`), archived or not.
    fn find(&self, ty: &ObjectType, id: &str, id_property: Option<&str>, archived: bool) -> Option<&CrmObject> {
        let mut all = self.records(ty).filter(|o| o.archived_at.is_some() == archived);
        match id_property {
            Some(p) if p != "hs_object_id" => all.find(|o| o.properties.get(p).map(String::as_str) == Some(id)),
            _ => all.find(|o| o.id.to_string() == id),
        }
    }

    /// Finds a live record mutably.
    fn find_mut(&mut self, ty: &ObjectType, id: &str, id_property: Option<&str>) -> Option<&mut CrmObject> {
        let found = self.find(ty, id, id_property, false)?.id;
        self.objects.get_mut(ty.type_id)?.get_mut(&found)
    }

    /// Whether a live record exists.
    fn exists(&self, ty: &ObjectType, id: u64) -> bool {
        self.objects.get(ty.type_id).and_then(|m| m.get(&id)).is_some_and(|o| o.archived_at.is_none())
    }

    /// Associates two records (no-op when they already are).
    fn link(&mut self, a: &ObjectType, a_id: u64, b: &ObjectType, b_id: u64) {
        let link = Link { a: (a.type_id, a_id), b: (b.type_id, b_id) };
        let reverse = Link { a: link.b, b: link.a };
        if !self.links.contains(&link) && !self.links.contains(&reverse) {
            self.links.push(link);
        }
    }

    /// Ids of the live records of type `to` associated with a record, ascending.
    fn linked(&self, from: &ObjectType, from_id: u64, to: &ObjectType) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .links
            .iter()
            .filter_map(|l| l.other_end(from.type_id, from_id, to.type_id))
            .filter(|id| self.exists(to, *id))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// A record as HubSpot returns it, with the properties, history and associations `view` asks for.
    fn render(&self, ty: &ObjectType, o: &CrmObject, view: &View) -> Value {
        let always = ["hs_object_id", ty.created_property, ty.modified_property];
        let mut props = Map::new();
        match &view.properties {
            Selection::All => {
                props.extend(o.properties.iter().map(|(k, v)| (k.clone(), json!(v))));
            }
            Selection::Defaults => {
                for name in always.iter().chain(ty.default_properties) {
                    props.insert(name.to_string(), json!(o.properties.get(*name)));
                }
            }
            Selection::Named(names) => {
                for name in always.iter().copied().chain(names.iter().map(String::as_str)) {
                    props.insert(name.to_string(), json!(o.properties.get(name)));
                }
            }
        }
        props.sort_keys();
        let mut out = json!({
            "id": o.id.to_string(),
            "properties": props,
            "createdAt": o.created_at,
            "updatedAt": o.updated_at,
            "archived": o.archived_at.is_some(),
        });
        if let Some(at) = &o.archived_at {
            out["archivedAt"] = json!(at);
        }
        if !view.history.is_empty() {
            let history: Map<String, Value> = view
                .history
                .iter()
                .filter_map(|name| {
                    let value = o.properties.get(name)?;
                    let entry = json!([{"value": value, "timestamp": o.updated_at, "sourceType": "CRM_UI"}]);
                    Some((name.clone(), entry))
                })
                .collect();
            out["propertiesWithHistory"] = Value::Object(history);
        }
        let mut associations = Map::new();
        for to in &view.associations {
            let results: Vec<Value> = self
                .linked(ty, o.id, to)
                .into_iter()
                .map(|id| json!({"id": id.to_string(), "type": format!("{}_to_{}", ty.singular, to.singular)}))
                .collect();
            if !results.is_empty() {
                associations.insert(to.name.to_string(), json!({"results": results}));
            }
        }
        if !associations.is_empty() {
            out["associations"] = Value::Object(associations);
        }
        out
    }
}

/// The cars custom object schema.
fn cars_schema() -> ObjectSchema {
    let prop = |name: &str, label: &str, kind: &str, field_type: &str| SchemaProperty {
        name: name.into(),
        label: label.into(),
        kind: kind.into(),
        field_type: field_type.into(),
        group_name: "car_information".into(),
    };
    ObjectSchema {
        id: "3508482".into(),
        object_type_id: "2-3508482".into(),
        fully_qualified_name: format!("p{PORTAL_ID}_cars"),
        name: "cars".into(),
        labels: SchemaLabels { singular: "Car".into(), plural: "Cars".into() },
        primary_display_property: "model".into(),
        secondary_display_properties: vec!["make".into()],
        required_properties: vec!["make".into(), "model".into()],
        searchable_properties: vec!["make".into(), "model".into(), "vin".into()],
        properties: vec![
            prop("make", "Make", "string", "text"),
            prop("model", "Model", "string", "text"),
            prop("year", "Year", "number", "number"),
            prop("vin", "VIN", "string", "text"),
        ],
        associations: vec![SchemaAssociation {
            id: "137".into(),
            name: "car_to_contact".into(),
            from_object_type_id: "2-3508482".into(),
            to_object_type_id: "0-1".into(),
        }],
        created_at: iso8601(SEED_EPOCH_MS - 86_400_000),
        updated_at: iso8601(SEED_EPOCH_MS - 86_400_000),
        archived: false,
    }
}

/// An archived custom object schema (shows only with `archived=true`).
fn widgets_schema() -> ObjectSchema {
    ObjectSchema {
        id: "3508490".into(),
        object_type_id: "2-3508490".into(),
        fully_qualified_name: format!("p{PORTAL_ID}_widgets"),
        name: "widgets".into(),
        labels: SchemaLabels { singular: "Widget".into(), plural: "Widgets".into() },
        primary_display_property: "widget_name".into(),
        secondary_display_properties: Vec::new(),
        required_properties: vec!["widget_name".into()],
        searchable_properties: vec!["widget_name".into()],
        properties: vec![SchemaProperty {
            name: "widget_name".into(),
            label: "Widget name".into(),
            kind: "string".into(),
            field_type: "text".into(),
            group_name: "widget_information".into(),
        }],
        associations: Vec::new(),
        created_at: iso8601(SEED_EPOCH_MS - 2 * 86_400_000),
        updated_at: iso8601(SEED_EPOCH_MS - 86_400_000),
        archived: true,
    }
}

// ---------------------------------------------------------------------------------------------
// Request parsing
// ---------------------------------------------------------------------------------------------

/// Which properties a rendered record carries.
#[derive(Debug, Clone)]
enum Selection {
    /// The type's default properties (no `properties` asked).
    Defaults,
    /// The named ones (missing ones as `null`), plus id and timestamps.
    Named(Vec<String>),
    /// Every property set on the record (answers to writes).
    All,
}

/// What to put in a rendered record.
#[derive(Debug, Clone)]
struct View {
    properties: Selection,
    history: Vec<String>,
    associations: Vec<&'static ObjectType>,
}

impl View {
    /// Every property, nothing else (answers to create and update).
    fn all() -> Self {
        Self { properties: Selection::All, history: Vec::new(), associations: Vec::new() }
    }
}

/// Query parameters of the v3 object read endpoints. Lists may be comma separated or repeated.
#[derive(Debug, Default)]
struct ReadQuery {
    limit: Option<usize>,
    after: Option<String>,
    properties: Vec<String>,
    history: Vec<String>,
    associations: Vec<String>,
    archived: bool,
    id_property: Option<String>,
}

impl ReadQuery {
    fn parse(raw: Option<&str>) -> HsResult<Self> {
        let mut q = Self::default();
        let split = |v: &str| -> Vec<String> {
            v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
        };
        for (k, v) in url::form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            match k.as_ref() {
                "limit" => {
                    let n = v.parse().map_err(|_| HsError::validation(format!("Invalid limit: {v}")))?;
                    q.limit = Some(n);
                }
                "after" => q.after = Some(v.into_owned()),
                "properties" => q.properties.extend(split(&v)),
                "propertiesWithHistory" => q.history.extend(split(&v)),
                "associations" => q.associations.extend(split(&v)),
                "archived" => {
                    q.archived = v.parse().map_err(|_| HsError::validation(format!("Invalid archived: {v}")))?;
                }
                "idProperty" => q.id_property = Some(v.into_owned()),
                _ => {}
            }
        }
        Ok(q)
    }

    /// The view this query asks for; unknown association types answer 400 as in HubSpot.
    fn view(&self) -> HsResult<View> {
        let properties =
            if self.properties.is_empty() { Selection::Defaults } else { Selection::Named(self.properties.clone()) };
        let associations = self.associations.iter().map(|a| object_type(a)).collect::<HsResult<_>>()?;
        Ok(View { properties, history: self.history.clone(), associations })
    }
}

/// Parses a JSON body, answering HubSpot's 400 for malformed input.
fn parse_body<T: DeserializeOwned>(body: &[u8]) -> HsResult<T> {
    serde_json::from_slice(body).map_err(|e| HsError::validation(format!("Invalid input JSON: {e}")))
}

/// A property value as HubSpot stores it (always a string); `null` clears the property.
fn property_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// `http://host/hubspot`: the base of `paging.next.link` (HubSpot's is `https://api.hubapi.com`).
fn origin(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("api.hubapi.com");
    format!("http://{host}/hubspot")
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

/// Body of `POST /crm/v3/objects/{objectType}/search`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct SearchRequest {
    filter_groups: Vec<FilterGroup>,
    sorts: Vec<Sort>,
    query: Option<String>,
    properties: Vec<String>,
    limit: Option<usize>,
    /// An offset, sent as a string (numbers are accepted too).
    after: Option<Value>,
}

/// Filters ANDed together; groups are ORed.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct FilterGroup {
    filters: Vec<Filter>,
}

/// One property filter.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Filter {
    property_name: String,
    operator: Operator,
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    high_value: Option<Value>,
    #[serde(default)]
    values: Vec<Value>,
}

/// HubSpot's filter operators.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Operator {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Between,
    In,
    NotIn,
    HasProperty,
    NotHasProperty,
    ContainsToken,
    NotContainsToken,
}

/// A sort: `{propertyName, direction}` or a bare property name.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Sort {
    Spec {
        #[serde(rename = "propertyName")]
        property_name: String,
        #[serde(default)]
        direction: Direction,
    },
    Name(String),
}

/// Sort direction.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
enum Direction {
    #[default]
    Ascending,
    Descending,
}

/// Compares property values: numerically when both are numbers, else case-insensitively.
fn compare_values(a: &str, b: &str) -> Ordering {
    match (a.parse::<f64>(), b.parse::<f64>()) {
        (Ok(x), Ok(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
        _ => a.to_lowercase().cmp(&b.to_lowercase()),
    }
}

impl Filter {
    fn matches(&self, props: &BTreeMap<String, String>) -> bool {
        let actual = props.get(&self.property_name).filter(|v| !v.is_empty());
        let text = |v: &Option<Value>| v.as_ref().and_then(property_text).unwrap_or_default();
        let value = text(&self.value);
        let Some(actual) = actual else {
            return matches!(self.operator, Operator::NotHasProperty | Operator::NotContainsToken);
        };
        let cmp = compare_values(actual, &value);
        let contains = || actual.to_lowercase().contains(&value.replace('*', "").to_lowercase());
        let in_values =
            || self.values.iter().filter_map(property_text).any(|v| compare_values(actual, &v) == Ordering::Equal);
        match self.operator {
            Operator::Eq => cmp == Ordering::Equal,
            Operator::Neq => cmp != Ordering::Equal,
            Operator::Lt => cmp == Ordering::Less,
            Operator::Lte => cmp != Ordering::Greater,
            Operator::Gt => cmp == Ordering::Greater,
            Operator::Gte => cmp != Ordering::Less,
            Operator::Between => {
                cmp != Ordering::Less && compare_values(actual, &text(&self.high_value)) != Ordering::Greater
            }
            Operator::In => in_values(),
            Operator::NotIn => !in_values(),
            Operator::HasProperty => true,
            Operator::NotHasProperty => false,
            Operator::ContainsToken => contains(),
            Operator::NotContainsToken => !contains(),
        }
    }
}

impl SearchRequest {
    /// Checks HubSpot's documented limits.
    fn validate(&self) -> HsResult<()> {
        if self.filter_groups.len() > 5 {
            return Err(HsError::validation("Too many filter groups: at most 5 are allowed"));
        }
        if self.filter_groups.iter().any(|g| g.filters.len() > 6) {
            return Err(HsError::validation("Too many filters in a group: at most 6 are allowed"));
        }
        if self.filter_groups.iter().map(|g| g.filters.len()).sum::<usize>() > 18 {
            return Err(HsError::validation("Too many filters: at most 18 are allowed"));
        }
        if self.limit.is_some_and(|l| l > 200) {
            return Err(HsError::validation("limit must be at most 200"));
        }
        Ok(())
    }

    fn matches(&self, o: &CrmObject) -> bool {
        let groups = self.filter_groups.is_empty()
            || self.filter_groups.iter().any(|g| g.filters.iter().all(|f| f.matches(&o.properties)));
        let text = match self.query.as_deref().map(str::trim) {
            None | Some("") => true,
            Some(q) => {
                let q = q.to_lowercase();
                o.properties.values().any(|v| v.to_lowercase().contains(&q))
            }
        };
        groups && text
    }

    /// Orders two records by the requested sorts, then by id.
    fn order(&self, a: &CrmObject, b: &CrmObject) -> Ordering {
        for sort in &self.sorts {
            let (name, direction) = match sort {
                Sort::Spec { property_name, direction } => (property_name.as_str(), *direction),
                Sort::Name(n) => match n.strip_prefix('-') {
                    Some(rest) => (rest, Direction::Descending),
                    None => (n.as_str(), Direction::Ascending),
                },
            };
            let ord = match (a.properties.get(name), b.properties.get(name)) {
                (Some(x), Some(y)) => compare_values(x, y),
                (Some(_), None) => Ordering::Less,
                (None, Some(_)) => Ordering::Greater,
                (None, None) => Ordering::Equal,
            };
            let ord = if direction == Direction::Descending { ord.reverse() } else { ord };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        a.id.cmp(&b.id)
    }

    /// The offset `after` encodes.
    fn offset(&self) -> HsResult<usize> {
        match &self.after {
            None | Some(Value::Null) => Ok(0),
            Some(v) => property_text(v)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| HsError::validation(format!("Invalid after: {v}"))),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Writes
// ---------------------------------------------------------------------------------------------

/// Body of a create: `{properties, associations}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct CreateBody {
    properties: Option<Map<String, Value>>,
    associations: Vec<AssociationInput>,
}

/// Body of an update: `{properties}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct UpdateBody {
    properties: Option<Map<String, Value>>,
}

/// One association given at creation.
#[derive(Debug, Deserialize)]
struct AssociationInput {
    to: AssociationTarget,
    #[serde(default)]
    types: Vec<AssociationSpec>,
}

/// The record an association points to.
#[derive(Debug, Deserialize)]
struct AssociationTarget {
    id: Value,
}

/// An association type (`associationCategory` is implied by the id here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssociationSpec {
    association_type_id: u32,
}

impl Data {
    /// Resolves the associations of a create into `(type, id)` targets, checking type ids.
    fn resolve_associations(
        &self,
        from: &ObjectType,
        inputs: &[AssociationInput],
    ) -> HsResult<Vec<(&'static ObjectType, u64)>> {
        let mut out = Vec::new();
        for input in inputs {
            let to_id = property_text(&input.to.id)
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or_else(|| HsError::validation("association target id must be a record id"))?;
            for spec in &input.types {
                let to = DEFAULT_ASSOCIATION_TYPES
                    .iter()
                    .find(|(f, _, id)| *f == from.singular && *id == spec.association_type_id)
                    .and_then(|(_, t, _)| by_singular(t))
                    .ok_or_else(|| {
                        HsError::validation(format!(
                            "association type id {} is not valid for {}",
                            spec.association_type_id, from.name
                        ))
                    })?;
                if !self.exists(to, to_id) {
                    return Err(HsError::validation(format!("{} {to_id} does not exist", to.singular)));
                }
                out.push((to, to_id));
            }
        }
        Ok(out)
    }

    /// The live contact with this email, if any (HubSpot keeps contact emails unique).
    fn contact_with_email(&self, email: &str, except: Option<u64>) -> Option<u64> {
        let contacts = object_type("contacts").ok()?;
        self.records(contacts)
            .filter(|o| o.archived_at.is_none() && Some(o.id) != except)
            .find(|o| o.properties.get("email").is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .map(|o| o.id)
    }
}

/// Answers 409 when a contact write would duplicate an email.
fn check_unique_email(data: &Data, ty: &ObjectType, props: &Map<String, Value>, except: Option<u64>) -> HsResult<()> {
    if ty.singular != "contact" {
        return Ok(());
    }
    match props.get("email").and_then(property_text).and_then(|e| data.contact_with_email(&e, except)) {
        Some(existing) => Err(HsError::new(
            StatusCode::CONFLICT,
            "CONFLICT",
            format!("Contact already exists. Existing ID: {existing}"),
        )),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

/// Routes under `/hubspot`.
pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/oauth/v1/token", post(token))
        .route("/oauth/authorize", get(authorize).post(authorize_decision))
        .route("/crm/v3/objects/{object_type}", get(list_objects).post(create_object))
        .route("/crm/v3/objects/{object_type}/search", post(search_objects))
        .route("/crm/v3/objects/{object_type}/{object_id}", get(get_object).patch(update_object).delete(archive_object))
        .route("/crm-object-schemas/v3/schemas", get(list_schemas))
        .route("/crm-object-schemas/v3/schemas/{object_type}", get(get_schema))
        .route("/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}", get(list_associations))
        .route(
            "/crm/v4/objects/{from_type}/{from_id}/associations/default/{to_type}/{to_id}",
            put(create_default_association),
        )
        .route(
            "/crm/v4/objects/{from_type}/{from_id}/associations/{to_type}/{to_id}",
            axum::routing::delete(delete_associations),
        )
}

/// `POST /oauth/v1/token`: the refresh-token grant and the authorization-code grant (form
/// body, client credentials in the body).
async fn token(State(state): State<Shared>, headers: HeaderMap, RawQuery(query): RawQuery, body: Bytes) -> Response {
    let fields: HashMap<String, String> = crate::form_pairs(&body).into_iter().collect();
    if fields.get("grant_type").map(String::as_str) == Some("authorization_code") {
        return code_grant(&state, &fields);
    }
    token_endpoint(&state, "hubspot", &headers, query.as_deref().unwrap_or(""), &body)
}

/// `GET /crm/v3/objects/{objectType}`: one page of live (or, with `archived=true`, archived) records.
async fn list_objects(
    _: Authorized,
    State(state): State<Shared>,
    Path(type_name): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> HsResult<Json<Value>> {
    let ty = object_type(&type_name)?;
    let q = ReadQuery::parse(raw.as_deref())?;
    let view = q.view()?;
    let limit = q.limit.unwrap_or(10).clamp(1, 100);
    let after: u64 = match &q.after {
        None => 0,
        Some(a) => a.parse().map_err(|_| HsError::validation(format!("Invalid after: {a}")))?,
    };
    let data = lock(&state.hubspot);
    let mut page: Vec<&CrmObject> =
        data.records(ty).filter(|o| o.archived_at.is_some() == q.archived && o.id >= after).take(limit + 1).collect();
    let next = (page.len() > limit).then(|| page.pop().map(|o| o.id)).flatten();
    let results: Vec<Value> = page.iter().map(|o| data.render(ty, o, &view)).collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        let link = format!("{}/crm/v3/objects/{type_name}?after={next}", origin(&headers));
        body["paging"] = json!({"next": {"after": next.to_string(), "link": link}});
    }
    Ok(Json(body))
}

/// `GET /crm/v3/objects/{objectType}/{objectId}`.
async fn get_object(
    _: Authorized,
    State(state): State<Shared>,
    Path((type_name, object_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> HsResult<Json<Value>> {
    let ty = object_type(&type_name)?;
    let q = ReadQuery::parse(raw.as_deref())?;
    let view = q.view()?;
    let data = lock(&state.hubspot);
    let o = data.find(ty, &object_id, q.id_property.as_deref(), q.archived).ok_or_else(HsError::not_found)?;
    Ok(Json(data.render(ty, o, &view)))
}

/// `POST /crm/v3/objects/{objectType}/search`: filtered, sorted, offset-paged records.
async fn search_objects(
    _: Authorized,
    State(state): State<Shared>,
    Path(type_name): Path<String>,
    body: Bytes,
) -> HsResult<Json<Value>> {
    let ty = object_type(&type_name)?;
    let req: SearchRequest = parse_body(&body)?;
    req.validate()?;
    let limit = req.limit.unwrap_or(10).max(1);
    let offset = req.offset()?;
    let view = View {
        properties: if req.properties.is_empty() {
            Selection::Defaults
        } else {
            Selection::Named(req.properties.clone())
        },
        history: Vec::new(),
        associations: Vec::new(),
    };
    let data = lock(&state.hubspot);
    let mut hits: Vec<&CrmObject> = data.records(ty).filter(|o| o.archived_at.is_none() && req.matches(o)).collect();
    hits.sort_by(|a, b| req.order(a, b));
    let total = hits.len();
    let results: Vec<Value> = hits.iter().skip(offset).take(limit).map(|o| data.render(ty, o, &view)).collect();
    let mut out = json!({ "total": total, "results": results });
    if offset + limit < total {
        out["paging"] = json!({"next": {"after": (offset + limit).to_string()}});
    }
    Ok(Json(out))
}

/// `POST /crm/v3/objects/{objectType}`: creates a record (201), with optional associations.
async fn create_object(
    _: Authorized,
    State(state): State<Shared>,
    Path(type_name): Path<String>,
    body: Bytes,
) -> HsResult<(StatusCode, Json<Value>)> {
    let ty = object_type(&type_name)?;
    let req: CreateBody = parse_body(&body)?;
    let props = req.properties.ok_or_else(|| HsError::validation("Missing required field: properties"))?;
    let mut data = lock(&state.hubspot);
    check_unique_email(&data, ty, &props, None)?;
    let targets = data.resolve_associations(ty, &req.associations)?;
    let id = data.next_id;
    data.next_id += 1;
    let now = data.tick();
    let mut properties: BTreeMap<String, String> =
        props.iter().filter_map(|(k, v)| Some((k.clone(), property_text(v)?))).collect();
    properties.insert("hs_object_id".into(), id.to_string());
    properties.insert(ty.created_property.into(), now.clone());
    properties.insert(ty.modified_property.into(), now.clone());
    let record = CrmObject { id, properties, created_at: now.clone(), updated_at: now, archived_at: None };
    data.objects.entry(ty.type_id).or_default().insert(id, record.clone());
    for (to, to_id) in targets {
        data.link(ty, id, to, to_id);
    }
    Ok((StatusCode::CREATED, Json(data.render(ty, &record, &View::all()))))
}

/// `PATCH /crm/v3/objects/{objectType}/{objectId}`: sets the given properties (`""` clears one).
async fn update_object(
    _: Authorized,
    State(state): State<Shared>,
    Path((type_name, object_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> HsResult<Json<Value>> {
    let ty = object_type(&type_name)?;
    let q = ReadQuery::parse(raw.as_deref())?;
    let req: UpdateBody = parse_body(&body)?;
    let props = req.properties.ok_or_else(|| HsError::validation("Missing required field: properties"))?;
    let mut data = lock(&state.hubspot);
    let id = data.find(ty, &object_id, q.id_property.as_deref(), false).ok_or_else(HsError::not_found)?.id;
    check_unique_email(&data, ty, &props, Some(id))?;
    let now = data.tick();
    let record = data.find_mut(ty, &id.to_string(), None).ok_or_else(HsError::not_found)?;
    for (k, v) in &props {
        match property_text(v).filter(|s| !s.is_empty()) {
            Some(s) => record.properties.insert(k.clone(), s),
            None => record.properties.remove(k),
        };
    }
    record.properties.insert(ty.modified_property.into(), now.clone());
    record.updated_at = now;
    let record = record.clone();
    Ok(Json(data.render(ty, &record, &View::all())))
}

/// `DELETE /crm/v3/objects/{objectType}/{objectId}`: archives a record (204).
async fn archive_object(
    _: Authorized,
    State(state): State<Shared>,
    Path((type_name, object_id)): Path<(String, String)>,
) -> HsResult<StatusCode> {
    let ty = object_type(&type_name)?;
    let mut data = lock(&state.hubspot);
    let now = data.tick();
    let record = data.find_mut(ty, &object_id, None).ok_or_else(HsError::not_found)?;
    record.archived_at = Some(now);
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /crm-object-schemas/v3/schemas`: every custom object schema, unpaged.
async fn list_schemas(_: Authorized, State(state): State<Shared>, RawQuery(raw): RawQuery) -> HsResult<Json<Value>> {
    let q = ReadQuery::parse(raw.as_deref())?;
    let data = lock(&state.hubspot);
    let results: Vec<&ObjectSchema> = data.schemas.iter().filter(|s| s.archived == q.archived).collect();
    Ok(Json(json!({ "results": results })))
}

/// `GET /crm-object-schemas/v3/schemas/{objectType}`: by fully qualified name, type id or name.
async fn get_schema(
    _: Authorized,
    State(state): State<Shared>,
    Path(name): Path<String>,
) -> HsResult<Json<ObjectSchema>> {
    let data = lock(&state.hubspot);
    data.schemas
        .iter()
        .find(|s| [&s.fully_qualified_name, &s.object_type_id, &s.name].iter().any(|n| n.eq_ignore_ascii_case(&name)))
        .cloned()
        .map(Json)
        .ok_or_else(HsError::not_found)
}

/// Parses a record id from a path.
fn record_id(s: &str) -> HsResult<u64> {
    s.parse().map_err(|_| HsError::validation(format!("Invalid object id: {s}")))
}

/// `GET /crm/v4/objects/{fromType}/{fromId}/associations/{toType}`: the linked records with
/// their association types, paged by `after` (the next record id) with `limit` up to 500.
async fn list_associations(
    _: Authorized,
    State(state): State<Shared>,
    Path((from_name, from_id, to_name)): Path<(String, String, String)>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> HsResult<Json<Value>> {
    let (from, to) = (object_type(&from_name)?, object_type(&to_name)?);
    let from_id = record_id(&from_id)?;
    let q = ReadQuery::parse(raw.as_deref())?;
    let limit = q.limit.unwrap_or(500).clamp(1, 500);
    let after: u64 = match &q.after {
        None => 0,
        Some(a) => a.parse().map_err(|_| HsError::validation(format!("Invalid after: {a}")))?,
    };
    let data = lock(&state.hubspot);
    let type_id = default_association_type(from, to);
    let mut ids: Vec<u64> =
        data.linked(from, from_id, to).into_iter().filter(|id| *id >= after).take(limit + 1).collect();
    let next = (ids.len() > limit).then(|| ids.pop()).flatten();
    let results: Vec<Value> = ids
        .into_iter()
        .map(|id| {
            json!({
                "toObjectId": id,
                "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": null}],
            })
        })
        .collect();
    let mut body = json!({ "results": results });
    if let Some(next) = next {
        let link =
            format!("{}/crm/v4/objects/{from_name}/{from_id}/associations/{to_name}?after={next}", origin(&headers));
        body["paging"] = json!({"next": {"after": next.to_string(), "link": link}});
    }
    Ok(Json(body))
}

/// `PUT /crm/v4/objects/{fromType}/{fromId}/associations/default/{toType}/{toId}`: links two
/// records with the default (unlabeled) association, answering both directions.
async fn create_default_association(
    _: Authorized,
    State(state): State<Shared>,
    Path((from_name, from_id, to_name, to_id)): Path<(String, String, String, String)>,
) -> HsResult<Json<Value>> {
    let (from, to) = (object_type(&from_name)?, object_type(&to_name)?);
    let (from_id, to_id) = (record_id(&from_id)?, record_id(&to_id)?);
    let (Some(forward), Some(backward)) = (default_association_type(from, to), default_association_type(to, from))
    else {
        return Err(HsError::validation(format!("No default association type from {} to {}", from.name, to.name)));
    };
    let mut data = lock(&state.hubspot);
    if !data.exists(from, from_id) || !data.exists(to, to_id) {
        return Err(HsError::not_found());
    }
    data.link(from, from_id, to, to_id);
    let now = data.tick();
    let spec = |type_id: u32| json!({"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id});
    Ok(Json(json!({
        "status": "COMPLETE",
        "results": [
            {"from": {"id": from_id.to_string()}, "to": {"id": to_id.to_string()}, "associationSpec": spec(forward)},
            {"from": {"id": to_id.to_string()}, "to": {"id": from_id.to_string()}, "associationSpec": spec(backward)},
        ],
        "startedAt": now,
        "completedAt": now,
    })))
}

/// `DELETE /crm/v4/objects/{fromType}/{fromId}/associations/{toType}/{toId}`: removes every
/// association between two records (204, also when there was none).
async fn delete_associations(
    _: Authorized,
    State(state): State<Shared>,
    Path((from_name, from_id, to_name, to_id)): Path<(String, String, String, String)>,
) -> HsResult<StatusCode> {
    let (from, to) = (object_type(&from_name)?, object_type(&to_name)?);
    let (from_id, to_id) = (record_id(&from_id)?, record_id(&to_id)?);
    let mut data = lock(&state.hubspot);
    data.links.retain(|l| l.other_end(from.type_id, from_id, to.type_id) != Some(to_id));
    Ok(StatusCode::NO_CONTENT)
}

// ---------------------------------------------------------------------------------------------
// Time
// ---------------------------------------------------------------------------------------------

/// Formats epoch milliseconds the way HubSpot does (`2024-01-15T09:00:00.000Z`).
fn iso8601(ms: u64) -> String {
    let secs = ms / 1_000;
    let (y, m, d) = civil_from_days(secs / 86_400);
    let rem = secs % 86_400;
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z", rem / 3_600, rem % 3_600 / 60, rem % 60, ms % 1_000)
}

/// Days since 1970-01-01 to `(year, month, day)` (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

// ---------------------------------------------------------------- OAuth consent (authorization code)

/// An authorization code the consent screen handed out, waiting for the token endpoint.
#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
}

/// Codes handed out and not yet exchanged, by code (process-wide: codes are random).
static CODES: std::sync::LazyLock<std::sync::Mutex<HashMap<String, CodeGrant>>> =
    std::sync::LazyLock::new(|| std::sync::Mutex::new(HashMap::new()));

/// The query of `GET /oauth/authorize` (and the fields of the consent form's POST).
#[derive(Debug, Clone, Default, Deserialize)]
struct AuthorizeParams {
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    /// Test switch: `approve` or `deny` answers at once, as a user clicking would.
    #[serde(default)]
    auto: Option<String>,
    /// The consent form's button.
    #[serde(default)]
    decision: Option<String>,
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn consent_error(message: &str) -> Response {
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>HubSpot</title></head><body><h1>Authorization error</h1><p>{}</p></body></html>",
        html_escape(message)
    );
    (StatusCode::BAD_REQUEST, [("content-type", "text/html; charset=utf-8")], page).into_response()
}

/// What HubSpot checks before it shows a consent screen: a known client, a code response,
/// an absolute redirect URI and (as this fake requires) a PKCE S256 challenge.
fn check_authorize(p: &AuthorizeParams) -> Result<(), &'static str> {
    if p.client_id != creds::OAUTH_CLIENT_ID {
        return Err("The app's client id is not recognized.");
    }
    if p.response_type != "code" {
        return Err("response_type must be code.");
    }
    match url::Url::parse(&p.redirect_uri) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => {}
        _ => return Err("redirect_uri must be an absolute http(s) URL."),
    }
    if p.code_challenge.len() < 43 || p.code_challenge_method != "S256" {
        return Err("A PKCE code_challenge with code_challenge_method=S256 is required.");
    }
    if p.state.is_empty() {
        return Err("state is required.");
    }
    Ok(())
}

/// The browser's way back to the app: the redirect URI with `pairs` added.
fn back_to_app(redirect_uri: &str, pairs: &[(&str, &str)]) -> Response {
    let Ok(mut u) = url::Url::parse(redirect_uri) else { return consent_error("redirect_uri is not a URL.") };
    {
        let mut q = u.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
    }
    (StatusCode::FOUND, [("location", u.to_string()), ("cache-control", "no-store".to_string())]).into_response()
}

/// The user's answer: a code for the app (approve) or `error=access_denied` (deny).
fn decide(p: &AuthorizeParams, approve: bool) -> Response {
    if !approve {
        return back_to_app(&p.redirect_uri, &[("error", "access_denied"), ("state", &p.state)]);
    }
    let code = format!("hs-code-{}", uuid::Uuid::new_v4().simple());
    let grant = CodeGrant {
        client_id: p.client_id.clone(),
        redirect_uri: p.redirect_uri.clone(),
        code_challenge: p.code_challenge.clone(),
    };
    lock(&CODES).insert(code.clone(), grant);
    back_to_app(&p.redirect_uri, &[("code", &code), ("state", &p.state)])
}

/// `GET /oauth/authorize` (app.hubspot.com): the consent screen, an HTML page whose Allow and
/// Deny buttons post back here. `?auto=approve|deny` (or the header `x-fake-consent`) answers
/// at once for tests, as the user's click would.
async fn authorize(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let p: AuthorizeParams =
        match serde_json::to_value(url_pairs(query.as_deref().unwrap_or(""))).and_then(serde_json::from_value) {
            Ok(p) => p,
            Err(_) => return consent_error("The request is malformed."),
        };
    if let Err(m) = check_authorize(&p) {
        return consent_error(m);
    }
    let auto =
        p.auto.clone().or_else(|| headers.get("x-fake-consent").and_then(|v| v.to_str().ok()).map(str::to_string));
    match auto.as_deref() {
        Some("approve") => return decide(&p, true),
        Some("deny") => return decide(&p, false),
        _ => {}
    }
    let hidden: String = [
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("scope", &p.scope),
        ("state", &p.state),
        ("response_type", &p.response_type),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
    ]
    .iter()
    .map(|(k, v)| format!("<input type=\"hidden\" name=\"{k}\" value=\"{}\">", html_escape(v)))
    .collect();
    let scopes: String =
        p.scope.split_whitespace().map(|s| format!("<li>{}</li>", html_escape(s))).collect::<Vec<_>>().join("");
    let page = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Connect to HubSpot</title></head><body>\
         <h1>An app wants to connect to your HubSpot account</h1><p>It asks for:</p><ul>{scopes}</ul>\
         <form method=\"post\" action=\"authorize\">{hidden}\
         <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button> \
         <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form></body></html>"
    );
    (StatusCode::OK, [("content-type", "text/html; charset=utf-8")], page).into_response()
}

/// `POST /oauth/authorize`: the consent form's answer.
async fn authorize_decision(body: Bytes) -> Response {
    let p: AuthorizeParams = match serde_json::to_value(crate::form_pairs(&body).into_iter().collect::<HashMap<_, _>>())
        .and_then(serde_json::from_value)
    {
        Ok(p) => p,
        Err(_) => return consent_error("The form is malformed."),
    };
    if let Err(m) = check_authorize(&p) {
        return consent_error(m);
    }
    decide(&p, p.decision.as_deref() == Some("allow"))
}

fn url_pairs(q: &str) -> HashMap<String, String> {
    url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// The S256 PKCE challenge of a verifier.
fn s256(verifier: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    (status, Json(json!({"status": "BAD_AUTH_CODE", "error": error, "error_description": description}))).into_response()
}

/// The authorization-code grant of `POST /oauth/v1/token`: the client, the code (single use:
/// it is gone after the first try, right or wrong), the same redirect URI as at consent and the
/// PKCE verifier matching the challenge. The tokens join the API's OAuth state, so the refresh
/// grant then rotates them as HubSpot does.
fn code_grant(state: &Shared, fields: &HashMap<String, String>) -> Response {
    let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or_default();
    if get("client_id") != creds::OAUTH_CLIENT_ID || get("client_secret") != creds::OAUTH_CLIENT_SECRET {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    }
    let Some(grant) = lock(&CODES).remove(get("code")) else {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code is unknown, expired or already used");
    };
    if grant.client_id != get("client_id") {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", "the code was issued to another client");
    }
    if grant.redirect_uri != get("redirect_uri") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "redirect_uri does not match the authorization request",
        );
    }
    let verifier = get("code_verifier");
    if verifier.len() < 43 || s256(verifier) != grant.code_challenge {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            "code_verifier does not match the code_challenge",
        );
    }
    let (access, refresh, expires_in) = state.with_oauth("hubspot", |o| {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let access = format!("at-hubspot-code-{}", &id[..12]);
        let refresh = format!("rt-hubspot-code-{}", &id[12..24]);
        o.access_tokens.insert(access.clone());
        o.refresh_token = refresh.clone();
        (access, refresh, o.expires_in)
    });
    Json(json!({"token_type": "bearer", "refresh_token": refresh, "access_token": access, "expires_in": expires_in}))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_timestamps() {
        assert_eq!(iso8601(SEED_EPOCH_MS), "2024-01-15T09:00:00.000Z");
        assert_eq!(iso8601(951_782_400_123), "2000-02-29T00:00:00.123Z");
    }

    #[test]
    fn seeds_two_pages_of_contacts() {
        let d = Data::seed();
        let (Ok(contacts), Ok(companies)) = (object_type("contacts"), object_type("0-2")) else {
            panic!("standard object types are known");
        };
        assert_eq!(d.records(contacts).filter(|o| o.archived_at.is_none()).count(), 25);
        assert_eq!(d.linked(companies, 201, contacts), vec![101, 113, 125]);
    }
}
