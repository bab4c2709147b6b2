'use strict';
// Reference outputs from onnxruntime (npm package onnxruntime-node@1.30.0) for
// the parity tests: the same ONNX models earshot reads, run by the reference
// runtime, used the way openWakeWord uses them.
//
//   const ref = require('./ort');
//   const {frames, data} = await ref.mel(samples);      // [frames][32], x/10+2 applied
//   const emb = await ref.embedWindows(data, frames);   // [n][96]
//   const {count, classes, scores} = await ref.head(ref.modelPath('hey_jarvis'), emb, n);
//
// The runtime is loaded from ${EARSHOT_REF_DIR:-<repo>/.cache/ref}/node_modules
// (installed by `scripts/setup.sh --with-reference`); the models from
// --models / $EARSHOT_MODELS / ${XDG_CACHE_HOME:-~/.cache}/earshot/models
// (fetched by scripts/fetch-models.sh). When either is missing this module
// prints what to run and exits 77, which meson reports as a skipped test.
//
// Sessions are created once per (model, thread count) and cached; they run
// with executionMode 'sequential' and intraOpNumThreads = setThreads(n), or
// $EARSHOT_REF_THREADS, default 1.

const fs = require('fs');
const os = require('os');
const path = require('path');

const REPO = path.resolve(__dirname, '..', '..');
const ORT_VERSION = '1.30.0';

const MEL_BINS = 32;
const EMB_DIM = 96;
const EMB_WINDOW = 76;   // mel frames per encoder window
const EMB_STEP = 8;      // mel frames between embeddings
const CHUNK = 1280;      // samples per streaming step (80 ms)
const CHUNK_CONTEXT = 480;
const EMB_BATCH = 64;

function skip(msg) {
  process.stderr.write(msg + '\n');
  process.exit(77);
}

function refDir() {
  return path.resolve(process.env.EARSHOT_REF_DIR || path.join(REPO, '.cache', 'ref'));
}

// Same resolution as scripts/fetch-models.sh and es_models_dir().
function modelsDir() {
  if (process.env.EARSHOT_MODELS) return path.resolve(process.env.EARSHOT_MODELS);
  const cache = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'earshot', 'models');
}

// ------------------------------------------------------------- the runtime
const ortPath = path.join(refDir(), 'node_modules', 'onnxruntime-node');
if (!fs.existsSync(path.join(ortPath, 'package.json'))) {
  skip(`reference runtime not installed: run scripts/setup.sh --with-reference (looked in ${ortPath})`);
}
const ort = require(ortPath);

let threads = Number(process.env.EARSHOT_REF_THREADS) || 1;
function setThreads(n) {
  if (!Number.isInteger(n) || n < 1) throw new Error(`setThreads: expected a positive integer, got ${n}`);
  threads = n;
}

// A model name ("hey_jarvis", "embedding_model", "alexa_v0.1") or a path.
function modelPath(name) {
  let p;
  if (name.includes('/') || name.includes(path.sep) || (name.endsWith('.onnx') && fs.existsSync(name))) p = path.resolve(name);
  else {
    const dir = modelsDir();
    const candidates = [name, name + '.onnx', name + '_v0.1.onnx'].map(f => path.join(dir, f));
    p = candidates.find(f => fs.existsSync(f)) || path.join(dir, name.endsWith('.onnx') ? name : name + '.onnx');
  }
  if (!fs.existsSync(p)) {
    skip(`model ${p} not found: run scripts/fetch-models.sh` +
         (process.env.EARSHOT_MODELS ? ' --models "$EARSHOT_MODELS"' : '') + ' (or scripts/setup.sh)');
  }
  return p;
}

const sessions = new Map();
function session(nameOrPath) {
  const file = modelPath(nameOrPath);
  const key = `${file}\0${threads}`;
  if (!sessions.has(key)) {
    sessions.set(key, ort.InferenceSession.create(file, {
      intraOpNumThreads: threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
    }));
  }
  return sessions.get(key);
}

function f32(x) {
  // A fresh, zero-offset Float32Array the runtime can take as is.
  if (x instanceof Float32Array && x.byteOffset === 0 && x.byteLength === x.buffer.byteLength) return x;
  return Float32Array.from(x);
}

// openWakeWord's transform of the mel model's output, in float32 arithmetic
// like numpy's (spec / 10 + 2 on a float32 array).
function scaleMel(raw) {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = Math.fround(Math.fround(raw[i] / 10) + 2);
  return out;
}

// melspectrogram.onnx on one clip: input [1,n], output [1,1,frames,32].
async function melRaw(samples) {
  const s = await session('melspectrogram');
  const x = f32(samples);
  const res = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, x.length]) });
  const t = res[s.outputNames[0]];
  const frames = t.dims[t.dims.length - 2];
  if (t.dims[t.dims.length - 1] !== MEL_BINS || t.data.length !== frames * MEL_BINS) {
    throw new Error(`melspectrogram.onnx: unexpected output shape [${t.dims}]`);
  }
  return { frames, data: t.data };
}

// Whole clip, top-dB clamp over the whole clip. -> {frames, data [frames*32]}
async function mel(samples) {
  const r = await melRaw(samples);
  return { frames: r.frames, data: scaleMel(r.data) };
}

// openWakeWord's streaming way: for each complete 1280-sample chunk k, run the
// mel model on the last min(1280+480, received) samples (5 frames for chunk 0,
// 8 afterwards; the top-dB clamp is per chunk). Trailing samples that do not
// fill a chunk are not used. -> {frames, data [frames*32]}
async function melStream(samples) {
  const x = f32(samples);
  const chunks = Math.floor(x.length / CHUNK);
  const parts = [];
  let frames = 0;
  for (let k = 0; k < chunks; k++) {
    const end = (k + 1) * CHUNK;
    const start = Math.max(0, end - CHUNK - CHUNK_CONTEXT);
    const r = await melRaw(x.slice(start, end));
    parts.push(r.data);
    frames += r.frames;
  }
  const raw = new Float32Array(frames * MEL_BINS);
  let off = 0;
  for (const p of parts) { raw.set(p, off); off += p.length; }
  return { frames, data: scaleMel(raw) };
}

// Number of embeddings a clip of `frames` mel frames yields.
function embedCount(frames) {
  return frames >= EMB_WINDOW ? Math.floor((frames - EMB_WINDOW) / EMB_STEP) + 1 : 0;
}

// embedding_model.onnx over windows of 76 frames every 8 frames.
// mel: [frames][32] (already x/10+2) -> Float32Array [n][96]
async function embedWindows(melData, frames) {
  if (melData.length < frames * MEL_BINS) {
    throw new Error(`embedWindows: mel holds ${melData.length} floats, fewer than ${frames} frames x ${MEL_BINS}`);
  }
  const n = embedCount(frames);
  const out = new Float32Array(n * EMB_DIM);
  if (n === 0) return out;
  const s = await session('embedding_model');
  const per = EMB_WINDOW * MEL_BINS;
  for (let b0 = 0; b0 < n; b0 += EMB_BATCH) {
    const b = Math.min(EMB_BATCH, n - b0);
    const x = new Float32Array(b * per);
    for (let i = 0; i < b; i++) {
      const f0 = (b0 + i) * EMB_STEP;
      x.set(melData.subarray(f0 * MEL_BINS, f0 * MEL_BINS + per), i * per);
    }
    const res = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [b, EMB_WINDOW, MEL_BINS, 1]) });
    const t = res[s.outputNames[0]];
    if (t.data.length !== b * EMB_DIM) throw new Error(`embedding_model.onnx: unexpected output shape [${t.dims}]`);
    out.set(t.data, b0 * EMB_DIM);
  }
  return out;
}

// The window W (embeddings per input) of a head: from the input metadata when
// the runtime exposes it (onnxruntime-node 1.30 does), else by asking the
// model with a 1-embedding input and reading the expected size from the error.
const headWindows = new Map();
async function headWindow(s, key) {
  if (headWindows.has(key)) return headWindows.get(key);
  let w = null;
  const md = s.inputMetadata;
  const m = Array.isArray(md) ? md[0] : (md && md[s.inputNames[0]]);
  if (m && Array.isArray(m.shape) && typeof m.shape[1] === 'number') w = m.shape[1];
  if (w === null) {
    try {
      await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', new Float32Array(EMB_DIM), [1, 1, EMB_DIM]) });
      w = 1;
    } catch (e) {
      const mm = /index: 1 Got: \d+ Expected: (\d+)/.exec(String(e.message));
      if (!mm) throw new Error(`cannot tell the window of head ${key}: ${e.message}`);
      w = Number(mm[1]);
    }
  }
  headWindows.set(key, w);
  return w;
}

// An openWakeWord head (input [1,W,96]) over every window of W consecutive
// embeddings: emb [n][96] -> {window, classes, count, scores [count][classes]}
async function head(modelFile, emb, n) {
  if (emb.length < n * EMB_DIM) throw new Error(`head: emb holds ${emb.length} floats, fewer than ${n} x ${EMB_DIM}`);
  const file = modelPath(modelFile);
  const s = await session(file);
  const w = await headWindow(s, file);
  const count = n >= w ? n - w + 1 : 0;
  let classes = 0;
  let scores = new Float32Array(0);
  for (let i = 0; i < count; i++) {
    const x = emb.slice(i * EMB_DIM, (i + w) * EMB_DIM);
    const res = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [1, w, EMB_DIM]) });
    const t = res[s.outputNames[0]];
    if (i === 0) { classes = t.data.length; scores = new Float32Array(count * classes); }
    scores.set(t.data, i * classes);
  }
  if (count === 0) {
    const md = s.outputMetadata;
    const m = Array.isArray(md) ? md[0] : (md && md[s.outputNames[0]]);
    classes = m && Array.isArray(m.shape) && typeof m.shape[1] === 'number' ? m.shape[1] : 0;
  }
  return { window: w, classes, count, scores };
}

// ------------------------------------------------- raw little-endian float32
function readF32(file) {
  const buf = fs.readFileSync(file);
  if (buf.length % 4 !== 0) throw new Error(`${file}: ${buf.length} bytes is not a whole number of float32 values`);
  const out = new Float32Array(buf.length / 4);
  if (os.endianness() === 'LE') new Uint8Array(out.buffer).set(buf);
  else for (let i = 0; i < out.length; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

// Written to a temporary file and renamed, so a reader never sees half a file.
function writeF32(file, arr) {
  const a = arr instanceof Float32Array ? arr : Float32Array.from(arr);
  let buf;
  if (os.endianness() === 'LE') buf = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  else { buf = Buffer.alloc(a.length * 4); a.forEach((v, i) => buf.writeFloatLE(v, i * 4)); }
  const tmp = `${file}.tmp.${process.pid}`;
  try {
    fs.writeFileSync(tmp, buf);
    fs.renameSync(tmp, file);
  } catch (e) {
    try { fs.unlinkSync(tmp); } catch (_) { /* already gone */ }
    throw e;
  }
}

module.exports = {
  ort, ORT_VERSION, refDir, modelsDir, modelPath, session, setThreads,
  mel, melStream, embedWindows, embedCount, head, headWindow,
  readF32, writeF32,
  MEL_BINS, EMB_DIM, EMB_WINDOW, EMB_STEP, CHUNK, CHUNK_CONTEXT,
};
