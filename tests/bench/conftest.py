import os
import sys

# the benchmark scripts (bench/*.py) are imported as plain modules, as they import each other
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
