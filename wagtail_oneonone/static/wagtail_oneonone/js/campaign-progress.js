// The campaign page's progress: polls the send's progress every 2 seconds while it is
// queueing or sending (every 15 while it waits for its time), updates the bar and the
// counts, and reloads the page once the send has finished or been cancelled.
(function () {
  'use strict';
  var root = document.querySelector('[data-oneonone-campaign][data-progress-url]');
  if (!root) return;
  var url = root.dataset.progressUrl;
  var bar = root.querySelector('[data-oneonone-progress-bar]');
  var text = root.querySelector('[data-oneonone-progress-text]');
  var statusTag = root.querySelector('[data-oneonone-campaign-status]');
  var keys = { queued: 'queued', sending: 'claimed', sent: 'sent', skipped: 'skipped', failed: 'failed', unknown: 'unknown' };

  function show(data) {
    var total = Math.max(data.audience_size || 0, data.queued || 0, 1);
    if (bar) {
      bar.max = total;
      bar.value = data.done;
      bar.textContent = data.done + ' / ' + total;
    }
    if (text && data.audience_size !== null) {
      text.textContent =
        data.done + ' of ' + data.queued + ' queued messages have an outcome; the audience was ' +
        data.audience_size + ' contacts.' + (data.queueing ? ' Still queueing.' : '');
    }
    Object.keys(keys).forEach(function (key) {
      var cell = root.querySelector('[data-count="' + key + '"]');
      if (cell) cell.textContent = data.counts[keys[key]] || 0;
    });
    if (statusTag && data.status_label) statusTag.textContent = data.status_label;
    root.dataset.status = data.status;
  }

  function poll() {
    fetch(url, {
      credentials: 'same-origin',
      headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest' },
    })
      .then(function (response) {
        if (!response.ok) throw new Error('HTTP ' + response.status);
        return response.json();
      })
      .then(function (data) {
        show(data);
        if (data.status === 'sent' || data.status === 'cancelled') {
          // Finished: the page shows the whole report (reasons, the chart) on reload.
          window.location.reload();
        } else {
          window.setTimeout(poll, data.status === 'scheduled' ? 15000 : 2000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 10000);
      });
  }

  window.setTimeout(poll, root.dataset.status === 'scheduled' ? 15000 : 2000);
})();
