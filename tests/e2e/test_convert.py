#!/usr/bin/env python3
"""taskmaster --check and taskmaster convert, on YAML and supervisord files."""
from tmtest import main, test  # noqa: F401

if __name__ == "__main__":
    main()
