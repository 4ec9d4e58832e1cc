"""kagglekit's side of Kaggle, all through the official ``kaggle`` client.

- ``client``: credentials and sign-in, the HTTP policy (timeouts, retries), the one error mapper, polling.
- ``competitions``: fetch a competition's files, submit a file or a kernel's output, list submissions.
- ``kernels``: a kernel's folder and notebook, push, status, output.
- ``bundle``: the offline install bundle of wheels, kept as a Kaggle dataset.

Import the modules themselves (``from kagglekit.kaggle import competitions``); this package face imports nothing,
so ``kagglekit --help`` stays fast.
"""
