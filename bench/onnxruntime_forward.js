// ONNX Runtime's side of bench/export_bench.sh: images per second of the forward
// pass of an exported model (CPU execution provider, its default graph
// optimisations), after one warm-up run.
//   node onnxruntime_forward.js ONNXRUNTIME_NODE_PACKAGE MODEL.onnx BATCH ITERATIONS THREADS [SIDE [INPUTS.f32]]
// Without INPUTS: ITERATIONS runs of one batch of random inputs (the work does not
// depend on the values). With INPUTS (float32 N x 3 x SIDE x SIDE, little-endian):
// one pass over its N images in batches of BATCH. Prints one number, as bench_backbones does.
'use strict';
const fs = require('fs');
const [packageDir, model, batch, iterations, threads, side = '160', inputs] = process.argv.slice(2);
const ort = require(packageDir);

(async () => {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
  });
  const s = Number(side), perImage = 3 * s * s;
  let images;
  if (inputs) {
    const bytes = fs.readFileSync(inputs);
    images = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  } else {
    images = new Float32Array(Number(batch) * perImage).map(() => Math.random() * 2 - 1);
  }
  const count = images.length / perImage;
  const batches = [];
  for (let first = 0; first < count; first += Number(batch)) {
    const n = Math.min(Number(batch), count - first);
    const data = images.subarray(first * perImage, (first + n) * perImage);
    batches.push({ [session.inputNames[0]]: new ort.Tensor('float32', data, [n, 3, s, s]) });
  }
  await session.run(batches[0]);  // warm-up: allocations, kernel selection
  const runs = inputs ? batches : Array(Number(iterations)).fill(batches[0]);
  const start = process.hrtime.bigint();
  let done = 0;
  for (const feeds of runs) {
    await session.run(feeds);
    done += feeds[session.inputNames[0]].dims[0];
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${done / seconds}\n`);
})().catch((error) => {
  process.stderr.write(String(error) + '\n');
  process.exit(1);
});
