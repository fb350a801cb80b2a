package dev.switchboard

import dev.switchboard.connectors.GithubConnector
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
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
        ws.createConnector(
            json(
                "connector_type" to "github",
                "name" to name,
                "credentials" to mapOf("personal_access_token" to token),
                "replication_config" to mapOf("repositories" to listOf("octo/hello")),
                "config" to mapOf("base_url" to Servers.base("github")),
            ),
        ).id

    private val issues = json("entity" to "issues", "action" to "list", "params" to mapOf("owner" to "octo", "repo" to "hello", "per_page" to 2))

    private fun numbers(result: ResultView): List<Int> {
        val data = JSONArray(result.dataJson)
        return (0 until data.length()).map { data.getJSONObject(it).getInt("number") }
    }

    @Test
    fun `workspace lifecycle`() = runBlocking {
        val ws = workspace()
        assertEquals(workspaceName, ws.name())
        assertEquals(0, ws.listConnectors().size)
        val cid = createGithub(ws)
        val stripe = ws.createConnector(
            json(
                "connector_type" to "stripe",
                "credentials" to mapOf("api_key" to STRIPE_KEY),
                "config" to mapOf("base_url" to Servers.base("stripe")),
            ),
        )
        val sid = stripe.id
        assertEquals("stripe" to "Stripe", stripe.slug to stripe.connectorType)
        val listed = ws.listConnectors().associateBy { it.id }
        assertEquals(setOf(cid, sid), listed.keys)
        val gh = listed.getValue(cid)
        assertEquals(listOf("github", "GitHub", "acme-gh", workspaceName), listOf(gh.slug, gh.connectorType, gh.name, gh.workspaceName))
        assertTrue(gh.definitionId.isNotEmpty() && gh.createdAt != null && gh.updatedAt != null)

        val byId = ws.getConnector(connectorId = cid, name = null)
        assertTrue(byId.isHosted())
        assertEquals(listOf(5, 4), numbers(byId.execute(issues)))
        assertEquals(gh, ws.findConnector(connectorId = null, name = "acme-gh"))
        assertThrows<SwitchboardException.Validation> { runBlocking { ws.findConnector(connectorId = cid, name = "github") } }

        ws.deleteConnector(sid)
        assertEquals(listOf(cid), ws.listConnectors().map { it.id })
        val gone = assertThrows<SwitchboardException.NotFound> { runBlocking { ws.getConnector(connectorId = null, name = "stripe") } }
        assertEquals("not_found", gone.code)
    }

    @Test
    fun `hosted and open executors run through the engine`() = runBlocking {
        val client = HostedClient(engine.settings())
        val cid = createGithub(workspace(client))
        val byId = Executor.hosted(client, json("connector_id" to cid))
        assertEquals(listOf(5, 4), numbers(byId.execute(issues)))
        assertEquals("healthy", JSONObject(byId.check().dataJson).getString("status"))
        assertEquals(cid, byId.connectorInfo()!!.id)

        val byType = Executor.hosted(client, json("external_user_id" to workspaceName, "connector" to "github"))
        assertEquals(cid, byType.connectorInfo()!!.id)

        val opened = Executor.open(
            json(
                "connector" to "github", "workspace_name" to workspaceName,
                "base_url" to engine.url, "client_id" to engine.clientId, "client_secret" to engine.clientSecret,
            ),
        )
        assertTrue(opened.isHosted())
        val repo = opened.execute(json("entity" to "repositories", "action" to "get", "params" to mapOf("owner" to "octo", "repo" to "hello")))
        assertEquals("octo/hello", JSONObject(repo.dataJson).getString("nameWithOwner"))
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
        assertTrue(scoped.check().success)
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
        val failed = assertThrows<SwitchboardException.Internal> {
            runBlocking { Executor.open(json("connector" to "github", "base_url" to engine.url), broken).execute(issues) }
        }
        assertEquals("internal", failed.code)
        // A provider that throws an Error (not an Exception), or answers text UTF-8 cannot
        // carry, fails the call at once: uniffi's generated code let both hang it forever.
        val erring = object : TokenProvider {
            override suspend fun token(rejected: String?): String = TODO("not written yet")
        }
        assertThrows<SwitchboardException.Internal> {
            runBlocking { withTimeout(15_000) { Executor.open(json("connector" to "github", "base_url" to engine.url), erring).execute(issues) } }
        }
        val lone = object : TokenProvider {
            override suspend fun token(rejected: String?): String = "tok\uD800"
        }
        val notText = assertThrows<SwitchboardException.Validation> {
            runBlocking { withTimeout(15_000) { Executor.open(json("connector" to "github", "base_url" to engine.url), lone).execute(issues) } }
        }
        assertTrue("lone UTF-16 surrogate" in notText.reason, notText.reason)
    }

    @Test
    fun `a closed client passed on is refused, not used`() = runBlocking {
        // uniffi cloned the freed handle of a closed object passed as an argument: garbage, then
        // a crash of the JVM within a few calls. It is refused like a call on the closed object.
        repeat(20) {
            val client = HostedClient(engine.settings())
            client.close()
            assertThrows<IllegalStateException> { Executor.hosted(client, json("connector" to "github")) }
            assertThrows<IllegalStateException> { Workspace(client, json("workspace_name" to workspaceName)) }
        }
        // A raw lone surrogate in an argument's text (org.json writes it as it is) is core's
        // validation error, not java.nio's MalformedInputException.
        val ex = Executor.hosted(HostedClient(engine.settings()), json("connector" to "github", "workspace_name" to workspaceName))
        val bad = assertThrows<SwitchboardException.Validation> {
            runBlocking { ex.execute("{\"entity\": \"iss\uD800ues\", \"action\": \"list\"}") }
        }
        assertTrue("lone UTF-16 surrogate" in bad.reason, bad.reason)
    }

    @Test
    fun `hosted pages follow the engine's cursor`() = runBlocking {
        val client = HostedClient(engine.settings())
        val ex = Executor.hosted(client, json("connector_id" to createGithub(workspace(client))))
        val pages = ex.paginate(issues)
        val sizes = mutableListOf<Int>()
        val cursors = mutableListOf<String?>()
        while (true) pages.next()?.let { sizes += JSONArray(it.dataJson).length(); cursors += it.cursor } ?: break
        assertEquals(listOf(2, 2, 1), sizes)
        assertEquals(null, cursors.last())
        assertTrue(cursors.dropLast(1).all { it != null })
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
        val noConnector = assertThrows<SwitchboardException.NotFound> {
            runBlocking { Executor.hosted(HostedClient(engine.settings()), json("connector_id" to "6b1f3c1e-0000-4000-8000-000000000000")).execute(issues) }
        }
        assertEquals(404, noConnector.status)
        assertTrue(noConnector.requestId != null, "the engine's request id")

        val badToken = Executor.hosted(HostedClient(engine.settings()), json("connector_id" to createGithub(ws, "bad", "ghp_wrong")))
        val upstream = assertThrows<SwitchboardException.UpstreamAuthentication> { runBlocking { badToken.execute(issues) } }
        assertEquals("upstream_authentication", upstream.code)
        assertFalse("ghp_wrong" in upstream.reason)

        val wrongSecret = HostedClient(
            json("base_url" to engine.url, "client_id" to engine.clientId, "client_secret" to "not-the-secret"),
        )
        val auth = assertThrows<SwitchboardException.Authentication> {
            runBlocking { Executor.hosted(wrongSecret, json("connector_id" to cid)).execute(issues) }
        }
        assertEquals("authentication", auth.code)
        assertTrue(auth.status == 401, "${auth.status}")

        val ambiguous = assertThrows<SwitchboardException.Conflict> { runBlocking { ws.getConnector(connectorId = null, name = "github") } }
        assertEquals("conflict" to "ambiguity", ambiguous.code to ambiguous.category)

        val noEngine = assertThrows<SwitchboardException.Network> {
            runBlocking {
                val client = HostedClient(json("base_url" to "http://127.0.0.1:1", "client_id" to "a", "client_secret" to "b"))
                Executor.hosted(client, json("connector_id" to cid)).execute(issues)
            }
        }
        assertEquals("network", noEngine.code)
    }

    @Test
    fun `connect gives the typed connector running through the engine`() = runBlocking {
        val cid = createGithub(workspace())
        val settings = json(
            "workspace_name" to workspaceName, "base_url" to engine.url, "client_id" to engine.clientId, "client_secret" to engine.clientSecret,
        )
        val gh: GithubConnector = GithubConnector.connect(settings)
        assertTrue(gh.executor.isHosted())
        assertEquals(listOf(5, 4), numbers(gh.issues.list(owner = "octo", repo = "hello", perPage = 2)))
        assertEquals(cid, gh.executor.connectorInfo()!!.id)
        // Core resolves a display name (or a definition id) to the slug.
        val byName = connect("GitHub", settings)
        assertEquals(cid, byName.connectorInfo()!!.id)
        val unknown = assertThrows<SwitchboardException.Configuration> { connect("no-such-connector", settings) }
        assertTrue("github" in unknown.reason, unknown.reason)
        assertThrows<SwitchboardException.Validation> { connect("github", json("connector" to "stripe")) }
        val none = assertThrows<SwitchboardException.NotFound> {
            runBlocking { connect("stripe", settings).execute(json("entity" to "customers", "action" to "list")) }
        }
        assertTrue("stripe" in none.reason, none.reason)
    }

    private companion object {
        val counter = AtomicInteger()
    }
}
