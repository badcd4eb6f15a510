"""`hostpulse-grafana`: the HostPulse Grafana dashboards' command line.

`generate` writes the dashboard JSON from the Python source (`--check`: only say whether the
files are current; `--export-dir`: copies for grafana.com import; `--preview-dir`: HTML layout
previews); `push` sends everything to a running Grafana; `docs-tables` keeps docs/grafana.md's
tables current; `role` lets the read-only PostgreSQL role log in. Each subcommand adds its
parser in `SUBCOMMANDS`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dashboards.grafana import cli_more
from dashboards.grafana.generate import DASHBOARDS_DIR

# A subcommand: adds its arguments to its parser and returns the function that runs it.
Runner = Callable[[argparse.Namespace], int]


def _add_generate(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=DASHBOARDS_DIR,
        help=f"where the JSON files go (default: {DASHBOARDS_DIR})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a file is missing or differs from the generator's output",
    )
    cli_more.add_export_options(parser)
    return _generate


def _generate(args: argparse.Namespace) -> int:
    from dashboards.grafana.generate import rendered, stale_files, write

    if args.export_dir or args.preview_dir:
        return cli_more.export(args)
    directory: Path = args.output_dir
    if args.check:
        stale = stale_files(directory) if directory.is_dir() else sorted(rendered())
        if stale:
            print(
                f"hostpulse-grafana: out of date in {directory}: {', '.join(stale)} "
                "(run `hostpulse-grafana generate`)",
                file=sys.stderr,
            )
            return 1
        print(f"{len(rendered())} dashboards in {directory} are up to date")
        return 0
    changed = write(directory)
    print(f"wrote {len(rendered())} dashboards to {directory} ({len(changed)} changed)")
    return 0


def _add_push(parser: argparse.ArgumentParser) -> Runner:
    from dashboards.grafana.push import add_arguments

    return add_arguments(parser)


# name → (help line, parser builder). The push subcommand registers here too.
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], Runner]]] = {
    "generate": ("write the dashboard JSON files from the Python source", _add_generate),
    "push": (
        "create/update the folder, datasources and dashboards in a running Grafana",
        _add_push,
    ),
    "docs-tables": ("print or update docs/grafana.md's generated tables", cli_more.add_docs_tables),
    "role": (
        "let the read-only PostgreSQL role hostpulse_grafana log in, password from stdin",
        cli_more.add_role,
    ),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Runner]]:
    parser = argparse.ArgumentParser(
        prog="hostpulse-grafana",
        description="HostPulse's Grafana dashboards: generate the JSON (and push it to Grafana).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    runners: dict[str, Runner] = {}
    for name, (help_line, add) in SUBCOMMANDS.items():
        runners[name] = add(commands.add_parser(name, help=help_line, description=help_line))
    return parser, runners


def main(argv: Sequence[str] | None = None) -> int:
    parser, runners = build_parser()
    args = parser.parse_args(argv)
    return runners[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
