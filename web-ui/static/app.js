// Marquee's player: hls.js where Media Source Extensions exist, the browser's own HLS
// (Safari) otherwise. Quality, subtitle and speed menus, picture in picture and AirPlay
// where the browser offers them, thumbnail previews on the seek bar, keyboard shortcuts,
// and resuming where the viewer left off.
(() => {
  'use strict';
  const root = document.getElementById('player');
  if (!root) return;

  const video = document.getElementById('video');
  const seek = document.getElementById('seek');
  const quality = document.getElementById('quality');
  const captions = document.getElementById('captions');
  const preview = root.querySelector('.preview');
  const button = (action) => root.querySelector(`[data-action="${action}"]`);
  const src = root.dataset.src;
  const resumeKey = `marquee:resume:${root.dataset.asset}`;
  // Tests and power users reach the player here.
  const state = { hls: null, video, errors: [], switched: null };
  window.marquee = state;

  const clock = (t) => {
    t = Math.max(0, Math.floor(t || 0));
    const h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, s = String(t % 60).padStart(2, '0');
    return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
  };
  const showError = (message) => {
    const box = document.getElementById('error');
    box.textContent = message;
    box.hidden = false;
    state.errors.push(message);
  };

  // Where the player starts. Signed in (the page carries a CSRF token): where the server
  // says, by the rule the title page's "Resume from" uses (data-resume; none: the start).
  // Signed out: where this browser stopped, by the same rule (data-resumable-from,
  // data-finished-at).
  const signedIn = !!document.querySelector('meta[name="csrf"]');
  const resumeAt = () => {
    if (signedIn) return parseFloat(root.dataset.resume || '0') || 0;
    let at = 0;
    try { at = parseFloat(localStorage.getItem(resumeKey) || '0') || 0; } catch (_) { /* private mode */ }
    const total = parseFloat(root.dataset.duration || '0');
    const from = parseFloat(root.dataset.resumableFrom || '0');
    const finished = parseFloat(root.dataset.finishedAt || '1');
    return at >= from && (!total || at < total * finished) ? at : 0;
  };
  state.startAt = resumeAt();

  // --- start-up -----------------------------------------------------------------------
  // The first segment decides how soon a picture shows: start on the best rendition that
  // fits the bandwidth hls.js measured in this browser last time (else the network's own
  // estimate, else a modest guess), at the resume position, so nothing is fetched twice.
  const bandwidthKey = 'marquee:bandwidth';
  function bandwidthGuess() {
    let saved = 0;
    try { saved = Number(localStorage.getItem(bandwidthKey) || 0); } catch (_) { /* private mode */ }
    if (saved > 0) return saved;
    const downlink = navigator.connection && navigator.connection.downlink; // Mbit/s
    return downlink > 0 ? downlink * 1e6 : 1.5e6;
  }
  function startLevel(levels, bandwidth) {
    const fitting = levels
      .map((level, index) => ({ bitrate: level.bitrate, index }))
      .filter((l) => l.bitrate <= bandwidth * 0.7)
      .sort((a, b) => b.bitrate - a.bitrate);
    if (fitting.length) return fitting[0].index;
    return levels.reduce((low, level, index) => (level.bitrate < levels[low].bitrate ? index : low), 0);
  }

  // Arrived by a "Play" link: start at once (where the browser refuses, the play button
  // is there). The address bar keeps the plain watch URL, for sharing.
  const params = new URLSearchParams(location.search);
  const autoplay = params.get('autoplay') === '1';
  if (autoplay) {
    params.delete('autoplay');
    const rest = params.toString();
    history.replaceState(history.state, '', location.pathname + (rest ? `?${rest}` : '') + location.hash);
  }
  const autoStart = () => { if (autoplay) video.play().catch(() => { /* blocked: wait for a click */ }); };

  // --- pass -------------------------------------------------------------------------
  // Premium media plays under a token that expires (data-pass-expires): the player asks
  // the watch page for a fresh one before then, and every later request goes out under it
  // (xhrSetup rewrites the path's first segment, which every relative URI inherited).
  const csrfMeta = document.querySelector('meta[name="csrf"]');
  let prefix = null; // '/p/<token>/<asset>/' once renewed
  let passExpires = Number(root.dataset.passExpires || 0);
  let renewing = null;
  function renewPass() {
    if (renewing) return renewing;
    renewing = fetch(`/watch/${encodeURIComponent(root.dataset.asset)}/pass`, {
      method: 'POST',
      headers: { 'x-csrf-token': csrfMeta ? csrfMeta.content : '' },
    }).then(async (r) => {
      const body = await r.json().catch(() => ({}));
      if (r.status === 403) {
        // The engine said no (a plan ended, a rental ran out): say why and stop.
        showError((body.error && body.error.message) || 'This title can no longer be played here.');
        if (state.hls) state.hls.stopLoad();
        video.pause();
        throw new Error('refused');
      }
      if (!r.ok) throw new Error(`renewal answered ${r.status}`);
      prefix = body.prefix;
      passExpires = body.expires_at || 0;
      state.pass = { prefix, expires: passExpires };
      scheduleRenewal();
    }).finally(() => { renewing = null; });
    return renewing;
  }
  function scheduleRenewal() {
    if (!passExpires) return;
    const left = passExpires * 1000 - Date.now();
    // A minute ahead, or at a fifth of what is left for short lifetimes.
    const wait = Math.max(1000, left - Math.min(60000, left / 5));
    setTimeout(() => renewPass().catch(() => setTimeout(() => renewPass().catch(() => {}), 10000)), wait);
  }
  scheduleRenewal();
  state.renewPass = renewPass;

  // --- heartbeats ---------------------------------------------------------------------
  // A signed-in player says it is running every 30 s from its first frame (paused too),
  // which counts it against the account's stream limit; a refusal (players all in use elsewhere, access
  // ended) stops it with the reason. Leaving the page frees the stream at once.
  const watchPath = `/watch/${encodeURIComponent(root.dataset.asset)}`;
  let beating = null;
  function beat() {
    return fetch(`${watchPath}/heartbeat`, { method: 'POST', headers: { 'x-csrf-token': csrfMeta.content } })
      .then(async (r) => {
        if (r.status !== 409 && r.status !== 403) return;
        const body = await r.json().catch(() => ({}));
        video.pause();
        if (state.hls) state.hls.stopLoad();
        showError((body.error && body.error.message) || 'Playback stopped.');
      })
      .catch(() => { /* offline: the next beat tells */ });
  }
  state.beat = beat;
  if (csrfMeta) {
    video.addEventListener('playing', () => {
      if (beating) return;
      beat();
      beating = setInterval(beat, 30000);
    });
    video.addEventListener('ended', () => { clearInterval(beating); beating = null; });
    window.addEventListener('pagehide', () => {
      fetch(`${watchPath}/stop`, { method: 'POST', keepalive: true, headers: { 'x-csrf-token': csrfMeta.content } }).catch(() => {});
    });
  }
  const withPass = (url) => {
    if (!prefix) return url;
    const u = new URL(url, location.href);
    if (u.origin !== location.origin) return url;
    const rest = u.pathname.match(/^\/p\/[^/]+\/[^/]+\/(.*)$/);
    return rest ? `${u.origin}${prefix}${rest[1]}${u.search}` : url;
  };

  // One random id per page view names this playback in beacons and in the CMCD data
  // hls.js sends with each media request, so the origin's figures join the player's.
  const playbackSession = (() => {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  })();

  // --- source -------------------------------------------------------------------------
  if (window.Hls && window.Hls.isSupported()) {
    const bandwidth = bandwidthGuess();
    const hls = new window.Hls({
      xhrSetup: (xhr, url) => {
        const current = withPass(url);
        if (current !== url) xhr.open('GET', current, true);
      },
      autoStartLoad: false,
      // Our packages are fMP4, which hls.js passes through without transmuxing: a worker
      // would only cost a second parse of hls.js (about 150 ms here) before the first frame.
      enableWorker: false,
      abrEwmaDefaultEstimate: bandwidth,
      capLevelToPlayerSize: true,
      startFragPrefetch: true,
      cmcd: { sessionId: playbackSession, contentId: root.dataset.asset },
    });
    state.hls = hls;
    hls.on(window.Hls.Events.MANIFEST_PARSED, (_, data) => {
      let start = startLevel(data.levels, bandwidth);
      // Never above what the player's size allows (capLevelToPlayerSize), or the first
      // segment would be fetched again smaller.
      if (hls.autoLevelCapping >= 0) start = Math.min(start, hls.autoLevelCapping);
      hls.startLevel = start;
      const at = resumeAt();
      hls.startLoad(at > 0 ? at : -1);
      autoStart();
      fillQuality();
      fillCaptions();
    });
    hls.on(window.Hls.Events.FRAG_LOADED, (_, data) => {
      // A fragment from the browser's cache says nothing about the network.
      const loading = data.frag && data.frag.stats && data.frag.stats.loading;
      if (!loading || loading.end - loading.start < 2 || !(hls.bandwidthEstimate > 0)) return;
      try { localStorage.setItem(bandwidthKey, String(Math.round(hls.bandwidthEstimate))); } catch (_) { /* private mode */ }
    });
    hls.on(window.Hls.Events.SUBTITLE_TRACKS_UPDATED, fillCaptions);
    hls.on(window.Hls.Events.LEVEL_SWITCHED, (_, data) => { state.switched = data.level; labelAuto(); });
    hls.on(window.Hls.Events.ERROR, (_, data) => {
      if (!data.fatal) return;
      state.errors.push(`${data.type}: ${data.details}`);
      const refused = data.response && data.response.code === 403;
      if (refused && passExpires) renewPass().then(() => hls.startLoad(), () => {});
      else if (data.type === window.Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
      else if (data.type === window.Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else { showError(`Playback failed (${data.details}).`); hls.destroy(); }
    });
    // The MediaSource opens while the master playlist (preloaded by the page) is parsed.
    hls.attachMedia(video);
    hls.loadSource(src);
  } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
    video.src = src;
    video.addEventListener('loadedmetadata', fillCaptions);
    autoStart();
  } else {
    showError('This browser cannot play HLS video.');
  }

  // --- playback beacons ---------------------------------------------------------------
  // How this playback went, for the operator's quality figures: numbered events, batched
  // and sent with sendBeacon every 10 s and when the page goes away (POST /beacon).
  (function beacons() {
    const session = playbackSession;
    const title = root.dataset.asset;
    const capped = (ms) => Math.min(Math.max(0, Math.round(ms)), 600000);
    let n = 0;
    let queue = [];
    let intentAt = null;
    let started = false;
    let left = false;
    let stalledAt = null;
    let completed = false;
    const push = (kind, fields = {}) => { queue.push({ kind, n: ++n, ...fields }); };
    const flush = () => {
      while (queue.length) {
        const body = JSON.stringify({ session, title, events: queue.slice(0, 100) });
        queue = queue.slice(100);
        if (!(navigator.sendBeacon && navigator.sendBeacon('/beacon', body))) {
          fetch('/beacon', { method: 'POST', body, keepalive: true }).catch(() => {});
        }
      }
    };
    const rendition = () => {
      const hls = state.hls;
      const level = hls && hls.levels[hls.currentLevel];
      return { height: (level && level.height) || video.videoHeight || 0, bitrate: (level && level.bitrate) || 0 };
    };
    const nav = performance.getEntriesByType('navigation')[0];
    push('page_load', { ms: capped(nav && nav.domContentLoadedEventEnd ? nav.domContentLoadedEventEnd : performance.now()) });
    video.addEventListener('play', () => {
      if (intentAt !== null) return;
      intentAt = performance.now();
      push('play_intent');
    });
    video.addEventListener('playing', () => {
      if (!started && intentAt !== null) {
        started = true;
        push('first_frame', { ms: capped(performance.now() - intentAt), height: rendition().height });
      }
      if (stalledAt !== null) {
        push('rebuffer', { ms: capped(performance.now() - stalledAt), height: rendition().height });
        stalledAt = null;
      }
    });
    video.addEventListener('waiting', () => {
      if (started && stalledAt === null && !video.seeking) stalledAt = performance.now();
    });
    video.addEventListener('timeupdate', () => {
      if (completed || !video.duration || video.currentTime < 0.9 * video.duration) return;
      completed = true;
      push('complete');
    });
    if (state.hls) {
      state.hls.on(window.Hls.Events.LEVEL_SWITCHED, () => push('switch', rendition()));
      state.hls.on(window.Hls.Events.ERROR, (_, d) => push('error', {
        fatal: !!d.fatal, type: String(d.type).slice(0, 64), details: String(d.details).slice(0, 128), height: rendition().height,
      }));
    }
    setInterval(() => {
      if (started && !video.paused) push('heartbeat', {
        position: Math.round(video.currentTime * 10) / 10,
        duration: Number.isFinite(video.duration) ? Math.round(video.duration * 10) / 10 : 0,
        ...rendition(),
      });
      flush();
    }, 10000);
    window.addEventListener('pagehide', () => {
      if (intentAt !== null && !started && !left) push('exit_before_start', { ms: capped(performance.now() - intentAt) });
      left = true;
      flush();
    });
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'hidden') flush(); });
    state.flushBeacons = flush;
    state.beaconSession = session;
  }());

  // --- quality ------------------------------------------------------------------------
  function fillQuality() {
    const levels = state.hls ? state.hls.levels : [];
    quality.hidden = levels.length < 2;
    levels
      .map((level, index) => ({ level, index }))
      .sort((a, b) => b.level.height - a.level.height)
      .forEach(({ level, index }) => quality.add(new Option(`${level.height}p`, String(index))));
  }
  function labelAuto() {
    const hls = state.hls;
    if (!hls || !hls.levels[hls.currentLevel]) return;
    quality.options[0].text = hls.autoLevelEnabled ? `Auto (${hls.levels[hls.currentLevel].height}p)` : 'Auto';
  }
  quality.addEventListener('change', () => { if (state.hls) state.hls.currentLevel = Number(quality.value); });

  // --- subtitles ----------------------------------------------------------------------
  const nativeTracks = () => Array.from(video.textTracks).filter((t) => t.kind === 'subtitles' || t.kind === 'captions');
  function fillCaptions() {
    while (captions.options.length > 1) captions.remove(1);
    const tracks = state.hls ? state.hls.subtitleTracks : nativeTracks();
    tracks.forEach((t, i) => captions.add(new Option(t.name || t.label || t.lang || t.language || `Track ${i + 1}`, String(i))));
    captions.hidden = tracks.length === 0;
  }
  function chooseCaptions(index) {
    captions.value = String(index);
    if (state.hls) {
      state.hls.subtitleTrack = index;
      state.hls.subtitleDisplay = index >= 0;
    } else {
      nativeTracks().forEach((t, i) => { t.mode = i === index ? 'showing' : 'disabled'; });
    }
  }
  captions.addEventListener('change', () => chooseCaptions(Number(captions.value)));

  // --- transport ----------------------------------------------------------------------
  const toggle = () => (video.paused ? video.play().catch(() => {}) : video.pause());
  const jump = (seconds) => { video.currentTime = Math.min(Math.max(0, video.currentTime + seconds), video.duration || 0); };
  const fullscreen = () => {
    if (document.fullscreenElement) document.exitFullscreen();
    else if (root.requestFullscreen) root.requestFullscreen();
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();
  };
  button('play').addEventListener('click', toggle);
  video.addEventListener('click', toggle);
  // The big button over the picture, while it is paused.
  const bigPlay = button('bigplay');
  bigPlay.addEventListener('click', toggle);
  const showBigPlay = () => { bigPlay.hidden = !video.paused; };
  ['play', 'pause', 'ended'].forEach((e) => video.addEventListener(e, showBigPlay));
  showBigPlay();
  button('mute').addEventListener('click', () => { video.muted = !video.muted; });
  button('fullscreen').addEventListener('click', fullscreen);
  video.addEventListener('play', () => { button('play').textContent = '❚❚'; button('play').ariaLabel = 'Pause'; });
  video.addEventListener('pause', () => { button('play').textContent = '▶'; button('play').ariaLabel = 'Play'; saveResume(); });
  video.addEventListener('volumechange', () => {
    const silent = video.muted || video.volume === 0;
    button('mute').querySelector('.on').hidden = silent;
    button('mute').querySelector('.off').hidden = !silent;
    button('mute').ariaLabel = silent ? 'Unmute' : 'Mute';
  });

  // --- speed, picture in picture, AirPlay, the settings fold ---------------------------
  const speed = document.getElementById('speed');
  const rates = Array.from(speed.options, (o) => Number(o.value));
  const setRate = (rate) => {
    // The default rate too, so a reload of the source (a quality switch) keeps it.
    video.defaultPlaybackRate = rate;
    video.playbackRate = rate;
  };
  const stepRate = (by) => {
    const at = rates.indexOf(video.playbackRate);
    const next = rates[Math.min(Math.max((at < 0 ? rates.indexOf(1) : at) + by, 0), rates.length - 1)];
    setRate(next);
  };
  speed.addEventListener('change', () => setRate(Number(speed.value)));
  video.addEventListener('ratechange', () => {
    if (rates.includes(video.playbackRate)) speed.value = String(video.playbackRate);
  });

  // Shown only where the browser can: the standard API, or Safari's presentation modes.
  const pip = button('pip');
  const standardPip = document.pictureInPictureEnabled && !video.disablePictureInPicture;
  const safariPip = typeof video.webkitSupportsPresentationMode === 'function'
    && video.webkitSupportsPresentationMode('picture-in-picture');
  pip.hidden = !(standardPip || safariPip);
  const togglePip = () => {
    if (standardPip) {
      if (document.pictureInPictureElement) document.exitPictureInPicture().catch(() => {});
      else video.requestPictureInPicture().catch(() => { /* no picture yet: nothing to float */ });
    } else if (safariPip) {
      video.webkitSetPresentationMode(video.webkitPresentationMode === 'picture-in-picture' ? 'inline' : 'picture-in-picture');
    }
  };
  pip.addEventListener('click', togglePip);
  const pipState = (on) => () => { pip.setAttribute('aria-pressed', String(on)); };
  video.addEventListener('enterpictureinpicture', pipState(true));
  video.addEventListener('leavepictureinpicture', pipState(false));
  state.togglePip = togglePip;

  // AirPlay: Safari says when a target is around; the button shows only then.
  const airplay = button('airplay');
  if (window.WebKitPlaybackTargetAvailabilityEvent) {
    video.addEventListener('webkitplaybacktargetavailabilitychanged', (event) => {
      airplay.hidden = event.availability !== 'available';
    });
    airplay.addEventListener('click', () => video.webkitShowPlaybackTargetPicker());
  }

  // On a phone the menus fold behind one button, so the controls stay on one line.
  const settingsButton = button('settings');
  const settings = document.getElementById('player-settings');
  const foldSettings = (open) => {
    settings.classList.toggle('open', open);
    settingsButton.setAttribute('aria-expanded', String(open));
  };
  settingsButton.addEventListener('click', () => foldSettings(!settings.classList.contains('open')));
  document.addEventListener('click', (event) => {
    if (!settings.contains(event.target) && !settingsButton.contains(event.target)) foldSettings(false);
  });

  // Keyboard hints in the tooltips, only where there is a keyboard (and a pointer to hover).
  if (window.matchMedia('(hover: hover) and (pointer: fine)').matches) {
    root.querySelectorAll('[data-key]').forEach((el) => { el.title = `${el.title} (${el.dataset.key})`; });
  }

  let dragging = false;
  seek.addEventListener('pointerdown', () => { dragging = true; });
  seek.addEventListener('pointerup', () => { dragging = false; });
  seek.addEventListener('input', () => {
    if (video.duration) video.currentTime = (seek.value / 1000) * video.duration;
  });
  video.addEventListener('timeupdate', () => {
    document.getElementById('now').textContent = clock(video.currentTime);
    if (!dragging && video.duration) seek.value = String(Math.round((video.currentTime / video.duration) * 1000));
    if (Math.abs(video.currentTime - lastSaved) >= 5) saveResume();
  });
  video.addEventListener('durationchange', () => { document.getElementById('total').textContent = clock(video.duration); });

  // --- resume -------------------------------------------------------------------------
  // In this browser always; for a signed-in viewer also on the server (a page with a
  // session carries its CSRF token), so "continue watching" and resuming work on any device.
  let lastSaved = 0;
  const csrf = csrfMeta;
  function saveResume() {
    lastSaved = video.currentTime;
    try { localStorage.setItem(resumeKey, String(video.currentTime)); } catch (_) { /* private mode */ }
    if (csrf && video.duration) {
      fetch(`/watch/${encodeURIComponent(root.dataset.asset)}/progress`, {
        method: 'POST',
        keepalive: true,
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf.content },
        body: JSON.stringify({ position: video.currentTime, duration: video.duration }),
      }).catch(() => { /* offline: the next save catches up */ });
    }
  }
  // hls.js starts at the resume position itself; the browser's own HLS seeks once it can.
  if (!state.hls) {
    video.addEventListener('loadedmetadata', () => {
      const saved = resumeAt();
      if (saved > 0) video.currentTime = saved;
    });
  }
  video.addEventListener('pause', saveResume);
  video.addEventListener('ended', () => {
    saveResume(); // watched to the end: out of "continue watching"
    try { localStorage.removeItem(resumeKey); } catch (_) { /* ignore */ }
  });
  window.addEventListener('pagehide', saveResume);

  // --- thumbnail previews -------------------------------------------------------------
  // Fetched once playback runs or the seek bar is reached, never ahead of the first frame.
  let cues = [];
  let thumbsAsked = false;
  function loadThumbs() {
    if (thumbsAsked || !root.dataset.thumbs) return;
    thumbsAsked = true;
    const base = new URL(withPass(new URL(root.dataset.thumbs, location.href).href));
    fetch(base).then((r) => (r.ok ? r.text() : '')).then((text) => { cues = parseThumbs(text, base); }).catch(() => {});
  }
  video.addEventListener('playing', loadThumbs, { once: true });
  seek.addEventListener('pointerenter', loadThumbs);
  seek.addEventListener('focus', loadThumbs);
  function parseThumbs(text, base) {
    const seconds = (t) => t.split(':').reduce((acc, part) => acc * 60 + parseFloat(part), 0);
    const out = [];
    const lines = text.split(/\r?\n/);
    for (let i = 0; i < lines.length; i++) {
      const m = lines[i].match(/^([\d:.]+)\s+-->\s+([\d:.]+)/);
      const ref = m && lines[i + 1] && lines[i + 1].match(/^(.*)#xywh=(\d+),(\d+),(\d+),(\d+)$/);
      if (!ref) continue;
      out.push({ start: seconds(m[1]), end: seconds(m[2]), url: new URL(ref[1], base).href, x: +ref[2], y: +ref[3], w: +ref[4], h: +ref[5] });
    }
    return out;
  }
  seek.addEventListener('pointermove', (event) => {
    if (!video.duration) return;
    const box = seek.getBoundingClientRect();
    const ratio = Math.min(Math.max((event.clientX - box.left) / box.width, 0), 1);
    const at = ratio * video.duration;
    const cue = cues.find((c) => at >= c.start && at < c.end);
    const thumb = preview.querySelector('.thumb');
    if (cue) {
      Object.assign(thumb.style, { width: `${cue.w}px`, height: `${cue.h}px`, backgroundImage: `url("${cue.url}")`, backgroundPosition: `-${cue.x}px -${cue.y}px` });
    }
    thumb.hidden = !cue;
    preview.querySelector('.time').textContent = clock(at);
    preview.style.left = `${ratio * box.width}px`;
    preview.hidden = false;
  });
  seek.addEventListener('pointerleave', () => { preview.hidden = true; });

  // --- end screen ---------------------------------------------------------------------
  // When the title ends: the next episode with a countdown that opens its watch page (where
  // that page, not this one, decides access: nothing of its media is fetched here), or
  // more like this. Any key or pointer press stops the countdown; Cancel or Escape closes
  // the screen; playing again hides it.
  const endScreen = document.getElementById('endscreen');
  const ending = { open: false, counting: false, left: 0 };
  state.endScreen = ending;
  if (endScreen) {
    const countdown = endScreen.querySelector('[data-countdown-text]');
    const seconds = endScreen.querySelector('[data-countdown-secs]');
    const announce = endScreen.querySelector('[data-end-status]');
    const playNow = endScreen.querySelector('[data-end="play-now"]');
    let timer = null;
    const stopCountdown = () => {
      if (timer) clearInterval(timer);
      timer = null;
      ending.counting = false;
      if (countdown) countdown.hidden = true;
    };
    const close = () => {
      stopCountdown();
      endScreen.hidden = true;
      ending.open = false;
      showBigPlay();
    };
    const open = () => {
      if (ending.open) return;
      ending.open = true;
      endScreen.hidden = false;
      bigPlay.hidden = true;
      if (playNow && countdown) {
        ending.left = Number(endScreen.dataset.countdown) || 10;
        seconds.textContent = String(ending.left);
        countdown.hidden = false;
        ending.counting = true;
        // Said once, not every second (the timer itself is not a live region).
        announce.textContent = announce.dataset.says;
        timer = setInterval(() => {
          ending.left -= 1;
          seconds.textContent = String(Math.max(ending.left, 0));
          if (ending.left <= 0) {
            stopCountdown();
            location.assign(playNow.href);
          }
        }, 1000);
        playNow.focus();
      } else {
        const first = endScreen.querySelector('a, button');
        if (first) first.focus();
      }
    };
    video.addEventListener('ended', open);
    video.addEventListener('play', () => { if (ending.open) close(); });
    const cancel = endScreen.querySelector('[data-end="cancel"]');
    if (cancel) cancel.addEventListener('click', () => { close(); button('play').focus(); });
    // Pressing "Play now" is the one interaction that does not stop it.
    const onPlayNow = (event) => !!playNow && playNow.contains(event.target);
    document.addEventListener('pointerdown', (event) => {
      if (ending.counting && !onPlayNow(event)) stopCountdown();
    }, true);
    document.addEventListener('keydown', (event) => {
      if (!ending.open) return;
      if (event.key === 'Escape') { close(); event.preventDefault(); return; }
      if (ending.counting && !(event.key === 'Enter' && onPlayNow(event))) stopCountdown();
    }, true);
    state.closeEndScreen = close;
  }

  // --- keyboard -----------------------------------------------------------------------
  document.addEventListener('keydown', (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    // The end screen's buttons and links take their own keys.
    if (ending.open && endScreen.contains(event.target)) return;
    const tag = event.target.tagName;
    if (tag === 'SELECT' || tag === 'TEXTAREA' || (tag === 'INPUT' && event.target !== seek)) return;
    if (event.key === 'Escape' && settings.classList.contains('open')) { foldSettings(false); event.preventDefault(); return; }
    const key = event.key.toLowerCase();
    const actions = {
      ' ': toggle, k: toggle,
      arrowleft: () => jump(-5), arrowright: () => jump(5), j: () => jump(-10), l: () => jump(10),
      arrowup: () => { video.volume = Math.min(1, video.volume + 0.1); video.muted = false; },
      arrowdown: () => { video.volume = Math.max(0, video.volume - 0.1); },
      m: () => { video.muted = !video.muted; }, f: fullscreen,
      '<': () => stepRate(-1), '>': () => stepRate(1), p: () => { if (!pip.hidden) togglePip(); },
      c: () => { const n = captions.options.length - 1; if (n > 0) chooseCaptions(Number(captions.value) + 1 < n ? Number(captions.value) + 1 : -1); },
    };
    if (/^[0-9]$/.test(key) && video.duration) {
      video.currentTime = (Number(key) / 10) * video.duration;
    } else if (actions[key]) {
      actions[key]();
    } else {
      return;
    }
    event.preventDefault();
  });
})();
