"""The int8 sensitivity pass on a QDQ graph: quantized layers returned to fp32, most harmful first, until the
accuracy drop on held-back training examples is within the budget.

  1. The fully quantized model is evaluated on the held-back slice (harness.quantization.calibration: examples of
     the TRAINING split the calibration did not use; the dev split stays the report's). Within budget: done.
  2. Otherwise each quantized MatMul is ranked by its harm: how much closer to the fp32 logits (mean squared
     difference, on the first RANKING_EXAMPLES held-back examples) the model gets when that layer alone returns
     to fp32. This is the ranking NNCF's accuracy-control algorithm uses for OpenVINO.
  3. Layers return to fp32 in that order, one at a time, until the drop is within budget (or none is left).

Returning a layer is a graph edit, not a new calibration: its MatMul reads each activation before its
QuantizeLinear and the original fp32 weight, and Q/DQ nodes nobody reads any more are dropped. The attention
products (Q.K^T, probabilities.V), which ONNX Runtime quantizes too, are layers of their own here. Without labels
(generated inputs) the metric is top-1 agreement with the fp32 model instead of accuracy.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from harness.contracts import SensitivityPass

RANKING_EXAMPLES = 128


@dataclass(frozen=True)
class Heldout:
    """Held-back examples in batches the graph accepts, with their labels (None: judge by agreement with fp32)."""

    batches: list[dict]
    labels: np.ndarray | None
    source: str

    @property
    def examples(self) -> int:
        return sum(len(next(iter(b.values()))) for b in self.batches)


def quantized_matmuls(model) -> list[str]:
    """Names of the MatMul nodes that read an input through a DequantizeLinear (the quantized ones: the layers'
    projections and the attention products), in graph order."""
    producer = {o: n for n in model.graph.node for o in n.output}
    return [n.name for n in model.graph.node if n.op_type == "MatMul"
            and any(getattr(producer.get(i), "op_type", None) == "DequantizeLinear" for i in n.input)]


def return_to_fp32(int8_model, fp32_model, names) -> object:
    """A copy of the QDQ model with the MatMuls `names` computing in fp32: on their original weights, on activations
    as they were before quantization, and handing their output on unquantized. An activation's Q/DQ pair that other
    readers share (a residual Add, a Shape) goes only once no quantized MatMul reads it."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(int8_model)
    fp32_nodes = {n.name: n for n in fp32_model.graph.node}
    fp32_inits = {i.name: i for i in fp32_model.graph.initializer}
    producer = {o: n for n in model.graph.node for o in n.output}
    readers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    have = {i.name for i in model.graph.initializer}
    wanted = set(names)

    def bypass(dq, source: str) -> None:  # every reader of the DQ's output reads `source` instead
        for reader in readers.get(dq.output[0], []):
            for k, name in enumerate(reader.input):
                if name == dq.output[0]:
                    reader.input[k] = source

    for node in model.graph.node:
        if node.name not in wanted:
            continue
        for i, name in enumerate(node.input):
            dq = producer.get(name)
            if dq is None or dq.op_type != "DequantizeLinear":
                continue
            q = producer.get(dq.input[0])
            if q is not None and q.op_type == "QuantizeLinear":  # an activation: read it before its QuantizeLinear
                matmuls = [r for r in readers.get(dq.output[0], []) if r.op_type in ("MatMul", "Gemm")]
                if all(r.name in wanted for r in matmuls):
                    bypass(dq, q.input[0])
                node.input[i] = q.input[0]
                continue
            original = fp32_nodes[node.name].input[i]  # a weight: the fp32 initializer it was quantized from
            if original not in have:
                model.graph.initializer.append(fp32_inits[original])
                have.add(original)
            node.input[i] = original
        for q in [r for r in readers.get(node.output[0], []) if r.op_type == "QuantizeLinear"]:
            for dq in [r for r in readers.get(q.output[0], []) if r.op_type == "DequantizeLinear"]:
                bypass(dq, node.output[0])
    _drop_unused(model)
    return model


def _drop_unused(model) -> None:
    """Remove nodes whose outputs nobody reads (repeatedly) and initialisers no node reads."""
    outputs = {o.name for o in model.graph.output}
    while True:
        used = {i for n in model.graph.node for i in n.input} | outputs
        keep = [n for n in model.graph.node if any(o in used for o in n.output)]
        if len(keep) == len(model.graph.node):
            break
        del model.graph.node[:]
        model.graph.node.extend(keep)
    used = {i for n in model.graph.node for i in n.input}
    inits = [i for i in model.graph.initializer if i.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)


def logits(model, batches: list[dict]) -> np.ndarray:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {i.name for i in session.get_inputs()}
    name = session.get_outputs()[0].name
    return np.concatenate([session.run([name], {k: v for k, v in b.items() if k in feeds})[0] for b in batches])


def score(pred_logits: np.ndarray, heldout: Heldout, fp32_logits: np.ndarray) -> float:
    pred = pred_logits.reshape(len(pred_logits), -1).argmax(-1)
    if heldout.labels is not None:
        return float((pred == heldout.labels).mean())
    return float((pred == fp32_logits.reshape(len(fp32_logits), -1).argmax(-1)).mean())


def restore(fp32_model, int8_model, heldout: Heldout, max_drop: float) -> tuple[object, SensitivityPass, tuple[str, ...]]:
    """(the model with layers returned to fp32 as needed, what the pass did, the returned layers in order).
    `max_drop` in accuracy points."""
    t0 = time.perf_counter()
    fp32_logits = logits(fp32_model, heldout.batches)
    fp32 = score(fp32_logits, heldout, fp32_logits)
    before = score(logits(int8_model, heldout.batches), heldout, fp32_logits)
    metric = "accuracy" if heldout.labels is not None else "agreement"
    budget = max_drop / 100.0 + 1e-12
    model, after, ranked, harms, returned = int8_model, before, (), (), []
    if fp32 - before > budget:
        ranked, harms = rank(fp32_model, int8_model, heldout, fp32_logits)
        for name in ranked:
            returned.append(name)
            model = return_to_fp32(int8_model, fp32_model, returned)
            after = score(logits(model, heldout.batches), heldout, fp32_logits)
            if fp32 - after <= budget:
                break
    done = SensitivityPass(max_drop=max_drop, examples=heldout.examples, source=heldout.source, metric=metric,
                           fp32=fp32, int8_before=before, int8_after=after, ranked=tuple(ranked),
                           harm=tuple(round(h, 8) for h in harms), within_budget=fp32 - after <= budget,
                           seconds=round(time.perf_counter() - t0, 3))
    return model, done, tuple(returned)


def rank(fp32_model, int8_model, heldout: Heldout, fp32_logits: np.ndarray) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Every quantized MatMul, most harmful first, with its harm: the drop of the mean squared logit error against
    fp32 when it alone returns to fp32."""
    subset, rows = [], 0
    for b in heldout.batches:
        if rows >= RANKING_EXAMPLES:
            break
        subset.append(b)
        rows += len(next(iter(b.values())))
    reference = fp32_logits[:rows]

    def error(model) -> float:
        return float(np.mean((logits(model, subset) - reference) ** 2))

    base = error(int8_model)
    harm = {name: base - error(return_to_fp32(int8_model, fp32_model, [name])) for name in quantized_matmuls(int8_model)}
    ranked = sorted(harm, key=lambda n: -harm[n])
    return tuple(ranked), tuple(harm[n] for n in ranked)
