package dev.switchboard

/**
 * The result as JSON for a model, at most [maxChars] characters: long lists lose their last
 * records and long text is cut, with a `_truncated` note saying what was cut (as Python's
 * `to_tool_output` and Node's `toToolOutput`). [maxChars] below 1 is
 * [SwitchboardException.Validation].
 */
fun ResultView.toToolOutput(maxChars: Long = 20_000): String = toolOutput(this, maxChars)
