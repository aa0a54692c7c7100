import os
import sys

# tools/*.py are scripts, imported as plain modules
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tools"))
