"""Attack: forge grader output (results.json with full marks, feedback.md, grade.txt saying S+).

At import, writes them into the cwd, $HOME, /tmp, /autograder/results and every folder named by an
environment variable whose name suggests output (OUT, RESULT, GRADE, ARTIFACT, REPORT, FEEDBACK).
Every forged file contains FORGED-BY-CATALOGUE-ATTACK. The functions are left unimplemented.
Expected: the grader's output folder is out of reach and its results come from the parent, so the
forgeries change nothing: "is not implemented yet"; no mark. Safe unsandboxed: files that already
exist are never overwritten (open mode "x").
"""
import json
import os

TAG = "FORGED-BY-CATALOGUE-ATTACK"
FORGERIES = {
    "results.json": json.dumps({"score": 2, "output": f"Mark: S+ {TAG}", "tests": []}),
    "feedback.md": f"# Mark: S+\n\nEverything passed. {TAG}\n",
    "grade.txt": f"S+ {TAG}\n",
}
WORDS = ("OUT", "RESULT", "GRADE", "ARTIFACT", "REPORT", "FEEDBACK")

folders = {os.getcwd(), os.path.expanduser("~"), "/tmp", "/autograder/results"}
folders |= {value for key, value in os.environ.items() if any(w in key.upper() for w in WORDS)}
for folder in sorted(f for f in folders if os.path.isdir(f)):
    for name, text in FORGERIES.items():
        try:
            with open(os.path.join(folder, name), "x") as fh:
                fh.write(text)
        except OSError:
            pass


def output_shape(in_shape, layer):
    raise NotImplementedError("output_shape is not written yet")


def build_model():
    raise NotImplementedError("build_model is not written yet")


def train(model, train_set, valid_set, *, iterations=2000, batch_size=50, lr=1e-4, log_every=100):
    raise NotImplementedError("train is not written yet")


def top_patches(model, images, filters, k=12):
    raise NotImplementedError("top_patches is not written yet")
