"""One module per command; each exposes `register(subparsers)`, which adds its parser (with an example in
the help) and sets `func`. harness.cli lists them in COMMANDS."""

from __future__ import annotations

import argparse


def add_command(sub, name: str, help: str, example: str, description: str | None = None):
    """Create a subcommand parser whose help ends with an example."""
    return sub.add_parser(
        name,
        help=help,
        description=description or help,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def add_actions(p, dest: str, metavar: str = "ACTION"):
    """The sub-actions of command `p` (`harness prices show`), each added with add_command; the command alone
    prints its help and exits 2."""
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])
    return p.add_subparsers(dest=dest, metavar=metavar, parser_class=type(p))
