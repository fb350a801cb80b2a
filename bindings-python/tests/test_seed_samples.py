"""Every code sample and curl call of the reference product's documents (``shared/seeds``), run
against a real ``switchboard serve`` and the fake upstreams.

Each test makes the sample's calls with the sample's arguments and spellings. What differs from
the sample, and only that: the import line (``airbyte_agent_github`` / ``airbyte_ai_gong`` /
``airbyte_agent_sdk`` -> ``switchboard.connectors`` / ``switchboard``), the base URL (the
engine's address instead of ``api.airbyte.ai`` and ``cloud.airbyte.com``; in Python through
``SWITCHBOARD_API_URL``), and the ``<placeholders>``. The engine runs with
``--upstream-base-url`` pointing each connector at the fake, so the samples' connectors are
created exactly as written (no ``base_url`` in their config). The curl calls run the real
``curl`` with the sample's flags.

Sample ids: ``<seed file>-<n>`` in document order (see the test names).
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import GITHUB_TOKEN, STRIPE_KEY, Engine, Fake, serve

GONG_KEY, GONG_SECRET = "gong-access-key-0001", "gong-access-secret-0001"
GITHUB_DEFINITION_ID = "ef69ef6e-aa7f-4af1-a01d-ef775033524e"
GONG_DEFINITION_ID = "32382e40-3b49-4b99-9c5c-4076501914e7"


@pytest.fixture(scope="module")
def seed_engine(tmp_path_factory: pytest.TempPathFactory, fake_server: Fake) -> Iterator[Engine]:
    overrides = ",".join(f"{slug}={fake_server.base(slug)}" for slug in ("github", "gong", "stripe", "hubspot", "linear"))
    yield from serve(tmp_path_factory, "--upstream-base-url", overrides)


@pytest.fixture
def env(seed_engine: Engine, fake: Fake, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The samples' environment: the engine's URL and the application's credentials (the
    reference reads them from the same places)."""
    for name in ("SWITCHBOARD_WORKSPACE_NAME", "SWITCHBOARD_SCOPED_TOKEN", "SWITCHBOARD_ORGANIZATION_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SWITCHBOARD_API_URL", seed_engine.url)
    monkeypatch.setenv("AIRBYTE_CLIENT_ID", seed_engine.client_id)
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", seed_engine.client_secret)
    return seed_engine


def curl(*args: str) -> tuple[int, Any]:
    """Runs curl with the sample's arguments; returns the HTTP status and the JSON body."""
    out = subprocess.run(
        ["curl", "--silent", "--show-error", "--write-out", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    body, _, status = out.rpartition("\n")
    return int(status), (json.loads(body) if body.strip() else None)


def application_token(e: Engine, path: str = "/api/v1/applications/token") -> str:
    status, body = curl(
        "--location",
        f"{e.url}{path}",
        "--header",
        "Content-Type: application/json",
        "--data",
        json.dumps({"client_id": e.client_id, "client_secret": e.client_secret}),
    )
    assert status == 200, body
    return str(body["access_token"])


def scoped_token(e: Engine, app_token: str, workspace: str) -> str:
    status, body = curl(
        "--location",
        f"{e.url}/api/v1/embedded/scoped-token",
        "--header",
        "Content-Type: application/json",
        "--header",
        f"Authorization: Bearer {app_token}",
        "--data",
        json.dumps({"workspace_name": workspace}),
    )
    assert status == 200, body
    return str(body["token"])


# --- 000: hosted connectors, GitHub ---------------------------------------------------------


def test_000_1_to_4_tokens_templates_info_and_create(env: Engine, workspace_name: str) -> None:
    app = application_token(env)  # 000-1
    scoped = scoped_token(env, app, workspace_name)  # 000-2
    status, templates = curl(f"{env.url}/api/v1/integrations/templates/sources", "-H", f"Authorization: Bearer {scoped}")
    assert status == 200 and any(t["name"] == "GitHub" for t in templates["data"])
    status, info = curl(f"{env.url}/api/v1/embedded/scoped-token/info", "-H", f"Authorization: Bearer {scoped}")
    assert status == 200 and info["external_user_id"] == workspace_name
    status, created = curl(  # 000-3: exactly the sample's body
        "-X",
        "POST",
        f"{env.url}/api/v1/integrations/connectors",
        "-H",
        f"Authorization: Bearer {scoped}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(
            {
                "connector_type": "github",
                "external_user_id": info["external_user_id"],
                "replication_config": {"repositories": "airbytehq/airbyte"},
                "credentials": {"token": GITHUB_TOKEN},
            }
        ),
    )
    assert status in (200, 201), created
    assert created["id"] and created["connector_type"] == "GitHub"


def test_000_3_external_user_id_must_be_the_scoped_tokens_own(env: Engine, workspace_name: str) -> None:
    scoped = scoped_token(env, application_token(env), workspace_name)
    status, body = curl(
        "-X",
        "POST",
        f"{env.url}/api/v1/integrations/connectors",
        "-H",
        f"Authorization: Bearer {scoped}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"connector_type": "stripe", "external_user_id": "someone-else", "credentials": {"api_key": STRIPE_KEY}}),
    )
    assert status == 403 and body["code"] == "forbidden", body


def create_github(e: Engine, workspace: str) -> str:
    scoped = scoped_token(e, application_token(e), workspace)
    status, created = curl(
        "-X",
        "POST",
        f"{e.url}/api/v1/integrations/connectors",
        "-H",
        f"Authorization: Bearer {scoped}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(
            {
                "connector_type": "GitHub",
                "external_user_id": workspace,
                "replication_config": {"repositories": "airbytehq/airbyte"},
                "credentials": {"token": GITHUB_TOKEN},
            }
        ),
    )
    assert status in (200, 201), created
    return str(created["id"])


def test_000_5_python_hosted_github_with_describe(env: Engine, workspace_name: str) -> None:
    create_github(env, workspace_name)
    from switchboard.connectors import GithubConnector  # was: from airbyte_agent_github import ...

    connector = GithubConnector(
        external_user_id=workspace_name,
        airbyte_client_id=env.client_id,
        airbyte_client_secret=env.client_secret,
    )

    @GithubConnector.describe
    async def github_execute(entity: str, action: str, params: dict[str, Any] | None = None) -> Any:
        return await connector.execute(entity, action, params or {})

    assert "issues" in (github_execute.__doc__ or "")
    result = asyncio.run(github_execute("issues", "list", {"owner": "octo", "repo": "hello"}))
    assert result.success and result.data and result.data[0]["title"]


def test_000_6_rest_execute_sources(env: Engine, workspace_name: str) -> None:
    connector_id = create_github(env, workspace_name)
    scoped = scoped_token(env, application_token(env), workspace_name)
    status, body = curl(
        "--location",
        f"{env.url}/api/v1/connectors/sources/{connector_id}/execute",
        "--header",
        "Content-Type: application/json",
        "--header",
        f"Authorization: Bearer {scoped}",
        "--data",
        json.dumps({"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello"}}),
    )
    assert status == 200, body
    assert body["result"][0]["number"] and body["result"][0]["title"]
    assert "cursor" in body["connector_metadata"]["pagination"]


# --- 001: hosted connectors, Gong -----------------------------------------------------------


def create_gong_source(e: Engine, workspace: str) -> str:
    """001-3: the older create call, with the template id and the workspace id."""
    app = application_token(e, "/api/v1/applications/token")
    scoped = scoped_token(e, app, workspace)
    _, info = curl(f"{e.url}/api/v1/embedded/scoped-token/info", "-H", f"Authorization: Bearer {scoped}")
    status, body = curl(
        "-X",
        "POST",
        f"{e.url}/v1/integrations/sources",
        "-H",
        f"Authorization: Bearer {scoped}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps(
            {
                "source_template_id": GONG_DEFINITION_ID,
                "workspace_id": info["workspace_id"],
                "name": "gong-connector",
                "auth_config": {"access_key": GONG_KEY, "access_key_secret": GONG_SECRET},
            }
        ),
    )
    assert status in (200, 201), body
    return str(body["id"])


def test_001_3_older_create_sources(env: Engine, workspace_name: str) -> None:
    assert create_gong_source(env, workspace_name)


def test_001_4_and_5_python_hosted_gong_complete_example(
    env: Engine, workspace_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    create_gong_source(env, workspace_name)
    from switchboard.connectors import GongConnector  # was: from airbyte_ai_gong import ...

    async def main() -> None:
        connector = GongConnector(
            external_user_id=workspace_name,
            airbyte_client_id=env.client_id,
            airbyte_client_secret=env.client_secret,
        )
        print(f"Connector: {connector.connector_name} v{connector.connector_version}")
        result = await connector.users.list()
        print(f"Found {len(result.data)} users")
        for user in result.data[:5]:
            print(f"  - {user.first_name} {user.last_name} ({user.email_address})")
            print(f"    Active: {user.active}")
        if result.meta and result.meta.pagination:
            print(f"Total records: {result.meta.pagination.total_records}")
        calls_result = await connector.calls.list(
            from_date_time="2025-01-01T00:00:00Z", to_date_time="2025-01-14T00:00:00Z"
        )
        if calls_result.data:
            print(f"Found {len(calls_result.data)} calls")

    asyncio.run(main())
    out = capsys.readouterr().out
    assert "Connector: Gong v" in out
    assert "Found " in out and "@" in out and "Active: " in out
    assert "Total records: " in out and "Total records: None" not in out


def test_001_6_and_7_instances_for_user_then_execute(env: Engine, workspace_name: str) -> None:
    create_gong_source(env, workspace_name)
    app = application_token(env)
    status, body = curl(
        "--location",
        f"{env.url}/api/v1/connectors/instances_for_user?external_user_id={workspace_name}&definition_id={GONG_DEFINITION_ID}",
        "--header",
        f"Authorization: Bearer {app}",
    )
    assert status == 200, body
    (instance,) = body["instances"]
    assert instance["name"] == "gong-connector"
    status, body = curl(
        "--location",
        f"{env.url}/api/v1/connectors/instances/{instance['id']}/execute",
        "--header",
        "Content-Type: application/json",
        "--header",
        f"Authorization: Bearer {app}",
        "--data",
        json.dumps({"entity": "users", "action": "list", "params": {}}),
    )
    assert status == 200, body
    assert body["result"][0]["id"] and "cursor" in body["connector_metadata"]["pagination"]


# --- 002: Workspace ------------------------------------------------------------------------


def test_002_1_create_pat_connector(env: Engine, workspace_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_WORKSPACE_NAME", workspace_name)
    from switchboard import Workspace  # was: from airbyte_agent_sdk import Workspace

    async def main() -> str:
        async with Workspace() as ws:
            return await ws.create_connector(
                definition_id=GITHUB_DEFINITION_ID,
                name="My GitHub Connector",
                credentials={"option_title": "PAT Credentials", "personal_access_token": GITHUB_TOKEN},
                replication_config={"repositories": ["airbytehq/airbyte"]},
            )

    assert asyncio.run(main())


def test_002_2_missing_repositories_is_422(env: Engine, workspace_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_WORKSPACE_NAME", workspace_name)
    from switchboard import ConnectorValidationError, Workspace

    async def main() -> None:
        async with Workspace() as ws:
            await ws.create_connector(
                definition_id=GITHUB_DEFINITION_ID,
                name="My GitHub Connector",
                credentials={"option_title": "PAT Credentials", "personal_access_token": GITHUB_TOKEN},
            )

    with pytest.raises(ConnectorValidationError) as e:
        asyncio.run(main())
    assert e.value.status_code == 422 and "repositories" in e.value.message


def test_002_3_create_oauth_connector(env: Engine, workspace_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_WORKSPACE_NAME", workspace_name)
    from switchboard import Workspace

    hubspot_definition_id = "36c891d9-4bd9-43ac-bad2-10e12756272c"

    async def main() -> str:
        async with Workspace() as ws:
            return await ws.create_connector(
                definition_id=hubspot_definition_id,
                name="My HubSpot Connector",
                credentials={
                    "client_id": "fake-client-id",
                    "client_secret": "fake-client-secret",
                    "refresh_token": "rt-initial-0001",
                },
            )

    connector_id = asyncio.run(main())
    from switchboard import connect

    async def use() -> Any:
        hubspot = connect("hubspot", workspace_name=workspace_name, connector_id=connector_id)
        try:
            return await hubspot.execute("contacts", "list", params={"limit": 2})
        finally:
            await hubspot.close()

    assert asyncio.run(use()).success


def test_002_4_to_7_list_connect_get_delete(env: Engine, workspace_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_WORKSPACE_NAME", workspace_name)
    from switchboard import ConnectorNotFoundError, HostedExecutor, Workspace, connect

    async def main() -> None:
        async with Workspace() as ws:
            us = await ws.create_connector(connector_type="stripe", name="us", credentials={"api_key": STRIPE_KEY})
            connectors = await ws.list_connectors()  # 002-4
            for info in connectors:
                print(info.id, info.name, info.connector_type)
            (info,) = connectors
            assert (info.id, info.name, info.connector_type) == (us, "us", "Stripe")
            assert info.created_at and info.updated_at

        stripe = connect("stripe")  # 002-5
        try:
            result = await stripe.execute("customers", "list", params={"limit": 10})
        finally:
            await stripe.close()
        assert result.success and len(result.data) == 10

        async with Workspace() as ws:
            eu = await ws.create_connector(connector_type="stripe", name="eu", credentials={"api_key": STRIPE_KEY})
        stripe_us = connect("stripe", connector_id=us)  # 002-6
        stripe_eu = connect("stripe", connector_id=eu)
        assert (await stripe_us.execute("customers", "list", params={"limit": 1})).success
        assert (await stripe_eu.execute("customers", "list", params={"limit": 1})).success
        with pytest.raises(ValueError):  # two connectors of the type: the reference raises ValueError
            await connect("stripe").execute("customers", "list", params={"limit": 1})

        async with Workspace() as ws:
            executor = await ws.get_connector(connector_id=us)  # 002-7
            assert isinstance(executor, HostedExecutor)
            assert (await executor.execute("customers", "list", params={"limit": 1})).success
            await ws.delete_connector(connector_id=us)  # 002-8, by name
            await ws.delete_connector(eu)  # and positional
            assert await ws.list_connectors() == []
            with pytest.raises(ConnectorNotFoundError):
                await ws.get_connector(connector_id=us)

    asyncio.run(main())


# --- 003: HostedExecutor -------------------------------------------------------------------


def create_stripe(e: Engine, workspace: str) -> str:
    from switchboard import Workspace

    async def main() -> str:
        async with Workspace(workspace_name=workspace) as ws:
            return await ws.create_connector(connector_type="stripe", credentials={"api_key": STRIPE_KEY})

    return asyncio.run(main())


def test_003_1_by_connector_id_with_execution_config(env: Engine, workspace_name: str) -> None:
    connector_id = create_stripe(env, workspace_name)
    from switchboard import ExecutionConfig, HostedExecutor  # was: from airbyte_agent_sdk...

    async def main() -> None:
        executor = HostedExecutor(
            airbyte_client_id=env.client_id,
            airbyte_client_secret=env.client_secret,
            connector_id=connector_id,
        )
        execution_config = ExecutionConfig(entity="customers", action="list", params={"limit": 10})
        result = await executor.execute(execution_config)
        if result.success:
            print(f"Data: {result.data}")
        else:
            print(f"Error: {result.error}")
        assert result.success and result.error is None and len(result.data) == 10
        result = await executor.execute("customers", "list", params={"limit": 10})  # shorthand
        assert result.success
        with pytest.raises(TypeError):
            await executor.execute(execution_config, "list")  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            await executor.execute(execution_config, params={"limit": 1})  # type: ignore[call-overload]
        check = await executor.check()
        assert check.success
        await executor.close()

    asyncio.run(main())


def test_003_2_lookup_by_workspace_and_definition(env: Engine, workspace_name: str) -> None:
    create_stripe(env, workspace_name)
    from switchboard import HostedExecutor

    stripe_definition_id = "e094cb9a-26de-4645-8761-65c0c425d1de"

    async def main() -> None:
        executor = HostedExecutor(
            airbyte_client_id=env.client_id,
            airbyte_client_secret=env.client_secret,
            workspace_name=workspace_name,
            organization_id=env.organization_id,
            connector_definition_id=stripe_definition_id,
        )
        try:
            result = await executor.execute("customers", "list", params={"limit": 10})
        finally:
            await executor.close()
        assert result.success

    asyncio.run(main())


def test_003_3_documented_errors(env: Engine, fake: Fake, workspace_name: str) -> None:
    connector_id = create_stripe(env, workspace_name)
    from switchboard import (
        AuthenticationError,
        ConnectorValidationError,
        HostedExecutor,
        HTTPStatusError,
        RateLimitError,
    )

    async def main() -> None:
        missing = HostedExecutor(
            airbyte_client_id=env.client_id,
            airbyte_client_secret=env.client_secret,
            workspace_name=f"{workspace_name}-nobody",
            connector_definition_id="e094cb9a-26de-4645-8761-65c0c425d1de",
        )
        with pytest.raises(ValueError):
            await missing.execute("customers", "list", params={"limit": 1})
        bad_secret = HostedExecutor(
            airbyte_client_id=env.client_id, airbyte_client_secret="wrong", connector_id=connector_id
        )
        with pytest.raises(AuthenticationError):
            await bad_secret.execute("customers", "list", params={"limit": 1})
        ok = HostedExecutor(
            airbyte_client_id=env.client_id, airbyte_client_secret=env.client_secret, connector_id=connector_id
        )
        with pytest.raises(ConnectorValidationError):
            await ok.execute("customers", "list", params={"limit": "ten"})
        fake.fault(prefix="stripe", status=429, retry_after="0", count=20)
        with pytest.raises(RateLimitError):
            await ok.execute("customers", "list", params={"limit": 1})
        fake.reset()
        fake.fault(prefix="stripe", status=500, count=20)
        with pytest.raises(HTTPStatusError):
            await ok.execute("customers", "list", params={"limit": 1})

    asyncio.run(main())


# --- 004: the engine API -------------------------------------------------------------------


def test_004_1_to_3_token_hierarchy(env: Engine, workspace_name: str) -> None:
    status, body = curl(
        "-X",
        "POST",
        f"{env.url}/api/v1/account/applications/token",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"client_id": env.client_id, "client_secret": env.client_secret}),
    )
    assert status == 200
    assert body["token_type"] == "bearer" and body["organization_id"] == env.organization_id
    assert body["expires_in"] > 0 and body["access_token"].startswith("eyJ")
    app = body["access_token"]
    status, scoped = curl(
        "-X",
        "POST",
        f"{env.url}/api/v1/embedded/scoped-token",
        "-H",
        f"Authorization: Bearer {app}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"workspace_name": workspace_name}),
    )
    assert status == 200 and scoped["token"]
    status, widget = curl(
        "-X",
        "POST",
        f"{env.url}/api/v1/embedded/widget-token",
        "-H",
        f"Authorization: Bearer {app}",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"workspace_name": workspace_name, "allowed_origin": "https://yourapp.com"}),
    )
    assert status == 200 and widget["token"]


def test_004_4_and_5_definitions_catalog(env: Engine) -> None:
    app = application_token(env, "/api/v1/account/applications/token")
    status, body = curl(f"{env.url}/api/v1/integrations/definitions/sources", "-H", f"Authorization: Bearer {app}")
    assert status == 200
    names = {d["name"] for d in body["definitions"]}
    assert {"GitHub", "Stripe", "HubSpot", "Gong", "Linear"} <= names
    for d in body["definitions"]:
        assert d["sourceDefinitionId"] and d["supportLevel"]
        assert d["iconUrl"].startswith(env.url)  # served by the engine itself
    status, body = curl(f"{env.url}/api/v1/integrations/definitions/sources?name=github", "-H", f"Authorization: Bearer {app}")
    assert status == 200 and [d["name"] for d in body["definitions"]] == ["GitHub"]
    icon = subprocess.run(
        ["curl", "--silent", "--fail", "--include", body["definitions"][0]["iconUrl"]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "image/svg+xml" in icon and "<svg" in icon
    status, public = curl(f"{env.url}/api/v1/integrations/definitions/sources?name=github")  # no token
    assert status == 200 and public["definitions"][0]["name"] == "GitHub"


def test_004_organization_header(env: Engine, workspace_name: str) -> None:
    app = application_token(env)
    url = f"{env.url}/api/v1/embedded/scoped-token"
    data = json.dumps({"workspace_name": workspace_name})
    auth = f"Authorization: Bearer {app}"
    status, _ = curl("-X", "POST", url, "-H", auth, "-H", f"X-Organization-Id: {env.organization_id}", "-H", "Content-Type: application/json", "-d", data)
    assert status == 200
    other = "00000000-0000-0000-0000-000000000123"
    status, body = curl("-X", "POST", url, "-H", auth, "-H", f"X-Organization-Id: {other}", "-H", "Content-Type: application/json", "-d", data)
    assert status == 403 and body["code"] == "forbidden"
