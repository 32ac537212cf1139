#!/usr/bin/env node
// Runs a model once in onnxruntime (CPU EP) on inputs from .npy files and writes every output
// as DIR/<name>.npy (float32), to cross-check `qengine run MODEL --input NAME=x.npy
// --save-outputs DIR` (file names are made safe the same way).
// Usage: node ort_run.js MODEL --input NAME=file.npy [--input ...] --out DIR
//                        [--threads T] [--opt-level disabled|basic|extended|all]
// The default optimisation level is "disabled": onnxruntime then runs every node as the ONNX
// spec defines it, whereas at "all" it rewrites QuantizeLinear/DequantizeLinear groups into
// integer kernels (QLinearConv, ...) whose requantisation rounds differently.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

function parseArgs(argv) {
  const a = { inputs: [], threads: 0, optLevel: 'disabled' };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--input') {
      const spec = next();
      const eq = spec.indexOf('=');
      if (eq <= 0) throw new Error(`--input '${spec}' should look like NAME=file.npy`);
      a.inputs.push({ name: spec.slice(0, eq), file: spec.slice(eq + 1) });
    } else if (k === '--out') a.out = next();
    else if (k === '--threads') a.threads = parseInt(next(), 10);
    else if (k === '--opt-level') a.optLevel = next();
    else if (!a.model && !k.startsWith('--')) a.model = k;
    else throw new Error(`unexpected argument ${k}`);
  }
  if (!a.model || !a.out) throw new Error('usage: ort_run.js MODEL --input NAME=file.npy ... --out DIR');
  if (!['disabled', 'basic', 'extended', 'all'].includes(a.optLevel)) {
    throw new Error(`--opt-level must be disabled, basic, extended or all, not '${a.optLevel}'`);
  }
  return a;
}

// numpy dtype descr → [onnxruntime tensor type, TypedArray constructor]
const NPY_TYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '<i8': ['int64', BigInt64Array],
  '<i4': ['int32', Int32Array],
  '<i2': ['int16', Int16Array],
  '|i1': ['int8', Int8Array],
  '<u8': ['uint64', BigUint64Array],
  '<u4': ['uint32', Uint32Array],
  '<u2': ['uint16', Uint16Array],
  '|u1': ['uint8', Uint8Array],
  '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: cannot parse the .npy header ${header.trim()}`);
  if (fortran[1] === 'True') throw new Error(`${file}: Fortran-ordered arrays are not supported`);
  const type = NPY_TYPES[descr[1]];
  if (!type) throw new Error(`${file}: dtype '${descr[1]}' is not supported`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length).map((s) => parseInt(s, 10));
  const n = dims.reduce((x, y) => x * y, 1);
  const offset = start + headerLen;
  const bytes = n * type[1].BYTES_PER_ELEMENT;
  if (buf.length - offset !== bytes) {
    throw new Error(`${file}: has ${buf.length - offset} data bytes, shape (${dims}) of ${descr[1]} needs ${bytes}`);
  }
  // Copied into a fresh buffer: typed arrays need their own alignment.
  const data = new type[1](bytes / type[1].BYTES_PER_ELEMENT);
  Buffer.from(data.buffer).set(buf.subarray(offset, offset + bytes));
  return new ort.Tensor(type[0], type[0] === 'bool' ? Uint8Array.from(data, (v) => (v ? 1 : 0)) : data, dims);
}

function halfToFloat(h) {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

function toFloat32(t) {
  if (t.type === 'float32') return t.data;
  if (t.type === 'float16' && t.data instanceof Uint16Array) return Float32Array.from(t.data, halfToFloat);
  if (t.type === 'string') throw new Error('string outputs cannot be written as float32');
  return Float32Array.from(t.data, (v) => Number(v));
}

function writeNpyF32(file, dims, data) {
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${shape}, }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const tmp = `${file}.partial-${process.pid}`;
  fs.writeFileSync(tmp, Buffer.concat([pre, Buffer.from(header, 'latin1'), body]));
  fs.renameSync(tmp, file);
}

// The same rule as qengine's --save-outputs.
function safeFileName(name) {
  const s = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return s.length === 0 || s[0] === '.' ? `_${s}` : s;
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const opts = { graphOptimizationLevel: a.optLevel, executionMode: 'sequential', interOpNumThreads: 1 };
  if (a.threads > 0) opts.intraOpNumThreads = a.threads;
  const session = await ort.InferenceSession.create(a.model, opts);
  const feeds = {};
  for (const { name, file } of a.inputs) {
    if (!session.inputNames.includes(name)) {
      throw new Error(`the model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
    }
    feeds[name] = readNpy(file);
  }
  const missing = session.inputNames.filter((n) => !(n in feeds));
  if (missing.length) throw new Error(`no --input for ${missing.join(', ')}`);
  const results = await session.run(feeds);
  fs.mkdirSync(a.out, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    const file = path.join(a.out, `${safeFileName(name)}.npy`);
    writeNpyF32(file, t.dims, toFloat32(t));
    console.log(`${name}: ${t.type} [${t.dims.join(',')}] -> ${file}`);
  }
}

main().catch((e) => {
  console.error(`ort_run: error: ${e.message}`);
  process.exit(1);
});
