"""Forked worker processes: how a run uses more than one CPU.

A forked worker starts with the parent's loaded inventory and rules for free, where a spawned one
would pay every import and rebuild every input. Fork is only safe on Linux (macOS frameworks are
not fork-safe), so elsewhere everything runs in one process.
"""

from __future__ import annotations

import os
import sys


def forked_cpus() -> int:
    """How many CPUs this process and its forked workers may use: 1 where workers are not forked."""
    if not sys.platform.startswith("linux"):
        return 1
    return len(os.sched_getaffinity(0))
