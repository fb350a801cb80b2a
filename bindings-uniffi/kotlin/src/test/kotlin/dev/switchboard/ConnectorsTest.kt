package dev.switchboard

import dev.switchboard.connectors.GithubConnector
import dev.switchboard.connectors.HubspotConnector
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.Collections

/** The typed connectors (generated from core's codegen model) and `on_token_refresh`, locally against the fake. */
class ConnectorsTest {
    @BeforeEach
    fun reset() = Servers.resetFake()

    private fun github() = GithubConnector(
        Executor.local(
            json(
                "connector" to "github",
                "credentials" to mapOf("personal_access_token" to GITHUB_TOKEN),
                "config" to mapOf("base_url" to Servers.base("github")),
            ),
        ),
    )

    @Test
    fun `typed methods send the wire names and page`() = runBlocking {
        val gh = github()
        val res: ResultView = gh.issues.list(owner = "octo", repo = "hello", perPage = 2)
        assertEquals(listOf(5, 4), JSONArray(res.dataJson).map { (it as JSONObject).getInt("number") })
        val sent = Servers.requests("github").single().getString("body")
        assertTrue(""""first":2""" in sent.replace(" ", ""), sent)
        val pages = gh.issues.listPages(owner = "octo", repo = "hello", perPage = 2)
        val sizes = generateSequence { runBlocking { pages.next() } }.map { JSONArray(it.dataJson).length() }.toList()
        assertEquals(listOf(2, 2, 1), sizes)
        val one = JSONObject(gh.issues.get(owner = "octo", repo = "hello", number = 5).dataJson)
        assertEquals(5, one.getInt("number"))
        assertThrows<SwitchboardException.Validation> { runBlocking { gh.issues.get(owner = "octo", repo = "hello", number = 0) } }
        // A string that is not Unicode text is refused, not sent with '?' in its place; a pair is text.
        val sentBefore = Servers.requests("github").size
        val lone = assertThrows<SwitchboardException.Validation> { runBlocking { gh.issues.list(owner = "oc\uD800to", repo = "hello") } }
        assertTrue("lone UTF-16 surrogate" in lone.reason, lone.reason)
        assertEquals(sentBefore, Servers.requests("github").size, "nothing was sent")
        runCatching { gh.issues.list(owner = "octo\uD83D\uDE00", repo = "hello") } // no such repository: sent all the same
        assertTrue("octo\uD83D\uDE00" in Servers.requests("github").last().getString("body"))
        assertTrue("issues" in GithubConnector.describe())
        assertEquals(GithubConnector.SLUG, gh.executor.slug())
        // What JSON cannot hold is the caller's to fix, named by its place; nothing is sent.
        val before = Servers.requests("github").size
        val refusals = listOf(
            "params.owner" to mapOf("k" to Double.NaN),
            "params.owner.k" to mapOf("k" to mapOf(1 to "v")),
            "params.owner" to java.util.Date(),
            "params.owner" to run { val m = mutableMapOf<String, Any?>(); m["self"] = m; m },
        )
        for ((place, value) in refusals) {
            val e = assertThrows<SwitchboardException.Validation> { encode(mapOf("params" to mapOf("owner" to value))) }
            assertTrue(e.reason.startsWith(place), e.reason)
        }
        val infinite = assertThrows<SwitchboardException.Validation> { encode(mapOf("per_page" to Double.POSITIVE_INFINITY)) }
        assertEquals("per_page: Infinity is not a JSON number (NaN and infinities are not)", infinite.reason)
        assertEquals(before, Servers.requests("github").size, "nothing was sent")
        // Big numbers go as their digits.
        val big = encode(mapOf("n" to java.math.BigInteger("123456789012345678901"), "d" to java.math.BigDecimal("0.10000000000000000555"), "u" to ULong.MAX_VALUE))
        assertEquals("""{"n":123456789012345678901,"d":0.10000000000000000555,"u":18446744073709551615}""", big)
    }

    private fun hubspot(listener: TokenRefreshListener) = HubspotConnector(
        Executor.local(
            json(
                "connector" to "hubspot",
                "credentials" to mapOf(
                    "client_id" to OAUTH_CLIENT_ID,
                    "client_secret" to OAUTH_CLIENT_SECRET,
                    "refresh_token" to OAUTH_INITIAL_REFRESH_TOKEN,
                    "access_token" to OAUTH_EXPIRED_ACCESS_TOKEN,
                ),
                "config" to mapOf("base_url" to Servers.base("hubspot")),
            ),
            listener,
        ),
    )

    @Test
    fun `on_token_refresh hears the rotated token once however many calls are in flight`() = runBlocking {
        val updates = Collections.synchronizedList(mutableListOf<JSONObject>())
        val hs = hubspot(object : TokenRefreshListener {
            override suspend fun tokenRefreshed(updateJson: String) { updates.add(JSONObject(updateJson)) }
        })
        (1..10).map { async { hs.contacts.list(limit = 1) } }.awaitAll()
        val state = Servers.oauth("hubspot")
        assertEquals(1, state.getInt("refresh_calls"))
        assertEquals(1, updates.size)
        assertEquals(state.getString("refresh_token"), updates[0].getString("refresh_token"))
        assertNotEquals(OAUTH_INITIAL_REFRESH_TOKEN, updates[0].getString("refresh_token"))
        assertTrue(updates[0].getString("access_token").isNotEmpty())
    }

    @Test
    fun `a failing on_token_refresh fails the call`() {
        val hs = hubspot(object : TokenRefreshListener {
            override suspend fun tokenRefreshed(updateJson: String): Unit =
                throw SwitchboardException.Configuration("the app could not store the token", "configuration", null, null, null)
        })
        val e = assertThrows<SwitchboardException> { runBlocking { hs.contacts.list(limit = 1) } }
        assertTrue("could not store" in e.info.reason, e.info.reason)
    }
}
