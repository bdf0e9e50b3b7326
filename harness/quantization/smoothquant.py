"""SmoothQuant on an fp32 ONNX graph: activation outliers migrated into the weights before int8 quantization.

Xiao et al. 2023 ("SmoothQuant: Accurate and Efficient Post-Training Quantization for Large Language Models",
ICML): a few activation channels are far larger than the rest, so one per-tensor activation scale wastes most of
int8's range on them. For a MatMul y = x W, dividing channel j of x by s_j and multiplying row j of W by s_j leaves
y unchanged and moves the difficulty from the activations to the weights (which have per-channel scales):

    s_j = max|x_j|^alpha / max|W_j,:|^(1 - alpha)      (alpha = 0.5 in the paper; 0 = no change for x)

Here every MatMul with an fp32 weight initializer (the classifier and pooler excepted) is smoothed; MatMuls that
read the same activation (Q, K and V) share one s, from the largest weight row among them. The division is an
explicit Mul node on the activation (BERT's LayerNorm output is also the residual, so it cannot absorb 1/s).
Activation maxima come from running the fp32 graph with ONNX Runtime on the calibration batches.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

MIN_SCALE = 1e-5


def smoothable_groups(model, skip: re.Pattern) -> dict[str, list]:
    """{activation tensor name: [MatMul nodes reading it with a 2-D weight initializer]}, nodes whose name matches
    `skip` (those left in fp32) left out."""
    from onnx import numpy_helper

    inits = {i.name: i for i in model.graph.initializer}
    groups: dict[str, list] = {}
    for node in model.graph.node:
        if node.op_type != "MatMul" or skip.search(node.name) or node.input[1] not in inits:
            continue
        if numpy_helper.to_array(inits[node.input[1]]).ndim != 2:
            continue
        groups.setdefault(node.input[0], []).append(node)
    return groups


def activation_maxima(src: Path, names: list[str], batches: list[dict]) -> dict[str, np.ndarray]:
    """Per-channel max |x| of each named tensor (last axis) over the calibration batches."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(src))
    present = {o.name for o in model.graph.output}
    for name in names:
        if name not in present:
            model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = {i.name for i in session.get_inputs()}
    maxima: dict[str, np.ndarray] = {}
    for batch in batches:
        outs = session.run(names, {k: v for k, v in batch.items() if k in feeds})
        for name, x in zip(names, outs):
            m = np.abs(x).reshape(-1, x.shape[-1]).max(0)
            maxima[name] = m if name not in maxima else np.maximum(maxima[name], m)
    return maxima


def smooth(src: Path, dst: Path, batches: list[dict], alpha: float, skip: re.Pattern) -> dict:
    """Write the smoothed fp32 model to `dst`; returns what was done (groups, MatMuls, alpha)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    groups = smoothable_groups(model, skip)
    maxima = activation_maxima(src, list(groups), batches)
    inits = {i.name: i for i in model.graph.initializer}
    new_inits, muls = [], []
    for k, (act, nodes) in enumerate(groups.items()):
        weights = {n.input[1]: numpy_helper.to_array(inits[n.input[1]]).astype(np.float32) for n in nodes}
        w_max = np.max(np.stack([np.abs(w).max(1) for w in weights.values()]), axis=0)
        s = np.power(np.maximum(maxima[act], MIN_SCALE), alpha) / np.power(np.maximum(w_max, MIN_SCALE), 1.0 - alpha)
        s = np.maximum(s, MIN_SCALE).astype(np.float32)
        for name, w in weights.items():
            inits[name].CopyFrom(numpy_helper.from_array((w * s[:, None]).astype(np.float32), name))
        smoothed = f"{act}_smoothquant_{k}"
        new_inits.append(numpy_helper.from_array((1.0 / s).astype(np.float32), f"{smoothed}_inverse_scale"))
        muls.append(helper.make_node("Mul", [act, f"{smoothed}_inverse_scale"], [smoothed], name=f"SmoothQuant_{k}"))
        for n in nodes:
            n.input[0] = smoothed
    # each Mul right before the first node that reads its output, so the graph stays topologically sorted
    order = list(model.graph.node)
    for mul in muls:
        first = next(i for i, n in enumerate(order) if mul.output[0] in n.input)
        order.insert(first, mul)
    del model.graph.node[:]
    model.graph.node.extend(order)
    model.graph.initializer.extend(new_inits)
    onnx.save(model, str(dst))
    return {"alpha": alpha, "groups": len(groups), "matmuls": sum(len(v) for v in groups.values())}
