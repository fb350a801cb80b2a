//! `x-incremental` at spec load: what a valid extension gives (`Operation::incremental`), each
//! fault refused with the file and the JSON pointer of the faulty key, and the connectors that
//! declare it (their param and field as each provider documents them).

use switchboard_core::spec::{parse_spec, ConnectorSpec, Incremental, TimeFormat};

const HEAD: &str = r##"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: t, x-connector-definition-id: 00000000-0000-0000-0000-000000000009}
servers: [{url: "https://api.example.com"}]
paths:
  /tickets:
    get:
      x-entity: tickets
      x-action: list
      x-pagination: {style: page, param: page}
      parameters:
        - {name: page, in: query, schema: {type: integer}}
        - {name: updated_since, in: query, schema: {type: string}}
        - {name: start_time, in: query, schema: {type: integer}}
        - {name: active, in: query, schema: {type: boolean}}
"##;

const GET: &str = r##"
  /tickets/{id}:
    get:
      x-entity: tickets
      x-action: get
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
"##;

fn load(incremental: &str) -> Result<ConnectorSpec, String> {
    parse_spec("t.yaml", &format!("{HEAD}      x-incremental: {incremental}\n")).map_err(|e| e.message)
}

fn refused(incremental: &str) -> String {
    match load(incremental) {
        Ok(_) => panic!("{incremental} loaded"),
        Err(m) => m,
    }
}

fn incremental_of(spec: &ConnectorSpec, entity: &str) -> Option<Incremental> {
    spec.operation(entity, "list").unwrap_or_else(|| panic!("no {entity} list")).incremental.clone()
}

#[test]
fn a_valid_extension_loads_with_its_defaults() {
    let spec =
        load("{param: updated_since, field: meta.updated_at, format: iso8601}").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        incremental_of(&spec, "tickets"),
        Some(Incremental {
            param: "updated_since".into(),
            field: "meta.updated_at".into(),
            format: TimeFormat::Iso8601,
            field_format: TimeFormat::Iso8601,
            lookback_seconds: 60,
            full_from_epoch: false,
        })
    );
    let spec = load(
        "{param: start_time, field: updated_at, format: unix, field_format: iso8601, lookback_seconds: 0, full_from_epoch: true}",
    )
        .unwrap_or_else(|e| panic!("{e}"));
    let inc = incremental_of(&spec, "tickets").unwrap_or_else(|| panic!("no x-incremental"));
    assert_eq!(
        (inc.format, inc.field_format, inc.lookback_seconds, inc.full_from_epoch),
        (TimeFormat::Unix, TimeFormat::Iso8601, 0, true)
    );
    // The reference spelling is read too; an operation without it has none.
    let spec = parse_spec(
        "t.yaml",
        &format!("{HEAD}      x-airbyte-incremental: {{param: start_time, field: updated_at, format: unix_ms}}\n{GET}"),
    )
    .unwrap_or_else(|e| panic!("{}", e.message));
    assert_eq!(incremental_of(&spec, "tickets").map(|i| i.format), Some(TimeFormat::UnixMs));
    assert!(spec.operation("tickets", "get").is_some_and(|o| o.incremental.is_none()));
}

#[test]
fn each_fault_is_refused_at_its_pointer() {
    let at = "t.yaml: at /paths/~1tickets/get/x-incremental";
    for (ext, pointer, says) in [
        ("{param: updated_since, field: updated_at, format: iso8601, since: 1}", "/since", "unknown key"),
        ("{param: updated_after, field: updated_at, format: iso8601}", "/param", "not a param of the operation"),
        ("{field: updated_at, format: iso8601}", "/param", "missing"),
        ("{param: updated_since, format: iso8601}", "/field", "missing"),
        ("{param: updated_since, field: \"a..b\", format: iso8601}", "/field", "not a dot path"),
        ("{param: updated_since, field: updated_at}", "/format", "missing"),
        ("{param: updated_since, field: updated_at, format: rfc822}", "/format", "unix, unix_ms, iso8601"),
        ("{param: start_time, field: updated_at, format: unix, field_format: days}", "/field_format", "one of"),
        (
            "{param: updated_since, field: updated_at, format: iso8601, lookback_seconds: -1}",
            "/lookback_seconds",
            "0 to",
        ),
        (
            "{param: updated_since, field: updated_at, format: iso8601, lookback_seconds: 1e9}",
            "/lookback_seconds",
            "0 to",
        ),
        ("{param: start_time, field: updated_at, format: iso8601}", "/param", "an integer param"),
        ("{param: active, field: updated_at, format: unix}", "/param", "a boolean param"),
        ("{param: page, field: updated_at, format: unix}", "/param", "the pagination's param"),
        (
            "{param: updated_since, field: updated_at, format: iso8601, full_from_epoch: yes}",
            "/full_from_epoch",
            "true or false",
        ),
        ("[updated_since]", "", "expected an object"),
    ] {
        let m = refused(ext);
        assert!(m.contains(&format!("{at}{pointer}:")), "{ext}: {m}");
        assert!(m.contains(says), "{ext}: {m}");
    }
}

#[test]
fn only_a_list_can_be_incremental_and_not_on_a_path_param() {
    let on_get = format!("{HEAD}{GET}      x-incremental: {{param: id, field: updated_at, format: iso8601}}\n");
    let m = parse_spec("t.yaml", &on_get).err().map(|e| e.message).unwrap_or_default();
    assert!(m.contains("/paths/~1tickets~1{id}/get/x-incremental") && m.contains("only a list"), "{m}");

    let path_param = r##"
openapi: 3.1.0
info: {title: T, version: "1", x-connector-name: t, x-connector-definition-id: 00000000-0000-0000-0000-000000000009}
servers: [{url: "https://api.example.com"}]
paths:
  /since/{since}/tickets:
    get:
      x-entity: tickets
      x-action: list
      x-incremental: {param: since, field: updated_at, format: iso8601}
      parameters: [{name: since, in: path, required: true, schema: {type: string}}]
"##;
    let m = parse_spec("t.yaml", path_param).err().map(|e| e.message).unwrap_or_default();
    assert!(m.contains("x-incremental/param") && m.contains("a path param"), "{m}");
}

#[test]
fn the_connectors_declare_it_as_their_providers_document() {
    let spec = |slug: &str| {
        let text = std::fs::read_to_string(format!("{}/../connectors/{slug}.yaml", env!("CARGO_MANIFEST_DIR")))
            .unwrap_or_else(|e| panic!("{slug}: {e}"));
        parse_spec(&format!("{slug}.yaml"), &text).unwrap_or_else(|e| panic!("{}", e.message))
    };
    let expect = |slug: &str, entity: &str, param: &str, field: &str, format: TimeFormat, field_format: TimeFormat| {
        let s = spec(slug);
        let inc = incremental_of(&s, entity).unwrap_or_else(|| panic!("{slug} {entity}: no x-incremental"));
        assert_eq!(
            (inc.param.as_str(), inc.field.as_str(), inc.format, inc.field_format),
            (param, field, format, field_format),
            "{slug} {entity}"
        );
    };
    // Freshdesk: `updated_since` (ISO 8601) on the tickets list; tickets carry `updated_at`.
    // Without the param the list holds only the last 30 days' tickets, so full syncs send it too.
    expect("freshdesk", "tickets", "updated_since", "updated_at", TimeFormat::Iso8601, TimeFormat::Iso8601);
    assert!(incremental_of(&spec("freshdesk"), "tickets").is_some_and(|i| i.full_from_epoch));
    assert!(incremental_of(&spec("gitlab"), "issues").is_some_and(|i| !i.full_from_epoch));
    // GitLab: `updated_after` (ISO 8601) on project issues and merge requests.
    expect("gitlab", "issues", "updated_after", "updated_at", TimeFormat::Iso8601, TimeFormat::Iso8601);
    expect("gitlab", "merge_requests", "updated_after", "updated_at", TimeFormat::Iso8601, TimeFormat::Iso8601);
}
