// The segment builder: edits a rule tree (kept as JSON in a hidden input) with ordinary
// inputs, and shows a live count and a sample of matching contacts as the rules change.
// Everything it offers comes from the schema the server embeds (conditions_schema() and a
// few comparison facts), so conditions a site registers appear without changes here.
(function () {
  'use strict';

  var PREVIEW_DELAY_MS = 400;
  var PREVIEW_TIMEOUT_MS = 15000;
  var GROUP_KEYS = ['all', 'any'];

  function readJSON(id, fallback) {
    var node = id && document.getElementById(id);
    if (!node) return fallback;
    try {
      return JSON.parse(node.textContent);
    } catch (error) {
      return fallback;
    }
  }

  function clone(value) {
    return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
  }

  function isObject(value) {
    return value !== null && typeof value === 'object' && !Array.isArray(value);
  }

  function format(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (match, name) {
      return name in values ? values[name] : match;
    });
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      if (name === 'text') node.textContent = value;
      else if (name === 'className') node.className = value;
      else if (name.slice(0, 2) === 'on') node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? '' : value);
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    });
    return node;
  }

  function pathOf(keys) {
    return keys.reduce(function (path, key) {
      return typeof key === 'number' ? path + '[' + key + ']' : path + '.' + key;
    }, 'rules');
  }

  function parentPath(path) {
    var match = /^(.*?)(\.[^.[\]]+|\[\d+\])$/.exec(path);
    return match ? match[1] : '';
  }

  function groupKey(node) {
    if (!isObject(node)) return null;
    for (var i = 0; i < GROUP_KEYS.length; i += 1) {
      if (Array.isArray(node[GROUP_KEYS[i]]) && Object.keys(node).length === 1)
        return GROUP_KEYS[i];
    }
    return null;
  }

  function Builder(root) {
    this.root = root;
    this.schema = readJSON(root.dataset.schemaId, {});
    this.text = this.schema.text || {};
    this.input = root.querySelector('[data-oneonone-rules-input]');
    this.host = root.querySelector('[data-oneonone-builder-tree]');
    this.countEl = root.querySelector('[data-oneonone-count]');
    this.problemsEl = root.querySelector('[data-oneonone-problems]');
    this.sampleEl = root.querySelector('[data-oneonone-sample]');
    this.previewUrl = root.dataset.previewUrl;
    this.segmentId = root.dataset.segmentId ? Number(root.dataset.segmentId) : null;
    this.conditions = {};
    (this.schema.conditions || []).forEach(function (condition) {
      this.conditions[condition.name] = condition;
    }, this);
    this.uid = 0;
    this.timeoutMs = PREVIEW_TIMEOUT_MS;
    this.timer = null;
    this.request = null;
    this.sequence = 0;
    this.errors = readJSON(root.dataset.problemsId, []);
    this.state = this.load();
    this.render();
    // Rewritten only if reading changed the tree, so opening a segment is not an edit.
    if (this.loadChanged) this.writeInput(false);
    this.preview();
  }

  Builder.prototype.t = function (key, values) {
    return format(this.text[key] || key, values || {});
  };

  Builder.prototype.load = function () {
    var tree = null;
    try {
      tree = JSON.parse(this.input.value || 'null');
    } catch (error) {
      this.loadProblem = this.t('unreadable_tree');
    }
    if (!isObject(tree) || tree.version !== 1 || tree.rules === undefined) {
      if (tree !== null && !this.loadProblem) this.loadProblem = this.t('unreadable_tree');
      this.loadChanged = true;
      return { version: 1, rules: { all: [] } };
    }
    // The builder always shows a group at the top; a lone condition means the same in one.
    if (!groupKey(tree.rules)) {
      tree.rules = { all: [tree.rules] };
      this.loadChanged = true;
    }
    return tree;
  };

  // The tree -------------------------------------------------------------------------------

  Builder.prototype.get = function (keys) {
    return keys.reduce(function (node, key) {
      return node === undefined || node === null ? undefined : node[key];
    }, this.state.rules);
  };

  Builder.prototype.set = function (keys, value) {
    if (!keys.length) {
      this.state.rules = value;
      return;
    }
    this.get(keys.slice(0, -1))[keys[keys.length - 1]] = value;
  };

  Builder.prototype.newCondition = function (name) {
    var definition = this.conditions[name];
    var node = { condition: name };
    definition.params.forEach(function (param) {
      if (param.default !== null && param.default !== undefined)
        node[param.name] = clone(param.default);
    });
    this.applyVisibility(node);
    return node;
  };

  Builder.prototype.paramValue = function (node, param) {
    var value = node[param.name];
    return value === undefined || value === null || value === '' ? param.default : value;
  };

  Builder.prototype.isShown = function (node, param) {
    var definition = this.conditions[node.condition];
    var when = param.when || {};
    return Object.keys(when).every(function (name) {
      var other = definition.params.filter(function (p) {
        return p.name === name;
      })[0];
      var value = other ? this.paramValue(node, other) : node[name];
      return when[name].indexOf(value) !== -1;
    }, this);
  };

  // Hidden parameters leave the tree; ones that appear start at their default.
  Builder.prototype.applyVisibility = function (node) {
    var definition = this.conditions[node.condition];
    definition.params.forEach(function (param) {
      if (!this.isShown(node, param)) delete node[param.name];
      else if (
        node[param.name] === undefined &&
        param.default !== null &&
        param.default !== undefined
      ) {
        node[param.name] = clone(param.default);
      }
    }, this);
  };

  Builder.prototype.valueType = function (node) {
    var hint = (this.conditions[node.condition] || {}).value_type;
    if (!hint) return 'text';
    if (hint.fixed) return hint.fixed;
    var value = node[hint.param];
    if (value === undefined) {
      var param = this.conditions[node.condition].params.filter(function (p) {
        return p.name === hint.param;
      })[0];
      value = param && param.default;
    }
    if (hint.map) return hint.map[value] || 'text';
    return value || 'text';
  };

  Builder.prototype.shape = function (operator) {
    if (!operator) return 'none';
    return (this.schema.operator_values || {})[operator] || 'single';
  };

  Builder.prototype.operatorChoices = function (choices, type) {
    var allowed = (this.schema.operators || {})[type];
    var labels = (this.schema.typed_operator_labels || {})[type] || {};
    var labelsByOperator = this.schema.operator_labels || {};
    return choices
      .filter(function (choice) {
        return !allowed || allowed.indexOf(choice[0]) !== -1;
      })
      .map(function (choice) {
        return [choice[0], labels[choice[0]] || labelsByOperator[choice[0]] || choice[1]];
      });
  };

  // Changes --------------------------------------------------------------------------------

  Builder.prototype.writeInput = function (changed) {
    this.input.value = JSON.stringify(this.state);
    if (changed) this.input.dispatchEvent(new Event('change', { bubbles: true }));
  };

  // Values typed into inputs: the JSON changes and a count is scheduled; nothing re-renders.
  Builder.prototype.changed = function () {
    this.writeInput(true);
    this.schedulePreview();
  };

  // Changes that add, remove or reveal inputs: render again, keeping or moving the focus.
  // ``focus`` is {path: a node to focus the first input of} or {key: one input}.
  Builder.prototype.restructured = function (focus) {
    this.errors = [];
    this.writeInput(true);
    this.render(focus);
    this.schedulePreview();
  };

  Builder.prototype.addCondition = function (keys, name) {
    var group = this.get(keys);
    var list = group[groupKey(group)];
    list.push(this.newCondition(name));
    this.restructured({ path: pathOf(keys.concat([groupKey(group), list.length - 1])) });
  };

  Builder.prototype.addGroup = function (keys) {
    var group = this.get(keys);
    var list = group[groupKey(group)];
    list.push({ all: [] });
    this.restructured({ path: pathOf(keys.concat([groupKey(group), list.length - 1])) });
  };

  Builder.prototype.remove = function (keys) {
    // Removing what a "not" holds removes the "not" too.
    while (keys.length && keys[keys.length - 1] === 'not') keys = keys.slice(0, -1);
    if (!keys.length) return;
    var listKeys = keys.slice(0, -1);
    this.get(listKeys).splice(keys[keys.length - 1], 1);
    this.restructured({ key: pathOf(listKeys.slice(0, -1)) + '|picker' });
  };

  Builder.prototype.negate = function (keys) {
    this.set(keys, { not: this.get(keys) });
    this.restructured({ path: pathOf(keys) });
  };

  Builder.prototype.unnegate = function (keys) {
    this.set(keys, this.get(keys).not);
    this.restructured({ path: pathOf(keys) });
  };

  Builder.prototype.setGroupKind = function (keys, kind) {
    var group = this.get(keys);
    var replacement = {};
    replacement[kind] = group[groupKey(group)];
    this.set(keys, replacement);
    this.restructured(null);
  };

  // Rendering ------------------------------------------------------------------------------

  Builder.prototype.id = function () {
    this.uid += 1;
    return 'oneonone-sb-' + this.uid;
  };

  Builder.prototype.render = function (focus) {
    var active = document.activeElement;
    var focusKey = focus && focus.key;
    var focusPath = focus && focus.path;
    var selection = null;
    if (!focus && active && this.host.contains(active) && active.dataset.key) {
      focusKey = active.dataset.key;
      try {
        selection = [active.selectionStart, active.selectionEnd];
      } catch (error) {
        selection = null;
      }
    }
    this.uid = 0;
    var tree = this.renderGroup([], null, '');
    var children = [tree];
    if (this.loadProblem)
      children.unshift(el('p', { className: 'error-message', text: this.loadProblem }));
    this.host.replaceChildren.apply(this.host, children);
    this.showErrors();
    if (focusPath) this.focusPath(focusPath);
    else if (focusKey) {
      var target = this.host.querySelector('[data-key="' + CSS.escape(focusKey) + '"]');
      if (target) {
        target.focus();
        if (selection && selection[0] !== null && typeof target.setSelectionRange === 'function') {
          try {
            target.setSelectionRange(selection[0], selection[1]);
          } catch (error) {
            // number and date inputs have no selection
          }
        }
      }
    }
  };

  Builder.prototype.focusPath = function (path) {
    var node = this.host.querySelector('[data-node-path="' + CSS.escape(path) + '"]');
    var target = node && node.querySelector('select, input, textarea, button');
    if (target) target.focus();
  };

  Builder.prototype.renderNode = function (keys, number, inNot) {
    var node = this.get(keys);
    if (groupKey(node)) return this.renderGroup(keys, number, inNot);
    if (isObject(node) && 'not' in node && Object.keys(node).length === 1)
      return this.renderNot(keys, number);
    if (isObject(node) && typeof node.condition === 'string' && this.conditions[node.condition]) {
      return this.renderCondition(keys, number, inNot);
    }
    return this.renderUnknown(keys, number);
  };

  Builder.prototype.numberBadge = function (number) {
    if (!number) return null;
    return el('span', {
      className: 'oneonone-node__number',
      text: this.t('rule', { number: number }),
    });
  };

  Builder.prototype.actions = function (keys, inNot, removeLabel) {
    var builder = this;
    return el('div', { className: 'oneonone-node__actions' }, [
      inNot
        ? null
        : el('button', {
            type: 'button',
            className: 'button button-small button-secondary',
            text: this.t('negate'),
            'data-key': pathOf(keys) + '|negate',
            onclick: function () {
              builder.negate(keys);
            },
          }),
      el('button', {
        type: 'button',
        className: 'button button-small button-secondary no',
        text: removeLabel,
        'data-key': pathOf(keys) + '|remove',
        onclick: function () {
          builder.remove(keys);
        },
      }),
    ]);
  };

  Builder.prototype.renderGroup = function (keys, number, inNot) {
    var builder = this;
    var node = this.get(keys);
    var kind = groupKey(node);
    var path = pathOf(keys);
    var isRoot = !keys.length;
    var kindId = this.id();
    var items = node[kind].map(function (child, index) {
      var childNumber = number ? number + '.' + (index + 1) : String(index + 1);
      return el('li', { className: 'oneonone-group__item' }, [
        index
          ? el('span', {
              className: 'oneonone-joiner',
              'aria-hidden': 'true',
              text: this.t(kind === 'all' ? 'and' : 'or'),
            })
          : null,
        this.renderNode(keys.concat([kind, index]), childNumber, false),
      ]);
    }, this);
    var kindSelect = el(
      'select',
      {
        id: kindId,
        'data-key': path + '|kind',
        'data-oneonone-group-kind': '',
        onchange: function (event) {
          builder.setGroupKind(keys, event.target.value);
        },
      },
      GROUP_KEYS.map(function (key) {
        return el('option', { value: key, selected: key === kind, text: builder.t(key) });
      }),
    );
    var conditionId = this.id();
    var picker = this.conditionPicker(conditionId, path);
    var empty = null;
    if (!items.length) {
      empty = el('p', {
        className: 'oneonone-group__empty',
        text: this.t(isRoot ? 'empty_root' : 'empty_group'),
      });
    }
    return el(
      'fieldset',
      {
        className: 'oneonone-node oneonone-group' + (isRoot ? ' oneonone-group--root' : ''),
        'data-path': path,
        'data-node-path': path,
        'data-label': number ? this.t('rule', { number: number }) : '',
        'data-oneonone-group': kind,
      },
      [
        el('legend', {
          className: 'w-sr-only',
          text: number ? this.t('rule', { number: number }) : this.t('of_these'),
        }),
        el('div', { className: 'oneonone-group__header' }, [
          this.numberBadge(inNot ? null : number),
          el('label', { for: kindId, text: this.t('match') }),
          kindSelect,
          el('span', { text: this.t('of_these') }),
        ]),
        el('ol', { className: 'oneonone-group__items' }, items),
        empty,
        el('div', { className: 'oneonone-group__add' }, [
          el('label', {
            for: conditionId,
            className: 'oneonone-group__add-label',
            text: this.t('condition'),
          }),
          picker,
          el('button', {
            type: 'button',
            className: 'button button-small',
            text: this.t('add_condition'),
            'data-key': path + '|add-condition',
            onclick: function () {
              if (!picker.value) {
                picker.focus();
                return;
              }
              builder.addCondition(keys, picker.value);
            },
          }),
          el('button', {
            type: 'button',
            className: 'button button-small button-secondary',
            text: this.t('add_group'),
            'data-key': path + '|add-group',
            onclick: function () {
              builder.addGroup(keys);
            },
          }),
        ]),
        isRoot ? null : this.actions(keys, inNot, this.t('remove_group')),
        el('div', { className: 'oneonone-errors', 'data-errors': '' }),
      ],
    );
  };

  Builder.prototype.conditionPicker = function (id, path) {
    var groups = {};
    var order = [];
    (this.schema.conditions || []).forEach(function (condition) {
      if (!groups[condition.group]) {
        groups[condition.group] = [];
        order.push(condition.group);
      }
      groups[condition.group].push(condition);
    });
    var options = [el('option', { value: '', text: this.t('choose_condition') })];
    order.forEach(function (group) {
      options.push(
        el(
          'optgroup',
          { label: group },
          groups[group].map(function (condition) {
            return el('option', {
              value: condition.name,
              text: condition.label,
              title: condition.description,
            });
          }),
        ),
      );
    });
    return el(
      'select',
      { id: id, 'data-key': path + '|picker', 'data-oneonone-condition-picker': '' },
      options,
    );
  };

  Builder.prototype.renderNot = function (keys, number) {
    var builder = this;
    var path = pathOf(keys);
    return el(
      'div',
      {
        className: 'oneonone-node oneonone-not',
        'data-path': path,
        'data-node-path': path,
        'data-label': this.t('not'),
        'data-oneonone-not': '',
      },
      [
        el('div', { className: 'oneonone-node__header' }, [
          this.numberBadge(number),
          el('strong', { className: 'oneonone-not__label', text: this.t('not') }),
          el('button', {
            type: 'button',
            className: 'button button-small button-secondary',
            text: this.t('unnegate'),
            'data-key': path + '|unnegate',
            onclick: function () {
              builder.unnegate(keys);
            },
          }),
        ]),
        this.renderNode(keys.concat(['not']), number, true),
        el('div', { className: 'oneonone-errors', 'data-errors': '' }),
      ],
    );
  };

  Builder.prototype.renderUnknown = function (keys, number) {
    var node = this.get(keys);
    var path = pathOf(keys);
    var message =
      isObject(node) && typeof node.condition === 'string'
        ? this.t('unknown_condition', { name: node.condition })
        : this.t('unreadable');
    return el(
      'div',
      {
        className: 'oneonone-node oneonone-unknown',
        'data-path': path,
        'data-node-path': path,
        'data-label': '',
      },
      [
        el('div', { className: 'oneonone-node__header' }, [
          this.numberBadge(number),
          el('strong', { text: message }),
        ]),
        el('pre', { className: 'oneonone-unknown__json', text: JSON.stringify(node) }),
        this.actions(keys, true, this.t('remove')),
        el('div', { className: 'oneonone-errors', 'data-errors': '' }),
      ],
    );
  };

  Builder.prototype.renderCondition = function (keys, number, inNot) {
    var node = this.get(keys);
    var definition = this.conditions[node.condition];
    var path = pathOf(keys);
    var params = definition.params
      .filter(function (param) {
        return this.isShown(node, param);
      }, this)
      .map(function (param) {
        return this.renderParam(keys, node, param);
      }, this)
      .filter(Boolean);
    var headingId = this.id();
    return el(
      'div',
      {
        className: 'oneonone-node oneonone-condition',
        role: 'group',
        'aria-labelledby': headingId,
        'data-path': path,
        'data-node-path': path,
        'data-label': definition.label,
        'data-oneonone-condition': node.condition,
      },
      [
        el('div', { className: 'oneonone-node__header' }, [
          this.numberBadge(inNot ? null : number),
          el('strong', {
            id: headingId,
            className: 'oneonone-condition__label',
            text: definition.label,
          }),
          el('span', { className: 'oneonone-condition__group', text: definition.group }),
        ]),
        definition.description
          ? el('p', { className: 'oneonone-condition__description', text: definition.description })
          : null,
        el('div', { className: 'oneonone-params' }, params),
        this.actions(keys, inNot, this.t('remove')),
        el('div', { className: 'oneonone-errors', 'data-errors': '' }),
      ],
    );
  };

  // Parameters -----------------------------------------------------------------------------

  // A labelled field: one control, or several in a fieldset (multi choices, windows, filters).
  Builder.prototype.field = function (options) {
    var children = [];
    var help = options.help
      ? el('p', { className: 'oneonone-field__help', id: options.id + '-help', text: options.help })
      : null;
    if (options.controlId) {
      if (help) options.control.setAttribute('aria-describedby', options.id + '-help');
      children.push(
        el('label', {
          className: 'oneonone-field__label',
          for: options.controlId,
          text: options.label,
        }),
      );
      children.push(options.control);
    } else {
      children.push(el('legend', { className: 'oneonone-field__label', text: options.label }));
      children.push(options.control);
    }
    children.push(help);
    children.push(el('div', { className: 'oneonone-errors', 'data-errors': '' }));
    return el(
      options.controlId ? 'div' : 'fieldset',
      {
        className: 'oneonone-field oneonone-field--' + options.kind,
        'data-path': options.path,
        'data-label': options.label,
        'data-field': '',
      },
      children,
    );
  };

  Builder.prototype.select = function (attrs, choices, value, emptyLabel) {
    var options = [];
    if (emptyLabel !== null) options.push(el('option', { value: '', text: emptyLabel }));
    choices.forEach(function (choice) {
      options.push(
        el('option', {
          value: choice[0],
          selected: String(value) === String(choice[0]),
          text: choice[1],
        }),
      );
    });
    return el('select', attrs, options);
  };

  Builder.prototype.renderParam = function (keys, node, param) {
    var builder = this;
    var path = pathOf(keys) + '.' + param.name;
    var id = this.id();
    var key = path;
    var label = param.label;
    var value = node[param.name];
    var kind = param.kind;
    var control;

    function store(newValue, restructure) {
      if (
        newValue === undefined ||
        newValue === '' ||
        (Array.isArray(newValue) && !newValue.length)
      ) {
        delete node[param.name];
      } else {
        node[param.name] = newValue;
      }
      if (restructure) {
        builder.applyVisibility(node);
        builder.restructured(null);
      } else {
        builder.changed();
      }
    }
    // Another parameter may show or hide with this one's value.
    var revealsOthers = this.conditions[node.condition].params.some(function (other) {
      return other.when && param.name in other.when;
    });

    if (kind === 'choice' || kind === 'event_type' || kind === 'segment' || kind === 'bool') {
      var choices = param.choices || [];
      if (kind === 'bool')
        choices = [
          ['true', this.t('yes')],
          ['false', this.t('no')],
        ];
      if (kind === 'segment') {
        choices = choices.filter(function (choice) {
          return String(choice[0]) !== String(builder.segmentId);
        });
      }
      var typeHint = (this.conditions[node.condition].value_type || {}).param;
      var decidesType = typeHint === param.name;
      if (param.name === 'operator' && this.conditions[node.condition].value_type) {
        choices = this.operatorChoices(choices, this.valueType(node));
      }
      var shown = value === undefined ? param.default : value;
      if (kind === 'bool' && shown !== undefined && shown !== null)
        shown = shown ? 'true' : 'false';
      var hasDefault = param.default !== null && param.default !== undefined;
      var emptyLabel =
        hasDefault && param.required ? null : param.required ? this.t('choose') : '—';
      control = this.select(
        { id: id, 'data-key': key, 'data-path': path },
        choices,
        shown === undefined || shown === null ? '' : shown,
        emptyLabel,
      );
      control.addEventListener('change', function (event) {
        var raw = event.target.value;
        var stored = raw;
        if (kind === 'bool') stored = raw === '' ? undefined : raw === 'true';
        if (kind === 'segment' && raw !== '') stored = Number(raw);
        var restructure = revealsOthers || param.name === 'operator' || decidesType;
        if (param.name === 'operator' && builder.shape(raw) !== builder.shape(node.operator))
          delete node.value;
        if (decidesType) {
          node[param.name] = stored;
          var allowed = (builder.schema.operators || {})[builder.valueType(node)] || [];
          if (allowed.indexOf(node.operator) === -1) delete node.operator;
          delete node.value;
        }
        store(stored, restructure);
      });
    } else if (kind === 'choices') {
      control = el(
        'div',
        { className: 'oneonone-checkboxes' },
        (param.choices || []).map(function (choice, index) {
          var boxId = id + '-' + index;
          var box = el('input', {
            type: 'checkbox',
            id: boxId,
            value: choice[0],
            checked: Array.isArray(value) && value.indexOf(choice[0]) !== -1,
            'data-key': key + '|' + choice[0],
            'data-path': index === 0 ? path : null,
          });
          box.addEventListener('change', function () {
            var picked = Array.prototype.slice
              .call(control.querySelectorAll('input:checked'))
              .map(function (input) {
                return input.value;
              });
            store(picked, revealsOthers);
          });
          return el('label', { className: 'oneonone-checkbox', for: boxId }, [
            box,
            ' ' + choice[1],
          ]);
        }),
      );
      return this.field({
        kind: kind,
        id: id,
        label: label,
        help: param.help,
        control: control,
        path: path,
      });
    } else if (kind === 'window') {
      return this.field({
        kind: kind,
        id: id,
        label: label,
        help: param.help,
        path: path,
        control: this.windowEditor(node, param, path, key),
      });
    } else if (kind === 'filters') {
      return this.field({
        kind: kind,
        id: id,
        label: label,
        help: param.help,
        path: path,
        control: this.filtersEditor(node, param, path, key, keys),
      });
    } else if (kind === 'value') {
      return this.valueParam(node, param, path, id, key);
    } else {
      control = this.scalarInput(
        kind,
        value,
        { id: id, 'data-key': key, 'data-path': path },
        param,
      );
      control.addEventListener('input', function (event) {
        store(builder.readScalar(kind, event.target), revealsOthers);
      });
    }
    return this.field({
      kind: kind,
      id: id,
      controlId: id,
      label: label,
      help: param.help,
      control: control,
      path: path,
    });
  };

  // Text, numbers, dates and lists of text as inputs; what they hold read back as JSON values.
  Builder.prototype.scalarInput = function (kind, value, attrs, param) {
    var shown = value === undefined || value === null ? '' : value;
    if (kind === 'texts') {
      attrs.rows = 3;
      return el('textarea', attrs, [Array.isArray(shown) ? shown.join('\n') : String(shown)]);
    }
    var types = { int: 'number', number: 'number', date: 'date' };
    attrs.type = types[kind] || 'text';
    if (kind === 'int') attrs.step = '1';
    if (kind === 'number') attrs.step = 'any';
    if (param && param.min !== null && param.min !== undefined) attrs.min = param.min;
    if (param && param.max !== null && param.max !== undefined) attrs.max = param.max;
    if (kind === 'attribute') {
      attrs.pattern = '[A-Za-z_][A-Za-z0-9_]{0,63}';
      attrs.spellcheck = 'false';
      attrs.autocomplete = 'off';
    }
    // Left empty, a parameter takes its default: say which.
    if (
      param &&
      param.default !== null &&
      param.default !== undefined &&
      !isObject(param.default)
    ) {
      attrs.placeholder = String(param.default);
    }
    attrs.value = String(shown);
    return el('input', attrs);
  };

  Builder.prototype.readScalar = function (kind, input) {
    var raw = input.value;
    if (kind === 'texts') {
      return raw
        .split('\n')
        .map(function (line) {
          return line.trim();
        })
        .filter(Boolean);
    }
    if (raw.trim() === '') return undefined;
    if (kind === 'int' || kind === 'number') {
      var number = Number(raw);
      return isFinite(number) ? number : raw;
    }
    return raw;
  };

  // A comparison's value: none, one, a list, a pair or a number of days, by operator and type.
  Builder.prototype.valueEditor = function (type, operator, value, base, onChange) {
    var builder = this;
    var shape = this.shape(operator);
    var inputKind = type === 'number' ? 'number' : type === 'date' ? 'date' : 'text';

    function read(input) {
      return builder.readScalar(inputKind, input);
    }
    if (shape === 'none') return null;
    if (shape === 'days') {
      var days = this.scalarInput(
        'int',
        value,
        { id: base.id, 'data-key': base.key, 'data-path': base.path, min: 0 },
        { min: 0, max: 3660 },
      );
      days.addEventListener('input', function () {
        onChange(builder.readScalar('int', days));
      });
      return el('span', { className: 'oneonone-inline' }, [days, ' ' + this.t('days')]);
    }
    if (shape === 'list') {
      var items = Array.isArray(value) ? value : value === undefined ? [] : [value];
      var area = el(
        'textarea',
        {
          id: base.id,
          rows: 3,
          'data-key': base.key,
          'data-path': base.path,
          'aria-describedby': base.id + '-lines',
        },
        [items.join('\n')],
      );
      area.addEventListener('input', function () {
        var lines = builder.readScalar('texts', area);
        if (inputKind === 'number') {
          lines = lines.map(function (line) {
            var number = Number(line);
            return isFinite(number) ? number : line;
          });
        }
        onChange(lines.length ? lines : undefined);
      });
      return el('span', { className: 'oneonone-stack' }, [
        area,
        el('span', {
          className: 'oneonone-field__help',
          id: base.id + '-lines',
          text: this.t('one_per_line'),
        }),
      ]);
    }
    if (shape === 'pair') {
      var pair = Array.isArray(value) ? value : [];
      var low = this.scalarInput(inputKind, pair[0], {
        id: base.id,
        'data-key': base.key + '|0',
        'data-path': base.path + '[0]',
      });
      var highId = base.id + '-high';
      var high = this.scalarInput(inputKind, pair[1], {
        id: highId,
        'data-key': base.key + '|1',
        'data-path': base.path + '[1]',
      });
      var update = function () {
        var values = [read(low), read(high)];
        onChange(
          values[0] === undefined && values[1] === undefined
            ? undefined
            : values.map(function (v) {
                return v === undefined ? null : v;
              }),
        );
      };
      low.addEventListener('input', update);
      high.addEventListener('input', update);
      return el('span', { className: 'oneonone-inline', 'data-path': base.path }, [
        low,
        el('label', { for: highId, text: ' ' + this.t('and_value') + ' ' }),
        high,
      ]);
    }
    var single = this.scalarInput(inputKind, Array.isArray(value) ? '' : value, {
      id: base.id,
      'data-key': base.key,
      'data-path': base.path,
    });
    single.addEventListener('input', function () {
      onChange(read(single));
    });
    return single;
  };

  Builder.prototype.valueParam = function (node, param, path, id, key) {
    var builder = this;
    var definition = this.conditions[node.condition];
    var hasOperator = definition.params.some(function (p) {
      return p.name === 'operator';
    });
    var operator = hasOperator ? node.operator : 'equals';
    if (hasOperator && this.shape(operator) === 'none') return null;
    var control = this.valueEditor(
      this.valueType(node),
      operator,
      node[param.name],
      { id: id, key: key, path: path },
      function (newValue) {
        if (newValue === undefined) delete node[param.name];
        else node[param.name] = newValue;
        builder.changed();
      },
    );
    return this.field({
      kind: 'value',
      id: id,
      controlId: id,
      label: param.label,
      help: param.help,
      control: control,
      path: path,
    });
  };

  Builder.prototype.windowEditor = function (node, param, path, key) {
    var builder = this;
    var window_ = isObject(node[param.name])
      ? node[param.name]
      : clone(param.default) || { type: 'ever' };
    var typeId = this.id();
    var units = this.schema.window_units || [
      ['hours', 'hours'],
      ['days', 'days'],
      ['weeks', 'weeks'],
    ];
    var presets = {
      ever: { type: 'ever' },
      last: { type: 'last', amount: 30, unit: 'days' },
      between: { type: 'between', from: 7, to: 14, unit: 'days' },
    };
    var typeSelect = this.select(
      {
        id: typeId,
        'data-key': key + '|type',
        'data-path': path + '.type',
        'aria-label': param.label,
      },
      [
        ['ever', this.t('ever')],
        ['last', this.t('last')],
        ['between', this.t('between')],
      ],
      window_.type,
      null,
    );
    typeSelect.addEventListener('change', function () {
      node[param.name] = clone(presets[typeSelect.value]);
      builder.restructured(null);
    });
    function number(name, label) {
      var input = builder.scalarInput('int', window_[name], {
        id: builder.id(),
        'data-key': key + '|' + name,
        'data-path': path + '.' + name,
        'aria-label': label,
        min: name === 'amount' ? 1 : 0,
      });
      input.addEventListener('input', function () {
        var current = node[param.name] || clone(window_);
        var read = builder.readScalar('int', input);
        if (read === undefined) delete current[name];
        else current[name] = read;
        node[param.name] = current;
        builder.changed();
      });
      return input;
    }
    var unitSelect = this.select(
      { 'data-key': key + '|unit', 'data-path': path + '.unit', 'aria-label': this.t('unit') },
      units,
      window_.unit || 'days',
      null,
    );
    unitSelect.addEventListener('change', function () {
      var current = node[param.name] || clone(window_);
      current.unit = unitSelect.value;
      node[param.name] = current;
      builder.changed();
    });
    var parts = [typeSelect];
    if (window_.type === 'last')
      parts.push(' ', number('amount', param.label + ': ' + this.t('last')), ' ', unitSelect);
    if (window_.type === 'between') {
      parts.push(
        ' ',
        number('from', param.label + ': ' + this.t('between')),
        ' ' + this.t('and_value') + ' ',
        number('to', param.label + ': ' + this.t('and_value')),
        ' ',
        unitSelect,
        ' ' + this.t('ago'),
      );
    }
    return el('span', { className: 'oneonone-inline' }, parts);
  };

  Builder.prototype.filtersEditor = function (node, param, path, key, keys) {
    var builder = this;
    var filters = Array.isArray(node[param.name]) ? node[param.name] : [];
    var definition = this.conditions[node.condition];
    // Suggestions come from the event type chosen closest before this parameter.
    var eventParam = null;
    definition.params.some(function (p) {
      if (p.name === param.name) return true;
      if (p.kind === 'event_type') eventParam = p;
      return false;
    });
    var eventType = eventParam ? node[eventParam.name] : null;
    var known = (this.schema.event_properties || {})[eventType] || [];
    var listId = this.id();
    var rows = filters.map(function (filter, index) {
      return this.filterRow(
        node,
        param,
        filters,
        filter,
        index,
        path + '[' + index + ']',
        key + '|' + index,
        listId,
        known,
      );
    }, this);
    return el('div', { className: 'oneonone-filters' }, [
      known.length
        ? el(
            'datalist',
            { id: listId },
            known.map(function (item) {
              return el('option', { value: item[0] });
            }),
          )
        : null,
      rows.length
        ? el('ol', { className: 'oneonone-filters__list' }, rows)
        : el('p', { className: 'oneonone-field__help', text: this.t('filters_none') }),
      el('button', {
        type: 'button',
        className: 'button button-small button-secondary',
        text: this.t('add_filter'),
        'data-key': key + '|add',
        onclick: function () {
          filters.push({ type: 'text', operator: 'equals' });
          node[param.name] = filters;
          builder.restructured({ key: key + '|' + (filters.length - 1) + '|property' });
        },
      }),
    ]);
  };

  Builder.prototype.filterRow = function (
    node,
    param,
    filters,
    filter,
    index,
    path,
    key,
    listId,
    known,
  ) {
    var builder = this;
    var label = this.t('filter') + ' ' + (index + 1);
    var types = Object.keys(this.schema.value_types || { text: 'Text' }).map(function (type) {
      return [type, builder.schema.value_types[type]];
    });
    var propertyId = this.id();
    var property = el('input', {
      type: 'text',
      id: propertyId,
      value: filter.property || '',
      list: known.length ? listId : null,
      spellcheck: 'false',
      autocomplete: 'off',
      'data-key': key + '|property',
      'data-path': path + '.property',
    });
    property.addEventListener('input', function () {
      if (property.value.trim()) filter.property = property.value.trim();
      else delete filter.property;
      builder.changed();
    });
    property.addEventListener('change', function () {
      // A property the event type declares brings its type along.
      var match = known.filter(function (item) {
        return item[0] === filter.property;
      })[0];
      if (match && match[1] !== filter.type) {
        filter.type = match[1];
        if ((builder.schema.operators[filter.type] || []).indexOf(filter.operator) === -1)
          filter.operator = builder.schema.operators[filter.type][0];
        delete filter.value;
        builder.restructured(null);
      }
    });
    var typeId = this.id();
    var typeSelect = this.select(
      { id: typeId, 'data-key': key + '|type', 'data-path': path + '.type' },
      types,
      filter.type || 'text',
      null,
    );
    typeSelect.addEventListener('change', function () {
      filter.type = typeSelect.value;
      var allowed = builder.schema.operators[filter.type] || [];
      if (allowed.indexOf(filter.operator) === -1) filter.operator = allowed[0];
      delete filter.value;
      builder.restructured(null);
    });
    var operatorId = this.id();
    var operators = (this.schema.operators[filter.type || 'text'] || []).map(function (op) {
      return [op, op];
    });
    var operatorSelect = this.select(
      { id: operatorId, 'data-key': key + '|operator', 'data-path': path + '.operator' },
      this.operatorChoices(operators, filter.type || 'text'),
      filter.operator || '',
      this.t('choose'),
    );
    operatorSelect.addEventListener('change', function () {
      if (builder.shape(operatorSelect.value) !== builder.shape(filter.operator))
        delete filter.value;
      if (operatorSelect.value) filter.operator = operatorSelect.value;
      else delete filter.operator;
      builder.restructured(null);
    });
    var valueId = this.id();
    var valueControl = this.valueEditor(
      filter.type || 'text',
      filter.operator,
      filter.value,
      { id: valueId, key: key + '|value', path: path + '.value' },
      function (newValue) {
        if (newValue === undefined) delete filter.value;
        else filter.value = newValue;
        builder.changed();
      },
    );
    function part(text, id, control, name) {
      return el(
        'div',
        { className: 'oneonone-field', 'data-path': path + '.' + name, 'data-label': text },
        [
          el('label', { className: 'oneonone-field__label', for: id, text: text }),
          control,
          el('div', { className: 'oneonone-errors', 'data-errors': '' }),
        ],
      );
    }
    return el('li', {}, [
      el('fieldset', { className: 'oneonone-filter', 'data-path': path, 'data-label': label }, [
        el('legend', { className: 'oneonone-filter__legend', text: label }),
        part(this.t('property'), propertyId, property, 'property'),
        part(this.t('type'), typeId, typeSelect, 'type'),
        part(this.t('operator'), operatorId, operatorSelect, 'operator'),
        valueControl ? part(this.t('value'), valueId, valueControl, 'value') : null,
        el('button', {
          type: 'button',
          className: 'button button-small button-secondary no',
          text: this.t('remove_filter'),
          'aria-label': this.t('remove_filter') + ' ' + (index + 1),
          'data-key': key + '|remove',
          onclick: function () {
            filters.splice(index, 1);
            if (!filters.length) delete node[param.name];
            builder.restructured({ key: key.replace(/\|\d+$/, '') + '|add' });
          },
        }),
        el('div', { className: 'oneonone-errors', 'data-errors': '' }),
      ]),
    ]);
  };

  // Problems beside the parts they concern -------------------------------------------------

  Builder.prototype.showErrors = function () {
    var builder = this;
    this.host.querySelectorAll('[data-errors]').forEach(function (slot) {
      slot.replaceChildren();
    });
    this.host.querySelectorAll('.oneonone-has-error').forEach(function (node) {
      node.classList.remove('oneonone-has-error');
    });
    this.host.querySelectorAll('[aria-invalid]').forEach(function (node) {
      node.removeAttribute('aria-invalid');
    });
    var general = [];
    (this.errors || []).forEach(function (error) {
      var target = builder.targetFor(error.field);
      if (!target) {
        general.push(error);
        return;
      }
      var holder = target.closest('[data-path][data-label]') || target;
      var slot = holder.querySelector(':scope > [data-errors]');
      if (!slot) {
        general.push(error);
        return;
      }
      if (/^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName))
        target.setAttribute('aria-invalid', 'true');
      holder.classList.add('oneonone-has-error');
      slot.appendChild(
        el('p', {
          className: 'error-message',
          'data-oneonone-error': error.field,
          text: builder.inlineMessage(holder, error.message),
        }),
      );
    });
    this.showProblems(general);
  };

  Builder.prototype.targetFor = function (field) {
    var path = field;
    while (path && path.indexOf('rules') === 0) {
      var found = this.host.querySelectorAll('[data-path="' + CSS.escape(path) + '"]');
      if (found.length) {
        var controls = Array.prototype.filter.call(found, function (node) {
          return /^(INPUT|SELECT|TEXTAREA)$/.test(node.tagName);
        });
        return controls[0] || found[0];
      }
      path = parentPath(path);
    }
    return null;
  };

  // "is required" beside the "Event" input reads "Event is required"; other messages start
  // with a capital.
  Builder.prototype.inlineMessage = function (holder, message) {
    var label = holder.dataset.label;
    if (label && /^(is|must|has|reaches|contains) /.test(message)) return label + ' ' + message;
    return message.charAt(0).toUpperCase() + message.slice(1);
  };

  // Problems are also listed with the count, each a button that moves to the part concerned.
  Builder.prototype.showProblems = function (unplaced) {
    var builder = this;
    var items = (this.errors || []).map(function (error) {
      var text = error.where ? error.where + ': ' + error.message : error.message;
      var target = unplaced.indexOf(error) === -1 ? builder.targetFor(error.field) : null;
      if (!target) return el('li', { text: text });
      return el('li', {}, [
        el('button', {
          type: 'button',
          className: 'button button-small button-secondary oneonone-problem',
          text: text,
          onclick: function () {
            var focusable = /^(INPUT|SELECT|TEXTAREA|BUTTON)$/.test(target.tagName)
              ? target
              : target.querySelector('input, select, textarea, button');
            (focusable || target).focus();
            target.scrollIntoView({ block: 'center' });
          },
        }),
      ]);
    });
    if (!items.length) {
      this.problemsEl.replaceChildren();
      return;
    }
    this.problemsEl.replaceChildren(
      el('div', { className: 'oneonone-builder__problems' }, [
        el('p', { text: this.t('problems') }),
        el('ul', { 'data-oneonone-problem-list': '' }, items),
      ]),
    );
  };

  // The live count -------------------------------------------------------------------------

  Builder.prototype.schedulePreview = function () {
    var builder = this;
    window.clearTimeout(this.timer);
    if (!this.previewUrl) return;
    this.countEl.dataset.state = 'pending';
    this.timer = window.setTimeout(function () {
      builder.preview();
    }, PREVIEW_DELAY_MS);
  };

  Builder.prototype.csrfToken = function () {
    var form = this.root.closest('form');
    var field =
      (form && form.querySelector('[name=csrfmiddlewaretoken]')) ||
      document.querySelector('[name=csrfmiddlewaretoken]');
    if (field) return field.value;
    var match = /(?:^|;\s*)csrftoken=([^;]+)/.exec(document.cookie);
    return match ? decodeURIComponent(match[1]) : '';
  };

  Builder.prototype.preview = function () {
    var builder = this;
    if (!this.previewUrl) return;
    if (this.request) this.request.abort();
    var controller = new AbortController();
    var sequence = (this.sequence += 1);
    var timedOut = false;
    var timeout = window.setTimeout(function () {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    this.request = controller;
    this.countEl.dataset.state = 'loading';
    this.root.setAttribute('aria-busy', 'true');
    if (!this.countEl.dataset.count) this.countEl.textContent = this.t('counting');
    fetch(this.previewUrl, {
      method: 'POST',
      credentials: 'same-origin',
      signal: controller.signal,
      headers: {
        'Content-Type': 'application/json',
        Accept: 'application/json',
        'X-CSRFToken': this.csrfToken(),
        'X-Requested-With': 'XMLHttpRequest',
      },
      body: JSON.stringify({ rules: this.state, segment: this.segmentId }),
    })
      .then(function (response) {
        return response.json().then(
          function (data) {
            if (!response.ok && !(data && data.message)) throw new Error('HTTP ' + response.status);
            return data;
          },
          function () {
            throw new Error('HTTP ' + response.status);
          },
        );
      })
      .then(function (data) {
        if (sequence !== builder.sequence) return;
        builder.showPreview(data);
      })
      .catch(function (error) {
        if (sequence !== builder.sequence) return;
        builder.showFailure(
          timedOut
            ? builder.t('slow')
            : builder.t('failed', { reason: error.message || error.name }),
        );
      })
      .finally(function () {
        window.clearTimeout(timeout);
        if (sequence === builder.sequence) {
          builder.request = null;
          builder.root.removeAttribute('aria-busy');
        }
      });
  };

  Builder.prototype.showPreview = function (data) {
    var count = data.count;
    this.errors = data.errors || [];
    this.showErrors();
    if (count === null || count === undefined) {
      this.showFailure(data.message || this.t('incomplete'));
      return;
    }
    this.countEl.dataset.state = 'ready';
    this.countEl.dataset.count = String(count);
    this.countEl.dataset.complete = data.complete ? 'true' : 'false';
    var summary = [
      el('strong', {
        text:
          count === 1
            ? this.t('count_one')
            : this.t('count_many', { count: count.toLocaleString() }),
      }),
    ];
    if (!data.complete)
      summary.push(
        el('span', { className: 'oneonone-builder__note', text: ' ' + this.t('incomplete') }),
      );
    this.countEl.replaceChildren.apply(this.countEl, summary);
    if (data.sample_hidden) {
      this.sampleEl.replaceChildren(
        el('p', { className: 'oneonone-field__help', text: this.t('sample_hidden') }),
      );
    } else if (!data.sample || !data.sample.length) {
      this.sampleEl.replaceChildren(
        el('p', { className: 'oneonone-field__help', text: this.t('sample_empty') }),
      );
    } else {
      this.sampleEl.replaceChildren(
        el('p', { className: 'oneonone-builder__sample-heading', text: this.t('sample') }),
        el(
          'ul',
          { className: 'oneonone-builder__sample', 'data-oneonone-sample-list': '' },
          data.sample.map(function (contact) {
            var text = contact.name ? contact.name + ' <' + contact.email + '>' : contact.email;
            return el('li', {}, [
              contact.url
                ? el('a', { href: contact.url, target: '_blank', rel: 'noopener', text: text })
                : text,
            ]);
          }),
        ),
      );
    }
  };

  Builder.prototype.showFailure = function (message) {
    this.countEl.dataset.state = 'error';
    delete this.countEl.dataset.count;
    this.countEl.replaceChildren(
      el('span', { className: 'oneonone-builder__failure', text: message }),
    );
    this.sampleEl.replaceChildren();
  };

  function start() {
    document.querySelectorAll('[data-oneonone-segment-builder]').forEach(function (root) {
      if (root.dataset.ready) return;
      root.dataset.ready = 'true';
      try {
        root.oneononeBuilder = new Builder(root);
      } catch (error) {
        root.dataset.ready = 'failed';
        var note = document.createElement('p');
        note.className = 'error-message';
        note.textContent = 'The segment builder could not start: ' + error.message;
        root.prepend(note);
        throw error;
      }
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
})();
