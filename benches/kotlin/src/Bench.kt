// The Kotlin side of the benchmarks (benches/run.py drives it; it prints one JSON object):
// our Kotlin package on the JVM (UniFFI), local mode, GitHub `issues list`, `--warmup` calls then
// `--calls` sequential timed calls; wall per call (median, mean), CPU per call (the JVM process,
// every thread: JIT and GC included), peak RSS (VmHWM). Each call's records are parsed from
// `dataJson` into a tree, as a caller reads them (`--parse`): with Jackson (the default: the JVM's
// usual JSON library, as Python's and Node's benches build dicts and objects), with org.json, or not
// at all (`none`: the package's own cost, the records left as text).
package dev.switchboard.bench

import com.fasterxml.jackson.databind.ObjectMapper
import dev.switchboard.Executor
import dev.switchboard.connectors.GithubConnector
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import java.io.File
import java.lang.management.ManagementFactory

fun main(args: Array<String>) {
    val opt = { name: String, dflt: String -> args.indexOf("--$name").let { if (it >= 0) args[it + 1] else dflt } }
    val calls = opt("calls", "500").toInt()
    val warmup = opt("warmup", "50").toInt()
    val mapper = ObjectMapper()
    // Reads one page as the chosen parser builds it: its number of records (with `none`, the
    // text's length, the records left unread).
    val read: (String) -> Int = when (val parse = opt("parse", "jackson")) {
        "jackson" -> { text -> mapper.readTree(text).size() }
        "orgjson" -> { text -> JSONArray(text).length() }
        "none" -> { text -> text.length }
        else -> throw IllegalArgumentException("--parse is jackson, orgjson or none, not $parse")
    }
    val settings = JSONObject(
        mapOf(
            "connector" to "github",
            "credentials" to mapOf("personal_access_token" to "ghp_bench_token_0001"),
            "config" to mapOf("base_url" to opt("base-url", "")),
        ),
    ).toString()
    val gh = GithubConnector(Executor.local(settings))
    val os = ManagementFactory.getOperatingSystemMXBean() as com.sun.management.OperatingSystemMXBean
    val out = runBlocking {
        repeat(warmup) { read(gh.issues.list(owner = "octo", repo = "hello", perPage = 30).dataJson) }
        val walls = LongArray(calls)
        var records = 0
        val cpu0 = os.processCpuTime
        val t0 = System.nanoTime()
        for (i in 0 until calls) {
            val t = System.nanoTime()
            records = read(gh.issues.list(owner = "octo", repo = "hello", perPage = 30).dataJson)
            walls[i] = System.nanoTime() - t
        }
        val total = System.nanoTime() - t0
        val cpu = os.processCpuTime - cpu0
        walls.sort()
        val hwm = File("/proc/self/status").readLines().first { it.startsWith("VmHWM:") }.split(Regex("\\s+"))[1].toLong()
        JSONObject(
            mapOf(
                "calls" to calls,
                "records" to records,
                "wall_median_us" to walls[calls / 2] / 1e3,
                "wall_mean_us" to total.toDouble() / calls / 1e3,
                "cpu_per_call_us" to cpu.toDouble() / calls / 1e3,
                "peak_rss_kb" to hwm,
            ),
        )
    }
    println(out)
}
