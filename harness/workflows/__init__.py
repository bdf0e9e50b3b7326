"""Workflows: demo, compress, frontier, sweep, trees, nightly, fleet, finetune."""
