"""`hostpulse-dashboard --host 127.0.0.1 --port 8080 --backend-url http://127.0.0.1:8000`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dashboards.app import DashboardSettings, DashboardSettingsError, create_app


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="hostpulse-dashboard", description="Serve the HostPulse web dashboard."
    )
    parser.add_argument("--host", default=os.environ.get("HOSTPULSE_DASHBOARD_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("HOSTPULSE_DASHBOARD_PORT", "8080"))
    )
    parser.add_argument(
        "--backend-url",
        default=os.environ.get("HOSTPULSE_BACKEND_URL", "http://127.0.0.1:8000"),
        help="the backend the browser talks to (must list this dashboard in cors_origins)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    if not 0 < args.port < 65536:
        parser.error(f"--port: {args.port} is not a TCP port (1-65535)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = DashboardSettings(backend_url=args.backend_url)
    except DashboardSettingsError as exc:
        print(f"hostpulse-dashboard: {exc}", file=sys.stderr)
        return 2
    import uvicorn  # only when serving: `--help` stays instant

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
