"""dstl-hpc check-config FILE [FILE ...] [--config KEY=VALUE ...] [--directory DIR] [--local]

The config files checked as the workflow checks them, without Snakemake: read as
``--configfile`` reads them (JSON, else YAML; merged in order), the demo put under a
config without ``data`` and ``groups``, prepared and validated with the JSON schema
(``dstl_hpc.config.load``), the plan made (``dstl_hpc.config.plan.Plan``: ids, groups,
keys that contradict each other, the data's files) and each job's memory estimated
(``dstl_hpc.config.job_memory``). A file that is not text or not YAML, or any problem of
the config, is one line and exit 2 (Snakemake itself stops on a binary config file with
a traceback before the workflow can say anything); a good config gets one line of
summary and exit 0.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="config files (YAML or JSON), merged in order as snakemake --configfile merges them",
    )
    p.add_argument(
        "--config",
        nargs="+",
        default=[],
        metavar="KEY=VALUE",
        help="keys over the files' (read as snakemake --config reads them), e.g. data_dir=PATH",
    )
    p.add_argument(
        "--directory",
        metavar="DIR",
        help="the folder the run starts in (snakemake --directory): relative results and "
        "data paths are relative to it (default: the current folder)",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="a local run: each job also gets at most this machine's memory",
    )


def run(args) -> int:
    from dstl_hpc.config.job_memory import check_job_memory
    from dstl_hpc.config.load import merge_config, read_config_file, workflow_config
    from dstl_hpc.config.plan import Plan
    from dstl_hpc.errors import DstlError
    from dstl_hpc.memory import machine_memory

    config: dict = {}
    for f in args.files:
        merge_config(config, read_config_file(f))
    if args.config:
        from snakemake.cli import parse_config

        try:
            merge_config(config, parse_config(args.config))
        except ValueError as exc:
            raise DstlError(f"--config {' '.join(args.config)}: {exc}") from None
    if args.directory:
        if not Path(args.directory).is_dir():
            raise DstlError(f"{args.directory}: --directory is not a folder")
        os.chdir(args.directory)
    workflow_config(config)
    plan = Plan(config)
    needs = check_job_memory(plan, machine_memory() if args.local else None)
    peak = max(needs, key=lambda n: n.bytes / n.mem_mb, default=None)
    tightest = (
        f"; tightest memory: {peak.step} {peak.bytes / 2**30:.1f} of {peak.mem_mb / 1024:.1f} GiB"
        if peak
        else ""
    )
    print(
        f"{', '.join(args.files)}: OK: {plan.source} data, {len(plan.train_ids)} training "
        f"({len(plan.validation_ids)} validation) and {len(plan.test_ids)} test images, "
        f"{len(plan.groups)} groups ({len(plan.all_units)} trainings per variant), "
        f"variants {', '.join(plan.variants)}, results {plan.results}{tightest}"
    )
    return 0
