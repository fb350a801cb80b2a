package dev.switchboard

import dev.switchboard.connectors.GithubConnector
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

/**
 * The code of the Kotlin quick start (docs/quickstart-kotlin.md), which shows the regions between
 * the ANCHOR comments through mdBook's `{{#include}}`: the code on the page is the code tested
 * here, against the fake upstream and a real `switchboard serve`.
 */
class QuickStartTest {
    // What the page calls your GitHub token and GitHub's address: the fake's here.
    private val githubToken = GITHUB_TOKEN
    private val githubApiUrl = Servers.base("github")

    // The engine's address and your application's client credentials.
    private val apiUrl = Servers.engine.url
    private val clientId = Servers.engine.clientId
    private val clientSecret = Servers.engine.clientSecret

    @BeforeEach
    fun reset() = Servers.resetFake()

    private fun numbers(dataJson: String) = JSONArray(dataJson).map { (it as JSONObject).getInt("number") }

    /** The local GitHub connector of the page, for the tests that do not show how it is made. */
    private fun github() = GithubConnector(
        Executor.local(
            JSONObject(
                mapOf(
                    "connector" to "github",
                    "credentials" to mapOf("personal_access_token" to githubToken),
                    "config" to mapOf("base_url" to githubApiUrl),
                ),
            ).toString(),
        ),
    )

    @Test
    fun `local mode`() = runBlocking {
        // ANCHOR: local
        val github = GithubConnector(
            Executor.local(
                JSONObject(
                    mapOf(
                        "connector" to "github",
                        "credentials" to mapOf("personal_access_token" to githubToken),
                        "config" to mapOf("base_url" to githubApiUrl), // optional: GitHub Enterprise, a proxy, a fake
                    ),
                ).toString(),
            ),
        )
        val page = github.issues.list(owner = "octo", repo = "hello", perPage = 2)
        val issues = JSONArray(page.dataJson) // the records, as JSON text
        println("${issues.length()} issues; next page: ${page.cursor}")

        val pages = github.issues.listPages(owner = "octo", repo = "hello", perPage = 2)
        while (true) {
            val next = pages.next() ?: break
            println("a page of ${JSONArray(next.dataJson).length()}")
        }
        // ANCHOR_END: local
        assertEquals(listOf(5, 4), numbers(page.dataJson))
        assertEquals("Y3Vyc29yOnYyOjI=", page.cursor)
        assertNull(pages.next(), "the pages are used up")
        assertEquals(4, Servers.requests("github").size, "one request for the first call, three for the pages")
    }

    @Test
    fun `errors are typed`() {
        val github = github()
        // ANCHOR: errors
        try {
            runBlocking { github.executor.execute("""{"entity": "issues", "action": "list", "params": {"owner": "octo"}}""") }
        } catch (e: SwitchboardException.Validation) {
            println("refused before sending: ${e.code}") // nothing reached GitHub
        }
        // ANCHOR_END: errors
        val refused = assertThrows<SwitchboardException.Validation> {
            runBlocking { github.executor.execute("""{"entity": "issues", "action": "list", "params": {"owner": "octo"}}""") }
        }
        assertEquals("validation", refused.code)
        assertTrue(Servers.requests("github").isEmpty(), "a validation error sends nothing")
    }

    @Test
    fun `hosted mode`() = runBlocking {
        val customerToken = githubToken
        // ANCHOR: hosted
        val client = HostedClient(
            JSONObject(mapOf("base_url" to apiUrl, "client_id" to clientId, "client_secret" to clientSecret)).toString(),
        )
        val ws = Workspace(client, """{"workspace_name": "customer-11"}""")
        val stored = ws.createConnector(
            JSONObject(
                mapOf(
                    "connector_type" to "github",
                    "credentials" to mapOf("personal_access_token" to customerToken),
                    "replication_config" to mapOf("repositories" to listOf("octo/hello")),
                    "config" to mapOf("base_url" to githubApiUrl), // optional, as in local mode
                ),
            ).toString(),
        )
        val github = GithubConnector(ws.getConnector(connectorId = stored.id, name = null))
        val page = github.issues.list(owner = "octo", repo = "hello", perPage = 2)
        println("${stored.connectorType} connector ${stored.id}: ${JSONArray(page.dataJson).length()} issues")
        ws.deleteConnector(stored.id)
        // ANCHOR_END: hosted
        assertTrue(github.executor.isHosted())
        assertEquals(listOf(5, 4), numbers(page.dataJson))
        assertEquals("GitHub", stored.connectorType)
        assertFalse(ws.listConnectors().any { it.id == stored.id }, "deleted")
        val sent = Servers.requests("github")
        assertEquals("Bearer $customerToken", sent.single().getJSONObject("headers").getString("authorization"))
    }
}
