"""``python -m ehps`` is the same as the ``ehps`` console script."""

from ehps.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
