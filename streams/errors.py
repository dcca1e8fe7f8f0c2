"""Errors a user can cause. Each carries one sentence that names the fix; the CLI prints
it without a traceback and exits non-zero."""


class PulseError(Exception):
    """A problem the user can fix; str(error) is the one sentence to show."""


class ConfigError(PulseError):
    """Bad configuration: a wrong value, an unknown key, a missing file."""
