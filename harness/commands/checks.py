"""What every command checks before any work: number ranges (argparse types, so a bad value is argparse's one
line naming the flag) and paths (harness.foundation.pathchecks).

    p.add_argument("--repeat", type=integer(1), default=1)
    p.add_argument("--qps", type=real(0), default=50.0)            # finite and > 0
    p.add_argument("--max-quality-drop", type=real(0, zero=True))  # finite and >= 0
    check_results_root(args.results)                               # before measuring
"""

from __future__ import annotations

import argparse
import math
import os

from harness.foundation.errors import ConfigError
from harness.foundation.limits import MAX_REPEATS  # noqa: F401 - re-exported for the commands
from harness.foundation.pathchecks import (  # noqa: F401
    check_input_dir,
    check_input_file,
    check_output_dir,
    check_output_file,
    check_path_text,
    check_replaceable_output,
)
from harness.models.registry import MODELS, family_for
from harness.tasks.eval_data import check_task_data
from harness.variants.identify import check_variant_dir

SHOWN_CHARS = 40


def _shown(text: str) -> str:
    return repr(text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "...")


def integer(minimum: int = 1, maximum: int | None = None):
    """An argparse type: an integer in [minimum, maximum]."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise argparse.ArgumentTypeError(f"expected an integer {bound}, got {_shown(text)}")
        return value

    return parse


def real(minimum: float = 0.0, *, zero: bool = False, maximum: float | None = None):
    """An argparse type: a finite number > minimum (>= with `zero`), and <= maximum when given."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        ok = math.isfinite(value) and (value >= minimum if zero else value > minimum)
        if not ok or (maximum is not None and value > maximum):
            low = f"{'>=' if zero else '>'} {minimum:g}"
            bound = f"{low} and <= {maximum:g}" if maximum is not None else low
            raise argparse.ArgumentTypeError(f"expected a finite number {bound}, got {_shown(text)}")
        return value

    return parse


def listed(one=str, what: str = "", example: str = ""):
    """An argparse type: a comma-separated list, each item through `one` (a cast such as int or float, or an
    argparse type such as integer(1)); `what` and `example` name the items in the error line."""
    def parse(text: str) -> list:
        items = [x.strip() for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list{' of ' + what if what else ''}, "
                                             f"got {_shown(text)}")
        try:
            return [one(x) for x in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what or 'values'}{' such as ' + example if example else ''}, "
                                             f"got {_shown(text)}") from None

    return parse


def integers(minimum: int = 1):
    """An argparse type: a comma-separated list of integers >= minimum."""
    return listed(integer(minimum), "integers")


def add_results_argument(p, holds: str = "") -> None:
    """--results: the local results directory a command reads or appends to (results_root resolves the default);
    `holds` says what the command keeps under it."""
    where = f"results directory{': ' + holds if holds else ''}"
    p.add_argument("--results", default=None, metavar="DIR", help=f"{where} (default $HARNESS_RESULTS_DIR, else results/)")


def results_root(value: str | None) -> tuple[str, str]:
    """(the results root a command will use, the flag or variable that chose it). An empty --results is a path
    like any other (refused by the checks), never a silent fallback to the default."""
    if value is not None:
        return value, "--results"
    if os.environ.get("HARNESS_RESULTS_DIR"):
        return os.environ["HARNESS_RESULTS_DIR"], "$HARNESS_RESULTS_DIR"
    return "results", "--results (default results/)"


def check_results_root(value: str | None) -> None:
    """The results root and its runs/ directory can be written (records are appended there)."""
    root, flag = results_root(value)
    check_output_dir(root, flag)
    check_output_dir(os.path.join(root, "runs"), flag)


def check_results_to_read(value: str | None) -> None:
    """The results root a reading command is given with --results exists (a mistyped path is one line, not "no
    records yet"); the default (results/ or $HARNESS_RESULTS_DIR) may be missing: nothing was measured there yet."""
    root, flag = results_root(value)
    check_path_text(root, flag)
    if value is not None:
        check_input_dir(root, flag)


def check_regex(value: str | None, flag: str) -> None:
    """`value` compiles as a regular expression (Python's, as asv's --bench uses)."""
    import re


    if value is None:
        return
    try:
        re.compile(value)
    except re.error as exc:
        raise ConfigError(f"{flag}: {_shown(value)} is not a regular expression ({exc})") from None


def check_out_dirs(**paths) -> None:
    """Each given directory (keyword: flag name with _ for -) can be written; None values are skipped."""
    for name, path in paths.items():
        if path is not None:
            check_output_dir(path, "--" + name.replace("_", "-"))


REPORT_FILES = ("cost.md", "cost.html", "cost.csv", "cost.png", "fleet-cost.md", "fleet-cost.csv")


def check_report_out(path, flag: str = "--out") -> None:
    """A cost report's directory: new, empty, or a report the harness wrote there before (its files are replaced
    one by one, atomically); a directory of anything else is refused."""
    if path is not None:
        check_replaceable_output(path, flag, what="a cost report directory",
                                 owned=lambda p: any((p / name).is_file() for name in REPORT_FILES))


def check_out_file(path, flag: str) -> None:
    if path is not None:
        check_output_file(path, flag)



def check_inputs(**paths) -> None:
    """Each given input path exists (keyword: the flag's name with _ for -; None values are skipped): a
    directory for checkpoint, data, plan, start_from (--from) and variant, a regular file otherwise."""
    directories = ("checkpoint", "data", "plan", "start_from", "variant")
    for name, path in paths.items():
        if path is None:
            continue
        flag = "--from" if name == "start_from" else "--" + name.replace("_", "-")
        (check_input_dir if name in directories else check_input_file)(path, flag)


def check_config_inputs(configs) -> None:
    """Every file the configurations read, checked before any worker starts, each distinct one once: a checkpoint
    (config, weight file integrity, weights against the config, its tokenizer when a text task tokenizes with
    it), a variant (manifest, the model it was made from, architecture, weight file integrity, weights against
    the model) and a task's data (encoding, columns, rows, labels). Each problem is one line."""
    from harness.models.checkpoint import check_checkpoint

    seen: set = set()
    for c in configs:
        text_task = c.task is not None and c.task.name != "teacher"
        family = family_for(c.model, c.checkpoint)
        if c.checkpoint and family.framework != "torch":
            raise ConfigError(f"--checkpoint: {family.name} is a {family.framework} model with no Hugging Face "
                              f"checkpoint; give a pruned one as --variant DIR")
        if c.checkpoint and (c.model, c.checkpoint, text_task) not in seen:
            seen.add((c.model, c.checkpoint, text_task))
            check_checkpoint(c.checkpoint, family if c.model in MODELS else None, text_task=text_task)
        if c.variant and (c.model, c.variant) not in seen:
            seen.add((c.model, c.variant))
            check_variant_dir(c.variant, c.model)
        if text_task and (c.model, c.checkpoint, c.task) not in seen:
            seen.add((c.model, c.checkpoint, c.task))
            check_task_data(c.task, family)

