// Baseline for bench_tokenizer: the bert-tokenizer npm package (uncased WordPiece) on every
// line of a text file; prints MB/s (best of 3). Usage: node tokenizer_baseline.js VOCAB_JSON TEXT
const fs = require('fs');
const path = require('path');
const { BertTokenizer } = require(path.resolve(path.dirname(process.argv[2]), '..', 'dist', 'index.js'));
const tok = new BertTokenizer(process.argv[2], true);
const text = fs.readFileSync(process.argv[3], 'utf8');
const lines = text.split('\n').filter((l) => l.length > 0);
const bytes = Buffer.byteLength(text, 'utf8');
let best = Infinity;
for (let rep = 0; rep < 3; ++rep) {
  const t0 = process.hrtime.bigint();
  let n = 0;
  for (const l of lines) n += tok.tokenize(l).length;
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
}
console.log((bytes / best / 1e6).toFixed(3));
