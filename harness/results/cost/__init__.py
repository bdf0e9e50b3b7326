"""Cost: run records x price quotes -> capacity under an SLA, $ per million items, fleet size, break-even.

One job per module, lowest first:
  arithmetic  $ per million items, fleet size, monthly cost, the CPU-vs-GPU break-even rate;
  capacity    a record's capacity under a latency bound;
  catalog     the instance types and published GPU figures an analysis reads (the one module that loads files);
  quality     the quality gate: each row's accuracy against the dense fp32 baseline, its source and status;
  query       CostQuery: the question (SLA, target rate, region, quality budget, prices, instance types), built once;
  rows        cost rows: measured, GPU reference, projected estimates, not measured; `eligible` = may be chosen;
  analysis    `analyze`: records + query + price book + catalog -> CostAnalysis (pure: no file or network I/O);
  answer      per model: the cheapest eligible CPU and GPU options at the target rate, ratio, break-even, SLA misses.
"""
