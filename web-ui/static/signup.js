// The sign-up form's proof of work (ALTCHA's scheme): find the number n below max with
// SHA-256(salt + n) = challenge, with the browser's own WebCrypto, and send it with the
// form. No request leaves for anywhere but this site. The search runs in a worker made
// from this same file, so the page stays responsive while it works (tens of thousands of
// hashes); where a worker cannot start, it runs on the page in batches.
(function () {
  'use strict';

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = '';
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return out;
  }

  async function solve(salt, challenge, max) {
    var encoder = new TextEncoder();
    for (var start = 0; start <= max; start += 500) {
      var batch = [];
      for (var n = start; n < start + 500 && n <= max; n++) {
        batch.push(crypto.subtle.digest('SHA-256', encoder.encode(salt + n)));
      }
      var digests = await Promise.all(batch);
      for (var i = 0; i < digests.length; i++) {
        if (hex(digests[i]) === challenge) return start + i;
      }
    }
    return null;
  }

  // Inside the worker: one search per message.
  if (typeof document === 'undefined') {
    self.onmessage = function (event) {
      var d = event.data;
      solve(d.salt, d.challenge, d.max).then(function (n) { self.postMessage(n); });
    };
    return;
  }

  var form = document.getElementById('signup-form');
  if (!form || !window.crypto || !crypto.subtle) return;
  var task = { salt: form.dataset.salt, challenge: form.dataset.challenge, max: parseInt(form.dataset.max, 10) || 0 };
  var field = document.getElementById('pow-number');
  var status = document.getElementById('pow-status');
  var submitting = false;

  function found(n) {
    if (n === null) {
      status.textContent = 'The check did not finish; reload the page and try again.';
      return;
    }
    field.value = String(n);
    form.dataset.solved = 'yes';
    if (submitting) form.submit();
  }

  function onPage() { solve(task.salt, task.challenge, task.max).then(found); }

  var script = document.currentScript;
  try {
    var worker = new Worker(script.src);
    worker.onmessage = function (event) { found(event.data); worker.terminate(); };
    worker.onerror = function () { worker.terminate(); onPage(); };
    worker.postMessage(task);
  } catch (e) {
    onPage();
  }

  form.addEventListener('submit', function (event) {
    if (field.value) return;
    event.preventDefault();
    submitting = true;
    status.textContent = 'Checking that you are a person…';
  });
})();
