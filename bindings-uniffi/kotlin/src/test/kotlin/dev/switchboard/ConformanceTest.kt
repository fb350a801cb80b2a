package dev.switchboard

import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.json.JSONArray
import org.json.JSONObject
import org.json.JSONTokener
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.fail
import java.io.File
import java.util.concurrent.TimeUnit

/** The optional SDK surface Kotlin has (tests/conformance/README.md, "Capabilities"): all of it. */
private val CAPABILITIES = listOf("local_timeout", "hosted_timeout", "local_max_concurrent_requests")

/** Only so a hung call cannot hang the run: the kit already fails a step after 60 s. */
private const val STEP_LIMIT_MS = 90_000L

/**
 * The cross-language conformance suite, Kotlin side: an interpreter of the kit's calls over the
 * public Kotlin API. The kit (tests/conformance-kit, the `conformance-kit` binary) loads and
 * checks tests/conformance/\*.yaml, starts the fake and the engine, sets each scenario up, fills
 * the placeholders, checks every outcome and reports; calls and outcomes are JSON lines on its
 * stdout and stdin. Calls arrive in core's shapes (`LocalSettings`, `ClientSettings`, `Target`,
 * `ExecuteRequest`, `NewConnector`), which the Kotlin API takes as JSON text as they are. An
 * error's `code` is read back from its [SwitchboardException] case, so every error scenario
 * checks that the error arrives as its code's case.
 */
class ConformanceTest {
    private val locals = mutableMapOf<String, Any>() // an Executor, or the exception building it raised
    private val executors = mutableMapOf<String, Executor>()

    @Test
    fun `every conformance scenario through the Kotlin SDK`() = runBlocking {
        val bin = File(System.getProperty("switchboard.bin.dir") ?: error("set -Dswitchboard.bin.dir"))
        val caps = CAPABILITIES.flatMap { listOf("--capability", it) }
        val command = listOf(File(bin, "conformance-kit").path, "run", "--language", "kotlin", "--engine-bin", File(bin, "switchboard").path) + caps
        val pb = ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT)
        pb.environment().keys.removeIf { it.startsWith("SWITCHBOARD_") }
        pb.environment()["SWITCHBOARD_LOG"] = "warn"
        val kit = pb.start()
        val toKit = kit.outputStream.bufferedWriter()
        var done: JSONObject? = null
        try {
            for (line in kit.inputStream.bufferedReader().lineSequence()) {
                val msg = JSONObject(line)
                when (msg.getString("op")) {
                    "scenario" -> { locals.clear(); executors.clear() }
                    "step" -> { toKit.write(outcome(msg).toString() + "\n"); toKit.flush() }
                    else -> { done = msg; break }
                }
            }
        } finally {
            toKit.close()
        }
        val exited = kit.waitFor(60, TimeUnit.SECONDS)
        val report = done ?: fail("the kit stopped without a report; its stderr is above")
        println(report.getString("summary"))
        assertTrue(exited && kit.exitValue() == 0 && report.getBoolean("ok"), report.optString("report"))
        if (System.getenv("CONFORMANCE_FILTER").isNullOrEmpty()) assertTrue(report.getInt("passed") >= 40, report.optString("report"))
    }

    /** `{"value"}`, `{"error"}` for a typed error, or `{"fail"}` for anything else. */
    private suspend fun outcome(c: JSONObject): JSONObject = try {
        JSONObject().put("value", withTimeout(STEP_LIMIT_MS) { call(c) } ?: JSONObject.NULL)
    } catch (e: SwitchboardException) {
        val i = e.info
        val error = JSONObject().put("code", i.code).put("message", i.reason).put("class", "SwitchboardException.${e::class.simpleName}")
        i.status?.let { error.put("status_code", it) }
        i.retryAfter?.let { error.put("retry_after", it) }
        i.requestId?.let { error.put("request_id", it) }
        JSONObject().put("error", error)
    } catch (e: Throwable) {
        JSONObject().put("fail", "threw ${e::class.qualifiedName} instead of a SwitchboardException: ${e.stackTraceToString()}")
    }

    /** A local handle, built on first use; an exception building it is thrown by every step using it. */
    private fun local(c: JSONObject): Executor {
        val handle = locals.getOrPut(c.getString("on")) {
            try { Executor.local(c.getJSONObject("local").toString()) } catch (e: SwitchboardException) { e }
        }
        return handle as? Executor ?: throw handle as SwitchboardException
    }

    private fun save(c: JSONObject, executor: Executor) {
        c.optString("save_as").takeIf { it.isNotEmpty() }?.let { executors[it] = executor }
    }

    private fun client(c: JSONObject) = HostedClient(c.getJSONObject("client").toString())

    private suspend fun call(c: JSONObject): Any? {
        val call = c.getString("call")
        val executor = when {
            call == "local.describe" -> return describe(local(c).slug()!!)
            call.startsWith("local.") -> local(c)
            call.startsWith("executor.") ->
                if (c.has("on")) executors.getValue(c.getString("on")) else Executor.hosted(client(c), c.getJSONObject("target").toString())
            call == "connect" -> {
                val settings = JSONObject(c.getJSONObject("client").toMap()).put("workspace_name", c.getString("workspace_name"))
                if (c.has("connector_id")) settings.put("connector_id", c.get("connector_id"))
                val conn = connect(c.getString("slug"), settings.toString())
                val info = conn.connectorInfo()!!.json() // connect() resolves lazily; the lookup, now (README)
                save(c, conn)
                return info
            }
            else -> {
                val ws = Workspace(client(c), JSONObject().put("workspace_name", c.getString("workspace_name")).toString())
                return when (call) {
                    "workspace.create_connector" -> ws.createConnector(c.getJSONObject("connector").toString()).json()
                    "workspace.list_connectors" -> JSONArray(ws.listConnectors().map { it.json() })
                    "workspace.get_connector" -> {
                        val lookup = c.getJSONObject("lookup")
                        val hosted = ws.getConnector(lookup.optString("connector_id").ifEmpty { null }, lookup.optString("name").ifEmpty { null })
                        hosted.connectorInfo()!!.json().also { save(c, hosted) }
                    }
                    "workspace.delete_connector" -> ws.deleteConnector(c.getString("connector_id")).let { null }
                    else -> error("unknown call $call")
                }
            }
        }
        val request = c.optJSONObject("request")?.toString()
        return when {
            call.endsWith(".execute") -> page(executor.execute(request!!))
            call.endsWith(".paginate") -> {
                val pages = executor.paginate(request!!)
                JSONArray().also { all -> while (true) all.put(page(pages.next() ?: break)) }
            }
            call.endsWith(".check") -> parse(executor.check().dataJson)
            else -> error("unknown call $call")
        }
    }

    /** `{data, meta}` of a [ResultView]. */
    private fun page(view: ResultView): JSONObject =
        JSONObject().put("data", parse(view.dataJson)).put("meta", JSONObject(view.metaJson))

    private fun parse(text: String): Any = JSONTokener(text).nextValue()

    /** Core's `ConnectorInfo` JSON of the record. */
    private fun ConnectorInfo.json(): JSONObject = JSONObject(
        mapOf(
            "id" to id, "name" to name, "connector_type" to connectorType, "slug" to slug, "definition_id" to definitionId,
            "workspace_name" to workspaceName, "created_at" to createdAt, "updated_at" to updatedAt,
        ).mapValues { it.value ?: JSONObject.NULL },
    )
}
