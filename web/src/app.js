// The upload page: Uppy's dashboard sends files over tus to /v1/uploads; each drop becomes a batch, followed
// live over its event stream until it completes; processed items show their thumbnail, failed ones their reason.
// The key is typed once and kept in this tab's session storage; every request carries it.
import Uppy from '@uppy/core';
import Dashboard from '@uppy/dashboard';
import Tus from '@uppy/tus';
import '@uppy/core/css/style.min.css';
import '@uppy/dashboard/css/style.min.css';
import './app.css';

const KEY = 'mediamill-key';
const key = () => sessionStorage.getItem(KEY) || '';
const keyInput = document.getElementById('key');
const keyState = document.getElementById('key-state');
keyInput.value = key();
keyState.textContent = key() ? 'key set' : 'enter a key first';
document.getElementById('key-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(KEY, keyInput.value.trim());
  keyState.textContent = 'key set';
});

// A call to the API with the key; an error answer becomes an Error with the server's message.
async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${key()}`, ...(options.body ? { 'Content-Type': 'application/json' } : {}) };
  const r = await fetch(path, { ...options, headers });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body?.error?.message || `${r.status} ${r.statusText}`);
  return body;
}

// Follows a server-sent event stream read with fetch (EventSource cannot send the key), calling onEvent(type, data)
// for each event until the server ends the stream.
async function follow(path, onEvent) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${key()}`, Accept: 'text/event-stream' } });
  if (!r.ok || !r.body) throw new Error(`${path}: ${r.status}`);
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      let data = '';
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data += line.slice(5).trim();
      }
      try { onEvent(type, JSON.parse(data)); } catch { /* a comment or keep-alive */ }
    }
  }
}

const counts = (v) => v?.counts || v?.data?.counts;

// One section per batch: its progress, then a grid of its items.
function batchSection(id, n) {
  const s = document.createElement('div');
  s.className = 'batch';
  s.dataset.batch = id;
  s.dataset.status = 'uploading';
  s.innerHTML = `<h2>Batch <code></code>: <span class="state">uploading ${n} file(s)</span></h2>
    <progress max="${n}" value="0"></progress><div class="grid"></div>`;
  s.querySelector('code').textContent = id;
  document.getElementById('batches').prepend(s);
  return s;
}

async function showItems(section, id) {
  const b = await api(`/v1/batches/${id}?limit=1000`);
  const grid = section.querySelector('.grid');
  grid.replaceChildren();
  for (const item of b.items || []) {
    const cell = document.createElement('figure');
    cell.className = `item ${item.state}`;
    const caption = document.createElement('figcaption');
    caption.textContent = item.state === 'failed' ? `${item.filename || 'file'}: ${item.reason}: ${item.message || ''}` : item.filename || '';
    if (item.state === 'processed' && item.media_id) {
      const img = document.createElement('img');
      img.alt = item.filename || '';
      img.className = 'thumb';
      // Variants need the key: fetched with it and shown from a blob.
      fetch(`/v1/media/${item.media_id}/variants/thumb`, { headers: { Authorization: `Bearer ${key()}` } })
        .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
        .then((blob) => { img.src = URL.createObjectURL(blob); img.dataset.loaded = 'true'; })
        .catch(() => { img.alt = `${item.filename}: no thumbnail`; });
      cell.append(img);
    }
    cell.append(caption);
    grid.append(cell);
  }
}

async function watchBatch(section, id) {
  const state = section.querySelector('.state');
  const bar = section.querySelector('progress');
  section.dataset.status = 'processing';
  state.textContent = 'processing';
  await follow(`/v1/batches/${id}/events`, (type, data) => {
    const c = counts(data);
    if (c) {
      const total = data.total ?? data.data?.total ?? c.uploaded + c.processing + c.processed + c.failed;
      bar.max = total;
      bar.value = c.processed + c.failed;
      state.textContent = `${c.processed} processed, ${c.failed} failed of ${total}`;
    }
  });
  section.dataset.status = 'completed';
  state.textContent = `completed: ${state.textContent}`;
  await showItems(section, id);
}

const uppy = new Uppy({ autoProceed: false })
  .use(Dashboard, {
    inline: true,
    target: '#drop',
    height: 320,
    fileManagerSelectionType: 'both',
    hideUploadButton: true,
    proudlyDisplayPoweredByUppy: false,
  })
  .use(Tus, {
    endpoint: '/v1/uploads',
    headers: () => ({ Authorization: `Bearer ${key()}` }),
    chunkSize: 8 * 1024 * 1024,
    retryDelays: [0, 1000, 3000, 5000],
    allowedMetaFields: ['name', 'batch_id'],
    removeFingerprintOnSuccess: true,
  });

// Each drop: a batch, its files uploaded with the batch's id in their metadata, the batch sealed and followed.
uppy.on('files-added', async (files) => {
  if (!key()) {
    keyState.textContent = 'enter a key first';
    return;
  }
  let section;
  try {
    const b = await api('/v1/batches', { method: 'POST', body: JSON.stringify({ name: `drop of ${files.length} file(s)` }) });
    for (const f of files) uppy.setFileMeta(f.id, { batch_id: b.id });
    section = batchSection(b.id, files.length);
    await uppy.upload();
    await api(`/v1/batches/${b.id}/seal`, { method: 'POST', body: '{}' });
    await watchBatch(section, b.id);
  } catch (e) {
    if (section) {
      section.dataset.status = 'error';
      section.querySelector('.state').textContent = `error: ${e.message}`;
    } else {
      keyState.textContent = `error: ${e.message}`;
    }
  }
});
