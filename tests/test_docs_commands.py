"""Every documented command runs: the fenced commands of README.md here, those of docs/*.md and the usage lines of the
scripts in benchmarks/ in tests/test_docs_pages_commands.py, at tiny sizes, in document order, each half sharing one
workspace (tests/docs_commands.py says how); and the runner itself."""

from __future__ import annotations

import ast

import pytest

from tests import docs_commands as dc

DOCUMENTED = dc.documented()
README = [d for d in DOCUMENTED if dc.readme_part(d)]


@pytest.mark.parametrize("doc", README, ids=[d.where for d in README])
def test_documented_command_runs(doc, docs_workspace, docs_fakes):
    dc.run_or_skip(doc, docs_workspace, docs_fakes)


def test_every_benchmark_script_has_a_documented_tiny_run():
    """A script in benchmarks/ runs in the suite through a usage line of its docstring (or the README)."""
    run = {d.text.split()[1] for d in DOCUMENTED if d.text.startswith(".venv/bin/python benchmarks/")}
    missing = [str(p.relative_to(dc.REPO)) for p in dc.benchmark_scripts() if str(p.relative_to(dc.REPO)) not in run]
    assert not missing, f"no usage line (`.venv/bin/python benchmarks/x.py ...`) in the docstring of {missing}"


@pytest.mark.parametrize("key", [k for k, r in dc.RULES.items() if isinstance(r, dc.Skip) and r.covered_by])
def test_a_skip_names_a_test_that_exists(key):
    path, _, name = dc.RULES[key].covered_by.partition("::")
    tree = ast.parse((dc.REPO / path).read_text())
    assert name in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}, dc.RULES[key].covered_by


# -- the runner itself ---------------------------------------------------------------------------------------------


def _snippet(tmp_path, body: str, language: str = "bash") -> list[dc.Documented]:
    page = tmp_path / "SNIPPET.md"
    page.write_text(f"# a page\n\nSome prose.\n\n```{language}\n{body}\n```\n")
    return dc.documented([page])


@pytest.fixture
def bare(tmp_path):
    return dc.Workspace(tmp_path / "ws", None)


def test_a_failing_snippet_fails_the_run(tmp_path, bare):
    (doc,) = _snippet(tmp_path, "harness results --format yaml   # not a format")
    with pytest.raises(dc.DocCommandError, match=r"SNIPPET.md:6: exit status 2\n  documented: harness results --format yaml"):
        dc.run_documented(doc, bare)


def test_a_snippet_that_passes_records_its_run(tmp_path, bare):
    (doc,) = _snippet(tmp_path, "harness results \\\n    --format json")
    (ran,) = dc.run_documented(doc, bare)
    assert ran.code == 0 and ran.step.argv == ["harness", "results", "--format", "json"] and ran.output.strip() == "[]"


@pytest.mark.parametrize("body, language, message", [
    ("harness prices compare --region us-east-2", "bash",
     "add a 'harness prices' entry to RULES in tests/docs_commands.py"),
    ("vegeta attack -rate 50", "sh", "add a 'vegeta' entry to RULES"),
    ("harness bench --model gpt2 --backend onnxruntime", "bash",
     "no tiny model for 'gpt2': add 'gpt2': '<tiny zoo model>' to TINY_MODELS"),
    ("harness bench --checkpoint ~/models/mine --backend onnxruntime", "bash", "add how to make a tiny one to USER_PATHS"),
    ("harness bench --model bert-base --image $REGISTRY/x", "bash", "no value for $REGISTRY: add 'REGISTRY' to VARIABLES"),
    ("harness run matrices/demo.yaml --tag $(hostname)", "bash", "no value for $(hostname): add 'hostname' to SUBSTITUTIONS"),
    ("harness bench --model bert-base --backend onnxruntime --no-such-flag", "bash",
     "unrecognized arguments: --no-such-flag"),
    ("harness nightly --no-such-flag", "bash", "does not parse"),
    ("harness fleet plan harness/layers.py --out x", "bash", "reads harness/layers.py from the repository: add its prefix to INPUTS"),
    ("harness results", "", "this fenced block has no language"),
    ("harness results", "powershell", "is fenced as 'powershell'"),
    ("30 2 * *", "cron", "a cron line needs five schedule fields"),
])
def test_a_command_the_runner_cannot_shrink_fails_with_what_to_add(tmp_path, bare, body, language, message):
    (doc,) = _snippet(tmp_path, body, language)
    with pytest.raises(dc.DocCommandError, match=None) as info:
        dc.run_documented(doc, bare)
    assert message in str(info.value)


def test_lines_split_as_the_shell_reads_them():
    cron = dc.Documented("x:1", "cron", "30 2 * * * cd /srv && flock -n /tmp/l sh -c 'n=$(date -u +\\%F); "
                                         "a --out fleet/$n && b ; c' >> log 2>&1")
    assert dc.simple_commands(cron) == [["cd", "/srv"], ["n=$(date -u +%F)"], ["a", "--out", "fleet/$n"], ["b"], ["c"]]
    piped = dc.Documented("x:2", "bash", "aws ecr get-login-password | docker login --password-stdin host")
    assert dc.simple_commands(piped) == [["aws", "ecr", "get-login-password"], ["docker", "login", "--password-stdin", "host"]]
    assert dc._strip_comment("harness models --flops   # the zoo, 'quoted #'") == "harness models --flops"
    assert dc._strip_comment("echo 'a # b' x#y") == "echo 'a # b' x#y"


def test_the_docs_and_scripts_are_found():
    where = {d.where.split(":")[0] for d in DOCUMENTED}
    assert {"README.md", "docs/fleet.md", "docs/nightly.md", "benchmarks/frontier.py"} <= where
    assert any(d.language == "workflow" for d in DOCUMENTED)  # the GitHub Actions steps of docs/nightly.md
