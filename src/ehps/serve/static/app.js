// The page of `ehps serve`: upload, progress, cancel, then overlay + 3D viewer + downloads.
// Talks only to this server (see ehps/serve/app.py for the API). Text from the server or from
// file names is always set with textContent, never parsed as HTML.
import { Viewer } from './viewer.js';

const $ = (id) => document.getElementById(id);
const state = { config: null, job: null, poll: null, viewer: null, fps: 0, frames: 1,
  playing: false, xhr: null };
window.ehps = state;  // for the browser tests and the curious

function fmtBytes(n) {
  if (n == null) return '';
  return n > 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} kB`;
}
function fmtSeconds(s) {
  if (s == null) return '';
  return s >= 90 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

function showError(title, message) {
  const box = $('error');
  box.replaceChildren();
  const strong = document.createElement('strong');
  strong.textContent = title;
  box.append(strong, document.createTextNode(message));
  box.hidden = false;
}
function clearError() { $('error').hidden = true; $('error').replaceChildren(); }

async function loadConfig() {
  const res = await fetch('/api/config');
  state.config = await res.json();
  const sel = $('estimator');
  for (const e of state.config.estimators) {
    const opt = document.createElement('option');
    opt.value = e.id;
    opt.textContent = e.label;
    sel.append(opt);
  }
  const l = state.config.limits;
  $('limits').textContent = `Images up to ${(l.max_pixels / 1e6).toFixed(0)} megapixels, videos up `
    + `to ${l.max_video_s} s and ${l.max_video_frames} frames, files up to ${l.max_upload_mb} MB. `
    + 'Files stay on this machine and are deleted '
    + `${Math.round(l.result_ttl_s / 60)} min after the job ends.`;
  $('version').textContent = state.config.version;
}

function resetResult() {
  $('result').hidden = true;
  $('overlay').replaceChildren();
  $('downloads').replaceChildren();
  $('legend').replaceChildren();
  $('viewer').replaceChildren();
  $('viewer-note').textContent = '';
  $('timeline').hidden = true;
  state.viewer = null;
  state.playing = false;
}

function upload(file) {
  clearError();
  resetResult();
  if (state.poll) clearTimeout(state.poll);
  const limits = state.config.limits;
  $('job').hidden = false;
  $('job-name').textContent = file.name;
  $('job-detail').textContent = '';
  if (!window.ehpsSkipClientChecks && file.size > limits.max_upload_mb * 2 ** 20) {
    rejected('rejected');
    showError('File too large. ', `${file.name} is ${fmtBytes(file.size)}; this server takes `
      + `at most ${limits.max_upload_mb} MB.`);
    return;
  }
  const est = encodeURIComponent($('estimator').value);
  const xhr = new XMLHttpRequest();
  state.xhr = xhr;
  xhr.open('POST', `/api/jobs?estimator=${est}&name=${encodeURIComponent(file.name)}`);
  xhr.setRequestHeader('Content-Type', 'application/octet-stream');
  xhr.upload.onprogress = (ev) => {
    if (!ev.lengthComputable) return;
    $('bar').max = 1;
    $('bar').value = ev.loaded / ev.total;
    setStatus(`uploading ${Math.round(100 * ev.loaded / ev.total)}%`);
  };
  xhr.onload = () => {
    state.xhr = null;
    let body = {};
    try { body = JSON.parse(xhr.responseText); } catch { /* not JSON */ }
    if (xhr.status === 202) { history.replaceState(null, '', `#job=${body.id}`); track(body); return; }
    const err = body.error || { message: `HTTP ${xhr.status}` };
    rejected(xhr.status === 429 ? 'busy' : 'rejected', xhr.status === 429);
    showError(xhr.status === 429 ? 'The server is busy. ' : 'The file was not accepted. ',
      err.message);
  };
  xhr.onerror = () => {
    state.xhr = null;
    rejected('rejected');
    showError('Upload failed. ', 'The connection was closed (is the file larger than the '
      + `server's limit of ${limits.max_upload_mb} MB, or did the server stop?).`);
  };
  setStatus('uploading');
  $('cancel').hidden = false;
  xhr.send(file);
}

function rejected(text, busy = false) {
  setStatus(text, busy);
  $('bar').value = 0;
  $('cancel').hidden = true;
}

function setStatus(text, busy = false) {
  const el = $('job-status');
  el.textContent = text;
  el.classList.toggle('busy', busy);
}

function track(job) {
  state.job = job;
  render(job);
  if (['done', 'error', 'cancelled'].includes(job.status)) return finished(job);
  state.poll = setTimeout(async () => {
    try {
      const res = await fetch(`/api/jobs/${job.id}`);
      const body = await res.json();
      if (!res.ok) throw new Error(body.error ? body.error.message : `HTTP ${res.status}`);
      track(body);
    } catch (err) {
      setStatus('lost');
      showError('Lost the job. ', err.message);
    }
  }, 500);
}

function render(job) {
  const bar = $('bar');
  const detail = [];
  if (job.status === 'queued') {
    setStatus(`busy: queued, position ${job.position}`, true);
    bar.removeAttribute('value');
  } else if (job.status === 'running') {
    setStatus(job.stage && job.stage !== 'running' ? job.stage : 'running');
    bar.max = Math.max(job.frames_total, 1);
    bar.value = job.frames_done;
  } else {
    setStatus(job.status);
    bar.max = 1;
    bar.value = job.status === 'done' ? 1 : 0;
  }
  if (job.status === 'running' || job.status === 'done') {
    detail.push(`frames ${job.frames_done} / ${job.frames_total || '?'}`);
    detail.push(`${job.people} ${job.people === 1 ? 'person' : 'people'} found`);
    if (job.status === 'running') {
      detail.push(job.eta_s != null ? `about ${fmtSeconds(job.eta_s)} left` : 'estimating time');
    }
    detail.push(`${fmtSeconds(job.elapsed_s)} elapsed`);
  }
  $('job-detail').textContent = detail.join(' \u00b7 ');
  $('cancel').hidden = !['queued', 'running'].includes(job.status);
}

async function finished(job) {
  $('cancel').hidden = true;
  if (job.status === 'error') {
    showError('The job failed. ', job.error ? job.error.message : 'unknown error');
    return;
  }
  if (job.status !== 'done') return;
  const res = await fetch(`/api/jobs/${job.id}/result`);
  if (!res.ok) { showError('No result. ', `HTTP ${res.status}`); return; }
  const result = await res.json();
  state.result = result;
  await showResult(result);
}

async function showResult(result) {
  const scene = result.scene;
  $('result').hidden = false;
  state.fps = scene.fps || 0;
  state.frames = Math.max(scene.frames || 1, 1);
  // overlay
  const ov = $('overlay');
  if (scene.overlay && scene.overlay.type === 'video') {
    const v = document.createElement('video');
    v.src = scene.overlay.url;
    v.muted = true;
    v.playsInline = true;
    v.preload = 'auto';
    v.dataset.testid = 'overlay-video';
    ov.append(v);
    state.video = v;
  } else if (scene.overlay) {
    const img = document.createElement('img');
    img.src = scene.overlay.url;
    img.alt = 'overlay of the estimated people on the input';
    img.dataset.testid = 'overlay-image';
    ov.append(img);
    state.video = null;
  } else {
    ov.textContent = 'no overlay (the estimator gave no meshes)';
  }
  // legend and downloads
  for (const p of scene.people) {
    const item = document.createElement('span');
    const sw = document.createElement('span');
    sw.className = 'swatch';
    sw.style.background = p.color;
    item.append(sw, document.createTextNode(`person ${p.id}`));
    $('legend').append(item);
  }
  for (const d of result.downloads) {
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = d.url + (d.url.includes('/files/') ? '?download=1' : '');
    a.download = d.name;
    a.textContent = d.label;
    a.dataset.group = d.group;
    li.append(a);
    if (d.bytes != null) {
      const s = document.createElement('span');
      s.className = 'size';
      s.textContent = fmtBytes(d.bytes);
      li.append(s);
    }
    $('downloads').append(li);
  }
  const s = result.job.summary || {};
  const failed = (s.failures || []).length;
  $('summary').textContent = `${s.estimator || ''}: ${s.frames_done} frame(s) in `
    + `${fmtSeconds(s.seconds)}${failed ? `, ${failed} frame(s) could not be read` : ''}.`;
  // 3D
  try {
    state.viewer = new Viewer($('viewer'), $('viewer-note'));
    await state.viewer.load(scene);
  } catch (err) {
    $('viewer-note').textContent = `3D view unavailable: ${err.message}`;
  }
  if (scene.kind === 'video') setupTimeline();
  document.body.dataset.ready = '1';
}

// ---- timeline: the overlay video is the clock; the viewer follows its presented frames.
function frameAt(t) { return Math.min(state.frames - 1, Math.max(0, Math.floor(t * state.fps + 1e-3))); }

function showFrame(i) {
  $('scrub').value = i;
  $('frame').textContent = `frame ${i + 1} / ${state.frames}`;
  state.frame = i;
  if (state.viewer) state.viewer.setFrame(i);
}

function setupTimeline() {
  $('timeline').hidden = false;
  const scrub = $('scrub');
  scrub.max = state.frames - 1;
  const v = state.video;
  const fps = state.fps || 10;
  let clock = null;  // without an overlay video: a timer
  const follow = () => {
    if (!v) return;
    if (v.requestVideoFrameCallback) {
      v.requestVideoFrameCallback((now, meta) => { showFrame(frameAt(meta.mediaTime)); follow(); });
    }
  };
  follow();
  if (v) {
    v.addEventListener('timeupdate', () => { if (!v.requestVideoFrameCallback) showFrame(frameAt(v.currentTime)); });
    v.addEventListener('ended', () => setPlaying(false));
    v.addEventListener('seeked', () => showFrame(frameAt(v.currentTime)));
  }
  const setPlaying = (on) => {
    state.playing = on;
    $('play').textContent = on ? 'Pause' : 'Play';
    if (v) {
      if (on) {
        if (state.frame >= state.frames - 1) v.currentTime = 0;
        v.play().catch(() => setPlaying(false));
      } else v.pause();
    } else if (on) {
      clock = setInterval(() => {
        const i = state.frame + 1;
        if (i >= state.frames) { setPlaying(false); return; }
        showFrame(i);
      }, 1000 / fps);
    } else if (clock) { clearInterval(clock); clock = null; }
  };
  $('play').onclick = () => setPlaying(!state.playing);
  scrub.oninput = () => {
    setPlaying(false);
    const i = Number(scrub.value);
    if (v) v.currentTime = (i + 0.5) / fps;
    showFrame(i);
  };
  showFrame(0);
}

function setupDrop() {
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]);
  });
  $('file').addEventListener('change', (e) => {
    if (e.target.files.length) upload(e.target.files[0]);
    e.target.value = '';
  });
  $('cancel').addEventListener('click', async () => {
    if (state.xhr) { state.xhr.abort(); state.xhr = null; setStatus('cancelled'); $('cancel').hidden = true; return; }
    if (!state.job) return;
    await fetch(`/api/jobs/${state.job.id}/cancel`, { method: 'POST' });
  });
  $('reset-view').addEventListener('click', () => state.viewer && state.viewer.resetView());
}

// A page opened (or reloaded) at #job=ID follows that job: a reload loses nothing.
async function resume() {
  const m = /^#job=([A-Za-z0-9_-]{22})$/.exec(location.hash);
  if (!m) return;
  const res = await fetch(`/api/jobs/${m[1]}`);
  if (!res.ok) { history.replaceState(null, '', '#'); return; }
  const job = await res.json();
  $('job').hidden = false;
  $('job-name').textContent = job.name;
  track(job);
}

setupDrop();
loadConfig().then(resume).catch((err) => showError('The server did not answer. ', err.message));
