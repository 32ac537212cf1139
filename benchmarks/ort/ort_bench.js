#!/usr/bin/env node
// Latency of a model in onnxruntime (CPU EP), measured the way `qengine bench` measures it:
// warm-up runs, then timed runs on random inputs; prints the same JSON fields.
// Usage: node ort_bench.js MODEL [--batch B] [--threads T] [--runs N] [--warmup W]
//                         [--max-seconds S] [--input-shape NAME=d0,d1,...]
'use strict';
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { batch: 1, threads: 0, runs: 50, warmup: 5, maxSeconds: 20, shapes: {} };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--batch') a.batch = parseInt(next(), 10);
    else if (k === '--threads') a.threads = parseInt(next(), 10);
    else if (k === '--runs') a.runs = parseInt(next(), 10);
    else if (k === '--warmup') a.warmup = parseInt(next(), 10);
    else if (k === '--max-seconds') a.maxSeconds = parseFloat(next());
    else if (k === '--input-shape') {
      const [name, dims] = next().split('=');
      a.shapes[name] = dims.split(',').map((d) => parseInt(d, 10));
    } else if (!a.model) a.model = k;
    else throw new Error(`unexpected argument ${k}`);
  }
  if (!a.model) throw new Error('usage: ort_bench.js MODEL [options]');
  return a;
}

function randomNormal(n, seed) {
  // Small deterministic generator: the values only need to be plausible activations.
  let s = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    s = (s * 1664525 + 1013904223) >>> 0;
    const u1 = (s + 1) / 4294967297;
    s = (s * 1664525 + 1013904223) >>> 0;
    const u2 = s / 4294967296;
    const r = Math.sqrt(-2 * Math.log(u1));
    out[i] = r * Math.cos(2 * Math.PI * u2);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * u2);
  }
  return out;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const opts = { graphOptimizationLevel: 'all', executionMode: 'sequential', interOpNumThreads: 1 };
  if (a.threads > 0) opts.intraOpNumThreads = a.threads;
  const session = await ort.InferenceSession.create(a.model, opts);
  const feeds = {};
  session.inputNames.forEach((name, idx) => {
    const meta = session.inputMetadata ? session.inputMetadata[idx] : null;
    let dims = a.shapes[name];
    if (!dims) {
      if (!meta || !meta.shape) throw new Error(`input ${name}: no shape, pass --input-shape`);
      dims = meta.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? a.batch : 1));
    }
    if (!a.shapes[name] && meta && meta.shape && typeof meta.shape[0] !== 'number') dims[0] = a.batch;
    const n = dims.reduce((x, y) => x * y, 1);
    feeds[name] = new ort.Tensor('float32', randomNormal(n, 1234 + idx), dims);
  });
  for (let i = 0; i < Math.max(1, a.warmup); i++) await session.run(feeds);
  const ms = [];
  const start = process.hrtime.bigint();
  for (let i = 0; i < a.runs; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    const t1 = process.hrtime.bigint();
    ms.push(Number(t1 - t0) / 1e6);
    if (Number(t1 - start) / 1e9 > a.maxSeconds && ms.length >= 5) break;
  }
  const sorted = [...ms].sort((x, y) => x - y);
  const pct = (p) => sorted[Math.round(p * (sorted.length - 1))];
  const mean = ms.reduce((x, y) => x + y, 0) / ms.length;
  const result = {
    runtime: `onnxruntime-node ${require('onnxruntime-node/package.json').version}`,
    model: a.model,
    batch: a.batch,
    threads: a.threads,
    runs: ms.length,
    median_ms: pct(0.5),
    min_ms: sorted[0],
    max_ms: sorted[sorted.length - 1],
    mean_ms: mean,
    p90_ms: pct(0.9),
  };
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(`ort_bench: error: ${e.message}`);
  process.exit(1);
});
