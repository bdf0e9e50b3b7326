"""Which heads and neurons stay: the mask search under a cost constraint, and mask rearrangement.

Search (Kwon et al. 2022, section 4.2, Algorithm 1). Every layer keeps a floor of units (at least one head and
one neuron; under a latency model, as many as the engine runs at no extra cost). Above the floor a head costs
`head_slope` and a neuron `neuron_slope`, the same in every layer. Heads and neurons are ranked globally by
their Fisher importance; for each number k of extra heads the rest of the budget buys the most important
neurons, and the k with the largest total kept importance wins. With FLOPs the slopes are each unit's
multiply-accumulates at the sequence length; with a latency table (measured on an engine, see
`LatencyModel.fit`) they are the fitted slopes of the per-layer latency.

Rearrangement (section 4.3). The search ranks units one by one (the diagonal of the Fisher matrix); within a
layer, units whose gradients cancel can go together at less cost than their diagonals add up to. Keeping each
layer's count, a greedy pass swaps pruned and kept units to minimise the block-diagonal estimate of the loss
increase, 1/2 sum over examples of (sum of the pruned units' gradients)^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from harness.foundation.errors import ConfigError


@dataclass(frozen=True)
class CostModel:
    """The cost of a layer as a function of its kept units, the same for every layer:
    head_floor heads cost head_floor_cost, each head above that head_slope more (neurons likewise).
    `fixed` is what the pruning cannot change (latency outside the layers; 0 for FLOPs targets)."""

    unit: str  # "flops" or "ms"
    head_floor: int
    head_floor_cost: float
    head_slope: float
    neuron_floor: int
    neuron_floor_cost: float
    neuron_slope: float
    fixed: float = 0.0

    def layer_cost(self, heads: int, neurons: int) -> float:
        h = self.head_floor_cost + self.head_slope * max(0, heads - self.head_floor)
        n = self.neuron_floor_cost + self.neuron_slope * max(0, neurons - self.neuron_floor)
        return h + n

    def cost(self, heads: list[int], neurons: list[int]) -> float:
        return self.fixed + sum(self.layer_cost(h, n) for h, n in zip(heads, neurons))


def flops_model(hidden: int, head_size: int, seq_len: int) -> CostModel:
    """FLOPs (2 per multiply-accumulate) of one head and one FFN neuron at `seq_len` tokens, per layer:
    a head has its Q, K, V rows and attention-output columns (4 x seq x hidden x head_size MACs) and its two
    attention products (2 x seq^2 x head_size); a neuron its rows and columns of the two FFN projections
    (2 x seq x hidden). Biases, LayerNorms and softmax are left out, as in the paper's MAC count."""
    head = 2.0 * (4 * seq_len * hidden * head_size + 2 * seq_len * seq_len * head_size)
    neuron = 2.0 * (2 * seq_len * hidden)
    return CostModel("flops", 1, head, head, 1, neuron, neuron)


@dataclass(frozen=True)
class LatencyModel:
    """Per-layer latency (ms) of `units` kept units, fitted as a piecewise-linear function: flat at `base` up to
    `floor` units, then `slope` per unit (the paper's fit of its latency lookup table)."""

    floor: int
    base: float
    slope: float

    @classmethod
    def fit(cls, units: list[int], latency_ms: list[float]) -> "LatencyModel":
        """Least-squares fit over the candidate floors (each measured unit count); slope >= 0."""
        pts = sorted(zip(units, latency_ms))
        best = None
        for floor in [u for u, _ in pts]:
            flat = [y for u, y in pts if u <= floor]
            base = sum(flat) / len(flat)
            above = [(u - floor, y - base) for u, y in pts if u > floor]
            sxx = sum(x * x for x, _ in above)
            slope = max(0.0, sum(x * y for x, y in above) / sxx) if sxx else 0.0
            err = sum((y - base) ** 2 for y in flat) + sum((y - slope * x) ** 2 for x, y in above)
            if best is None or err < best[0] - 1e-12:
                best = (err, cls(floor=int(floor), base=float(base), slope=float(slope)))
        return best[1]

    def __call__(self, units: int) -> float:
        return self.base + self.slope * max(0, units - self.floor)


def latency_model(heads: LatencyModel, neurons: LatencyModel, *, layers: int, dense_ms: float, total_heads: int,
                  total_neurons: int) -> CostModel:
    """The cost model of a latency table: the dense model's measured latency less what each layer saves."""
    fixed = dense_ms - layers * (heads(total_heads) + neurons(total_neurons))
    return CostModel("ms", max(1, heads.floor), heads(max(1, heads.floor)), heads.slope,
                     max(1, neurons.floor), neurons(max(1, neurons.floor)), neurons.slope, fixed=fixed)


@dataclass(frozen=True)
class SearchResult:
    head_keep: list[list[int]]  # per layer, sorted indices of the kept heads
    neuron_keep: list[list[int]]
    cost: float
    dense_cost: float
    budget: float


def search(model: CostModel, head_importance: list[torch.Tensor], neuron_importance: list[torch.Tensor],
           budget: float, *, what: str = "target") -> SearchResult:
    """Kept heads and neurons of maximal total importance whose cost is within `budget`."""
    layers = len(head_importance)
    heads_total, neurons_total = [len(h) for h in head_importance], [len(n) for n in neuron_importance]
    dense = model.cost(heads_total, neurons_total)
    h_floor = [min(model.head_floor, h) for h in heads_total]
    n_floor = [min(model.neuron_floor, n) for n in neurons_total]
    floor = model.cost(h_floor, n_floor)
    if budget >= dense:
        raise ConfigError(f"{what}: removes nothing (the dense model costs {_fmt(dense, model.unit)}, the target allows "
                          f"{_fmt(budget, model.unit)}); choose a smaller target")
    if budget < floor:
        raise ConfigError(f"{what}: removes everything (one head and one neuron per layer already cost "
                          f"{_fmt(floor, model.unit)}, the target allows {_fmt(budget, model.unit)}); "
                          f"the smallest achievable is {floor / dense:.3f} of the dense model")
    base_h, rest_h = _ranked(head_importance, h_floor)
    base_n, rest_n = _ranked(neuron_importance, n_floor)
    cum_h = _prefix_sums(rest_h)
    cum_n = _prefix_sums(rest_n)
    spare = budget - floor
    best_k, best_n, best_value = 0, 0, -math.inf
    for k in range(len(rest_h) + 1):
        left = spare - k * model.head_slope
        if left < -1e-9:
            break
        n = len(rest_n) if model.neuron_slope <= 0 else min(len(rest_n), int(math.floor(left / model.neuron_slope + 1e-9)))
        value = cum_h[k] + cum_n[n]
        if value > best_value:
            best_k, best_n, best_value = k, n, value
    head_keep = _keep(base_h + rest_h[:best_k], layers)
    neuron_keep = _keep(base_n + rest_n[:best_n], layers)
    cost = model.cost([len(k) for k in head_keep], [len(k) for k in neuron_keep])
    return SearchResult(head_keep=head_keep, neuron_keep=neuron_keep, cost=cost, dense_cost=dense, budget=budget)


def _ranked(importance: list[torch.Tensor], floors: list[int]):
    """(each layer's `floor` most important units, every other unit most important first), as
    (importance, layer, index) triples."""
    base, rest = [], []
    for layer, (imp, floor) in enumerate(zip(importance, floors)):
        values = imp.tolist()
        order = sorted(range(len(values)), key=lambda i: -values[i])
        base += [(values[i], layer, i) for i in order[:floor]]
        rest += [(values[i], layer, i) for i in order[floor:]]
    rest.sort(key=lambda t: -t[0])
    return base, rest


def _prefix_sums(ranked) -> list[float]:
    out = [0.0]
    for value, _, _ in ranked:
        out.append(out[-1] + value)
    return out


def _keep(chosen, layers: int) -> list[list[int]]:
    out: list[set] = [set() for _ in range(layers)]
    for _, layer, i in chosen:
        out[layer].add(i)
    return [sorted(s) for s in out]


def _fmt(value: float, unit: str) -> str:
    return f"{value / 1e9:.3f} GFLOP" if unit == "flops" else f"{value:.3f} ms"


@torch.no_grad()
def rearrange(keep: list[int], grads: torch.Tensor) -> list[int]:
    """The kept units of one layer after greedy rearrangement, as many as `keep`; grads: [examples, units].

    Starting from the least important units (by the diagonal) as the pruned set, each other unit in turn joins it
    and then the member whose removal leaves the smallest |sum of the set's gradients|^2 leaves it. With the Gram
    matrix K = G G^T of the units' gradient vectors that is argmin over members i of K_ii - 2 (S . g_i), where
    S . g_i is kept up to date as units join and leave: O(units) per step."""
    units = grads.shape[1]
    pruned_count = units - len(keep)
    if pruned_count == 0 or not keep:
        return list(keep)
    g = grads.double().t().contiguous()  # [units, examples]
    gram = g @ g.t()
    diag = gram.diagonal().clone()
    order = diag.argsort(stable=True).tolist()  # least important first
    pruned = order[:pruned_count]
    dots = gram[:, pruned].sum(1)  # S . g_i for every unit
    for index in order[pruned_count:]:
        pruned.append(index)
        dots += gram[:, index]
        members = torch.tensor(pruned)
        leave = int((diag[members] - 2 * dots[members]).argmin())
        dots -= gram[:, pruned[leave]]
        del pruned[leave]
    gone = set(pruned)
    return [i for i in range(units) if i not in gone]


def pruned_loss_estimate(pruned: list[int], grads: torch.Tensor) -> float:
    """Block-diagonal Fisher estimate of the loss increase of removing `pruned` units of one layer:
    1/2 sum over examples of (sum of their gradients)^2."""
    if not pruned:
        return 0.0
    return 0.5 * float(grads.double()[:, pruned].sum(1).pow(2).sum())
