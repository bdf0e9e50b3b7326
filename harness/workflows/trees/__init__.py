"""CART minimal cost-complexity pruning of decision trees, measured like the neural models (`harness trees`).

sweep.py   the cost-complexity path, a pruned tree per alpha with its scores, the alpha CV chooses
run.py     run_trees(): sweep, save tree variants, measure them through the runner and store, report
report.py  the table (CSV, Markdown) and plot (PNG) of scores, size and latency against alpha

The data, fitting and array form of a tree live in harness.models.tree_data; tree variants on disk in
harness.variants.trees; the ONNX conversion in harness.export.trees.
"""
