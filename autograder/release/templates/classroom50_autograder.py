"""Classroom 50 autograder for the CNN practical, written by `python -m autograder classroom50`.

Classroom 50's runner runs this file with the student's checkout as the working directory. It installs
the grader's dependencies where they are missing (requirements.txt, CPU builds of torch), then grades
the checkout with the grader bundled beside this file (autograder/integrations/classroom50.py,
run_bundle): result.json, release-body.md, the report in grading-report/, and status= and summary= in
$GITHUB_OUTPUT. It always exits 0: whatever happens, it writes a result, and an error status when the
submission was not graded. The standard library only, up to the grading.
"""
import json
import os
import subprocess
import sys
import time
import traceback
from pathlib import Path

STARTED = time.monotonic()
HERE = Path(__file__).resolve().parent
NEEDED = "import torch, torchvision, numpy, matplotlib, yaml, tqdm, nbformat, IPython"


def install() -> None:
    """pip install requirements.txt unless the runner already has what the grader imports."""
    probe = subprocess.run([sys.executable, "-c", NEEDED], capture_output=True, cwd=HERE)
    if probe.returncode == 0:
        return
    print("classroom50: installing the grader's dependencies (CPU torch)", flush=True)
    begun = time.monotonic()
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                    "-r", str(HERE / "requirements.txt")], check=True, cwd=HERE)
    print(f"classroom50: installed in {time.monotonic() - begun:.0f} s", flush=True)


def fallback(why: str) -> None:
    """A result.json and release-body.md that say the submission was not graded, and status=error."""
    env, checkout = os.environ, Path.cwd()
    commit = env.get("COMMIT_URL", "")
    result = {"schema": "classroom50/result/v1", "classroom": env.get("CLASSROOM", ""),
              "assignment": env.get("ASSIGNMENT", ""), "submission": env.get("SUBMISSION_TAG", ""),
              "commit": commit, "release": env.get("RELEASE_URL", ""), "review": env.get("REVIEW_URL") or commit,
              "score": 0, "max-score": 0, "tests": []}
    for name, text in (("result.json", json.dumps(result, indent=2) + "\n"),
                       ("release-body.md", f"**Not graded: {why}.** This is not your fault; push again, or ask "
                                           "your instructor.\n")):
        path = checkout / name
        if path.is_symlink() or path.is_file():
            path.unlink()
        if not path.exists():
            path.write_text(text)
    if env.get("GITHUB_OUTPUT"):
        with open(env["GITHUB_OUTPUT"], "a") as f:
            f.write(f"status=error\nsummary=not graded: {why}\n")


def main() -> int:
    try:
        install()
        sys.path.insert(0, str(HERE))  # the bundle's autograder and assignment packages, not the checkout's
        from autograder.integrations.classroom50 import run_bundle

        run_bundle(HERE, Path.cwd(), STARTED)
    except BaseException:  # noqa: BLE001 - a non-zero exit would leave the student no feedback at all
        traceback.print_exc()
        try:
            fallback("the grader could not run on this runner")
        except Exception:
            traceback.print_exc()
    return 0


if __name__ == "__main__":
    sys.exit(main())
