"""Every documented command of docs/*.md and every usage line of the scripts in benchmarks/ runs at tiny size, in
document order, in a workspace of its own (the README's commands: tests/test_docs_commands.py)."""

from __future__ import annotations

import pytest

from tests import docs_commands as dc

PAGES = [d for d in dc.documented() if not dc.readme_part(d)]


@pytest.mark.parametrize("doc", PAGES, ids=[d.where for d in PAGES])
def test_documented_command_runs(doc, docs_workspace, docs_fakes):
    dc.run_or_skip(doc, docs_workspace, docs_fakes)
