// mcptray's dashboard: it asks before a removal, and keeps the page's live
// part up to date from /ui/events. Every form works without it.
(function () {
  'use strict';

  document.addEventListener('submit', function (e) {
    var msg = e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) {
      e.preventDefault();
    }
  });

  var live = document.getElementById('live');
  if (!live || !window.EventSource) {
    return;
  }
  var busy = false;
  var again = false;
  function refresh() {
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    fetch(location.pathname + '?fragment=live', { credentials: 'same-origin', cache: 'no-store' })
      .then(function (r) {
        if (!r.ok) {
          throw new Error('HTTP ' + r.status);
        }
        return r.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        document.body.setAttribute('data-updated', String(Date.now()));
      })
      .catch(function () {})
      .then(function () {
        busy = false;
        if (again) {
          again = false;
          refresh();
        }
      });
  }
  var events = new EventSource('/ui/events');
  events.onopen = function () {
    // What changed between this page and the stream's start: once more.
    refresh();
    document.body.setAttribute('data-live', 'open');
  };
  events.onmessage = refresh;
})();
