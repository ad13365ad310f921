#!/usr/bin/python3
"""The README's main job, reduced, end to end: bench/pipeline.py --preset ci (the demo's teacher
recipe on the offline data, a lighter student side) with the real tinybert. Fails when the
fine-tuned teacher does not clearly beat the majority class on the spam test split (whose F1 of
spam is 0 for a majority-class model; TF-IDF gets 0.95) or when TinyBERT does not keep most of
it: a quality assertion, not a timed one, so that a silent regression of the main job cannot
land again. Needs scripts/fetch_data.sh's data (scripts/test.sh fetches it).

Usage: test_main_job.py TINYBERT_BINARY"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BIN = sys.argv[1]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class MainJob(unittest.TestCase):
    def test_teacher_learns_and_tinybert_keeps_it(self):
        run = tempfile.mkdtemp(prefix="tinybert-main-job-")
        try:
            r = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "bench", "pipeline.py"), "--preset", "ci",
                                "--run", run, "--bin", BIN], capture_output=True, text=True, timeout=1800)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
            with open(os.path.join(run, "report.json")) as f:
                report = json.load(f)
            models = {m["key"]: m for m in report["models"]}
            teacher = models["teacher"]["scores"]["spam"]
            student = models["tinybert"]["scores"]["spam"]
            print("\nspam test: teacher F1 %.3f (accuracy %.3f), TinyBERT F1 %.3f (accuracy %.3f), TF-IDF F1 %.3f; "
                  "retention %.1f%%" % (teacher["f1"], teacher["accuracy"], student["f1"], student["accuracy"],
                                        report["tfidf"]["spam"]["f1"], models["tinybert"]["retention_pct"]))
            self.assertGreater(teacher["f1"], 0.85, "the teacher did not learn (majority class: F1 0)")
            self.assertGreater(models["tinybert"]["retention_pct"], 90.0, "TinyBERT lost the teacher's skill")
        finally:
            shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])
