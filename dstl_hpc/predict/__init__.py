"""Prediction: probability maps of whole images.

* :mod:`~dstl_hpc.predict.predictor`: the predictor file (the model, its ensemble
  members or best epochs, or an index model, with the prediction settings);
* :mod:`~dstl_hpc.predict.settings`: ``PredictSettings``, a group's prediction settings
  as one object (no torch);
* :mod:`~dstl_hpc.predict.tiled`: the one tiler, also validation's;
* :mod:`~dstl_hpc.predict.tiles`: tile sizes and mirror indices;
* :mod:`~dstl_hpc.predict.mosaic`: scene neighbours as context.
"""
