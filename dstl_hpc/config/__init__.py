"""The config: its keys, their defaults and checks, and the plan of the workflow.

* :mod:`~dstl_hpc.config.settings`: every group setting once (name, kind, range,
  default, help), merged and checked for ``dstl-hpc train --settings``;
* :mod:`~dstl_hpc.config.schema_keys`: the other config keys (top level, synthetic,
  resources, ensembles, per class), :mod:`~dstl_hpc.config.schema_geo`: the geo
  source's keys;
* :mod:`~dstl_hpc.config.schema`: the JSON schema made from them all, and
  :mod:`~dstl_hpc.config.docs`: ``docs/settings.md`` (both written by
  ``python -m dstl_hpc.config.schema``);
* :mod:`~dstl_hpc.config.load`: the config the workflow runs (files read as Snakemake
  reads them, the demo under a partial config), :mod:`~dstl_hpc.config.prepare`: the
  user's config prepared before the schema sees it, :mod:`~dstl_hpc.config.validate`:
  the schema's check (one line naming the key) and defaults;
* :mod:`~dstl_hpc.config.plan`: ids, variants, groups and per-group / per-class
  settings for the Snakefile, with :mod:`~dstl_hpc.config.groups` (the groups
  resolved and checked), :mod:`~dstl_hpc.config.parts` (the jobs' parts),
  :mod:`~dstl_hpc.config.checks` (the data checked before any job),
  :mod:`~dstl_hpc.config.consistency` (keys that contradict each other, classes no group
  predicts) and :mod:`~dstl_hpc.config.results_dir` (where results may go);
* :mod:`~dstl_hpc.config.job_memory`: each job's memory estimate against its ``mem_mb``;
* :mod:`~dstl_hpc.config.results`: every path under ``results/`` (``ResultsPaths``).

Nothing heavy is imported here (no numpy, no torch): the Snakefile imports these
modules to build the DAG fast.
"""
