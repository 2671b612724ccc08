// Cochlea live-captions page: microphone → AudioWorklet → 16 kHz linear16 frames → WebSocket
// (Pulse real-time API), live partials and finals with word timings; and batch upload over HTTP.
// No framework, no build step.

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = 'cochlea.apiKey';
const API_PATH = '/waves/v1/pulse/get_text';
const TARGET_RATE = 16000;
const FRAME_SAMPLES = 1600; // 100 ms per WebSocket frame

const ui = {
  key: $('api-key'),
  forget: $('forget-key'),
  language: $('language'),
  mic: $('mic'),
  finalize: $('finalize'),
  showTimes: $('show-times'),
  level: $('level'),
  status: $('status'),
  captions: $('captions'),
  finals: $('finals'),
  partial: $('partial'),
  upload: $('upload'),
  file: $('file'),
  uploadBtn: $('upload-btn'),
  batchStatus: $('batch-status'),
  batchResult: $('batch-result'),
  error: $('error'),
};

// ---- API key: sessionStorage only, never in the page URL -----------------------------------
ui.key.value = sessionStorage.getItem(KEY_STORAGE) || '';
ui.key.addEventListener('input', () => {
  const k = ui.key.value.trim();
  if (k) sessionStorage.setItem(KEY_STORAGE, k);
  else sessionStorage.removeItem(KEY_STORAGE);
});
ui.forget.addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORAGE);
  ui.key.value = '';
  ui.key.focus();
});
const apiKey = () => ui.key.value.trim();

function showError(msg) {
  ui.error.textContent = msg;
  ui.error.hidden = !msg;
}

const fmt = (s) => {
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, '0')}`;
};

ui.showTimes.addEventListener('change', () => ui.captions.classList.toggle('show-times', ui.showTimes.checked));

// ---- Live captions ---------------------------------------------------------------------------
let live = null; // { ws, ctx, stream, node, pending: ArrayBuffer[], stopping, closed: Promise }

function setStatus(text) {
  ui.status.textContent = text;
}

function renderFinal(ev) {
  if (!ev.transcript) return;
  const li = document.createElement('li');
  const words = Array.isArray(ev.words) ? ev.words : [];
  const start = ev.start ?? words[0]?.start;
  const end = ev.end ?? words.at(-1)?.end;
  if (start !== undefined) {
    const ts = document.createElement('span');
    ts.className = 'ts';
    ts.textContent = `${fmt(start)}–${fmt(end ?? start)}`;
    li.append(ts);
  }
  if (words.length) {
    words.forEach((w, i) => {
      const span = document.createElement('span');
      span.className = 'w';
      span.dataset.start = String(w.start);
      span.dataset.end = String(w.end);
      span.title = `${w.start.toFixed(2)}–${w.end.toFixed(2)} s, confidence ${Math.round((w.confidence ?? 0) * 100)}%`;
      span.append(w.word);
      const small = document.createElement('small');
      small.textContent = `${w.start.toFixed(2)}`;
      span.append(small);
      li.append(span, i < words.length - 1 ? ' ' : '');
    });
  } else li.append(ev.transcript);
  if (ev.from_finalize) li.dataset.fromFinalize = 'true';
  ui.finals.append(li);
  ui.captions.scrollTop = ui.captions.scrollHeight;
}

function onEvent(ev) {
  if (ev.type === 'transcription') {
    if (ev.is_final) {
      ui.partial.textContent = '';
      renderFinal(ev);
    } else ui.partial.textContent = ev.transcript;
  } else if (ev.type === 'error') {
    showError(`Server: ${ev.message}`);
  } else if (ev.type === 'speech_started') setStatus('Listening — speech');
  else if (ev.type === 'speech_ended') setStatus('Listening');
}

/** Learn why a WebSocket upgrade failed (browsers do not say): ask the same URL over HTTP. */
async function explainRefusal(query) {
  try {
    const res = await fetch(`${API_PATH}?${query}`, { headers: { authorization: `Bearer ${apiKey()}` } });
    if (res.status === 426) return 'the connection failed';
    const body = await res.json().catch(() => ({}));
    return `HTTP ${res.status}: ${body.message || body.error || res.statusText}`;
  } catch {
    return 'the server is unreachable';
  }
}

async function openAudio() {
  const stream = await navigator.mediaDevices.getUserMedia({
    // The recognizer wants the raw voice: browser voice processing is tuned for calls, not ASR.
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  let ctx;
  let source;
  try {
    ctx = new AudioContext({ sampleRate: TARGET_RATE, latencyHint: 'interactive' });
    source = ctx.createMediaStreamSource(stream);
  } catch {
    // Some browsers cannot connect a mic to a context at another rate: resample in the worklet.
    if (ctx) ctx.close();
    ctx = new AudioContext({ latencyHint: 'interactive' });
    source = ctx.createMediaStreamSource(stream);
  }
  await ctx.audioWorklet.addModule('/web/pcm-worklet.js');
  const node = new AudioWorkletNode(ctx, 'pcm16-writer', {
    numberOfInputs: 1,
    numberOfOutputs: 1,
    channelCount: 1,
    channelCountMode: 'explicit',
    processorOptions: { targetRate: TARGET_RATE, frameSamples: FRAME_SAMPLES },
  });
  // A silent path to the destination keeps the graph pulling the worklet.
  const mute = new GainNode(ctx, { gain: 0 });
  source.connect(node).connect(mute).connect(ctx.destination);
  await ctx.resume();
  return { stream, ctx, node, source };
}

async function start() {
  showError('');
  if (!apiKey()) {
    showError('Enter an API key first.');
    ui.key.focus();
    return;
  }
  ui.mic.disabled = true;
  setStatus('Connecting…');
  const params = new URLSearchParams({
    language: ui.language.value,
    encoding: 'linear16',
    sample_rate: String(TARGET_RATE),
    word_timestamps: 'true',
  });
  const query = params.toString();
  // The key goes in the WebSocket URL only: browsers cannot send headers on the handshake.
  const wsUrl = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${API_PATH}?${query}&token=${encodeURIComponent(apiKey())}`;
  const session = { ws: null, audio: null, pending: [], stopping: false, opened: false };
  live = session;
  let resolveClosed;
  session.closed = new Promise((r) => (resolveClosed = r));
  try {
    const ws = new WebSocket(wsUrl);
    ws.binaryType = 'arraybuffer';
    session.ws = ws;
    ws.onopen = () => {
      session.opened = true;
      for (const buf of session.pending.splice(0)) ws.send(buf);
      setStatus('Listening');
    };
    ws.onmessage = (e) => {
      try {
        onEvent(JSON.parse(e.data));
      } catch {
        /* not JSON */
      }
    };
    ws.onclose = async (e) => {
      if (!session.opened) showError(`Could not connect: ${await explainRefusal(query)}`);
      else if (e.code !== 1000) showError(`Connection closed (${e.code}${e.reason ? `: ${e.reason}` : ''})`);
      teardown(session);
      resolveClosed();
    };
    session.audio = await openAudio();
    session.audio.node.port.onmessage = (e) => {
      const { pcm, rms } = e.data;
      if (e.data.flushed) session.onFlushed?.();
      if (!pcm) return;
      ui.level.value = Math.min(1, rms * 4);
      if (session.stopping) return;
      if (ws.readyState === WebSocket.OPEN) ws.send(pcm);
      else if (ws.readyState === WebSocket.CONNECTING) session.pending.push(pcm);
    };
    ui.mic.textContent = 'Stop microphone';
    ui.mic.setAttribute('aria-pressed', 'true');
    ui.finalize.disabled = false;
  } catch (err) {
    showError(err && err.name === 'NotAllowedError' ? 'Microphone access was denied.' : `Could not start: ${err.message || err}`);
    session.ws?.close(1000);
    teardown(session);
  } finally {
    ui.mic.disabled = false;
  }
}

function teardown(session) {
  if (session.audio) {
    session.audio.stream.getTracks().forEach((t) => t.stop());
    session.audio.ctx.close().catch(() => {});
    session.audio = null;
  }
  if (live === session) live = null;
  ui.mic.textContent = 'Start microphone';
  ui.mic.setAttribute('aria-pressed', 'false');
  ui.finalize.disabled = true;
  ui.level.value = 0;
  ui.partial.textContent = '';
  setStatus('Idle.');
}

async function stop() {
  const session = live;
  if (!session || session.stopping) return;
  session.stopping = true;
  setStatus('Finishing…');
  ui.mic.disabled = true;
  // Send what the worklet still holds, then close_stream; the server answers with the last final.
  if (session.audio) {
    await new Promise((r) => {
      session.onFlushed = r;
      session.stopping = false;
      session.audio.node.port.postMessage('flush');
      setTimeout(r, 500);
    });
    session.stopping = true;
    session.audio.stream.getTracks().forEach((t) => t.stop());
  }
  if (session.ws && session.ws.readyState === WebSocket.OPEN) session.ws.send(JSON.stringify({ type: 'close_stream' }));
  else session.ws?.close();
  await Promise.race([session.closed, new Promise((r) => setTimeout(r, 15000))]);
  teardown(session);
  ui.mic.disabled = false;
  ui.mic.focus();
}

ui.mic.addEventListener('click', () => (live ? stop() : start()));
ui.finalize.addEventListener('click', () => {
  if (live?.ws?.readyState === WebSocket.OPEN) live.ws.send(JSON.stringify({ type: 'finalize' }));
});

// ---- Batch upload ----------------------------------------------------------------------------
function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
}

ui.upload.addEventListener('submit', async (e) => {
  e.preventDefault();
  showError('');
  const file = ui.file.files && ui.file.files[0];
  if (!file) return showError('Choose an audio file first.');
  if (!apiKey()) {
    showError('Enter an API key first.');
    return ui.key.focus();
  }
  ui.uploadBtn.disabled = true;
  ui.batchStatus.textContent = `Transcribing ${file.name}…`;
  ui.batchResult.replaceChildren();
  const t0 = performance.now();
  try {
    const q = new URLSearchParams({ language: ui.language.value, word_timestamps: 'true' });
    const res = await fetch(`${API_PATH}?${q}`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${apiKey()}`,
        'content-type': file.type || 'application/octet-stream',
        'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(file.name)}`,
      },
      body: file,
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${body.message || body.error || res.statusText}`);
    const secs = (performance.now() - t0) / 1000;
    ui.batchStatus.textContent = `${file.name}: ${body.metadata?.duration?.toFixed(1) ?? '?'} s of audio in ${secs.toFixed(1)} s.`;
    const p = document.createElement('p');
    p.className = 'transcript';
    p.textContent = body.transcription || '(no speech recognised)';
    ui.batchResult.append(p);
    if (Array.isArray(body.utterances) && body.utterances.length) {
      const table = document.createElement('table');
      const cap = document.createElement('caption');
      cap.textContent = 'Utterances';
      const head = document.createElement('tr');
      for (const h of ['Start', 'End', 'Text']) {
        const th = document.createElement('th');
        th.scope = 'col';
        th.textContent = h;
        head.append(th);
      }
      table.append(cap, head);
      for (const u of body.utterances) {
        const tr = document.createElement('tr');
        cell(tr, fmt(u.start), 'num');
        cell(tr, fmt(u.end), 'num');
        cell(tr, u.text);
        table.append(tr);
      }
      ui.batchResult.append(table);
    }
  } catch (err) {
    ui.batchStatus.textContent = '';
    showError(`Transcription failed: ${err.message || err}`);
  } finally {
    ui.uploadBtn.disabled = false;
  }
});
