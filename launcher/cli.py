"""`hostpulse up [--data-dir DIR] [--backend-port N] [--dashboard-port N] [--exporter-port N]
[--no-exporter]`: the whole stack on one machine."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from launcher.paths import default_data_dir


def _version() -> str:
    try:
        return version("hostpulse")
    except PackageNotFoundError:
        return "unknown"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 1-65535, got {port}")
    return port


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hostpulse",
        description="HostPulse on one machine: PostgreSQL, Redis, backend, dashboard and exporter.",
    )
    parser.add_argument("--version", action="version", version=f"hostpulse {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser(
        "up",
        help="run the whole stack until Ctrl-C",
        description="Embedded PostgreSQL and Redis (unless DATABASE_URL / REDIS_URL are set), "
        "the backend, the dashboard and a local exporter. The first start creates the admin "
        "(password from HOSTPULSE_ADMIN_PASSWORD, else generated and printed once).",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        help="where state is kept (default $XDG_DATA_HOME/hostpulse or ~/.local/share/hostpulse)",
    )
    up.add_argument("--backend-port", type=_port, default=8000, help="default 8000")
    up.add_argument("--dashboard-port", type=_port, default=8080, help="default 8080")
    up.add_argument("--exporter-port", type=_port, default=9860, help="default 9860")
    up.add_argument("--no-exporter", action="store_true", help="do not collect this host's metrics")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    ports = [args.backend_port, args.dashboard_port] + (
        [] if args.no_exporter else [args.exporter_port]
    )
    if len(set(ports)) != len(ports):
        print(
            "hostpulse: --backend-port, --dashboard-port and --exporter-port must differ",
            file=sys.stderr,
        )
        return 2
    from launcher.stack import UpOptions, run_up

    data_dir = args.data_dir or default_data_dir(os.environ, Path.home())
    options = UpOptions(
        data_dir=data_dir.expanduser().resolve(),
        backend_port=args.backend_port,
        dashboard_port=args.dashboard_port,
        exporter_port=args.exporter_port,
        exporter=not args.no_exporter,
    )
    return run_up(options, os.environ)


if __name__ == "__main__":
    sys.exit(main())
