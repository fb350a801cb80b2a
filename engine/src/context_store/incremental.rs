//! Incremental syncs: after a full sync, an entity whose list declares `x-incremental` (the
//! param that asks for the records updated since a time, and the record field holding each
//! record's update time) is synced by asking only what changed since the last sync.
//!
//! - Every page a sync commits also raises the entity's high-water mark (`sync_state.high_water`,
//!   unix ms): the latest update time among the records synced so far.
//! - An incremental sync asks the list with the param set to the mark less the spec's
//!   `lookback_seconds` (and never later than when the last sync started, so a record updated
//!   while that sync paged is asked again), upserts what comes back into the same table by id,
//!   keeps the generation and deletes nothing: a record deleted at the provider stays until the
//!   next full sync reconciles.
//! - Which runs: [`decide`]. `full` is a full sync; `incremental` is one when a full sync has
//!   completed with a mark (refused before one, [`check_prior`]); `auto` (the default, and
//!   every scheduled run) is incremental unless the last full sync finished
//!   `full_every_seconds` ago or more (default a day), or the entity has no `x-incremental`.
//! - An interrupted sync, of either mode, resumes from its checkpoint (which holds its first
//!   page's params, the since time included), except that a `full` request over an interrupted
//!   incremental sync starts the full sync instead.
//!
//! The decision is plain data in, data out, so each cache backend applies it in the
//! transaction that starts the sync.

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::Value;
use switchboard_core::spec::{Incremental, Operation};
use switchboard_core::ErrorCode;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::refused;
use super::schedule::{MAX_EVERY_SECONDS, MIN_EVERY_SECONDS};
use crate::error::ApiResult;

/// How old the last full sync may be before an `auto` sync is a full one (a day).
pub const DEFAULT_FULL_EVERY_SECONDS: i64 = 86_400;

/// The `mode` of a sync request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Mode {
    /// Incremental when the entity can be and its last full sync is recent, else full.
    #[default]
    Auto,
    /// A full sync with reconciliation.
    Full,
    /// Only the records updated since the last sync.
    Incremental,
}

/// What a sync request asks besides its entities and schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Requested {
    pub mode: Mode,
    /// `full_every_seconds`, when the request gives it (kept per entity).
    pub full_every_seconds: Option<i64>,
}

/// `mode` and `full_every_seconds` of a sync request body (absent or null: `auto`, and the
/// entity's kept setting).
pub fn requested(v: &Value) -> ApiResult<Requested> {
    let mode = match v.get("mode") {
        None | Some(Value::Null) => Mode::Auto,
        Some(Value::String(m)) if m == "auto" => Mode::Auto,
        Some(Value::String(m)) if m == "full" => Mode::Full,
        Some(Value::String(m)) if m == "incremental" => Mode::Incremental,
        Some(other) => {
            return Err(refused(
                ErrorCode::Validation,
                "invalid_mode",
                format!("mode must be \"auto\", \"full\" or \"incremental\", not {other}"),
            ))
        }
    };
    let full_every_seconds = match v.get("full_every_seconds") {
        None | Some(Value::Null) => None,
        Some(n) => match n.as_i64() {
            Some(n) if (MIN_EVERY_SECONDS..=MAX_EVERY_SECONDS).contains(&n) => Some(n),
            _ => {
                return Err(refused(
                    ErrorCode::Validation,
                    "invalid_full_every",
                    format!(
                        "full_every_seconds must be a whole number of seconds from {MIN_EVERY_SECONDS} to \
                         {MAX_EVERY_SECONDS}: how old the last full sync may be before an auto sync is full"
                    ),
                ))
            }
        },
    };
    Ok(Requested { mode, full_every_seconds })
}

/// Everything the start of one entity's sync needs to decide how it runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// A full sync's first page params (the largest page size).
    pub first: Value,
    /// The list's `x-incremental`, if it has one.
    pub incremental: Option<Incremental>,
    pub mode: Mode,
    pub full_every_seconds: Option<i64>,
    /// When the sync is asked (unix ms): the request's time, or the time a scheduler round
    /// runs for; the age of the last full sync is measured to it.
    pub now: i64,
}

impl Plan {
    /// The plan of a sync of list `op` whose full sync starts with params `first`, asked at
    /// `now` (unix ms).
    pub fn new(op: &Operation, mut first: Value, requested: Requested, now: i64) -> Plan {
        // A list that holds less without the param gets it on full syncs too, from the epoch.
        if let (Some(inc), Value::Object(m)) = (&op.incremental, &mut first) {
            if let Some(v) = inc.full_sync_value() {
                m.insert(inc.param.clone(), v);
            }
        }
        Plan {
            first,
            incremental: op.incremental.clone(),
            mode: requested.mode,
            full_every_seconds: requested.full_every_seconds,
            now,
        }
    }
}

/// Refuses `mode: incremental` for `entity` when its list `op` has no `x-incremental`.
pub fn check_mode(entity: &str, op: &Operation, mode: Mode) -> ApiResult<()> {
    if mode == Mode::Incremental && op.incremental.is_none() {
        return Err(refused(
            ErrorCode::Validation,
            "not_incremental",
            format!(
                "{entity} cannot be synced incrementally: its list declares no updated-since param \
                 (x-incremental in the connector's spec); ask mode \"full\" or \"auto\""
            ),
        ));
    }
    Ok(())
}

/// Refuses `mode: incremental` for `entity` before a full sync has completed with a
/// high-water mark (an interrupted sync is fine: it resumes).
pub fn check_prior(entity: &str, prior: Option<&Prior>) -> ApiResult<()> {
    match prior {
        Some(p) if p.interrupted() || p.can_continue() => Ok(()),
        _ => Err(refused(
            ErrorCode::Validation,
            "full_sync_needed",
            format!(
                "{entity} has no completed full sync whose records carry an update time to continue from; \
                 run a full sync first (mode \"full\" or \"auto\")"
            ),
        )),
    }
}

/// An entity's sync state as the last sync left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Prior {
    pub status: String,
    pub generation: i64,
    pub checkpoint: Option<String>,
    pub mode: Option<String>,
    /// Unix ms.
    pub high_water: Option<i64>,
    /// RFC 3339.
    pub last_full_at: Option<String>,
    /// When the last (or current) sync started, RFC 3339.
    pub started_at: Option<String>,
    pub full_every_seconds: Option<i64>,
}

impl Prior {
    /// A sync that has not finished (running when its engine stopped, or failed): it resumes.
    pub fn interrupted(&self) -> bool {
        self.status != "succeeded" && self.checkpoint.is_some()
    }

    /// Whether an incremental sync can follow: the last sync succeeded, a full sync has
    /// completed, and the records carried update times.
    pub fn can_continue(&self) -> bool {
        self.status == "succeeded" && self.last_full_at.is_some() && self.high_water.is_some()
    }
}

/// How a sync starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// The interrupted sync resumes from its checkpoint, in its own mode.
    Resume,
    /// A new sync: its mode (`full` or `incremental`), the generation its records carry (a
    /// full sync's is new; an incremental one keeps the last), and its first page's params.
    Start { mode: &'static str, generation: i64, first: Value },
}

fn rfc3339_ms(t: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(t, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// How the sync `plan` asks for starts, after `prior`.
pub fn decide(prior: Option<&Prior>, plan: &Plan) -> Decision {
    let now = plan.now;
    if let Some(p) = prior.filter(|p| p.interrupted()) {
        // A full sync asked for replaces an incremental one, and starts a failed sync again from
        // its first page: a checkpoint the provider (or the connector's spec, since upgraded) no
        // longer takes would otherwise fail every later attempt.
        let restart = plan.mode == Mode::Full && (p.mode.as_deref() == Some("incremental") || p.status == "failed");
        if !restart {
            return Decision::Resume;
        }
    }
    let generation = prior.map(|p| p.generation).unwrap_or(0);
    let go_on = match (plan.incremental.as_ref(), prior) {
        (Some(inc), Some(p)) if p.can_continue() => {
            let every = plan.full_every_seconds.or(p.full_every_seconds).unwrap_or(DEFAULT_FULL_EVERY_SECONDS);
            let recent = p.last_full_at.as_deref().and_then(rfc3339_ms).is_some_and(|t| now - t < every * 1000);
            match plan.mode {
                Mode::Full => None,
                Mode::Incremental => Some((inc, p)),
                Mode::Auto => recent.then_some((inc, p)),
            }
        }
        _ => None,
    };
    match go_on {
        Some((inc, p)) => {
            let mark = p.high_water.unwrap_or(0);
            // Records updated while the last sync paged may have been read before the change.
            let from = p.started_at.as_deref().and_then(rfc3339_ms).map_or(mark, |s| s.min(mark));
            let mut first = plan.first.clone();
            if let Value::Object(m) = &mut first {
                m.insert(inc.param.clone(), inc.since(from));
            }
            Decision::Start { mode: "incremental", generation, first }
        }
        None => Decision::Start { mode: "full", generation: generation + 1, first: plan.first.clone() },
    }
}

/// The sync state of `entity` of connector `connector_id` in a cache file.
pub fn prior(conn: &Connection, connector_id: &str, entity: &str) -> rusqlite::Result<Option<Prior>> {
    conn.query_row(
        "SELECT status, generation, checkpoint, mode, high_water, last_full_at, started_at, full_every_seconds
         FROM sync_state WHERE connector_id = ?1 AND entity = ?2",
        params![connector_id, entity],
        |r| {
            Ok(Prior {
                status: r.get(0)?,
                generation: r.get(1)?,
                checkpoint: r.get(2)?,
                mode: r.get(3)?,
                high_water: r.get(4)?,
                last_full_at: r.get(5)?,
                started_at: r.get(6)?,
                full_every_seconds: r.get(7)?,
            })
        },
    )
    .optional()
}

/// The highest update time among `records` (unix ms), by `incremental`'s field.
pub fn page_high_water(incremental: Option<&Incremental>, records: &[Value]) -> Option<i64> {
    let inc = incremental?;
    records.iter().filter_map(|r| inc.record_time(r)).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use switchboard_core::spec::TimeFormat;

    const DAY_MS: i64 = 86_400_000;
    /// 2026-01-02T00:00:00Z.
    const NOW: i64 = 1_767_312_000_000;

    fn plan(mode: Mode, incremental: bool) -> Plan {
        Plan {
            first: json!({"per_page": 100}),
            incremental: incremental.then(|| Incremental {
                param: "updated_since".into(),
                field: "updated_at".into(),
                format: TimeFormat::Iso8601,
                field_format: TimeFormat::Iso8601,
                lookback_seconds: 60,
                full_from_epoch: false,
            }),
            mode,
            full_every_seconds: None,
            now: NOW,
        }
    }

    fn succeeded(full_ago_ms: i64) -> Prior {
        Prior {
            status: "succeeded".into(),
            generation: 3,
            checkpoint: None,
            mode: Some("full".into()),
            high_water: Some(NOW - 2 * 3_600_000),
            last_full_at: TimeFormat::Iso8601.write(NOW - full_ago_ms).as_str().map(str::to_string),
            started_at: Some("2026-01-01T23:00:00Z".into()),
            full_every_seconds: None,
        }
    }

    #[test]
    fn auto_goes_on_from_the_mark_less_the_lookback_until_the_full_sync_is_a_day_old() {
        let p = succeeded(3_600_000);
        match decide(Some(&p), &plan(Mode::Auto, true)) {
            Decision::Start { mode, generation, first } => {
                assert_eq!((mode, generation), ("incremental", 3));
                // The mark (22:00) is before the last start (23:00): 22:00 less 60 s.
                assert_eq!(first, json!({"per_page": 100, "updated_since": "2026-01-01T21:59:00Z"}));
            }
            d => panic!("{d:?}"),
        }
        let old = succeeded(DAY_MS);
        assert_eq!(
            decide(Some(&old), &plan(Mode::Auto, true)),
            Decision::Start { mode: "full", generation: 4, first: json!({"per_page": 100}) }
        );
        // A shorter setting, from the request or kept, makes the same full sync old enough.
        let mut short = plan(Mode::Auto, true);
        short.full_every_seconds = Some(600);
        assert!(matches!(decide(Some(&p), &short), Decision::Start { mode: "full", .. }));
        let kept = Prior { full_every_seconds: Some(600), ..p.clone() };
        assert!(matches!(decide(Some(&kept), &plan(Mode::Auto, true)), Decision::Start { mode: "full", .. }));
        // Without the extension, or before any sync, or with no mark: full.
        assert!(matches!(decide(Some(&p), &plan(Mode::Auto, false)), Decision::Start { mode: "full", .. }));
        assert!(matches!(decide(None, &plan(Mode::Auto, true)), Decision::Start { mode: "full", generation: 1, .. }));
        let no_mark = Prior { high_water: None, ..p.clone() };
        assert!(matches!(decide(Some(&no_mark), &plan(Mode::Auto, true)), Decision::Start { mode: "full", .. }));
        assert!(check_prior("tickets", Some(&no_mark)).is_err());
        assert!(check_prior("tickets", None).is_err());
        assert!(check_prior("tickets", Some(&p)).is_ok());
    }

    #[test]
    fn the_mark_never_passes_the_last_start_and_modes_are_obeyed() {
        // A mark after the last sync started (provider clock ahead): ask from the start.
        let ahead = Prior { high_water: Some(NOW), ..succeeded(3_600_000) };
        match decide(Some(&ahead), &plan(Mode::Incremental, true)) {
            Decision::Start { mode: "incremental", first, .. } => {
                assert_eq!(first["updated_since"], json!("2026-01-01T22:59:00Z"))
            }
            d => panic!("{d:?}"),
        }
        let old = succeeded(10 * DAY_MS);
        assert!(matches!(
            decide(Some(&old), &plan(Mode::Incremental, true)),
            Decision::Start { mode: "incremental", .. }
        ));
        let recent = succeeded(60_000);
        assert!(matches!(decide(Some(&recent), &plan(Mode::Full, true)), Decision::Start { mode: "full", .. }));
    }

    #[test]
    fn an_interrupted_sync_resumes_unless_a_full_one_replaces_an_incremental_one() {
        let base = succeeded(3_600_000);
        let full = Prior { status: "failed".into(), checkpoint: Some("{}".into()), ..base.clone() };
        let inc = Prior { mode: Some("incremental".into()), ..full.clone() };
        for mode in [Mode::Auto, Mode::Incremental] {
            assert_eq!(decide(Some(&full), &plan(mode, true)), Decision::Resume, "{mode:?}");
        }
        // A full sync asked for starts a failed one again from its first page, in a new
        // generation; an interrupted one (its engine stopped) resumes.
        assert!(matches!(
            decide(Some(&full), &plan(Mode::Full, true)),
            Decision::Start { mode: "full", generation: 4, .. }
        ));
        let stopped = Prior { status: "running".into(), ..full.clone() };
        assert_eq!(decide(Some(&stopped), &plan(Mode::Full, true)), Decision::Resume);
        assert_eq!(decide(Some(&inc), &plan(Mode::Auto, true)), Decision::Resume);
        assert!(matches!(
            decide(Some(&inc), &plan(Mode::Full, true)),
            Decision::Start { mode: "full", generation: 4, .. }
        ));
        assert!(check_prior("tickets", Some(&inc)).is_ok());
    }

    #[test]
    fn a_file_made_before_the_columns_is_read_as_null_and_gets_them_once() {
        let dir = std::env::temp_dir().join(format!("sb-incremental-{}-{}", std::process::id(), crate::db::now_ms()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let file = dir.join("old.sqlite3");
        {
            // The first increment's sync_state, with one row.
            let c = Connection::open(&file).unwrap_or_else(|e| panic!("{e}"));
            c.execute_batch(
                "CREATE TABLE sync_state (connector_id TEXT NOT NULL, entity TEXT NOT NULL, status TEXT NOT NULL,
                    generation INTEGER NOT NULL, checkpoint TEXT, pages INTEGER NOT NULL DEFAULT 0,
                    records_synced INTEGER NOT NULL DEFAULT 0, record_count INTEGER NOT NULL DEFAULT 0,
                    deleted INTEGER NOT NULL DEFAULT 0, last_error TEXT, started_at TEXT, finished_at TEXT,
                    updated_at TEXT, organization_id TEXT, workspace_id TEXT, PRIMARY KEY (connector_id, entity));
                 INSERT INTO sync_state (connector_id, entity, status, generation) VALUES ('c', 'tickets', 'succeeded', 2);",
            )
            .unwrap_or_else(|e| panic!("{e}"));
        }
        let read = |c: &Connection| -> (String, Option<String>, Option<i64>) {
            let extra = super::super::store::sync_state_columns_select(c).unwrap_or_else(|e| panic!("{e}"));
            let q = format!("SELECT {extra} FROM sync_state");
            let row = c.query_row(&q, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap_or_else(|e| panic!("{q}: {e}"));
            (extra, row.0, row.1)
        };
        let ro = super::super::store::open_ro(&file).unwrap_or_else(|e| panic!("{e}"));
        let (extra, mode, high_water) = read(&ro);
        assert!(extra.starts_with("NULL AS mode"), "{extra}");
        assert_eq!((mode, high_water), (None, None));
        drop(ro);
        for _ in 0..2 {
            drop(super::super::store::open_rw(&file).unwrap_or_else(|e| panic!("{e}")));
        }
        let c = super::super::store::open_ro(&file).unwrap_or_else(|e| panic!("{e}"));
        let (extra, ..) = read(&c);
        assert_eq!(extra, "mode, high_water, last_full_at, full_every_seconds");
        let p = prior(&c, "c", "tickets").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.map(|p| (p.status, p.generation, p.mode)), Some(("succeeded".into(), 2, None)));
        drop(c);
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn reason_of(e: crate::error::ApiError) -> Option<String> {
        e.details.and_then(|d| d["reason"].as_str().map(str::to_string))
    }

    #[test]
    fn request_fields_are_checked() {
        assert_eq!(requested(&json!({})).ok(), Some(Requested::default()));
        assert_eq!(
            requested(&json!({"mode": "incremental", "full_every_seconds": 3600})).ok(),
            Some(Requested { mode: Mode::Incremental, full_every_seconds: Some(3600) })
        );
        for bad in [json!({"mode": "delta"}), json!({"mode": 1})] {
            assert_eq!(requested(&bad).err().and_then(reason_of).as_deref(), Some("invalid_mode"));
        }
        for bad in [
            json!({"full_every_seconds": 59}),
            json!({"full_every_seconds": "3600"}),
            json!({"full_every_seconds": 1.5}),
        ] {
            assert_eq!(requested(&bad).err().and_then(reason_of).as_deref(), Some("invalid_full_every"));
        }
    }
}
