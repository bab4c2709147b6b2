#!/usr/bin/env node
'use strict';
// earshot against onnxruntime-node, in one run on this machine, on the same
// inputs with the same thread count. See bench/README.md; run it through
// scripts/bench.sh, which resolves the paths and builds first.
//
//   node bench/bench.js [--threads 1,2] [--quick] [--rounds N] [--json FILE]
//                       [--build DIR] [--models DIR] [--no-memory]
//
// The inputs come from build/bench/es_bench (`es_bench inputs DIR` writes the
// 60 s speech-like test audio, its log-mel and 100 encoder windows as raw
// float32), so both sides see the same numbers. For each thread count the
// earshot cases run first (es_bench, with OPENBLAS_NUM_THREADS=N and
// --threads N), then the same cases in onnxruntime with intraOpNumThreads=N,
// interOpNumThreads=1, executionMode 'sequential'. Each case: two warm-up
// calls, then repeated until --min-time seconds (0.5; 0.15 with --quick) and
// at least 5 (3) calls; the median time per call is reported. The two sides
// alternate for --rounds rounds (default 2; 1 with --quick) and each case
// keeps its lowest median, which damps bursts of load from other processes.
//
// The reference runtime is loaded from
// ${EARSHOT_REF_DIR:-<repo>/.cache/ref}/node_modules/onnxruntime-node
// (scripts/setup.sh --with-reference installs it there); the models from
// --models, else $EARSHOT_MODELS, else ${XDG_CACHE_HOME:-~/.cache}/earshot/models.

const fs = require('fs');
const os = require('os');
const path = require('path');
const cp = require('child_process');

const REPO = path.resolve(__dirname, '..');
const MEL_BINS = 32, EMB_WINDOW = 76, EMB_STEP = 8, EMB_DIM = 96;
const CHUNK = 1280, CHUNK_CONTEXT = 480;
const REF_BATCH = 128;           // windows per run for the reference's sliding windows
const NOMINAL_FLOP = 84e6;       // DESIGN.md's count per window

function die(msg, code = 1) {
  process.stderr.write(`bench: ${msg}\n`);
  process.exit(code);
}

// ------------------------------------------------------------ arguments
const opt = { threads: [1, 2], quick: false, rounds: 0, json: null, build: path.join(REPO, 'build'), models: null, memory: true };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    const v = (k) => { if (i + 1 >= a.length) die(`${k} needs a value`, 2); return a[++i]; };
    let [k, eq] = a[i].startsWith('--') && a[i].includes('=') ? [a[i].slice(0, a[i].indexOf('=')), a[i].slice(a[i].indexOf('=') + 1)] : [a[i], null];
    const val = () => (eq !== null ? eq : v(k));
    if (k === '--threads') {
      opt.threads = val().split(',').map(Number);
      if (!opt.threads.length || opt.threads.some(n => !Number.isInteger(n) || n < 1 || n > 256)) die('--threads takes a list of positive integers, e.g. 1,2', 2);
    } else if (k === '--quick') opt.quick = true;
    else if (k === '--json') opt.json = path.resolve(val());
    else if (k === '--build') opt.build = path.resolve(val());
    else if (k === '--models') opt.models = path.resolve(val());
    else if (k === '--no-memory') opt.memory = false;
    else if (k === '--rounds') {
      opt.rounds = Number(val());
      if (!Number.isInteger(opt.rounds) || opt.rounds < 1 || opt.rounds > 20) die('--rounds takes an integer from 1 to 20', 2);
    }
    else if (k === '-h' || k === '--help') {
      process.stdout.write('usage: node bench/bench.js [--threads 1,2] [--quick] [--rounds N] [--json FILE] [--build DIR] [--models DIR] [--no-memory]\n');
      process.exit(0);
    } else die(`unknown argument ${a[i]}`, 2);
  }
}
const MIN_TIME = opt.quick ? 0.15 : 0.5;
const MIN_REPS = opt.quick ? 3 : 5;
const ROUNDS = opt.rounds || (opt.quick ? 1 : 2);

// ------------------------------------------------------------ resolution
function modelsDir() {
  if (opt.models) return opt.models;
  if (process.env.EARSHOT_MODELS) return path.resolve(process.env.EARSHOT_MODELS);
  const cache = process.env.XDG_CACHE_HOME || path.join(process.env.HOME || os.homedir(), '.cache');
  return path.join(cache, 'earshot', 'models');
}
const MODELS = modelsDir();
for (const m of ['melspectrogram.onnx', 'embedding_model.onnx']) {
  if (!fs.existsSync(path.join(MODELS, m))) die(`${path.join(MODELS, m)} not found: run scripts/fetch-models.sh (or scripts/setup.sh)`);
}
const REF_DIR = path.resolve(process.env.EARSHOT_REF_DIR || path.join(REPO, '.cache', 'ref'));
const ORT_PATH = path.join(REF_DIR, 'node_modules', 'onnxruntime-node');
if (!fs.existsSync(path.join(ORT_PATH, 'package.json'))) {
  die(`reference runtime not found in ${ORT_PATH}: run scripts/setup.sh --with-reference (or set EARSHOT_REF_DIR)`);
}
const ort = require(ORT_PATH);
const ORT_VERSION = JSON.parse(fs.readFileSync(path.join(ORT_PATH, 'package.json'), 'utf8')).version;
const ES_BENCH = path.join(opt.build, 'bench', 'es_bench');
const EARSHOT = path.join(opt.build, 'earshot');
for (const f of [ES_BENCH, EARSHOT]) if (!fs.existsSync(f)) die(`${f} not found: build first (ninja -C ${opt.build})`);

// ------------------------------------------------------------ helpers
function readF32(file) {
  const buf = fs.readFileSync(file);
  const out = new Float32Array(buf.length / 4);
  new Uint8Array(out.buffer).set(buf);   // little-endian hosts only (x86-64, arm64)
  return out;
}

function median(a) {
  const s = [...a].sort((x, y) => x - y), n = s.length;
  return n % 2 ? s[(n - 1) / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// seconds per call: {median, min, reps}
async function timeIt(fn) {
  await fn();
  const w0 = process.hrtime.bigint();
  await fn();
  // calls longer than the minimum time itself: 3 repetitions are enough
  const minReps = Number(process.hrtime.bigint() - w0) / 1e9 > MIN_TIME ? Math.min(3, MIN_REPS) : MIN_REPS;
  const t = [];
  const start = process.hrtime.bigint();
  while (t.length < minReps || Number(process.hrtime.bigint() - start) / 1e9 < MIN_TIME) {
    const t0 = process.hrtime.bigint();
    await fn();
    t.push(Number(process.hrtime.bigint() - t0) / 1e9);
    if (t.length >= 100000) break;
  }
  return { median: median(t), min: Math.min(...t), reps: t.length };
}

function esEnv(threads) {
  // keep the caller's OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE etc.; pin the thread count
  const env = { ...process.env, EARSHOT_MODELS: MODELS };
  if (threads) { env.OPENBLAS_NUM_THREADS = String(threads); env.OMP_NUM_THREADS = String(threads); }
  return env;
}

function runEsBench(args, threads) {
  const r = cp.spawnSync(ES_BENCH, args, { env: esEnv(threads), encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.error) die(`${ES_BENCH}: ${r.error.message}`);
  if (r.status !== 0) die(`es_bench ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  return r.stdout.split('\n').filter(l => l.trim()).map(l => JSON.parse(l));
}

// ------------------------------------------------------------ the reference
async function refCases(threads, inp) {
  const so = { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' };
  const melS = await ort.InferenceSession.create(path.join(MODELS, 'melspectrogram.onnx'), so);
  const embS = await ort.InferenceSession.create(path.join(MODELS, 'embedding_model.onnx'), so);
  const mIn = melS.inputNames[0], eIn = embS.inputNames[0];
  const per = EMB_WINDOW * MEL_BINS;
  const T = (data, dims) => new ort.Tensor('float32', data, dims);

  const audioT = T(inp.audio, [1, inp.audio.length]);
  const win1 = T(inp.win100.slice(0, per), [1, EMB_WINDOW, MEL_BINS, 1]);
  const win100 = T(inp.win100, [100, EMB_WINDOW, MEL_BINS, 1]);
  // every window of the 60 s mel, every 8 frames, in batches of REF_BATCH (built once, outside the timing)
  const nwin = Math.floor((inp.frames - EMB_WINDOW) / EMB_STEP) + 1;
  const batches = [];
  for (let b0 = 0; b0 < nwin; b0 += REF_BATCH) {
    const b = Math.min(REF_BATCH, nwin - b0), x = new Float32Array(b * per);
    for (let i = 0; i < b; i++) x.set(inp.mel.subarray((b0 + i) * EMB_STEP * MEL_BINS, (b0 + i) * EMB_STEP * MEL_BINS + per), i * per);
    batches.push(T(x, [b, EMB_WINDOW, MEL_BINS, 1]));
  }
  // streaming: the reference runs the mel model on the last 1280+480 samples
  // and the embedding model on the last 76 frames, every 80 ms
  let pos = 2 * CHUNK;
  const nextChunk = () => {
    if (pos + CHUNK > inp.audio.length) pos = 2 * CHUNK;
    const end = pos + CHUNK;
    const s = inp.audio.subarray(end - CHUNK - CHUNK_CONTEXT, end);
    pos = end;
    return T(s.slice(), [1, CHUNK + CHUNK_CONTEXT]);
  };
  const mel1760 = [];
  for (let k = 0; k < 64; k++) mel1760.push(nextChunk());
  let k1760 = 0;

  const res = {};
  res.mel60 = await timeIt(() => melS.run({ [mIn]: audioT }));
  res.enc1 = await timeIt(() => embS.run({ [eIn]: win1 }));
  res.enc100 = await timeIt(() => embS.run({ [eIn]: win100 }));
  res.full60 = await timeIt(async () => { for (const b of batches) await embS.run({ [eIn]: b }); });
  res.full60.windows = nwin;
  // whole 60 s clip end to end the openWakeWord way: mel, x/10+2, windows, embeddings
  res.e2e60 = await timeIt(async () => {
    const r = await melS.run({ [mIn]: audioT });
    const raw = r[melS.outputNames[0]].data, mel = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) mel[i] = raw[i] / 10 + 2;
    for (let b0 = 0; b0 < nwin; b0 += REF_BATCH) {
      const b = Math.min(REF_BATCH, nwin - b0), x = new Float32Array(b * per);
      for (let i = 0; i < b; i++) x.set(mel.subarray((b0 + i) * EMB_STEP * MEL_BINS, (b0 + i) * EMB_STEP * MEL_BINS + per), i * per);
      await embS.run({ [eIn]: T(x, [b, EMB_WINDOW, MEL_BINS, 1]) });
    }
  });
  res.stream_enc = await timeIt(() => embS.run({ [eIn]: win1 }));
  res.stream_step = await timeIt(async () => {
    await melS.run({ [mIn]: mel1760[k1760++ % mel1760.length] });
    await embS.run({ [eIn]: win1 });
  });
  await melS.release();
  await embS.release();
  return res;
}

// ------------------------------------------------------------ memory (e)
function gnuTime() {
  if (!fs.existsSync('/usr/bin/time')) return null;
  const r = cp.spawnSync('/usr/bin/time', ['-f', '%M', 'true'], { encoding: 'utf8' });
  return r.status === 0 && /^\d+\s*$/.test(r.stderr.trim().split('\n').pop()) ? '/usr/bin/time' : null;
}

function peakRss(cmd, args) {
  const tool = gnuTime();
  const t0 = process.hrtime.bigint();
  let kb, status, how;
  if (tool) {
    const r = cp.spawnSync(tool, ['-f', '%M', cmd, ...args], { env: esEnv(0), encoding: 'utf8', maxBuffer: 1 << 26 });
    status = r.status;
    kb = Number(r.stderr.trim().split('\n').pop());
    how = '/usr/bin/time -f %M';
    if (status !== 0) die(`${cmd} ${args.join(' ')} failed (exit ${status}):\n${r.stderr}`);
  } else {
    const r = cp.spawnSync(ES_BENCH, ['maxrss', cmd, ...args], { env: esEnv(0), encoding: 'utf8', maxBuffer: 1 << 26 });
    const j = JSON.parse(r.stdout.trim().split('\n').pop());
    status = j.status;
    kb = j.maxrss_kb;
    how = 'wait4() ru_maxrss (es_bench maxrss)';
    if (status !== 0) die(`${cmd} ${args.join(' ')} failed (exit ${status}):\n${r.stderr}`);
  }
  return { kb, how, seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

// ------------------------------------------------------------ report
const fmtMs = (s) => { const ms = s * 1e3; return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms >= 1 ? ms.toFixed(2) : ms.toFixed(3); };
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

// Ticks of all CPUs from /proc/stat: idle (idle + iowait) and total.
function cpuTimes() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] || 0);
  return { idle, total: f.reduce((a, b) => a + b, 0) };
}
// CPU seconds used by other processes while `fn` runs: all CPUs' busy time
// from /proc/stat, minus this process (node and onnxruntime's threads) and
// the CPU seconds `fn` reports for its children. -> {result, others} where
// others is a fraction of all CPUs over the wall time (null if not Linux).
async function othersDuring(fn) {
  let a = null;
  try { a = cpuTimes(); } catch (_) { /* not Linux */ }
  const self0 = process.cpuUsage(), t0 = process.hrtime.bigint();
  const { result, childCpu } = await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9, self = process.cpuUsage(self0);
  if (!a || wall <= 0) return { result, others: null };
  const b = cpuTimes(), ncpu = os.cpus().length;
  const hz = (b.total - a.total) / (wall * ncpu);          // ticks per second per CPU
  const busy = ((b.total - b.idle) - (a.total - a.idle)) / hz;
  const others = busy - (self.user + self.system) / 1e6 - childCpu;
  return { result, others: Math.max(0, others / (wall * ncpu)) };
}
// Fraction of all CPUs busy over `ms` milliseconds while we sleep: other
// processes competing with the benchmark. null if not Linux.
async function cpuBusy(ms) {
  try {
    const a = cpuTimes();
    await new Promise(r => setTimeout(r, ms));
    const b = cpuTimes();
    return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
  } catch (_) { return null; }
}

function cpuName() {
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1].trim();
  } catch (_) { /* not Linux */ }
  return os.cpus()[0] ? os.cpus()[0].model : 'unknown CPU';
}

async function main() {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'earshot-bench-'));
  const all = { date: new Date().toISOString(), threads: {} };
  try {
    const info = runEsBench(['--models', MODELS, 'inputs', tmp], 1)[0];
    const inp = {
      audio: readF32(path.join(tmp, 'audio60.f32')),
      mel: readF32(path.join(tmp, 'mel60.f32')),
      win100: readF32(path.join(tmp, 'win100.f32')),
      frames: info.frames,
    };
    all.info = info;
    const out = [];
    const say = (s = '') => { out.push(s); process.stdout.write(s + '\n'); };
    const env = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE'].filter(k => process.env[k]).map(k => `${k}=${process.env[k]}`);
    say(`earshot benchmark, ${all.date.slice(0, 10)}: ${cpuName()}, ${os.cpus().length} CPUs, ` +
        `${info.openblas_config.split(' ').slice(0, 2).join(' ')} (core ${info.openblas_core}${env.length ? ', ' + env.join(' ') : ''}), ` +
        `onnxruntime-node ${ORT_VERSION}, node ${process.version}${opt.quick ? ', --quick' : ''}`);
    say(`ratio = reference time / earshot time (>1: earshot faster); times are medians per call, best of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}`);
    const idleCheck = async (when) => {
      const busy = await cpuBusy(1000);
      if (busy !== null && busy > 0.1) {
        say(`WARNING: ${(busy * 100).toFixed(0)}% of the ${os.cpus().length} CPUs were busy with other work ${when}: ` +
            `times are unreliable (threads = 2 most of all); rerun on an idle machine`);
      }
      return busy;
    };
    all.busy = { before: await idleCheck('in the second before the run') };
    say(`encoder FLOPs per 76-frame window: ${(info.flop_window / 1e6).toFixed(2)} M exact (conv layer shapes), ${NOMINAL_FLOP / 1e6} M nominal; ` +
        `whole 60 s clip, fully convolutional: ${(info.flop_full60 / 1e9).toFixed(2)} G = ${(info.flop_full60 / info.embeddings / 1e6).toFixed(2)} M per embedding`);

    for (const n of opt.threads) {
      if (n !== opt.threads[0]) all.busy[n] = await idleCheck(`before threads = ${n}`);
      // Rounds alternate the two sides, so a burst of load elsewhere does not
      // land on one side only; each case keeps its best (lowest) median.
      const es = {}, ref = {};
      const keep = (dst, k, v) => { if (!dst[k] || v.median < dst[k].median) dst[k] = v; };
      const { others } = await othersDuring(async () => {
        let childCpu = 0;
        for (let round = 0; round < ROUNDS; round++) {
          for (const r of runEsBench(['--threads', String(n), '--min-time', String(MIN_TIME), '--min-reps', String(MIN_REPS), '--models', MODELS,
            'mel60', 'enc1', 'enc100', 'full60', 'e2e60', 'stream_enc', 'stream_step'], n)) {
            if (r.case === 'rusage') childCpu += r.cpu_s;
            else keep(es, r.case, { median: r.median_us / 1e6, min: r.min_us / 1e6, reps: r.reps });
          }
          const rr = await refCases(n, inp);
          for (const k of Object.keys(rr)) keep(ref, k, rr[k]);
        }
        return { result: null, childCpu };
      });
      all.threads[n] = { earshot: es, ref, others };

      say('');
      say(`threads = ${n}` + (others === null ? '' : `   (other processes used ${(others * 100).toFixed(0)}% of the CPUs meanwhile)`));
      if (others !== null && others > 0.1) {
        say(`WARNING: other processes competed for the CPUs during these measurements: times are unreliable; rerun on an idle machine`);
      }
      say(`${pad('case', 62)} ${lpad('ort ms', 9)} ${lpad('earshot ms', 11)} ${lpad('ratio', 8)}  target  result`);
      const line = (label, key, target, refKey = key) => {
        const r = ref[refKey].median, e = es[key].median, ratio = r / e;
        say(`${pad(label, 62)} ${lpad(fmtMs(r), 9)} ${lpad(fmtMs(e), 11)} ${lpad(ratio.toFixed(2) + 'x', 8)}  ${pad(target ? '>= ' + target + 'x' : '-', 6)}  ${target ? (ratio >= target ? 'PASS' : 'MISS') : ''}`);
        return ratio;
      };
      line('(a) log-mel, 60 s audio (mel_compute vs mel model [1,960000])', 'mel60', 5);
      line('(b) encoder, 1 window (encoder_windows vs [1,76,32,1])', 'enc1', 1);
      line('(b) encoder, 100 windows (encoder_windows vs [100,76,32,1])', 'enc100', 1);
      const gf = (fl, s) => (fl / s / 1e9).toFixed(1);
      for (const [k, w] of [['enc1', 1], ['enc100', 100]]) {
        say(`      GFLOP/s ${pad(k + ':', 7)} earshot ${lpad(gf(w * NOMINAL_FLOP, es[k].median), 5)} (exact ${lpad(gf(w * info.flop_window, es[k].median), 5)}), ` +
            `ort ${lpad(gf(w * NOMINAL_FLOP, ref[k].median), 5)} (exact ${lpad(gf(w * info.flop_window, ref[k].median), 5)})`);
      }
      line(`(c) embeddings of 60 s: full-conv vs ${ref.full60.windows} windows, batch ${REF_BATCH}`, 'full60', 5);
      say(`      work: earshot ${(info.flop_full60 / 1e9).toFixed(2)} GFLOP at ${gf(info.flop_full60, es.full60.median)} GFLOP/s, ` +
          `ort ${(ref.full60.windows * info.flop_window / 1e9).toFixed(1)} GFLOP at ${gf(ref.full60.windows * info.flop_window, ref.full60.median)} GFLOP/s`);
      line(`    (c) incl. the mel of the clip (audio -> ${ref.full60.windows} embeddings)`, 'e2e60', 0);
      line('(d) stream step, encoder: push 8 frames vs 1 window', 'stream_enc', 3);
      line('(d) stream step, mel+encoder: 1280 samples vs mel(1760)+1 window', 'stream_step', 3);
    }

    if (opt.memory) {
      say('');
      const f1 = path.join(tmp, 'noise1min.wav'), f10 = path.join(tmp, 'noise10min.wav');
      runEsBench(['wav', f1, '60'], 0);
      runEsBench(['wav', f10, '600'], 0);
      const m1 = peakRss(EARSHOT, ['detect', '-m', 'hey_jarvis', '-m', 'alexa', f1]);
      const m10 = peakRss(EARSHOT, ['detect', '-m', 'hey_jarvis', '-m', 'alexa', f10]);
      all.memory = { '1min': m1, '10min': m10 };
      const mb = (kb) => (kb / 1024).toFixed(1);
      const okSize = m1.kb <= 40 * 1024 && m10.kb <= 40 * 1024, okFlat = m10.kb <= 1.25 * m1.kb;
      say(`(e) peak RSS of earshot detect -m hey_jarvis -m alexa (${m1.how}; default threads)`);
      say(`      1 min file:  ${lpad(mb(m1.kb), 6)} MB   (${m1.seconds.toFixed(2)} s wall)`);
      say(`      10 min file: ${lpad(mb(m10.kb), 6)} MB   (${m10.seconds.toFixed(2)} s wall, ${(600 / m10.seconds).toFixed(0)}x real time)`);
      say(`      target <= 40 MB and roughly independent of length (10 min <= 1.25 x 1 min): ` +
          `${okSize ? 'size ok' : 'size over 40 MB'}, ${okFlat ? 'flat' : `grows ${(m10.kb / m1.kb).toFixed(2)}x`}  ${okSize && okFlat ? 'PASS' : 'MISS'}`);
    }
    all.table = out.join('\n');
    if (opt.json) fs.writeFileSync(opt.json, JSON.stringify(all, null, 1) + '\n');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => die(e.stack || String(e)));
