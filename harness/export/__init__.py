"""The export stage: from a model (dense, a variant, or a checkpoint) to a ready Artifact a worker can run.

build.py      the torch model a configuration names (family + variant + checkpoint); the torch workers' module
onnx.py       torch.onnx.export with fixed or dynamic axes, atomically
trees.py      decision trees: skl2onnx conversion and the tree artifact
artifacts.py  prepare(config) -> Artifact: export once, cache, reuse (inputs, fp32 reference, sizes, FLOPs)
"""
