"""Settings written once: every flag, its help's default and its bounds come from the contract's field Options."""

from __future__ import annotations

import argparse

import pytest

from harness.cli import build_parser, main
from harness.commands.bench import configs_from_args
from harness.commands.flags import all_flags, help_text, settings_flags
from harness.contracts import RecordError, Settings, options

BASE = ["bench", "--model", "bert-tiny", "--backend", "torch,onnxruntime,openvino", "--seq", "16"]
SERVER = ["--scenario", "server", "--sla-ms", "50", "--max-batch", "2"]


def _value(s) -> tuple[list[str], object]:
    """A valid command-line value for the flag, and what the contract then holds."""
    opt = s.option
    if s.kind is bool:
        return [opt.flag], not s.field.default
    if opt.choices:
        return [opt.flag, opt.choices[-1]], opt.choices[-1]
    value = (opt.minimum or 0) + (1 if s.kind is int else 0.25)
    if opt.maximum is not None:
        value = min(value, opt.maximum)
    return [opt.flag, str(value)], value


def _configs(argv):
    args = build_parser().parse_args(argv)
    return configs_from_args(args)


def test_every_settings_field_with_a_flag_reaches_the_configuration():
    flagged = {s.name for s in all_flags()}
    assert {f.name for f, o in options(Settings) if o.flag} <= flagged
    assert {"streams", "spinning", "quantizer", "sparse_threshold", "openvino_sparse_rate"} <= flagged  # engine knobs
    for s in all_flags():
        argv, expected = _value(s)
        extra = SERVER if s.option.scenarios or s.name == "max_wait_ms" else []
        configs = _configs(BASE + extra + argv)
        got = {getattr(c.settings, s.name, None) if s.name in Settings.__dataclass_fields__
               else c.backend_settings.get(s.name) for c in configs}
        assert expected in got, (s.option.flag, got)


def test_help_shows_each_default_from_the_contract():
    assert help_text(next(s for s in all_flags() if s.name == "min_duration_s")).endswith("(default 5)")
    assert help_text(next(s for s in all_flags() if s.name == "streams")) == "OpenVINO NUM_STREAMS (default 1)"
    tolerance = help_text(next(s for s in all_flags() if s.name == "capacity_tolerance"))
    assert tolerance.startswith("server: ") and tolerance.endswith("(default quick 0.1, full 0.05; at most 0.5)")
    assert help_text(next(s for s in all_flags() if s.name == "pinning")) == "do not pin worker threads to CPUs"
    for s in all_flags():  # a number in the help is the field's own default
        default = s.field.default
        if isinstance(default, (int, float)) and not isinstance(default, bool) and s.option.preset is None:
            assert f"(default {default:g}" in help_text(s), s.option.flag


def _out_of_bounds(s) -> str | None:
    opt = s.option
    if opt.maximum is not None and opt.maximum < 1e6:
        return str(opt.maximum * 2)
    if opt.minimum is not None:
        return str(opt.minimum if opt.above else opt.minimum - 1)
    return None


BOUNDED = [s for s in all_flags() if _out_of_bounds(s) is not None]


@pytest.mark.parametrize("s", BOUNDED, ids=[s.option.flag for s in BOUNDED])
def test_a_value_out_of_bounds_is_one_line_naming_the_flag(s, capsys, results_dir):
    extra = SERVER if s.option.scenarios else []
    code = main(BASE + extra + [f"{s.option.flag}={_out_of_bounds(s)}"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1, err
    assert f"{s.option.flag}: expected " in err  # the contract's check, in the flag's name


def test_the_bound_lives_in_the_contract_once():
    """Settings refuses what the flag refuses, with the same words (the matrix file's path instead of the flag)."""
    with pytest.raises(RecordError, match=r"^settings.capacity_tolerance: expected a fraction > 0 and <= 0.5, got 0.7$"):
        Settings(capacity_tolerance=0.7)
    assert settings_flags()["settings.capacity_tolerance"] == "--capacity-tolerance"


def test_a_loadgen_flag_of_another_scenario_is_refused(capsys, results_dir):
    assert main(BASE + ["--max-batch", "4"]) == 2
    assert "--max-batch applies to --scenario server, not single-stream" in capsys.readouterr().err


def test_a_flag_that_is_not_a_number_is_argparse_s_line(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(BASE + ["--warmup", "many"])
    assert "argument --warmup: expected an integer, got 'many'" in capsys.readouterr().err


def test_bench_help_keeps_its_example_and_groups():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["bench"]
    text = sub.format_help()
    assert "example:\n  harness bench --model" in text
    assert "measurement:" in text and "server and offline scenarios (MLPerf LoadGen):" in text
