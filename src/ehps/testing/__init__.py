"""Test tooling shipped with ehps (like ``numpy.testing``): the crash-isolated fuzz harness that
the robustness tests (``tests/robustness``) and ``benchmarks/robustness.py`` share.

- :mod:`ehps.testing.mutations`: byte-level and structure-aware (zip member, ``.npy`` header)
  mutations of valid files.
- :mod:`ehps.testing.fuzz_targets`: the file loaders under test, each with the valid seed files it
  starts from and its own structural mutations (crafted pickles, forged headers, bombs).
- :mod:`ehps.testing.isolation`: runs each load in a persistent worker process with a memory
  limit, so that a segmentation fault or a hang is counted, not suffered.
"""
