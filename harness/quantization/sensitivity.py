"""The int8 sensitivity pass on a QDQ graph: quantized layers returned to fp32, most harmful first, until the
accuracy drop on held-back training examples is within the budget.

  1. The fully quantized model is evaluated on the held-back slice (harness.quantization.calibration: examples of
     the TRAINING split the calibration did not use; the dev split stays the report's). Within budget: done.
  2. Otherwise each quantized MatMul is ranked by its harm: the relative error its int8 rounding adds to its own
     output (one run of the int8 graph on the first RANKING_EXAMPLES held-back examples; see `rank`).
  3. Layers return to fp32 in that order: the smallest number of the most harmful that brings the drop within
     budget, found by doubling and bisection (about 2 log2(layers) evaluations), or all of them.

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
    model, after, ranked, harms, returned = int8_model, before, (), (), ()
    if fp32 - before > budget:
        ranked, harms = rank(int8_model, fp32_model, heldout)
        tried: dict[int, tuple] = {}

        def attempt(k: int) -> bool:  # the k most harmful layers back in fp32: within budget?
            if k not in tried:
                candidate = return_to_fp32(int8_model, fp32_model, ranked[:k])
                tried[k] = (candidate, score(logits(candidate, heldout.batches), heldout, fp32_logits))
            return fp32 - tried[k][1] <= budget

        # doubling finds a count within budget, bisection the smallest one: about 2 log2(layers) evaluations
        low, high = 0, 1
        while high < len(ranked) and not attempt(high):
            low, high = high, min(2 * high, len(ranked))
        if attempt(high):
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (low, middle) if attempt(middle) else (middle, high)
        model, after = tried[high]
        returned = ranked[:high]
    done = SensitivityPass(max_drop=max_drop, examples=heldout.examples, source=heldout.source, metric=metric,
                           fp32=fp32, int8_before=before, int8_after=after, ranked=tuple(ranked),
                           harm=tuple(round(h, 8) for h in harms), within_budget=fp32 - after <= budget,
                           seconds=round(time.perf_counter() - t0, 3))
    return model, done, tuple(returned)


def rank(int8_model, fp32_model, heldout: Heldout) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """Every quantized MatMul, most harmful first, with its harm: the relative error int8 adds to its output, on the
    first RANKING_EXAMPLES held-back examples. One run of the int8 graph gives each MatMul's float inputs (before
    their QuantizeLinear) and its output; the fp32 product of the same inputs, with the original weights, is the
    reference, so a layer is judged by its own rounding and not by the error it inherits from the layers below."""
    import onnx
    from onnx import numpy_helper

    subset, rows = [], 0
    for b in heldout.batches:
        if rows >= RANKING_EXAMPLES:
            break
        subset.append(b)
        rows += len(next(iter(b.values())))
    names = quantized_matmuls(int8_model)
    producer = {o: n for n in int8_model.graph.node for o in n.output}
    fp32_inits = {i.name: numpy_helper.to_array(i) for i in fp32_model.graph.initializer}
    fp32_nodes = {n.name: n for n in fp32_model.graph.node}
    nodes = {n.name: n for n in int8_model.graph.node}
    wanted, operands = [], {}
    for name in names:
        node, sources = nodes[name], []
        for i, tensor in enumerate(node.input):
            dq = producer.get(tensor)
            q = producer.get(dq.input[0]) if dq is not None and dq.op_type == "DequantizeLinear" else None
            if q is not None and q.op_type == "QuantizeLinear":
                sources.append(("tensor", q.input[0]))
                wanted.append(q.input[0])
            elif dq is not None and dq.op_type == "DequantizeLinear":
                sources.append(("weight", fp32_nodes[name].input[i]))
            else:
                sources.append(("tensor", tensor))
                wanted.append(tensor)
        operands[name] = sources
        wanted.append(node.output[0])
    probe = onnx.ModelProto()
    probe.CopyFrom(int8_model)
    outputs = {o.name for o in probe.graph.output}
    for tensor in dict.fromkeys(wanted):
        if tensor not in outputs:
            probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(tensor))
    values = _run_all(probe, subset, list(dict.fromkeys(wanted)))
    harm = {}
    for name in names:
        a, b = (values[t] if kind == "tensor" else fp32_inits[t] for kind, t in operands[name])
        reference = np.matmul(a, b)
        got = values[nodes[name].output[0]]
        harm[name] = float(np.sum((got - reference) ** 2) / max(float(np.sum(reference ** 2)), 1e-30))
    ranked = tuple(sorted(harm, key=lambda n: -harm[n]))
    return ranked, tuple(harm[n] for n in ranked)


def _run_all(model, batches: list[dict], names: list[str]) -> dict[str, np.ndarray]:
    """The named tensors of `model` over every batch, concatenated along the first axis."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # the QDQ graph as written
    session = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    feeds = {i.name for i in session.get_inputs()}
    runs = [session.run(names, {k: v for k, v in b.items() if k in feeds}) for b in batches]
    return {name: np.concatenate([r[i] for r in runs]) for i, name in enumerate(names)}
