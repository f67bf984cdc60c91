"""Scores and thresholds.

* :mod:`~dstl_hpc.scoring.metrics`: the polygon Jaccard scores;
* :mod:`~dstl_hpc.scoring.sweep`: the threshold sweeps on validation;
* :mod:`~dstl_hpc.scoring.choose`: each class's group and threshold, chosen;
* :mod:`~dstl_hpc.scoring.files`: the sweep and scores JSONs, one reader and one
  writer each (standard library only).
"""
