"""Local mode against the fake upstream APIs: typed and generic calls, pagination, check,
every error a local call can raise, OAuth rotation through ``on_token_refresh``."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import switchboard
from switchboard import ExecutionConfig, LocalExecutor
from switchboard.connectors import GithubConnector, GongConnector, HubspotConnector, StripeConnector

from .conftest import (
    GITHUB_TOKEN,
    HUBSPOT_PRIVATE_APP,
    OAUTH_CLIENT_ID,
    OAUTH_CLIENT_SECRET,
    OAUTH_EXPIRED_ACCESS_TOKEN,
    OAUTH_INITIAL_REFRESH_TOKEN,
    STRIPE_KEY,
    Fake,
)


def github(fake: Fake, token: str = GITHUB_TOKEN) -> GithubConnector:
    return GithubConnector(credentials={"personal_access_token": token}, config={"base_url": fake.base("github")})


def stripe(fake: Fake) -> StripeConnector:
    return StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")})


async def test_typed_call_returns_records_and_meta(fake: Fake) -> None:
    gh = github(fake)
    res = await gh.issues.list(owner="octo", repo="hello", per_page=2)
    assert res.success is True and res.error is None
    assert [i["number"] for i in res.data] == [5, 4]
    assert res.data[0]["title"] == "Document the plugin API"
    assert res.meta["has_next_page"] is True
    assert res.meta["end_cursor"] == "Y3Vyc29yOnYyOjI="
    nxt = await gh.issues.list(owner="octo", repo="hello", per_page=2, after="Y3Vyc29yOnYyOjQ=")
    assert [i["number"] for i in nxt.data] == [1]
    assert nxt.meta["has_next_page"] is False
    # What reached the upstream: GraphQL with the PAT.
    sent = fake.requests("github")
    assert len(sent) == 2
    assert sent[0]["method"] == "POST" and sent[0]["path"] == "/github/graphql"
    assert sent[0]["headers"]["authorization"] == f"Bearer {GITHUB_TOKEN}"


async def test_records_are_typed_dicts_and_meta_has_the_next_cursor(fake: Fake) -> None:
    res = await github(fake).issues.list(owner="octo", repo="hello", per_page=2)
    issue = res.data[0]
    assert type(issue).__name__ == "GithubIssue" and isinstance(issue, dict)
    assert (issue.number, issue.title) == (issue["number"], issue["title"]) == (5, "Document the plugin API")
    assert issue.author is not None and issue.author.login == issue["author"]["login"]
    assert json.loads(json.dumps(issue)) == dict(issue)
    assert res.meta.pagination.cursor == "Y3Vyc29yOnYyOjI=" and res.meta.has_next_page is True
    last = await github(fake).issues.list(owner="octo", repo="hello", per_page=2, after="Y3Vyc29yOnYyOjQ=")
    assert last.meta.pagination.cursor is None
    with pytest.raises(AttributeError):
        _ = issue.no_such_field  # pyright: ignore[reportAttributeAccessIssue]


async def test_reference_credential_names_and_snake_case_params(fake: Fake) -> None:
    gh = GithubConnector(credentials={"token": GITHUB_TOKEN}, config={"base_url": fake.base("github")})
    assert (await gh.issues.list(owner="octo", repo="hello", per_page=1)).data
    assert fake.requests("github")[-1]["headers"]["authorization"] == f"Bearer {GITHUB_TOKEN}"
    gong = GongConnector(
        credentials={"access_key": "gong-access-key-0001", "access_key_secret": "gong-access-secret-0001"},
        config={"base_url": fake.base("gong")},
    )
    calls = await gong.calls.list(from_date_time="2024-03-07T00:00:00Z", to_date_time="2024-03-08T00:00:00Z")
    assert len(calls.data) == 1 and calls.data[0].started
    sent = fake.requests("gong")[-1]
    assert dict(sent["query"])["fromDateTime"] == "2024-03-07T00:00:00Z"
    generic = await gong.execute("calls", "list", {"fromDateTime": "2024-03-07T00:00:00Z", "to_date_time": "2024-03-08T00:00:00Z"})
    assert len(generic.data) == 1
    none = await gong.calls.list(from_date_time="2020-01-01T00:00:00Z", to_date_time="2020-02-01T00:00:00Z")
    assert none.data == [] and none.success  # Gong answers 404 when no call matches
    with pytest.raises(switchboard.ConfigurationError, match="option_title"):
        GithubConnector(credentials={"token": GITHUB_TOKEN, "option_title": "Carrier pigeon"})
    with pytest.raises(switchboard.ConfigurationError, match="external_user_id"):
        GithubConnector(credentials={"token": GITHUB_TOKEN}, external_user_id="acme")


async def test_generic_execute_and_execution_config(fake: Fake) -> None:
    gh = github(fake)
    a = await gh.execute("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 2})
    b = await gh.execute(ExecutionConfig(entity="issues", action="list", params={"owner": "octo", "repo": "hello", "per_page": 2}))
    assert a == b
    # The reference's intent is taken (and bounded) in local mode too.
    c = await gh.execute(ExecutionConfig(entity="issues", action="list", params={"owner": "octo", "repo": "hello", "per_page": 2}, intent="triage"))
    assert c.data == a.data
    with pytest.raises(switchboard.ConnectorValidationError, match="at most 512 are taken"):
        await gh.execute("issues", "list", {"owner": "octo", "repo": "hello"}, intent="x" * 513)
    ex = LocalExecutor("github", {"personal_access_token": GITHUB_TOKEN}, {"base_url": fake.base("github")})
    assert ex.slug == "github"
    c = await ex.execute("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 2})
    assert c.data == a.data


async def test_field_selection(fake: Fake) -> None:
    st = stripe(fake)
    res = await st.execute("customers", "list", {"limit": 3}, select_fields=["id", "email"])
    assert len(res.data) == 3
    assert all(set(r) == {"id", "email"} for r in res.data)
    one = await st.execute("customers", "get", {"id": "cus_0003"}, exclude_fields=["address"])
    assert one.data["id"] == "cus_0003" and "address" not in one.data


# Records as an API may spell them: escaped and non-ASCII keys and strings, surrogate pairs,
# repeated keys, integers at the edges of 64 bits, floats, nesting, empty containers, and
# records that are not objects.
EDGE_RECORDS = (
    '[{"id":"cus_1","a\\"b":1,"\\u00e9t\\u00e9":"\\u00e9t\\u00e9","ключ":"значение",'
    '"emoji":"\\ud83d\\ude00 \\u0000 tab\\t","dup":1,"dup":2,"max":18446744073709551615,'
    '"min":-9223372036854775808,"f":[1.5,-0.0,1e-7,0.1,2.5E+3],"n":null,"t":true,"no":false,'
    '"deep":{"x":[[[],{}],[{"y":[null]}]]},"empty":{}},'
    ' "not a record", 7, [1], null, {"id":"cus_2"}]'
)


@contextlib.contextmanager
def serving(body: bytes) -> Iterator[str]:
    """A local HTTP server answering every GET with ``body`` as JSON; yields its base URL."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_records_are_the_json_the_api_sent() -> None:
    """The records of a page reach Python as ``json.loads`` reads the API's own text (they
    pass through core as text and are parsed once, in the native module)."""
    body = ('{"object":"list","has_more":false,"data":' + EDGE_RECORDS + "}").encode()
    with serving(body) as base:
        st = StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": base})
        res = await st.execute("customers", "list", {"limit": 10})
        # A record that is a string, number or list comes as {"value": ...} (core's rule for
        # every runner); a null stays null.
        expected = [r if isinstance(r, dict) or r is None else {"value": r} for r in json.loads(EDGE_RECORDS)]
        assert res.data == expected
        first = res.data[0]
        assert type(first).__name__ == "StripeCustomer" and first["dup"] == 2
        assert list(first)[:3] == ["id", 'a"b', "été"]  # the API's order
        assert [type(v) for v in first["f"]] == [float] * 5 and str(first["f"][1]) == "-0.0"
        assert isinstance(first["max"], int) and first["max"] == 2**64 - 1
        assert {type(r).__name__ for r in res.data} == {"StripeCustomer", "NoneType"}
        # The same records through the tree (fields selected), and one record (get).
        picked = await st.execute("customers", "list", {"limit": 10}, select_fields=["ключ", "max", "f"])
        assert picked.data[0] == {k: expected[0][k] for k in ("ключ", "max", "f")}


#: A value JSON writes with escapes: a line break, quotes, a backslash, a control character;
#: and characters outside ASCII, one of them beyond the Basic Multilingual Plane.
ESCAPED = 'line\nbreak "quoted" \\ \x01 é 😀'


#: Values whose reading is easy to get wrong: the ends of the 64-bit integers, floats whose
#: nearest double needs more than the fast path (subnormal, largest, 17 digits; the last one
#: serde_json read one unit off until its exact reading was turned on), escapes.
SCALARS: list[Any] = [
    None, True, 1.5, ESCAPED, -(2**63), 2**64 - 1, 2.5e-300, 0.1 + 0.2, 1.7976931348623157e308, 5e-324,
    123456.789012345678, -2.2888088384114613e-216,
]


def varied_records(seed: int) -> list[dict[str, Any]]:
    """Records whose keys change order, come and go, repeat at other depths and are sometimes
    written with escapes: the native module guesses each key from the order seen before."""
    rng = random.Random(seed)
    names = ["id", "name", "a", "b", "email", "created", "ключ", "x y", ""]

    def obj(depth: int) -> dict[str, Any]:
        keys = rng.sample(names, rng.randint(0, len(names)))
        if rng.random() < 0.7:  # mostly the same order, as an API writes its records
            keys.sort(key=names.index)
        out: dict[str, Any] = {}
        for k in keys:
            roll = rng.random()
            if depth < 3 and roll < 0.2:
                out[k] = obj(depth + 1)
            elif depth < 3 and roll < 0.3:
                out[k] = [obj(depth + 1) for _ in range(rng.randint(0, 3))]
            else:
                out[k] = rng.choice([k, rng.randint(-5, 5), [k], *SCALARS])
        return out

    return [obj(0) for _ in range(60)]


def escape_some_keys(text: str, rng: random.Random) -> str:
    """``text`` with some keys written as ``\\u`` escapes (the same JSON)."""
    return re.sub(
        r'"(id|name|a)":',
        lambda m: '"' + "".join(f"\\u{ord(c):04x}" for c in m[1]) + '":' if rng.random() < 0.3 else m[0],
        text,
    )


@pytest.mark.parametrize("seed", range(4))
async def test_records_with_varying_keys_read_as_json_loads_reads_them(seed: int) -> None:
    records = varied_records(seed)
    # Odd seeds write every character outside ASCII as a \u escape (surrogate pairs included).
    page = json.dumps({"object": "list", "has_more": False, "data": records}, ensure_ascii=bool(seed % 2))
    text = escape_some_keys(page, random.Random(seed))
    assert text != page and json.loads(text)["data"] == records
    with serving(text.encode()) as base:
        st = StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": base})
        res = await st.execute("customers", "list", {"limit": 100})
    assert res.data == records

    def orders(v: Any) -> Any:  # every object's keys in order, at every depth
        if isinstance(v, dict):
            return [(k, orders(x)) for k, x in v.items()]  # pyright: ignore[reportUnknownVariableType]
        if isinstance(v, list):
            return [orders(x) for x in v]  # pyright: ignore[reportUnknownVariableType]
        return v

    assert orders(res.data) == orders(records)


async def test_stripe_create_sends_a_form_body(fake: Fake) -> None:
    st = stripe(fake)
    res = await st.customers.create(email="new.person@example.com", name="New Person", metadata={"plan": "pro"})
    assert res.data["id"] == "cus_1001"
    assert res.data["metadata"] == {"plan": "pro"}
    (sent,) = fake.requests("stripe")
    assert (sent["method"], sent["path"]) == ("POST", "/stripe/v1/customers")
    assert sent["headers"]["content-type"].startswith("application/x-www-form-urlencoded")


async def test_paginate_follows_the_cursor(fake: Fake) -> None:
    gh = github(fake)
    pages = [p async for p in gh.paginate("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 2})]
    assert [len(p.data) for p in pages] == [2, 2, 1]
    assert [i["number"] for p in pages for i in p.data] == [5, 4, 3, 2, 1]
    st = stripe(fake)
    lengths = [len(p.data) async for p in st.paginate("customers", "list", {"limit": 10})]
    assert lengths == [10, 10, 5]


async def test_paginate_raises_a_failing_page_once(fake: Fake) -> None:
    st = stripe(fake)
    seen: list[int] = []
    with pytest.raises(switchboard.AuthenticationError):
        async for page in st.paginate("customers", "list", {"limit": 10}):
            seen.append(len(page.data))
            fake.fault(prefix="stripe", status=401, count=1)
    assert seen == [10]


async def test_check_and_describe(fake: Fake) -> None:
    gh = github(fake)
    health = await gh.check()
    assert health.success and health.error is None and health.data["status"] == "healthy"
    assert health.data["checked_entity"] and health.data["checked_action"]
    bad = await github(fake, token="ghp_wrong").check()
    assert not bad.success and bad.data["status"] == "unhealthy"
    assert bad.data["error"]["code"] == "upstream_authentication"
    assert bad.error is not None and bad.error.startswith("upstream_authentication")
    text = gh.describe()
    assert "GitHub" in text and "owner: string, required" in text
    assert GithubConnector.describe  # the class attribute is the decorator


async def test_concurrent_calls_share_one_handle(fake: Fake) -> None:
    st = stripe(fake)
    results = await asyncio.gather(*(st.customers.get(id=f"cus_{i:04d}") for i in range(1, 21)))
    assert [r.data["id"] for r in results] == [f"cus_{i:04d}" for i in range(1, 21)]


async def test_every_result_reaches_its_future_under_load(fake: Fake) -> None:
    """4,800 calls by 48 tasks: results arrive from the runtime while the loop is draining the
    ones before, so a wake-up lost between the two (the loop reading the wake-up byte after a
    worker wrote it but before the worker's result was taken, and no byte written again) shows
    as a call that never returns."""
    st = stripe(fake)

    async def worker(n: int) -> list[str]:
        ids = [f"cus_{(n * 100 + i) % 25 + 1:04d}" for i in range(100)]
        got = [(await st.customers.get(id=i)).data["id"] for i in ids]
        assert got == ids
        return got

    done = await asyncio.wait_for(asyncio.gather(*(worker(n) for n in range(48))), timeout=60)
    assert sum(map(len, done)) == 4800


def test_loops_on_many_threads_at_once_each_get_their_results(fake: Fake) -> None:
    """Six threads, each with its own running loop (``asyncio.run``) and one shared connector,
    call at the same time: every call returns its own record, on its own loop's thread."""
    st = stripe(fake)
    results: dict[int, tuple[list[tuple[str, int]], int]] = {}

    async def calls(n: int) -> list[tuple[str, int]]:
        async def one(i: int) -> tuple[str, int]:
            res = await st.customers.get(id=f"cus_{(n * 7 + i) % 25 + 1:04d}")
            return res.data["id"], threading.get_ident()

        return list(await asyncio.gather(*(one(i) for i in range(60))))

    def run(n: int) -> None:
        results[n] = (asyncio.run(calls(n)), threading.get_ident())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for n in range(6):
        got, thread = results[n]
        assert [cid for cid, _ in got] == [f"cus_{(n * 7 + i) % 25 + 1:04d}" for i in range(60)], n
        assert {ident for _, ident in got} == {thread}, n


def test_loops_taking_turns_on_one_thread_each_get_their_results(fake: Fake, capfd: Any) -> None:
    """A call's result goes to the loop that made it, even when another loop runs on the thread
    by the time it arrives (it waits there for its own loop to run again); a result for a loop
    closed since is dropped without a word."""
    st = stripe(fake)
    # The first two calls are answered 200 ms late: after their loops stopped running.
    fake.fault(prefix="stripe", status=200, body={"id": "cus_late", "object": "customer"}, delay_ms=200, count=2)
    first, second, closed = asyncio.new_event_loop(), asyncio.new_event_loop(), asyncio.new_event_loop()
    try:
        waiting = first.create_task(st.customers.get(id="cus_0001"))
        first.run_until_complete(asyncio.sleep(0))  # the call is sent; its loop stops
        closed.set_exception_handler(lambda _loop, _context: None)  # "Task was destroyed but it is pending"
        orphan = closed.create_task(st.customers.get(id="cus_0003"))
        closed.run_until_complete(asyncio.sleep(0))
        closed.close()
        time.sleep(0.5)  # both answers arrive while no loop runs
        assert second.run_until_complete(st.customers.get(id="cus_0002")).data["id"] == "cus_0002"
        assert first.run_until_complete(waiting).data["id"] == "cus_late"
        assert not orphan.done()
    finally:
        for lp in (first, second, closed):
            lp.close()
    err = capfd.readouterr().err
    assert "Traceback" not in err and "closed" not in err, err


def _open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own descriptor, closed since
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


async def test_a_burst_of_calls_keeps_at_most_100_connections_to_one_origin(fake: Fake) -> None:
    """Core's HTTP client has at most 100 exchanges with one origin in progress: 400 calls at
    once all succeed, through about 100 new connections (not one per call, each held open for
    the pool's idle timeout afterwards; a few more than 100 when a connection opened for a
    waiting call loses the race to one that came back to the pool)."""
    st = stripe(fake)
    before = _open_sockets()
    ids = [f"cus_{(i % 25) + 1:04d}" for i in range(400)]
    results = await asyncio.gather(*(st.customers.get(id=i) for i in ids))
    assert [r.data["id"] for r in results] == ids
    opened = _open_sockets() - before
    assert opened <= 125, f"{opened} sockets opened for 400 calls to one origin"


_BURST = """
import asyncio, os, sys
from switchboard.connectors import StripeConnector

def sockets():
    n = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            n += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except FileNotFoundError:
            pass
    return n

async def main():
    bound = {"max_concurrent_requests": int(sys.argv[3])} if len(sys.argv) > 3 else {}
    st = StripeConnector(credentials={"api_key": sys.argv[2]}, config={"base_url": sys.argv[1]}, **bound)
    before = sockets()
    outcomes = await asyncio.gather(*(st.customers.get(id="cus_0001") for _ in range(60)), return_exceptions=True)
    errors = sorted({f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)})
    print(sockets() - before, len(errors), errors[:1])

asyncio.run(main())
"""


def _burst(fake: Fake, tmp_path: Any, env: dict[str, str], *bound: str) -> tuple[int, str, str]:
    """Runs ``_BURST`` in a fresh process (``bound``: its ``max_concurrent_requests``): the
    sockets it opened, how many calls failed, and the first failure."""
    script = tmp_path / "burst.py"
    script.write_text(_BURST)
    args = [sys.executable, str(script), fake.base("stripe"), STRIPE_KEY, *bound]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    opened, errors, first = proc.stdout.strip().split(" ", 2)
    return int(opened), errors, first


def test_the_environment_sets_the_limit_per_origin(fake: Fake, tmp_path: Any) -> None:
    """``SWITCHBOARD_EXCHANGES_PER_ORIGIN`` sets the process's limit (60 calls at once through
    about 10 connections, not 60); a value that is not a positive whole number fails every
    call with a message naming it."""

    def run(value: str) -> tuple[int, str, str]:
        return _burst(fake, tmp_path, {**os.environ, "SWITCHBOARD_EXCHANGES_PER_ORIGIN": value})

    opened, errors, _ = run("10")
    assert opened <= 20 and errors == "0", opened
    opened, errors, first = run("lots")
    assert errors == "1" and "SWITCHBOARD_EXCHANGES_PER_ORIGIN must be a positive whole number" in first, first


def test_max_concurrent_requests_bounds_one_connector(fake: Fake, tmp_path: Any) -> None:
    """``max_concurrent_requests=5``: 60 calls at once on one connector go through a few
    connections (8 to 12 here: a connection opened for a waiting call can lose the race to one
    coming back to the pool), against about 60 without it in a fresh process (asserted too, so
    the count can tell); 0 is refused at construction with a message naming the argument, and a
    hosted connector refuses it."""
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_EXCHANGES_PER_ORIGIN"}
    opened, errors, _ = _burst(fake, tmp_path, env, "5")
    assert opened <= 20 and errors == "0", opened
    opened, errors, _ = _burst(fake, tmp_path, env)
    assert opened > 20 and errors == "0", f"without a bound, 60 calls opened only {opened} connections"
    with pytest.raises(switchboard.ConnectorValidationError) as info:
        StripeConnector(credentials={"api_key": STRIPE_KEY}, max_concurrent_requests=0)
    assert "max_concurrent_requests must be a positive whole number" in info.value.message
    with pytest.raises(switchboard.ConfigurationError, match="max_concurrent_requests goes with credentials"):
        StripeConnector(connector_id="c1", client_id="id", client_secret="s", max_concurrent_requests=3)


_WORKERS = """
import asyncio, os, sys
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # before the runtime starts
from switchboard.connectors import StripeConnector

async def main():
    st = StripeConnector(credentials={"api_key": sys.argv[2]}, config={"base_url": sys.argv[1]})
    await st.customers.get(id="cus_0001")
    names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
    print(len(os.sched_getaffinity(0)), names.count("switchboard"))

asyncio.run(main())
"""


def test_the_runtime_leaves_a_core_to_the_python_thread(fake: Fake, tmp_path: Any) -> None:
    """The module's runtime runs core's count of workers (``sdk::runtime_workers``): on two
    cores one, not tokio's one per core (the Python thread needs the other core for its
    objects); ``TOKIO_WORKER_THREADS`` still decides when set."""
    script = tmp_path / "workers.py"
    script.write_text(_WORKERS)
    env = {k: v for k, v in os.environ.items() if k != "TOKIO_WORKER_THREADS"}

    def run(extra: dict[str, str]) -> tuple[int, int]:
        args = [sys.executable, str(script), fake.base("stripe"), STRIPE_KEY]
        proc = subprocess.run(args, env={**env, **extra}, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        cores, workers = proc.stdout.split()
        return int(cores), int(workers)

    cores, workers = run({})
    assert workers == max(1, cores - 1), f"{workers} worker threads on {cores} cores"
    assert run({"TOKIO_WORKER_THREADS": "3"})[1] == 3


# ------------------------------------------------------------------------------------ errors


async def test_validation_error_sends_nothing(fake: Fake) -> None:
    gh = github(fake)
    with pytest.raises(switchboard.ConnectorValidationError) as info:
        await gh.execute("issues", "list", {"owner": "octo"})
    assert info.value.code == "validation"
    assert "repo" in info.value.message
    with pytest.raises(switchboard.ConnectorValidationError):
        await gh.execute("nonsense", "list", {})
    with pytest.raises(switchboard.ConnectorValidationError):
        await gh.execute("issues", "list", {"owner": "octo", "repo": "hello", "per_page": 1000})
    with pytest.raises(switchboard.ConnectorValidationError):
        await gh.execute("issues", "list", {"owner": object()})
    assert fake.requests("github") == []


async def test_bad_credentials_are_authentication_errors_without_the_secret(fake: Fake) -> None:
    secret = "ghp_wrong_token_do_not_leak"
    gh = github(fake, token=secret)
    with pytest.raises(switchboard.AuthenticationError) as info:
        await gh.issues.list(owner="octo", repo="hello")
    err = info.value
    # The provider rejected the end user's token: a subclass of AuthenticationError, so
    # reference-style handlers still catch it, with its own code.
    assert isinstance(err, switchboard.UpstreamAuthenticationError)
    assert err.code == "upstream_authentication" and err.status_code == 401
    for text in (str(err), repr(err), err.message, repr(err.details)):
        assert secret not in text


async def test_not_found(fake: Fake) -> None:
    with pytest.raises(switchboard.ConnectorNotFoundError) as info:
        await github(fake).repositories.get(owner="octo", repo="nope")
    assert info.value.code == "not_found"
    with pytest.raises(switchboard.ConnectorNotFoundError) as info:
        await stripe(fake).customers.get(id="cus_9999")
    assert info.value.status_code == 404


async def test_rate_limit_carries_retry_after(fake: Fake) -> None:
    fake.fault(prefix="stripe", status=429, retry_after="1", count=-1)
    started = time.monotonic()
    with pytest.raises(switchboard.RateLimitError) as info:
        await stripe(fake).customers.list(limit=1)
    err = info.value
    assert err.code == "rate_limited" and err.status_code == 429
    assert err.retry_after == 1.0
    # Retried with Retry-After honoured before giving up (4 attempts).
    assert len(fake.requests("stripe")) == 4
    assert time.monotonic() - started >= 2.5


async def test_upstream_5xx_is_an_http_status_error(fake: Fake) -> None:
    fake.fault(prefix="stripe", status=500, count=1)
    with pytest.raises(switchboard.HTTPStatusError) as info:
        await stripe(fake).customers.list(limit=1)
    assert info.value.code == "upstream_http"
    assert info.value.status_code == 500


async def test_upstream_timeout_is_an_http_status_error(fake: Fake) -> None:
    fake.fault(prefix="stripe", status=500, delay_ms=3000, count=-1)
    st = StripeConnector(credentials={"api_key": STRIPE_KEY}, config={"base_url": fake.base("stripe")}, timeout=0.2)
    with pytest.raises(switchboard.HTTPStatusError) as info:
        await st.customers.get(id="cus_0001")
    assert info.value.code == "upstream_timeout"
    assert info.value.status_code is None


async def test_network_error_on_a_closed_port(closed_url: str) -> None:
    gh = GithubConnector(credentials={"personal_access_token": GITHUB_TOKEN}, config={"base_url": closed_url})
    with pytest.raises(switchboard.NetworkError) as info:
        await gh.repositories.get(owner="octo", repo="hello")
    assert info.value.code == "network"


def test_configuration_errors_at_construction() -> None:
    with pytest.raises(switchboard.ConfigurationError) as info:
        GithubConnector(credentials={"password": "hunter2"})
    assert "hunter2" not in str(info.value)
    with pytest.raises(switchboard.ConfigurationError):
        LocalExecutor("no-such-connector", {})
    with pytest.raises(switchboard.ConnectorValidationError):
        LocalExecutor("github", {"personal_access_token": object()})


async def test_closed_connector_refuses_calls(fake: Fake) -> None:
    gh = github(fake)
    gh.close()
    with pytest.raises(switchboard.ConfigurationError):
        await gh.issues.list(owner="octo", repo="hello")


# ------------------------------------------------------------------------------------- OAuth


def hubspot_oauth(fake: Fake, on_token_refresh: Any) -> HubspotConnector:
    return HubspotConnector(
        credentials={
            "client_id": OAUTH_CLIENT_ID,
            "client_secret": OAUTH_CLIENT_SECRET,
            "refresh_token": OAUTH_INITIAL_REFRESH_TOKEN,
            "access_token": OAUTH_EXPIRED_ACCESS_TOKEN,
        },
        config={"base_url": fake.base("hubspot")},
        on_token_refresh=on_token_refresh,
    )


async def test_on_token_refresh_sync_callback_gets_the_rotated_token(fake: Fake) -> None:
    updates: list[dict[str, Any]] = []
    hs = hubspot_oauth(fake, updates.append)
    res = await hs.deals.get(deal_id="301")
    assert res.data["id"] == "301"
    await hs.contacts.list(limit=1)
    state = fake.oauth("hubspot")
    assert state["refresh_calls"] == 1
    assert len(updates) == 1
    assert updates[0]["refresh_token"] == state["refresh_token"] != OAUTH_INITIAL_REFRESH_TOKEN
    assert updates[0]["access_token"]


async def test_on_token_refresh_async_callback_runs_on_the_callers_loop(fake: Fake) -> None:
    loop = asyncio.get_running_loop()
    seen: list[tuple[str, bool]] = []

    async def save(update: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        seen.append((update["refresh_token"], asyncio.get_running_loop() is loop))

    hs = hubspot_oauth(fake, save)
    # Many calls in flight: one refresh, one callback.
    await asyncio.gather(*(hs.contacts.list(limit=1) for _ in range(10)))
    assert fake.oauth("hubspot")["refresh_calls"] == 1
    assert seen == [(fake.oauth("hubspot")["refresh_token"], True)]


async def test_a_failing_callback_fails_the_call(fake: Fake) -> None:
    def boom(update: dict[str, Any]) -> None:
        raise RuntimeError("disk full")

    hs = hubspot_oauth(fake, boom)
    with pytest.raises(switchboard.SwitchboardError) as info:
        await hs.contacts.list(limit=1)
    assert "on_token_refresh" in info.value.message and "disk full" in info.value.message


async def test_params_reach_the_upstream_as_json_dumps_writes_them(fake: Fake) -> None:
    """The native module reads a call's params from the caller's objects (tuples as lists, key
    order kept, ints, floats, bools and ``None`` as JSON's), and hands anything else to
    ``json.dumps`` (a ``dict`` subclass, an ``int`` key): the upstream gets the same body either
    way. What ``json.dumps`` refuses is a ``ConnectorValidationError`` before any request."""
    hs = HubspotConnector(credentials={"private_app_token": HUBSPOT_PRIVATE_APP}, config={"base_url": fake.base("hubspot")})
    groups = ({"filters": ({"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "example.com"},)},)
    await hs.contacts.search(filter_groups=groups, limit=3, query="ada")
    fast = fake.requests("hubspot")[-1]["body_parsed"]
    assert fast["filterGroups"] == [{"filters": [{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "example.com"}]}]
    assert fast["limit"] == 3 and isinstance(fast["limit"], int) and fast["query"] == "ada"

    class Filter(dict[str, Any]):
        pass

    slow = ({"filters": [Filter(groups[0]["filters"][0])]},)
    await hs.contacts.search(filter_groups=slow, limit=3, query="ada")
    assert fake.requests("hubspot")[-1]["body_parsed"] == fast

    # Values of every JSON type, straight through and through json.dumps: the same request.
    ex = LocalExecutor("hubspot", {"private_app_token": HUBSPOT_PRIVATE_APP}, {"base_url": fake.base("hubspot")})
    odd: dict[Any, Any] = {"query": "ada", "limit": 2, "sorts": [{"propertyName": "createdate", "direction": "ASCENDING"}]}
    await ex.execute("contacts", "search", odd)
    plain = fake.requests("hubspot")[-1]["body_parsed"]
    await ex.execute("contacts", "search", Filter(odd))
    assert fake.requests("hubspot")[-1]["body_parsed"] == plain
    sent = len(fake.requests("hubspot"))

    import datetime

    with pytest.raises(switchboard.ConnectorValidationError) as bad:
        await ex.execute("contacts", "search", {"query": datetime.date(2026, 1, 1)})
    assert str(bad.value) == "validation: params must be JSON-serializable: Object of type date is not JSON serializable"
    loop: dict[str, Any] = {"query": "ada"}
    loop["self"] = loop
    with pytest.raises(switchboard.ConnectorValidationError, match="JSON-serializable: Circular reference"):
        await ex.execute("contacts", "search", loop)
    # A str that is not Unicode text (a lone surrogate, as surrogateescape decoding leaves).
    with pytest.raises(switchboard.ConnectorValidationError) as bad:
        await ex.execute("contacts", "search", {"query": "ada\udc80"})
    assert str(bad.value).startswith("validation: params: a string holds a lone UTF-16 surrogate"), str(bad.value)
    with pytest.raises(switchboard.ConnectorValidationError, match="lone UTF-16 surrogate"):
        await ex.execute("contacts", "search", {"query\ud800": "ada"})
    with pytest.raises(switchboard.ConnectorValidationError, match="lists of dot paths"):
        await ex.execute("contacts", "search", {}, select_fields="id")
    with pytest.raises(switchboard.ConnectorValidationError, match="select_fields"):
        await ex.execute("contacts", "search", {}, select_fields=[1])
    with pytest.raises(switchboard.ConnectorValidationError, match="exclude_fields must be a list of dot paths"):
        await ex.execute("contacts", "search", {}, exclude_fields=5)  # type: ignore[arg-type]
    # A path with an empty name would empty every record without a word.
    with pytest.raises(switchboard.ConnectorValidationError, match=r'select_fields\[1\] is "a\.\.b": a field path'):
        await ex.execute("contacts", "search", {}, select_fields=["id", "a..b"])
    with pytest.raises(switchboard.ConnectorValidationError, match=r'exclude_fields\[0\] is ""'):
        await ex.execute("contacts", "search", {}, exclude_fields=[""])
    # Names are checked as params are: typed errors, never UnicodeEncodeError or TypeError.
    with pytest.raises(switchboard.ConnectorValidationError, match="entity: a string holds a lone UTF-16 surrogate"):
        await ex.execute("contacts\ud800", "search", {})
    with pytest.raises(switchboard.ConnectorValidationError, match="action must be a string"):
        await ex.execute("contacts", 5, {})  # type: ignore[call-overload]
    with pytest.raises(switchboard.ConnectorValidationError, match="entity must be a string"):
        await ex.execute(None, "search", {})  # type: ignore[call-overload]
    with pytest.raises(switchboard.ConnectorValidationError, match="paginate reads the pages of a list"):
        async for _ in ex.paginate("contacts", "create", {"properties": {"email": "a@example.com"}}):
            pass
    assert len(fake.requests("hubspot")) == sent, "nothing was sent for a refused call"
    # Any iterable of paths, as list() takes it.
    res = await ex.execute("contacts", "search", {"limit": 1}, select_fields=(p for p in ["id"]))
    assert [sorted(r) for r in res.data] == [["id"]]
