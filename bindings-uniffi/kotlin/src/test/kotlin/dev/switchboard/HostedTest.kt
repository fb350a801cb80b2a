package dev.switchboard

import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.atomic.AtomicInteger

/** Hosted mode against a real `switchboard serve`, whose connectors call the fake upstream. */
class HostedTest {
    private val engine = Servers.engine
    private val workspaceName = "kt-${ProcessHandle.current().pid()}-${counter.incrementAndGet()}"

    @BeforeEach
    fun reset() = Servers.resetFake()

    private fun workspace(client: HostedClient = HostedClient(engine.settings())) =
        Workspace(client, json("workspace_name" to workspaceName))

    private suspend fun createGithub(ws: Workspace, name: String = "acme-gh", token: String = GITHUB_TOKEN): String =
        JSONObject(
            ws.createConnector(
                json(
                    "connector_type" to "github",
                    "name" to name,
                    "credentials" to mapOf("personal_access_token" to token),
                    "replication_config" to mapOf("repositories" to listOf("octo/hello")),
                    "config" to mapOf("base_url" to Servers.base("github")),
                ),
            ),
        ).getString("id")

    private val issues = json("entity" to "issues", "action" to "list", "params" to mapOf("owner" to "octo", "repo" to "hello", "per_page" to 2))

    private fun numbers(result: String): List<Int> {
        val data = JSONObject(result).getJSONArray("data")
        return (0 until data.length()).map { data.getJSONObject(it).getInt("number") }
    }

    @Test
    fun `workspace lifecycle`() = runBlocking {
        val ws = workspace()
        assertEquals(workspaceName, ws.name())
        assertEquals(0, JSONArray(ws.listConnectors()).length())
        val cid = createGithub(ws)
        val sid = JSONObject(
            ws.createConnector(
                json(
                    "connector_type" to "stripe",
                    "credentials" to mapOf("api_key" to STRIPE_KEY),
                    "config" to mapOf("base_url" to Servers.base("stripe")),
                ),
            ),
        ).getString("id")
        val listed = JSONArray(ws.listConnectors()).let { a -> (0 until a.length()).associate { a.getJSONObject(it).let { c -> c.getString("id") to c } } }
        assertEquals(setOf(cid, sid), listed.keys)
        assertEquals("github", listed.getValue(cid).getString("slug"))
        assertEquals(workspaceName, listed.getValue(cid).getString("workspace_name"))

        val byId = ws.getConnector(connectorId = cid, name = null)
        assertTrue(byId.isHosted())
        assertEquals(listOf(5, 4), numbers(byId.execute(issues)))
        assertEquals(cid, JSONObject(ws.findConnector(connectorId = null, name = "acme-gh")).getString("id"))
        assertThrows<SwitchboardException.Validation> { runBlocking { ws.findConnector(connectorId = cid, name = "github") } }

        ws.deleteConnector(sid)
        assertEquals(1, JSONArray(ws.listConnectors()).length())
        val gone = assertThrows<SwitchboardException.NotFound> { runBlocking { ws.getConnector(connectorId = null, name = "stripe") } }
        assertEquals("not_found", gone.code)
    }

    @Test
    fun `hosted and open executors run through the engine`() = runBlocking {
        val client = HostedClient(engine.settings())
        val cid = createGithub(workspace(client))
        val byId = Executor.hosted(client, json("connector_id" to cid))
        assertEquals(listOf(5, 4), numbers(byId.execute(issues)))
        assertEquals("healthy", JSONObject(byId.check()).getJSONObject("data").getString("status"))
        assertEquals(cid, JSONObject(byId.connectorInfo()!!).getString("id"))

        val byType = Executor.hosted(client, json("external_user_id" to workspaceName, "connector" to "github"))
        assertEquals(cid, JSONObject(byType.connectorInfo()!!).getString("id"))

        val opened = Executor.open(
            json(
                "connector" to "github", "workspace_name" to workspaceName,
                "base_url" to engine.url, "client_id" to engine.clientId, "client_secret" to engine.clientSecret,
            ),
        )
        assertTrue(opened.isHosted())
        val repo = JSONObject(opened.execute(json("entity" to "repositories", "action" to "get", "params" to mapOf("owner" to "octo", "repo" to "hello"))))
        assertEquals("octo/hello", repo.getJSONObject("data").getString("nameWithOwner"))
        assertTrue(client.tokenFetches() >= 1uL)
    }

    @Test
    fun `a token provider replaces the client secret`() = runBlocking {
        createGithub(workspace())
        val app = Servers.post(
            "${engine.url}/api/v1/account/applications/token",
            json("client_id" to engine.clientId, "client_secret" to engine.clientSecret),
        ).getString("access_token")
        val asked = mutableListOf<String?>()
        val provider = object : TokenProvider {
            override suspend fun token(rejected: String?): String {
                // An app's backend would mint this; the device never sees the client secret.
                synchronized(asked) { asked += rejected }
                delay(1)
                return withContext(Dispatchers.IO) {
                    Servers.post("${engine.url}/api/v1/embedded/scoped-token", json("workspace_name" to workspaceName), app)
                }.getString("token")
            }
        }
        val gh = Executor.open(json("connector" to "github", "base_url" to engine.url), provider)
        assertEquals(listOf(5, 4), numbers(gh.execute(issues)))
        val scoped = Executor.hosted(HostedClient.withTokenProvider(json("base_url" to engine.url), provider), json("connector" to "github"))
        assertTrue(JSONObject(scoped.check()).getBoolean("success"))
        assertEquals(listOf<String?>(null, null), asked)

        val refusing = object : TokenProvider {
            override suspend fun token(rejected: String?): String =
                throw SwitchboardException.Authentication("the backend refused", "authentication", 401, null, null)
        }
        val refused = assertThrows<SwitchboardException.Authentication> {
            runBlocking { Executor.open(json("connector" to "github", "base_url" to engine.url), refusing).execute(issues) }
        }
        assertEquals("the backend refused", refused.reason)
        val broken = object : TokenProvider {
            override suspend fun token(rejected: String?): String = error("a bug in the app")
        }
        val failed = assertThrows<SwitchboardException.Other> {
            runBlocking { Executor.open(json("connector" to "github", "base_url" to engine.url), broken).execute(issues) }
        }
        assertEquals("internal", failed.code)
    }

    @Test
    fun `hosted pages follow the engine's cursor`() = runBlocking {
        val client = HostedClient(engine.settings())
        val ex = Executor.hosted(client, json("connector_id" to createGithub(workspace(client))))
        val pages = ex.paginate(issues)
        val sizes = mutableListOf<Int>()
        while (true) sizes += JSONObject(pages.next() ?: break).getJSONArray("data").length()
        assertEquals(listOf(2, 2, 1), sizes)
    }

    @Test
    fun `hosted errors arrive as typed cases`() = runBlocking {
        val ws = workspace()
        val cid = createGithub(ws)
        val ex = Executor.hosted(HostedClient(engine.settings()), json("connector_id" to cid))
        val unknown = assertThrows<SwitchboardException.Validation> {
            runBlocking { ex.execute(json("entity" to "no_such_entity", "action" to "list")) }
        }
        assertEquals("validation", unknown.code)

        val badToken = Executor.hosted(HostedClient(engine.settings()), json("connector_id" to createGithub(ws, "bad", "ghp_wrong")))
        val upstream = assertThrows<SwitchboardException.UpstreamAuthentication> { runBlocking { badToken.execute(issues) } }
        assertEquals("upstream_authentication", upstream.code)

        val wrongSecret = HostedClient(
            json("base_url" to engine.url, "client_id" to engine.clientId, "client_secret" to "not-the-secret"),
        )
        val auth = assertThrows<SwitchboardException.Authentication> {
            runBlocking { Executor.hosted(wrongSecret, json("connector_id" to cid)).execute(issues) }
        }
        assertEquals("authentication", auth.code)
        assertTrue(auth.status == 401, "${auth.status}")

        val ambiguous = assertThrows<SwitchboardException.Ambiguity> { runBlocking { ws.getConnector(connectorId = null, name = "github") } }
        assertEquals("conflict", ambiguous.code)

        val noEngine = assertThrows<SwitchboardException.Network> {
            runBlocking {
                val client = HostedClient(json("base_url" to "http://127.0.0.1:1", "client_id" to "a", "client_secret" to "b"))
                Executor.hosted(client, json("connector_id" to cid)).execute(issues)
            }
        }
        assertEquals("network", noEngine.code)
    }

    private companion object {
        val counter = AtomicInteger()
    }
}
