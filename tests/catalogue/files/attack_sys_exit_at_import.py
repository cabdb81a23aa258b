"""Attack: raise SystemExit(0) while being imported, like a script that ends with sys.exit().

Expected: a clean exit status must not pass for a finished run: the import failed ("could not be
imported"); no mark.
"""
import sys

sys.exit(0)
