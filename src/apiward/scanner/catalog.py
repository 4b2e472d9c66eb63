"""Catalog of the checks: OWASP categories, CWE, severity, remediation and the gateway patch.

The check names are a public interface (the lab's hole manifest and the README use them).
"""

from __future__ import annotations

from dataclasses import dataclass

from apiward.scanner.findings import Severity


@dataclass(frozen=True)
class Category:
    owasp_2023: str
    name_2023: str
    name_2019: str


API1 = Category(
    "API1:2023", "Broken Object Level Authorization", "API1:2019 Broken Object Level Authorization"
)
API2 = Category("API2:2023", "Broken Authentication", "API2:2019 Broken User Authentication")
API3 = Category(
    "API3:2023", "Broken Object Property Level Authorization", "API3:2019 Excessive Data Exposure"
)
API3_MASS = Category("API3:2023", "Broken Object Property Level Authorization", "API6:2019 Mass Assignment")
API4 = Category(
    "API4:2023", "Unrestricted Resource Consumption", "API4:2019 Lack of Resources & Rate Limiting"
)
API5 = Category(
    "API5:2023", "Broken Function Level Authorization", "API5:2019 Broken Function Level Authorization"
)
API6 = Category("API6:2023", "Unrestricted Access to Sensitive Business Flows", "none (new in 2023)")
API7 = Category("API7:2023", "Server Side Request Forgery", "none (new in 2023)")
API8 = Category("API8:2023", "Security Misconfiguration", "API7:2019 Security Misconfiguration")
API9 = Category("API9:2023", "Improper Inventory Management", "API9:2019 Improper Assets Management")
INJECTION = Category("n/a", "Injection (no 2023 API category)", "API8:2019 Injection")


@dataclass(frozen=True)
class CheckInfo:
    """Static description of one check, shared by every result it produces."""

    name: str
    category: Category
    cwe: int
    severity: Severity
    title: str
    remediation: str
    patch: str = ""
    """The gateway stage that mitigates a finding of this check, empty when none does."""


def _info(
    name: str, category: Category, cwe: int, severity: Severity, title: str, remediation: str, patch: str = ""
) -> CheckInfo:
    return CheckInfo(name, category, cwe, severity, title, remediation, patch)


_H, _M, _L, _C = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.CRITICAL

CHECKS: dict[str, CheckInfo] = {
    info.name: info
    for info in (
        _info(
            "bola-read",
            API1,
            639,
            _H,
            "Another user's object can be read",
            "Check on every object access that the caller owns the object or may read it.",
            "authz",
        ),
        _info(
            "bola-write",
            API1,
            639,
            _C,
            "Another user's object can be changed or deleted",
            "Check ownership before every update and delete, not only on reads.",
            "authz",
        ),
        _info(
            "id-enumeration",
            API1,
            639,
            _M,
            "Objects can be walked by sequential ids",
            "Check ownership on each id and prefer random identifiers (UUIDs).",
            "authz",
        ),
        _info(
            "unauthenticated-access",
            API2,
            306,
            _H,
            "Operation answers without credentials",
            "Require authentication on every operation that declares a security scheme.",
            "authn",
        ),
        _info(
            "jwt-alg-none",
            API2,
            347,
            _C,
            "Unsigned JWT (alg none) accepted",
            "Pin the accepted algorithms when verifying tokens; never accept 'none'.",
            "authn",
        ),
        _info(
            "jwt-bad-signature",
            API2,
            347,
            _C,
            "JWT with an invalid signature accepted",
            "Verify the token signature on every request.",
            "authn",
        ),
        _info(
            "jwt-expired",
            API2,
            613,
            _H,
            "Expired JWT accepted",
            "Verify the exp claim (with a small leeway) on every request.",
            "authn",
        ),
        _info(
            "jwt-weak-secret",
            API2,
            521,
            _C,
            "JWT HMAC key is a guessable word",
            "Use a random key of at least 256 bits from a secret store, or an asymmetric algorithm.",
            "authn",
        ),
        _info(
            "user-enumeration",
            API2,
            204,
            _M,
            "Login tells unknown users from wrong passwords",
            "Return the same status and message for every failed login.",
            "",
        ),
        _info(
            "login-no-throttle",
            API2,
            307,
            _H,
            "No throttling or lockout on login",
            "Limit failed logins per account and per client, with back-off or lockout.",
            "rate_limit",
        ),
        _info(
            "sensitive-data",
            API3,
            213,
            _H,
            "Response exposes sensitive data",
            "Return only the fields the client needs; never return credentials or full card numbers.",
            "redaction",
        ),
        _info(
            "undeclared-field",
            API3,
            213,
            _L,
            "Response contains fields its schema does not declare",
            "Serialise responses through an explicit output model.",
            "schema",
        ),
        _info(
            "mass-assignment",
            API3_MASS,
            915,
            _H,
            "Privileged property accepted from the client",
            "Bind request bodies to an explicit input model without privileged properties.",
            "schema",
        ),
        _info(
            "no-rate-limit",
            API4,
            770,
            _M,
            "No rate limit",
            "Limit requests per client and per consumer; answer 429 with Retry-After.",
            "rate_limit",
        ),
        _info(
            "unbounded-page-size",
            API4,
            770,
            _M,
            "Page size is not capped",
            "Cap page sizes server-side and reject larger values.",
            "schema",
        ),
        _info(
            "oversized-body",
            API4,
            770,
            _M,
            "Very large request bodies accepted",
            "Limit request body size per operation.",
            "limits",
        ),
        _info(
            "redos",
            API4,
            1333,
            _H,
            "Input makes response time grow super-linearly (ReDoS)",
            "Use linear-time regular expressions and bound input length before matching.",
            "schema",
        ),
        _info(
            "admin-function",
            API5,
            285,
            _C,
            "Administrative operation works for a non-admin user",
            "Check the caller's role on every administrative operation.",
            "authz",
        ),
        _info(
            "method-switch",
            API5,
            285,
            _H,
            "Undocumented HTTP method works on a known path",
            "Answer 405 for every method an operation does not declare.",
            "methods",
        ),
        _info(
            "business-flow",
            API6,
            799,
            _M,
            "Business flow can be repeated without limit",
            "Limit how often one account may run the flow.",
            "rate_limit",
        ),
        _info(
            "ssrf",
            API7,
            918,
            _H,
            "Server fetches a URL given by the client",
            "Allow-list outbound destinations; block loopback, private and metadata addresses.",
            "waf",
        ),
        _info(
            "security-headers",
            API8,
            693,
            _L,
            "Security headers missing",
            "Send X-Content-Type-Options: nosniff, Cache-Control and, on HTTPS, HSTS.",
            "headers",
        ),
        _info(
            "cors",
            API8,
            942,
            _H,
            "CORS reflects any origin with credentials",
            "Allow-list CORS origins; never reflect the Origin header with credentials.",
            "headers",
        ),
        _info(
            "stack-trace",
            API8,
            209,
            _M,
            "Error response contains a stack trace or debug page",
            "Turn off debug mode and return generic error bodies.",
            "redaction",
        ),
        _info(
            "trace-method",
            API8,
            16,
            _L,
            "TRACE method enabled",
            "Reject TRACE and other methods the API does not use.",
            "methods",
        ),
        _info(
            "old-version",
            API9,
            1059,
            _M,
            "Older API version still answers",
            "Retire old versions or give them the same controls as the current one.",
            "route",
        ),
        _info(
            "undocumented-path",
            API9,
            1059,
            _M,
            "Undocumented path answers",
            "Remove or document the path; route only documented paths.",
            "route",
        ),
        _info(
            "exposed-docs",
            API9,
            200,
            _L,
            "API documentation or debug endpoint exposed",
            "Serve documentation and debug endpoints only internally.",
            "route",
        ),
        _info("sqli", INJECTION, 89, _C, "SQL injection", "Use parameterised queries.", "waf"),
        _info(
            "nosqli",
            INJECTION,
            943,
            _C,
            "NoSQL operator injection",
            "Accept only scalar values where a scalar is expected; reject operator objects.",
            "waf",
        ),
        _info(
            "os-command",
            INJECTION,
            78,
            _C,
            "OS command injection",
            "Never pass input to a shell; call programs with an argument list.",
            "waf",
        ),
        _info(
            "path-traversal",
            INJECTION,
            22,
            _H,
            "Path traversal",
            "Resolve paths and check that they stay inside the allowed directory.",
            "waf",
        ),
        _info(
            "ssti",
            INJECTION,
            1336,
            _C,
            "Server-side template injection",
            "Never build templates from input; pass input as template data.",
            "waf",
        ),
    )
}
