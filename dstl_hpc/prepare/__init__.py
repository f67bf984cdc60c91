"""The inputs of training and prediction, made from the data.

* :mod:`~dstl_hpc.prepare.align`: the bands aligned and upscaled into one stack;
* :mod:`~dstl_hpc.prepare.stacks`: the stack and prediction HDF5 files;
* :mod:`~dstl_hpc.prepare.masks` and :mod:`~dstl_hpc.prepare.raster`: the training
  masks, rasterised from the polygons;
* :mod:`~dstl_hpc.prepare.stats` and :mod:`~dstl_hpc.prepare.indices`: the channel
  statistics and the index channels.
"""
