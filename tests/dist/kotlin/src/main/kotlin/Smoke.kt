// Smoke test of the installed Kotlin jar (scripts/test-dist.sh): local mode against the fake
// upstream, a typed validation error, then hosted mode through a real `switchboard serve`.
// Environment: FAKE, API, CLIENT_ID, CLIENT_SECRET.
package dev.switchboard.smoke

import dev.switchboard.Executor
import dev.switchboard.HostedClient
import dev.switchboard.SwitchboardException
import dev.switchboard.Workspace
import dev.switchboard.connectors.GithubConnector
import kotlinx.coroutines.runBlocking

private val env = System.getenv()
private const val TOKEN = "ghp_fake_valid_token_0001"

/** JSON text of flat string pairs (the smoke needs no JSON library). */
private fun obj(vararg pairs: Pair<String, String>): String =
    pairs.joinToString(",", "{", "}") { (k, v) -> "\"$k\":" + (if (v.startsWith("{") || v.startsWith("[")) v else "\"$v\"") }

/** The issue numbers of a list result (an issue's `databaseId` comes right before its number). */
private fun numbers(dataJson: String): List<Int> =
    Regex("\"databaseId\":\\d+,\"number\":(\\d+)").findAll(dataJson).map { it.groupValues[1].toInt() }.toList()

fun main() = runBlocking {
    val fake = env.getValue("FAKE")
    val local = GithubConnector(
        Executor.local(
            obj(
                "connector" to "github",
                "credentials" to obj("personal_access_token" to TOKEN),
                "config" to obj("base_url" to "$fake/github"),
            ),
        ),
    )
    val res = local.issues.list(owner = "octo", repo = "hello", perPage = 2)
    check(numbers(res.dataJson) == listOf(5, 4)) { res.dataJson }
    try {
        local.executor.execute(obj("entity" to "issues", "action" to "list", "params" to obj("owner" to "octo")))
        error("a missing param was accepted")
    } catch (e: SwitchboardException.Validation) {
        check("repo" in e.reason) { e.reason }
    }
    val client = HostedClient(
        obj("base_url" to env.getValue("API"), "client_id" to env.getValue("CLIENT_ID"), "client_secret" to env.getValue("CLIENT_SECRET")),
    )
    val ws = Workspace(client, obj("workspace_name" to "dist-kotlin"))
    val id = ws.createConnector(
        obj(
            "connector_type" to "github",
            "credentials" to obj("personal_access_token" to TOKEN),
            "replication_config" to obj("repositories" to "[\"octo/hello\"]"),
            "config" to obj("base_url" to "$fake/github"),
        ),
    ).id
    val hosted = GithubConnector(Executor.hosted(client, obj("connector_id" to id)))
    val again = hosted.issues.list(owner = "octo", repo = "hello", perPage = 2)
    check(numbers(again.dataJson) == listOf(5, 4)) { again.dataJson }
    println("kotlin: local, validation and hosted ok")
}
