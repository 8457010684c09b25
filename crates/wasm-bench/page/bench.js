// Times the wasm32 build of crates/wasm-bench (the core decoder behind a
// plain C ABI: alloc, run_full, run_chunks, iterations, default_piece) on the
// benchmark streams, the same way src/main.rs times it natively, and POSTs
// the figures to /result in the same JSON shape.
//
// Query: ?files=a.c2s,b.c2s&samples=K&warmup=W (served as /data/NAME).
// Per file and workload: W untimed samples, then K timed ones; a sample runs
// the workload `iterations(len)` times and records the mean ms per run.

const HANDSHAKE_LEN = 1 + 1536 + 1536;
const log = (line) => {
  document.getElementById("log").textContent += line + "\n";
  console.log(line);
};

async function post(result) {
  await fetch("/result", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(result),
  });
}

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

function time(run, iterations, samples, warmup, name) {
  const first = run();
  if (first === 0xffffffff) throw new Error(`${name}: the input is not an alloc buffer`);
  const sample = () => {
    const start = performance.now();
    for (let i = 0; i < iterations; i++) {
      const n = run();
      if (n !== first) throw new Error(`${name}: a run counted ${n} messages, the first ${first}`);
    }
    return (performance.now() - start) / iterations;
  };
  for (let i = 0; i < warmup; i++) sample();
  const ms = [];
  for (let i = 0; i < samples; i++) ms.push(sample());
  return { messages: first, ms };
}

async function main() {
  const query = new URLSearchParams(location.search);
  const files = (query.get("files") || "").split(",").filter((f) => f);
  const samples = Number(query.get("samples") || 15);
  const warmup = Number(query.get("warmup") || 3);
  if (files.length === 0) throw new Error("no ?files= given");

  const module = await WebAssembly.compile(await fetchBytes("/rtmpscope_wasm_bench.wasm"));
  const imports = WebAssembly.Module.imports(module);
  if (imports.length) {
    throw new Error("the module wants imports: " + imports.map((i) => `${i.module}.${i.name}`).join(", "));
  }
  const instance = await WebAssembly.instantiate(module, {});
  const wasm = instance.exports;
  const piece = wasm.default_piece() >>> 0;
  log(`wasm loaded; piece ${piece}, ${samples} samples after ${warmup} warm-up ones`);

  // Fetch and copy every input first, so that no memory growth or network
  // work happens while timing.
  const inputs = [];
  for (const file of files) {
    const data = new Uint8Array(await fetchBytes("/data/" + encodeURIComponent(file)));
    const ptr = wasm.alloc(data.length) >>> 0;
    // memory.buffer is read after alloc: growing memory detaches the old one.
    new Uint8Array(wasm.memory.buffer, ptr, data.length).set(data);
    inputs.push({ file, ptr, len: data.length });
  }

  const out = [];
  for (const { file, ptr, len } of inputs) {
    const iterations = wasm.iterations(len) >>> 0;
    const full = time(() => wasm.run_full(ptr, len, piece) >>> 0, iterations, samples, warmup, `${file} full`);
    const chunks = time(() => wasm.run_chunks(ptr, len, piece) >>> 0, iterations, samples, warmup, `${file} chunks`);
    full.bytes = len;
    chunks.bytes = Math.max(0, len - HANDSHAKE_LEN);
    const median = (ms) => [...ms].sort((a, b) => a - b)[ms.length >> 1].toFixed(2);
    log(`${file}: full ${full.messages} messages ${median(full.ms)} ms, chunks ${chunks.messages} messages ${median(chunks.ms)} ms`);
    out.push({ file, bytes: len, iterations, full, chunks });
  }
  await post({
    runtime: "wasm",
    user_agent: navigator.userAgent,
    cross_origin_isolated: self.crossOriginIsolated === true,
    piece,
    samples,
    warmup,
    files: out,
  });
  log("posted");
}

main().catch(async (e) => {
  log("error: " + (e && e.stack ? e.stack : e));
  try {
    await post({ runtime: "wasm", error: String(e && e.stack ? e.stack : e) });
  } catch (_) {
    // The server waits for a result until its deadline and reports that.
  }
});
