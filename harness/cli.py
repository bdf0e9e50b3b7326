"""Thin command layer: parse arguments, call one library function, turn known errors into one line.

Each command lives in harness/commands/<name>.py and exposes `register(subparsers)`, which adds its
parser (with an example in the help) and sets `func`. Adding a command is one module plus one line in
COMMANDS.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from harness import __version__
from harness.foundation.errors import HarnessError

COMMANDS = (
    "models",
    "finetune",
    "prune",
    "compress",
    "bench",
    "run",
    "results",
    "demo",
    "sweep",
    "trees",
    "nightly",
    "regressions",
    "prices",
    "report",
    "fleet",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, with the valid choices argparse already names
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="harness",
        description="Benchmark pruned neural networks on CPU backends and turn the numbers into cost.",
        epilog="example: harness bench --model bert-base --backend torch,onnxruntime --threads 1,2",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    parser.add_argument("--version", action="version", version=f"harness {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        importlib.import_module(f"harness.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or a usage error already printed in one line
        return int(exc.code or 0)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        result = args.func(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
