"""Second-order pruning (OBS / WoodFisher / oBERT) with a block-diagonal empirical Fisher.

F = lambda * I + (1/m) * sum_i g_i g_i^T over m gradients, kept block-diagonal: the flattened weights of
one layer (in row layout, see masks.to_rows) are cut into contiguous blocks of B entries, one B x B
inverse per block; the last block of a layer is padded with entries whose gradient is always zero, so
they decouple and never matter. The inverse is built without inverting anything large, one gradient at
a time by Sherman-Morrison:

    F_0^-1 = I / lambda
    F_i^-1 = F_{i-1}^-1 - (F_{i-1}^-1 g_i)(F_{i-1}^-1 g_i)^T / (m + g_i^T F_{i-1}^-1 g_i)

Memory is d * B floats and each gradient costs O(d * B). `add_batch` folds k gradients in one Woodbury
step, F^-1 - U (m I_k + G^T U)^-1 U^T with U = F^-1 G, the same matrix as k Sherman-Morrison steps
(only a k x k system per block is solved, by Cholesky); it reads the B x B blocks once per k gradients
instead of once per gradient, which is what bounds the speed.

Single weight j: saliency rho_j = w_j^2 / (2 [F^-1]_jj); removing it moves the others by
dw = -(w_j / [F^-1]_jj) F^-1 e_j. Group Q (e.g. 4 consecutive input weights): rho_Q = 1/2 w_Q^T
([F^-1]_QQ)^-1 w_Q and dw = -F^-1[:, Q] ([F^-1]_QQ)^-1 w_Q, inverting only the small Q x Q sub-block.
Updates of every weight removed in one step are summed within each block, then removed weights are set
exactly to zero.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# blocks processed together in one batched matmul: bounds temporaries to chunk * B * max(B, k) floats
_CHUNK_BLOCKS = 8192
WOODBURY_BATCH = 8  # gradients per add_batch call in the pruner (k = 8 was fastest on a 2-core EPYC)


def _bmm(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Batched matmul of CPU tensors through numpy (its small-matrix batches ran 2-3x faster than torch.bmm here)."""
    return torch.from_numpy(np.matmul(a.numpy(), b.numpy()))


class BlockFisherInverse:
    """The block-diagonal inverse empirical Fisher of one flattened weight vector of `numel` entries."""

    def __init__(self, numel: int, *, block_size: int, damping: float, num_grads: int, dtype=torch.float32):
        if block_size < 1:
            raise ValueError(f"block_size must be >= 1, got {block_size}")
        if damping <= 0:
            raise ValueError(f"damping must be > 0, got {damping}")
        if num_grads < 1:
            raise ValueError(f"num_grads must be >= 1, got {num_grads}")
        self.numel = int(numel)
        self.block_size = int(block_size)
        self.damping = float(damping)
        self.num_grads = int(num_grads)
        self.num_blocks = math.ceil(self.numel / self.block_size)
        self.count = 0  # gradients added so far
        self.blocks = torch.zeros(self.num_blocks, self.block_size, self.block_size, dtype=dtype)
        self.blocks.diagonal(dim1=1, dim2=2).fill_(1.0 / self.damping)

    @staticmethod
    def nbytes_for(numel: int, block_size: int, dtype=torch.float32) -> int:
        """Bytes the inverse of a `numel`-weight layer takes."""
        itemsize = torch.empty((), dtype=dtype).element_size()
        return math.ceil(numel / block_size) * block_size * block_size * itemsize

    @property
    def padded_numel(self) -> int:
        return self.num_blocks * self.block_size

    def _blocked(self, flat: torch.Tensor) -> torch.Tensor:
        """A flat vector of `numel` entries as (num_blocks, block_size), zero-padded, in the inverse's dtype."""
        flat = flat.detach().reshape(-1).to(self.blocks.dtype)
        if flat.numel() != self.numel:
            raise ValueError(f"expected {self.numel} entries, got {flat.numel()}")
        pad = self.padded_numel - self.numel
        if pad:
            flat = torch.cat([flat, flat.new_zeros(pad)])
        return flat.reshape(self.num_blocks, self.block_size)

    @torch.no_grad()
    def add(self, grad: torch.Tensor) -> None:
        """Fold one gradient into the inverse (Sherman-Morrison, every block at once)."""
        g = self._blocked(grad)
        m = float(self.num_grads)
        for lo in range(0, self.num_blocks, _CHUNK_BLOCKS):
            hi = min(lo + _CHUNK_BLOCKS, self.num_blocks)
            finv = self.blocks[lo:hi]
            gc = g[lo:hi]
            u = _bmm(finv, gc.unsqueeze(2)).squeeze(2)  # F^-1 g
            denom = m + (gc * u).sum(dim=1)  # m + g^T F^-1 g  (> 0: F^-1 is positive definite)
            v = u / denom.sqrt().unsqueeze(1)
            finv.baddbmm_(v.unsqueeze(2), v.unsqueeze(1), alpha=-1.0)
        self.count += 1

    @torch.no_grad()
    def add_batch(self, grads: torch.Tensor) -> None:
        """Fold k gradients (a (k, numel) tensor) into the inverse at once (Woodbury, rank k)."""
        grads = grads.detach().reshape(grads.shape[0], -1)
        k = grads.shape[0]
        if k == 0:
            return
        if k == 1:
            self.add(grads[0])
            return
        g = torch.stack([self._blocked(row) for row in grads], dim=2)  # (nb, B, k)
        eye = torch.eye(k, dtype=self.blocks.dtype) * float(self.num_grads)
        for lo in range(0, self.num_blocks, _CHUNK_BLOCKS):
            hi = min(lo + _CHUNK_BLOCKS, self.num_blocks)
            finv = self.blocks[lo:hi]
            gc = g[lo:hi].contiguous()
            u = _bmm(finv, gc)  # F^-1 G            (c, B, k)
            small = eye + _bmm(gc.transpose(1, 2).contiguous(), u)  # m I + G^T F^-1 G   (c, k, k), SPD
            chol = torch.linalg.cholesky(small)
            v = torch.linalg.solve_triangular(chol.mT, u, upper=True, left=False)  # v v^T = u small^-1 u^T
            finv.baddbmm_(v, v.transpose(1, 2), alpha=-1.0)
        self.count += k

    def diagonal(self) -> torch.Tensor:
        """[F^-1]_jj for every real (unpadded) entry, flat."""
        return self.blocks.diagonal(dim1=1, dim2=2).reshape(-1)[: self.numel]

    def dense(self) -> torch.Tensor:
        """The full (numel x numel) block-diagonal matrix; for tests on tiny layers only."""
        return torch.block_diag(*self.blocks)[: self.numel, : self.numel]

    def matvec(self, vec_blocked: torch.Tensor) -> torch.Tensor:
        """F^-1 v for v given as (num_blocks, block_size); returns the same layout."""
        out = torch.empty_like(vec_blocked)
        for lo in range(0, self.num_blocks, _CHUNK_BLOCKS):
            hi = min(lo + _CHUNK_BLOCKS, self.num_blocks)
            out[lo:hi] = _bmm(self.blocks[lo:hi], vec_blocked[lo:hi].unsqueeze(2).contiguous()).squeeze(2)
        return out

    def sub_blocks(self, group: int) -> torch.Tensor:
        """The (group x group) diagonal sub-blocks [F^-1]_QQ: shape (numel_padded / group, group, group)."""
        if self.block_size % group:
            raise ValueError(f"block_size {self.block_size} is not a multiple of the group size {group}")
        per = self.block_size // group
        view = self.blocks.reshape(self.num_blocks, per, group, per, group)
        sub = view.diagonal(dim1=1, dim2=3)  # (nb, group, group, per)
        return sub.permute(0, 3, 1, 2).reshape(-1, group, group)

    def _check_ready(self):
        if self.count == 0:
            raise ValueError("the inverse Fisher has seen no gradient; add gradients before scoring")


def single_saliency(weight_flat: torch.Tensor, finv: BlockFisherInverse) -> torch.Tensor:
    """rho_j = w_j^2 / (2 [F^-1]_jj) for every weight, flat, in the weight's dtype."""
    finv._check_ready()
    w = weight_flat.detach().reshape(-1).to(finv.blocks.dtype)
    return (w * w / (2.0 * finv.diagonal())).to(weight_flat.dtype)


def _group_solve(weight_flat: torch.Tensor, finv: BlockFisherInverse, group: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(w_Q, ([F^-1]_QQ)^-1 w_Q) for every group Q of `group` consecutive entries, padded groups included."""
    w = finv._blocked(weight_flat).reshape(-1, group)
    sub = finv.sub_blocks(group)
    x = torch.linalg.solve(sub, w.unsqueeze(2)).squeeze(2)
    return w, x


def block_saliency(weight_flat: torch.Tensor, finv: BlockFisherInverse, group: int) -> torch.Tensor:
    """rho_Q = 1/2 w_Q^T ([F^-1]_QQ)^-1 w_Q for every group of `group` consecutive weights (numel / group values)."""
    finv._check_ready()
    if finv.numel % group:
        raise ValueError(f"{finv.numel} weights do not split into groups of {group}")
    w, x = _group_solve(weight_flat, finv, group)
    rho = 0.5 * (w * x).sum(dim=1)
    return rho[: finv.numel // group].to(weight_flat.dtype)


@torch.no_grad()
def obs_update(weight_flat: torch.Tensor, finv: BlockFisherInverse, prune: torch.Tensor, group: int = 1) -> torch.Tensor:
    """The weights after removing every entry where `prune` is True, with the OBS correction.

    group == 1: sum over removed j of -(w_j / [F^-1]_jj) F^-1 e_j.
    group > 1: `prune` must be constant within each group Q of `group` consecutive entries; sum over removed
    Q of -F^-1[:, Q] ([F^-1]_QQ)^-1 w_Q. Removed entries end exactly zero. Returns a new flat tensor.
    """
    finv._check_ready()
    dtype = weight_flat.dtype
    w = finv._blocked(weight_flat)
    p = finv._blocked(prune.reshape(-1).to(finv.blocks.dtype)) > 0
    if group == 1:
        diag = finv.blocks.diagonal(dim1=1, dim2=2)
        coeff = torch.where(p, w / diag, torch.zeros_like(w))
    else:
        pg = p.reshape(-1, group)
        if not torch.equal(pg.all(dim=1), pg.any(dim=1)):
            raise ValueError(f"prune mask is not constant within groups of {group}")
        _, x = _group_solve(weight_flat, finv, group)
        coeff = torch.where(pg, x, torch.zeros_like(x)).reshape(finv.num_blocks, finv.block_size)
    new = w - finv.matvec(coeff)
    new[p] = 0.0
    return new.reshape(-1)[: finv.numel].to(dtype)


def plan_groups(numels: dict[str, int], *, block_size: int, budget_bytes: int, dtype=torch.float32) -> list[list[str]]:
    """Split layers (in order) into groups whose inverse Fishers together fit in `budget_bytes`.

    Raises ValueError naming the layer when a single layer does not fit.
    """
    groups: list[list[str]] = []
    current: list[str] = []
    used = 0
    for name, numel in numels.items():
        need = BlockFisherInverse.nbytes_for(numel, block_size, dtype)
        if need > budget_bytes:
            raise ValueError(
                f"layer {name} needs {need / 1e9:.2f} GB of inverse Fisher (block size {block_size}), "
                f"more than the memory budget of {budget_bytes / 1e9:.2f} GB"
            )
        if current and used + need > budget_bytes:
            groups.append(current)
            current, used = [], 0
        current.append(name)
        used += need
    if current:
        groups.append(current)
    return groups
