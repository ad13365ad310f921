"""Helpers of the end-to-end tests: running the binary, and a fresh student (the tiny-student-cls
fixture's shape as a BertModel with random weights, what general distillation would start from)."""
import json
import os
import subprocess


def runner(binary, timeout):
    """run(args, check=True, stdin=None): `binary args`, failing with its stderr when check and it fails."""
    def run(args, check=True, stdin=None):
        r = subprocess.run([binary] + args, capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and r.returncode != 0:
            raise AssertionError(f"tinybert {' '.join(args)} failed:\n{r.stderr}")
        return r
    return run


def fresh_student(binary, fixtures, tmp):
    """Writes TMP/student_config.json and a random-init student in TMP/student0; returns its path."""
    config = os.path.join(tmp, "student_config.json")
    with open(os.path.join(fixtures, "tiny-student-cls", "config.json")) as f:
        c = json.load(f)
    c["architectures"] = ["BertModel"]
    for k in ("id2label", "label2id", "num_labels"):
        c.pop(k, None)
    with open(config, "w") as f:
        json.dump(c, f)
    out = os.path.join(tmp, "student0")
    subprocess.run([binary, "init", "--model-config", config, "--vocab", os.path.join(fixtures, "vocab.txt"),
                    "--output", out], check=True, capture_output=True, timeout=300)
    return out
