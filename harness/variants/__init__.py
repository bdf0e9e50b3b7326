"""Variants: compressed models on disk (a directory with manifest.json and its weights).

neural.py  pruned (or otherwise compressed) torch models: model.safetensors + manifest.json
trees.py   pruned decision trees: tree.npz + manifest.json
manifest.py  the one manifest reader both use (the file as stored, and its typed form from harness.contracts);
identify.py  the id and the check of any variant directory
architecture.py  which units of the dense model a structurally pruned variant keeps, and the slicing that replays it
slicing.py  smaller copies of Linear / Conv2d / BatchNorm layers
"""
