"""Hosted mode against a real engine process (which runs the connectors against the fake):
workspace management, executors, ``connect``, the application token cache, typed errors."""

from __future__ import annotations

import asyncio
import http.server
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

import switchboard
from switchboard import ExecutionConfig, HostedExecutor, Workspace, connect
from switchboard.connectors import GithubConnector

from .conftest import GITHUB_TOKEN, STRIPE_KEY, TOKEN_TTL, Engine, Fake


async def create_github(ws: Workspace, fake: Fake, name: str = "acme-gh") -> str:
    return await ws.create_connector(
        connector_type="github",
        name=name,
        credentials={"personal_access_token": GITHUB_TOKEN},
        replication_config={"repositories": ["octo/hello"]},
        config={"base_url": fake.base("github")},
    )


async def test_workspace_lifecycle(engine: Engine, fake: Fake, workspace_name: str) -> None:
    async with Workspace(workspace_name=workspace_name, **engine.client()) as ws:
        assert ws.name == workspace_name
        assert await ws.list_connectors() == []
        cid = await create_github(ws, fake)
        sid = await ws.create_connector(
            connector_type="stripe", credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")}
        )
        listed = {c.id: c for c in await ws.list_connectors()}
        assert set(listed) == {cid, sid}
        assert listed[cid].name == "acme-gh" and listed[cid].connector_type == "GitHub" and listed[cid].slug == "github"
        assert listed[cid].workspace_name == workspace_name
        assert listed[cid].definition_id

        by_id = await ws.get_connector(connector_id=cid)
        res = await by_id.execute("issues", "list", params={"owner": "octo", "repo": "hello", "per_page": 2})
        assert [i["number"] for i in res.data] == [5, 4]
        assert res.meta["has_next_page"] is True and res.meta["end_cursor"]
        assert (await ws.find_connector(name="acme-gh")).id == cid  # a connector name, not a type
        assert (await ws.find_connector(connector_id=sid)).connector_type == "Stripe"
        with pytest.raises(switchboard.ConnectorValidationError):
            await ws.find_connector(connector_id=cid, name="github")  # one of them, not both
        by_name = await ws.get_connector(name="stripe")
        assert (await by_name.connector_info()).id == sid
        customer = await by_name.execute(ExecutionConfig(entity="customers", action="get", params={"id": "cus_0003"}))
        assert customer.data["name"] == "Ava Garcia"
        # An intent goes to the engine, which checks it (the client does not): one too long is
        # refused there before any request upstream, one in bounds is taken.
        sent = len(fake.requests("stripe"))
        why = ExecutionConfig(entity="customers", action="get", params={"id": "cus_0003"}, intent="é" * 512)
        assert (await by_name.execute(why)).data["name"] == "Ava Garcia"
        with pytest.raises(switchboard.ConnectorValidationError, match="intent is 513 characters long") as info:
            await by_name.execute("customers", "get", {"id": "cus_0003"}, intent="x" * 513)
        assert info.value.status_code == 422, "the engine's answer"
        with pytest.raises(switchboard.ConnectorValidationError, match="intent must be a string"):
            await by_name.execute("customers", "get", {"id": "cus_0003"}, intent=5)  # type: ignore[arg-type]
        assert len(fake.requests("stripe")) == sent + 1

        await ws.delete_connector(sid)
        assert [c.id for c in await ws.list_connectors()] == [cid]
        with pytest.raises(switchboard.ConnectorNotFoundError):
            await ws.get_connector(name="stripe")


async def test_hosted_executor_by_id_and_by_definition(engine: Engine, fake: Fake, workspace_name: str) -> None:
    ws = Workspace(external_user_id=workspace_name, **engine.client())
    cid = await create_github(ws, fake)
    ex = HostedExecutor(connector_id=cid, **engine.client())
    pages = [p async for p in ex.paginate("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 2})]
    assert [len(p.data) for p in pages] == [2, 2, 1]
    health = await ex.check()
    assert health.success and health.data["status"] == "healthy"
    await ex.close()
    with pytest.raises(switchboard.ConfigurationError):
        await ex.execute("issues", "list", {"owner": "octo", "repo": "hello"})

    definition_id = (await ws.list_connectors())[0].definition_id
    for definition in (definition_id, "github"):
        by_def = HostedExecutor(workspace_name=workspace_name, connector_definition_id=definition, **engine.client())
        res = await by_def.execute("repositories", "get", {"owner": "octo", "repo": "hello"})
        assert res.data["nameWithOwner"] == "octo/hello"
        assert (await by_def.connector_info()).id == cid


async def test_connect_returns_the_typed_connector(engine: Engine, fake: Fake, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    await create_github(ws, fake)
    gh = connect("github", workspace_name=workspace_name, **engine.client())
    assert isinstance(gh, GithubConnector)
    res = await gh.issues.list(owner="octo", repo="hello", per_page=2)
    assert [i["number"] for i in res.data] == [5, 4]
    assert (await gh.check()).data["status"] == "healthy"


async def test_env_fallbacks(engine: Engine, fake: Fake, workspace_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_API_URL", engine.url)
    monkeypatch.setenv("SWITCHBOARD_CLIENT_ID", engine.client_id)
    monkeypatch.setenv("SWITCHBOARD_CLIENT_SECRET", engine.client_secret)
    monkeypatch.setenv("SWITCHBOARD_ORGANIZATION_ID", engine.organization_id)
    ws = Workspace(workspace_name=workspace_name)
    await create_github(ws, fake)
    gh = connect("github", external_user_id=workspace_name)
    res = await gh.repositories.get(owner="octo", repo="hello")
    assert res.data["nameWithOwner"] == "octo/hello"
    # The organization id is sent as X-Organization-Id, which must match the token's.
    monkeypatch.setenv("SWITCHBOARD_ORGANIZATION_ID", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(switchboard.AuthenticationError) as info:
        await Workspace(workspace_name=workspace_name).list_connectors()
    assert info.value.code == "forbidden" and info.value.status_code == 403


# ------------------------------------------------------------------------------ token cache


async def test_one_token_for_100_concurrent_calls_and_a_new_one_after_expiry(
    engine: Engine, fake: Fake, workspace_name: str
) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    cid = await create_github(ws, fake)
    ex = HostedExecutor(connector_id=cid, **engine.client())
    assert ex.token_fetches() == 0
    results = await asyncio.gather(
        *(ex.execute("repositories", "get", {"owner": "octo", "repo": "hello"}) for _ in range(100))
    )
    assert all(r.data["nameWithOwner"] == "octo/hello" for r in results)
    assert ex.token_fetches() == 1
    await asyncio.sleep(TOKEN_TTL + 0.5)
    await asyncio.gather(*(ex.execute("repositories", "get", {"owner": "octo", "repo": "hello"}) for _ in range(10)))
    assert ex.token_fetches() == 2


class RejectOnce(http.server.BaseHTTPRequestHandler):
    """A pass-through proxy to the engine that answers the first execute with the engine's 401
    (as for a token the engine no longer accepts), to see the SDK renew its token and retry."""

    upstream = ""
    rejected = 0
    executes = 0
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0)) or None
        cls = type(self)
        if self.path.endswith("/execute"):
            with cls.lock:
                cls.executes += 1
                reject = cls.rejected == 0
                cls.rejected += reject
            if reject:
                payload = json.dumps(
                    {"code": "authentication", "message": "the token has expired", "details": {"reason": "expired"}}
                ).encode()
                self.send_response(401)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(cls.upstream + self.path, data=body, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                status, data, ctype = resp.status, resp.read(), resp.headers.get("content-type", "")
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("content-type", "")
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = forward


@pytest.fixture
def reject_once(engine: Engine) -> Iterator[str]:
    RejectOnce.upstream, RejectOnce.rejected, RejectOnce.executes = engine.url, 0, 0
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RejectOnce)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_401_renews_the_token_and_retries_once(
    engine: Engine, fake: Fake, workspace_name: str, reject_once: str
) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    cid = await create_github(ws, fake)
    ex = HostedExecutor(connector_id=cid, client_id=engine.client_id, client_secret=engine.client_secret, base_url=reject_once)
    res = await ex.execute("repositories", "get", {"owner": "octo", "repo": "hello"})
    assert res.data["nameWithOwner"] == "octo/hello"
    assert RejectOnce.executes == 2
    assert ex.token_fetches() == 2


async def test_an_upstream_401_is_not_retried(engine: Engine, fake: Fake, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    cid = await ws.create_connector(
        connector_type="github",
        credentials={"personal_access_token": "ghp_revoked_token_0000"},
        replication_config={"repositories": ["octo/hello"]},
        config={"base_url": fake.base("github")},
    )
    ex = HostedExecutor(connector_id=cid, **engine.client())
    with pytest.raises(switchboard.AuthenticationError) as info:
        await ex.execute("repositories", "get", {"owner": "octo", "repo": "hello"})
    assert info.value.details and info.value.details.get("upstream_status") == 401
    assert "ghp_revoked_token_0000" not in f"{info.value} {info.value.details}"
    assert ex.token_fetches() == 1  # the stored credential was rejected, not the app token
    assert len(fake.requests("github")) == 1


# ------------------------------------------------------------------------------------ errors


async def test_bad_client_credentials(engine: Engine, workspace_name: str) -> None:
    secret = "not-the-secret-0123456789"
    ws = Workspace(workspace_name=workspace_name, client_id=engine.client_id, client_secret=secret, base_url=engine.url)
    with pytest.raises(switchboard.AuthenticationError) as info:
        await ws.list_connectors()
    err = info.value
    assert err.code == "authentication" and err.status_code == 401
    assert secret not in f"{err} {err!r} {err.details!r}"
    assert secret not in repr(ws)


async def test_hosted_validation_and_not_found(engine: Engine, fake: Fake, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    cid = await create_github(ws, fake)
    ex = await ws.get_connector(connector_id=cid)
    before = len(fake.requests("github"))
    with pytest.raises(switchboard.ConnectorValidationError) as info:
        await ex.execute("issues", "list", {"owner": "octo"})
    assert info.value.code == "validation" and info.value.status_code == 422
    assert info.value.request_id
    assert len(fake.requests("github")) == before  # rejected before anything was sent
    with pytest.raises(switchboard.ConnectorValidationError) as info:
        await ws.create_connector(connector_type="github", credentials={})
    with pytest.raises(switchboard.ConnectorNotFoundError):
        await ex.execute("repositories", "get", {"owner": "octo", "repo": "nope"})
    missing = HostedExecutor(connector_id="00000000-0000-0000-0000-000000000000", **engine.client())
    with pytest.raises(switchboard.ConnectorNotFoundError):
        await missing.execute("issues", "list", {"owner": "octo", "repo": "hello"})


async def test_two_github_connectors_are_ambiguous(engine: Engine, fake: Fake, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    first = await create_github(ws, fake, "one")
    await create_github(ws, fake, "two")
    with pytest.raises(switchboard.ConnectorAmbiguityError) as info:
        await ws.get_connector(name="github")
    assert info.value.code == "conflict"
    gh = connect("github", workspace_name=workspace_name, **engine.client())
    with pytest.raises(switchboard.ConnectorAmbiguityError):
        await gh.issues.list(owner="octo", repo="hello")
    picked = connect("github", workspace_name=workspace_name, connector_id=first, **engine.client())
    assert (await picked.repositories.get(owner="octo", repo="hello")).data["nameWithOwner"] == "octo/hello"


async def test_hosted_upstream_5xx_and_rate_limit(engine: Engine, fake: Fake, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    sid = await ws.create_connector(
        connector_type="stripe", credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")}
    )
    ex = HostedExecutor(connector_id=sid, **engine.client())
    fake.fault(prefix="stripe", status=500, count=1)
    with pytest.raises(switchboard.HTTPStatusError) as info:
        await ex.execute("customers", "list", {"limit": 1})
    assert info.value.code == "upstream_http"
    fake.fault(prefix="stripe", status=429, retry_after="1", count=-1)
    with pytest.raises(switchboard.RateLimitError) as rl:
        await ex.execute("customers", "list", {"limit": 1})
    assert rl.value.code == "rate_limited" and rl.value.retry_after == 1.0


async def test_payload_too_large_is_a_plain_switchboard_error(engine: Engine, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, **engine.client())
    with pytest.raises(switchboard.SwitchboardError) as info:
        await ws.create_connector(connector_type="github", credentials={"personal_access_token": "x" * 1_100_000})
    assert type(info.value) is switchboard.SwitchboardError
    assert info.value.code == "payload_too_large" and info.value.status_code == 413


async def test_network_error_when_the_engine_is_unreachable(closed_url: str, workspace_name: str) -> None:
    ws = Workspace(workspace_name=workspace_name, client_id="id", client_secret="secret", base_url=closed_url)
    with pytest.raises(switchboard.NetworkError) as info:
        await ws.list_connectors()
    assert info.value.code == "network"


def test_configuration_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SWITCHBOARD_WORKSPACE_NAME", raising=False)
    # No workspace named: the reference's default one.
    assert Workspace(client_id="a", client_secret="b", base_url="http://127.0.0.1:1").name == "default"
    with pytest.raises(switchboard.ConfigurationError):
        Workspace(workspace_name="w", client_id="a", client_secret="b", base_url="ftp://nope")
    # A password in the engine's URL is refused, and never shown.
    with pytest.raises(switchboard.ConfigurationError, match="must not hold a user or password") as info:
        Workspace(workspace_name="w", client_id="a", client_secret="b", base_url="http://u:tok-9f8e7d6c@127.0.0.1:1")
    assert "9f8e7d6c" not in str(info.value) and "9f8e7d6c" not in repr(info.value)
    with pytest.raises(switchboard.ConfigurationError):
        HostedExecutor(client_id="a", client_secret="b", base_url="http://127.0.0.1:1")  # no target
    with pytest.raises(switchboard.ConfigurationError):
        Workspace(workspace_name="a", external_user_id="b", client_id="a", client_secret="b")
    with pytest.raises(switchboard.ConfigurationError):
        connect("nope", workspace_name="w", client_id="a", client_secret="b", base_url="http://127.0.0.1:1")


async def test_reference_argument_names_and_the_environment_come_from_core(
    engine: Engine, fake: Fake, workspace_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The reference SDK's keyword names work beside ours.
    ws = Workspace(
        airbyte_client_id=engine.client_id,
        airbyte_client_secret=engine.client_secret,
        external_user_id=workspace_name,
        base_url=engine.url,
    )
    await create_github(ws, fake)
    with pytest.raises(switchboard.ConfigurationError, match="airbyte_client_id"):
        Workspace(client_id="a", airbyte_client_id="b", workspace_name=workspace_name, base_url=engine.url)
    # With the environment set, no argument is needed at all (the reference's variable names
    # are the fallback of ours).
    monkeypatch.setenv("SWITCHBOARD_API_URL", engine.url)
    monkeypatch.setenv("AIRBYTE_CLIENT_ID", engine.client_id)
    monkeypatch.setenv("AIRBYTE_CLIENT_SECRET", engine.client_secret)
    monkeypatch.setenv("SWITCHBOARD_WORKSPACE_NAME", workspace_name)
    assert [c.slug for c in await Workspace().list_connectors()] == ["github"]
    gh = connect("github")
    res = await gh.issues.list(owner="octo", repo="hello", per_page=1)
    assert len(res.data) == 1
    by_definition = HostedExecutor(connector_definition_id="ef69ef6e-aa7f-4af1-a01d-ef775033524e")
    assert (await by_definition.check()).success


async def test_without_a_workspace_name_the_default_workspace_is_used(
    engine: Engine, fake: Fake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference SDK's rule (its docs' ``Workspace()`` and ``connect("stripe")``): an
    application's client that names no workspace works in the one called ``default``."""
    monkeypatch.delenv("SWITCHBOARD_WORKSPACE_NAME", raising=False)
    monkeypatch.delenv("AIRBYTE_WORKSPACE_NAME", raising=False)
    async with Workspace(**engine.client()) as ws:
        assert ws.name == "default"
        cid = await create_github(ws, fake)
        try:
            gh = connect("github", **engine.client())
            assert len((await gh.issues.list(owner="octo", repo="hello", per_page=1)).data) == 1
            by_definition = HostedExecutor(connector_definition_id="ef69ef6e-aa7f-4af1-a01d-ef775033524e", **engine.client())
            assert (await by_definition.connector_info()).id == cid
            # The engine stored it in the workspace called "default".
            assert [c.id for c in await Workspace(workspace_name="default", **engine.client()).list_connectors()] == [cid]
        finally:
            await ws.delete_connector(cid)


async def test_a_scoped_token_provider_replaces_the_client_secret(
    engine: Engine, fake: Fake, workspace_name: str
) -> None:
    async with Workspace(workspace_name=workspace_name, **engine.client()) as ws:
        await create_github(ws, fake)
    app = _post(f"{engine.url}/api/v1/account/applications/token",
                {"client_id": engine.client_id, "client_secret": engine.client_secret})["access_token"]
    asked: list[str | None] = []

    async def provider(rejected: str | None) -> str:
        # An app's backend would mint this; the device never sees the client secret.
        asked.append(rejected)
        await asyncio.sleep(0)
        minted = _post(f"{engine.url}/api/v1/embedded/scoped-token", {"workspace_name": workspace_name}, app)
        return str(minted["token"])

    gh = connect("github", base_url=engine.url, token_provider=provider)
    res = await gh.issues.list(owner="octo", repo="hello", per_page=2)
    assert len(res.data) == 2
    scoped = HostedExecutor(base_url=engine.url, token_provider=provider, connector_definition_id="github")
    assert (await scoped.check()).success
    assert asked == [None, None]  # one token per client, none rejected yet
    # A fixed scoped token works too; a bad one is the caller's authentication error.
    token = _post(f"{engine.url}/api/v1/embedded/scoped-token", {"workspace_name": workspace_name}, app)["token"]
    fixed = HostedExecutor(base_url=engine.url, scoped_token=str(token), connector_definition_id="github")
    assert len((await fixed.execute("issues", "list", {"owner": "octo", "repo": "hello"})).data) == 5
    with pytest.raises(switchboard.AuthenticationError) as bad:
        await HostedExecutor(base_url=engine.url, scoped_token="not.a.token", connector_id="x").check()
    assert not isinstance(bad.value, switchboard.UpstreamAuthenticationError)


def _post(url: str, body: dict[str, Any], token: str | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=30) as resp:
        out: dict[str, Any] = json.loads(resp.read())
    return out


def test_a_misspelt_client_argument_is_named() -> None:
    with pytest.raises(switchboard.ConnectorValidationError, match="clientid") as info:
        Workspace(workspace_name="acme", clientid="a")  # type: ignore[call-arg]  # pyright: ignore[reportCallIssue]
    assert "client_id" in info.value.message  # core lists the arguments it knows


def test_connect_finds_the_typed_class_by_slug_name_or_definition_id() -> None:
    """Core resolves the key (no network: the lookup runs on first use)."""
    client = {"base_url": "http://127.0.0.1:1", "client_id": "id", "client_secret": "secret"}
    for key in ("github", "GitHub", "ef69ef6e-aa7f-4af1-a01d-ef775033524e"):
        assert isinstance(switchboard.connect(key, workspace_name="acme", **client), GithubConnector), key
    with pytest.raises(switchboard.ConfigurationError, match="unknown connector"):
        switchboard.connect("jira-of-the-future", workspace_name="acme", **client)
