"""The context store from Python: a real engine syncs the fake Stripe's customers, then the SDK
searches them (``context_store_search`` with the reference's ``{query: {filter, sort}, limit,
cursor, fields}``) and queries them in SQL (``context_store_sql_query``) through ``execute``, and
an MCP client (the official ``mcp`` SDK) lists and calls the context store tools of ``/mcp``.
Local mode refuses both actions with a typed error naming hosted mode, before any request."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from typing import Any

import pytest

import switchboard
import switchboard.sync
from switchboard import HostedExecutor, SearchPage, Workspace, connect
from switchboard.connectors import StripeConnector
from switchboard.connectors._records_stripe import StripeCustomer

from .conftest import STRIPE_KEY, Engine, Fake
from .test_mcp import McpEngine, error, http_session, ok

#: The fake's customers with ``delinquent: true`` (every ninth), by ``created``.
DELINQUENT = ["cus_0009", "cus_0018"]


def api(engine: Engine, method: str, path: str, body: Any = None) -> Any:
    """One call to the engine's HTTP API with a fresh application token."""

    def send(method: str, url: str, body: Any, token: str | None) -> Any:
        headers = {"content-type": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read().decode())

    creds = {"client_id": engine.client_id, "client_secret": engine.client_secret}
    token = send("POST", f"{engine.url}/api/v1/applications/token", creds, None)["access_token"]
    return send(method, f"{engine.url}{path}", body, token)


async def synced_stripe(engine: Engine, fake: Fake, workspace_name: str) -> str:
    """A Stripe connector whose customers are synced (status ``succeeded``)."""
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    cid = await ws.create_connector(
        connector_type="stripe", credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")}
    )
    base = f"/api/v1/integrations/connectors/{cid}/context-store"
    started = api(engine, "POST", f"{base}/sync", {"entities": ["customers"]})
    assert [(s["entity"], s["status"]) for s in started["entities"]] == [("customers", "started")]
    deadline = time.monotonic() + 120
    while True:
        status = {s["entity"]: s for s in api(engine, "GET", f"{base}/status")["entities"]}
        if status["customers"]["status"] != "running":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.1)
    customers = status["customers"]
    assert customers["status"] == "succeeded", customers
    assert customers["record_count"] == 25 and customers["records_synced"] == 25 and customers["pages"] >= 1
    return cid


async def test_hosted_search_and_sql_through_execute(engine: Engine, fake: Fake, workspace_name: str) -> None:
    cid = await synced_stripe(engine, fake, workspace_name)
    fake.reset()  # the searches below must not reach the provider
    ex = HostedExecutor(connector_id=cid, **engine.client())
    query = {"filter": {"eq": {"delinquent": True}}, "sort": [{"created": "asc"}]}
    res = await ex.execute("customers", "context_store_search", {"query": query, "fields": [["id"], ["name"]]})
    # The reference's answer: data is the search's {data, meta} envelope.
    records = res.data["data"]
    assert [(r["id"], r["name"]) for r in records] == [("cus_0009", "Sophia Moore"), ("cus_0018", "James Lee")]
    assert all(set(r) == {"id", "name"} for r in records)
    assert res.data["meta"]["has_more"] is False and isinstance(res.data["meta"]["took_ms"], int)

    # Paging with the answer's cursor, one record at a time.
    first = await ex.execute("customers", "context_store_search", {"query": query, "limit": 1})
    assert [r["id"] for r in first.data["data"]] == DELINQUENT[:1]
    cursor = first.data["meta"]["cursor"]
    assert first.data["meta"]["has_more"] is True and isinstance(cursor, str) and cursor
    second = await ex.execute("customers", "context_store_search", {"query": query, "limit": 1, "cursor": cursor})
    assert [r["id"] for r in second.data["data"]] == DELINQUENT[1:]
    assert second.data["meta"]["has_more"] is False

    sql = "SELECT record->>'currency' AS currency, count(*) AS n FROM customers GROUP BY 1"
    rows = await ex.execute("customers", "context_store_sql_query", {"sql": sql, "limit": 10})
    assert rows.data["data"] == [{"currency": "usd", "n": 25}]
    assert fake.requests("stripe") == []

    # The typed connector, found by type: the same actions through its execute.
    stripe = connect("stripe", workspace_name=workspace_name, **engine.client())
    assert isinstance(stripe, StripeConnector)
    typed = await stripe.execute("customers", "context_store_search", {"query": {"filter": {"eq": {"id": "cus_0003"}}}})
    assert [r["name"] for r in typed.data["data"]] == ["Ava Garcia"]

    # A bad filter is a validation error whose message names the problem.
    with pytest.raises(switchboard.ConnectorValidationError) as bad:
        await ex.execute("customers", "context_store_search", {"query": {"filter": {"between": {"created": 1}}}})
    assert "between" in str(bad.value)
    await ex.close()


async def test_local_mode_is_hosted_only(fake: Fake) -> None:
    stripe = StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")})
    for action, params in [
        ("context_store_search", {"query": {"filter": {"eq": {"id": "cus_0001"}}}}),
        ("context_store_sql_query", {"sql": "SELECT 1"}),
    ]:
        with pytest.raises(switchboard.ConfigurationError) as e:
            await stripe.execute("customers", action, params)
        assert e.value.code == "configuration"
        assert action in str(e.value) and "hosted mode" in str(e.value)
    assert fake.requests("stripe") == []


async def test_mcp_tools_of_a_synced_entity(engine: Engine, fake: Fake, workspace_name: str) -> None:
    await synced_stripe(engine, fake, workspace_name)
    fake.reset()  # the tool calls below must not reach the provider
    token = api(engine, "POST", "/api/v1/embedded/scoped-token", {"workspace_name": workspace_name})["token"]
    e = McpEngine(engine.url, engine.client_id, engine.client_secret, "", "")

    # Operation style: one search tool per synced entity, with the search's schema.
    async with http_session(e, token, "?tools=operation") as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        name = "stripe_customers_context_store_search"
        assert name in tools, sorted(tools)
        assert not any(n.endswith("_context_store_search") and n != name for n in tools), sorted(tools)
        props = tools[name].input_schema["properties"]
        assert set(props) == {"query", "limit", "cursor", "fields"}
        assert "email" in props["query"]["description"]  # the entity's record fields are named
        args = {"query": {"filter": {"eq": {"delinquent": True}}, "sort": [{"created": "asc"}]}, "limit": 5}
        res = ok(await session.call_tool(name, args))
        # The tool answers {data, meta} of the execute result, whose data is the search's answer.
        assert [r["id"] for r in res["data"]["data"]] == DELINQUENT
        assert res["data"]["meta"]["has_more"] is False
        bad = error(await session.call_tool(name, {"query": {"filter": {"eq": {"no_such_field": 1}}}}))
        assert bad["code"] == "validation"

    # Connector style: the connector tool's action enum gains both actions.
    async with http_session(e, token) as session:
        tools = {t.name: t for t in (await session.list_tools()).tools}
        actions = tools["stripe_execute"].input_schema["properties"]["action"]["enum"]
        assert "context_store_search" in actions and "context_store_sql_query" in actions
        assert "synced entities customers" in (tools["stripe_execute"].description or "")
        sql = {"sql": "SELECT count(*) AS n FROM customers"}
        call = {"entity": "customers", "action": "context_store_sql_query", "params": sql}
        res = ok(await session.call_tool("stripe_execute", call))
        assert res["data"]["data"] == [{"n": 25}]
    assert fake.requests("stripe") == []


async def wait_synced(ex: Any, entity: str) -> switchboard.EntityStatus:
    """Polls ``context_store_status()`` until ``entity``'s sync is no longer running."""
    deadline = time.monotonic() + 120
    while True:
        status = {s["entity"]: s for s in (await ex.context_store_status())["entities"]}
        if entity in status and status[entity]["status"] != "running":
            # The engine's answer has the shape of the TypedDict rendered from core's struct:
            # every key it always writes, and no key the type does not know.
            keys = set(status[entity])
            assert switchboard.EntityStatus.__required_keys__ <= keys, keys
            assert keys <= switchboard.EntityStatus.__required_keys__ | switchboard.EntityStatus.__optional_keys__
            return status[entity]
        assert time.monotonic() < deadline, status
        await asyncio.sleep(0.1)


async def test_sync_status_and_typed_search_through_the_sdk(engine: Engine, fake: Fake, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    await ws.create_connector(
        connector_type="stripe", credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")}
    )
    stripe = connect("stripe", workspace_name=workspace_name, **engine.client())
    assert isinstance(stripe, StripeConnector)
    assert (await stripe.context_store_status())["entities"] == []  # nothing synced yet

    started = await stripe.context_store_sync(["customers"])
    assert [(s["entity"], s["status"]) for s in started["entities"]] == [("customers", "started")]
    assert started["entities"][0]["generation"] >= 1
    customers = await wait_synced(stripe, "customers")
    assert customers["status"] == "succeeded", customers
    assert customers["record_count"] == 25 and customers["records_synced"] == 25 and customers["last_error"] is None
    assert "every_seconds" not in customers  # not scheduled
    listed = len(fake.requests("stripe"))
    assert listed >= 1  # the sync read the provider; the searches below do not

    # The typed search: a page of typed records and its meta.
    query = {"filter": {"eq": {"delinquent": True}}, "sort": [{"created": "asc"}]}
    res = await stripe.customers.context_store_search(query=query)
    assert isinstance(res.data, SearchPage)
    assert all(isinstance(r, StripeCustomer) for r in res.data.data)
    assert [(r.id, r.name, r.delinquent) for r in res.data.data] == [
        ("cus_0009", "Sophia Moore", True),
        ("cus_0018", "James Lee", True),
    ]
    assert res.data.meta.has_more is False and res.data.meta.cursor is None
    assert isinstance(res.data.meta.took_ms, int)
    # Paging with the meta's cursor, and projected fields.
    first = await stripe.customers.context_store_search(query=query, limit=1, fields=[["id"], ["email"]])
    assert [dict(r) for r in first.data.data] == [{"id": "cus_0009", "email": first.data.data[0].email}]
    assert first.data.meta.has_more is True and first.data.meta.cursor
    second = await stripe.customers.context_store_search(query=query, limit=1, cursor=first.data.meta.cursor)
    assert [r.id for r in second.data.data] == ["cus_0018"] and second.data.meta.has_more is False
    # No query: every record, in id order.
    every = await stripe.customers.context_store_search(limit=1000)
    assert len(every.data.data) == 25 and every.data.data[0].id == "cus_0001"
    assert len(fake.requests("stripe")) == listed

    # A schedule through the SDK, shown by the status; a bad period is the engine's 422.
    again = await stripe.context_store_sync(["customers"], every_seconds=3600)
    assert [s["entity"] for s in again["entities"]] == ["customers"]
    scheduled = await wait_synced(stripe, "customers")
    assert scheduled["every_seconds"] == 3600 and scheduled["next_run_at"], scheduled
    with pytest.raises(switchboard.ConnectorValidationError) as bad:
        await stripe.context_store_sync(["customers"], every_seconds=5)
    assert bad.value.details["reason"] == "invalid_schedule", bad.value.details
    with pytest.raises(switchboard.ConnectorValidationError) as unknown:
        await stripe.context_store_sync(["no_such_entity"])
    assert unknown.value.details["reason"] == "unknown_entity", unknown.value.details

    # Unscheduled, in full mode, with a reconciliation period the status keeps.
    await stripe.context_store_sync(["customers"], unschedule=True, mode="full", full_every_seconds=600)
    unscheduled = await wait_synced(stripe, "customers")
    assert "every_seconds" not in unscheduled and "next_run_at" not in unscheduled, unscheduled
    assert (unscheduled["mode"], unscheduled["full_every_seconds"]) == ("full", 600), unscheduled
    # Stripe's customers have no updated-since param: the engine refuses an incremental sync.
    with pytest.raises(switchboard.ConnectorValidationError) as not_incremental:
        await stripe.context_store_sync(["customers"], mode="incremental")
    assert not_incremental.value.details["reason"] == "not_incremental", not_incremental.value.details
    with pytest.raises(switchboard.ConnectorValidationError) as both:
        await stripe.context_store_sync(["customers"], every_seconds=3600, unschedule=True)
    assert both.value.details["reason"] == "invalid_schedule", both.value.details

    # The blocking twins: the same calls without await.
    blocking = switchboard.sync.connect("stripe", workspace_name=workspace_name, **engine.client())
    status = blocking.context_store_status()
    assert [(s["entity"], s["status"]) for s in status["entities"]] == [("customers", "succeeded")]
    page = blocking.customers.context_store_search(query={"filter": {"eq": {"id": "cus_0003"}}})
    assert [r.name for r in page.data.data] == ["Ava Garcia"]
    blocking.close()
    await stripe.close()


async def test_local_sync_status_and_typed_search_are_hosted_only(fake: Fake) -> None:
    stripe = StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")})
    calls: list[tuple[str, Any]] = [
        ("context_store_sync", stripe.context_store_sync(["customers"], every_seconds=3600)),
        ("context_store_status", stripe.context_store_status()),
        ("context_store_search", stripe.customers.context_store_search(query={})),
    ]
    for action, call in calls:
        with pytest.raises(switchboard.ConfigurationError) as e:
            await call
        assert e.value.code == "configuration"
        assert e.value.details == {"reason": "hosted_only", "action": action}
        assert "hosted mode" in str(e.value)
    assert fake.requests("stripe") == []
