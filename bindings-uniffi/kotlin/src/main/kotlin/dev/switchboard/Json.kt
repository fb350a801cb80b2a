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

/**
 * JSON text of strings, numbers, booleans, `null`, maps with string keys, lists and arrays. What
 * JSON cannot hold (NaN, a non-string key, a type it has no form for, nesting past [MAX_DEPTH],
 * as a map holding itself has) is [SwitchboardException.Validation] naming the place, before
 * anything is sent.
 */
internal fun encode(value: Any?): String = StringBuilder().also { write(it, value, "", 0) }.toString()

/** Deepest nesting sent: far past any provider's, short of the JVM's stack. */
private const val MAX_DEPTH = 256

private fun refuse(path: String, what: String): Nothing =
    throw SwitchboardException.Validation("${path.ifEmpty { "the request" }}: $what", "validation", null, null, null)

private fun write(out: StringBuilder, value: Any?, path: String, depth: Int) {
    if (depth > MAX_DEPTH) refuse(path, "nested deeper than $MAX_DEPTH levels (a map or list that holds itself?)")
    when (value) {
        null -> out.append("null")
        is String -> quote(out, value)
        // Integers and exact decimals go as their digits: a BigInteger past a Double's 53 bits,
        // or a BigDecimal's last places, are sent as given.
        is Boolean, is Int, is Long, is Short, is Byte, is java.math.BigInteger -> out.append(value.toString())
        is UByte, is UShort, is UInt, is ULong -> out.append(value.toString())
        is java.math.BigDecimal -> out.append(value.toString())
        is Number -> {
            val d = value.toDouble()
            if (!d.isFinite()) refuse(path, "$d is not a JSON number (NaN and infinities are not)")
            out.append(if (d == Math.rint(d) && Math.abs(d) < 1e15) d.toLong().toString() else d.toString())
        }
        is Map<*, *> -> {
            out.append('{')
            value.entries.forEachIndexed { i, (k, v) ->
                if (i > 0) out.append(',')
                // The key's type, never its text: a key may be anything, a secret included.
                val key = k as? String ?: refuse(path, "a JSON object key must be a String, not ${k?.let { it::class.qualifiedName }}")
                quote(out, key)
                out.append(':')
                write(out, v, if (path.isEmpty()) key else "$path.$key", depth + 1)
            }
            out.append('}')
        }
        is Iterable<*> -> list(out, value, path, depth)
        is Array<*> -> list(out, value.asIterable(), path, depth)
        else -> refuse(path, "a ${value::class.qualifiedName} has no JSON form: send a String, a number, a Boolean, a Map or a List")
    }
}

private fun list(out: StringBuilder, items: Iterable<*>, path: String, depth: Int) {
    out.append('[')
    items.forEachIndexed { i, v ->
        if (i > 0) out.append(',')
        write(out, v, "$path[$i]", depth + 1)
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
