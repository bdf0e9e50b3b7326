"""`harness nightly`: asv run for HEAD of a repository on this machine, in the existing environment, then
asv publish with the site's scripts served from the repository's vendored copies.

    asv machine --yes --machine HOST-ID --cpu "..." --arch ... --num_cpu N --ram ... --os ...
    asv run --environment existing:PYTHON --set-commit-hash HEAD --machine HOST-ID
    asv publish --html-dir RESULTS/html       (built beside it and swapped in whole)

asv reads a copy of asv.conf.json with absolute paths (derived_conf); the suites' processes learn the
suite, the results directory and the commit through the environment (nightly_env).

The asv machine is named after the machine id (harness.foundation.machine: CPU vendor, family, model, stepping,
ISA flags, cores, RAM), with the host name beside it ("HOST-ID"), so two CPUs that report the same model name
never share one asv history, and the site shows the CPU in words.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import HarnessError, choices_error
from harness.foundation.fsutil import atomic_write_dir, atomic_write_text
from harness.foundation.machine import cpu_label, fingerprint, git_commit
from harness.pricing import validate_instance_name, validate_region

from .assets import vendor_site_assets
from .measure import REPO_ROOT
from .suites import SUITES, selected_suite

ASV_CONF = REPO_ROOT / "asv.conf.json"


@dataclass(frozen=True)
class NightlyResult:
    commit: str  # the commit asv filed the results under
    record_commit: str  # the commit the run records are filed under (with -dirty for local changes)
    suite: str
    machine: str
    asv_returncode: int
    results_dir: str
    html_dir: str | None
    vendored: bool  # the site loads its scripts from its own vendor/ directory (renders offline)


def _git(repo: Path, *args) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"git {' '.join(args)} failed in {str(repo)!r}: {exc}") from None
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode
        raise HarnessError(f"git {' '.join(args)} failed in {str(repo)!r}: {last}")
    return out.stdout.strip()


def head_commit(repo: Path) -> tuple[str, str]:
    """(HEAD's full hash, the branch asv should follow: the current branch, or HEAD when detached)."""
    repo = Path(repo)
    if not (repo / ".git").exists():
        raise HarnessError(f"--repo {str(repo)!r} is not a git repository; asv needs one with at least one commit")
    try:
        commit = _git(repo, "rev-parse", "--verify", "HEAD^{commit}")
    except HarnessError:
        raise HarnessError(f"--repo {str(repo)!r} has no commit yet; asv needs at least one") from None
    branch = _git(repo, "rev-parse", "--abbrev-ref", "HEAD")
    return commit, branch if branch and branch != "HEAD" else "HEAD"


def environment_python() -> str:
    """This environment's interpreter under one stable name (asv names its results after the path)."""
    candidate = Path(sys.prefix) / "bin" / "python"
    if sys.prefix != sys.base_prefix and candidate.exists():
        return str(candidate)
    return sys.executable


def load_asv_conf(path: Path = ASV_CONF) -> dict:
    """asv.conf.json as a dict (asv's own loader: it allows // comments)."""
    from asv import util  # asv is a dependency of the main environment

    if not Path(path).is_file():
        raise HarnessError(f"asv configuration {str(path)!r} not found")
    return util.load_json(str(path), api_version=1, js_comments=True)


def derived_conf(base: dict, *, repo: Path, branch: str, root: Path, html_dir: Path, conf_dir: Path) -> dict:
    """asv.conf.json with absolute paths: this repository and branch, results under `root`."""
    bench_dir = Path(base.get("benchmark_dir", "benchmarks"))
    conf = dict(base)
    conf.update(
        version=1,  # asv's loader checks and strips it
        repo=str(repo),
        branches=[branch],
        benchmark_dir=str(bench_dir if bench_dir.is_absolute() else (conf_dir / bench_dir).resolve()),
        results_dir=str(root / "asv"),
        html_dir=str(html_dir),
        env_dir=str(root / "asv" / "env"),
    )
    return conf


def nightly_env(suite: str, root: Path, record_commit: str, instance_type: str | None, region: str | None) -> dict:
    """The environment asv's benchmark processes read (harness.workflows.nightly.suites and .measure), checked here."""
    env = dict(os.environ)
    env.update(HARNESS_ASV_SUITE=suite, HARNESS_RESULTS_DIR=str(root), HARNESS_NIGHTLY_COMMIT=record_commit)
    env.pop("HARNESS_ASV_QUICK", None)
    for name, value in (("HARNESS_ASV_INSTANCE_TYPE", instance_type), ("HARNESS_ASV_REGION", region)):
        if value:
            env[name] = value
    selected_suite(env)  # a bad override fails here, before asv starts
    return env


def asv_machine_name(fp: dict) -> str:
    """"HOST-ID": the host name (letters, digits, dots and dashes, at most 40) beside the machine id."""
    host = "".join(c if c.isalnum() or c in ".-" else "-" for c in (platform.node() or "localhost"))[:40].strip("-.")
    return f"{host or 'host'}-{fp['id']}"


def asv_machine_args(fp: dict) -> list[str]:
    """What `asv machine` records about this machine besides its name."""
    ram_gb = f"{(fp.get('ram_bytes') or 0) / 2**30:.0f}GB"
    return ["--cpu", cpu_label(fp), "--arch", str(fp.get("architecture") or platform.machine()),
            "--num_cpu", str(fp.get("logical_cpus") or os.cpu_count() or 1), "--ram", ram_gb,
            "--os", str(fp.get("os") or platform.platform())]


def run_nightly(*, quick: bool = False, suite: str | None = None, repo: str | Path | None = None,
                results: str | Path | None = None, python: str | None = None, machine: str | None = None,
                instance_type: str | None = None, region: str | None = None, bench: str | None = None,
                publish: bool = True, vendor_assets: bool = True, out=None) -> NightlyResult:
    """Run the asv suite for HEAD of `repo` on this machine in the existing environment, then publish.

    Results: asv's under RESULTS/asv, run records under RESULTS/runs, the site under RESULTS/html
    (replaced whole, never half-written). Returns what ran; asv's own return code says whether every
    benchmark succeeded (a skipped backend is not a failure).
    """
    out = out or sys.stdout
    name = suite or ("quick" if quick else os.environ.get("HARNESS_ASV_SUITE") or "nightly")
    if name not in SUITES:
        raise choices_error("suite", name, SUITES)
    if region:
        validate_region(region, "--region")
    if instance_type:
        validate_instance_name(instance_type, "--instance-type")
    repo_path = Path(repo or REPO_ROOT).resolve()
    commit, branch = head_commit(repo_path)
    rec_commit = git_commit(repo_path) or commit
    root = Path(results or os.environ.get("HARNESS_RESULTS_DIR") or "results").resolve()
    root.mkdir(parents=True, exist_ok=True)
    fp = fingerprint(instance_type)
    machine_name = machine or asv_machine_name(fp)
    python = python or environment_python()
    env = nightly_env(name, root, rec_commit, instance_type, region)
    conf = derived_conf(load_asv_conf(), repo=repo_path, branch=branch, root=root, html_dir=root / "html",
                        conf_dir=ASV_CONF.parent)
    conf_dir = Path(tempfile.mkdtemp(prefix="harness-asv-"))
    try:
        asv = Asv(python, atomic_write_text(conf_dir / "asv.conf.json", json.dumps(conf, indent=1)), env, out)
        print(f"harness nightly: suite {name}, commit {commit[:12]} ({branch}) of {repo_path}, machine {machine_name}",
              file=out, flush=True)
        asv.run("machine", "--yes", "--machine", machine_name, *asv_machine_args(fp), check=True, echo=False)
        code = asv.run("run", "--environment", f"existing:{python}", "--set-commit-hash", commit,
                       "--machine", machine_name, "--show-stderr", *(["--bench", bench] if bench else []))
        html = publish_site(asv, root / "html", vendor_assets) if publish else None
        print(f"harness nightly: run records in {root / 'runs'}; check with: harness regressions --results {root}", file=out)
        return NightlyResult(commit=commit, record_commit=rec_commit, suite=name, machine=machine_name,
                             asv_returncode=code, results_dir=str(root), html_dir=str(html) if html else None,
                             vendored=bool(html) and vendor_assets)
    finally:
        shutil.rmtree(conf_dir, ignore_errors=True)


def publish_site(asv: Asv, html: Path, vendor_assets: bool) -> Path:
    """`asv publish` into a directory beside `html`, with the vendored scripts, swapped in whole."""
    def fill(tmp: Path) -> None:
        asv.run("publish", "--html-dir", str(tmp), check=True)
        if vendor_assets:
            vendor_site_assets(tmp)

    atomic_write_dir(html, fill)
    print(f"harness nightly: site in {html} (serve it: python -m http.server -d {html} -b 127.0.0.1)", file=asv.out)
    return html


@dataclass(frozen=True)
class Asv:
    """asv commands with one configuration file and environment, their output copied to `out`."""

    python: str
    conf: Path
    env: dict
    out: object

    def run(self, command: str, *args: str, check: bool = False, echo: bool = True) -> int:
        """Run `asv COMMAND ARGS`, copying its output as it comes (or only on failure when not echo)."""
        cmd = [self.python, "-m", "asv", command, "--config", str(self.conf), *args]
        lines: list[str] = []
        with subprocess.Popen(cmd, env=self.env, cwd=self.conf.parent, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as proc:
            for line in proc.stdout:
                lines.append(line)
                if echo:
                    self.out.write(line)
                    self.out.flush()
            code = proc.wait()
        if code != 0 and not echo:
            self.out.write("".join(lines))
        if check and code != 0:
            last = [ln.strip() for ln in lines if ln.strip()]
            raise HarnessError(f"`asv {command}` exited with {code}: {last[-1][:300] if last else 'no output'}")
        return code
