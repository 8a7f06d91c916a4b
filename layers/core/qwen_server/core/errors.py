"""The product's one error tree.

Upstream, store and validation failures are translated into these at the boundary where they happen; each
knows its HTTP status, its error type and whether another attempt (on another account) may succeed. One
renderer per API flavour (`api/openai/errors.py`, `api/anthropic/errors.py`) turns them into bodies.
"""

from __future__ import annotations


class GatewayError(Exception):
    status: int = 500
    type: str = "api_error"
    code: str | None = None
    retryable: bool = False  # may another account / attempt succeed?

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after = retry_after


class InvalidRequest(GatewayError):
    status = 400
    type = "invalid_request_error"


class AuthenticationFailed(GatewayError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(GatewayError):
    """The caller is known but may not use this route (e.g. an admin route without an admin key)."""

    status = 403
    type = "permission_error"
    code = "permission_denied"


class NotFound(GatewayError):
    status = 404
    type = "not_found_error"
    code = "model_not_found"


class PayloadTooLarge(GatewayError):
    status = 413
    type = "invalid_request_error"
    code = "request_too_large"


class Overloaded(GatewayError):
    """The gateway's own queue is full or the wait timed out."""

    status = 429
    type = "overloaded_error"
    code = "queue_full"


class InvalidModelOutput(GatewayError):
    """The answer broke the request's JSON contract (not JSON, or not valid against its schema) and so did
    the one repair attempt: an error, never an invalid body passed off as an answer. Asking again the same
    way would most likely fail the same way, hence `gave_up` (`x-should-retry: false`)."""

    status = 502
    type = "upstream_error"
    code = "invalid_model_output"
    gave_up = True


class NoAccounts(GatewayError):
    status = 503
    type = "service_unavailable"
    code = "no_accounts"


class Misconfigured(GatewayError):
    """A setting cannot work (serverless, where there is no start-up to stop): every request says which,
    until it is fixed. Retrying cannot help, hence `gave_up` (`x-should-retry: false`)."""

    status = 503
    code = "gateway_misconfigured"
    gave_up = True


class _Cleaned(GatewayError):
    """An error whose message came from outside (an upstream, a store's driver): cleaned of secrets, hosts
    and paths (`core.sanitise`) before anyone (a client, a log line) reads it."""

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        from qwen_server.core.sanitise import clean

        super().__init__(clean(message), param=param, code=code, retry_after=retry_after, status=status)


class StoreUnavailable(_Cleaned):
    status = 503
    type = "service_unavailable"
    code = "store_unavailable"


class UpstreamError(_Cleaned):
    """The upstream failed; `retryable` says whether another account might do better."""

    status = 502
    type = "upstream_error"
    code = "upstream_error"
    retryable = True


class UpstreamRateLimited(UpstreamError):
    code = "upstream_rate_limited"
    status = 429


class UpstreamAuthError(UpstreamError):
    """The account's credentials are confirmed bad: a sign-in or a credential check refused them.

    Raised only where the credential itself was checked; a chat call's 401/403 is `UpstreamForbidden`."""

    code = "upstream_auth_failed"


class UpstreamForbidden(UpstreamError):
    """A chat call answered 401/403: a model this account is not entitled to, or a request it refuses.

    Not yet the credential's fault: it counts against the (account, model) arm only, and the pool checks the
    credential in the background; another account may be entitled, so it is retried elsewhere."""

    status = 403
    type = "permission_error"
    code = "upstream_forbidden"


class UpstreamModelNotFound(UpstreamError):
    """One account's upstream does not serve the model; another account (another upstream) may."""

    status = 404
    type = "not_found_error"
    code = "model_not_found"


class UpstreamBlocked(UpstreamError):
    """A WAF / anti-bot challenge: not the account's fault."""

    code = "upstream_waf_challenge"


class UpstreamTimeout(UpstreamError):
    status = 504
    type = "timeout_error"
    code = "upstream_timeout"


class UpstreamBadRequest(UpstreamError):
    """The upstream refused the request itself; another account would refuse it too."""

    code = "upstream_bad_request"
    retryable = False


class UpstreamClientOutdated(UpstreamError):
    """The upstream refused the client `version` the gateway sends as too old. Every account would get the
    same answer, so it is neither retried elsewhere nor held against the account; only a newer version helps
    (learned from the web app, or set by the operator), hence `gave_up` (`x-should-retry: false`).

    `final`: the message already says what was tried and what to set (no second retry); `upstream`: the
    upstream's own words."""

    code = "upstream_client_outdated"
    retryable = False
    gave_up = True
    final = False
    upstream = ""


class UpstreamUnknownError(UpstreamError):
    """An upstream error code nobody mapped: not retried and not held against the account, since it may as
    well be the request's doing and retrying it on every account would strike them all."""

    code = "upstream_unknown_error"
    retryable = False
