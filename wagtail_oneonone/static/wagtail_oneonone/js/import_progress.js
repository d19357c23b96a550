// Polls a CSV import's status every second and reloads the page when it has finished.
(function () {
  'use strict';
  var root = document.querySelector('[data-oneonone-import]');
  if (!root || root.dataset.finished === 'true') return;
  var url = root.dataset.statusUrl;
  var bar = root.querySelector('progress');
  var text = root.querySelector('[data-progress-text]');
  var statusTag = root.querySelector('[data-import-status]');

  function show(data) {
    if (bar) {
      bar.max = data.total_rows || 1;
      bar.value = data.processed_rows;
      bar.textContent = data.percent + '%';
    }
    if (text) {
      text.textContent = data.processed_rows + ' / ' + data.total_rows + ' (' + data.percent + '%)';
    }
    if (statusTag) statusTag.textContent = data.status_label;
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
        if (data.finished) {
          window.location.reload();
        } else {
          window.setTimeout(poll, 1000);
        }
      })
      .catch(function () {
        window.setTimeout(poll, 5000);
      });
  }

  window.setTimeout(poll, 1000);
})();
