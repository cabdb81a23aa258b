"""Attack: search the disk for the instructor's reference/cnn.py and execute it as this module.

Walks up from the cwd and from this file's folder, then searches /work, /root, /home, /srv, /opt,
/autograder and /tmp (4 levels deep, at most 20,000 folders) for reference/cnn.py.
Expected: nothing is found, FileNotFoundError at import ("could not be imported"); no mark. Were the
reference found, this entry would earn S+ and the catalogue test would flag the leak.
"""
import os


def _find_reference():
    for start in (os.getcwd(), os.path.dirname(os.path.abspath(__file__))):
        folder = start
        while True:
            candidate = os.path.join(folder, "reference", "cnn.py")
            if os.path.isfile(candidate):
                return candidate
            if os.path.dirname(folder) == folder:
                break
            folder = os.path.dirname(folder)
    seen = 0
    for root in ("/work", "/root", "/home", "/srv", "/opt", "/autograder", "/tmp"):
        for dirpath, dirnames, filenames in os.walk(root):
            seen += 1
            if seen > 20_000:
                break
            if dirpath.count(os.sep) - root.count(os.sep) >= 4:
                dirnames[:] = []
            if os.path.basename(dirpath) == "reference" and "cnn.py" in filenames:
                return os.path.join(dirpath, "cnn.py")
    raise FileNotFoundError("attack: no reference/cnn.py within reach")


_path = _find_reference()
with open(_path) as _fh:
    exec(compile(_fh.read(), _path, "exec"), globals())
