"""Where the data comes from.

* :mod:`~dstl_hpc.sources.dstl`: the DSTL data layout (names, paths, CSVs,
  geometry, TIFFs), read by every step;
* :mod:`~dstl_hpc.sources.synthetic`: synthetic data written in that layout
  (``dstl-hpc synth``).

Nothing is imported here: the Snakefile imports ``dstl_hpc.sources.dstl`` to build
the DAG fast.
"""
