"""`SWITCHBOARD_SPECS`: a directory of extra connector specs is loaded by the SDK too, so a
user can run a connector that is not built in without rebuilding anything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import Fake

SPEC = """
openapi: 3.1.0
info:
  title: My Stripe
  version: "1"
  x-airbyte-connector-name: my-stripe
  x-airbyte-connector-definition-id: 00000000-0000-0000-0000-00000000beef
servers: [{url: "https://api.stripe.com"}]
components:
  securitySchemes:
    key:
      type: http
      scheme: bearer
      x-airbyte-auth-config: {required: [api_key], properties: {api_key: {type: string}}, auth_mapping: {token: "${api_key}"}}
paths:
  /v1/customers:
    get:
      x-airbyte-entity: shoppers
      x-airbyte-action: list
      x-airbyte-record-extractor: $.data
      x-airbyte-meta-extractor: {has_more: $.has_more}
      parameters: [{name: limit, in: query, schema: {type: integer}}]
      responses: {"200": {description: ok}}
"""

SCRIPT = """
import asyncio, json, sys
from switchboard import LocalExecutor
async def main():
    ex = LocalExecutor("my-stripe", {"api_key": sys.argv[1]}, {"base_url": sys.argv[2]})
    res = await ex.execute("shoppers", "list", {"limit": 2})
    print(json.dumps({"n": len(res.data), "meta": res.meta}))
asyncio.run(main())
"""


def test_specs_directory_adds_connectors(tmp_path: Path, fake: Fake) -> None:
    (tmp_path / "my-stripe.yaml").write_text(SPEC)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SWITCHBOARD_")}
    env["SWITCHBOARD_SPECS"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, "sk_test_fake_valid_0001", fake.base("stripe")],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"n": 2, "meta": {"has_more": True, "pagination": {"has_more": True, "cursor": None}}}
    sent = fake.requests("stripe")
    assert sent[-1]["path"] == "/stripe/v1/customers"
