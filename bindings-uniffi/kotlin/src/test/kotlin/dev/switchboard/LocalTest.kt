package dev.switchboard

import kotlinx.coroutines.runBlocking
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
        val res = JSONObject(ex.execute(issues))
        assertTrue(res.getBoolean("success"))
        val data = res.getJSONArray("data")
        assertEquals(listOf(5, 4), (0 until data.length()).map { data.getJSONObject(it).getInt("number") })
        val meta = res.getJSONObject("meta")
        assertTrue(meta.getBoolean("has_next_page"))
        assertEquals("Y3Vyc29yOnYyOjI=", meta.getJSONObject("pagination").getString("cursor"))
        val sent = Servers.requests("github")
        assertEquals(1, sent.size)
        assertEquals("Bearer $GITHUB_TOKEN", sent[0].getJSONObject("headers").getString("authorization"))
        assertNull(ex.connectorInfo())
    }

    @Test
    fun `paginate follows the cursor`() = runBlocking {
        val pages = github().paginate(issues)
        val sizes = generateSequence { runBlocking { pages.next() } }.map { JSONObject(it).getJSONArray("data").length() }.toList()
        assertEquals(listOf(2, 2, 1), sizes)
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
        val customer = JSONObject(ex.execute(json("entity" to "customers", "action" to "get", "params" to mapOf("id" to "cus_0003"))))
        assertEquals("Ava Garcia", customer.getJSONObject("data").getString("name"))
        val health = JSONObject(ex.check())
        assertTrue(health.getBoolean("success"))
        assertEquals("healthy", health.getJSONObject("data").getString("status"))
    }

    @Test
    fun `errors arrive as typed cases`() = runBlocking {
        val unknown = assertThrows<SwitchboardException.Validation> {
            runBlocking { github().execute(json("entity" to "no_such_entity", "action" to "list")) }
        }
        assertEquals("validation", unknown.code)
        assertTrue("no_such_entity" in unknown.reason, unknown.reason)
        assertEquals(0, Servers.requests("github").size, "nothing was sent")

        val rejected = assertThrows<SwitchboardException.UpstreamAuthentication> {
            runBlocking { github(token = "ghp_wrong").execute(issues) }
        }
        assertEquals("upstream_authentication", rejected.code)
        assertEquals(401, rejected.status)
        assertFalse("ghp_wrong" in rejected.message.orEmpty(), "no secret in a message")

        val badJson = assertThrows<SwitchboardException.Validation> { runBlocking { github().execute("{not json") } }
        assertEquals("validation", badJson.code)

        val noSuchConnector = assertThrows<SwitchboardException.Configuration> { Executor.local(json("connector" to "no-such-connector")) }
        assertEquals("configuration", noSuchConnector.code)
    }

    @Test
    fun `every public error code has its case`() {
        val codes = errorCodes()
        assertTrue(codes.isNotEmpty())
        for (c in codes) {
            val case = c.category.split('_').joinToString("") { it.replaceFirstChar(Char::uppercase) }
            val cls = Class.forName("dev.switchboard.SwitchboardException\$$case")
            assertTrue(SwitchboardException::class.java.isAssignableFrom(cls), case)
        }
        assertEquals("authentication", codes.single { it.code == "upstream_authentication" }.parentCategory)
    }
}
