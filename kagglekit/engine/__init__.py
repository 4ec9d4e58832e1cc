"""The training engine: what a run depends on, its plan of jobs, the backends that run them, and the run itself.

``config`` holds ``TrainConfig`` and its checks; ``plan`` the jobs that remain and what follows a model's last
job; ``jobs`` runs one (model, fold) or (model, refit) job, a picklable unit any backend can run, and writes its
artifacts through the Run; ``backends`` run many jobs: in this process, in local worker processes, or as tasks
on a Ray cluster; ``events`` is what the engine reports to its listeners (progress bars, notebooks, tests);
``trainer.run`` puts them together. The run folder itself is ``kagglekit.runs.Run``.
"""
