"""Where the data comes from.

* :mod:`~dstl_hpc.sources.base`: what every source gives the stages (its classes);
* :mod:`~dstl_hpc.sources.dstl`: the DSTL data layout (names, paths, CSVs,
  geometry, TIFFs), read by every step;
* :mod:`~dstl_hpc.sources.synthetic`: synthetic data written in that layout
  (``dstl-hpc synth``);
* :mod:`~dstl_hpc.sources.geo`: georeferenced scenes (rasters and vector labels).

Nothing is imported here: the Snakefile imports ``dstl_hpc.sources.dstl`` to build
the DAG fast.
"""

from __future__ import annotations


def default_classes() -> list:
    """The classes of a step run by hand without the run's ``classes.json``: DSTL's."""
    from dstl_hpc.sources.dstl.layout import DSTL_CLASSES

    return list(DSTL_CLASSES)


def classes_of(path=None) -> list:
    """The classes (``ClassInfo``) a run wrote to ``classes.json`` (the workflow's
    ``classes`` rule), or without one ``default_classes()``."""
    if path is None:
        return default_classes()
    from dstl_hpc.sources.base import read_classes

    return read_classes(path)
