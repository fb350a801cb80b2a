package dev.switchboard

import dev.switchboard.connectors.StripeConnector
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.concurrent.atomic.AtomicInteger

/**
 * The context store from Kotlin: a real `switchboard serve` syncs the fake Stripe's customers
 * through `contextStoreSync`, `contextStoreStatus` reports the progress, and the typed
 * `contextStoreSearch` of the generated connector reads the cached records (never the provider).
 * Local mode refuses all three with a `Configuration` error naming hosted mode.
 */
class ContextStoreTest {
    private val engine = Servers.engine
    private val workspaceName = "kt-cs-${ProcessHandle.current().pid()}-${counter.incrementAndGet()}"

    @BeforeEach
    fun reset() = Servers.resetFake()

    /** Polls the status until `entity`'s sync is no longer running. */
    private suspend fun synced(ex: Executor, entity: String): EntityStatus {
        val deadline = System.nanoTime() + 120_000_000_000L
        while (true) {
            val status = ex.contextStoreStatus().entities.firstOrNull { it.entity == entity }
            if (status != null && status.status != "running") return status
            assertTrue(System.nanoTime() < deadline, "$status")
            delay(100)
        }
    }

    private fun records(page: JSONObject): List<JSONObject> {
        val data: JSONArray = page.getJSONArray("data")
        return (0 until data.length()).map { data.getJSONObject(it) }
    }

    @Test
    fun `sync, status and the typed search through the engine`() = runBlocking {
        val ws = Workspace(HostedClient(engine.settings()), json("workspace_name" to workspaceName))
        ws.createConnector(
            json(
                "connector_type" to "stripe",
                "credentials" to mapOf("api_key" to STRIPE_KEY),
                "config" to mapOf("base_url" to Servers.base("stripe")),
            ),
        )
        val stripe = StripeConnector.connect(JSONObject(engine.settings()).put("workspace_name", workspaceName).toString())
        val ex = stripe.executor
        assertEquals(0, ex.contextStoreStatus().entities.size, "nothing synced yet")

        val started = ex.contextStoreSync(listOf("customers"))
        assertEquals(listOf("customers" to "started"), started.entities.map { it.entity to it.status })
        assertTrue(started.entities[0].generation >= 1)
        val customers = synced(ex, "customers")
        assertEquals("succeeded", customers.status, "$customers")
        assertEquals(25L to 25L, customers.recordCount to customers.recordsSynced)
        assertNull(customers.lastError)
        assertNull(customers.everySeconds, "not scheduled")
        val listed = Servers.requests("stripe").size
        assertTrue(listed >= 1, "the sync read the provider")

        // The typed search: `dataJson` is a page {data, meta} of cached records.
        val query = mapOf("filter" to mapOf("eq" to mapOf("delinquent" to true)), "sort" to listOf(mapOf("created" to "asc")))
        val page = JSONObject(stripe.customers.contextStoreSearch(query = query).dataJson)
        assertEquals(
            listOf("cus_0009" to "Sophia Moore", "cus_0018" to "James Lee"),
            records(page).map { it.getString("id") to it.getString("name") },
        )
        assertEquals(false, page.getJSONObject("meta").getBoolean("has_more"))
        assertTrue(page.getJSONObject("meta").isNull("cursor"))
        // Paging with the meta's cursor, with projected fields.
        val first = JSONObject(
            stripe.customers.contextStoreSearch(query = query, limit = 1, fields = listOf(listOf("id"), listOf("email"))).dataJson,
        )
        assertEquals(setOf("id", "email"), records(first)[0].keySet())
        assertEquals("cus_0009", records(first)[0].getString("id"))
        val meta = first.getJSONObject("meta")
        assertTrue(meta.getBoolean("has_more"))
        val second = JSONObject(stripe.customers.contextStoreSearch(query = query, limit = 1, cursor = meta.getString("cursor")).dataJson)
        assertEquals(listOf("cus_0018"), records(second).map { it.getString("id") })
        val every = JSONObject(stripe.customers.contextStoreSearch(limit = 1000).dataJson)
        assertEquals(25, records(every).size)
        assertEquals(listed, Servers.requests("stripe").size, "searches never reach the provider")

        // A schedule, shown by the status; a bad period is refused by the engine.
        assertEquals(listOf("customers"), ex.contextStoreSync(listOf("customers"), 3600L).entities.map { it.entity })
        val scheduled = synced(ex, "customers")
        assertEquals(3600L, scheduled.everySeconds)
        assertNotNull(scheduled.nextRunAt)
        val bad = assertThrows<SwitchboardException.Validation> { runBlocking { ex.contextStoreSync(listOf("customers"), 5L) } }
        assertTrue("every_seconds" in bad.reason, bad.reason)
        val unknown = assertThrows<SwitchboardException.Validation> { runBlocking { ex.contextStoreSync(listOf("no_such_entity")) } }
        assertTrue("no_such_entity" in unknown.reason, unknown.reason)

        // Unscheduled, in full mode, with a reconciliation period the status keeps.
        ex.contextStoreSync(listOf("customers"), unschedule = true, mode = "full", fullEverySeconds = 600L)
        val unscheduled = synced(ex, "customers")
        assertNull(unscheduled.everySeconds, "$unscheduled")
        assertNull(unscheduled.nextRunAt, "$unscheduled")
        assertEquals("full" to 600L, unscheduled.mode to unscheduled.fullEverySeconds)
        // Stripe's customers have no updated-since param: the engine refuses an incremental sync.
        val notIncremental = assertThrows<SwitchboardException.Validation> {
            runBlocking { ex.contextStoreSync(listOf("customers"), mode = "incremental") }
        }
        assertTrue("incrementally" in notIncremental.reason, notIncremental.reason)
        val both = assertThrows<SwitchboardException.Validation> {
            runBlocking { ex.contextStoreSync(listOf("customers"), everySeconds = 3600L, unschedule = true) }
        }
        assertTrue("unschedule" in both.reason, both.reason)
    }

    @Test
    fun `local mode refuses sync, status and search before any request`() = runBlocking {
        val stripe = StripeConnector(
            Executor.local(
                json("connector" to "stripe", "credentials" to mapOf("api_key" to STRIPE_KEY), "config" to mapOf("base_url" to Servers.base("stripe"))),
            ),
        )
        val calls: List<Pair<String, suspend () -> Any>> = listOf(
            "context_store_sync" to { stripe.executor.contextStoreSync(listOf("customers"), 3600L) },
            "context_store_status" to { stripe.executor.contextStoreStatus() },
            "context_store_search" to { stripe.customers.contextStoreSearch(query = emptyMap()) },
        )
        for ((action, call) in calls) {
            val e = assertThrows<SwitchboardException.Configuration> { runBlocking { call() } }
            assertEquals("configuration", e.code)
            assertTrue(action in e.reason && "hosted mode" in e.reason, e.reason)
        }
        assertEquals(0, Servers.requests("stripe").size, "nothing was sent")
    }

    private companion object {
        val counter = AtomicInteger()
    }
}
