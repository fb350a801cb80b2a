"""A typed usage example of the package, checked by pyright (strict) in scripts/test-python.sh.

Not run by pytest: it only has to type-check. ``test_typing.py`` also checks that pyright
rejects misuse (unknown entities, actions and params, missing required params).
"""

from __future__ import annotations

from typing import Any

import switchboard
import switchboard.sync
from switchboard import ExecutionConfig, ExecutionResult, HostedExecutor, Workspace, connect
from switchboard.connectors import GithubConnector, GongConnector, StripeConnector


async def save_tokens(update: dict[str, Any]) -> None:
    """An async ``on_token_refresh`` callback."""
    print(update["refresh_token"])


async def local_mode() -> list[int]:
    gh = GithubConnector(
        credentials={"personal_access_token": "ghp_..."},
        config={"base_url": "http://127.0.0.1:8900/github"},
        on_token_refresh=save_tokens,
    )
    res = await gh.issues.list(owner="octo", repo="hello", per_page=50, states=["OPEN"])
    numbers: list[int] = [issue.number or 0 for issue in res.data]
    cursor: object = res.meta.get("end_cursor")
    print(cursor)
    await gh.execute("issues", "list", {"owner": "octo", "repo": "hello"})
    await gh.execute(ExecutionConfig(entity="issues", action="list", params={"owner": "octo", "repo": "hello"}))
    async for page in gh.paginate("issues", "list", {"owner": "octo", "repo": "hello"}):
        numbers.extend(int(i["number"]) for i in page.data)
    health: ExecutionResult[Any] = await gh.check()
    print(health.success, health.data["status"])

    stripe = StripeConnector(credentials={"api_key": "sk_..."})
    customer = await stripe.customers.create(email="a@example.com", metadata={"plan": "pro"})
    print(customer.data["id"])
    return numbers


async def hosted_mode() -> None:
    async with Workspace(client_id="id", client_secret="secret", workspace_name="acme") as ws:
        cid: str = await ws.create_connector(
            connector_type="github",
            name="acme-gh",
            credentials={"personal_access_token": "..."},
            replication_config={"repositories": ["octo/hello"]},
        )
        for c in await ws.list_connectors():
            print(c.id, c.name, c.connector_type)
        ex: HostedExecutor = await ws.get_connector(connector_id=cid)
        await ex.execute("issues", "list", params={"owner": "octo", "repo": "hello"})
        await ws.delete_connector(cid)

    ex = HostedExecutor(client_id="id", client_secret="secret", workspace_name="acme", connector_definition_id="github")
    await ex.check()

    # The context store: sync and status on the connector, a typed search per syncable entity.
    stripe = connect("stripe", workspace_name="acme")
    started: switchboard.SyncStarted = await stripe.context_store_sync(["customers"], every_seconds=3600)
    print(started["entities"][0]["generation"])
    status: switchboard.StoreStatus = await stripe.context_store_status()
    print(status["entities"][0]["record_count"])
    page = await stripe.customers.context_store_search(query={"filter": {"eq": {"delinquent": True}}}, limit=5)
    emails: list[str | None] = [c.email for c in page.data.data]
    cursor: str | None = page.data.meta.cursor
    await stripe.customers.context_store_search(fields=[["id"], ["email"]], cursor=cursor)
    print(emails, switchboard.sync.connect("stripe").context_store_status()["entities"])
    await ex.close()

    gh: GithubConnector = connect("github", workspace_name="acme")
    await gh.pull_requests.list(owner="octo", repo="hello")
    other: switchboard.Connector = connect("some-" + "slug", external_user_id="acme")
    await other.execute("things", "list")

    # The reference's hosted typed connector, records with typed snake_case attributes.
    gong = GongConnector(external_user_id="acme", airbyte_client_id="id", airbyte_client_secret="secret")
    users = await gong.users.list()
    first: str | None = users.data[0].first_name
    active: bool | None = users.data[0].active
    print(first, active, users.meta.pagination.cursor, gong.connector_name, gong.connector_version)
    calls = await gong.calls.list(from_date_time="2025-01-01T00:00:00Z")
    print(len(calls.data), dict(calls.data[0]) if calls.data else {})
    await gong.close()


def sync_mode() -> None:
    gh = switchboard.sync.GithubConnector(credentials={"personal_access_token": "..."})
    res = gh.issues.list(owner="octo", repo="hello")
    print([issue.title for issue in res.data])
    for page in gh.paginate("issues", "list", {"owner": "octo", "repo": "hello"}):
        print(page.meta)
    hosted: switchboard.sync.GithubConnector = switchboard.sync.connect("github", workspace_name="acme")
    print(hosted.issues.get(owner="octo", repo="hello", number=1).data)


@GithubConnector.describe
async def github_tool(entity: str, action: str, params: dict[str, Any]) -> str:
    """A tool function whose docstring becomes the connector's description."""
    gh = connect("github", workspace_name="acme")
    try:
        return (await gh.execute(entity, action, params)).to_tool_output(max_chars=8000)
    except switchboard.RateLimitError as e:
        return f"rate limited, retry in {e.retry_after} s"
    except switchboard.SwitchboardError as e:
        return f"{e.code}: {e.message} (status {e.status_code}, request {e.request_id})"


def tool_schemas() -> list[dict[str, Any]]:
    return [GithubConnector.tool_schema(format="anthropic"), *StripeConnector.operation_tools("mcp")]
