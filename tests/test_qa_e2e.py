#!/usr/bin/python3
"""Extractive question answering end to end on the fixtures: a generated SQuAD-format task (who
lives where, in filler sentences so that contexts span several windows), finetune the tiny MLM
into a BertForQuestionAnswering teacher, task distillation into a fresh student, eval (SQuAD's
exact match and F1; v2.0 with unanswerable questions), predict and serve answering spans with
character offsets into the context, and clear errors.

Usage: test_qa_e2e.py TINYBERT_BINARY FIXTURES_DIR
"""
import json
import os
import random
import shutil
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve_util import Server  # noqa: E402
from e2e_util import fresh_student, runner  # noqa: E402

BIN, FIX = sys.argv[1], sys.argv[2]
TMP = tempfile.mkdtemp(prefix="tinybert-qa-")
DATA, DATA2 = os.path.join(TMP, "squad"), os.path.join(TMP, "squad2")
PEOPLE = ["Alice", "Bob", "Mary", "John", "Peter", "Anna", "David", "Laura"]
CITIES = ["Paris", "Rome", "London", "Berlin", "Tokyo", "Madrid", "Vienna", "Dublin", "Oslo", "Cairo"]
FILLER = ["the weather was fine that day .", "nobody said anything about it .",
          "the old house stood near the river .", "it was a long and quiet year ."]


def article(rng, unanswerable):
    """One paragraph: filler around an 'X lives in C .' fact (at a random place, so that it falls in
    different windows); the question on X, and (v2) one on somebody who is not there."""
    people = rng.sample(PEOPLE, 1)
    homes = {p: rng.choice(CITIES) for p in people}
    parts = [rng.choice(FILLER) for _ in range(4)]
    for p in people:
        parts.insert(rng.randint(0, len(parts)), f"{p} lives in {homes[p]} .")
    context = " ".join(parts)
    qas = []
    for p in people:
        start = context.index(f"{p} lives in ") + len(f"{p} lives in ")
        qas.append({"id": f"q{rng.getrandbits(40)}", "question": f"Where does {p} live ?",
                    "answers": [{"text": homes[p], "answer_start": start}]})
    if unanswerable:
        other = rng.choice([p for p in PEOPLE if p not in people])
        qas.append({"id": f"q{rng.getrandbits(40)}", "question": f"Where does {other} live ?",
                    "answers": [], "is_impossible": True})
    return {"title": "t", "paragraphs": [{"context": context, "qas": qas}]}


def make_tasks():
    rng = random.Random(0)
    for d, v2 in ((DATA, False), (DATA2, True)):
        os.makedirs(d, exist_ok=True)
        for split, n in (("train", 300), ("dev", 30), ("test", 30)):
            with open(os.path.join(d, split + ".json"), "w") as f:
                json.dump({"version": "v2.0" if v2 else "v1.1", "data": [article(rng, v2) for _ in range(n)]}, f)


run = runner(BIN, 900)


TEACHER = os.path.join(TMP, "teacher")
STUDENT = os.path.join(TMP, "student")
FAST = ["--threads", "1", "--eval-every", "0", "--log-every", "1000"]
WINDOWS = ["--max-length", "32", "--doc-stride", "8"]
CONTEXTS = ["the weather was fine that day . Mary lives in Tokyo . nobody said anything about it . "
            "the old house stood near the river . it was a long and quiet year .",
            "the weather was fine that day . nobody said anything about it . the old house stood near the "
            "river . it was a long and quiet year . Bob lives in Oslo ."]


class QuestionAnswering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        make_tasks()

    def test_1_finetune_learns_to_answer(self):
        r = run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "squad", "--data", DATA,
                 "--epochs", "8", "--lr", "3e-3", "--batch-size", "16", "--output", TEACHER] + WINDOWS + FAST)
        self.assertIn("windows of 32 tokens (doc stride 8)", r.stderr)
        with open(os.path.join(TEACHER, "best", "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["architectures"], ["BertForQuestionAnswering"])
        ev = json.loads(run(["eval", "--model", os.path.join(TEACHER, "best"), "--task", "squad",
                             "--data", DATA, "--split", "test"] + WINDOWS).stdout)
        print("\nteacher test:", ev)
        self.assertEqual(sorted(ev), ["exact_match", "f1"])
        self.assertGreater(ev["f1"], 60)

    def test_2_task_distillation(self):
        run(["distill", "--stage", "task", "--teacher", os.path.join(TEACHER, "best"),
             "--student", fresh_student(BIN, FIX, TMP), "--task", "squad", "--data", DATA,
             "--intermediate-epochs", "3", "--intermediate-lr", "1e-3", "--prediction-epochs", "8",
             "--prediction-lr", "3e-3", "--batch-size", "16", "--output", STUDENT] + WINDOWS + FAST)
        ev = json.loads(run(["eval", "--model", os.path.join(STUDENT, "best"), "--task", "squad",
                             "--data", DATA, "--split", "test"] + WINDOWS).stdout)
        print("\nstudent test:", ev)
        self.assertGreater(ev["f1"], 30)

    def test_3_predict_and_serve_answer_spans_of_the_context(self):
        model = os.path.join(TEACHER, "best")
        questions = [{"question": "Where does Mary live ?", "context": CONTEXTS[0]},
                     {"question": "Where does Bob live ?", "context": CONTEXTS[1]}]
        lines = "".join(json.dumps(q) + "\n" for q in questions)
        outs = [json.loads(x) for x in run(["predict", "--model", model, "--max-length", "32"],
                                           stdin=lines).stdout.splitlines()]
        print("\nanswers:", outs)
        self.assertEqual(len(outs), 2)
        for q, o in zip(questions, outs):
            self.assertEqual(sorted(o), ["answer", "end", "score", "start"])
            self.assertEqual(q["context"][o["start"]:o["end"]], o["answer"])
            self.assertTrue(0 < o["score"] <= 1)
        self.assertEqual([o["answer"] for o in outs], ["Tokyo", "Oslo"])
        with Server(BIN, model, "--threads", "1", "--max-length", "32") as srv:
            status, info = srv.json("GET", "/v1/models")
            self.assertEqual(info["models"][0]["task"], "question_answering")
            status, body = srv.json("POST", "/v1/predict", {"inputs": questions})
            self.assertEqual(status, 200, body)
            self.assertEqual(body["predictions"], outs)
            status, one = srv.json("POST", "/v1/predict", {"inputs": questions[1]})
            self.assertEqual(one["predictions"], outs[1:])
            status, err = srv.json("POST", "/v1/predict", {"inputs": "Where does Bob live ?"})
            self.assertEqual(status, 422, err)
            self.assertIn("a question and a context", err["error"])
            status, err = srv.json("POST", "/v1/predict", {"inputs": {"question": "x"}})
            self.assertEqual(status, 422, err)
            self.assertIn("must have \"question\" and \"context\"", err["error"])

    def test_4_squad_v2_unanswerable(self):
        out = os.path.join(TMP, "v2")
        run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "squad_v2", "--data", DATA2,
             "--epochs", "2", "--lr", "3e-3", "--batch-size", "16", "--output", out] + WINDOWS + FAST)
        ev = json.loads(run(["eval", "--model", os.path.join(out, "best"), "--task", "squad_v2",
                             "--data", DATA2, "--split", "test"] + WINDOWS).stdout)
        print("\nv2 test:", ev)
        self.assertEqual(sorted(ev), sorted(["exact_match", "f1", "HasAns_exact", "HasAns_f1", "HasAns_total",
                                             "NoAns_exact", "NoAns_f1", "NoAns_total"]))
        self.assertEqual(ev["HasAns_total"], 30)
        self.assertEqual(ev["NoAns_total"], 30)

    def test_5_errors(self):
        r = run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "squad", "--data", DATA2,
                 "--output", os.path.join(TMP, "x")] + WINDOWS + FAST, check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("use --task squad_v2", r.stderr)
        r = run(["finetune", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "squad", "--data", DATA,
                 "--max-length", "32", "--doc-stride", "30", "--output", os.path.join(TMP, "y")] + FAST,
                check=False)
        self.assertIn("--doc-stride 30", r.stderr)
        r = run(["eval", "--model", os.path.join(TEACHER, "best"), "--task", "conll", "--data", DATA],
                check=False)
        self.assertIn("does question_answering, but the task conll is token_classification "
                      "(use --task squad or squad_v2)", r.stderr)
        r = run(["finetune", "--model", os.path.join(TEACHER, "best"), "--task", "conll", "--data", DATA,
                 "--output", os.path.join(TMP, "z")] + FAST, check=False)
        self.assertNotEqual(r.returncode, 0)
        r = run(["augment", "--model", os.path.join(FIX, "tiny-mlm"), "--task", "squad",
                 "--input", os.path.join(DATA, "train.json"), "--output", os.path.join(TMP, "aug.json")],
                check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("the TinyBERT paper does not augment SQuAD", r.stderr)


if __name__ == "__main__":
    try:
        unittest.main(argv=sys.argv[:1], verbosity=2)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
