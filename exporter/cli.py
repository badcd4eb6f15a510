"""`hostpulse-exporter`: flags and config, then run the agent, `--once` or `--print-config`.

Exit codes: 0 done (also after SIGTERM/SIGINT), 1 an output could not start, 2 a bad config/flag.
Running the agent, this process validates the config and then becomes `exporter.runtime`.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

import orjson

from exporter import __version__
from exporter.collectors.registry import COLLECTOR_NAMES
from exporter.config import ConfigError, load_config
from exporter.options import AgentOptions

EXIT_CONFIG = 2
# Utilizations are rates: `--once` reads every collector twice, this far apart.
ONCE_PRIME_SECONDS = 0.5

EXAMPLES = """\
examples:
  hostpulse-exporter                                   # Prometheus /metrics on 127.0.0.1:9860
  hostpulse-exporter --listen 0.0.0.0:9860 --interval 5s
  hostpulse-exporter --config /etc/hostpulse/exporter.yaml --log-format text
  hostpulse-exporter --backend-url http://backend:8000/ingest/metrics \\
      --token-file /run/secrets/hostpulse-token --spool-dir /var/lib/hostpulse/spool
  hostpulse-exporter --once --disable-collector processes   # one report as JSON, then exit
  HOSTPULSE_INTERVAL=10s HOSTPULSE_COLLECTORS__PROCESSES__TOP_N=10 hostpulse-exporter --print-config

precedence: defaults < config file (YAML or JSON) < HOSTPULSE_* environment (nested with __,
e.g. HOSTPULSE_JSON_PUSH__TOKEN) < flags. Durations are numbers of seconds or '500ms', '2s', '5m'.
"""


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line, like every other config problem (argparse would print the usage block too).
        self.exit(EXIT_CONFIG, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="hostpulse-exporter",
        description="HostPulse exporter: collects host metrics (CPU, memory, top processes, "
        "disk, network, handles, load) and serves them to Prometheus, pushes them over OTLP "
        "and/or pushes them as JSON to a HostPulse backend.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    mode = parser.add_argument_group("what to do")
    mode.add_argument("--config", type=Path, metavar="FILE", help="YAML or JSON config file")
    mode.add_argument(
        "--once", action="store_true", help="collect one report, print it as push-format JSON, exit"
    )
    mode.add_argument(
        "--print-config", action="store_true", help="print the effective config (secrets masked)"
    )
    mode.add_argument("--version", action="version", version=f"hostpulse-exporter {__version__}")

    common = parser.add_argument_group("settings (override file and environment)")
    common.add_argument("--interval", metavar="DURATION", help="collection interval (default 2s)")
    common.add_argument(
        "--host-name", metavar="NAME", help="host name to report (default: hostname)"
    )
    common.add_argument("--procfs", metavar="DIR", help="procfs mount (default /proc)")
    common.add_argument("--log-format", choices=["json", "text"], help="default json")
    common.add_argument("--log-level", choices=["debug", "info", "warning", "error"])
    common.add_argument("--shutdown-deadline", metavar="DURATION", help="flush time on stop (5s)")
    common.add_argument("--top-n", type=int, metavar="N", help="top processes to report (5)")
    common.add_argument(
        "--disable-collector",
        action="append",
        choices=COLLECTOR_NAMES,
        metavar="NAME",
        default=[],
        help=f"turn a collector off (repeatable): {', '.join(COLLECTOR_NAMES)}",
    )

    outputs = parser.add_argument_group("outputs")
    outputs.add_argument("--listen", metavar="HOST:PORT", help="Prometheus /metrics address")
    outputs.add_argument(
        "--prometheus",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="serve /metrics (on by default)",
    )
    outputs.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        metavar="FILE",
        help="exporter-toolkit web config: TLS and basic auth for /metrics (docs/tls.md)",
    )
    outputs.add_argument("--otlp-endpoint", metavar="URL", help="push OTLP here (turns OTLP on)")
    outputs.add_argument("--otlp-protocol", choices=["grpc", "http/protobuf"])
    outputs.add_argument("--backend-url", metavar="URL", help="JSON push URL (turns JSON push on)")
    outputs.add_argument("--token-file", type=Path, metavar="FILE", help="JSON push bearer token")
    outputs.add_argument("--spool-dir", type=Path, metavar="DIR", help="keep unsent reports here")
    return parser


def overrides_from_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The flags that were given, as a nested settings mapping (absent flags stay out)."""
    values: dict[str, Any] = {}

    def put(path: str, value: Any) -> None:
        if value is None:
            return
        *parents, leaf = path.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    put("interval", args.interval)
    put("host_name", args.host_name)
    put("procfs", args.procfs)
    put("log_format", args.log_format)
    put("log_level", args.log_level)
    put("shutdown_deadline", args.shutdown_deadline)
    put("collectors.processes.top_n", args.top_n)
    for name in args.disable_collector:
        put(f"collectors.{name}.enabled", False)
    put("prometheus.listen", args.listen)
    put("prometheus.enabled", args.prometheus)
    put("prometheus.web_config_file", args.web_config_file)
    if args.otlp_endpoint is not None:
        put("otlp.enabled", True)
    put("otlp.endpoint", args.otlp_endpoint)
    put("otlp.protocol", args.otlp_protocol)
    if args.backend_url is not None:
        put("json_push.enabled", True)
    put("json_push.url", args.backend_url)
    put("json_push.token_file", args.token_file)
    put("json_push.spool_dir", args.spool_dir)
    return values


def print_once(config: AgentOptions) -> None:
    """Collect one report from every enabled collector and print it in the push format."""
    from exporter.agent import Agent
    from exporter.collectors.registry import build_collectors
    from exporter.host_identity import new_instance_id, resolve_host_id, resolve_host_name
    from exporter.json_report import AgentInfo, batch_document
    from exporter.scheduler import run_collector

    scheduled = build_collectors(config)
    for item in scheduled:
        run_collector(item.collector)  # first reading: the baseline for rates
    time.sleep(ONCE_PRIME_SECONDS)
    host_name = resolve_host_name(config.host_name)
    agent = Agent(
        scheduled=scheduled,
        sinks=[],
        host_name=host_name,
        host_id=resolve_host_id(host_name),
        interval=config.interval,
        shutdown_deadline=config.shutdown_deadline,
    )
    document = batch_document(AgentInfo(__version__, new_instance_id()), [agent.collect_once()])
    sys.stdout.buffer.write(orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
    sys.stdout.flush()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config, overrides_from_flags(args))
    except ConfigError as exc:
        print(f"hostpulse-exporter: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.print_config:
        sys.stdout.buffer.write(orjson.dumps(config.masked(), option=orjson.OPT_INDENT_2) + b"\n")
        return 0
    from exporter.structured_logging import configure_logging

    configure_logging(config.log_format, config.log_level)
    if args.once:
        print_once(config.options())
        return 0
    from exporter.runtime import exec_runtime, run_agent

    exec_runtime(config.handover_json())  # returns only where the lean runtime cannot start
    return run_agent(config.options())


if __name__ == "__main__":
    sys.exit(main())
