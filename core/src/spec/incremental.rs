//! `x-incremental` on a list operation: the param that asks the API for the records updated
//! since a time, and the record field that holds each record's update time. The engine's
//! context store reads it to sync only what changed since its last sync; the fake upstream reads
//! it to serve only those records.
//!
//! ```yaml
//! x-incremental: {param: updated_since, field: updated_at, format: iso8601, lookback_seconds: 60}
//! ```
//!
//! Times travel between the param, the field and the engine's sync state as unix milliseconds
//! ([`TimeFormat::read`], [`TimeFormat::write`]).

use serde::Serialize;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

/// The overlap asked for when the spec gives no `lookback_seconds`.
pub const DEFAULT_LOOKBACK_SECONDS: u64 = 60;
/// The longest overlap a spec may ask for (a week).
pub const MAX_LOOKBACK_SECONDS: u64 = 7 * 24 * 3600;

/// How a time is written in a param or a record field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    /// Unix time in seconds (a number, or its text).
    Unix,
    /// Unix time in milliseconds (a number, or its text).
    UnixMs,
    /// RFC 3339 / ISO 8601 text (`2026-01-02T03:04:05Z`); a time without an offset is UTC.
    Iso8601,
}

impl TimeFormat {
    /// The formats, as a spec names them.
    pub const NAMES: [&'static str; 3] = ["unix", "unix_ms", "iso8601"];

    /// The format a spec names `name`.
    pub fn parse_name(name: &str) -> Option<TimeFormat> {
        match name {
            "unix" => Some(TimeFormat::Unix),
            "unix_ms" => Some(TimeFormat::UnixMs),
            "iso8601" => Some(TimeFormat::Iso8601),
            _ => None,
        }
    }

    /// The name a spec writes.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeFormat::Unix => "unix",
            TimeFormat::UnixMs => "unix_ms",
            TimeFormat::Iso8601 => "iso8601",
        }
    }

    /// `v`, a time written in this format, as unix milliseconds; `None` when it is not one.
    pub fn read(self, v: &Value) -> Option<i64> {
        match self {
            TimeFormat::Unix | TimeFormat::UnixMs => {
                let n = match v {
                    Value::Number(n) => n.as_f64()?,
                    Value::String(s) => s.trim().parse::<f64>().ok()?,
                    _ => return None,
                };
                if !n.is_finite() {
                    return None;
                }
                let ms = if self == TimeFormat::Unix { n * 1000.0 } else { n };
                // Beyond a few hundred thousand years is no time of a record.
                (ms.abs() < 1e16).then_some(ms.floor() as i64)
            }
            TimeFormat::Iso8601 => {
                let s = v.as_str()?.trim();
                let t = OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
                    // No offset (WooCommerce's `_gmt` fields): UTC.
                    let naive = time::macros::format_description!(
                        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
                    );
                    PrimitiveDateTime::parse(s, naive).ok().map(PrimitiveDateTime::assume_utc)
                })?;
                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
            }
        }
    }

    /// Unix milliseconds `ms` written in this format (seconds formats round down).
    pub fn write(self, ms: i64) -> Value {
        match self {
            TimeFormat::Unix => Value::from(ms.div_euclid(1000)),
            TimeFormat::UnixMs => Value::from(ms),
            TimeFormat::Iso8601 => Value::String(iso8601(ms)),
        }
    }
}

/// Unix milliseconds as RFC 3339 in UTC, to the second (`2026-01-02T03:04:05Z`).
pub fn iso8601(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// `x-incremental` of a list operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Incremental {
    /// The param that takes the time to read from (records updated at or after it).
    pub param: String,
    /// The dot path of the record field holding the record's last update time.
    pub field: String,
    /// How the param's time is written.
    pub format: TimeFormat,
    /// How the field's time is written (the param's format unless the spec says otherwise:
    /// Zendesk asks `start_time` in unix seconds and answers `updated_at` in ISO 8601).
    pub field_format: TimeFormat,
    /// How far before the last sync's high-water mark an incremental sync reads from, so
    /// records updated in the same second, or written late by the provider, are not missed.
    pub lookback_seconds: u64,
    /// Whether a full sync sends the param too, set to the Unix epoch: for APIs whose list
    /// holds less without it (Freshdesk lists only the tickets of the last 30 days unless
    /// `updated_since` is given).
    pub full_from_epoch: bool,
}

impl Incremental {
    /// The update time of `record` (unix ms): its [`Incremental::field`] read in
    /// [`Incremental::field_format`]; `None` when the record lacks it or it is not a time.
    pub fn record_time(&self, record: &Value) -> Option<i64> {
        let mut v = record;
        for key in self.field.split('.') {
            v = v.get(key)?;
        }
        self.field_format.read(v)
    }

    /// The param value of a full sync, when [`Incremental::full_from_epoch`]: the Unix epoch.
    pub fn full_sync_value(&self) -> Option<Value> {
        self.full_from_epoch.then(|| self.format.write(0))
    }

    /// The param value that asks for the records updated since `high_water` (unix ms), less
    /// the lookback.
    pub fn since(&self, high_water: i64) -> Value {
        let lookback = i64::try_from(self.lookback_seconds).unwrap_or(0).saturating_mul(1000);
        self.format.write(high_water.saturating_sub(lookback))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_read_and_write_in_each_format() {
        let ms = 1_767_323_045_000; // 2026-01-02T03:04:05Z
        assert_eq!(TimeFormat::Iso8601.read(&json!("2026-01-02T03:04:05Z")), Some(ms));
        assert_eq!(TimeFormat::Iso8601.read(&json!("2026-01-02T04:04:05+01:00")), Some(ms));
        assert_eq!(TimeFormat::Iso8601.read(&json!("2026-01-02T03:04:05.250Z")), Some(ms + 250));
        assert_eq!(TimeFormat::Iso8601.read(&json!("2026-01-02T03:04:05")), Some(ms), "no offset is UTC");
        assert_eq!(TimeFormat::Iso8601.read(&json!("yesterday")), None);
        assert_eq!(TimeFormat::Iso8601.read(&json!(1_767_323_045)), None, "a number is no ISO 8601 time");
        assert_eq!(TimeFormat::Unix.read(&json!(1_767_323_045)), Some(ms));
        assert_eq!(TimeFormat::Unix.read(&json!("1767323045")), Some(ms));
        assert_eq!(TimeFormat::Unix.read(&json!(1_767_323_045.5)), Some(ms + 500));
        assert_eq!(TimeFormat::UnixMs.read(&json!(ms)), Some(ms));
        assert_eq!(TimeFormat::UnixMs.read(&json!(null)), None);
        assert_eq!(TimeFormat::Unix.read(&json!(1e300)), None);

        assert_eq!(TimeFormat::Iso8601.write(ms + 999), json!("2026-01-02T03:04:05Z"));
        assert_eq!(TimeFormat::Unix.write(ms + 999), json!(1_767_323_045));
        assert_eq!(TimeFormat::UnixMs.write(ms), json!(ms));
        for f in TimeFormat::NAMES {
            assert_eq!(TimeFormat::parse_name(f).map(TimeFormat::as_str), Some(f));
        }
    }

    #[test]
    fn since_is_the_high_water_mark_less_the_lookback_and_fields_are_dot_paths() {
        let inc = Incremental {
            param: "start_time".into(),
            field: "meta.updated_at".into(),
            format: TimeFormat::Unix,
            field_format: TimeFormat::Iso8601,
            lookback_seconds: 60,
            full_from_epoch: true,
        };
        let record = json!({"id": 1, "meta": {"updated_at": "2026-01-02T03:04:05Z"}});
        let t = inc.record_time(&record);
        assert_eq!(t, Some(1_767_323_045_000));
        assert_eq!(inc.since(1_767_323_045_000), json!(1_767_323_045 - 60));
        assert_eq!(inc.full_sync_value(), Some(json!(0)));
        let iso = Incremental { format: TimeFormat::Iso8601, full_from_epoch: true, ..inc.clone() };
        assert_eq!(iso.full_sync_value(), Some(json!("1970-01-01T00:00:00Z")));
        assert_eq!(inc.record_time(&json!({"id": 1, "meta": {}})), None);
        assert_eq!(inc.record_time(&json!({"id": 1, "meta": {"updated_at": "soon"}})), None);
        assert_eq!(Incremental { full_from_epoch: false, ..inc }.full_sync_value(), None);
    }
}
