"""``python -m igrlib.grade`` still works: the command lives in :mod:`igrlib.coursework.grade`."""

import sys

if __name__ == "__main__":
    from igrlib.coursework.grade import main

    sys.exit(main())
