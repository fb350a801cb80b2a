package dev.switchboard

import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Local mode against the fake upstream APIs. */
class LocalTest {
    @BeforeEach
    fun reset() = Servers.resetFake()

    private fun github(token: String = GITHUB_TOKEN) = Executor.local(
        json(
            "connector" to "github",
            "credentials" to mapOf("personal_access_token" to token),
            "config" to mapOf("base_url" to Servers.base("github")),
        ),
    )

    private val issues = json("entity" to "issues", "action" to "list", "params" to mapOf("owner" to "octo", "repo" to "hello", "per_page" to 2))

    @Test
    fun `execute returns records and meta`() = runBlocking {
        val ex = github()
        assertEquals("github", ex.slug())
        assertFalse(ex.isHosted())
        val res = ex.execute(issues)
        assertTrue(res.success)
        assertNull(res.error)
        val data = JSONArray(res.dataJson)
        assertEquals(listOf(5, 4), (0 until data.length()).map { data.getJSONObject(it).getInt("number") })
        val meta = JSONObject(res.metaJson)
        assertTrue(meta.getBoolean("has_next_page"))
        assertEquals("Y3Vyc29yOnYyOjI=", meta.getJSONObject("pagination").getString("cursor"))
        assertEquals("Y3Vyc29yOnYyOjI=", res.cursor, "the next page's cursor, lifted out of meta")
        val sent = Servers.requests("github")
        assertEquals(1, sent.size)
        assertEquals("Bearer $GITHUB_TOKEN", sent[0].getJSONObject("headers").getString("authorization"))
        assertNull(ex.connectorInfo())
    }

    @Test
    fun `a result becomes a model's tool output within its bound`() = runBlocking {
        val res = github().execute(json("entity" to "issues", "action" to "list", "params" to mapOf("owner" to "octo", "repo" to "hello")))
        val whole = JSONObject(res.toToolOutput())
        assertEquals(JSONArray(res.dataJson).length(), whole.getJSONArray("data").length())
        assertEquals(JSONObject(res.metaJson).toString(), whole.getJSONObject("meta").toString())
        // A small bound keeps the first records and says what was cut.
        val cut = res.toToolOutput(1500)
        assertTrue(cut.length <= 1500, cut)
        val kept = JSONObject(cut)
        assertTrue(kept.getJSONArray("data").length() in 1 until JSONArray(res.dataJson).length(), cut)
        assertTrue(kept.has("_truncated"), cut)
        for (bad in listOf(0L, -1L)) {
            val e = assertThrows<SwitchboardException.Validation> { res.toToolOutput(bad) }
            assertTrue(e.info.reason.contains("it must be a positive number"), e.info.reason)
        }
    }

    @Test
    fun `paginate follows the cursor`() = runBlocking {
        val pages = github().paginate(issues)
        val all = generateSequence { runBlocking { pages.next() } }.toList()
        assertEquals(listOf(2, 2, 1), all.map { JSONArray(it.dataJson).length() })
        assertEquals(listOf(true, true, false), all.map { it.cursor != null }, "the last page has no cursor")
        assertNull(pages.next())
    }

    @Test
    fun `open with credentials runs locally and check is a result`() = runBlocking {
        val ex = Executor.open(
            json(
                "connector" to "stripe",
                "credentials" to mapOf("api_key" to STRIPE_KEY),
                "config" to mapOf("base_url" to Servers.base("stripe")),
            ),
        )
        assertFalse(ex.isHosted())
        val customer = ex.execute(json("entity" to "customers", "action" to "get", "params" to mapOf("id" to "cus_0003")))
        assertEquals("Ava Garcia", JSONObject(customer.dataJson).getString("name"))
        val health = ex.check()
        assertTrue(health.success)
        assertEquals("healthy", JSONObject(health.dataJson).getString("status"))
    }

    private fun stripe() = Executor.local(
        json("connector" to "stripe", "credentials" to mapOf("api_key" to STRIPE_KEY), "config" to mapOf("base_url" to Servers.base("stripe"))),
    )

    private val newCustomer = json("entity" to "customers", "action" to "create", "params" to mapOf("email" to "a@example.com"))

    @Test
    fun `errors arrive as typed cases`() = runBlocking {
        val unknown = assertThrows<SwitchboardException.Validation> {
            runBlocking { github().execute(json("entity" to "no_such_entity", "action" to "list")) }
        }
        assertEquals(ErrorInfo("validation", unknown.reason, "validation", null, null, null), unknown.info)
        assertTrue("no_such_entity" in unknown.reason, unknown.reason)
        val missing = assertThrows<SwitchboardException.Validation> {
            runBlocking { github().execute(json("entity" to "issues", "action" to "list", "params" to mapOf("owner" to "octo"))) }
        }
        assertTrue("repo" in missing.reason, missing.reason)
        assertEquals(0, Servers.requests("github").size, "nothing was sent")

        val rejected = assertThrows<SwitchboardException.UpstreamAuthentication> {
            runBlocking { github(token = "ghp_wrong").execute(issues) }
        }
        assertEquals("upstream_authentication", rejected.code)
        assertEquals("upstream_authentication", rejected.category)
        assertEquals(401, rejected.status)
        assertFalse("ghp_wrong" in rejected.message.orEmpty(), "no secret in a message")

        val badJson = assertThrows<SwitchboardException.Validation> { runBlocking { github().execute("{not json") } }
        assertEquals("validation", badJson.code)

        val noSuchConnector = assertThrows<SwitchboardException.Configuration> { Executor.local(json("connector" to "no-such-connector")) }
        assertEquals("configuration", noSuchConnector.code)

        val noCustomer = assertThrows<SwitchboardException.NotFound> {
            runBlocking { stripe().execute(json("entity" to "customers", "action" to "get", "params" to mapOf("id" to "cus_9999"))) }
        }
        assertEquals(404, noCustomer.status)
    }

    @Test
    fun `upstream failures arrive as their codes' cases`() = runBlocking {
        Servers.fault("prefix" to "hubspot", "status" to 403, "count" to 1)
        val hubspot = Executor.local(
            json("connector" to "hubspot", "credentials" to mapOf("private_app_token" to HUBSPOT_PRIVATE_APP), "config" to mapOf("base_url" to Servers.base("hubspot"))),
        )
        val forbidden = assertThrows<SwitchboardException.Forbidden> {
            runBlocking { hubspot.execute(json("entity" to "contacts", "action" to "list")) }
        }
        assertEquals(ErrorInfo("forbidden", forbidden.reason, "authentication", 403, forbidden.requestId, null), forbidden.info)

        Servers.fault("prefix" to "stripe", "status" to 500, "count" to 1)
        val http = assertThrows<SwitchboardException.UpstreamHttp> { runBlocking { stripe().execute(newCustomer) } }
        assertEquals(500 to "http_status", http.status to http.category)

        Servers.fault("prefix" to "github", "status" to 504, "count" to -1)
        val newIssue = json("entity" to "issues", "action" to "create", "params" to mapOf("owner" to "octo", "repo" to "hello", "title" to "Hi"))
        val timeout = assertThrows<SwitchboardException.UpstreamTimeout> { runBlocking { github().execute(newIssue) } }
        assertEquals(504 to "http_status", timeout.status to timeout.category)

        Servers.fault("prefix" to "stripe", "status" to 429, "retry_after" to "1", "count" to -1)
        val limited = assertThrows<SwitchboardException.RateLimited> {
            runBlocking { stripe().execute(json("entity" to "customers", "action" to "list")) }
        }
        assertEquals(ErrorInfo("rate_limited", limited.reason, "rate_limit", 429, limited.requestId, 1.0), limited.info)
    }

    @Test
    fun `every public error code has its case`() {
        val codes = errorCodes()
        assertEquals(15, codes.size)
        for (c in codes) {
            val case = c.code.split('_').joinToString("") { it.replaceFirstChar(Char::uppercase) }
            val cls = Class.forName("dev.switchboard.SwitchboardException\$$case")
            assertTrue(SwitchboardException::class.java.isAssignableFrom(cls), case)
            // The case carries the code's category; `info.code` reads the code back from the case.
            val e = cls.constructors.single().newInstance("m", c.category, null, null, null) as SwitchboardException
            assertEquals(ErrorInfo(c.code, "m", c.category, null, null, null), e.info)
        }
        assertEquals("authentication", codes.single { it.code == "upstream_authentication" }.parentCategory)
    }
}
