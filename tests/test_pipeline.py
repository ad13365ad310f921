"""bench/pipeline.py's step runner with the real tinybert: a training step stopped part-way is
continued (the runner adds --resume when the step's output holds a checkpoint), --autocast reaches
the command, and a step's stdout lands in its `out` file; the in-run TF-IDF reference scores the
label tinybert calls positive. Usage: test_pipeline.py BIN FIXTURES"""
import json
import os
import shutil
import sys
import tempfile
import time
import types
import unittest

BIN, FIX = sys.argv[1], sys.argv[2]
del sys.argv[1:]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
import pipeline  # noqa: E402

TMP = tempfile.mkdtemp(prefix="tinybert-pipeline-")


class StepRunner(unittest.TestCase):
    def test_stopped_training_step_resumes_and_stdout_is_kept(self):
        corpus = os.path.join(TMP, "corpus.txt")
        with open(corpus, "w") as f:
            for d in range(12):
                f.write("".join(f"the {d} cat sat on mat number {i} today .\n" for i in range(8)) + "\n")
        p = pipeline.Pipeline(types.SimpleNamespace(preset="smoke", run=os.path.join(TMP, "run"), bin=BIN,
                                                    device="cpu", autocast="bf16", publish=False, seed=42))
        out = os.path.join(TMP, "mlm")
        args = ["pretrain", "--corpus", corpus, "--model-config", os.path.join(FIX, "tiny-mlm", "config.json"),
                "--vocab", os.path.join(FIX, "vocab.txt"), "--output", out, "--save-every", "2",
                *p.train_common(1e-3, 2, 32, batch=4)]
        p.tb(*args, "--stop-after", "3", out=os.path.join(TMP, "first.json"))
        with open(os.path.join(out, "last", "trainer_state.json")) as f:
            self.assertEqual(json.load(f)["step"], 3)
        self.assertFalse(os.path.exists(os.path.join(out, "summary.json")))
        p.tb(*args, out=os.path.join(TMP, "second.json"))  # without --resume it would refuse the directory
        with open(os.path.join(out, "summary.json")) as f:
            summary = json.load(f)
        with open(os.path.join(out, "run_config.json")) as f:
            config = json.load(f)
        self.assertEqual(config["autocast"], "bf16")
        self.assertEqual(config["resume"], "yes")
        print(f"stopped at step 3, resumed, finished at step {summary['steps']}")
        self.assertGreater(summary["steps"], 3)
        with open(os.path.join(TMP, "second.json")) as f:  # the command's stdout, kept as the step's output
            self.assertIn("best", f.read())

    def test_a_stopped_step_keeps_its_time(self):
        def pipe():
            return pipeline.Pipeline(types.SimpleNamespace(preset="smoke", run=os.path.join(TMP, "timed"), bin=BIN,
                                                           device="cpu", autocast="off", publish=False, seed=42))
        done = os.path.join(TMP, "timed", "done")

        def stopped():
            time.sleep(0.3)
            sys.exit("stopped")

        def finished():
            time.sleep(0.2)
            open(done, "w").close()

        with self.assertRaises(SystemExit):
            pipe().step("slow step", done, stopped)
        first = pipe().times["slow step"]  # read back from the run's step_times.json
        self.assertGreaterEqual(first, 0.3)
        pipe().step("slow step", done, finished)
        total = pipe().times["slow step"]
        print(f"stopped attempt {first:.2f} s, with the finishing one {total:.2f} s")
        self.assertGreaterEqual(total, first + 0.2)


    def test_a_run_directory_keeps_its_preset_and_seed(self):
        def pipe(seed, preset="smoke"):
            return pipeline.Pipeline(types.SimpleNamespace(preset=preset, run=os.path.join(TMP, "seeded"), bin=BIN,
                                                           device="cpu", autocast="off", publish=False, seed=seed))
        pipe(7)
        pipe(7)  # the same again continues it
        for other in (dict(seed=8), dict(seed=7, preset="demo")):
            with self.assertRaises(SystemExit) as e:
                pipe(**other)
            self.assertIn("choose another --run", str(e.exception))


class TfidfReference(unittest.TestCase):
    def write(self, d, name, rows):
        with open(os.path.join(d, name), "w") as f:
            f.write("text\tlabel\n" + "".join(f"{t}\t{l}\n" for t, l in rows))

    def test_binary_f1_is_of_the_second_label(self):
        d = tempfile.mkdtemp(dir=TMP)
        spam = ["cheap pills buy now", "buy cheap watches now", "win money now buy"] * 4
        ham = ["meeting notes for monday", "the agenda for the meeting", "notes from monday lunch"] * 4
        self.write(d, "train.tsv", [(t, "spam") for t in spam] + [(t, "ham") for t in ham])
        # one spam found, one ham with spam words taken for spam, two hams right:
        # F1 of "spam" (tinybert's label 1) = 2/3, of "ham" = 4/5
        self.write(d, "test.tsv", [("buy cheap pills now", "spam"), ("cheap pills buy now please", "ham"),
                                    ("monday meeting notes", "ham"), ("agenda for monday", "ham")])
        m = pipeline.tfidf_reference(d)
        print("tfidf reference on the toy split:", m)
        self.assertAlmostEqual(m["accuracy"], 0.75)
        self.assertAlmostEqual(m["f1"], 2 / 3)

    def test_multiclass_reports_macro_f1(self):
        d = tempfile.mkdtemp(dir=TMP)
        words = {"a": "river boat water", "b": "court judge law", "c": "star planet orbit"}
        self.write(d, "train.tsv", [(f"{w} {i}", l) for l, w in words.items() for i in range(6)])
        self.write(d, "test.tsv", [(w, l) for l, w in words.items()])
        m = pipeline.tfidf_reference(d)
        self.assertEqual(set(m), {"accuracy", "macro_f1"})
        self.assertAlmostEqual(m["accuracy"], 1.0)


def tearDownModule():
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    unittest.main(verbosity=2)
