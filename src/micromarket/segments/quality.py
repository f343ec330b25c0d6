"""When a clustering's groups cannot be trusted, and why, in words: customer segments, store
clusters and area types alike (each described by a :class:`Members`).

Three checks, with thresholds from the literature where it has one (docs/concepts/segments.md):

- **tiny groups**: fewer members than the clustering's floor (:data:`MIN_SEGMENT_CUSTOMERS`
  customers, :data:`MIN_CLUSTER_STORES` stores, :data:`MIN_TYPE_AREAS` areas), or (at the top
  level) under :data:`MIN_SEGMENT_SHARE` of them. A customer segment that small describes a handful
  of outliers, not a market: too small to be "substantial" (Kotler's segment criteria), and its
  means and shares too noisy to read (about 30 cases is the usual floor for a mean's normal
  interval). Stores and areas come in tens to thousands, not millions, and a cluster of them is
  meant to be a *kind* of store or place that several share: a cluster of one is that store, and
  one of two is a pair whose common traits may be either one's quirks (k-means gives an outlying
  store or two a cluster of their own rather than spread them over the others). No rule in the
  literature names the floor: three is the smallest cluster in which no one member makes up half,
  so the floor is 3 stores or areas (and the 1 % share for a typology of thousands of areas);
- **no cluster structure**: a mean silhouette of at most :data:`SILHOUETTE_WEAK`, "no
  substantial structure has been found" (Kaufman & Rousseeuw 1990). Consumer data rarely hold
  natural clusters, and segments cut from a continuum are still useful when they are
  reproducible ("constructive" segmentation, Dolnicar, Grün & Leisch 2018); so a low silhouette
  is a weakness only where the bootstrap stability is below :data:`STABILITY_GOOD` too (or was
  not measured);
- **unstable groups**: a mean bootstrap adjusted Rand index below :data:`STABILITY_POOR`, the
  bound under which Steinley (2004) calls the recovery of a partition poor.

A clustering with fewer members than it could fill with two each is refused outright
(:func:`check_enough`).

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

from dataclasses import dataclass, field

import numpy as np

from ..exceptions import SchemaError

#: Fewest customers in a segment at any level.
MIN_SEGMENT_CUSTOMERS = 30
#: Fewest stores in a store cluster.
MIN_CLUSTER_STORES = 3
#: Fewest areas in an area type.
MIN_TYPE_AREAS = 3
#: Smallest share of all members in a top-level group.
MIN_SEGMENT_SHARE = 0.01
#: Mean silhouette at or below which no substantial structure has been found.
SILHOUETTE_WEAK = 0.25
#: Bootstrap ARI from which segments are reproducible enough to stand without natural structure.
STABILITY_GOOD = 0.80
#: Bootstrap ARI below which the segments' recovery is poor.
STABILITY_POOR = 0.65


@dataclass(frozen=True)
class Members:
    """What a clustering groups: the words and options its warnings name, and its size floor."""

    #: Plural noun of what is clustered.
    noun: str
    #: Fewest members in a group at any level.
    floor: int
    #: Per level, top level (``"segment"``) first: the groups' plural noun and the option that sets their number.
    levels: dict = field(default_factory=lambda: {"segment": ("segments", "--k")})
    #: The option that chooses the features.
    features: str = "--feature"
    #: Whether coarser levels can be read (a hierarchy from micro-segments up).
    hierarchy: bool = False

    @property
    def groups(self) -> str:
        """Plural noun of the top level's groups."""
        return self.levels["segment"][0]


CUSTOMERS = Members("customers", MIN_SEGMENT_CUSTOMERS, {"segment": ("segments", "--k"), "niche": ("niches", "--micro-k"),
                                                        "micro": ("micro-segments", "--micro-k")}, hierarchy=True)
STORES = Members("stores", MIN_CLUSTER_STORES, {"segment": ("store clusters", "--k")})
AREAS = Members("areas", MIN_TYPE_AREAS, {"segment": ("area types", "--k")}, features="--variable")


def check_enough(n: int, k: int | str, members: Members) -> None:
    """Refuse to cut ``n`` members into ``k`` groups where that leaves fewer than two a group
    (``k`` ``"auto"`` passes: it is bounded by the caller)."""
    if k == "auto" or n >= 2 * k:
        return
    fits = n // members.floor
    instead = f"try --k {fits}" if fits >= 2 else f"two {members.groups} need {2 * members.floor} {members.noun}"
    raise SchemaError(f"{n} {members.noun} are too few for {k} {members.groups}: k-means needs at least 2 "
                      f"{members.noun} a group, and {members.floor} make one worth describing; {instead}")


def cluster_warnings(labels: dict[str, np.ndarray], silhouette: float, stability: float,
                     members: Members = CUSTOMERS) -> list[str]:
    """Every weakness (see the module) of a clustering, as sentences with what to try instead.

    Parameters
    ----------
    labels : dict
        Label per member for each stored level of ``members.levels`` (``segment``, and for
        customers ``niche`` and ``micro``).
    silhouette : float
        Mean silhouette of the top level (NaN where not computed).
    stability : float
        Mean bootstrap adjusted Rand index of the top level (NaN where not run).
    members : Members
        What is clustered (:data:`CUSTOMERS`, :data:`STORES` or :data:`AREAS`).

    Returns
    -------
    list of str
        Empty where nothing is weak.

    Examples
    --------
    >>> labels = {"segment": np.repeat([0, 1, 2], [500, 480, 3])}
    >>> [w.split(":")[0] for w in cluster_warnings(labels, 0.45, 0.9)]
    ['1 of the 3 segments is tiny']
    >>> [w.split(":")[0] for w in cluster_warnings({"segment": np.repeat([0, 1, 2], [14, 12, 2])}, 0.45, 0.9, STORES)]
    ['1 of the 3 store clusters is tiny']
    """
    k = len(np.unique(labels["segment"]))
    found = [_tiny(level, values, members) for level, values in labels.items()]
    found += [_unstructured(silhouette, stability, k, members), _unstable(stability, k, members)]
    return [w for w in found if w]


def _tiny(level: str, values: np.ndarray, members: Members) -> str | None:
    """Groups of a level below the size floor (the share floor only at the top level: finer
    levels are small shares by design)."""
    sizes = np.bincount(np.unique(values, return_inverse=True)[1])
    floor = members.floor
    if level == "segment":
        floor = max(floor, int(np.ceil(MIN_SEGMENT_SHARE * len(values))))
    small = np.sort(sizes[sizes < floor])
    if not len(small):
        return None
    noun, option = members.levels[level]
    kept = max(2, len(sizes) - len(small))
    listed = ", ".join(f"{n:,}" for n in small[:5]) + (" ..." if len(small) > 5 else "")
    verb = "is" if len(small) == 1 else "are"
    tries = [f"fewer {noun} ({option} {kept})"] if kept < len(sizes) else []  # two groups are the fewest
    # A store or area cluster of one or two is often an odd member standing apart on a feature only it has.
    tries.append("read a coarser level" if members.hierarchy else f"fewer {members.features} choices")
    return (f"{len(small)} of the {len(sizes)} {noun} {verb} tiny: fewer than {floor:,} {members.noun} ({listed}), "
            f"too few to describe or target reliably; try {' or '.join(tries)}")


def _unstructured(silhouette: float, stability: float, k: int, members: Members) -> str | None:
    """Low silhouette, unless the groups are reproducible enough to stand as constructed slices."""
    if not silhouette <= SILHOUETTE_WEAK or stability >= STABILITY_GOOD:
        return None
    why = (f"and the bootstrap stability (ARI {stability:.3f}) is below {STABILITY_GOOD}" if stability == stability
           else "and no bootstrap stability was measured to show they are reproducible")
    return (f"silhouette {silhouette:.3f} is at most {SILHOUETTE_WEAK}: the {members.noun} form no distinct groups, "
            f"{why}, so these {k} {members.groups} are arbitrary cuts; try another --k, or fewer and more telling "
            f"{members.features} choices")


def _unstable(stability: float, k: int, members: Members) -> str | None:
    if not stability < STABILITY_POOR:
        return None
    tries = [f"fewer {members.groups} (--k {k - 1})" if k > 2 else f"other {members.features} choices"]
    tries.append("a coarser granularity" if members.hierarchy else f"other {members.features} choices")
    return (f"bootstrap stability (ARI {stability:.3f}) is below {STABILITY_POOR}: the same {members.noun} resampled "
            f"fall into different {members.groups}, so membership is not reliable; try {' or '.join(dict.fromkeys(tries))}")


__all__ = ["cluster_warnings", "check_enough", "Members", "CUSTOMERS", "STORES", "AREAS", "MIN_SEGMENT_CUSTOMERS",
           "MIN_CLUSTER_STORES", "MIN_TYPE_AREAS", "MIN_SEGMENT_SHARE", "SILHOUETTE_WEAK", "STABILITY_GOOD",
           "STABILITY_POOR"]
