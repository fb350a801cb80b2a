package dev.switchboard

import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit

/** The fake's credentials (tests/fake-upstream/src/lib.rs, module `creds`). */
const val GITHUB_TOKEN = "ghp_fake_valid_token_0001"
const val STRIPE_KEY = "sk_test_fake_valid_0001"
const val HUBSPOT_PRIVATE_APP = "pat-na1-fake-valid-0001"
const val OAUTH_CLIENT_ID = "fake-client-id"
const val OAUTH_CLIENT_SECRET = "fake-client-secret"
const val OAUTH_INITIAL_REFRESH_TOKEN = "rt-initial-0001"
const val OAUTH_EXPIRED_ACCESS_TOKEN = "at-expired-0000"

/**
 * The Rust binaries the tests run against, started once per test JVM from `switchboard.bin.dir`
 * (`$CARGO_TARGET_DIR/ci`): the fake upstream APIs and a real `switchboard serve` on SQLite.
 */
object Servers {
    private val binDir = File(System.getProperty("switchboard.bin.dir") ?: error("set -Dswitchboard.bin.dir"))

    /** The fake upstream's base URL, e.g. `http://127.0.0.1:41234`. */
    val fake: String by lazy {
        val lines = start("fake", listOf("fake-upstream", "--bind", "127.0.0.1:0"))
        val addr = generateSequence { lines.next() }.first { "listening on " in it }.substringAfter("listening on ").trim()
        if (addr.startsWith("http")) addr else "http://$addr"
    }

    /** A `switchboard serve` with its first application's credentials. */
    val engine: Engine by lazy {
        val dataDir = Files.createTempDirectory("switchboard-kt-engine-").toFile()
        val limits = listOf("rate", "token-rate", "token-address-rate").flatMap {
            listOf("--$it-limit", "10000", "--$it-burst", "10000")
        }
        val lines = start(
            "engine",
            listOf(
                "switchboard", "serve", "--bind", "127.0.0.1:0", "--data-dir", dataDir.path,
                "--egress-allow", "127.0.0.1", "--application-token-ttl", "3",
            ) + limits,
        )
        var first: JSONObject? = null
        var url: String? = null
        while (url == null) {
            val line = lines.next().trim()
            if (!line.startsWith("{")) continue
            val msg = JSONObject(line)
            msg.optJSONObject("first_application")?.let { first = it }
            if (msg.has("listening")) url = msg.getString("listening")
        }
        val app = first ?: error("the engine printed no first application")
        Engine(url!!, app.getString("client_id"), app.getString("client_secret"))
    }

    /** The fake's base URL for one API, for `config.base_url`. */
    fun base(api: String) = "$fake/$api"

    /** Clears the fake's data, tokens, faults and recorded requests. */
    fun resetFake() {
        send("POST", "$fake/_control/reset", "{}")
        send("DELETE", "$fake/_control/requests", null)
    }

    /** Makes the fake fail requests: `prefix`, `status`, `count`, `retry_after`, ... */
    fun fault(vararg pairs: Pair<String, Any?>) {
        send("POST", "$fake/_control/faults", json(*pairs))
    }

    /** Requests the fake received under `/api/`. */
    fun requests(api: String): List<JSONObject> {
        val all = JSONArray(send("GET", "$fake/_control/requests", null))
        return (0 until all.length()).map { all.getJSONObject(it) }.filter { it.getString("path").startsWith("/$api/") }
    }

    /** The fake's OAuth state of `api`: `{refresh_calls, refresh_token}`. */
    fun oauth(api: String): JSONObject = JSONObject(send("GET", "$fake/_control/oauth/$api", null))

    /** POSTs JSON to `url`, with a bearer token when given; the answer's JSON. */
    fun post(url: String, body: String, token: String? = null): JSONObject = JSONObject(send("POST", url, body, token))

    private fun send(method: String, url: String, body: String?, token: String? = null): String {
        val publisher = body?.let { HttpRequest.BodyPublishers.ofString(it) } ?: HttpRequest.BodyPublishers.noBody()
        val builder = HttpRequest.newBuilder(URI(url)).method(method, publisher).header("content-type", "application/json")
        token?.let { builder.header("authorization", "Bearer $it") }
        val req = builder.build()
        // A client per call: a pooled connection the fake has since closed would fail the next call.
        return HttpClient.newHttpClient().send(req, HttpResponse.BodyHandlers.ofString()).body()
    }

    /** Reads a child's stdout lines with a timeout; stderr goes to a log shown on failure. */
    class Lines(private val proc: Process, private val log: File) {
        private val q = LinkedBlockingQueue<String>()

        init {
            Thread {
                proc.inputStream.bufferedReader().forEachLine { q.put(it) }
                q.put(EOF)
            }.apply { isDaemon = true }.start()
        }

        fun next(): String {
            val line = q.poll(60, TimeUnit.SECONDS)
            if (line == null || line === EOF) {
                error("${proc.info().command()} did not start as expected; stderr ends with:\n${log.readText().takeLast(4000)}")
            }
            return line
        }

        private companion object { const val EOF = "\u0000eof" }
    }

    private fun start(name: String, command: List<String>): Lines {
        val log = File.createTempFile("switchboard-kt-$name-", ".log")
        val pb = ProcessBuilder(listOf(File(binDir, command[0]).path) + command.drop(1)).redirectError(log)
        pb.environment().keys.removeIf { it.startsWith("SWITCHBOARD_") }
        pb.environment()["SWITCHBOARD_LOG"] = "warn"
        val proc = pb.start()
        Runtime.getRuntime().addShutdownHook(Thread { proc.destroy(); proc.waitFor(10, TimeUnit.SECONDS) })
        return Lines(proc, log)
    }
}

/** A running engine and its first application's client credentials. */
data class Engine(val url: String, val clientId: String, val clientSecret: String) {
    /** `ClientSettings` JSON for this engine. */
    fun settings(): String =
        JSONObject(mapOf("base_url" to url, "client_id" to clientId, "client_secret" to clientSecret)).toString()
}

/** JSON text of `pairs`, nested maps and lists included. */
fun json(vararg pairs: Pair<String, Any?>): String = JSONObject(mapOf(*pairs)).toString()
