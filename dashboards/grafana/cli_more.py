"""More of `hostpulse-grafana` (registered in cli.py): `generate --export-dir/--preview-dir`,
and the `docs-tables` and `role` subcommands (each adds its arguments and returns its runner)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

Runner = Callable[[argparse.Namespace], int]


def add_export_options(parser: argparse.ArgumentParser) -> None:
    """`generate --export-dir/--preview-dir`: write those instead of the provisioned files."""
    parser.add_argument(
        "--export-dir",
        type=Path,
        metavar="DIR",
        help="write the dashboards for grafana.com / 'Import dashboard' (with __inputs and "
        "__requires) into DIR instead; the provisioned JSON is not touched",
    )
    parser.add_argument(
        "--preview-dir",
        type=Path,
        metavar="DIR",
        help="write DIR/<uid>.html: each dashboard's grid of panels with titles and units "
        "(no Grafana needed to look at the layout); the provisioned JSON is not touched",
    )


def export(args: argparse.Namespace) -> int:
    import json

    from dashboards.grafana.export import for_import
    from dashboards.grafana.generate import BUILDERS, render
    from dashboards.grafana.preview import html

    if args.export_dir:
        args.export_dir.mkdir(parents=True, exist_ok=True)
        for name, build in BUILDERS.items():
            exported = render(for_import(build()))
            (args.export_dir / f"{name}.json").write_text(exported, encoding="utf-8")
        print(f"wrote {len(BUILDERS)} dashboards for import to {args.export_dir}")
    if args.preview_dir:
        args.preview_dir.mkdir(parents=True, exist_ok=True)
        for name, build in BUILDERS.items():
            page = html(json.loads(render(build())))
            (args.preview_dir / f"{name}.html").write_text(page, encoding="utf-8")
        print(f"wrote {len(BUILDERS)} layout previews to {args.preview_dir}")
    return 0


def add_docs_tables(parser: argparse.ArgumentParser) -> Runner:
    target = parser.add_mutually_exclusive_group()
    target.add_argument(
        "--write", type=Path, metavar="FILE", help="replace the generated section of FILE"
    )
    target.add_argument(
        "--check",
        type=Path,
        metavar="FILE",
        help="exit 1 if FILE's generated section differs (default: print the tables)",
    )
    return _docs_tables


def _docs_tables(args: argparse.Namespace) -> int:
    from dashboards.grafana.docs_tables import markdown, replace_section, write

    try:
        if args.write:
            changed = write(args.write)
            print(f"{args.write}: tables {'updated' if changed else 'already current'}")
        elif args.check:
            text = args.check.read_text(encoding="utf-8")
            if replace_section(text, markdown()) != text:
                print(
                    f"hostpulse-grafana: the tables in {args.check} are out of date "
                    f"(run `hostpulse-grafana docs-tables --write {args.check}`)",
                    file=sys.stderr,
                )
                return 1
            print(f"{args.check}: tables current")
        else:
            print(markdown(), end="")
    except (OSError, ValueError) as error:
        print(f"hostpulse-grafana: {error}", file=sys.stderr)
        return 2
    return 0


def add_role(parser: argparse.ArgumentParser) -> Runner:
    parser.add_argument(
        "--dsn",
        default=os.environ.get("HOSTPULSE_DATABASE_URL"),
        help="the HostPulse database as an owner or superuser, e.g. "
        "postgresql://hostpulse@db:5432/hostpulse; its password from PGPASSWORD or ~/.pgpass "
        "rather than in the DSN (default: $HOSTPULSE_DATABASE_URL)",
    )
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        required=True,
        help="read the password Grafana will use from stdin (first line); required: a "
        "password is never taken from the command line",
    )
    return _role


def _role(args: argparse.Namespace) -> int:
    from dashboards.grafana.role import (
        ROLE,
        PasswordError,
        check_password,
        grant_login,
        scram_verifier,
    )

    if not args.dsn:
        print("hostpulse-grafana role: give --dsn or set HOSTPULSE_DATABASE_URL", file=sys.stderr)
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        check_password(password)
    except PasswordError as error:
        print(f"hostpulse-grafana role: {error}", file=sys.stderr)
        return 2
    try:
        import asyncpg  # noqa: F401  (the extra's dependency: a clear message without it)
    except ImportError:
        print("hostpulse-grafana role: needs asyncpg: pip install 'hostpulse[grafana]'",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        asyncio.run(grant_login(args.dsn, scram_verifier(password)))
    except LookupError as error:
        print(f"hostpulse-grafana role: {error}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as error:
        print(f"hostpulse-grafana role: cannot reach the database: {error}", file=sys.stderr)
        return 1
    except Exception as error:  # asyncpg's errors: permission denied, bad password, ...
        if type(error).__module__.startswith("asyncpg"):
            print(f"hostpulse-grafana role: {error}", file=sys.stderr)
            return 1
        raise
    print(
        f"{ROLE} may log in with that password (stored as a SCRAM-SHA-256 verifier); give it to "
        "Grafana as HOSTPULSE_GRAFANA_DB_PASSWORD"
    )
    return 0
