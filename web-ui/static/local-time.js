// Times the server wrote in UTC (`<time datetime=… data-local>`), shown in the viewer's own
// time zone and language: an event's start reads as it will on their clock.
(function localTime() {
  'use strict';
  const format = new Intl.DateTimeFormat(undefined, {
    weekday: 'long', day: 'numeric', month: 'long', year: 'numeric',
    hour: 'numeric', minute: '2-digit', timeZoneName: 'short',
  });
  for (const el of document.querySelectorAll('time[data-local][datetime]')) {
    const at = new Date(el.getAttribute('datetime'));
    if (Number.isNaN(at.getTime())) continue;
    el.textContent = format.format(at);
  }
}());
