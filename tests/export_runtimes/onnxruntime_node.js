// test_export's ONNX Runtime check: runs an exported ONNX model on images
// already preprocessed by catdog and prints the probabilities as JSON.
//   node onnxruntime_node.js ONNXRUNTIME_NODE_PACKAGE MODEL.onnx INPUTS.f32 COUNT SIDE
// INPUTS.f32: COUNT x 3 x SIDE x SIDE float32, little-endian. Output (stdout):
// {"probabilities": [[...], ...], "metadata": {...}, "input": name, "output": name}.
'use strict';
const fs = require('fs');
const [packageDir, model, inputs, count, side] = process.argv.slice(2);
const ort = require(packageDir);

(async () => {
  const session = await ort.InferenceSession.create(model, { executionProviders: ['cpu'] });
  const bytes = fs.readFileSync(inputs);
  const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const n = Number(count), s = Number(side);
  const input = new ort.Tensor('float32', data, [n, 3, s, s]);
  const output = (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]];
  const classes = output.dims[1];
  const probabilities = [];
  for (let i = 0; i < n; ++i) probabilities.push(Array.from(output.data.slice(i * classes, (i + 1) * classes)));
  process.stdout.write(JSON.stringify({ probabilities, input: session.inputNames[0], output: session.outputNames[0] }));
})().catch((error) => {
  process.stderr.write(String(error) + '\n');
  process.exit(1);
});
