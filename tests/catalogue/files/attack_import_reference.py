"""Attack: hand in the instructor's solution by importing it (the project installs a `reference` package).

Expected: the reference is out of the sandbox's reach, so the import fails with ModuleNotFoundError
("could not be imported"); no mark. Were the reference reachable, this entry would earn S+ and the
catalogue test would flag the leak.
"""
from reference.cnn import build_model, output_shape, top_patches, train  # noqa: F401
