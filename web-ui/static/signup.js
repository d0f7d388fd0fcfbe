// The sign-up form's proof of work (ALTCHA's scheme): find the number n below max with
// SHA-256(salt + n) = challenge, with the browser's own WebCrypto, and send it with the
// form. No request leaves for anywhere but this site.
(function () {
  'use strict';
  var form = document.getElementById('signup-form');
  if (!form || !window.crypto || !crypto.subtle) return;
  var salt = form.dataset.salt, challenge = form.dataset.challenge;
  var max = parseInt(form.dataset.max, 10) || 0;
  var field = document.getElementById('pow-number');
  var status = document.getElementById('pow-status');
  var encoder = new TextEncoder();
  var submitting = false;

  function hex(buffer) {
    var bytes = new Uint8Array(buffer), out = '';
    for (var i = 0; i < bytes.length; i++) out += (bytes[i] < 16 ? '0' : '') + bytes[i].toString(16);
    return out;
  }

  async function solve() {
    // In batches, so the page stays responsive.
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

  solve().then(function (n) {
    if (n === null) {
      status.textContent = 'The check did not finish; reload the page and try again.';
      return;
    }
    field.value = String(n);
    form.dataset.solved = 'yes';
    if (submitting) form.submit();
  });

  form.addEventListener('submit', function (event) {
    if (field.value) return;
    event.preventDefault();
    submitting = true;
    status.textContent = 'Checking that you are a person…';
  });
})();
