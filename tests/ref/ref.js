#!/usr/bin/env node
'use strict';
// Reference outputs by hand, from the command line (see ort.js):
//
//   node tests/ref/ref.js [--threads N] mel        IN.f32  OUT.f32   whole clip -> [frames][32]
//   node tests/ref/ref.js [--threads N] mel-stream IN.f32  OUT.f32   openWakeWord's streaming way
//   node tests/ref/ref.js [--threads N] embed      MEL.f32 OUT.f32   [frames][32] -> [n][96]
//   node tests/ref/ref.js [--threads N] head MODEL EMB.f32 OUT.f32   [n][96] -> [count][classes]
//
// Files are raw little-endian float32. Audio is 16 kHz mono in int16 scale
// (about +-32768); mel frames already have x/10+2 applied. MODEL is a path or
// a name in the models directory (e.g. hey_jarvis). A summary goes to stderr.
// Exits 77 if the reference runtime or a model is missing, 2 on bad usage.

const USAGE = `usage: node tests/ref/ref.js [--threads N] COMMAND ARGS
  mel        IN.f32 OUT.f32        mel frames of a whole clip          -> [frames][32]
  mel-stream IN.f32 OUT.f32        mel frames, streamed like openWakeWord -> [frames][32]
  embed      MEL.f32 OUT.f32       embeddings of every 76-frame window  -> [n][96]
  head MODEL EMB.f32 OUT.f32       a wake-word head over every window   -> [count][classes]`;

function usage(msg) {
  if (msg) process.stderr.write(`ref.js: ${msg}\n`);
  process.stderr.write(USAGE + '\n');
  process.exit(2);
}

async function main(argv) {
  const args = [];
  let threads = null;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--threads') threads = Number(argv[++i]);
    else if (argv[i].startsWith('--threads=')) threads = Number(argv[i].slice(10));
    else if (argv[i] === '-h' || argv[i] === '--help') { process.stdout.write(USAGE + '\n'); return; }
    else args.push(argv[i]);
  }
  if (threads !== null && !(Number.isInteger(threads) && threads >= 1)) usage('--threads takes a positive integer');
  const cmd = args.shift();
  const want = { mel: 2, 'mel-stream': 2, embed: 2, head: 3 }[cmd];
  if (want === undefined) usage(cmd ? `unknown command ${cmd}` : 'no command');
  if (args.length !== want) usage(`${cmd} takes ${want} arguments`);

  const ref = require('./ort');   // exits 77 when the runtime is missing
  if (threads !== null) ref.setThreads(threads);

  if (cmd === 'mel' || cmd === 'mel-stream') {
    const [inp, out] = args;
    const x = ref.readF32(inp);
    const r = cmd === 'mel' ? await ref.mel(x) : await ref.melStream(x);
    ref.writeF32(out, r.data);
    process.stderr.write(`${cmd}: ${x.length} samples -> ${r.frames} frames x ${ref.MEL_BINS} -> ${out}\n`);
  } else if (cmd === 'embed') {
    const [inp, out] = args;
    const m = ref.readF32(inp);
    if (m.length % ref.MEL_BINS) throw new Error(`${inp}: ${m.length} floats is not a whole number of ${ref.MEL_BINS}-bin frames`);
    const frames = m.length / ref.MEL_BINS;
    const e = await ref.embedWindows(m, frames);
    ref.writeF32(out, e);
    process.stderr.write(`embed: ${frames} frames -> ${e.length / ref.EMB_DIM} embeddings x ${ref.EMB_DIM} -> ${out}\n`);
  } else {
    const [model, inp, out] = args;
    const e = ref.readF32(inp);
    if (e.length % ref.EMB_DIM) throw new Error(`${inp}: ${e.length} floats is not a whole number of ${ref.EMB_DIM}-d embeddings`);
    const n = e.length / ref.EMB_DIM;
    const r = await ref.head(model, e, n);
    ref.writeF32(out, r.scores);
    process.stderr.write(`head: ${n} embeddings, window ${r.window} -> ${r.count} x ${r.classes} scores -> ${out}\n`);
  }
}

main(process.argv.slice(2)).catch(e => {
  process.stderr.write(`ref.js: ${e && e.message ? e.message : e}\n`);
  process.exit(1);
});
