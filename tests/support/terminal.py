"""Starting a process as a shell at a terminal would, for the tests that press Ctrl-C.

A process started in the background of a non-interactive shell (`cmd &`, as a CI runner
or a script may start the suite) inherits SIGINT ignored, and so does every process it
starts; a signal mask is inherited too. Python then never raises KeyboardInterrupt, and
bash cannot trap INT ("signals ignored upon entry to a non-interactive shell cannot be
trapped"). A terminal's Ctrl-C reaches a foreground command with SIGINT at its default
and not blocked, so the tests give their child that before it runs."""

from __future__ import annotations

import signal


def sigint_as_at_a_terminal() -> None:
    """`preexec_fn` of the child: SIGINT at its default disposition, not blocked."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
