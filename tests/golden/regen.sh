#!/usr/bin/env bash
# Regenerate the golden outputs of `ehps infer` and `ehps demo` (tests/golden/*.npz, *.json)
# from the current code. Only do this when a change of the outputs is intended, and say why in
# the commit. Compare before and after with: git diff --stat tests/golden
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
.venv/bin/python -m pytest -q --regen-golden \
  tests/inference/test_golden_outputs.py tests/test_demo.py::test_demo_matches_golden "$@"
