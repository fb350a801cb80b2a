package dev.switchboard

/** The fields every [SwitchboardException] case carries (see [info]). */
data class ErrorInfo(
    /** The stable snake_case code the case stands for, e.g. `upstream_timeout`. */
    val code: String,
    /** Core's message. */
    val reason: String,
    /** The group of the code, e.g. `http_status`, for a handler that groups codes. */
    val category: String,
    /** The HTTP status, when there was one. */
    val status: Int?,
    val requestId: String?,
    /** Seconds to wait when rate limited. */
    val retryAfter: Double?,
)

/** The stable snake_case code of this case (`UpstreamHttp` is `upstream_http`). */
val SwitchboardException.code: String
    get() = javaClass.simpleName.replace(Regex("(?<=.)([A-Z])"), "_$1").lowercase()

/**
 * The fields of whichever case this is, for a handler that catches [SwitchboardException] as a
 * whole (UniFFI gives each case its own properties and the sealed class none).
 */
val SwitchboardException.info: ErrorInfo
    get() = when (this) {
        is SwitchboardException.BadRequest -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Validation -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Authentication -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.UpstreamAuthentication -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Forbidden -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.NotFound -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Conflict -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.PayloadTooLarge -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.RateLimited -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.UpstreamHttp -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.UpstreamTimeout -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Network -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Configuration -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Unavailable -> info(reason, category, status, requestId, retryAfter)
        is SwitchboardException.Internal -> info(reason, category, status, requestId, retryAfter)
    }

private fun SwitchboardException.info(reason: String, category: String, status: Int?, requestId: String?, retryAfter: Double?) =
    ErrorInfo(code, reason, category, status, requestId, retryAfter)
