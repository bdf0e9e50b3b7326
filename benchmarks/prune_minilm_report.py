"""Markdown and checks of the MiniLM/SST-2 pruning benchmark's result (benchmarks/prune_minilm_sst2.py)."""

from __future__ import annotations


def _acc(r):
    return f"{r['accuracy']:.4f}" if "accuracy" in r else "-"


def _rel(r, dense_acc):
    return f"{100 * r['accuracy'] / dense_acc:.1f}%" if dense_acc and "accuracy" in r else "-"


def _label(r):
    return f"{r['method']} ({r['variant']})" if r.get("variant") else r["method"]


def _head(result: dict) -> list:
    s, d = result["settings"], result["dense"]
    acc = d["quality"].get("accuracy")
    return [f"# Pruning {s['model']} on {result['data']}", "",
            f"{result['created_at']}, {result['machine']}. Training subsample: {result['train_examples']} "
            f"examples (max_train={s['max_train']}); dev examples: {d['quality']['n']}.", "",
            f"Dense fine-tune: {s['dense_steps']} steps, batch {s['dense_batch']}, lr {s['dense_lr']}: "
            + (f"dev accuracy **{acc:.4f}**" if acc is not None else "no labels (teacher task)")
            + f" ({d['wall_time_s']:.0f} s, cached after the first run).", ""]


def _oneshot(result: dict) -> list:
    lines = ["## One-shot (no retraining), global unstructured", "",
             "Second-order here is oBERT's one-shot regime (OBS update, no recovery); the recovery section below has "
             "every method with recovery.", "",
             "| method | sparsity | realised | dev acc | top-1 agreement | KL(dense‖pruned) | prune s | peak RSS GiB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in result["oneshot"]:
        lines.append(f"| {r['method']} | {r['sparsity']:.2f} | {r['realised']:.4f} | {_acc(r)} | {r['top1_agreement']:.4f} | "
                     f"{r.get('kl_dense_pruned', float('nan')):.4f} | {r['prune_wall_time_s']:.2f} | {r['peak_rss_bytes'] / 2**30:.2f} |")
    lines += ["", "Scores computed once per method, shared by its sparsities:", ""]
    for m, sc in result["scoring"].items():
        lines.append(f"- {m}: {sc['what']}, {sc['wall_time_s']:.1f} s, peak RSS {sc['peak_rss_bytes'] / 2**30:.2f} GiB")
    return lines + [""]


def _recovery(result: dict) -> list:
    s = result["settings"]
    acc = result["dense"]["quality"].get("accuracy")
    lines = [f"## Recovery to {s['recovery_sparsity']:.0%}: KD from the dense model (T=2, hardness 1), batch "
             f"{s['recovery_batch']}, lr {s['recovery_lr']}", "",
             "| method | realised | dev acc | % of dense | top-1 agreement | KL | train steps | wall s | peak RSS GiB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in result["recovery"]:
        lines.append(f"| {_label(r)} | {r['realised']:.4f} | {_acc(r)} | {_rel(r, acc)} | {r['top1_agreement']:.4f} | "
                     f"{r.get('kl_dense_pruned', float('nan')):.4f} | {r['train_steps']} | {r['prune_wall_time_s']:.0f} | "
                     f"{r['peak_rss_bytes'] / 2**30:.2f} |")
    lines += ["", "Regimes:", ""] + [f"- {_label(r)}: {r['regime']}" for r in result["recovery"]]
    return lines + [""]


def _layers(result: dict) -> list:
    acc = result["dense"]["quality"].get("accuracy")
    lines = ["## Layer dropping, with recovery", "",
             "| run | layers kept | last stage realised | prunable weights gone | dev acc | % of dense | top-1 agreement | "
             "train steps | wall s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["layers"]:
        kept = r["stages"][0].get("layers_kept")
        lines.append(f"| {r['method']} | {kept} | {r['realised']:.4f} | {r['weights_vs_dense']:.4f} | {_acc(r)} | "
                     f"{_rel(r, acc)} | {r['top1_agreement']:.4f} | {r['train_steps']} | {r['prune_wall_time_s']:.0f} |")
    return lines + [""]


def _bert(result: dict) -> list:
    rows = result["bert_base"]
    lines = ["## Cost of pruning " + rows[0]["model"], "",
             "| method | sparsity | realised | wall s | peak RSS GiB | notes |", "|---|---|---|---|---|---|"]
    for r in rows:
        note = ""
        if r["method"] == "second-order":
            note = (f"{r['num_grads']} gradients, budget {r['memory_budget_gb']} GB in {r['layer_groups']} layer groups "
                    f"(all at once: {r['fisher_bytes_unbudgeted'] / 1e9:.1f} GB)")
        lines.append(f"| {r['method']} | {r['sparsity']:.2f} | {r['realised']:.4f} | {r['prune_wall_time_s']:.0f} | "
                     f"{r['peak_rss_bytes'] / 2**30:.2f} | {note} |")
    return lines + [""]


def markdown(result: dict) -> str:
    lines = _head(result) + _oneshot(result) + _recovery(result)
    if result["layers"]:
        lines += _layers(result)
    if result["bert_base"]:
        lines += _bert(result)
    lines += ["## Checks", ""] + [f"- {'PASS' if c['ok'] else 'FAIL'}: {c['claim']} ({c['value']})" for c in result["checks"]]
    return "\n".join(lines) + "\n"


def checks(result: dict) -> list:
    out = []
    dense_acc = result["dense"]["quality"].get("accuracy")
    so = next((r for r in result["recovery"] if r["method"] == "second-order"), None)
    if dense_acc and so and "accuracy" in so:
        ratio = so["accuracy"] / dense_acc
        out.append({"claim": f"second-order at {so['sparsity']:.0%} with recovery + KD keeps >= 98% of dense dev accuracy",
                    "value": f"{ratio:.4f}", "ok": ratio >= 0.98})
    for r in result["oneshot"] + result["recovery"] + result["layers"] + result["bert_base"]:
        if abs(r["realised"] - r["sparsity"]) > 0.005:
            out.append({"claim": f"{_label(r)} realised sparsity within 0.5% of {r['sparsity']}", "value": r["realised"], "ok": False})
    for r in (r for r in result["bert_base"] if r["method"] == "second-order"):
        out.append({"claim": f"{r['model']} second-order peak RSS within 16 GB", "value": f"{r['peak_rss_bytes'] / 1e9:.2f} GB",
                    "ok": r["peak_rss_bytes"] <= 16e9})
    return out
