// ONNX Runtime's side of bench/export_bench.sh: images per second of one
// forward pass of an exported model (CPU execution provider, its default
// graph optimisations), on random inputs: the work does not depend on the values.
//   node onnxruntime_forward.js ONNXRUNTIME_NODE_PACKAGE MODEL.onnx BATCH ITERATIONS THREADS [SIDE]
// Prints one number, as bench_backbones does; a warm-up run comes first.
'use strict';
const [packageDir, model, batch, iterations, threads, side = '160'] = process.argv.slice(2);
const ort = require(packageDir);

(async () => {
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['cpu'],
    intraOpNumThreads: Number(threads),
    interOpNumThreads: 1,
  });
  const n = Number(batch), s = Number(side);
  const data = new Float32Array(n * 3 * s * s).map(() => Math.random() * 2 - 1);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [n, 3, s, s]) };
  await session.run(feeds);  // warm-up: allocations, kernel selection
  const start = process.hrtime.bigint();
  for (let i = 0; i < Number(iterations); ++i) await session.run(feeds);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  process.stdout.write(`${(n * Number(iterations)) / seconds}\n`);
})().catch((error) => {
  process.stderr.write(String(error) + '\n');
  process.exit(1);
});
