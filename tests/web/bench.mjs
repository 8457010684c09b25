// The browser inspector's performance in headless Chromium:
//  - a large real capture (bench-data/push-240p.pcap, ~116 MB): time from
//    posting the file to the worker until the first rows are on screen, and
//    until it is fully decoded;
//  - scrolling the table of a 1,000,000-message session: frame times while
//    the table scrolls continuously and jumps;
//  - the JS heap of the page and the worker's wasm memory.
//
//   node tests/web/bench.mjs DIST_DIR BIG_PCAP MILLION_PREFIX OUT.json
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './server.mjs';

const [dist, bigPcap, million, outFile] = process.argv.slice(2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmpscope-bench-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  viewport: { width: 1400, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-background-timer-throttling', '--disable-renderer-backgrounding'],
});
const server = await serve(dist);
const deadline = setTimeout(() => { console.error('bench: over 600 s'); process.exit(1); }, 600_000);
const results = {};

async function openAndWait(files, runs) {
  const out = [];
  for (let i = 0; i < runs; i++) {
    const page = await context.newPage();
    page.setDefaultTimeout(120_000);
    await page.goto(server.url);
    await page.waitForSelector('#drop-zone');
    // Let the worker finish starting, as it has by the time a person drops a file.
    await page.waitForTimeout(500);
    await page.setInputFiles('#file-input', files);
    await page.waitForFunction(() => document.body.dataset.decodedAt && document.body.dataset.firstRowsAt);
    const t = await page.evaluate(() => ({
      opened: +document.body.dataset.openedAt,
      firstRows: +document.body.dataset.firstRowsAt,
      decoded: +document.body.dataset.decodedAt,
      total: document.querySelector('#messages')?.dataset.total,
      status: document.querySelector('#decoded')?.textContent,
      memory: +document.body.dataset.workerMemory,
    }));
    out.push({ first_rows_ms: t.firstRows - t.opened, decoded_ms: t.decoded - t.opened, status: t.status, worker_memory_mb: +(t.memory / 1e6).toFixed(1) });
    if (i === runs - 1) return { runs: out, page };
    await page.close();
  }
}
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };

if (bigPcap && fs.existsSync(bigPcap)) {
  const { runs, page } = await openAndWait([bigPcap], 3);
  results.big = {
    file: path.basename(bigPcap), bytes: fs.statSync(bigPcap).size, runs,
    first_rows_ms: median(runs.map((r) => r.first_rows_ms)),
    decoded_ms: median(runs.map((r) => r.decoded_ms)),
  };
  const cdp = await context.newCDPSession(page);
  const heap = await cdp.send('Runtime.getHeapUsage');
  results.big.page_js_heap_mb = +(heap.usedSize / 1e6).toFixed(1);
  await page.close();
  console.log(`big capture: ${JSON.stringify(results.big)}`);
}

{
  const { runs, page } = await openAndWait([`${million}.c2s`, `${million}.s2c`], 1);
  results.million = { runs };
  // Scroll continuously (as a flung wheel or a dragged scrollbar does), then
  // in jumps across the whole table, and time every animation frame.
  const frames = await page.evaluate(async () => {
    const body = document.querySelector('#table-body');
    body.focus();
    const deltas = [];
    const long = [];
    const obs = new PerformanceObserver((l) => { for (const e of l.getEntries()) long.push(e.duration); });
    try { obs.observe({ type: 'long-animation-frame', buffered: false }); } catch { /* older Chromium */ }
    const run = (ms, step) => new Promise((resolve) => {
      let last = performance.now();
      const end = last + ms;
      let i = 0;
      const tick = (t) => {
        deltas.push(t - last);
        last = t;
        step(i++);
        if (t < end) requestAnimationFrame(tick); else resolve();
      };
      requestAnimationFrame(tick);
    });
    const max = body.scrollHeight - body.clientHeight;
    await run(4000, () => { body.scrollTop = Math.min(max, body.scrollTop + 3000); });
    await run(4000, (i) => { body.scrollTop = ((i * 7919) % 1000) / 1000 * max; });
    obs.disconnect();
    const rows = document.querySelectorAll('#table-body .tr:not(.placeholder)').length;
    return { deltas: deltas.slice(2), long, rows, total: document.querySelector('#messages').dataset.total };
  });
  const d = frames.deltas;
  const sorted = [...d].sort((a, b) => a - b);
  results.million.scroll = {
    total_rows: frames.total,
    frames: d.length,
    p50_ms: +sorted[Math.floor(d.length * 0.5)].toFixed(1),
    p95_ms: +sorted[Math.floor(d.length * 0.95)].toFixed(1),
    max_ms: +sorted[d.length - 1].toFixed(1),
    // rAF intervals jitter around 16.7 ms at 60 Hz; a frame that missed its
    // vsync shows as an interval of about 33 ms or more.
    over_20ms: d.filter((x) => x > 20).length,
    over_33ms: d.filter((x) => x > 33.4).length,
    long_animation_frames: frames.long.length,
    rows_rendered_at_end: frames.rows,
  };
  const cdp = await context.newCDPSession(page);
  const heap = await cdp.send('Runtime.getHeapUsage');
  results.million.page_js_heap_mb = +(heap.usedSize / 1e6).toFixed(1);
  await page.close();
  console.log(`million: ${JSON.stringify(results.million)}`);
}

clearTimeout(deadline);
await context.close();
await server.close();
fs.rmSync(profile, { recursive: true, force: true });
fs.writeFileSync(outFile, JSON.stringify(results, null, 2));
