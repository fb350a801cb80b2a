package dev.switchboard

/** The fields every [SwitchboardException] case carries (see [info]). */
data class ErrorInfo(
    /** Core's message. */
    val reason: String,
    /** The stable snake_case code, e.g. `upstream_timeout`. */
    val code: String,
    /** The HTTP status, when there was one. */
    val status: Int?,
    val requestId: String?,
    /** Seconds to wait when rate limited. */
    val retryAfter: Double?,
)

/**
 * The fields of whichever case this is, for a handler that catches [SwitchboardException] as a
 * whole (UniFFI gives each case its own properties and the sealed class none).
 */
val SwitchboardException.info: ErrorInfo
    get() = when (this) {
        is SwitchboardException.Validation -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.Authentication -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.UpstreamAuthentication -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.NotFound -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.Ambiguity -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.RateLimit -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.HttpStatus -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.Network -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.Configuration -> ErrorInfo(reason, code, status, requestId, retryAfter)
        is SwitchboardException.Other -> ErrorInfo(reason, code, status, requestId, retryAfter)
    }
