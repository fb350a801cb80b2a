package dev.switchboard

/**
 * The `ExecuteRequest` JSON of a typed connector's call: `{"entity", "action", "params"}`, the
 * params whose value is `null` (an optional param not given) left out. Hand-written, so the
 * package needs no JSON library at run time.
 */
internal fun requestJson(entity: String, action: String, vararg params: Pair<String, Any?>): String {
    val given = params.filter { it.second != null }.toMap()
    return encode(mapOf("entity" to entity, "action" to action, "params" to given))
}

/** JSON text of strings, numbers, booleans, `null`, maps with string keys, lists and arrays. */
internal fun encode(value: Any?): String = StringBuilder().also { write(it, value) }.toString()

private fun write(out: StringBuilder, value: Any?) {
    when (value) {
        null -> out.append("null")
        is String -> quote(out, value)
        is Boolean, is Int, is Long, is Short, is Byte -> out.append(value.toString())
        is Number -> {
            val d = value.toDouble()
            require(d.isFinite()) { "JSON has no $d" }
            out.append(if (d == Math.rint(d) && Math.abs(d) < 1e15) d.toLong().toString() else d.toString())
        }
        is Map<*, *> -> {
            out.append('{')
            value.entries.forEachIndexed { i, (k, v) ->
                if (i > 0) out.append(',')
                quote(out, k as? String ?: throw IllegalArgumentException("a JSON object key must be a String: $k"))
                out.append(':')
                write(out, v)
            }
            out.append('}')
        }
        is Iterable<*> -> list(out, value)
        is Array<*> -> list(out, value.asIterable())
        else -> throw IllegalArgumentException("cannot send a ${value::class.qualifiedName} as JSON")
    }
}

private fun list(out: StringBuilder, items: Iterable<*>) {
    out.append('[')
    items.forEachIndexed { i, v ->
        if (i > 0) out.append(',')
        write(out, v)
    }
    out.append(']')
}

private fun quote(out: StringBuilder, s: String) {
    out.append('"')
    for (c in s) {
        when {
            c == '"' -> out.append("\\\"")
            c == '\\' -> out.append("\\\\")
            c == '\n' -> out.append("\\n")
            c == '\r' -> out.append("\\r")
            c == '\t' -> out.append("\\t")
            // A surrogate goes as its escape: a pair reads back as its character, and a lone
            // one reaches core, which refuses it (UTF-8 would have turned it into '?').
            c < ' ' || c.isSurrogate() -> out.append("\\u%04x".format(c.code))
            else -> out.append(c)
        }
    }
    out.append('"')
}
