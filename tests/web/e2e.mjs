// End-to-end tests of the browser inspector in headless Chromium, as a user
// would use it: open real captures, read what the page shows, and compare it
// with tshark's decoding of the same files (run here, or the committed
// tests/fixtures/*.tshark.tsv rows that tshark wrote).
//
//   node tests/web/e2e.mjs DIST_DIR SCREENSHOT_DIR
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { chromium } from 'playwright-core';
import { serve, liveFrames } from './server.mjs';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
const dist = path.resolve(process.argv[2] || path.join(root, 'dist'));
const shots = path.resolve(process.argv[3] || path.join(root, 'target/web-test'));
const fixtures = path.join(root, 'tests/fixtures');
fs.mkdirSync(shots, { recursive: true });

// --- independent facts ------------------------------------------------------
function tsv(name) {
  const lines = fs.readFileSync(path.isAbsolute(name) ? name : path.join(fixtures, name), 'utf8').trim().split('\n');
  const head = lines[0].split('\t');
  return lines.slice(1).map((l) => Object.fromEntries(l.split('\t').map((v, i) => [head[i], v])));
}
function tshark(file, port, fields) {
  const r = spawnSync('tshark', ['-r', path.join(fixtures, file), '-d', `tcp.port==${port},rtmpt`,
    '-o', 'rtmpt.max_packet_size:1048576', '-Y', 'rtmpt', '-T', 'fields', ...fields.flatMap((f) => ['-e', f])],
  { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed: ${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => l.split('\t'));
}
// Per-message rows of a capture without a committed .tsv, by the same script.
function tsvOf(file, port) {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rtmpscope-tsv-')), 'out.tsv');
  const capture = path.isAbsolute(file) ? file : path.join(fixtures, file);
  const r = spawnSync('python3', [path.join(root, 'scripts/tshark-rtmp-tsv.py'), capture, String(port), out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark-rtmp-tsv.py failed: ${r.stderr}`);
  const rows = tsv(out);
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
  return rows;
}
const publishRows = tsv('ffmpeg-publish.tshark.tsv');
const connectRow = publishRows.find((r) => r.command === 'connect');
// "connect|live|nonprivate|FMLE/3.0 …|rtmp://127.0.0.1:19351/live": tshark's AMF strings in order.
const connectStrings = connectRow.strings.split('|');
const expectApp = connectStrings[1];
const expectTcUrl = connectStrings.find((s) => s.startsWith('rtmp://'));
const amf0String = (s) => [0x02, s.length >> 8, s.length & 0xff, ...Buffer.from(s)]
  .map((b) => b.toString(16).padStart(2, '0')).join(' ');

// --- a tiny test runner -------------------------------------------------------
const results = [];
async function test(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push([name, true]);
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    results.push([name, false]);
    console.log(`FAIL ${name}: ${e && e.stack || e}`);
  }
}
function eq(got, want, what) {
  if (got !== want) throw new Error(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
function ok(cond, what) {
  if (!cond) throw new Error(what);
}

// --- browser ------------------------------------------------------------------
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmpscope-e2e-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1400, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const server = await serve(dist);
const deadline = setTimeout(() => { console.log('FAIL: the tests took longer than 240 s'); process.exit(1); }, 240_000);

async function openPage(url = server.url) {
  const page = await context.newPage();
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (e) => console.log(`  page error: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('#drop-zone');
  return page;
}
async function openFiles(page, files) {
  await page.setInputFiles('#file-input', files.map((f) => path.isAbsolute(f) ? f : path.join(fixtures, f)));
}
async function decoded(page) {
  await page.waitForSelector('#decoded');
  return page.textContent('#decoded');
}
const shot = (page, name) => page.screenshot({ path: path.join(shots, `${name}.png`) });

await test('a pcap shows tshark\'s sessions and messages', async () => {
  const page = await openPage();
  await openFiles(page, ['ffmpeg-publish.pcap']);
  const conns = new Set(publishRows.map((r) => r.conn)).size;
  eq(await decoded(page), `${conns} sessions · ${publishRows.length} messages`, 'status line');
  eq(await page.getAttribute('#messages', 'data-total'), String(publishRows.length), 'table total');
  eq(await page.locator('#sessions .session').count(), conns, 'session list');
  const line = await page.textContent('#sessions .session');
  ok(line.includes('publish') && line.includes(`${expectApp} /`), `session line: ${line}`);
  ok(line.includes('ok'), `status ok: ${line}`);
  // The first row is the connect command, as in tshark's first row.
  const first = await page.textContent('#table-body .tr[data-pos="0"] .c-summary');
  ok(first.startsWith('connect'), `first row: ${first}`);
  // The handshake card: C1's version field, as the fixture's .md gives it
  // from scripts/rtmp-chunk-facts.py ("version field 09007c02" = 9.0.124.2).
  const md = fs.readFileSync(path.join(fixtures, 'ffmpeg-publish.md'), 'utf8');
  const vf = md.match(/version field ([0-9a-f]{8})/)[1].match(/../g).map((h) => parseInt(h, 16)).join('.');
  const card = await page.textContent('#handshake');
  ok(card.includes(vf), `handshake card shows ${vf}: ${card.slice(0, 200)}`);
  await shot(page, '1-ffmpeg-publish');
  await page.close();
});

await test('the connect command\'s AMF values, and the hex highlight of a field', async () => {
  const page = await openPage();
  await openFiles(page, ['ffmpeg-publish.pcap']);
  await decoded(page);
  await page.click('#table-body .tr[data-pos="0"]');
  await page.waitForSelector('#amf-tree');
  const app = page.locator('#amf-tree .node[data-key="app"]');
  eq(await app.locator('.value').textContent(), JSON.stringify(expectApp), 'app');
  eq(await app.locator('.type').textContent(), 'string', 'app type');
  const tc = await page.textContent('#amf-tree .node[data-key="tcUrl"] .value');
  eq(tc, JSON.stringify(expectTcUrl), 'tcUrl');
  await app.click();
  const lit = await page.$$eval('#hex .b.hl', (els) => els.map((e) => e.textContent).join(' '));
  eq(lit, amf0String(expectApp), 'highlighted bytes of app');
  // The reverse: hovering a byte of the tcUrl value names that field.
  await page.mouse.move(0, 0);
  const tcField = await page.getAttribute('#amf-tree .node[data-key="tcUrl"]', 'data-field');
  await page.hover(`#hex .b[data-f="${tcField}"] >> nth=5`);
  const label = await page.textContent('#field-label');
  ok(label.startsWith('tcUrl: string'), `field label: ${label}`);
  ok(await page.locator('#amf-tree .node[data-key="tcUrl"].lit').count() === 1, 'tree node lit');
  // The chunk header: fmt 0 on chunk stream 3, as tshark's first row says.
  const hdr = await page.$$eval('#hex .b.hdr', (els) => els.length);
  ok(hdr >= 12, `header bytes marked: ${hdr}`);
  eq(`${connectRow.fmt}/${connectRow.csid}`, '0/3', 'tshark header');
  await page.hover('#hex .b >> nth=0');
  ok((await page.textContent('#field-label')).startsWith('basic header: fmt 0, chunk stream 3'), 'basic header label');
  await shot(page, '2-connect-detail');
  await page.close();
});

await test('filters, keyboard navigation and virtual scrolling', async () => {
  const page = await openPage();
  await openFiles(page, ['gst-publish.pcap']);
  const rows = tsv('gst-publish.tshark.tsv');
  await decoded(page);
  eq(await page.getAttribute('#messages', 'data-total'), String(rows.length), 'total');
  // Only a screenful of rows is in the DOM.
  const inDom = await page.locator('#table-body .tr').count();
  ok(inDom < 80 && inDom > 5, `rows in the DOM: ${inDom}`);
  await page.selectOption('#f-dir', 's2c');
  await page.selectOption('#f-type', 'command');
  const want = rows.filter((r) => r.dir === 's2c' && r.type === '20').length;
  await page.waitForFunction((n) => document.querySelector('#messages').dataset.total === String(n), want);
  await page.selectOption('#f-dir', '');
  await page.selectOption('#f-type', '9');
  await page.waitForFunction((n) => document.querySelector('#messages').dataset.total === String(n), rows.filter((r) => r.type === '9').length);
  await page.selectOption('#f-type', '');
  await page.waitForFunction((n) => document.querySelector('#messages').dataset.total === String(n), rows.length);
  await page.click('#table-body .tr[data-pos="0"]');
  await page.keyboard.press('End');
  await page.waitForSelector(`#table-body .tr.selected[data-pos="${rows.length - 1}"]`);
  await page.keyboard.press('ArrowUp');
  await page.waitForSelector(`#table-body .tr.selected[data-pos="${rows.length - 2}"]`);
  await page.waitForSelector('#detail[data-row]');
  await page.keyboard.press('Home');
  await page.waitForSelector('#table-body .tr.selected[data-pos="0"]');
  await page.fill('#f-text', 'onStatus');
  const statuses = rows.filter((r) => r.command === 'onStatus').length;
  await page.waitForFunction((n) => document.querySelector('#messages').dataset.total === String(n), statuses);
  await shot(page, '3-filtered');
  await page.close();
});

await test('a rejected publish is a finding that links to its evidence', async () => {
  const page = await openPage();
  await openFiles(page, ['failures/second-publisher.pcap']);
  const facts = tshark('failures/second-publisher.pcap', 19361, ['tcp.stream', 'amf.string']);
  ok(facts.some((f) => f[1].includes('NetStream.Publish.BadName')), 'tshark sees BadName');
  const rows = tsvOf('failures/second-publisher.pcap', 19361);
  const streams = new Set(rows.map((r) => r.conn)).size;
  eq(await decoded(page), `${streams} sessions · ${rows.length} messages`, 'status line');
  const f = page.locator('#findings .finding[data-code="publish.rejected"]');
  await f.waitFor();
  ok((await f.textContent()).includes('NetStream.Publish.BadName'), 'BadName in the finding');
  ok((await page.textContent('#sessions .session')).includes('rejected'), 'session status');
  await f.locator('.evidence a').first().click();
  await page.waitForSelector('#detail[data-row]');
  const head = await page.textContent('#detail h2');
  ok(head.includes('onStatus') || head.includes('publish'), `evidence message: ${head}`);
  await shot(page, '4-second-publisher');
  await page.close();
});

await test('two sessions in one capture, each with tshark\'s messages', async () => {
  const page = await openPage();
  await openFiles(page, ['ffmpeg-extts.pcap']);
  const rows = tsv('ffmpeg-extts.tshark.tsv');
  const conns = [...new Set(rows.map((r) => r.conn))];
  await decoded(page);
  eq(await page.locator('#sessions .session').count(), conns.length, 'sessions');
  // ffmpeg-extts.md: tshark misses one c2s message of session 0 (message 10,
  // its extended timestamp), which the chunk walker and rtmpscope both find.
  const want = { 0: rows.filter((r) => r.conn === '0').length + 1, 1: rows.filter((r) => r.conn === '1').length };
  for (const n of [1, 0]) {
    await page.click(`#sessions .session[data-session="${n}"]`);
    await page.waitForFunction((w) => document.querySelector('#messages')?.dataset.total === String(w), want[n]);
  }
  await page.close();
});

await test('a publish the server drops is a finding', async () => {
  const page = await openPage();
  await openFiles(page, ['publish-denied.pcap']);
  // tshark's 12 messages, and the @setDataFrame the client had begun when the
  // server hung up (publish-denied.md: "ends inside a chunk: message on csid 4
  // (type 18, 309 bytes) … 0 of 309 bytes arrived"), shown as incomplete.
  const n = tsv('publish-denied.tshark.tsv').length + 1;
  eq(await decoded(page), `1 sessions · ${n} messages`, 'status line');
  await page.waitForSelector(`#table-body .tr.incomplete[data-pos="${n - 1}"]`);
  ok((await page.textContent('#sessions .session')).includes('1 cut short'), 'the cut message is counted');
  await page.locator('#findings .finding[data-code="publish.dropped"]').waitFor();
  await shot(page, '5-publish-denied');
  await page.close();
});

await test('a file that is not a capture gets a clear message', async () => {
  const page = await openPage();
  const mp4 = path.join(profile, 'clip.mp4');
  fs.writeFileSync(mp4, Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypisom'), Buffer.alloc(64)]));
  await openFiles(page, [mp4]);
  await page.waitForSelector('#open-error');
  eq(await page.textContent('#open-error strong'), 'This is an MP4/MOV file, not a capture.', 'headline');
  await shot(page, '6-mp4-error');
  const txt = path.join(profile, 'notes.txt');
  fs.writeFileSync(txt, 'hello, this is text\n');
  await page.setInputFiles('#file-input', txt);
  await page.waitForFunction(() => document.querySelector('#open-error strong')?.textContent === 'This is a text file, not a capture.');
  await page.close();
});

await test('the bundled sample opens from the empty state', async () => {
  const page = await openPage();
  await shot(page, '0-empty-state');
  await page.click('#open-sample');
  eq(await decoded(page), `1 sessions · ${publishRows.length} messages`, 'status line');
  await page.close();
});

await test('a pcapng dropped on the page decodes like the pcap', async () => {
  const ng = path.join(profile, 'ffmpeg-publish.pcapng');
  const r = spawnSync('editcap', ['-F', 'pcapng', path.join(fixtures, 'ffmpeg-publish.pcap'), ng], { encoding: 'utf8' });
  eq(r.status, 0, `editcap: ${r.stderr}`);
  const page = await openPage();
  // A real drop: a DataTransfer holding the file, dropped on the empty state.
  const bytes = [...fs.readFileSync(ng)];
  await page.evaluate((b) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(b)], 'ffmpeg-publish.pcapng'));
    const zone = document.querySelector('#drop-zone');
    zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: dt, bubbles: true, cancelable: true }));
    zone.dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, bytes);
  eq(await decoded(page), `1 sessions · ${publishRows.length} messages`, 'status line');
  eq(await page.textContent('#file-name'), 'ffmpeg-publish.pcapng', 'file name');
  // Another capture dropped over the open one replaces it.
  const other = [...fs.readFileSync(path.join(fixtures, 'publish-denied.pcap'))];
  await page.evaluate((b) => {
    const dt = new DataTransfer();
    dt.items.add(new File([new Uint8Array(b)], 'publish-denied.pcap'));
    document.querySelector('#messages').dispatchEvent(new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true }));
  }, other);
  await page.waitForFunction(() => document.querySelector('#file-name')?.textContent === 'publish-denied.pcap');
  eq(await decoded(page), `1 sessions · ${tsv('publish-denied.tshark.tsv').length + 1} messages`, 'second file');
  await page.close();
});

await test('a .c2s/.s2c pair decodes to the same messages', async () => {
  const page = await openPage();
  await openFiles(page, ['ffmpeg-publish.c2s', 'ffmpeg-publish.s2c']);
  eq(await decoded(page), `1 sessions · ${publishRows.length} messages`, 'status line');
  await page.close();
});

await test('exports: JSON lines as the CLI writes them, and FLV', async () => {
  const page = await openPage();
  await openFiles(page, ['ffmpeg-publish.pcap']);
  await decoded(page);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
  const lines = fs.readFileSync(await dl.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  eq(lines[0].kind, 'session', 'first line');
  eq(lines.filter((l) => l.kind === 'message').length, publishRows.length, 'message lines');
  eq(lines.find((l) => l.command === 'connect').values[0].app, expectApp, 'connect app');
  const [flv] = await Promise.all([page.waitForEvent('download'), page.click('#export-flv')]);
  const head = fs.readFileSync(await flv.path()).subarray(0, 5);
  eq(head.toString('latin1', 0, 3), 'FLV', 'FLV signature');
  eq(head[4], 5, 'audio and video flags');
  await page.close();
});

await test('chunk lanes and charts draw the session', async () => {
  const page = await openPage();
  await openFiles(page, ['ffmpeg-publish.pcap']);
  await decoded(page);
  await page.click('#tab-lanes');
  await page.waitForSelector('#lanes canvas');
  await page.waitForTimeout(300);
  await shot(page, '7-lanes');
  // A click on the video lane (csid of tshark's video rows) selects a video message.
  const csids = [...new Set(publishRows.filter((r) => r.dir === 'c2s').map((r) => r.csid))];
  ok(csids.length >= 3, `csids ${csids}`);
  await page.click('#lanes-time');
  await page.waitForFunction(() => document.querySelector('#lanes .lanes-bar .muted').textContent.includes(' s of '));
  await page.waitForTimeout(300);
  await shot(page, '7b-lanes-over-time');
  await page.click('#lanes-bytes');
  await page.waitForFunction(() => document.querySelector('#lanes .lanes-bar .muted').textContent.startsWith('bytes'));
  // Zoom in at the left edge, then click the first command chunk (connect,
  // tshark's first row, on csid 3 right after the 3073 handshake bytes).
  const box = await page.locator('#lanes canvas').boundingBox();
  const laneY = box.y + 18 + 0 * 24 + 12;
  await page.mouse.move(box.x + 71, laneY);
  for (let i = 0; i < 7; i++) await page.mouse.wheel(0, -100);
  await page.waitForTimeout(400);
  await shot(page, '7c-lanes-zoomed');
  const text = await page.textContent('#lanes .lanes-bar .muted');
  const [, a, b] = text.match(/bytes (\d+) – (\d+)/).map(Number);
  ok(a <= 3073 && b < 20000, `zoomed to ${a}–${b}`);
  const x = box.x + 70 + (3073 + 20 - a) / (b - a) * (box.width - 70);
  await page.mouse.click(x, laneY);
  await page.waitForSelector('#detail[data-row]');
  ok((await page.textContent('#detail h2')).startsWith('connect'), 'the clicked chunk opens connect');
  await page.click('#tab-charts');
  await page.waitForSelector('#chart-ts polyline');
  const polylines = await page.locator('#charts polyline').count();
  ok(polylines >= 4, `polylines ${polylines}`);
  const gop = await page.textContent('#chart-gop h3');
  ok(/mean 1\.0\d s/.test(gop), `keyframe interval (GOP 25 at 25 fps): ${gop}`);
  await shot(page, '8-charts');
  await page.close();
});

await test('live mode: sessions from the proxy\'s feed, with its token', async () => {
  const c2s = fs.readFileSync(path.join(fixtures, 'ffmpeg-publish.c2s'));
  const s2c = fs.readFileSync(path.join(fixtures, 'ffmpeg-publish.s2c'));
  const live = await serve(dist, { token: 's3cret', frames: liveFrames(7, c2s, s2c) });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    await page.goto(`${live.url}?token=s3cret`);
    await page.waitForSelector('#sessions .session[data-session="7"]');
    await page.waitForFunction((n) => document.querySelector('#messages')?.dataset.total === String(n), publishRows.length);
    ok((await page.textContent('#live-state')).includes('live'), 'live indicator');
    await page.waitForFunction(() => document.querySelector('#sessions .session .status')?.textContent === 'ok');
    await shot(page, '9-live');
    const [dl] = await Promise.all([page.waitForEvent('download'), page.click('#export-json')]);
    const lines = fs.readFileSync(await dl.path(), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    eq(lines[0].session, 7, 'live export session');
    eq(lines.filter((l) => l.kind === 'message').length, publishRows.length, 'live export messages');
    await page.close();
  } finally {
    await live.close();
  }
});

// The real thing when it is built: `rtmpscope proxy --ui` with its built-in
// server, ffmpeg pushing through it, the page following live; then the
// proxy's own capture of the session, decoded by tshark, gives the count.
const bin = [process.env.RTMPSCOPE_BIN, path.join(root, 'target/debug/rtmpscope'), path.join(root, 'target/release/rtmpscope')]
  .find((b) => b && fs.existsSync(b));
const ffmpeg = spawnSync('ffmpeg', ['-version']).status === 0;
if (!bin || !ffmpeg) {
  console.log(`skip live mode with rtmpscope proxy: ${bin ? 'no ffmpeg' : 'no rtmpscope binary (cargo build -p rtmpscope)'}`);
} else {
  await test('live mode with rtmpscope proxy --ui and a real ffmpeg push', async () => {
    const { spawn } = await import('node:child_process');
    const net = await import('node:net');
    const freePort = () => new Promise((r) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)); }); });
    const [rtmpPort, uiPort] = [await freePort(), await freePort()];
    const caps = fs.mkdtempSync(path.join(os.tmpdir(), 'rtmpscope-e2e-caps-'));
    const procs = [];
    const start = (cmd, args) => { const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }); procs.push(p); return p; };
    try {
      const proxy = start(bin, ['proxy', '--listen', `127.0.0.1:${rtmpPort}`, '--ui', `127.0.0.1:${uiPort}`,
        '--ui-dir', dist, '--capture-dir', caps]);
      let up = false;
      for (let i = 0; i < 100 && !up; i++) {
        up = await fetch(`http://127.0.0.1:${uiPort}/feed-info`).then((r) => r.ok).catch(() => false);
        if (!up) await new Promise((r) => setTimeout(r, 100));
      }
      ok(up, 'the proxy\'s UI answers');
      const page = await context.newPage();
      page.setDefaultTimeout(30_000);
      await page.goto(`http://127.0.0.1:${uiPort}/`);
      await page.waitForFunction(() => document.querySelector('#live-state')?.textContent.includes('open'));
      const ff = start('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-re', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25',
        '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '3', '-c:v', 'libx264', '-preset', 'ultrafast', '-g', '25',
        '-c:a', 'aac', '-f', 'flv', `rtmp://127.0.0.1:${rtmpPort}/live/cam1`]);
      // While ffmpeg pushes, the session is live and grows.
      await page.waitForFunction(() => document.querySelector('#sessions .session .status')?.textContent === 'live');
      const line = await page.textContent('#sessions .session');
      ok(line.includes('publish') && line.includes('live / cam1'), `live session: ${line}`);
      await shot(page, '10-proxy-live');
      const code = await new Promise((r) => ff.on('exit', r));
      eq(code, 0, 'ffmpeg exit');
      await page.waitForFunction(() => document.querySelector('#sessions .session .status')?.textContent === 'ok');
      // The proxy's pcapng of the session, decoded by tshark.
      let cap;
      for (let i = 0; i < 50 && !cap; i++) {
        cap = fs.readdirSync(caps).find((f) => f.endsWith('.pcapng'));
        if (!cap) await new Promise((r) => setTimeout(r, 100));
      }
      ok(cap, 'the proxy wrote a capture');
      await new Promise((r) => setTimeout(r, 500));
      // The capture names the upstream (the built-in server) as the server:
      // its port is the first SYN's destination.
      const syn = spawnSync('tshark', ['-r', path.join(caps, cap), '-Y', 'tcp.flags.syn==1 && tcp.flags.ack==0',
        '-T', 'fields', '-e', 'tcp.dstport'], { encoding: 'utf8' });
      const serverPort = Number(syn.stdout.trim().split('\n')[0]);
      ok(serverPort > 0, `server port from the capture: ${syn.stdout}`);
      const rows = tsvOf(path.join(caps, cap), serverPort);
      const total = await page.getAttribute('#messages', 'data-total');
      eq(total, String(rows.length), 'live messages against tshark on the proxy\'s capture');
      // The table followed the session as it grew: its last row is on screen.
      await page.waitForSelector(`#table-body .tr[data-pos="${rows.length - 1}"]:not(.placeholder)`);
      await shot(page, '11-proxy-done');
      await page.close();
      proxy.kill('SIGTERM');
    } finally {
      for (const p of procs) if (p.exitCode === null) p.kill('SIGKILL');
      fs.rmSync(caps, { recursive: true, force: true });
    }
  });
}

clearTimeout(deadline);
await context.close();
await server.close();
fs.rmSync(profile, { recursive: true, force: true });
const passed = results.filter((r) => r[1]).length;
const failed = results.length - passed;
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
