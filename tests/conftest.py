import os
import sys

# test helpers (dos_batches, pointcept_env) are imported as plain modules
sys.path.insert(0, os.path.dirname(__file__))
