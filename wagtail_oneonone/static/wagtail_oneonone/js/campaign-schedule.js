// The send-or-schedule form: shows only the fields of the chosen way of sending.
// Without it, every group of fields shows, each under the name of its way.
(function () {
  'use strict';
  var form = document.querySelector('[data-oneonone-schedule-form]');
  if (!form) return;
  var radios = form.querySelectorAll('input[name="mode"]');
  var groups = form.querySelectorAll('[data-oneonone-mode]');

  function update() {
    var chosen = form.querySelector('input[name="mode"]:checked');
    var mode = chosen ? chosen.value : 'now';
    groups.forEach(function (group) {
      group.hidden = group.dataset.oneononeMode !== mode;
    });
  }

  radios.forEach(function (radio) {
    radio.addEventListener('change', update);
  });
  update();
})();
