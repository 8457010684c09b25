// A static server for dist/ on 127.0.0.1, with an optional stand-in for
// `rtmpscope proxy --ui`'s live feed: GET /feed-info and a WebSocket at /feed
// that plays frames the test hands it (the protocol in web/README.md).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.wasm': 'application/wasm',
  '.css': 'text/css', '.pcap': 'application/octet-stream', '.json': 'application/json',
};

// One WebSocket frame from the server (never masked, RFC 6455 §5.2).
function wsFrame(opcode, payload) {
  const len = payload.length;
  let head;
  if (len < 126) {
    head = Buffer.from([0x80 | opcode, len]);
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[0] = 0x80 | opcode; head[1] = 126; head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = 0x80 | opcode; head[1] = 127; head.writeBigUInt64BE(BigInt(len), 2);
  }
  return Buffer.concat([head, payload]);
}

/**
 * Starts the server. `live`: { token, frames: [string | Buffer] } makes
 * /feed-info say {"live":true} and /feed send the frames once connected.
 */
export function serve(distDir, live = null) {
  const dist = path.resolve(distDir);
  const feeds = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname === '/feed-info') {
      if (!live) { res.writeHead(404); res.end('not live'); return; }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ live: true }));
      return;
    }
    let p = path.normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, '');
    if (p === '') p = 'index.html';
    const file = path.join(dist, p);
    if (!file.startsWith(dist + path.sep) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
      res.writeHead(404); res.end('not found'); return;
    }
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  server.on('upgrade', (req, socket) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (!live || url.pathname !== '/feed' || (live.token && url.searchParams.get('token') !== live.token)) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    const accept = crypto.createHash('sha1')
      .update(req.headers['sec-websocket-key'] + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${accept}\r\n\r\n`);
    socket.on('error', () => {});
    socket.on('data', () => {});
    feeds.push(socket);
    for (const f of live.frames) {
      socket.write(typeof f === 'string' ? wsFrame(1, Buffer.from(f)) : wsFrame(2, f));
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/`,
        close: () => new Promise((r) => { for (const s of feeds) s.destroy(); server.close(() => r()); server.closeAllConnections?.(); }),
      });
    });
  });
}

/** Feed frames for a raw session pair, as the proxy sends them. */
export function liveFrames(session, c2s, s2c, piece = 4096) {
  const frames = [JSON.stringify({ kind: 'open', session, client: '127.0.0.1:50000', server: '127.0.0.1:1935', start: 1700000000.5 })];
  const push = (dir, buf) => {
    for (let i = 0; i < buf.length; i += piece) {
      const head = Buffer.alloc(13);
      head.writeUInt32BE(session, 0);
      head[4] = dir;
      head.writeDoubleBE(1700000001 + i / 1e6, 5);
      frames.push(Buffer.concat([head, buf.subarray(i, i + piece)]));
    }
  };
  push(0, c2s);
  push(1, s2c);
  for (const dir of ['c2s', 's2c']) {
    frames.push(JSON.stringify({ kind: 'close', session, dir, reset: false, time: 1700000004 }));
  }
  return frames;
}
