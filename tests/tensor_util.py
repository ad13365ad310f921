"""Model inputs and outputs as the tests exchange them with `tinybert inspect`: int64 inputs written
as safetensors, float32 outputs read back, and random padded batches."""
import json
import random
import struct

import numpy as np


def write_inputs(path, tensors):
    """int64 tensors as safetensors (what `tinybert inspect --inputs` reads)."""
    header, blobs, offset = {}, [], 0
    for name, a in tensors.items():
        b = np.ascontiguousarray(a, dtype="<i8").tobytes()
        header[name] = {"dtype": "I64", "shape": list(a.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def read_outputs(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype=np.float32).reshape(v["shape"])
            for k, v in header.items() if k != "__metadata__"}


def inputs(vocab, batch, seq, seed):
    """Random ids; the first row full, the others padded (mask 0, id 0) to varied lengths; two segments."""
    rng = random.Random(seed)
    ids = np.zeros((batch, seq), dtype=np.int64)
    mask = np.zeros_like(ids)
    types = np.zeros_like(ids)
    for b in range(batch):
        n = seq if b == 0 else rng.randint(2, seq)
        ids[b, :n] = [rng.randrange(1, vocab) for _ in range(n)]
        mask[b, :n] = 1
        split = rng.randint(1, n)
        types[b, split:n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
