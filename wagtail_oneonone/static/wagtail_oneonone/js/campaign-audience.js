// The campaign editor's audience: how many contacts the ticked segments reach now, less
// the excluded ones, counted again (after a short pause) whenever a box changes.
(function () {
  'use strict';

  function start() {
    var first = document.querySelector('input[data-oneonone-audience-url]');
    if (!first) return;
    var url = first.dataset.oneononeAudienceUrl;
    var form = first.form;
    var anchor = document.getElementById('id_exclusions') || document.getElementById('id_audience');
    if (!form || !anchor) return;
    var output = document.createElement('p');
    output.className = 'help';
    output.setAttribute('aria-live', 'polite');
    output.dataset.oneononeAudienceCount = '';
    anchor.parentNode.insertBefore(output, anchor.nextSibling);
    var timer = null;
    var latest = 0;

    function ticked(name) {
      return Array.prototype.map.call(
        form.querySelectorAll('input[name="' + name + '"]:checked'),
        function (input) { return input.value; }
      );
    }

    function count() {
      var body = new URLSearchParams();
      ticked('audience').forEach(function (id) { body.append('audience', id); });
      ticked('exclusions').forEach(function (id) { body.append('exclusions', id); });
      var token = form.querySelector('input[name="csrfmiddlewaretoken"]');
      var request = ++latest;
      output.textContent = 'Counting…';
      fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'X-CSRFToken': token ? token.value : '', Accept: 'application/json' },
        body: body,
      })
        .then(function (response) {
          if (!response.ok) throw new Error('HTTP ' + response.status);
          return response.json();
        })
        .then(function (data) {
          if (request !== latest) return; // an older answer, overtaken by a newer change
          output.dataset.oneononeAudienceCount = data.count === null ? '' : String(data.count);
          output.textContent = data.count === null
            ? data.message
            : 'These segments reach ' + data.count + (data.count === 1 ? ' contact' : ' contacts') + ' now.';
        })
        .catch(function () {
          if (request === latest) output.textContent = 'The audience could not be counted.';
        });
    }

    form.addEventListener('change', function (event) {
      var name = event.target && event.target.name;
      if (name !== 'audience' && name !== 'exclusions') return;
      window.clearTimeout(timer);
      timer = window.setTimeout(count, 400);
    });
    count();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
