//! The runtime features the newer connectors need (issue 13), through the HTTP seam and against
//! the generic fake:
//! - failures reported in a success answer (`x-response-error-check`, Slack's `ok: false`),
//! - offset and page-number pagination (`x-pagination` `style: offset | page`), the next cursor
//!   computed from the request and the records received,
//! - next pages given as URLs (`style: url`: `Link` headers, `nextRecordsUrl`), followed only on
//!   the connector's own server.

mod support;

use std::sync::Arc;
use std::time::Duration;

use fake_upstream::FakeUpstream;
use futures::StreamExt;
use serde_json::{json, Value};
use support::seam::Seam;
use switchboard_core::spec::{parse_spec, PageStyle, RetryConfig};
use switchboard_core::{Connector, ConnectorOptions, Error, ErrorCode, ExecuteOptions, ExecutionResult};

const KEY: &str = "sk-paging-secret-7f3e9a";

const SPEC: &str = r##"
openapi: 3.1.0
info:
  title: Paging API
  version: "1"
  x-connector-name: paging
  x-connector-definition-id: 13131313-0000-4000-8000-000000000013
  x-airbyte-response-error-check: {field: ok, on_value: false, message_field: error}
servers:
  - url: https://api.example.com/v1
components:
  securitySchemes:
    key:
      type: apiKey
      in: query
      name: api_key
      x-auth-config: {required: [api_key], properties: {api_key: {type: string}}}
paths:
  /offset:
    get:
      x-entity: offset_items
      x-action: list
      x-record-extractor: $.items
      x-record-filter: "{{ not record.hidden }}"
      x-meta-extractor: {startAt: $.startAt, total: $.total, more: $.more}
      x-pagination: {param: startAt, style: offset, total: total, has_more: more}
      parameters:
        - {name: startAt, in: query, schema: {type: integer, default: 0}}
        - {name: maxResults, in: query, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /plain:
    get:
      x-entity: plain_items
      x-action: list
      x-pagination: {param: offset, style: offset}
      parameters:
        - {name: offset, in: query, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /pages:
    get:
      x-entity: page_items
      x-action: list
      x-record-extractor: $.items
      x-airbyte-pagination: {param: page, style: page, limit: per_page}
      parameters:
        - {name: page, in: query, schema: {type: integer}}
        - {name: per_page, in: query, schema: {type: integer, default: 3}}
      responses: {"200": {description: ok}}
  /counted:
    get:
      x-entity: counted_items
      x-action: list
      x-record-extractor: $.items
      x-meta-extractor: {count: $.count}
      x-pagination: {param: p, style: page, total: count, limit: size}
      parameters:
        - {name: p, in: query, schema: {type: integer, default: 0}}
        - {name: size, in: query, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /linked:
    get:
      x-entity: linked_items
      x-action: list
      x-meta-extractor: {next: "@link.next"}
      x-pagination: {style: url, meta: next}
      parameters:
        - {name: per_page, in: query, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /query:
    get:
      x-entity: records
      x-action: list
      x-record-extractor: $.records
      x-meta-extractor: {nextRecordsUrl: $.nextRecordsUrl, done: $.done}
      x-pagination: {style: url, param: locator, meta: nextRecordsUrl}
      parameters:
        - {name: q, in: query, required: true, schema: {type: string}}
        - {name: locator, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
  /tickets.json:
    get:
      x-entity: tickets
      x-action: list
      x-record-extractor: $.tickets
      x-meta-extractor: {next_page: [$.next_page, $.links.next], has_more: $.meta.has_more}
      x-pagination: {style: url, meta: next_page, has_more: has_more}
      parameters:
        - {name: per_page, in: query, schema: {type: integer}}
        - {name: "page[size]", in: query, schema: {type: integer}}
      responses: {"200": {description: ok}}
  /files:
    get:
      x-entity: files
      x-action: list
      x-record-extractor: $.files
      x-meta-extractor: {nextPageToken: $.nextPageToken}
      x-pagination: {param: pageToken, meta: nextPageToken, empty_pages: follow}
      parameters:
        - {name: pageToken, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
  /reports:
    get:
      x-entity: reports
      x-action: list
      x-record-extractor: $.reports
      x-meta-extractor: {next_token: $.nextToken}
      x-pagination: {param: nextToken, meta: next_token, cursor_alone: true}
      parameters:
        - {name: reportTypes, in: query, schema: {type: string}}
        - {name: pageSize, in: query, schema: {type: integer}}
        - {name: nextToken, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
  /disputes:
    get:
      x-entity: disputes
      x-action: list
      x-record-extractor: $.items
      x-meta-extractor: {next_url: "$.links[?@.rel=='next'].href"}
      x-pagination: {style: url, meta: next_url}
      responses: {"200": {description: ok}}
  /analytics:
    get:
      x-entity: analytics
      x-action: list
      x-record-extractor: $.elements
      parameters:
        - {name: dateRange, in: query, allowReserved: true, schema: {type: string}}
        - {name: q, in: query, schema: {type: string}}
      responses: {"200": {description: ok}}
  /things/{id}:
    get:
      x-entity: things
      x-action: get
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"200": {description: ok}}
  /strict:
    post:
      x-entity: strict
      x-action: create
      x-response-error-check:
        field: result.status
        on_value: failed
        codes: {quota_exhausted: rate_limited}
      responses: {"200": {description: ok}}
"##;

fn connector(seam: Arc<Seam>) -> Connector {
    let spec = Arc::new(parse_spec("paging.yaml", SPEC).unwrap_or_else(|e| panic!("{e}")));
    let options = ConnectorOptions {
        http: Some(seam),
        retry: Some(RetryConfig { max_attempts: 3, initial_delay_ms: 1, max_delay_ms: 2, max_elapsed_ms: 2000 }),
        ..Default::default()
    };
    Connector::new(spec, json!({"api_key": KEY}), json!({}), options).unwrap_or_else(|e| panic!("{e}"))
}

/// The decoded query pairs of a URL.
fn query(url: &str) -> Vec<(String, String)> {
    url::Url::parse(url).map(|u| u.query_pairs().into_owned().collect()).unwrap_or_default()
}

fn int_param(url: &str, name: &str) -> Option<usize> {
    query(url).into_iter().find(|(k, _)| k == name).and_then(|(_, v)| v.parse().ok())
}

async fn all_pages(c: &Connector, entity: &str, params: Value) -> Vec<Result<ExecutionResult, Error>> {
    c.paginate(entity, "list", params, ExecuteOptions::default()).collect().await
}

fn ok_pages(pages: &[Result<ExecutionResult, Error>]) -> Vec<&ExecutionResult> {
    pages.iter().map(|p| p.as_ref().unwrap_or_else(|e| panic!("a page failed: {e}"))).collect()
}

fn records(pages: &[&ExecutionResult]) -> Vec<Value> {
    pages.iter().flat_map(|p| p.data.as_array().cloned().unwrap_or_default()).collect()
}

fn items(from: usize, to: usize) -> Vec<Value> {
    (from..to).map(|n| json!({"id": n})).collect()
}

// --- errors in a success answer ------------------------------------------------------------

#[tokio::test]
async fn an_ok_false_body_is_a_typed_error_with_the_providers_reason() {
    let cases = [
        ("invalid_auth", ErrorCode::UpstreamAuthentication),
        ("not_authed", ErrorCode::UpstreamAuthentication),
        ("token_revoked", ErrorCode::UpstreamAuthentication),
        ("account_inactive", ErrorCode::UpstreamAuthentication),
        ("missing_scope", ErrorCode::Forbidden),
        ("not_allowed_token_type", ErrorCode::Forbidden),
        ("channel_not_found", ErrorCode::NotFound),
        ("user_not_found", ErrorCode::NotFound),
        ("ratelimited", ErrorCode::RateLimited),
        ("fatal_error", ErrorCode::UpstreamHttp),
    ];
    for (reason, code) in cases {
        let seam = Seam::new(move |_| (200, vec![], json!({"ok": false, "error": reason})));
        let c = connector(seam.clone());
        let err = c
            .execute("things", "get", json!({"id": "C1"}), &ExecuteOptions::default())
            .await
            .err()
            .unwrap_or_else(|| panic!("{reason}: an ok: false answer must fail"));
        assert_eq!(err.code, code, "{reason}: {err}");
        assert!(err.message.contains(reason), "{reason}: the provider's reason is in the message: {}", err.message);
        assert!(err.message.contains("(HTTP 200)"), "{}", err.message);
        assert_eq!(err.status_code, Some(200));
        assert_eq!(err.details, Some(json!({"upstream_status": 200})));
        // A GET is retried on rate limits only; every other failure is one request.
        let expected = if code == ErrorCode::RateLimited { 3 } else { 1 };
        assert_eq!(seam.urls().len(), expected, "{reason}");
    }
}

#[tokio::test]
async fn an_ok_true_body_is_a_result_and_a_reason_never_carries_the_credential() {
    let seam = Seam::new(|_| (200, vec![], json!({"ok": true, "id": "C1"})));
    let res = connector(seam).execute("things", "get", json!({"id": "C1"}), &ExecuteOptions::default()).await;
    assert_eq!(res.map(|r| r.data).ok(), Some(json!({"ok": true, "id": "C1"})));

    let seam = Seam::new(|_| (200, vec![], json!({"ok": false, "error": format!("invalid_auth for api_key={KEY}")})));
    let err = connector(seam).execute("things", "get", json!({"id": "C1"}), &ExecuteOptions::default()).await.err();
    let err = err.unwrap_or_else(|| panic!("must fail"));
    let text = serde_json::to_string(&err).unwrap_or_default();
    assert!(!text.contains(KEY), "the credential leaked: {text}");
    assert!(err.message.contains("invalid_auth for api_key=****"), "{}", err.message);
}

#[tokio::test]
async fn an_operation_check_overrides_the_documents_and_maps_its_own_codes() {
    // `strict` checks a nested field for a string value, names no message field, and maps a
    // reason of its own; the document's `ok: false` does not apply to it.
    let seam = Seam::new(|_| (200, vec![], json!({"ok": false, "result": {"status": "done"}})));
    let res = connector(seam).execute("strict", "create", json!({}), &ExecuteOptions::default()).await;
    assert!(res.is_ok(), "{res:?}");

    let seam = Seam::new(|_| (200, vec![], json!({"result": {"status": "failed"}})));
    let err = connector(seam.clone()).execute("strict", "create", json!({}), &ExecuteOptions::default()).await.err();
    let err = err.unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::UpstreamHttp);
    assert!(err.message.contains("without a reason"), "{}", err.message);
    assert_eq!(seam.urls().len(), 1, "a POST is not retried");

    let spec = SPEC.replace("on_value: failed\n", "on_value: failed\n        message_field: result.reason\n");
    let spec = Arc::new(parse_spec("paging.yaml", &spec).unwrap_or_else(|e| panic!("{e}")));
    let seam = Seam::new(|_| (200, vec![], json!({"result": {"status": "failed", "reason": "quota_exhausted"}})));
    let options = ConnectorOptions { http: Some(seam), ..Default::default() };
    let c = Connector::new(spec, json!({"api_key": KEY}), json!({}), options).unwrap_or_else(|e| panic!("{e}"));
    let err = c.execute("strict", "create", json!({}), &ExecuteOptions::default()).await.err();
    let err = err.unwrap_or_else(|| panic!("must fail"));
    assert_eq!(err.code, ErrorCode::RateLimited, "{err}");
    assert!(err.message.ends_with("quota_exhausted"), "{}", err.message);
}

#[test]
fn error_checks_load_in_both_spellings_and_bad_ones_name_their_place() {
    let spec = parse_spec("paging.yaml", SPEC).unwrap_or_else(|e| panic!("{e}"));
    let get = spec.operation("things", "get").and_then(|o| o.error_check.clone());
    let get = get.unwrap_or_else(|| panic!("the document's check applies to every operation"));
    assert_eq!((get.field.as_str(), &get.on_value, get.message_field.as_deref()), ("ok", &json!(false), Some("error")));
    let strict = spec.operation("strict", "create").and_then(|o| o.error_check.clone());
    let strict = strict.unwrap_or_else(|| panic!("no check"));
    assert_eq!(strict.field, "result.status");
    assert_eq!(strict.codes, vec![("quota_exhausted".to_string(), ErrorCode::RateLimited)]);

    let fault = |from: &str, to: &str| {
        assert!(SPEC.contains(from), "{from}");
        parse_spec("paging.yaml", &SPEC.replace(from, to)).err().map(|e| e.message).unwrap_or_default()
    };
    let m = fault("{field: ok, on_value: false, message_field: error}", "{on_value: false}");
    assert!(m.contains("/info/x-airbyte-response-error-check/field: missing"), "{m}");
    let m = fault("{field: ok, on_value: false, message_field: error}", "{field: ok}");
    assert!(m.contains("/on_value: missing"), "{m}");
    let m = fault("{quota_exhausted: rate_limited}", "{quota_exhausted: slow_down}");
    assert!(m.contains("/x-response-error-check/codes/quota_exhausted: expected a public error code"), "{m}");
    let m = fault("{field: ok, on_value: false, message_field: error}", "{field: ok, on_value: false, mesage: e}");
    assert!(m.contains("/mesage: unknown key"), "{m}");
}

// --- offset and page numbers ---------------------------------------------------------------

/// Offset pages of `total` records, `size` a page (or the asked `maxResults`), with
/// `total` and `startAt` in the body; record 1 is hidden (the spec's filter drops it).
fn offset_api(total: usize, size: usize) -> Arc<Seam> {
    Seam::new(move |req| {
        let start = int_param(&req.url, "startAt").unwrap_or(0);
        let size = int_param(&req.url, "maxResults").unwrap_or(size);
        let end = (start + size).min(total);
        let mut page = items(start.min(end), end);
        for r in &mut page {
            let hidden = r["id"] == json!(1);
            r["hidden"] = json!(hidden);
        }
        (200, vec![], json!({"ok": true, "items": page, "startAt": start, "total": total}))
    })
}

#[tokio::test]
async fn offset_pages_advance_by_the_records_received_until_the_total() {
    let seam = offset_api(5, 2);
    let pages = all_pages(&connector(seam.clone()), "offset_items", json!({})).await;
    let pages = ok_pages(&pages);
    let starts: Vec<Option<usize>> = seam.urls().iter().map(|u| int_param(u, "startAt")).collect();
    assert_eq!(starts, [None, Some(2), Some(4)], "no request past the total");
    // The filter hid record 1, but the offset advanced by the two records the API sent.
    let ids: Vec<Value> = records(&pages).iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [json!(0), json!(2), json!(3), json!(4)]);
    let cursors: Vec<Option<Value>> = pages.iter().map(|p| p.next_page.as_ref().map(|n| n.cursor.clone())).collect();
    assert_eq!(cursors, [Some(json!(2)), Some(json!(4)), None]);
    assert_eq!(pages[0].next_page.as_ref().map(|n| n.param.as_str()), Some("startAt"));

    // A short page (the API capped maxResults) does not end the pages while total says more.
    let seam = Seam::new(|req| {
        let start = int_param(&req.url, "startAt").unwrap_or(0);
        let end = (start + 2).min(5);
        (200, vec![], json!({"items": items(start, end), "total": 5}))
    });
    let pages = all_pages(&connector(seam.clone()), "offset_items", json!({"startAt": 1, "maxResults": 50})).await;
    assert_eq!(records(&ok_pages(&pages)).len(), 4);
    let starts: Vec<Option<usize>> = seam.urls().iter().map(|u| int_param(u, "startAt")).collect();
    assert_eq!(starts, [Some(1), Some(3)]);

    // has_more: false ends them before the total.
    let seam = Seam::new(|req| {
        let start = int_param(&req.url, "startAt").unwrap_or(0);
        (200, vec![], json!({"items": items(start, start + 2), "total": 100, "more": start < 2}))
    });
    let pages = all_pages(&connector(seam.clone()), "offset_items", json!({})).await;
    assert_eq!(ok_pages(&pages).len(), 2);
    assert_eq!(seam.urls().len(), 2);
}

#[tokio::test]
async fn offset_pages_without_a_total_end_on_an_empty_page() {
    let seam = Seam::new(|req| {
        let start = int_param(&req.url, "offset").unwrap_or(0);
        (200, vec![], Value::Array(items(start.min(5), (start + 2).min(5))))
    });
    let pages = all_pages(&connector(seam.clone()), "plain_items", json!({})).await;
    let pages = ok_pages(&pages);
    assert_eq!(records(&pages).len(), 5);
    let starts: Vec<Option<usize>> = seam.urls().iter().map(|u| int_param(u, "offset")).collect();
    assert_eq!(starts, [None, Some(2), Some(4), Some(5)], "a short page is not the last without a limit");
    assert!(pages[3].data.as_array().is_some_and(Vec::is_empty));
}

#[tokio::test]
async fn page_numbers_count_up_and_a_page_shorter_than_the_limit_is_the_last() {
    // per_page defaults to 3 (the spec's default, which the API applies when it is not sent).
    let seam = Seam::new(|req| {
        let page = int_param(&req.url, "page").unwrap_or(1);
        let size = int_param(&req.url, "per_page").unwrap_or(3);
        let start = (page - 1) * size;
        (200, vec![], json!({"items": items(start.min(7), (start + size).min(7))}))
    });
    let pages = all_pages(&connector(seam.clone()), "page_items", json!({})).await;
    assert_eq!(records(&ok_pages(&pages)).len(), 7);
    let numbers: Vec<Option<usize>> = seam.urls().iter().map(|u| int_param(u, "page")).collect();
    assert_eq!(numbers, [None, Some(2), Some(3)], "7 records at 3 a page: the third page (1) is short");

    // Exactly full pages: the empty one after them ends the pages.
    let seam2 = Seam::new(|req| {
        let page = int_param(&req.url, "page").unwrap_or(1);
        let start = (page - 1) * 2;
        (200, vec![], json!({"items": items(start.min(4), (start + 2).min(4))}))
    });
    let pages = all_pages(&connector(seam2.clone()), "page_items", json!({"per_page": 2})).await;
    assert_eq!(records(&ok_pages(&pages)).len(), 4);
    assert_eq!(seam2.urls().len(), 3);
}

#[tokio::test]
async fn page_numbers_from_zero_stop_at_the_total() {
    let seam = Seam::new(|req| {
        let page = int_param(&req.url, "p").unwrap_or(0);
        let size = int_param(&req.url, "size").unwrap_or(2);
        let start = page * size;
        (200, vec![], json!({"items": items(start.min(6), (start + size).min(6)), "count": 6}))
    });
    let pages = all_pages(&connector(seam.clone()), "counted_items", json!({"size": 2})).await;
    assert_eq!(records(&ok_pages(&pages)).len(), 6);
    let numbers: Vec<Option<usize>> = seam.urls().iter().map(|u| int_param(u, "p")).collect();
    assert_eq!(numbers, [None, Some(1), Some(2)], "page 2 (from 0) reaches count 6: no fourth request");
}

#[test]
fn offset_and_page_styles_load_and_bad_ones_name_their_place() {
    let spec = parse_spec("paging.yaml", SPEC).unwrap_or_else(|e| panic!("{e}"));
    let pg = |e: &str| spec.operation(e, "list").and_then(|o| o.pagination.clone()).unwrap_or_else(|| panic!("{e}"));
    assert_eq!(pg("offset_items").style, PageStyle::Offset);
    assert_eq!(pg("offset_items").total.as_deref(), Some("total"));
    assert_eq!(pg("page_items").style, PageStyle::Page, "the reference spelling x-airbyte-pagination");
    assert_eq!(pg("page_items").limit.as_deref(), Some("per_page"));
    assert_eq!(pg("linked_items").style, PageStyle::Url);

    let fault = |from: &str, to: &str| {
        assert!(SPEC.contains(from), "{from}");
        parse_spec("paging.yaml", &SPEC.replace(from, to)).err().map(|e| e.message).unwrap_or_default()
    };
    let m = fault("{param: offset, style: offset}", "{param: offset, style: sideways}");
    assert!(m.contains("/paths/~1plain/get/x-pagination/style: unknown pagination style \"sideways\""), "{m}");
    let m = fault("{param: offset, style: offset}", "{param: start, style: offset}");
    assert!(m.contains("x-pagination/param: names \"start\", which is not a param"), "{m}");
    let m = fault(
        "{name: offset, in: query, schema: {type: integer}}",
        "{name: offset, in: query, schema: {type: boolean}}",
    );
    assert!(m.contains("an offset must be an integer"), "{m}");
    let m = fault("{param: offset, style: offset}", "{param: offset, style: offset, meta: next}");
    assert!(m.contains("x-pagination/meta: not used by style offset"), "{m}");
    let m = fault("{param: page, style: page, limit: per_page}", "{param: page, style: page, limit: size}");
    assert!(m.contains("x-airbyte-pagination/limit: names \"size\""), "{m}");
    let m = fault("total: count, limit: size}", "total: counted, limit: size}");
    assert!(m.contains("x-pagination/total: names \"counted\", which x-meta-extractor does not extract"), "{m}");
}

// --- next pages as URLs ----------------------------------------------------------------------

#[tokio::test]
async fn link_urls_are_followed_with_their_query_and_the_credential_added_once() {
    let seam = Seam::new(|req| {
        let q = query(&req.url);
        let at = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let (records, link) = match at("page").as_deref() {
            None => {
                (items(0, 2), Some("<https://api.example.com/v1/linked?page=2&per_page=2&api_key=stale>; rel=\"next\""))
            }
            Some("2") => (
                items(2, 4),
                Some("</v1/linked?page=3&per_page=2&q=a%20b>; rel=\"next\", </v1/linked?page=1>; rel=\"first\""),
            ),
            _ => (items(4, 5), None),
        };
        let headers = link.map(|l| vec![("link".to_string(), l.to_string())]).unwrap_or_default();
        (200, headers, Value::Array(records))
    });
    let c = connector(seam.clone());
    let pages = all_pages(&c, "linked_items", json!({"per_page": 2})).await;
    let pages = ok_pages(&pages);
    assert_eq!(records(&pages).len(), 5);
    let urls = seam.urls();
    assert_eq!(
        urls,
        [
            format!("https://api.example.com/v1/linked?per_page=2&api_key={KEY}"),
            format!("https://api.example.com/v1/linked?page=2&per_page=2&api_key={KEY}"),
            format!("https://api.example.com/v1/linked?page=3&per_page=2&q=a%20b&api_key={KEY}"),
        ],
        "the URL's own query is kept as sent, the stale key dropped, the credential added once"
    );
    assert!(urls.iter().all(|u| !u.contains("next_page_url")), "the cursor param is never sent: {urls:?}");
    assert_eq!(
        pages[0].next_page.as_ref().map(|n| (n.param.as_str(), n.cursor.clone())),
        Some(("next_page_url", json!("https://api.example.com/v1/linked?page=2&per_page=2&api_key=stale")))
    );
    // A caller can pass a page's URL back by hand, as an absolute path too.
    let res = c
        .execute("linked_items", "list", json!({"next_page_url": "/v1/linked?page=3"}), &ExecuteOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(res.data.as_array().map(Vec::len), Some(1));
    assert_eq!(seam.urls().last(), Some(&format!("https://api.example.com/v1/linked?page=3&api_key={KEY}")));
}

#[tokio::test]
async fn a_next_url_off_the_server_is_refused_and_nothing_is_sent_there() {
    for foreign in [
        "https://evil.example.net/v1/linked?page=2",
        "https://api.example.com.evil.example.net/v1/linked?page=2",
        "http://api.example.com/v1/linked?page=2",
        "https://api.example.com:8443/v1/linked?page=2",
        "https://user:pw@api.example.com/v1/linked?page=2",
        "//evil.example.net/v1/linked?page=2",
        // The right server, but another endpoint than the operation's: refused too.
        "https://api.example.com/v1/admin/keys?page=2",
        "/v1/things/secret?page=2",
        "/v1/linked/../admin?page=2",
        "/v1/linked/%2e%2e/admin?page=2",
        "/v2/linked?page=2",
    ] {
        // From the upstream: the first page is served, the second is refused before any request.
        let seam = Seam::new(move |req| {
            let next =
                (!req.url.contains("page=")).then(|| vec![("link".into(), format!("<{foreign}>; rel=\"next\""))]);
            (200, next.unwrap_or_default(), Value::Array(items(0, 2)))
        });
        let pages = all_pages(&connector(seam.clone()), "linked_items", json!({})).await;
        assert_eq!(pages.len(), 2, "{foreign}");
        let err = pages[1].as_ref().err().unwrap_or_else(|| panic!("{foreign}: must be refused"));
        assert_eq!(err.code, ErrorCode::Validation, "{foreign}: {err}");
        assert_eq!(err.details, Some(json!({"param": "next_page_url"})));
        assert!(!err.message.contains(KEY) && !err.message.contains("page=2"), "{}", err.message);
        assert_eq!(seam.urls(), [format!("https://api.example.com/v1/linked?api_key={KEY}")], "{foreign}");

        // From the caller: refused before any request.
        let seam = Seam::new(|_| (200, vec![], json!([])));
        let err = connector(seam.clone())
            .execute("linked_items", "list", json!({"next_page_url": foreign}), &ExecuteOptions::default())
            .await
            .err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::Validation), "{foreign}");
        assert!(seam.urls().is_empty(), "{foreign}: {:?}", seam.urls());
    }
}

#[tokio::test]
async fn body_urls_are_followed_until_the_api_gives_none() {
    let seam = Seam::new(|req| {
        let path = url::Url::parse(&req.url).map(|u| u.path().to_string()).unwrap_or_default();
        let body = match path.as_str() {
            "/v1/query" => json!({"done": false, "records": items(0, 2), "nextRecordsUrl": "/v1/query/01gD-2"}),
            "/v1/query/01gD-2" => json!({"done": false, "records": items(2, 4), "nextRecordsUrl": "/v1/query/01gD-4"}),
            _ => json!({"done": true, "records": items(4, 5)}),
        };
        (200, vec![], body)
    });
    let pages = all_pages(&connector(seam.clone()), "records", json!({"q": "SELECT Id FROM Account"})).await;
    assert_eq!(records(&ok_pages(&pages)).len(), 5);
    assert_eq!(
        seam.urls(),
        [
            format!("https://api.example.com/v1/query?q=SELECT+Id+FROM+Account&api_key={KEY}"),
            format!("https://api.example.com/v1/query/01gD-2?api_key={KEY}"),
            format!("https://api.example.com/v1/query/01gD-4?api_key={KEY}"),
        ]
    );
}

/// Zendesk's two ways of paging one list: by page number (the answer's `next_page`, null on the
/// last page) or, once `page[size]` is given, by cursor (`links.next` and `meta.has_more`, which
/// alone says the last page: its `links.next` may still hold a URL).
#[tokio::test]
async fn a_meta_list_takes_the_first_place_that_holds_the_next_url() {
    let seam = Seam::new(|req| {
        let q = query(&req.url);
        let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let base = "https://api.example.com/v1/tickets.json";
        let body = match (get("page[size]"), get("page[after]"), get("page")) {
            (Some(_), None, _) => json!({"tickets": items(0, 2), "meta": {"has_more": true, "after_cursor": "c2"},
                                         "links": {"next": format!("{base}?page%5Bsize%5D=2&page%5Bafter%5D=c2")}}),
            (Some(_), Some(_), _) => json!({"tickets": items(2, 3), "meta": {"has_more": false, "after_cursor": "c3"},
                                           "links": {"next": format!("{base}?page%5Bsize%5D=2&page%5Bafter%5D=c3")}}),
            (None, _, None) => {
                json!({"tickets": items(0, 2), "next_page": format!("{base}?page=2&per_page=2"), "count": 3})
            }
            (None, _, Some(_)) => json!({"tickets": items(2, 3), "next_page": null, "count": 3}),
        };
        (200, vec![], body)
    });
    let c = connector(seam.clone());
    let by_number = all_pages(&c, "tickets", json!({"per_page": 2})).await;
    assert_eq!(records(&ok_pages(&by_number)), items(0, 3));
    let by_cursor = all_pages(&c, "tickets", json!({"page[size]": 2})).await;
    assert_eq!(records(&ok_pages(&by_cursor)), items(0, 3));
    let urls: Vec<Vec<(String, String)>> = seam.urls().iter().map(|u| query(u)).collect();
    let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
    assert_eq!(urls.len(), 4, "two pages each way, and nothing after has_more false: {urls:?}");
    assert!(urls[1].contains(&pair("page", "2")), "{urls:?}");
    assert!(urls[3].contains(&pair("page[after]", "c2")) && urls[3].contains(&pair("page[size]", "2")), "{urls:?}");

    let fault = parse_spec("paging.yaml", &SPEC.replace("[$.next_page, $.links.next]", "[]"));
    let m = fault.err().map(|e| e.message).unwrap_or_default();
    assert!(m.contains("x-meta-extractor/next_page: an empty list"), "{m}");
    let fault = parse_spec("paging.yaml", &SPEC.replace("[$.next_page, $.links.next]", "[$.next_page, 7]"));
    let m = fault.err().map(|e| e.message).unwrap_or_default();
    assert!(m.contains("x-meta-extractor/next_page/1: expected a JSONPath"), "{m}");
}

/// Google's lists may answer a page without records that still names a next one (AIP-158):
/// with `empty_pages: follow` it is not the last; by default an empty page ends the list.
#[tokio::test]
async fn an_empty_page_with_a_next_token_is_followed_when_the_spec_says_so() {
    let seam = Seam::new(|req| {
        let body = match query(&req.url).into_iter().find(|(k, _)| k == "pageToken").map(|(_, v)| v).as_deref() {
            None => json!({"files": items(0, 2), "nextPageToken": "t2"}),
            Some("t2") => json!({"files": [], "nextPageToken": "t3"}),
            _ => json!({"files": items(2, 3)}),
        };
        (200, vec![], body)
    });
    let pages = all_pages(&connector(seam.clone()), "files", json!({})).await;
    assert_eq!(pages.len(), 3);
    assert_eq!(records(&ok_pages(&pages)), items(0, 3));

    let spec =
        parse_spec("paging.yaml", &SPEC.replace(", empty_pages: follow}", "}")).unwrap_or_else(|e| panic!("{e}"));
    let options = ConnectorOptions { http: Some(seam.clone()), ..Default::default() };
    let stops =
        Connector::new(Arc::new(spec), json!({"api_key": KEY}), json!({}), options).unwrap_or_else(|e| panic!("{e}"));
    let pages = all_pages(&stops, "files", json!({})).await;
    assert_eq!(records(&ok_pages(&pages)), items(0, 2), "by default the empty page is the last");

    let fault = parse_spec("paging.yaml", &SPEC.replace("empty_pages: follow", "empty_pages: always"));
    let m = fault.err().map(|e| e.message).unwrap_or_default();
    assert!(m.contains("x-pagination/empty_pages: unknown value \"always\" (stop, the default, or follow)"), "{m}");
}

/// PayPal's next page is the href of the HATEOAS link whose rel is next: a JSONPath filter.
#[tokio::test]
async fn a_next_url_picked_from_links_by_a_filter() {
    let seam = Seam::new(|req| {
        let next = |token: &str| json!({"rel": "next", "method": "GET", "href": format!("https://api.example.com/v1/disputes?next_page_token={token}")});
        let me = json!({"rel": "self", "method": "GET", "href": "https://api.example.com/v1/disputes"});
        let body = match query(&req.url).into_iter().find(|(k, _)| k == "next_page_token").map(|(_, v)| v).as_deref() {
            None => json!({"items": items(0, 2), "links": [me, next("n2")]}),
            _ => json!({"items": items(2, 3), "links": [me]}),
        };
        (200, vec![], body)
    });
    let pages = all_pages(&connector(seam.clone()), "disputes", json!({})).await;
    assert_eq!(records(&ok_pages(&pages)), items(0, 3));
    assert_eq!(seam.urls().len(), 2);
}

/// Not paging, but the same seam: an `allowReserved` query value (LinkedIn's Rest.li) reaches
/// the wire with its `( ) , :` and its encoded URNs as they are; other values are form-encoded.
#[tokio::test]
async fn a_reserved_query_value_goes_out_as_it_is() {
    let seam = Seam::new(|_| (200, vec![], json!({"elements": []})));
    let params = json!({"dateRange": "(start:(year:2024,month:1,day:1)),List(urn%3Ali%3Ax%3A1)", "q": "(a:b)"});
    let done = connector(seam.clone()).execute("analytics", "list", params, &ExecuteOptions::default()).await;
    assert!(done.is_ok(), "{done:?}");
    let url = seam.urls().first().cloned().unwrap_or_default();
    assert!(url.contains("dateRange=(start:(year:2024,month:1,day:1)),List(urn%3Ali%3Ax%3A1)&q=%28a%3Ab%29"), "{url}");
}

/// Amazon SP-API's nextToken must come alone: the next pages carry no other query param.
#[tokio::test]
async fn a_cursor_that_must_go_alone_goes_alone() {
    let seam = Seam::new(|req| {
        let body = match query(&req.url).into_iter().find(|(k, _)| k == "nextToken").map(|(_, v)| v).as_deref() {
            None => json!({"reports": items(0, 2), "nextToken": "t2"}),
            Some("t2") => json!({"reports": items(2, 4), "nextToken": "t4"}),
            _ => json!({"reports": items(4, 5)}),
        };
        (200, vec![], body)
    });
    let pages = all_pages(&connector(seam.clone()), "reports", json!({"reportTypes": "GET_X", "pageSize": 2})).await;
    assert_eq!(records(&ok_pages(&pages)), items(0, 5));
    let sent: Vec<Vec<(String, String)>> = seam.urls().iter().map(|u| query(u)).collect();
    let names =
        |q: &Vec<(String, String)>| q.iter().map(|(k, _)| k.clone()).filter(|k| k != "api_key").collect::<Vec<_>>();
    assert_eq!(names(&sent[0]), ["reportTypes", "pageSize"]);
    assert_eq!(names(&sent[1]), ["nextToken"]);
    assert_eq!(names(&sent[2]), ["nextToken"]);
    let fault = parse_spec("paging.yaml", &SPEC.replace("cursor_alone: true", "cursor_alone: yes please"));
    let m = fault.err().map(|e| e.message).unwrap_or_default();
    assert!(m.contains("x-pagination/cursor_alone: expected true or false"), "{m}");
}

#[test]
fn url_style_adds_its_param_and_bad_ones_name_their_place() {
    let spec = parse_spec("paging.yaml", SPEC).unwrap_or_else(|e| panic!("{e}"));
    let linked = spec.operation("linked_items", "list").unwrap_or_else(|| panic!("no linked_items"));
    let p = linked.param("next_page_url").unwrap_or_else(|| panic!("the URL param is added"));
    assert!(!p.required && p.description.as_deref().is_some_and(|d| d.contains("meta.next")), "{p:?}");
    let records = spec.operation("records", "list").unwrap_or_else(|| panic!("no records"));
    assert!(records.param("next_page_url").is_none(), "a declared param carries it instead");

    let fault = |from: &str, to: &str| {
        assert!(SPEC.contains(from), "{from}");
        parse_spec("paging.yaml", &SPEC.replace(from, to)).err().map(|e| e.message).unwrap_or_default()
    };
    let m = fault("{style: url, meta: next}", "{style: url}");
    assert!(m.contains("style url needs `meta`"), "{m}");
    let m = fault("{style: url, meta: next}", "{style: url, meta: nxt}");
    assert!(m.contains("x-pagination/meta: names \"nxt\", which x-meta-extractor does not extract"), "{m}");
    let m = fault("{style: url, meta: next}", "{style: url, meta: next, param: per_page}");
    assert!(m.contains("must be a string query param"), "{m}");
}

// --- against the generic fake ----------------------------------------------------------------

const FAKE_SPEC: &str = r##"
openapi: 3.1.0
info:
  title: Linky API
  version: "1"
  x-connector-name: linky
  x-connector-definition-id: 13131313-0000-4000-8000-000000000014
servers:
  - url: https://api.linky.example.com
components:
  securitySchemes:
    key:
      type: apiKey
      in: query
      name: key
      x-auth-config: {required: [api_key], properties: {api_key: {type: string}}}
  schemas:
    Item: {type: object, properties: {id: {type: string}, name: {type: string}}}
paths:
  /items:
    get:
      x-entity: items
      x-action: list
      x-meta-extractor: {next: "@link.next"}
      x-pagination: {style: url, meta: next}
      parameters: [{name: per_page, in: query, schema: {type: integer}}]
      responses:
        "200": {description: ok, content: {application/json: {schema: {type: array, items: {$ref: "#/components/schemas/Item"}}}}}
  /query:
    get:
      x-entity: records
      x-action: list
      x-record-extractor: $.records
      x-meta-extractor: {nextRecordsUrl: $.nextRecordsUrl}
      x-pagination: {style: url, meta: nextRecordsUrl}
      parameters: [{name: q, in: query, required: true, schema: {type: string}}]
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  records: {type: array, items: {$ref: "#/components/schemas/Item"}}
                  nextRecordsUrl: {type: [string, "null"]}
"##;

/// URL cursors over real sockets: the generic fake plays a spec with both URL forms; a URL
/// naming another server (a second fake) is refused and that server sees nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_cursors_against_the_generic_fake() {
    let dir = std::env::temp_dir().join(format!("switchboard-paging-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(dir.join("linky.yaml"), FAKE_SPEC).unwrap_or_else(|e| panic!("{e}"));
    // This binary's generic fake plays only this spec (the specs load once, on first use).
    std::env::set_var("FAKE_UPSTREAM_SPECS", &dir);
    let fake = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let elsewhere = FakeUpstream::start().await.unwrap_or_else(|e| panic!("{e}"));
    let spec = Arc::new(parse_spec("linky.yaml", FAKE_SPEC).unwrap_or_else(|e| panic!("{e}")));
    let c = Connector::new(
        spec,
        json!({"api_key": KEY}),
        json!({"base_url": fake.base_url("linky")}),
        ConnectorOptions { timeout: Duration::from_secs(10), ..Default::default() },
    )
    .unwrap_or_else(|e| panic!("{e}"));

    for (entity, params) in [("items", json!({"per_page": 2})), ("records", json!({"q": "x"}))] {
        fake.clear_requests();
        let pages = all_pages(&c, entity, params).await;
        let pages = ok_pages(&pages);
        assert_eq!((pages.len(), records(&pages).len()), (3, 5), "{entity}");
        let sent = fake.requests_for("linky");
        let cursors: Vec<Option<String>> =
            sent.iter().map(|r| r.query.iter().find(|(k, _)| k == "_cursor").map(|(_, v)| v.clone())).collect();
        assert_eq!(cursors, [None, Some("c2".to_string()), Some("c4".to_string())], "{entity}");
        for r in &sent {
            let keys: Vec<&str> = r.query.iter().filter(|(k, _)| k == "key").map(|(_, v)| v.as_str()).collect();
            assert_eq!(keys, [KEY], "{entity}: the credential once per request: {}", r.query_string);
        }
    }
    // Absolute (Link) and absolute-path (body) URLs both came back as cursors.
    let first = c.execute("items", "list", json!({"per_page": 2}), &ExecuteOptions::default()).await;
    let next = first.ok().and_then(|r| r.next_page).map(|n| n.cursor);
    assert!(next.as_ref().and_then(Value::as_str).is_some_and(|u| u.starts_with("http://")), "{next:?}");
    let first = c.execute("records", "list", json!({"q": "x"}), &ExecuteOptions::default()).await;
    let next = first.ok().and_then(|r| r.next_page).map(|n| n.cursor);
    assert!(next.as_ref().and_then(Value::as_str).is_some_and(|u| u.starts_with("/linky/query?")), "{next:?}");

    fake.clear_requests();
    let foreign = format!("{}/items?_cursor=c2", elsewhere.base_url("linky"));
    let err = c.execute("items", "list", json!({"next_page_url": foreign}), &ExecuteOptions::default()).await.err();
    assert_eq!(err.map(|e| e.code), Some(ErrorCode::Validation));
    assert!(elsewhere.requests().is_empty(), "the other server got {:?}", elsewhere.requests().len());
    assert!(fake.requests().is_empty());
    std::fs::remove_dir_all(&dir).ok();
}

// --- fixes the newer specs needed -----------------------------------------------------------

/// A REST answer may carry a field named `errors` on success (Sentry events list their
/// processing problems there, Salesforce create results an empty list): only a GraphQL answer
/// fails by its `errors` array.
#[tokio::test]
async fn a_rest_success_with_an_errors_field_is_a_success() {
    let seam = Seam::new(|_| (200, vec![], json!({"ok": true, "id": "evt_1", "errors": [{"type": "js_no_source"}]})));
    let c = connector(seam.clone());
    let res = c.execute("things", "get", json!({"id": "evt_1"}), &ExecuteOptions::default()).await;
    let res = res.unwrap_or_else(|e| panic!("a REST answer with `errors` failed: {e}"));
    assert_eq!(res.data["errors"][0]["type"], "js_no_source");
    assert_eq!(seam.urls().len(), 1);
}

const TENANT_SPEC: &str = r##"
openapi: 3.1.0
info: {title: Tenant API, version: "1", x-connector-name: tenant, x-connector-definition-id: 14141414-0000-4000-8000-000000000014}
servers:
  - url: https://{subdomain}.example.com/api
    variables: {subdomain: {description: The tenant.}}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        authorizationCode:
          authorizationUrl: https://{subdomain}.example.com/oauth/authorize
          tokenUrl: https://{subdomain}.example.com/oauth/tokens
          scopes: {}
      x-auth-config:
        required: [client_id, client_secret, refresh_token]
        properties:
          client_id: {type: string}
          client_secret: {type: string}
          refresh_token: {type: string}
          access_token: {type: string}
paths:
  /things:
    get:
      x-entity: things
      x-action: list
      x-meta-extractor: {next: "@link.next"}
      x-pagination: {style: url, meta: next}
      responses: {"200": {description: ok}}
"##;

/// A tenant connector (`TENANT_SPEC`) whose handle holds a refresh token and no access token, so
/// its first call refreshes first; `allowed` restricts its egress when given. The seam answers
/// token requests with a fresh token and others with one record.
fn tenant(config: Value, allowed: Option<&[&str]>) -> (Connector, Arc<Seam>) {
    let seam = Seam::new(|req| {
        if req.url.ends_with("/oauth/tokens") {
            (200, vec![], json!({"access_token": "at-new", "token_type": "bearer", "expires_in": 3600}))
        } else {
            (200, vec![], json!([{"id": 1}]))
        }
    });
    let spec = Arc::new(parse_spec("tenant.yaml", TENANT_SPEC).unwrap_or_else(|e| panic!("{e}")));
    let creds = json!({"client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"});
    let options = ConnectorOptions {
        http: Some(seam.clone()),
        allowed_hosts: allowed.map(|hosts| hosts.iter().map(|h| h.to_string()).collect()),
        ..Default::default()
    };
    let c = Connector::new(spec, creds, config, options).unwrap_or_else(|e| panic!("{e}"));
    (c, seam)
}

/// A token URL on the tenant's own host (Zendesk, Shopify) is filled from the connector's
/// config like the server URL, so a refresh reaches the tenant's token endpoint.
#[tokio::test]
async fn a_token_url_takes_the_servers_variables_from_config() {
    let (c, seam) = tenant(json!({"subdomain": "acme"}), None);
    let res = c.execute("things", "list", json!({}), &ExecuteOptions::default()).await;
    res.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        seam.urls(),
        ["https://acme.example.com/oauth/tokens", "https://acme.example.com/api/things"],
        "the refresh went to the tenant's token URL, then the call"
    );
}

/// A request refused for where it goes is refused before any token is obtained: no refresh
/// request leaves for a call that cannot be sent.
#[tokio::test]
async fn a_refused_url_sets_off_no_token_refresh() {
    let opts = ExecuteOptions::default();
    // The token host is allowed, the base URL's host is not.
    let config = json!({"subdomain": "acme", "base_url": "https://elsewhere.example.org/api"});
    let (c, seam) = tenant(config, Some(&["acme.example.com"]));
    let e = c.execute("things", "list", json!({}), &opts).await.err().map(|e| e.code);
    assert_eq!(e, Some(ErrorCode::Forbidden));
    assert_eq!(seam.urls(), Vec::<String>::new(), "nothing was sent, no refresh either");

    // A next page off the connector's server is refused before any refresh too.
    let (c, seam) = tenant(json!({"subdomain": "acme"}), Some(&["acme.example.com"]));
    let foreign = json!({"next_page_url": "https://evil.example.net/api/things?page=2"});
    let e = c.execute("things", "list", foreign, &opts).await.err().map(|e| e.code);
    assert_eq!(e, Some(ErrorCode::Validation));
    assert_eq!(seam.urls(), Vec::<String>::new());

    // An allowed one refreshes first, then calls, once each.
    c.execute("things", "list", json!({}), &opts).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(seam.urls(), ["https://acme.example.com/oauth/tokens", "https://acme.example.com/api/things"]);
}
