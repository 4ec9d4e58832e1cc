"""Looking at data and finished runs: ``explore`` (the data before modelling), ``adversarial`` (whether train and test
rows differ), ``mistakes`` (the most confidently wrong out-of-fold predictions), ``plots`` (a run's PNGs), ``report`` (one HTML page per run) and ``projector``
(a Keras embedding for the TensorFlow Embedding Projector).

These read what the engine wrote, through ``kagglekit.runs.Run``; none of them imports the engine.
"""
