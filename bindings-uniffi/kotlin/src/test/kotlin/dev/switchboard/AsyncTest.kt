package dev.switchboard

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import java.net.InetAddress
import java.net.ServerSocket
import java.util.concurrent.CompletableFuture
import java.util.concurrent.TimeUnit

/** Coroutines: many executes at once, and cancellation reaching the Rust future. */
class AsyncTest {
    private fun github(baseUrl: String) = Executor.local(
        json(
            "connector" to "github",
            "credentials" to mapOf("personal_access_token" to GITHUB_TOKEN),
            "config" to mapOf("base_url" to baseUrl),
        ),
    )

    private val repo = json("entity" to "repositories", "action" to "get", "params" to mapOf("owner" to "octo", "repo" to "hello"))

    @Test
    fun `1000 concurrent executes complete without error`() = runBlocking {
        Servers.resetFake()
        val ex = github(Servers.base("github"))
        val results = withContext(Dispatchers.Default) {
            (1..1000).map { async { ex.execute(repo) } }.awaitAll()
        }
        assertEquals(1000, results.size)
        assertTrue(results.all { it.success && JSONObject(it.dataJson).getString("nameWithOwner") == "octo/hello" })
        assertEquals(1000, Servers.requests("github").size)
    }

    /** The JVM threads standing for the native runtime's threads (see uniffi-bindgen's main.rs). */
    private fun runtimeThreads() = Thread.getAllStackTraces().keys.filter { it.name == "switchboard-runtime" }.toSet()

    @Test
    fun `the runtime threads that resume coroutines stay attached to the JVM`() = runBlocking {
        Servers.resetFake()
        val ex = github(Servers.base("github"))
        repeat(20) { assertTrue(ex.execute(repo).success) }
        // Each async call's continuation is called from a runtime thread. Attached once and kept
        // (as daemons: they never hold the JVM open), they are the same Thread objects call after
        // call; JNA's default would attach a new Thread for every call and detach it at once.
        val first = runtimeThreads()
        assertTrue(first.isNotEmpty(), "no runtime thread is attached after 20 calls")
        assertTrue(first.all { it.isDaemon })
        repeat(50) { assertTrue(ex.execute(repo).success) }
        val later = runtimeThreads()
        assertTrue(later.containsAll(first), "runtime threads were detached between calls: $first, then $later")
    }

    @Test
    fun `cancelling the coroutine drops the Rust future and its connection`() = runBlocking {
        // An upstream that reads the request and never answers, and reports when the client hangs up.
        ServerSocket(0, 50, InetAddress.getLoopbackAddress()).use { server ->
            val received = CompletableFuture<Unit>()
            val closed = CompletableFuture<Unit>()
            Thread {
                server.accept().use { conn ->
                    val input = conn.getInputStream()
                    val buf = ByteArray(8192)
                    var seen = ""
                    while (!seen.contains("\r\n\r\n")) {
                        val n = input.read(buf)
                        if (n < 0) break
                        seen += String(buf, 0, n)
                    }
                    received.complete(Unit)
                    while (input.read(buf) >= 0) { /* drain until the client closes */ }
                    closed.complete(Unit)
                }
            }.apply { isDaemon = true }.start()

            val ex = github("http://127.0.0.1:${server.localPort}")
            val started = CompletableDeferred<Unit>()
            val job = launch(Dispatchers.Default) {
                started.complete(Unit)
                ex.execute(repo)
            }
            started.await()
            withContext(Dispatchers.IO) { received.get(30, TimeUnit.SECONDS) }
            job.cancel()
            withTimeout(10_000) { job.join() }
            assertTrue(job.isCancelled)
            // The Rust future was dropped: reqwest closed the connection.
            withContext(Dispatchers.IO) { closed.get(10, TimeUnit.SECONDS) }
        }
        // The executor and the runtime carry on.
        Servers.resetFake()
        assertTrue(github(Servers.base("github")).execute(repo).success)
    }
}
