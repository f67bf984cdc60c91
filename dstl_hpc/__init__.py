"""dstl-hpc: the DSTL feature-detection UNet pipeline as a Snakemake workflow."""

__version__ = "0.2.0"
