"""Writing to the proxy's log: one line per call, tagged by the host with the plugin's
name and the request id (long messages are truncated by the host)::

    from hookgate_sdk import log
    log.info("masked 2 addresses")
"""

from . import _host

__all__ = ["trace", "debug", "info", "warn", "error"]

_LEVELS = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR")


def _log(level, message):
    message = str(message)
    if _host.local is not None:
        _host.local.log(level.lower(), message)
        return
    types = _host.imports("hookgate_plugin_types")
    _host.imports("log").log(getattr(types.LogLevel, level), message)


def trace(message):
    """Logs ``message`` at trace level."""
    _log("TRACE", message)


def debug(message):
    """Logs ``message`` at debug level."""
    _log("DEBUG", message)


def info(message):
    """Logs ``message`` at info level."""
    _log("INFO", message)


def warn(message):
    """Logs ``message`` at warn level."""
    _log("WARN", message)


def error(message):
    """Logs ``message`` at error level."""
    _log("ERROR", message)
