"""`python bench/cprofiled.py OUT MODULE [ARGS…]`: runs `python -m MODULE ARGS…`; each SIGUSR1
starts a cProfile timed by the main thread's own CPU clock (time.thread_time), the next one
stops it and writes its pstats to OUT.<n> (n = 1, 2, …).

bench/profile.py (`--cprofile`) starts the core and the gateway this way and signals them
around each level. Timed by CPU rather
than by the wall, a function's figure is what it costs, not how long it waited for the CPU
on a busy machine; the event loop runs on the main thread, so that is where the requests are.
"""

import os
import sys

if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    del sys.path[0]  # bench/profile.py must not shadow the standard library's `profile`

import cProfile
import runpy
import signal
import time


def main() -> None:
    out, module, *rest = sys.argv[1:]
    sys.argv = [module, *rest]
    running: list[cProfile.Profile] = []
    written = 0

    def toggle(*_: object) -> None:
        nonlocal written
        if not running:
            running.append(cProfile.Profile(time.thread_time))
            running[0].enable()  # in a signal handler: on the main thread, as wanted
            return
        profiler = running.pop()
        profiler.disable()
        written += 1
        profiler.dump_stats(f"{out}.{written}")

    signal.signal(signal.SIGUSR1, toggle)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
