"""LiteLLM's loggers (``verbose_logger``, ``verbose_proxy_logger``,
``verbose_router_logger``), writing to the proxy's log.

While a hook runs, a record goes through hookgate's ``log`` import (a proxy log line
tagged with the plugin's name and the request id); outside hooks (the module's top
level, which componentize-py runs at build time) it goes to stderr. The level starts at
WARNING, as LiteLLM's without ``LITELLM_LOG``; ``verbose_logger.setLevel(...)`` in the
callback file changes it, as with LiteLLM.
"""

import logging
import sys

__all__ = ["verbose_logger", "verbose_proxy_logger", "verbose_router_logger"]

# Set by hookgate_sdk.litellm while it runs one of the handler's methods: only then may
# the log import be called.
in_hook = False


class _HookgateLog(logging.Handler):
    def emit(self, record):
        try:
            message = self.format(record)
            if in_hook:
                from hookgate_sdk import log

                level = record.levelno
                write = log.error if level >= logging.ERROR else log.warn if level >= logging.WARNING else log.info if level >= logging.INFO else log.debug
                write(message)
            else:
                print(message, file=sys.stderr)
        except Exception:  # a log line must never fail the hook that writes it
            self.handleError(record)


def _logger(name):
    logger = logging.getLogger(name)
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    if not any(isinstance(handler, _HookgateLog) for handler in logger.handlers):
        handler = _HookgateLog()
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
        logger.addHandler(handler)
    return logger


verbose_logger = _logger("LiteLLM")
verbose_proxy_logger = _logger("LiteLLM Proxy")
verbose_router_logger = _logger("LiteLLM Router")
