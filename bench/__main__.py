"""`make bench`: run every benchmark under bench/ and print its figures.

In this order, since later ones use what earlier ones load: the GB postcodes, then
the million synthetic residents, then dispatch over them.
"""

import os
import runpy
import sys
from pathlib import Path

ORDER = (
    "bench_load_gb",
    "bench_lookup_http",
    "bench_targeting",
    "bench_targeting --residents 5000000 --queries 40",
    "bench_dispatch",
    "bench_map_browser",
    "bench_location_storage",
)

here = Path(__file__).parent
runs = [(here / f"{entry.split()[0]}.py", entry.split()[1:]) for entry in ORDER]
named = {entry.split()[0] for entry in ORDER}
runs += [(p, []) for p in sorted(here.glob("bench_*.py")) if p.stem not in named]
for script, arguments in runs:
    print(f"\n== {' '.join([script.stem, *arguments])} ==", flush=True)
    sys.argv = [str(script), *arguments]
    environment = dict(os.environ)  # one run's database is not the next one's
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0):
            print(f"{script.stem} stopped: {stop.code}", flush=True)
    finally:
        os.environ.clear()
        os.environ.update(environment)
