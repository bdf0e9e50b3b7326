"""Documented commands as tests: every command in a fenced block of README.md and docs/*.md, and the usage lines
in the docstring of every script in benchmarks/, run at tiny sizes (tests/test_docs_commands.py runs the README's,
tests/test_docs_pages_commands.py the rest).

How a documented line becomes a run, each decision in one table below:
  1. Extraction. Blocks fenced as bash, sh, shell or cron hold commands, and so do the `run:` steps of a GitHub
     Actions workflow in a yaml block. Every other fenced block must name a language that holds no command
     (NOT_COMMANDS): an unlabelled block fails, so that no command can hide in one. Continuation lines are joined,
     comments dropped, cron lines lose their schedule, and `&&`, `||`, `;`, `|` and `sh -c '...'` split a line
     into the simple commands it runs, in order.
  2. RULES, keyed by program: `harness <command>`, `script benchmarks/<name>.py`, `make <target>`, `docker`, ...
     Each is either a Tiny rule (how to shrink it: tiny models, short durations, one round, and which fake it runs
     against: tests/helpers/fake_aws.py) or a Skip with its reason; RUN_ELSEWHERE names the tiny runs that a test
     of their own already makes and checks. A harness command that is skipped is still parsed by the real argument parser, so a
     renamed flag fails here too.
  3. Values. TINY_MODELS maps every zoo model to its tiny sibling; INPUTS says how a file of the repository that
     a command reads (a matrix, a recipe, the SST-2 data) is brought, shrunk, into the workspace; USER_PATHS makes
     the files a user is assumed to have (`~/models/...`); VARIABLES and SUBSTITUTIONS stand for shell variables
     and `$(...)`.
Commands run from a temporary workspace that mimics a checkout (matrices/, recipes/, results/), so every relative
output lands there; harness commands run in this process through `harness.cli.main` (the console script's own
entry point), scripts as the user runs them, with this tree's interpreter.

A command that fails fails the suite, and so does a command the tables do not cover: the message names the table
and the entry to add.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import yaml

REPO = Path(__file__).resolve().parents[1]
RUNNER = "tests/docs_commands.py"

COMMAND_LANGUAGES = ("bash", "sh", "shell", "console", "cron")
NOT_COMMANDS = ("text", "json", "yaml", "python", "toml", "ini", "csv", "diff", "markdown", "jinja", "html")


class DocCommandError(AssertionError):
    """A documented command that failed, or that the runner does not know how to run at tiny size."""


def doc_files() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def benchmark_scripts() -> list[Path]:
    """The runnable scripts in benchmarks/ (not the asv suites, the helpers they import or micro/)."""
    return [p for p in sorted((REPO / "benchmarks").glob("*.py"))
            if p.name != "__init__.py" and 'if __name__ == "__main__"' in p.read_text()]


# ---------------------------------------------------------------------------------------------------- extraction
@dataclasses.dataclass(frozen=True)
class Documented:
    """One documented line (continuations joined): where it is, its language and its text."""

    where: str
    language: str
    text: str

    def __str__(self):
        return f"{self.where}: {self.text}"


FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([^\s`]*)")


def fenced_blocks(path: Path, text: str | None = None) -> list[tuple[int, str, list[str]]]:
    """(line of the opening fence, language, lines) of every fenced block of a Markdown file."""
    lines = (path.read_text() if text is None else text).splitlines()
    blocks, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, language, start, body = m.group(2), m.group(3).lower(), i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence):
            body.append(lines[i])
            i += 1
        blocks.append((start, language, body))
        i += 1
    return blocks


def _logical_lines(body: list[str], first: int) -> list[tuple[int, str]]:
    """(line number, text) with continuation lines joined and blank or comment lines dropped."""
    out, buf, at = [], "", None
    for n, raw in enumerate(body, first):
        line = raw.rstrip()
        if not buf and (not line.strip() or line.lstrip().startswith("#")):
            continue
        at = at or n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        out.append((at, _strip_comment(buf + line)))
        buf, at = "", None
    if buf.strip():
        out.append((at, _strip_comment(buf)))
    return out


def _strip_comment(line: str) -> str:
    """The line without a trailing `# comment` (a # that starts a word, outside quotes, as the shell reads it)."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].strip()
    return line.strip()


def documented_in(path: Path, text: str | None = None) -> list[Documented]:
    """Every command of one Markdown file; an unlabelled fenced block is an error naming its line."""
    name = path.name if path.parent == REPO else str(path.relative_to(REPO)) if path.is_relative_to(REPO) else path.name
    out = []
    for start, language, body in fenced_blocks(path, text):
        if not language:
            out.append(Documented(f"{name}:{start}", "", "\n".join(body)))  # reported when run
        elif language in COMMAND_LANGUAGES:
            out += [Documented(f"{name}:{n}", language, line) for n, line in _logical_lines(body, start + 1)]
        elif language == "yaml":
            out += [Documented(f"{name}:{start}", "workflow", step) for step in _workflow_steps(body)]
        elif language not in NOT_COMMANDS:
            out.append(Documented(f"{name}:{start}", language, "\n".join(body)))  # reported when run
    return out


def _workflow_steps(body: list[str]) -> list[str]:
    """The `run:` steps of a GitHub Actions workflow (a yaml block with jobs:); none for other yaml."""
    try:
        doc = yaml.safe_load("\n".join(body))
    except yaml.YAMLError:
        return []
    if not isinstance(doc, dict) or not isinstance(doc.get("jobs"), dict):
        return []
    return [line for job in doc["jobs"].values() for step in job.get("steps", []) if "run" in step
            for line in str(step["run"]).splitlines() if line.strip()]


def script_usage(path: Path) -> list[Documented]:
    """The usage lines of a benchmark script's docstring (`.venv/bin/python benchmarks/x.py ...`)."""
    import ast

    lines = (ast.get_docstring(ast.parse(path.read_text()), clean=False) or "").splitlines()
    out, i = [], 0
    while i < len(lines):
        if ".venv/bin/python benchmarks/" in lines[i]:
            at, text = i + 1, lines[i].strip()
            while text.endswith("\\") and i + 1 < len(lines):
                i += 1
                text = text[:-1] + " " + lines[i].strip()
            out.append(Documented(f"{path.relative_to(REPO)}:{at}", "bash", _strip_comment(text)))
        i += 1
    return out


def documented(paths=None) -> list[Documented]:
    """Every documented command: the docs' fenced blocks, then the benchmark scripts' usage lines."""
    if paths is not None:
        return [d for p in paths for d in documented_in(Path(p))]
    return [d for p in doc_files() for d in documented_in(p)] + [d for s in benchmark_scripts() for d in script_usage(s)]


def readme_part(doc: Documented) -> bool:
    """The README's commands run in one workspace (tests/test_docs_commands.py); the docs pages and the benchmark
    scripts, which read nothing the README's commands write, in another (tests/test_docs_pages_commands.py), so
    that the suite's two workers can run the two halves side by side."""
    return doc.where.startswith("README.md:")


def readme_twin(doc: Documented, ws: Workspace) -> str | None:
    """Where the README documents the run a line of the docs pages or scripts would make (the same arguments once
    shrunk, less where a script writes its results; see _same_run): that line runs it, in the README's half."""
    if readme_part(doc):
        return None
    mine = {_same_run(s) for s in resolve(doc, ws) if not s.skip}
    if not mine:
        return None
    if ws.readme_runs is None:
        ws.readme_runs = {d.where: {_same_run(s) for s in resolve(d, ws) if not s.skip}
                          for d in documented([REPO / "README.md"])}
    return next((where for where, runs in ws.readme_runs.items() if mine <= runs), None)


def run_or_skip(doc: Documented, ws: Workspace, fakes: dict[str, Callable] | None) -> list:
    """run_documented for a test: a line whose every step is skipped skips the test, with the reasons, and so does a
    line of the docs pages or scripts whose run the README documents too (it runs in the README's half)."""
    import pytest

    twin = readme_twin(doc, ws)
    if twin:
        pytest.skip(f"the same run is documented at {twin}, and runs there")
    steps = run_documented(doc, ws, fakes)
    skipped = [s for s in steps if isinstance(s, Step)]
    if skipped and len(skipped) == len(steps):
        pytest.skip("; ".join(f"{' '.join(s.documented[:2])}: {s.skip.reason}" for s in skipped))
    return steps


# ---------------------------------------------------------------------------------------------------- splitting
OPERATORS = ("&&", "||", ";", "|")
REDIRECT = re.compile(r"^\d*(>>|>|<)&?\d*$")
SUBSHELL = re.compile(r"\$\(([^()]*)\)")


def simple_commands(doc: Documented) -> list[list[str]]:
    """The simple commands one documented line runs, in order (`sh -c` and `flock ... CMD` unwrapped)."""
    text = doc.text
    if doc.language == "cron":
        text = text.replace("\\%", "%")
        fields = text.split(None, 5)
        if len(fields) < 6:
            raise DocCommandError(f"{doc.where}: a cron line needs five schedule fields and a command: {doc.text}")
        text = fields[5]
    return _split(text, doc.where)


def _split(text: str, where: str) -> list[list[str]]:
    subs = {}

    def hold(m):
        key = f"__SUBSHELL{len(subs)}__"
        subs[key] = m.group(1).strip()
        return key

    lex = shlex.shlex(SUBSHELL.sub(hold, text), posix=True, punctuation_chars=";&|<>")
    lex.whitespace_split = True
    lex.commenters = ""
    try:
        tokens = list(lex)
    except ValueError as exc:
        raise DocCommandError(f"{where}: cannot split {text!r}: {exc}") from None
    tokens = [_restore(t, subs) for t in tokens]
    out, cur = [], []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t in OPERATORS:
            out.append(cur)
            cur = []
        elif REDIRECT.match(t) or t in (">", ">>", "<", ">&", "&>"):
            if cur and cur[-1].isdigit() and t.startswith(">"):
                cur.pop()  # the 2 of 2>&1
            i += 1  # and the target
        else:
            cur.append(t)
        i += 1
    out.append(cur)
    result = []
    for argv in filter(None, out):
        if argv[0] == "flock":  # flock [-n] LOCKFILE COMMAND...
            rest = argv[1:]
            while rest and rest[0].startswith("-"):
                rest = rest[1:]
            argv = rest[1:]
        if argv[:2] == ["sh", "-c"] and len(argv) == 3:
            result += _split(argv[2], where)
            continue
        result.append(argv)
    return result


def _restore(token: str, subs: dict) -> str:
    for key, inner in subs.items():
        token = token.replace(key, f"$({inner})")
    return token


# ---------------------------------------------------------------------------------------------------- the tables
TINY_MODELS = {
    "bert-base": "bert-tiny", "distilbert": "distilbert-tiny", "minilm": "minilm-tiny", "resnet50": "resnet50-tiny",
    "bert-tiny": "bert-tiny", "distilbert-tiny": "distilbert-tiny", "minilm-tiny": "minilm-tiny",
    "resnet50-tiny": "resnet50-tiny",
}
DATA_PATHS = ("../shared/data/sst2", "/path/to/sst2")  # how the docs spell the SST-2 directory
VARIABLES = {  # shell variables the docs use -> what they stand for here (HOME: the workspace's home)
    "IMAGE": "123456789012.dkr.ecr.us-east-2.amazonaws.com/harness:1",
    "GPU_IMAGE": "123456789012.dkr.ecr.us-east-2.amazonaws.com/harness:1-gpu",
    "JOB_ROLE": "arn:aws:iam::123456789012:role/harness-fleet-job",
    "HOME": "{work}/home",
}
SUBSTITUTIONS = {  # $(...) -> its value here
    "date -u +%F": "2026-11-30",
    "git rev-parse HEAD": "HEAD",
}


@dataclasses.dataclass(frozen=True)
class Skip:
    """Not run here, and why; `covered_by` names the test that runs the same path at tiny size (it must exist)."""

    reason: str
    covered_by: str | None = None


@dataclasses.dataclass(frozen=True)
class Tiny:
    """Run at tiny size: `shrink` edits the arguments; `fake` names the fake services it runs against."""

    shrink: Callable[["Args"], None] = lambda a: None
    fake: str | None = None


class Args:
    """A command's arguments, edited flag by flag (`--flag value` and `--flag=value`)."""

    def __init__(self, tokens: list[str], switches=()):
        self.tokens = list(tokens)
        self.switches = set(switches)

    def _find(self, flag: str) -> int | None:
        for i, t in enumerate(self.tokens):
            if t == flag or t.startswith(flag + "="):
                return i
        return None

    def has(self, flag: str) -> bool:
        return self._find(flag) is not None

    def get(self, flag: str) -> str | None:
        i = self._find(flag)
        if i is None:
            return None
        t = self.tokens[i]
        return t.split("=", 1)[1] if "=" in t else (self.tokens[i + 1] if i + 1 < len(self.tokens) else None)

    def set(self, flag: str, value) -> None:
        i = self._find(flag)
        if i is None:
            self.tokens += [flag, str(value)]
        elif "=" in self.tokens[i]:
            self.tokens[i] = f"{flag}={value}"
        else:
            self.tokens[i + 1] = str(value)

    def drop(self, flag: str) -> None:
        """Leave the flag (and its value) out."""
        i = self._find(flag)
        if i is not None:
            del self.tokens[i: i + (1 if "=" in self.tokens[i] or flag in self.switches else 2)]

    def default(self, flag: str, value=None) -> None:
        """Add the flag (with its value) when the command does not give it."""
        if not self.has(flag):
            self.tokens += [flag] if value is None else [flag, str(value)]

    def first(self, flag: str) -> None:
        """A comma-separated list cut to its first item (one thread count, one batch size)."""
        value = self.get(flag)
        if value is not None:
            self.set(flag, value.split(",")[0])

    def ends(self, flag: str) -> None:
        """A comma-separated list cut to its first and last items (two engines, two precisions)."""
        value = self.get(flag)
        if value is not None:
            items = value.split(",")
            self.set(flag, ",".join(dict.fromkeys([items[0], items[-1]])))

    def value_indices(self) -> set[int]:
        """Positions of tokens that are values of a flag."""
        out = set()
        for i, t in enumerate(self.tokens):
            if t.startswith("-") and "=" not in t and t not in self.switches and i + 1 < len(self.tokens) \
                    and not self.tokens[i + 1].startswith("--"):
                out.add(i + 1)
        return out

    def positionals(self) -> list[int]:
        values = self.value_indices()
        return [i for i, t in enumerate(self.tokens) if not t.startswith("-") and i not in values]


def _short_timing(a: Args) -> None:
    """A few timed calls after one warm-up call, with no warm-up time (flags the docs give win)."""
    for flag, value in (("--min-duration", 0.05), ("--min-iters", 5), ("--warmup", 1), ("--warmup-s", 0)):
        a.default(flag, value)


def _bench(a: Args) -> None:
    if a.has("--int8-max-drop"):
        a.default("--heldout-examples", 32)
    for flag in ("--threads", "--batch", "--backend"):  # each engine runs in tests of its own; here, the command
        a.first(flag)
    for flag in ("--precision", "--kernel"):  # both ends: int8 beside fp32, sparse beside dense
        a.ends(flag)
    a.set("--repeat", 1) if a.has("--repeat") else None
    _short_timing(a)
    a.default("--calibration-examples", 8)
    a.default("--quiet")
    if a.has("--task"):
        a.default("--eval-limit", 16)
    scenario = a.get("--scenario")
    if scenario in ("server", "offline"):  # LoadGen: short runs, few queries, a small search budget
        a.set("--loadgen-min-duration", 0.2)
        a.set("--loadgen-min-queries", 64)
        if scenario == "server":
            a.set("--capacity-budget", 6)
            a.set("--capacity-tolerance", 0.5)
        if scenario == "offline" and not a.has("--batch"):
            a.set("--batch", 1)


def _sweep(a: Args) -> None:
    a.first("--backend")
    for flag in ("--sparsities", "--kernel"):  # the dense and the sparsest end, both kernels
        a.ends(flag)
    a.set("--repeat", 1) if a.has("--repeat") else None
    _short_timing(a)
    a.default("--quiet")


def _trees(a: Args) -> None:
    a.default("--max-variants", 2)
    a.default("--batch", 1)
    a.default("--min-duration", 0.05)
    a.default("--quiet")


def _finetune(a: Args) -> None:
    a.set("--steps", 8)
    a.default("--batch-size", 8)
    a.default("--seq", 16)
    a.default("--max-train", 64)


def _prune(a: Args) -> None:
    a.first("--keep-layers")  # the tiny models have two layers
    a.default("--no-progress")
    if a.get("--method") == "post-training":
        a.default("--calibration-examples", 16)
        a.default("--heldout-examples", 16)
        if a.has("--target-latency-ms"):
            # a tiny model's latency table is flat (about 0.4 ms whatever is removed), so no latency target is
            # reachable; the table is measured and fitted on the engine by tests/test_post_training.py, and here the
            # same command prunes to a FLOPs target
            a.drop("--target-latency-ms")
            a.drop("--backend")
            a.set("--target-flops", 0.6)


def _run(a: Args) -> None:
    a.default("--quiet")


def _compress(a: Args) -> None:
    a.first("--backend")  # each engine's candidates run in tests/test_compress.py
    a.first("--targets")
    a.set("--budget-minutes", 10)
    for flag, value in (("--calibration-examples", 16), ("--heldout-examples", 16), ("--eval-limit", 32),
                        ("--min-duration", 0.05), ("--targets", 0.5)):
        a.default(flag, value)
    a.default("--no-progress")


def _regressions(a: Args) -> None:
    results = a.get("--results")
    if results and os.path.isabs(results) and not os.path.exists(results):
        a.drop("--results")  # written by a `harness nightly` step the runner skips: read the workspace's own


def _submit(a: Args) -> None:
    a.default("--poll-s", 0.01)


def _script(a: Args) -> None:
    a.default("--quick")  # every script's own tiny mode (explicit size flags still win, so those are dropped)
    for flag in ("--repeat", "--rounds"):
        a.drop(flag)


HARNESS_RULES = {
    "harness models": Tiny(),
    "harness bench": Tiny(_bench),
    "harness run": Tiny(_run),
    "harness results": Tiny(),
    "harness prune": Tiny(_prune),
    "harness compress": Tiny(_compress),
    "harness finetune": Tiny(_finetune),
    "harness sweep": Tiny(_sweep),
    "harness trees": Tiny(_trees),
    "harness prices show": Tiny(),
    "harness prices refresh": Tiny(fake="aws"),
    "harness report cost": Tiny(),
    "harness regressions": Tiny(_regressions),
    "harness fleet plan": Tiny(),
    "harness fleet submit": Tiny(_submit, fake="aws"),
    "harness fleet collect": Tiny(fake="aws"),
    "harness nightly": Skip("runs every asv suite for the checkout's HEAD (about an hour for the nightly suite); "
                            "the same path runs with the tiny suite (--quick) for two commits",
                            "tests/test_asv.py::test_nightly_quick_runs_asv_for_two_commits_publishes_and_compares"),
    "harness demo": Skip("the default job (about 20 minutes); its path runs on tiny models",
                         "tests/test_demo.py::test_demo_path_goes_from_models_to_a_cost_answer"),
}
SCRIPT_RULES = {f"script benchmarks/{p.name}": Tiny(_script) for p in benchmark_scripts()}
OTHER_RULES = {
    "make demo": Skip("sets up both environments and runs the default job (about 20 minutes); its path runs on "
                      "tiny models", "tests/test_demo.py::test_demo_path_goes_from_models_to_a_cost_answer"),
    "make test": Skip("runs this suite"),
    "make setup": Skip("creates the virtual environments this suite already runs in"),
    "make bench-harness": Tiny(),  # runs MICRO below
    ".": Skip("activates .venv; the runner calls the tree's interpreter directly"),
    "cd": Skip("the runner runs from a workspace that stands for the checkout"),
    "git": Skip("updates the checkout; the suite tests the checkout as it is"),
    "asv": Skip("what `harness nightly` runs (asv machine, run, publish); that path runs with the tiny suite",
                "tests/test_asv.py::test_nightly_quick_runs_asv_for_two_commits_publishes_and_compares"),
    "python -m http.server": Skip("serves the chart site until stopped; the site it serves is built and checked",
                                  "tests/test_asv.py::test_nightly_quick_runs_asv_for_two_commits_publishes_and_compares"),
    "docker": Skip("needs a Docker engine; the Dockerfile is validated without one",
                   "tests/test_fleet_docker.py::test_every_copied_path_exists_and_is_in_the_build_context"),
    "aws": Skip("creates and logs in to a real ECR repository"),
    "kubectl": Skip("needs a Kubernetes cluster; the manifests it applies are validated against the official "
                    "client models", "tests/test_fleet.py::test_kubernetes_manifests_are_indexed_jobs_one_measuring_pod_per_node"),
}
RULES = {**HARNESS_RULES, **SCRIPT_RULES, **OTHER_RULES}
RUN_ELSEWHERE = {  # a script's tiny run (as shrunk here, less --out) that a test makes and checks -> that test
    "benchmarks/frontier.py --model bert-tiny --quick": "tests/test_frontier.py::test_the_quick_frontier_script_end_to_end",
    "benchmarks/prune_minilm_sst2.py --quick": "tests/test_pruning_benchmark.py::test_quick_mode_writes_results",
}
# how `make bench-harness` runs here: the micro-benchmarks, each called once (timings are not the point)
MICRO = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "benchmarks/micro", "--benchmark-disable"]


def rule_key(argv: list[str]) -> str:
    """The RULES key of a simple command."""
    prog = argv[0]
    if prog in ("harness", ".venv/bin/harness"):
        words = [w for w in argv[1:3] if not w.startswith("-")]
        one = f"harness {words[0]}" if words else "harness"
        two = f"harness {' '.join(words[:2])}" if len(words) > 1 else one
        return two if two in RULES else one
    if prog in ("python", "python3", ".venv/bin/python", sys.executable) and len(argv) > 1:
        if argv[1] == "-m" and len(argv) > 2:
            return f"python -m {argv[2]}"
        return f"script {argv[1]}"
    if prog == "make":
        return f"make {argv[1] if len(argv) > 1 else ''}".strip()
    return prog


# ---------------------------------------------------------------------------------------------------- inputs
def shrink_matrix(source: Path, target: Path) -> None:
    """A matrix at tiny size: its first model (tiny) and one value per list, short runs."""
    m = yaml.safe_load(source.read_text())
    m["models"] = [_tiny_model(x, f"{source.name}: models") for x in m.get("models", [])][:1]
    for key in ("backends", "threads", "batch_sizes", "seq_lens", "precisions", "kernels"):
        if isinstance(m.get(key), list) and m[key]:
            m[key] = m[key][:1]
    if m.get("seq_lens"):
        m["seq_lens"] = [16]
    m["settings"] = {**(m.get("settings") or {}), "min_duration_s": 0.05, "max_duration_s": 2, "min_iters": 5,
                     "warmup_iters": 1, "warmup_s": 0.0}
    target.write_text(yaml.safe_dump(m, sort_keys=False))


RECIPE_SIZES = {"steps": 2, "prune_every": 1, "warmup_steps": 1, "num_grads": 4, "grad_batch_size": 2,
                "batch_size": 4, "block_size": 8, "grad_batches": 2}


def shrink_recipe(source: Path, target: Path) -> None:
    """A recipe at tiny size: every step count, gradient count and batch small; dense fine-tuning and data short."""

    def walk(d):
        for k, v in list(d.items()):
            if isinstance(v, dict):
                walk(v)
            elif k in RECIPE_SIZES and isinstance(v, int) and not isinstance(v, bool) and v > 0:
                d[k] = min(v, RECIPE_SIZES[k])

    r = yaml.safe_load(source.read_text())
    walk(r)
    r["dense"] = {**(r.get("dense") or {}), "steps": 4, "batch_size": 8}
    r["data"] = {**(r.get("data") or {}), "max_train": 64, "max_eval": 32, "seq_len": 16}
    target.write_text(yaml.safe_dump(r, sort_keys=False))


INPUTS = {  # repository paths commands read -> how the workspace gets a tiny copy (None: used as it is)
    "matrices/": shrink_matrix,
    "recipes/": shrink_recipe,
    "benchmarks/": None,
}


def _tiny_model(name: str, where: str) -> str:
    if name not in TINY_MODELS:
        raise DocCommandError(f"{where}: no tiny model for {name!r}: add {name!r}: '<tiny zoo model>' to TINY_MODELS "
                              f"in {RUNNER}")
    return TINY_MODELS[name]


# ---------------------------------------------------------------------------------------------------- the workspace
class Workspace:
    """A temporary directory that stands for the checkout; shared by every documented command of a session, so
    that what one command writes (a checkpoint, a variant, a fleet plan) the next one reads, as in the docs."""

    def __init__(self, root: Path, sst2: Path | None):
        self.root = Path(root)
        self.home = self.root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        for d in ("matrices", "recipes"):
            (self.root / d).mkdir(exist_ok=True)
        self.data = self.root / "data" / "sst2" if sst2 else None
        if sst2:
            _sst2_subset(sst2, self.data)
        self.done: dict[tuple, str] = {}  # command already run -> where it was documented
        self.readme_runs: dict[str, set] | None = None  # README line -> the runs it makes (readme_twin)

    def env(self, base=None) -> dict:
        """The environment a command runs in: `base` (this process's) with the workspace's results and home, and
        no HARNESS_DATA_DIR: a command reads data only where it says --data, as written in the docs."""
        env = {k: v for k, v in (os.environ if base is None else base).items() if k != "HARNESS_DATA_DIR"}
        return env | {"HARNESS_RESULTS_DIR": str(self.root / "results"), "HOME": str(self.home)}


def _sst2_subset(source: Path, target: Path, train: int = 256, dev: int = 64) -> None:
    """The first rows of the real SST-2 files: the real layout and text, a few hundred sentences."""
    target.mkdir(parents=True, exist_ok=True)
    for name, n in (("train.tsv", train), ("dev.tsv", dev)):
        with open(source / name) as f:
            lines = [next(f) for _ in range(n + 1)]
        (target / name).write_text("".join(lines))


def make_user_checkpoint(directory: Path) -> None:
    """The checkpoint a user brings (`~/models/my-sentiment-bert`): a tiny BERT with its own tokenizer."""
    from tests.helpers.checkpoints import make_checkpoint

    make_checkpoint("bert", 2, directory)


USER_PATHS = {  # paths the docs assume the user has -> how the workspace makes them (under its home)
    "~/models/my-sentiment-bert": make_user_checkpoint,
}


# ---------------------------------------------------------------------------------------------------- resolving
@dataclasses.dataclass
class Step:
    """One simple command, resolved: what to run (or why not), as documented and as run."""

    key: str
    documented: list[str]
    argv: list[str] | None = None
    skip: Skip | None = None
    fake: str | None = None


def resolve(doc: Documented, ws: Workspace) -> list[Step]:
    """The steps of a documented line, each with its rule applied; DocCommandError when a table lacks an entry."""
    if doc.language == "" or (doc.language not in COMMAND_LANGUAGES and doc.language != "workflow"):
        what = "has no language" if doc.language == "" else f"is fenced as {doc.language!r}"
        raise DocCommandError(
            f"{doc.where}: this fenced block {what}: label a command block bash (or cron) so the suite runs it, "
            f"or name what it holds ({', '.join(NOT_COMMANDS)}; {RUNNER} NOT_COMMANDS)")
    steps, assigned = [], {}
    for argv in simple_commands(doc):
        while argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):  # n=$(date ...)
            name, value = argv[0].split("=", 1)
            assigned[name] = _expand(value, assigned, ws, doc)
            argv = argv[1:]
        if not argv:
            continue
        argv = [_expand(t, assigned, ws, doc) for t in argv]
        key = rule_key(argv)
        rule = RULES.get(key) or RULES.get(argv[0])
        if rule is None:
            raise DocCommandError(
                f"{doc.where}: the runner does not know how to run `{' '.join(argv)}` at tiny size: add a {key!r} "
                f"entry to RULES in {RUNNER}: Tiny(shrink) with what makes it small, or Skip(reason) with why it "
                "cannot run here")
        step = Step(key, argv)
        if isinstance(rule, Tiny) and key.startswith("script "):
            shrunk = _tiny(argv, key, rule, doc, ws)
            elsewhere = RUN_ELSEWHERE.get(" ".join(_same_run(Step(key, argv, shrunk))[1:]).replace(str(REPO) + "/", ""))
            if elsewhere:
                rule = Skip("this tiny run is made, and its output checked, by a test of its own", elsewhere)
        if isinstance(rule, Skip):
            step.skip = rule
            if key.startswith("harness "):
                _parse_harness(argv[1:], doc)
        else:
            step.argv, step.fake = _tiny(argv, key, rule, doc, ws), rule.fake
        steps.append(step)
    return steps


def _expand(token: str, assigned: dict, ws: Workspace, doc: Documented) -> str:
    def sub(m):
        inner = m.group(1).strip()
        if inner not in SUBSTITUTIONS:
            raise DocCommandError(f"{doc.where}: no value for $({inner}): add {inner!r} to SUBSTITUTIONS in {RUNNER}")
        return SUBSTITUTIONS[inner]

    def var(m):
        name = m.group(1) or m.group(2)
        if name in assigned:
            return assigned[name]
        if name not in VARIABLES:
            raise DocCommandError(f"{doc.where}: no value for ${name}: add {name!r} to VARIABLES in {RUNNER}")
        return VARIABLES[name].format(work=ws.root)

    token = SUBSHELL.sub(sub, token)
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", var, token)


def _harness_parser():
    from harness.cli import build_parser

    return build_parser()


def _parse_harness(args: list[str], doc: Documented) -> None:
    """The real parser accepts the documented arguments (a renamed flag fails even where the command is not run)."""
    import io

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            _harness_parser().parse_args(args)
        except SystemExit as exc:
            if exc.code:
                raise DocCommandError(f"{doc.where}: `harness {' '.join(args)}` does not parse: "
                                      f"{err.getvalue().strip()}") from None


def _switches(args: list[str]) -> set[str]:
    """The harness subcommand's options that take no value (store_true and the like)."""
    import argparse

    parser, words = _harness_parser(), [a for a in args if not a.startswith("-")]
    for word in words[:2]:
        sub = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
        if sub is None or word not in sub.choices:
            break
        parser = sub.choices[word]
    return {s for a in parser._actions if a.nargs == 0 for s in a.option_strings}


MODEL_FLAGS = ("--model", "--compare")
OUTPUT_FLAGS = ("--out", "--results", "--into", "--variants", "--variants-dir", "--results-dir", "--snapshot-dir")


def _tiny(argv: list[str], key: str, rule: Tiny, doc: Documented, ws: Workspace) -> list[str]:
    """The argument list a Tiny rule runs: models, data, inputs and outputs substituted, then the rule's shrink."""
    harness = key.startswith("harness ")
    start = 1 if harness else 2 if key.startswith("script ") else len(argv)
    rest = argv[start:]
    a = Args(rest, _switches(rest) if harness else ())
    values = a.value_indices()
    for i, t in enumerate(a.tokens):
        flag = a.tokens[i - 1] if i in values else None
        if flag in MODEL_FLAGS:
            a.tokens[i] = ",".join(_tiny_model(m, f"{doc.where}: {flag}") for m in t.split(","))
        elif flag in OUTPUT_FLAGS:  # relative: in the workspace already; absolute (/tmp/x): moved into it
            if t.startswith("/") and not Path(t).is_relative_to(ws.root):
                a.tokens[i] = str(ws.root / t.lstrip("/"))
        else:
            a.tokens[i] = _input(t, doc, ws)
    if harness and key in ("harness prune", "harness finetune"):
        pos = [i for i in a.positionals() if a.tokens[i] not in ("prune", "finetune")]
        if pos and not Path(ws.root, a.tokens[pos[0]]).exists():
            a.tokens[pos[0]] = _tiny_model(a.tokens[pos[0]], f"{doc.where}: MODEL")
    if key.startswith("script "):
        a.default("--out", f"results/{Path(argv[1]).stem}")  # never the repository's own results/
    rule.shrink(a)
    if harness:
        return ["harness", *a.tokens]
    script = REPO / argv[1]
    if key.startswith("script ") and not script.is_file():
        raise DocCommandError(f"{doc.where}: {argv[1]} does not exist")
    return [sys.executable, str(script), *a.tokens] if key.startswith("script ") else list(argv)


def _input(token: str, doc: Documented, ws: Workspace) -> str:
    """A token that names a file the command reads: the data, a user's file, or a repository input, shrunk."""
    if token in DATA_PATHS or token.rstrip("/") in DATA_PATHS:
        if ws.data is None:
            raise DocCommandError("no SST-2 data (require('sst2') skips or fails before this)")
        return str(ws.data)
    if token.startswith("~/"):
        if token not in USER_PATHS:
            raise DocCommandError(f"{doc.where}: {token} is a file the user is assumed to have: add how to make a "
                                  f"tiny one to USER_PATHS in {RUNNER}")
        target = ws.home / token[2:]
        if not target.exists():
            USER_PATHS[token](target)
        return str(target)
    for prefix, shrink in INPUTS.items():
        if token.startswith(prefix) and (REPO / token).exists():
            if shrink is None:
                return str(REPO / token)
            target = ws.root / token
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shrink(REPO / token, target)
            return token
    if "/" in token and not token.startswith(("-", "s3://", "arn:")) and (REPO / token).exists() \
            and not (ws.root / token).exists():
        raise DocCommandError(f"{doc.where}: the command reads {token} from the repository: add its prefix to INPUTS in "
                              f"{RUNNER} with how to make a tiny copy (or None to use it as it is)")
    return token


# ---------------------------------------------------------------------------------------------------- running
@dataclasses.dataclass
class Ran:
    step: Step
    code: int
    output: str
    seconds: float


def run_documented(doc: Documented, ws: Workspace, fakes: dict[str, Callable] | None = None) -> list[Ran | Step]:
    """Run every step of a documented line in order; raise DocCommandError at the first that fails."""
    out = []
    for step in resolve(doc, ws):
        if step.skip:
            out.append(step)
            continue
        key = _same_run(step)
        if key in ws.done:
            out.append(Ran(step, 0, f"(ran already for {ws.done[key]})", 0.0))
            continue
        fake = (fakes or {}).get(step.fake) if step.fake else None
        if step.fake and fake is None:
            raise DocCommandError(f"{doc.where}: no fake {step.fake!r} given to the runner")
        t0 = time.perf_counter()
        with (fake(ws, step) if fake else contextlib.nullcontext()):
            code, output = _execute(step, ws)
        ran = Ran(step, code, output, time.perf_counter() - t0)
        out.append(ran)
        if code != 0:
            shown = " ".join(shlex.quote(x) for x in step.argv)
            raise DocCommandError(f"{doc.where}: exit status {code}\n  documented: {' '.join(step.documented)}\n"
                                  f"  ran: {shown}\n  (from {ws.root})\n{_tail(output)}")
        ws.done[key] = doc.where
    return out


def _same_run(step: Step) -> tuple:
    """What makes two runs the same: the arguments, less where a script writes its results (a script documented
    twice, once with an output directory of its own, runs once)."""
    if not step.key.startswith("script "):
        return tuple(step.argv)
    a = Args(step.argv)
    a.tokens = [t for i, t in enumerate(a.tokens) if not (t == "--out" or (i and a.tokens[i - 1] == "--out"))]
    return tuple(a.tokens)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join("  | " + line for line in text.strip().splitlines()[-lines:])


def _execute(step: Step, ws: Workspace) -> tuple[int, str]:
    if step.argv[0] == "harness":
        return _in_process(step.argv[1:], ws)
    argv = MICRO if step.key == "make bench-harness" else step.argv
    cwd = REPO if step.key == "make bench-harness" else ws.root
    env = {**ws.env(), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    return proc.returncode, proc.stdout + proc.stderr


def _in_process(args: list[str], ws: Workspace) -> tuple[int, str]:
    """`harness ARGS` through harness.cli.main, the console script's entry point, from the workspace; the process's
    working directory, environment and torch threads are restored afterwards."""
    import io

    from harness.cli import main

    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch else None
    saved_env, cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    try:
        env = ws.env()
        os.environ.clear()
        os.environ.update(env)
        os.chdir(ws.root)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except Exception as exc:  # a traceback is a failure of the documented command
        import traceback

        err.write("".join(traceback.format_exception(exc)))
        code = 1
    finally:
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        if threads and "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    return code, out.getvalue() + err.getvalue()
