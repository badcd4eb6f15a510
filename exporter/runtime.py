"""The long-running agent process, started by `hostpulse-exporter` with a validated config.

The CLI validates flags, environment and file with pydantic-settings, then replaces itself with
`python -m exporter.runtime --config-fd N` (`os.execve`: the same PID, so SIGTERM, systemd and
supervisors still see one process). The config travels as JSON in an inherited memfd, never in
argv or the environment, because it holds the push token and the OTLP headers. This process never
imports pydantic, pydantic-settings, YAML or argparse: together they would cost ~30 MB of resident
memory for as long as the agent runs. It rebuilds the plain `exporter.options` dataclasses instead.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import warnings
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import TYPE_CHECKING

from exporter.options import AgentOptions, agent_options_from_json

if TYPE_CHECKING:
    from exporter.agent import Agent

log = logging.getLogger("exporter.runtime")

CONFIG_FD_FLAG = "--config-fd"
EXIT_CONFIG = 2
EXIT_RUNTIME = 1
# glibc gives every thread that allocates its own arena (up to 8 per core); the agent's handful of
# threads allocate little, and each arena keeps its freed pages. Two arenas hold them all.
MALLOC_ARENA_MAX = "2"


def runtime_command(config_fd: int) -> list[str]:
    # no_debug_ranges: no column tables in code objects (~0.2 MB); tracebacks keep line numbers.
    # -OO: no docstrings in memory (~1.3 MB with every output on) and no asserts; nothing the
    # runtime imports reads a docstring to work (argparse and pydantic stay in the CLI).
    return [
        sys.executable,
        "-OO",
        "-X",
        "no_debug_ranges",
        "-m",
        "exporter.runtime",
        CONFIG_FD_FLAG,
        str(config_fd),
    ]


def runtime_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The runtime's environment: the caller's, plus a small malloc arena count unless set."""
    env = dict(environ)
    env.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENA_MAX)
    return env


def exec_runtime(payload: bytes) -> None:
    """Become the runtime with `RuntimeConfig.handover_json()`; returns only where impossible."""
    if not sys.executable or not hasattr(os, "memfd_create"):  # memfd: Linux only
        return
    fd = os.memfd_create("hostpulse-config", 0)  # no MFD_CLOEXEC: the runtime inherits it
    try:
        written = 0
        while written < len(payload):
            written += os.write(fd, payload[written:])
        os.lseek(fd, 0, os.SEEK_SET)
        os.set_inheritable(fd, True)
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        # Our own interpreter and module, no shell: nothing from outside reaches the command line.
        os.execve(sys.executable, runtime_command(fd), runtime_environment(os.environ))  # noqa: S606
    except OSError as exc:
        log.warning(
            "cannot start a separate runtime; running in this process",
            extra={"fields": {"error": str(exc)}},
        )
    os.close(fd)


def read_handover(config_fd: int) -> AgentOptions:
    """The config the CLI handed over (validated there); ValueError with one line if unusable."""
    try:
        with os.fdopen(config_fd, "rb") as handover:
            data = handover.read()
    except OSError as exc:
        raise ValueError(f"cannot read the config from fd {config_fd}: {exc}") from exc
    return agent_options_from_json(data)


def raise_open_file_limit() -> None:
    """Raise the soft RLIMIT_NOFILE to the hard limit, as Go daemons like node_exporter do.

    The process scan keeps each process's stat files open between cycles; with the common soft
    limit of 1024 only a few hundred processes would get that cheap path.
    """
    try:
        import resource
    except ImportError:  # not on Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = max(soft, 1 << 20)
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            log.debug("cannot raise the open-file limit", extra={"fields": {"soft": soft}})


def run_agent(config: AgentOptions) -> int:
    """Build and run the agent until SIGTERM/SIGINT; the exit code."""
    agent: Agent | None = None
    stop_signals: list[str] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log.info("stopping", extra={"fields": {"signal": name}})
        stop_signals.append(name)
        if agent is not None:
            agent.stop()

    # Before building: a signal that arrives while the outputs' libraries load still stops cleanly.
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    from exporter.agent import build_agent

    raise_open_file_limit()
    agent = build_agent(config)
    if stop_signals:
        agent.stop()
    try:
        agent.run()
    except OSError as exc:
        log.error("cannot start", extra={"fields": {"error": str(exc)}})
        return EXIT_RUNTIME
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2 or args[0] != CONFIG_FD_FLAG or not args[1].isdigit():
        print(
            "exporter.runtime: started by hostpulse-exporter only "
            f"(usage: {CONFIG_FD_FLAG} FD); run hostpulse-exporter instead",
            file=sys.stderr,
        )
        return EXIT_CONFIG
    try:
        config = read_handover(int(args[1]))
    except ValueError as exc:
        print(f"hostpulse-exporter: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from exporter.structured_logging import configure_logging

    configure_logging(config.log_format, config.log_level)
    block_unused_psutil(config)
    block_unused_charset_detection(config)
    return run_agent(config)


def block_unused_psutil(config: AgentOptions) -> None:
    """Keep psutil (~2.7 MB resident) out of a procfs agent.

    The collectors read procfs directly and use psutil only without it; the OTel SDK imports psutil
    merely as an optional helper for a process resource detector the agent never uses.
    """
    from exporter.collectors.registry import procfs_available

    if procfs_available(config.procfs) and "psutil" not in sys.modules:
        sys.modules["psutil"] = None  # type: ignore[assignment]  # `import psutil` -> ImportError


# What requests warns once at import when neither encoding detector can be imported.
_NO_CHARSET_DETECTION = "Unable to find acceptable character detection dependency"


def block_unused_charset_detection(config: AgentOptions) -> None:
    """Keep charset_normalizer (~2.7 MB resident) out of an agent pushing OTLP over HTTP.

    The OTLP/HTTP exporter sends through a `requests` session, and requests imports an encoding
    detector at import time only to guess the charset of a response's text when asked for it. The
    exporter reads the status, reason and headers of a response, never its text; without a detector
    requests falls back to UTF-8 (a documented, supported setup) after one import-time warning.
    """
    if not (config.otlp.enabled and config.otlp.protocol == "http/protobuf"):
        return
    if any(name in sys.modules for name in ("requests", "charset_normalizer", "chardet")):
        return  # too late (or already chosen): leave them alone
    sys.modules["charset_normalizer"] = None  # type: ignore[assignment]  # import -> ImportError
    sys.modules["chardet"] = None  # type: ignore[assignment]
    warnings.filterwarnings("ignore", message=_NO_CHARSET_DETECTION, module="requests")


if __name__ == "__main__":
    sys.exit(main())
