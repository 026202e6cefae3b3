"""The bench's five Python plugins in one component, for scenario (p): what one
interpreter shared by a request's plugins saves over five (`hookgate_sdk.Bundle`).

`make bench-guests` assembles this folder under `target/five-py/`: this module, and each
member's own source copied in as the module imported below (`PY_BUNDLE_MEMBERS` in the
Makefile), so the members are exactly the plugins scenario (d) runs one by one. The
config is theirs, by member name; the members run in (d)'s priority order.
"""

from banned_keywords import BannedKeywords
from cost_logger import CostLogger
from header_injector import HeaderInjector
from pii_redactor import PiiRedactor
from rate_limiter import RateLimiter

from hookgate_sdk import Bundle, export


class FivePlugins(Bundle):
    name = "five-py"
    version = "0.2.0"
    members = [
        ("rate-limiter", RateLimiter),
        ("pii-redactor", PiiRedactor),
        ("banned-keywords", BannedKeywords),
        ("header-injector", HeaderInjector),
        ("cost-logger", CostLogger),
    ]


WitWorld = export(FivePlugins)
