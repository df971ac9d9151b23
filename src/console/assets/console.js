// gomodgate console: the one script (served by the console itself). The live tail of the Events page: an
// EventSource on /events/stream with the page's filters; each event is one audit row as the gateway recorded it,
// with its table row already rendered and escaped by the server (the same code as the page), put at the top.
(function () {
  'use strict';
  var state = document.getElementById('live-state');
  var table = document.getElementById('events');
  if (!state || !table || !window.EventSource) return;
  var body = table.querySelector('tbody');
  var MAX_ROWS = 200;
  var source = new EventSource(state.getAttribute('data-stream'));
  source.addEventListener('open', function () {
    state.textContent = 'Live: on';
    state.className = 'on';
  });
  source.addEventListener('error', function () {
    state.textContent = 'Live: reconnecting…';
    state.className = 'off';
  });
  source.addEventListener('message', function (e) {
    var event;
    try { event = JSON.parse(e.data); } catch (err) { return; }
    var holder = document.createElement('tbody');
    holder.innerHTML = event.html;
    var tr = holder.firstElementChild;
    if (!tr) return;
    tr.className = 'fresh';
    tr.setAttribute('data-id', String(event.row.id));
    body.insertBefore(tr, body.firstChild);
    while (body.rows.length > MAX_ROWS) body.deleteRow(body.rows.length - 1);
  });
})();
