"""``python -m igrlib.student`` still works: the command lives in :mod:`igrlib.coursework.student`."""

import sys

if __name__ == "__main__":
    from igrlib.coursework.student import main

    sys.exit(main())
