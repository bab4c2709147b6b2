'use strict';
// Parity of earshot against onnxruntime on the same inputs, regenerated on
// every run (no stored golden numbers):
//
//   stage              earshot                     reference (onnxruntime)         tolerance
//   mel (whole clip)   parity_tool mel             melspectrogram.onnx, x/10+2     2e-3
//   mel (streaming)    parity_tool mel-stream      the same per 1280+480 chunk     2e-3
//   encoder (a,b,c)    parity_tool emb-*           embedding_model.onnx on the     1e-3
//                      on the reference's mel      same mel, every 8 frames
//   modes agree        windows vs full vs stream   -                               1e-4
//   heads              parity_tool head on the     each head on the same           1e-4
//                      reference's embeddings      embeddings
//   earshot embed      the CLI's .npy              embed_clips on the same audio   1e-3
//
// Inputs: FSDD recordings (resampled to 16 kHz by earshot's decoder),
// espeak-ng speech, white noise, silence, a full-scale square wave, a 0.3 s
// clip, and the bundled samples. Exit 0 when all agree, 1 otherwise, 77 when
// the reference runtime or the models are missing.
const fs = require('fs');
const os = require('os');
const path = require('path');
const cp = require('child_process');
const ref = require('./ort');

const TOOL = process.env.EARSHOT_PARITY_TOOL;
const BIN = process.env.EARSHOT_BIN;
const SRC = process.env.EARSHOT_SRC || path.resolve(__dirname, '..', '..');
const FSDD = process.env.EARSHOT_FSDD || path.join(SRC, '..', 'shared', 'data', 'fsdd');
if (!TOOL || !fs.existsSync(TOOL)) { console.error('EARSHOT_PARITY_TOOL not set: run through meson test'); process.exit(77); }

const TOL = { mel: 2e-3, emb: 1e-3, modes: 1e-4, head: 1e-4 };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'es_parity_'));
process.on('exit', () => fs.rmSync(tmp, { recursive: true, force: true }));
const env = Object.assign({}, process.env, { EARSHOT_MODELS: ref.modelsDir() });

let failures = 0;
const worst = {};
function tool(...args) { cp.execFileSync(TOOL, args, { env, stdio: ['ignore', 'ignore', 'inherit'] }); }
function maxAbs(a, b) {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) { const d = Math.abs(a[i] - b[i]); if (!(d <= m)) m = d; }
  return m;
}
function check(input, stage, a, b, tol) {
  const d = maxAbs(a, b);
  const key = stage;
  if (!worst[key] || d > worst[key].d) worst[key] = { d, input, tol };
  if (!(d <= tol)) {
    failures++;
    console.log(`FAIL ${stage} on ${input}: max |diff| ${a.length === b.length ? d.toExponential(3) : `length ${a.length} vs ${b.length}`} > ${tol}`);
  }
  return d;
}
function f(name) { return path.join(tmp, name); }

// 16 kHz int16-scale samples, as earshot would decode them
function decode(file) { tool('audio', file, f('a.f32')); return ref.readF32(f('a.f32')); }
function centre(x, seconds) {
  const n = Math.max(x.length, Math.round(seconds * 16000));
  const out = new Float32Array(n);
  out.set(x, Math.floor((n - x.length) / 2));
  return out;
}

// openWakeWord's streaming embeddings: mel buffer primed with 76 rows of
// ones, one embedding of the last 76 rows after every 1280-sample chunk.
async function refStreamEmb(x) {
  const m = await ref.melStream(x);
  const rows = 76 + m.frames;
  const buf = new Float32Array(rows * 32).fill(1);
  buf.set(m.data, 76 * 32);
  const chunks = Math.floor(x.length / 1280);
  // each window at a multiple of 80 rows, so it starts on the 8-frame grid
  // of embedWindows: embedding 10k is window k
  const wins = new Float32Array(chunks * 80 * 32);
  let frames = 76;
  for (let k = 0; k < chunks; k++) {
    frames += k === 0 ? 5 : 8;
    wins.set(buf.subarray((frames - 76) * 32, frames * 32), k * 80 * 32);
  }
  const e = await ref.embedWindows(wins, chunks * 80);
  const out = new Float32Array(chunks * 96);
  for (let k = 0; k < chunks; k++) out.set(e.subarray(k * 10 * 96, k * 10 * 96 + 96), k * 96);
  return out;
}

function readNpy(file) {
  const b = fs.readFileSync(file);
  const hl = b.readUInt16LE(8);
  const data = b.subarray(10 + hl);
  const out = new Float32Array(data.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = data.readFloatLE(i * 4);
  return out;
}

const HEADS = ['alexa', 'hey_jarvis', 'hey_mycroft', 'hey_rhasspy', 'timer', 'weather'];

async function runInput(name, x, opts = {}) {
  ref.writeF32(f('x.f32'), x);
  // front end, whole clip and streaming
  const m = await ref.mel(x);
  tool('mel', f('x.f32'), f('mel.f32'));
  check(name, 'mel', ref.readF32(f('mel.f32')), m.data, TOL.mel);
  if (x.length >= 1280) {
    const ms = await ref.melStream(x);
    tool('mel-stream', f('x.f32'), f('mels.f32'));
    check(name, 'mel-stream', ref.readF32(f('mels.f32')), ms.data, TOL.mel);
  }
  // encoder on the reference's mel (of the clip centred in 2 s when short)
  let mel = m;
  if (m.frames < 76) mel = await ref.mel(centre(x, 2.0));
  ref.writeF32(f('rmel.f32'), mel.data);
  const n = ref.embedCount(mel.frames);
  const e = await ref.embedWindows(mel.data, mel.frames);
  const modes = {};
  for (const mode of ['emb-windows', 'emb-full', 'emb-stream']) {
    const args = mode === 'emb-stream' ? [mode, f('rmel.f32'), f('e.f32'), '8'] : [mode, f('rmel.f32'), f('e.f32')];
    tool(...args);
    modes[mode] = ref.readF32(f('e.f32'));
    check(name, `encoder ${mode.slice(4)}`, modes[mode], e, TOL.emb);
  }
  check(name, 'modes agree (full vs windows)', modes['emb-full'], modes['emb-windows'], TOL.modes);
  check(name, 'modes agree (stream vs windows)', modes['emb-stream'], modes['emb-windows'], TOL.modes);
  // heads on the reference's embeddings
  if (opts.heads) {
    ref.writeF32(f('emb.f32'), e);
    for (const h of HEADS) {
      const r = await ref.head(h, e, n);
      if (!r.count) continue;
      tool('head', ref.modelPath(h), f('emb.f32'), f('h.f32'));
      check(name, `head ${h}`, ref.readF32(f('h.f32')), r.scores, TOL.head);
    }
  }
  return n;
}

(async () => {
  const t0 = Date.now();
  let inputs = 0;
  // --- synthetic signals
  let seed = 12345;
  const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  const noise = new Float32Array(16000 * 4).map(() => Math.round((rnd() - 0.5) * 2 * 16000));
  await runInput('white noise 4 s', noise, { heads: true }); inputs++;
  await runInput('silence 3 s', new Float32Array(48000), { heads: true }); inputs++;
  const sq = new Float32Array(48000).map((_, i) => (Math.floor(i / (16000 / 440 / 2)) % 2 ? -32768 : 32767));
  await runInput('full-scale square 440 Hz 3 s', sq, { heads: true }); inputs++;
  await runInput('0.3 s noise clip', noise.slice(0, 4800)); inputs++;
  // --- bundled samples (all heads; the If branch of hey_jarvis runs here)
  const samples = ['hey_jarvis.wav', 'alexa.wav', 'weather.wav', 'hey_mycroft.wav', 'no_wake_word.wav'];
  const parts = [];
  for (const s of samples) {
    const x = decode(path.join(SRC, 'samples', s));
    parts.push(x);
    await runInput(`samples/${s}`, x, { heads: true }); inputs++;
  }
  const all = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  parts.reduce((o, p) => (all.set(p, o), o + p.length), 0);
  await runInput('all samples concatenated', all, { heads: true }); inputs++;
  await runInput('0.3 s speech clip', parts[0].slice(16000, 16000 + 4800)); inputs++;
  // --- synthesized speech, made here
  try {
    cp.execFileSync('espeak-ng', ['-v', 'en-us', '-s', '160', '-w', f('tts.wav'),
      'Earshot listens for the words you choose, offline, on a small computer.'], { stdio: 'ignore' });
    await runInput('espeak-ng sentence', decode(f('tts.wav')), { heads: true }); inputs++;
  } catch (err) {
    console.log(`SKIP espeak-ng speech: ${err.code === 'ENOENT' ? 'espeak-ng not installed (scripts/setup.sh installs it)' : err.message}`);
  }
  // --- real speech: FSDD, 2 takes of every digit by every speaker
  if (fs.existsSync(FSDD)) {
    const speakers = ['george', 'jackson', 'lucas', 'nicolas', 'theo', 'yweweler'];
    const fsdd = [];
    for (let d = 0; d < 10; d++) for (const s of speakers) for (const t of [d % 50, 25 + d]) fsdd.push(`${d}_${s}_${t}.wav`);
    const long = [];
    for (const file of fsdd) {
      const x = decode(path.join(FSDD, file));
      if (long.length < 20) long.push(x);
      await runInput(`fsdd/${file}`, x); inputs++;
    }
    const cat = new Float32Array(long.reduce((a, p) => a + p.length, 0));
    long.reduce((o, p) => (cat.set(p, o), o + p.length), 0);
    await runInput('20 FSDD clips concatenated', cat, { heads: true }); inputs++;
  } else {
    console.log(`SKIP FSDD inputs: ${FSDD} not found (the shared data is not beside the checkout)`);
  }
  // --- the CLI: `earshot embed` defaults match embed_clips on the same audio
  if (BIN && fs.existsSync(BIN)) {
    for (const [s, extra, stream] of [['hey_jarvis.wav', [], false], ['alexa.wav', ['--stream'], true]]) {
      const file = path.join(SRC, 'samples', s);
      cp.execFileSync(BIN, ['embed', '-q', ...extra, file, '-o', f('npy')], { env, stdio: ['ignore', 'ignore', 'inherit'] });
      const got = readNpy(f(`npy/${s.replace('.wav', '.npy')}`));
      const x = decode(file);
      let want;
      if (stream) want = await refStreamEmb(x);
      else { const m = await ref.mel(x); want = await ref.embedWindows(m.data, m.frames); }
      check(`earshot embed ${extra.join(' ')} samples/${s}`, `cli embed${stream ? ' --stream' : ''}`, got, want, TOL.emb);
    }
  }
  console.log(`\nparity over ${inputs} inputs in ${((Date.now() - t0) / 1000).toFixed(1)} s (onnxruntime-node ${ref.ORT_VERSION}):`);
  for (const [stage, w] of Object.entries(worst)) {
    console.log(`  ${(w.d <= w.tol ? 'ok  ' : 'FAIL')} ${stage.padEnd(34)} max |diff| ${w.d.toExponential(2)}  (tolerance ${w.tol}; worst on ${w.input})`);
  }
  if (failures) console.log(`${failures} parity check(s) failed`);
  process.exit(failures ? 1 : 0);
})().catch(err => { console.error(err); process.exit(1); });
