"""The training engine as jobs: a (model, fold) or (model, refit) job is a picklable unit any backend can run.

``jobs`` runs one job and writes its artifacts through the Run; ``events`` is what the engine reports to its
listeners (progress bars, notebooks, tests); ``backends`` run many jobs: in this process, in local worker
processes, or as tasks on a Ray cluster.
"""
