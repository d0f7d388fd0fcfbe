// Upload from the browser: tus (resumable) to /api/v1/uploads with the signed-in session.
// An interrupted upload (dropped connection, reload, server restart) resumes from the
// bytes the server has, found again by the file's fingerprint in this browser.
'use strict';
(() => {
  const panel = document.getElementById('upload');
  if (!panel || !window.tus || !window.tus.isSupported) return;
  panel.hidden = false;
  const input = document.getElementById('upload-file');
  const drop = document.getElementById('drop');
  const list = document.getElementById('upload-list');
  const maxBytes = Number(panel.dataset.maxBytes) || Infinity;

  const human = (n) => {
    const units = ['B', 'KB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
    // As the server's `size::format`: a tenth, without a trailing `.0`.
    return `${i ? n.toFixed(1).replace(/\.0$/, '') : n} ${units[i]}`;
  };

  /** The API's own message from a failed tus request, else a plain one. */
  const reason = (err) => {
    const res = err && err.originalResponse;
    if (res) {
      try {
        const body = JSON.parse(res.getBody());
        if (body && body.error && body.error.message) return body.error.message;
      } catch (_) { /* not JSON */ }
      return `the server answered ${res.getStatus()}`;
    }
    return 'the connection failed; it will resume when you choose the file again';
  };

  function start(file) {
    const item = document.createElement('li');
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = file.name;
    const bar = document.createElement('progress');
    bar.max = 100;
    bar.value = 0;
    const text = document.createElement('span');
    text.className = 'state';
    const pause = document.createElement('button');
    pause.type = 'button';
    pause.textContent = 'Pause';
    item.append(name, ' ', bar, ' ', text, ' ', pause);
    list.prepend(item);

    if (file.size > maxBytes) {
      bar.remove();
      pause.remove();
      item.classList.add('failed');
      text.textContent = `too large: ${human(file.size)}; uploads may be at most ${human(maxBytes)}`;
      return;
    }
    let running = true;
    const upload = new tus.Upload(file, {
      endpoint: '/api/v1/uploads',
      headers: { 'x-csrf-token': window.marquee.csrfToken() },
      chunkSize: 8 * 1024 * 1024,
      retryDelays: [0, 1000, 3000, 5000, 10000, 20000],
      removeFingerprintOnSuccess: true,
      metadata: { filename: file.name, filetype: file.type || 'application/octet-stream' },
      onProgress: (sent, total) => {
        const pct = total ? Math.floor((sent / total) * 100) : 0;
        bar.value = pct;
        text.textContent = `${pct}% · ${human(sent)} of ${human(total)}`;
      },
      onSuccess: () => {
        bar.value = 100;
        pause.remove();
        item.classList.add('done');
        text.textContent = 'uploaded; transcoding starts below';
        window.marquee.watchLive(true);
      },
      onError: (err) => {
        running = false;
        pause.textContent = 'Resume';
        item.classList.add('failed');
        text.textContent = `stopped: ${reason(err)}`;
      },
    });
    pause.addEventListener('click', () => {
      if (running) {
        upload.abort();
        running = false;
        pause.textContent = 'Resume';
        text.textContent += ' (paused)';
      } else {
        item.classList.remove('failed');
        running = true;
        pause.textContent = 'Pause';
        upload.start();
      }
    });
    upload.findPreviousUploads().then((previous) => {
      if (previous.length) {
        upload.resumeFromPreviousUpload(previous[0]);
        text.textContent = 'resuming…';
      }
      upload.start();
    });
  }

  input.addEventListener('change', () => {
    for (const file of input.files) start(file);
    input.value = '';
  });
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    for (const file of ev.dataTransfer.files) start(file);
  });
})();
