// The exported mirror page's speed in headless Chromium (BENCHMARKS.md, "Export"):
//   node bench/web_mirror_bench.js WEB_FOLDER PHOTO...
// Serves WEB_FOLDER (`catdog export --format web`) from 127.0.0.1, opens it through
// chromedriver, chooses each photo in turn and prints the page's own timings
// (performance.now(), set by the page: WebDriver's round trips are not in them):
// model loaded after opening, then per photo chosen -> verdict shown, and the median.
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const http = require('http');
const path = require('path');

const [folder, ...photos] = process.argv.slice(2);
const types = { '.html': 'text/html', '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm' };
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function serve() {
  const server = http.createServer((request, response) => {
    const file = path.join(folder, path.normalize(decodeURIComponent(request.url.split('?')[0])).replace(/^\/+/, ''));
    fs.readFile(file, (error, bytes) => {
      if (error) { response.writeHead(404); response.end(); return; }
      response.writeHead(200, { 'Content-Type': types[path.extname(file)] || 'application/octet-stream' });
      response.end(bytes);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

(async () => {
  const server = await serve();
  const driverPort = 9500 + Math.floor(Math.random() * 400);
  const driver = spawn('/usr/bin/chromedriver', [`--port=${driverPort}`], { stdio: 'ignore' });
  const call = async (method, url, body) => {
    const response = await fetch(`http://127.0.0.1:${driverPort}${url}`, {
      method, headers: { 'Content-Type': 'application/json' }, body: body && JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(`${url}: ${JSON.stringify(answer)}`);
    return answer.value;
  };
  try {
    for (let i = 0; i < 100; ++i) { try { await call('GET', '/status'); break; } catch { await sleep(100); } }
    const profile = fs.mkdtempSync('/tmp/web-mirror-bench-');
    const { sessionId } = await call('POST', '/session', { capabilities: { alwaysMatch: { 'goog:chromeOptions': {
      binary: '/usr/bin/chromium',
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--window-size=412,1000', `--user-data-dir=${profile}`],
    } } } });
    const session = (url) => `/session/${sessionId}${url}`;
    const script = (code) => call('POST', session('/execute/sync'), { script: code, args: [] });
    const waitFor = async (code) => {
      for (;;) { const value = await script(code); if (value) return value; await sleep(20); }
    };
    await call('POST', session('/url'), { url: `http://127.0.0.1:${server.address().port}/index.html` });
    const readyMs = Number(await waitFor('return document.body.dataset.readyMs'));
    const input = Object.values(await call('POST', session('/element'), { using: 'css selector', value: '#file' }))[0];
    const latencies = [];
    for (const [i, photo] of photos.entries()) {
      await call('POST', session(`/element/${input}/value`), { text: path.resolve(photo) });
      latencies.push(Number(await waitFor(`return document.body.dataset.verdicts == ${i + 1} && document.body.dataset.lastMs`)));
      await script("document.getElementById('file').value = ''; return 0;");
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const median = sorted.length % 2 ? sorted[(sorted.length - 1) / 2] : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    console.log(`model loaded ${readyMs} ms after opening; first photo ${latencies[0]} ms`);
    console.log(`per photo (ms): ${latencies.join(' ')}`);
    console.log(`median of ${latencies.length}: ${median} ms; time to first verdict ${(readyMs + latencies[0]).toFixed(1)} ms`);
    await call('DELETE', `/session/${sessionId}`);
  } finally {
    driver.kill('SIGTERM');
    server.close();
  }
})().catch((error) => { console.error(String(error)); process.exit(1); });
