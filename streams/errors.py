"""Errors a user can cause. Each carries one sentence that names the fix; the CLI prints
it without a traceback and exits non-zero, by one rule for every command (`exit_code`):
2 when the command line itself is wrong (click's own usage errors, and `UsageError`: a bad
option value, a named input that does not exist), 1 when the run fails (configuration,
file contents, I/O, the broker, nothing to compute)."""

USAGE_EXIT = 2
RUNTIME_EXIT = 1


class PulseError(Exception):
    """A problem the user can fix; str(error) is the one sentence to show."""


class ConfigError(PulseError):
    """Bad configuration: a wrong value, an unknown key, a missing file."""


class UsageError(PulseError):
    """The command line is wrong: a bad option value or argument (exit code 2)."""


def exit_code(error: PulseError) -> int:
    """2 for a usage error, 1 for any other failure."""
    return USAGE_EXIT if isinstance(error, UsageError) else RUNTIME_EXIT
