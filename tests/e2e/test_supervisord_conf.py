#!/usr/bin/env python3
"""supervisord's configuration files: the corpus in tests/supervisord/, read by taskmaster and by supervisord."""
from tmtest import main, test  # noqa: F401

if __name__ == "__main__":
    main()
