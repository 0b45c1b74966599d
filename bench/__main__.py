"""`make bench`: run every benchmark under bench/ and print its figures.

In this order, since later ones use what earlier ones load: the GB postcodes, then
the million synthetic residents, then dispatch over them.
"""

import runpy
import sys
from pathlib import Path

ORDER = (
    "bench_load_gb",
    "bench_lookup_http",
    "bench_targeting",
    "bench_dispatch",
    "bench_map_browser",
    "bench_location_storage",
)

here = Path(__file__).parent
scripts = [here / f"{name}.py" for name in ORDER]
scripts += sorted(p for p in here.glob("bench_*.py") if p.stem not in ORDER)
for script in scripts:
    print(f"\n== {script.stem} ==", flush=True)
    sys.argv = [str(script)]
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        if stop.code not in (None, 0):
            print(f"{script.stem} stopped: {stop.code}", flush=True)
