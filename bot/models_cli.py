"""``supportbot models …``: install, list and remove offline translation packages.

``models install FILE.argosmodel [FILE …]``  validate, then install (replacing the pair)
``models list [--json]``                     installed pairs and the routes they give
``models remove FROM TO``                    remove one pair

Packages live in ``translation.packages_dir`` of supportbot.yml (default
``var/translation/packages``). Nothing is downloaded: get ``.argosmodel`` files from the
Argos Translate package index on a machine with internet and copy them here. A running
bot notices installs and removals on its next message; no restart is needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bot.settings import load_settings
from bot.translate import (
    PackageError,
    TranslationSettings,
    install_package,
    installed_packages,
    remove_package,
)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Register the ``models`` command group on the top-level sub-parsers."""
    models = subparsers.add_parser(
        "models",
        help="install, list and remove offline translation packages",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    models.set_defaults(help_parser=models)
    commands = models.add_subparsers(title="models commands", metavar="COMMAND")

    install = commands.add_parser("install", help="install .argosmodel files")
    install.add_argument("files", nargs="+", type=Path, metavar="FILE.argosmodel")
    install.set_defaults(func=cmd_install)

    ls = commands.add_parser("list", help="installed translation pairs")
    ls.add_argument("--json", action="store_true", help="one JSON object per package")
    ls.set_defaults(func=cmd_list)

    remove = commands.add_parser("remove", help="remove the package for one pair")
    remove.add_argument("from_code", metavar="FROM", help="source language, e.g. de")
    remove.add_argument("to_code", metavar="TO", help="target language, e.g. en")
    remove.set_defaults(func=cmd_remove)


def _settings(args: argparse.Namespace) -> TranslationSettings:
    return TranslationSettings.from_settings(load_settings(args.config))


def cmd_install(args: argparse.Namespace) -> int:
    settings = _settings(args)
    status = EXIT_OK
    for file in args.files:
        try:
            info, replaced = install_package(file, settings.packages_dir)
        except PackageError as exc:
            print(f"supportbot: error: {exc}; nothing was changed", file=sys.stderr)
            status = EXIT_USAGE
            continue
        what = f"{info.from_code}→{info.to_code} {info.version}".rstrip()
        if replaced is not None:
            print(
                f"replaced {replaced.from_code}→{replaced.to_code} {replaced.version} "
                f"with {what}"
            )
        else:
            print(f"installed {what} in {info.path}")
    return status


def _routes(pairs: set[tuple[str, str]], pivot: str) -> list[str]:
    """Pivot routes the installed pairs add (``de→en→sl``)."""
    routes = []
    for a, b in sorted(pairs):
        if b != pivot:
            continue
        for c, d in sorted(pairs):
            if c == pivot and d != a and (a, d) not in pairs:
                routes.append(f"{a}→{pivot}→{d}")
    return routes


def cmd_list(args: argparse.Namespace) -> int:
    settings = _settings(args)
    packages = installed_packages(settings.packages_dir)
    if args.json:
        for info in packages:
            print(json.dumps(info.to_dict(), ensure_ascii=False))
        return EXIT_OK
    if not packages:
        print(f"no translation packages in {settings.packages_dir}")
        print("install one with: python -m bot models install FILE.argosmodel")
        return EXIT_OK
    print(f"{'from':<5} {'to':<5} {'version':<12} {'size':>9}  path")
    for info in packages:
        size = f"{info.size_bytes / 1024:.0f} KiB"
        print(
            f"{info.from_code:<5} {info.to_code:<5} {info.version:<12} {size:>9}  "
            f"{info.path}"
        )
    routes = _routes({p.pair for p in packages}, settings.pivot)
    if routes:
        print(f"through the pivot ({settings.pivot}): {', '.join(routes)}")
    if not settings.enabled:
        print("note: translation.enabled is false in the settings; packages are unused")
    return EXIT_OK


def cmd_remove(args: argparse.Namespace) -> int:
    settings = _settings(args)
    removed = remove_package(settings.packages_dir, args.from_code, args.to_code)
    if not removed:
        installed = (
            ", ".join(
                f"{p.from_code} {p.to_code}"
                for p in installed_packages(settings.packages_dir)
            )
            or "none"
        )
        print(
            f"supportbot: no package {args.from_code}→{args.to_code} installed "
            f"(installed: {installed})",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    for info in removed:
        print(f"removed {info.from_code}→{info.to_code} {info.version}".rstrip())
    return EXIT_OK
