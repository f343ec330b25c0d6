"""When a clustering's segments cannot be trusted, and why, in words.

Three checks, with thresholds from the literature where it has one (docs/concepts/segments.md):

- **tiny segments**: fewer than :data:`MIN_SEGMENT_CUSTOMERS` customers, or (at the top level)
  under :data:`MIN_SEGMENT_SHARE` of them. Such a group describes a handful of outliers, not a
  market: too small to be "substantial" (Kotler's segment criteria), and its means and shares
  too noisy to read (about 30 cases is the usual floor for a mean's normal interval);
- **no cluster structure**: a mean silhouette of at most :data:`SILHOUETTE_WEAK`, "no
  substantial structure has been found" (Kaufman & Rousseeuw 1990). Consumer data rarely hold
  natural clusters, and segments cut from a continuum are still useful when they are
  reproducible ("constructive" segmentation, Dolnicar, Grün & Leisch 2018); so a low silhouette
  is a weakness only where the bootstrap stability is below :data:`STABILITY_GOOD` too (or was
  not measured);
- **unstable segments**: a mean bootstrap adjusted Rand index below :data:`STABILITY_POOR`, the
  bound under which Steinley (2004) calls the recovery of a partition poor.

References
----------
Kaufman, L. and Rousseeuw, P. J. (1990). Finding groups in data: an introduction to cluster
analysis. Wiley (p. 88).
Steinley, D. (2004). Properties of the Hubert-Arabie adjusted Rand index. Psychological
Methods 9(3), 386-396.
Dolnicar, S., Grün, B. and Leisch, F. (2018). Market segmentation analysis: understanding it,
doing it, and making it useful. Springer (ch. 2 and 8).
Kotler, P. and Keller, K. L. (2016). Marketing management, 15th ed. Pearson (ch. 9).
"""

from __future__ import annotations

import numpy as np

#: Fewest customers in a segment at any level.
MIN_SEGMENT_CUSTOMERS = 30
#: Smallest share of all customers in a top-level segment.
MIN_SEGMENT_SHARE = 0.01
#: Mean silhouette at or below which no substantial structure has been found.
SILHOUETTE_WEAK = 0.25
#: Bootstrap ARI from which segments are reproducible enough to stand without natural structure.
STABILITY_GOOD = 0.80
#: Bootstrap ARI below which the segments' recovery is poor.
STABILITY_POOR = 0.65


def cluster_warnings(labels: dict[str, np.ndarray], silhouette: float, stability: float) -> list[str]:
    """Every weakness (see the module) of a clustering, as sentences with what to try instead.

    Parameters
    ----------
    labels : dict
        Label per customer for each stored level (``segment``, ``niche``, ``micro``).
    silhouette : float
        Mean silhouette of the top level (NaN where not computed).
    stability : float
        Mean bootstrap adjusted Rand index of the top level (NaN where not run).

    Returns
    -------
    list of str
        Empty where nothing is weak.

    Examples
    --------
    >>> labels = {"segment": np.repeat([0, 1, 2], [500, 480, 3])}
    >>> [w.split(":")[0] for w in cluster_warnings(labels, 0.45, 0.9)]
    ['1 of the 3 segments is tiny']
    """
    k = len(np.unique(labels["segment"]))
    found = [_tiny(level, values) for level, values in labels.items()]
    found += [_unstructured(silhouette, stability, k), _unstable(stability, k)]
    return [w for w in found if w]


def _tiny(level: str, values: np.ndarray) -> str | None:
    """Segments of a level below the size floor (the share floor only at the top level: finer
    levels are small shares by design)."""
    sizes = np.bincount(np.unique(values, return_inverse=True)[1])
    floor = MIN_SEGMENT_CUSTOMERS
    if level == "segment":
        floor = max(floor, int(np.ceil(MIN_SEGMENT_SHARE * len(values))))
    small = np.sort(sizes[sizes < floor])
    if not len(small):
        return None
    noun = {"segment": "segments", "niche": "niches", "micro": "micro-segments"}[level]
    option = {"segment": "--k", "niche": "--micro-k", "micro": "--micro-k"}[level]
    kept = max(2, len(sizes) - len(small))
    listed = ", ".join(f"{n:,}" for n in small[:5]) + (" ..." if len(small) > 5 else "")
    verb = "is" if len(small) == 1 else "are"
    return (f"{len(small)} of the {len(sizes)} {noun} {verb} tiny: fewer than {floor:,} customers ({listed}), too "
            f"few to describe or target reliably; try fewer {noun} ({option} {kept}) or read a coarser level")


def _unstructured(silhouette: float, stability: float, k: int) -> str | None:
    """Low silhouette, unless the segments are reproducible enough to stand as constructed slices."""
    if not silhouette <= SILHOUETTE_WEAK or stability >= STABILITY_GOOD:
        return None
    why = (f"and the bootstrap stability (ARI {stability:.3f}) is below {STABILITY_GOOD}" if stability == stability
           else "and no bootstrap stability was measured to show they are reproducible")
    return (f"silhouette {silhouette:.3f} is at most {SILHOUETTE_WEAK}: the customers form no distinct groups, "
            f"{why}, so these {k} segments are arbitrary cuts; try another --k, or fewer and more telling "
            "--feature choices")


def _unstable(stability: float, k: int) -> str | None:
    if not stability < STABILITY_POOR:
        return None
    fewer = f"fewer segments (--k {k - 1})" if k > 2 else "other --feature choices"
    return (f"bootstrap stability (ARI {stability:.3f}) is below {STABILITY_POOR}: the same customers resampled fall "
            f"into different segments, so membership is not reliable; try {fewer} or a coarser granularity")


__all__ = ["cluster_warnings", "MIN_SEGMENT_CUSTOMERS", "MIN_SEGMENT_SHARE", "SILHOUETTE_WEAK", "STABILITY_GOOD",
           "STABILITY_POOR"]
