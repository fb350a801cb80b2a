"""Smoke test of the installed Python wheel (scripts/test-dist.sh runs it in a fresh venv).

Local mode against the fake upstream, a typed validation error, then hosted mode through a real
`switchboard serve`: a workspace, a stored connector, an execute. Environment: FAKE (the fake
upstream's URL), API, CLIENT_ID, CLIENT_SECRET (the engine's first application).
"""

import asyncio
import os

import switchboard
from switchboard import ConnectorValidationError, Workspace, connect
from switchboard.connectors import GithubConnector

FAKE, API = os.environ["FAKE"], os.environ["API"]
CLIENT = {"client_id": os.environ["CLIENT_ID"], "client_secret": os.environ["CLIENT_SECRET"], "base_url": API}
TOKEN = "ghp_fake_valid_token_0001"


async def main() -> None:
    assert switchboard._native.__optimized__ == (os.environ["EXPECT_PROFILE"] == "release"), "unexpected build profile"
    gh = GithubConnector(credentials={"personal_access_token": TOKEN}, config={"base_url": f"{FAKE}/github"})
    res = await gh.issues.list(owner="octo", repo="hello", per_page=2)
    assert [r["number"] for r in res.data] == [5, 4], res.data
    try:
        await gh.execute("issues", "list", {"owner": "octo"})
        raise AssertionError("a missing param was accepted")
    except ConnectorValidationError as e:
        assert e.code == "validation" and "repo" in str(e), e
    async with Workspace(**CLIENT, workspace_name="dist-python") as ws:
        await ws.create_connector(
            connector_type="github",
            credentials={"personal_access_token": TOKEN},
            replication_config={"repositories": ["octo/hello"]},
            config={"base_url": f"{FAKE}/github"},
        )
    hosted = connect("github", workspace_name="dist-python", **CLIENT)
    res = await hosted.issues.list(owner="octo", repo="hello", per_page=2)
    assert [r["number"] for r in res.data] == [5, 4], res.data
    await hosted.close()
    print(f"python {switchboard.__version__}: local, validation and hosted ok")


asyncio.run(main())
