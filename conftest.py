"""Set before anything imports torch: how its CPU threads wait for work.

torch's OpenMP threads spin while they wait by default. On a machine whose cores another
process keeps busy (a shared CI runner), each spinning thread takes turns with that process
and the work crawls: one summary of six photos took 663 s with two threads instead of 99 s
with one (notebook 05, on 2 cores under a load of 8). Waiting passively, two threads took
42 s where one took 38 s on the same load. The notebook kernels and the servers the browser
tests start inherit this environment.
"""
import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# A marimo notebook is a Python file, not a module to import for doctests: the browser test runs it.
collect_ignore = ["notebooks/marimo_views.py"]
