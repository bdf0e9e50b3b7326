"""How much to prune, and when: pure functions of the step, no state, no I/O.

cubic (Zhu & Gupta, 2017):
    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt))^3     for t0 <= t <= t0 + n*dt,
clamped to s_i before t0 and to s_f after t0 + n*dt. `span_steps` is n*dt, the number of training
steps over which sparsity rises; pruning happens every `prune_every` (dt) steps.
oneshot: the final sparsity at once, at step t0.
movement (Sanh et al., 2020): dense during the warm-up (t < t0), the cubic schedule from s_i at t0 to s_f at
t0 + n*dt, then s_f during the cool-down; a fixed sigmoid threshold tau follows the same curve,
tau_t = tau * s_t / s_f.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import SCHEDULE_KINDS


def cubic_sparsity(step: float, *, initial: float, final: float, start_step: float, span_steps: float) -> float:
    """Sparsity at `step` on the cubic schedule from `initial` (at start_step) to `final` (at start_step + span_steps)."""
    if span_steps <= 0:
        return final if step >= start_step else initial
    progress = (step - start_step) / span_steps
    if progress <= 0.0:
        return initial
    if progress >= 1.0:
        return final
    return final + (initial - final) * (1.0 - progress) ** 3


def oneshot_sparsity(step: float, *, final: float, start_step: float = 0) -> float:
    """Sparsity at `step` when everything is removed at once at start_step."""
    return final if step >= start_step else 0.0


def movement_sparsity(step: float, *, initial: float, final: float, warmup_steps: float, span_steps: float) -> float:
    """Sparsity at `step` in the movement regime: 0 during the warm-up, then cubic_sparsity."""
    if step < warmup_steps:
        return 0.0
    return cubic_sparsity(step, initial=initial, final=final, start_step=warmup_steps, span_steps=span_steps)


def movement_threshold(sparsity: float, *, final: float, threshold: float) -> float:
    """The fixed-threshold variant's threshold on sigmoid(scores) when the schedule is at `sparsity`."""
    return threshold * (sparsity / final) if final > 0 else threshold


@dataclass(frozen=True)
class PruneEvent:
    """One pruning step: at training step `step`, prune to `sparsity`."""

    step: int
    sparsity: float


def pruning_events(
    kind: str, *, final: float, initial: float = 0.0, start_step: int = 0, span_steps: int = 0, prune_every: int = 1
) -> list[PruneEvent]:
    """The pruning steps of a schedule, in order; the last one always reaches `final`.

    cubic: steps start_step, start_step + dt, ... up to start_step + span_steps (the last step is added
    when span_steps is not a multiple of dt). oneshot: a single event at start_step.
    """
    if kind == "oneshot" or span_steps <= 0:
        return [PruneEvent(start_step, final)]
    if kind != "cubic":
        raise ValueError(f"unknown schedule kind {kind!r}; valid: {', '.join(SCHEDULE_KINDS)}")
    dt = max(int(prune_every), 1)
    offsets = list(range(0, span_steps + 1, dt))
    if offsets[-1] != span_steps:
        offsets.append(span_steps)
    return [
        PruneEvent(start_step + o, cubic_sparsity(start_step + o, initial=initial, final=final, start_step=start_step, span_steps=span_steps))
        for o in offsets
    ]


def intermediate_targets(current: float, target: float, count: int) -> list[float]:
    """Targets for `count` recomputations within one pruning step, from `current` to `target`.

    The cubic schedule over `count` sub-steps (more removed early, when the Fisher estimate is fresh
    and most weights are still present); the last value is exactly `target`.
    """
    count = max(int(count), 1)
    values = [cubic_sparsity(j, initial=current, final=target, start_step=0, span_steps=count) for j in range(1, count + 1)]
    values[-1] = target
    return values
