"""Localised ranges: what each unit (store cluster, store) should stock, from its tested
over- and under-indexes, within a cap on how far it may depart from the chain's core range.

Every unit carries as many items as the core range (localising swaps items, it does not add
shelf space). An item's predicted sales in a unit are the chain's expectation for a unit of
that size, adjusted only where a test found a significant difference: the group's share of
the unit (a category and price tier selling more or less here) and the item's share of its
group. A store without evidence of its own takes its cluster's significant differences
when its own figures lean the same way. With no evidence at all the predictions follow the
chain's ranking exactly, so a range departs from the core only on discoveries. The best
non-core items replace the weakest core items while they are predicted to sell more, up to
``max_departure`` of the range.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .over_index import IndexTests, blocked_index_tests, index_tests, leave_out_share, row_blocks


@dataclass
class Evidence:
    """Tests of one level of units: items within their group, and groups within the unit."""

    items: IndexTests
    groups: IndexTests


@dataclass
class Ranges:
    """A level's localised ranges (arrays over units x items unless noted)."""

    predicted_revenue: np.ndarray
    item_direction: np.ndarray  # the direction used: the unit's own, else its cluster's
    item_source: np.ndarray  # 2 own test, 1 cluster's, 0 none
    in_range: np.ndarray
    capped: np.ndarray  # swaps the cap kept out, per unit


def group_sums(matrix: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Column sums per group of contiguous items (``starts``: first column of each group)."""
    return np.add.reduceat(matrix, starts, axis=1) if matrix.shape[1] else np.zeros((matrix.shape[0], 0))


def test_level(lines: np.ndarray, group_of: np.ndarray, starts: np.ndarray, fdr: float,
               phi: float | None = None) -> Evidence:
    """Index tests for every unit (row of ``lines``): items within their group, groups within the unit.

    The dispersion ``phi`` (default: estimated from this level's item cells) is a property of
    how purchase lines come in clumps, so one estimate serves every level and the group tests:
    the item cells of single stores, where noise outweighs the real local differences, give
    the cleanest estimate. (Groups and whole clusters differ for real nearly everywhere, which
    would read as noise if they were asked.)
    """
    by_group = group_sums(lines, starts)
    chain_items, chain_groups = lines.sum(axis=0), by_group.sum(axis=0)
    group_total = chain_groups[group_of]

    def item_cells(rows: slice):
        x, n = lines[rows], by_group[rows][:, group_of]
        return x, n, leave_out_share(x, n, chain_items, group_total), group_total - n

    items = blocked_index_tests(item_cells, lines.shape, fdr, phi)
    total = by_group.sum(axis=1, keepdims=True)
    totals = np.broadcast_to(total, by_group.shape)
    share = leave_out_share(by_group, totals, chain_groups, chain_groups.sum())
    groups = index_tests(by_group, totals, share, fdr, items.dispersion, chain_groups.sum() - totals)
    return Evidence(items, groups)


def _borrowed(own: IndexTests, cluster: IndexTests | None, cluster_of: np.ndarray | None, rows: slice = slice(None)):
    """Direction and index ratio per cell of ``rows``: the unit's own discovery, else its cluster's
    when the unit's own index leans the same way; with the evidence's source (2 own, 1 cluster, 0 none)."""
    own_direction, own_index = own.direction[rows], own.index[rows]
    direction, ratio = own_direction.astype(np.int8), np.where(own_direction != 0, own_index / 100, 1.0)
    source = np.where(direction != 0, 2, 0).astype(np.int8)
    if cluster is not None:
        unit_cluster = cluster_of[rows]
        row = np.maximum(unit_cluster, 0)
        c_dir, c_ratio = cluster.direction[row], cluster.index[row] / 100
        lean = np.sign(np.nan_to_num(own_index - 100))
        take = (direction == 0) & (c_dir != 0) & (lean == c_dir) & (unit_cluster >= 0)[:, None]
        direction = np.where(take, c_dir, direction).astype(np.int8)
        ratio = np.where(take, c_ratio, ratio)
        source = np.where(take, 1, source).astype(np.int8)
    return direction, ratio, source


def plan_ranges(lines: np.ndarray, revenue_per_line: np.ndarray, group_of: np.ndarray, starts: np.ndarray,
                core: np.ndarray, evidence: Evidence, max_departure: float,
                cluster_evidence: Evidence | None = None, cluster_of: np.ndarray | None = None) -> Ranges:
    """Predicted sales and the localised range of every unit.

    Parameters
    ----------
    lines : array (units, items)
        Sales lines per unit and item; items sorted so each group is contiguous.
    revenue_per_line : array (items,)
        The chain's revenue per line of each item (turns predicted lines into money).
    group_of, starts : arrays
        Each item's group, and each group's first column.
    core : bool array (items,)
        The chain's core range.
    evidence : Evidence
        This level's tests (:func:`test_level`).
    max_departure : float
        Largest share of a range that may lie outside the core.
    cluster_evidence, cluster_of : optional
        The clusters' tests and each unit's cluster, for stores to borrow from.
    """
    chain_items = lines.sum(axis=0)
    chain_groups = group_sums(chain_items[None, :], starts)[0]
    borrowed = cluster_evidence is not None
    g_dir, g_ratio, _ = _borrowed(evidence.groups, cluster_evidence.groups if borrowed else None, cluster_of)
    total = lines.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        group_share = (chain_groups / chain_groups.sum())[None, :] * g_ratio
        item_share = np.where(chain_groups[group_of] > 0, chain_items / chain_groups[group_of], 0.0)
    money = np.empty(lines.shape)
    item_direction, item_source = np.empty(lines.shape, np.int8), np.empty(lines.shape, np.int8)
    # A unit's range depends on its own row and the chain's totals only: a block of rows at a time
    # keeps the temporaries small whatever the units x items.
    for rows in row_blocks(lines.shape):
        i_dir, i_ratio, item_source[rows] = _borrowed(evidence.items, cluster_evidence.items if borrowed else None,
                                                      cluster_of, rows)
        item_direction[rows] = i_dir
        predicted = np.nan_to_num(total[rows] * group_share[rows][:, group_of] * item_share[None, :] * i_ratio)
        money[rows] = predicted * revenue_per_line[None, :]
    in_range, capped = _swap(money, core, max_departure)
    return Ranges(money, item_direction, item_source, in_range, capped)


def _extremes(values: np.ndarray, k: int, largest: bool) -> np.ndarray:
    """Column positions of each row's ``k`` smallest (or largest) values, in order."""
    signed = -values if largest else values
    if k < values.shape[1]:
        part = np.argpartition(signed, k - 1, axis=1)[:, :k]
    else:
        part = np.tile(np.arange(values.shape[1]), (values.shape[0], 1))
    return np.take_along_axis(part, np.argsort(np.take_along_axis(signed, part, 1), axis=1, kind="stable"), 1)


def _swap(money: np.ndarray, core: np.ndarray, max_departure: float) -> tuple[np.ndarray, np.ndarray]:
    """Per unit: swap the best non-core items for the weakest core ones while they sell more."""
    in_range = np.broadcast_to(core, money.shape).copy()
    capped = np.zeros(money.shape[0], dtype=int)
    if not core.any() or core.all():
        return in_range, capped
    for rows in row_blocks(money.shape):
        in_range[rows], capped[rows] = _swap_rows(money[rows], core, max_departure)
    return in_range, capped


def _swap_rows(money: np.ndarray, core: np.ndarray, max_departure: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_swap` for a block of units (the core holds some items, not all)."""
    size = int(core.sum())
    cap = int(np.floor(max_departure * size))
    in_range = np.broadcast_to(core, money.shape).copy()
    core_idx, other_idx = np.flatnonzero(core), np.flatnonzero(~core)
    depth = min(size, other_idx.size)
    # Row by row: the weakest core items against the best others, pair by pair; the pairs where
    # the other sells more form a prefix (one list falls, the other rises). Sorted values count
    # them; only the swaps the cap allows need their items found.
    core_money, other_money = money[:, core_idx], money[:, other_idx]
    weakest = np.sort(core_money, axis=1)[:, :depth]
    best = -np.sort(-other_money, axis=1)[:, :depth]
    better = (best > weakest).sum(axis=1)
    swaps = np.minimum(better, cap)
    if swaps.any():
        top = int(swaps.max())
        out_idx = _extremes(core_money, top, largest=False)
        in_idx = _extremes(other_money, top, largest=True)
        chosen = np.arange(top)[None, :] < swaps[:, None]
        rows = np.repeat(np.arange(money.shape[0]), swaps)
        in_range[rows, core_idx[out_idx[chosen]]] = False
        in_range[rows, other_idx[in_idx[chosen]]] = True
    return in_range, better - swaps


__all__ = ["Evidence", "Ranges", "group_sums", "test_level", "plan_ranges"]
