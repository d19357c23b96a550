// The flow editor: shows only the fields of the chosen trigger, the date attribute's name
// only for "a date attribute", and the days only for "again after some days".
// Without it, every group of fields shows, each headed by the trigger it belongs to, and
// the form ignores (and clears) the fields of the triggers not chosen.
(function () {
  'use strict';

  function chosen(name) {
    var checked = document.querySelector('input[name="' + name + '"]:checked');
    if (checked) return checked.value;
    var select = document.querySelector('select[name="' + name + '"]');
    return select ? select.value : '';
  }

  function show(element, visible) {
    if (!element) return;
    element.hidden = !visible;
    element.style.display = visible ? '' : 'none';
  }

  function update() {
    var trigger = chosen('trigger_type');
    document.querySelectorAll('.oneonone-trigger').forEach(function (group) {
      show(group, group.classList.contains('oneonone-trigger--' + trigger));
    });
    show(
      document.querySelector('.oneonone-date-attribute'),
      chosen('trigger_date_field') === 'attribute'
    );
    show(document.querySelector('.oneonone-reentry-days'), chosen('reentry') === 'every_n_days');
  }

  function init() {
    if (!document.querySelector('[name="trigger_type"]')) return;
    ['trigger_type', 'trigger_date_field', 'reentry'].forEach(function (name) {
      document.querySelectorAll('[name="' + name + '"]').forEach(function (input) {
        input.addEventListener('change', update);
      });
    });
    update();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
