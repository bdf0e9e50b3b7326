"""The int8 graph form DeepSparse's integer kernels match, made from a per-tensor static QDQ graph.

DeepSparse runs quantized MatMuls fast when they arrive the way SparseML's exporter writes them (its
MatMulAddToMatMulIntegerAddCastMul transform; see the neuralmagic/sparseml repository), not as the
QuantizeLinear/DequantizeLinear pairs that onnxruntime's quantizer leaves around each MatMul:

    x -> QuantizeLinear (uint8) -> MatMulInteger(x_q, W_q uint8, x_zp, w_zp) -> Add(int32 bias)
      -> Cast(float) -> Mul(x_scale * w_scale)

This module rewrites every MatMul whose activation comes through a DequantizeLinear of a QuantizeLinear and
whose weight is a DequantizeLinear of a uint8 initialiser (with an optional bias Add of an initialiser) into
that form. Other nodes are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Rewritten:
    model: object  # onnx.ModelProto
    converted: int


def rewrite_for_deepsparse(model) -> Rewritten:
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    def scalar(name):
        return numpy_helper.to_array(inits[name]).reshape(-1)

    drop, add_nodes, add_inits, converted = set(), [], [], 0
    for node in list(graph.node):
        if node.op_type != "MatMul":
            continue
        a_dq, w_dq = producer.get(node.input[0]), producer.get(node.input[1])
        if not (a_dq is not None and a_dq.op_type == "DequantizeLinear" and w_dq is not None
                and w_dq.op_type == "DequantizeLinear" and w_dq.input[0] in inits):
            continue
        w = numpy_helper.to_array(inits[w_dq.input[0]])
        if w.dtype != np.uint8 or scalar(w_dq.input[1]).size != 1:
            continue  # per-tensor uint8 weights only
        x_q, x_scale, x_zp = a_dq.input[0], scalar(a_dq.input[1])[0], a_dq.input[2]
        w_scale = scalar(w_dq.input[1])[0]
        out_scale = np.float32(x_scale * w_scale)
        users = consumers.get(node.output[0], [])
        bias_add = users[0] if len(users) == 1 and users[0].op_type == "Add" else None
        bias_name = next((i for i in (bias_add.input if bias_add else []) if i in inits), None)
        base = node.name or node.output[0]
        int_out = f"{base}_int32"
        add_nodes.append(helper.make_node("MatMulInteger", [x_q, w_dq.input[0], x_zp, w_dq.input[2]], [int_out],
                                          name=f"{base}_MatMulInteger"))
        last = int_out
        if bias_name is not None:
            bias = numpy_helper.to_array(inits[bias_name]).astype(np.float64)
            q_bias = np.round(bias / float(out_scale)).astype(np.int32)
            add_inits.append(numpy_helper.from_array(q_bias, f"{base}_bias_int32"))
            add_nodes.append(helper.make_node("Add", [int_out, f"{base}_bias_int32"], [f"{base}_biased"],
                                              name=f"{base}_bias_add"))
            last = f"{base}_biased"
        final = bias_add.output[0] if bias_name is not None else node.output[0]
        add_inits.append(numpy_helper.from_array(np.array(out_scale, dtype=np.float32), f"{base}_scale"))
        add_nodes.append(helper.make_node("Cast", [last], [f"{base}_float"], to=TensorProto.FLOAT, name=f"{base}_cast"))
        add_nodes.append(helper.make_node("Mul", [f"{base}_float", f"{base}_scale"], [final], name=f"{base}_rescale"))
        drop.add(id(node))
        if bias_name is not None:
            drop.add(id(bias_add))
        if len(consumers.get(w_dq.output[0], [])) == 1:
            drop.add(id(w_dq))
        if len(consumers.get(a_dq.output[0], [])) == 1:
            drop.add(id(a_dq))
        converted += 1
    kept = [n for n in graph.node if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(_topological(kept + add_nodes, [i.name for i in graph.input], set(inits) | {i.name for i in add_inits}))
    graph.initializer.extend(add_inits)
    return Rewritten(model, converted)


def _topological(nodes, inputs, initializers) -> list:
    """The nodes in an order where every input is produced before it is used (ONNX requires it)."""
    ready = set(inputs) | set(initializers) | {""}
    pending, ordered = list(nodes), []
    while pending:
        progress = [n for n in pending if all(i in ready for i in n.input)]
        if not progress:  # a cycle or a dangling input: keep the rest in their order and let the checker say
            ordered.extend(pending)
            break
        done = {id(n) for n in progress}
        for n in progress:
            ordered.append(n)
            ready.update(n.output)
        pending = [n for n in pending if id(n) not in done]
    return ordered
