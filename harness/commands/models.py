"""`harness models`: list the model families."""

from __future__ import annotations

from harness.foundation.tables import print_table
from harness.models.registry import MODELS, model_family

from . import add_command


def register(sub):
    p = add_command(sub, "models", "list model families", "harness models --flops")
    p.add_argument("--flops", action="store_true", help="also build each model and count its GFLOP per inference")
    p.set_defaults(func=run)


def run(args) -> int:
    rows = []
    for name in MODELS:
        family = model_family(name)
        row = {"model": name, "kind": family.kind, "inputs": ",".join(family.input_names), "description": family.description}
        if args.flops and family.framework == "torch":
            model = family.build()
            row["params_M"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
            row["GFLOP"] = round(family.flops(model, 1) / 1e9, 3)
            row["prunable"] = len(family.prunable_layers(model))
        rows.append(row)
    print_table(rows)
    return 0
