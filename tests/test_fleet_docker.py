"""The container image, validated without a Docker engine: the Dockerfile parses, every path it copies
exists (and is not excluded from the build context), the set-up it runs is the Makefile's, it runs as a
non-root user whose uid the Kubernetes manifests declare, and its entry point is `harness`."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path

import pytest

from harness.workflows.fleet.kubernetes import RUN_AS_USER

REPO = Path(__file__).resolve().parents[1]


def instructions(text: str) -> list[tuple[str, list[str], str]]:
    """(INSTRUCTION, flags, arguments) per instruction: comments dropped, continuation lines joined."""
    out, buf = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if buf and line.startswith("#"):  # comment lines inside a continuation are dropped
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.strip().partition(" ")
        flags = []
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            flags.append(flag)
            rest = rest.strip()
        out.append((word.upper(), flags, rest))
        buf = ""
    assert not buf, f"unterminated continuation: {buf!r}"
    return out


def arguments(rest: str) -> list[str]:
    """JSON form (exec) or shell-form words."""
    if rest.startswith("["):
        value = json.loads(rest)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value
    return shlex.split(rest)


def makefile_targets(text: str) -> set[str]:
    """Every target the Makefile defines, with its simple variables ($(VENV) ...) expanded."""
    variables, targets = {}, set()
    for line in text.splitlines():
        if line.startswith("\t") or line.lstrip().startswith("#"):
            continue
        assignment = re.match(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*(?::=|\?=|=)\s*(.*)$", line)
        if assignment:
            variables[assignment.group(1)] = assignment.group(2).strip()
            continue
        rule = re.match(r"^([^:#=]+?)\s*:(?!=)", line)
        if rule:
            names = re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), rule.group(1))
            targets.update(names.split())
    return targets


def make_targets_run(command: str) -> list[list[str]]:
    """The targets of each `make` in a shell command line."""
    runs = []
    for part in re.split(r"&&|\|\||;|\bthen\b|\bfi\b", command):
        words = shlex.split(part)
        if words and words[0] == "make":
            runs.append([w for w in words[1:] if not w.startswith("-") and "=" not in w])
    return runs


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip().rstrip("/") for ln in lines if ln.strip() and not ln.strip().startswith("#")]


@pytest.fixture(scope="module")
def dockerfile():
    return instructions((REPO / "Dockerfile").read_text())


def test_parser_handles_continuations_json_and_shell_forms():
    parsed = instructions('# c\nFROM x\nRUN a \\\n  # inside\n  && make b c=1 -j2\nCOPY --chown=1:1 a b ./\nENTRYPOINT ["h", "i"]\n')
    assert parsed == [("FROM", [], "x"), ("RUN", [], "a  && make b c=1 -j2"), ("COPY", ["--chown=1:1"], "a b ./"),
                      ("ENTRYPOINT", [], '["h", "i"]')]
    assert make_targets_run(parsed[1][2]) == [["b"]]
    assert arguments(parsed[3][2]) == ["h", "i"]
    assert makefile_targets("V := .v\n$(V)/.ok: r\n\ttouch $@\nall: $(V)/.ok x\n.PHONY: all\n") == {".v/.ok", "all", ".PHONY"}


def test_base_image_is_python_3_11(dockerfile):
    froms = [arguments(rest) for word, _, rest in dockerfile if word == "FROM"]
    assert len(froms) == 1 and re.match(r"^python:3\.11(\.\d+)?-slim", froms[0][0]), froms


def test_every_copied_path_exists_and_is_in_the_build_context(dockerfile):
    ignored = dockerignore_patterns()
    copies = [(flags, arguments(rest)) for word, flags, rest in dockerfile if word in ("COPY", "ADD")]
    assert copies
    for flags, args in copies:
        assert not any(f.startswith("--from") for f in flags)
        for source in args[:-1]:
            assert (REPO / source).exists(), source
            assert not any(fnmatch.fnmatch(source.rstrip("/"), p) for p in ignored), f"{source} is excluded by .dockerignore"


def test_set_up_is_the_makefiles_from_the_lock_files(dockerfile):
    targets = makefile_targets((REPO / "Makefile").read_text())
    runs = [rest for word, _, rest in dockerfile if word == "RUN"]
    made = [t for rest in runs for call in make_targets_run(rest) for t in call]
    assert made == ["deepsparse-env", ".venv/.installed"]  # both environments, nothing else
    assert set(made) <= targets
    assert not any(re.search(r"\bpip\d?(\.\d+)?\s+install\b", rest) for rest in runs), "packages come only from the lock files"
    copied_before = []
    for word, _, rest in dockerfile:
        if word == "COPY":
            copied_before += arguments(rest)[:-1]
        if word == "RUN" and "make deepsparse-env" in rest:
            assert {"Makefile", "requirements-deepsparse.lock"} <= set(copied_before)
        if word == "RUN" and "make .venv/.installed" in rest:
            assert {"requirements.lock", "pyproject.toml", "harness"} <= set(copied_before)


def test_runs_as_a_non_root_user_that_the_manifests_declare(dockerfile):
    users = [rest for word, _, rest in dockerfile if word == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert int(users[-1].split(":")[0]) == RUN_AS_USER
    order = [word for word, _, _ in dockerfile]
    first_make = next(i for i, (w, _, rest) in enumerate(dockerfile) if w == "RUN" and make_targets_run(rest))
    assert order.index("USER") < first_make  # the environments are built as that user, not chowned afterwards


def test_entry_point_is_harness_from_the_virtual_environment(dockerfile):
    (entry,) = [rest for word, _, rest in dockerfile if word == "ENTRYPOINT"]
    assert entry.startswith("[") and arguments(entry) == ["harness"]
    (workdir,) = [rest for word, _, rest in dockerfile if word == "WORKDIR"]
    env = " ".join(rest for word, _, rest in dockerfile if word == "ENV")
    assert f"PATH={workdir}/.venv/bin:$PATH" in env
    assert "HARNESS_RESULTS_DIR=/home/harness/" in env  # writable by the non-root user


def test_readme_says_how_to_build_and_push_the_image():
    text = (REPO / "README.md").read_text()
    assert "docker build" in text and "docker push" in text and "docs/fleet.md" in text
