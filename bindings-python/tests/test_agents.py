"""Agent tools from a connector, used by real agent frameworks without a model: pydantic-ai's
``TestModel`` (which calls every tool with arguments made from its schema) and LangChain's
``StructuredTool``, against the fake upstream."""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from langchain_core.tools import StructuredTool
from pydantic_ai import Agent, Tool
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart, ToolReturnPart
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.models.test import TestModel

import switchboard
from switchboard.connectors import GithubConnector, StripeConnector

from .conftest import GITHUB_TOKEN, STRIPE_KEY, Fake


def test_describe_and_tool_schemas() -> None:
    description = GithubConnector(credentials={"personal_access_token": "x"}).describe()
    assert description.startswith("GitHub (github)")
    assert "\nissues\n" in description and "owner: string, required" in description

    for fmt, key in (("openai", "parameters"), ("anthropic", "input_schema"), ("mcp", "inputSchema")):
        tool = GithubConnector.tool_schema(format=fmt)
        inner = tool["function"] if fmt == "openai" else tool
        assert inner["name"] == "github_execute"
        schema = inner[key]
        assert "issues" in schema["properties"]["entity"]["enum"]
        assert "list" in schema["properties"]["action"]["enum"]
        assert schema["required"] == ["entity", "action"]
        assert "issues.list(owner*: string, repo*: string" in inner["description"]

    ops = StripeConnector.operation_tools("anthropic")
    names = [t["name"] for t in ops]
    assert "stripe_customers_list" in names and len(names) == len(set(names))
    assert StripeConnector.find_operation_tool("stripe_customers_list") == ("customers", "list")
    assert StripeConnector.find_operation_tool("nope") is None
    with pytest.raises(switchboard.ConnectorValidationError):
        GithubConnector.tool_schema(format="gemini")


def test_describe_decorator_sets_the_docstring() -> None:
    @GithubConnector.describe
    async def github_tool(entity: str, action: str) -> str:
        """Run a GitHub operation."""
        return f"{entity}.{action}"

    assert github_tool.__doc__ is not None
    assert github_tool.__doc__.startswith("Run a GitHub operation.\n\nGitHub (github)")
    assert github_tool.__name__ == "github_tool"

    @StripeConnector.describe
    def bare() -> None: ...

    assert bare.__doc__ == StripeConnector(credentials={"api_key": "x"}).describe()


def test_tool_output_is_bounded() -> None:
    res = switchboard.ExecutionResult(success=True, data=[{"id": i, "body": "x" * 200} for i in range(100)], meta={"end_cursor": "c"})
    out = res.to_tool_output(max_chars=2000)
    assert len(out) <= 2000
    value = json.loads(out)
    assert 0 < len(value["data"]) < 100
    assert value["meta"] == {"end_cursor": "c"}
    assert "showing" in value["_truncated"]
    small = switchboard.ExecutionResult(success=True, data=[{"id": 1}], meta={})
    assert json.loads(small.to_tool_output()) == {"data": [{"id": 1}], "meta": {}}
    # A bound that is not a positive number of characters is the caller's to fix.
    for bad in (-1, 0):
        with pytest.raises(switchboard.ConnectorValidationError, match="max_chars is -?[0-9]+: it must be a positive"):
            small.to_tool_output(max_chars=bad)


async def run_tool(connector: switchboard.Connector, entity: str, action: str, params: dict[str, Any]) -> str:
    """What a tool hands the model: the bounded result, or the typed error to act on."""
    try:
        res = await connector.execute(entity, action, params)
    except switchboard.SwitchboardError as e:
        return json.dumps({"error": {"code": e.code, "message": e.message}})
    return res.to_tool_output(max_chars=4000)


async def test_pydantic_ai_calls_connector_tools(fake: Fake) -> None:
    gh = GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": fake.base("github")})

    @GithubConnector.describe
    async def octo_hello_issues(state: Literal["OPEN", "CLOSED"]) -> str:
        """List the issues of the octo/hello repository in one state."""
        return await run_tool(gh, "issues", "list", {"owner": "octo", "repo": "hello", "states": [state]})

    # The generic connector tool, straight from tool_schema(): TestModel fills it from the
    # schema (the first entity and action, empty params), and the typed error goes back.
    schema = GithubConnector.tool_schema("openai")["function"]

    async def github_execute(entity: str, action: str, params: dict[str, Any] | None = None, **_: Any) -> str:
        return await run_tool(gh, entity, action, params or {})

    generic = Tool.from_schema(github_execute, name=schema["name"], description=schema["description"], json_schema=schema["parameters"])

    model = TestModel()
    agent = Agent(model, tools=[octo_hello_issues, generic])
    result = await agent.run("What is open in octo/hello?")

    params = model.last_model_request_parameters
    assert params is not None
    tools = {t.name: t for t in params.function_tools}
    assert set(tools) == {"octo_hello_issues", "github_execute"}
    described = tools["octo_hello_issues"].description or ""
    assert described.startswith("List the issues of the octo/hello repository in one state.")
    assert "GitHub (github)" in described
    assert tools["github_execute"].parameters_json_schema["properties"]["entity"]["enum"][0] == "repositories"

    output = json.loads(result.output)
    issues = json.loads(output["octo_hello_issues"])
    assert issues["data"] and all(i["state"] == "OPEN" for i in issues["data"])
    error = json.loads(output["github_execute"])["error"]
    assert error["code"] == "validation" and "owner" in error["message"]
    # Only the typed tool reached the upstream; the invalid call was refused before sending.
    assert len(fake.requests("github")) == 1


async def test_a_tool_may_return_the_result_itself(fake: Fake) -> None:
    """The reference docs' Pydantic AI tool returns ``await connector.execute(...)`` as it is:
    the framework serializes the result (its meta included) for the model."""
    import copy

    import pydantic_core

    gh = GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": fake.base("github")})
    res = await gh.execute("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 1})
    assert getattr(res.meta, "__pydantic_serializer__", "absent") == "absent"
    assert getattr(res.meta.pagination, "_private", "absent") == "absent"
    assert res.meta.pagination.total_records is None and res.meta.no_such_value is None
    assert copy.deepcopy(res.meta) == res.meta
    whole = json.loads(pydantic_core.to_json(res))
    assert whole["success"] is True and whole["data"][0]["number"] == res.data[0]["number"]
    assert whole["meta"]["pagination"]["cursor"] == res.meta.pagination.cursor

    @GithubConnector.describe
    async def github_execute(entity: str, action: str, params: dict[str, Any]) -> Any:
        return await gh.execute(entity, action, params)

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        """Calls the tool once, then answers with what the framework made of its return."""
        returns = [p for m in messages for p in m.parts if isinstance(p, ToolReturnPart)]
        if not returns:
            args = {"entity": "issues", "action": "list", "params": {"owner": "octo", "repo": "hello", "per_page": 1}}
            return ModelResponse(parts=[ToolCallPart("github_execute", args)])
        return ModelResponse(parts=[TextPart(returns[0].model_response_str())])

    result = await Agent(FunctionModel(model), tools=[github_execute]).run("list the issues")
    seen = json.loads(result.output)
    assert seen["success"] is True and seen["data"][0]["number"] == res.data[0]["number"], seen


async def test_langchain_structured_tools_from_operation_tools(fake: Fake) -> None:
    st = StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")})
    tools: dict[str, StructuredTool] = {}
    for spec in StripeConnector.operation_tools("openai"):
        fn = spec["function"]
        found = StripeConnector.find_operation_tool(fn["name"])
        assert found is not None
        entity, action = found

        async def call(_entity: str = entity, _action: str = action, **params: Any) -> str:
            return await run_tool(st, _entity, _action, params)

        tools[fn["name"]] = StructuredTool.from_function(
            coroutine=call, name=fn["name"], description=fn["description"], args_schema=fn["parameters"]
        )

    listed = await tools["stripe_customers_list"].ainvoke({"limit": 2})
    value = json.loads(listed)
    assert len(value["data"]) == 2 and all(c["object"] == "customer" for c in value["data"])
    assert ["limit", "2"] in fake.requests("stripe")[0]["query"]
    got = json.loads(await tools["stripe_customers_get"].ainvoke({"id": "cus_0003"}))
    assert got["data"]["name"] == "Ava Garcia"
    missing = json.loads(await tools["stripe_customers_get"].ainvoke({"id": "cus_9999"}))
    assert missing["error"]["code"] == "not_found"
    assert tools["stripe_customers_get"].args["id"]["type"] == "string"
