/* keytrail HTML report: builds the page from the embedded JSON.
 *
 * Every string in the data comes from CloudTrail logs and is untrusted. It is only ever put into
 * the page as text (createTextNode / textContent) or into attributes that cannot run code
 * (title, aria-label); never through innerHTML, never into a URL. Control and bidirectional
 * override characters are shown escaped; very long values are cut (the whole value in the
 * tooltip). Links point only to anchors this script makes.
 *
 * Words: every message is English here, marked _('...') or ngettext('...', '...', n) (Babel extracts
 * them: babel-report.cfg), and shown in the page's language from the table of the #keytrail-locale
 * block; times are shown in its zone with their offset (the data keep UTC).
 */
(function () {
  'use strict';

  var SVG_NS = 'http://www.w3.org/2000/svg';
  var MAX_SHOWN = 240;
  var MAX_TITLE = 20000;
  // C0/C1 controls, zero-width and bidirectional marks, overrides and isolates, line/paragraph separators, BOM
  var CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/g;
  var CATEGORIES = ['encrypt', 'decrypt', 'sign', 'admin', 'denied'];
  var SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };

  // ---- the page's language and time zone ----------------------------------------------------
  var LOCALE = readLocale();
  var WORDS = LOCALE.words || {};

  function readLocale() {
    var node = document.getElementById('keytrail-locale');
    try { return node ? JSON.parse(node.textContent) : {}; } catch (e) { return {}; }
  }

  /** A message in the page's language. */
  function _(message) {
    return Object.prototype.hasOwnProperty.call(WORDS, message) ? WORDS[message] : message;
  }

  /** A counted message: the language's form (one form in Japanese; English: one or many). */
  function ngettext(one, many, n) {
    var forms = (LOCALE.plurals || {})[one];
    if (Array.isArray(forms) && forms.length) return forms.length === 1 ? forms[0] : forms[n === 1 ? 0 : 1];
    return n === 1 ? one : many;
  }

  /** A template's {fields} filled with values (as text). */
  function fill(template, fields) {
    return template.replace(/\{([a-z_]+)\}/g, function (m, name) {
      return Object.prototype.hasOwnProperty.call(fields, name) ? String(fields[name]) : m;
    });
  }

  var ZONE_FORMAT = null;
  if (LOCALE.zone && typeof Intl === 'object') {
    try {
      ZONE_FORMAT = new Intl.DateTimeFormat('en-US', {
        timeZone: LOCALE.zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
        hour: '2-digit', minute: '2-digit', second: '2-digit',
      });
    } catch (e) { ZONE_FORMAT = null; }
  }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  /** A UTC time of the data (2026-11-02T08:05:00Z) in the page's zone, with its offset
   *  (2026-11-02T17:05:00+09:00); unchanged in UTC, and for anything that is not such a time. */
  function when(iso) {
    if (typeof iso !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(iso)) return iso;
    if (!LOCALE.zone && !LOCALE.offset) return iso;
    var t = Date.parse(iso);
    var minutes = LOCALE.offset || 0;
    if (ZONE_FORMAT) {
      var p = {};
      ZONE_FORMAT.formatToParts(new Date(t)).forEach(function (x) { p[x.type] = x.value; });
      var wall = Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second);
      minutes = Math.round((wall - t) / 60000);
    }
    var d = new Date(t + minutes * 60000);
    var sign = minutes < 0 ? '-' : '+';
    var a = Math.abs(minutes);
    return d.getUTCFullYear() + '-' + pad(d.getUTCMonth() + 1) + '-' + pad(d.getUTCDate()) + 'T' +
      pad(d.getUTCHours()) + ':' + pad(d.getUTCMinutes()) + ':' + pad(d.getUTCSeconds()) +
      sign + pad(Math.floor(a / 60)) + ':' + pad(a % 60);
  }

  /** The zone's name for headings: UTC, Asia/Tokyo. */
  var ZONE_NAME = LOCALE.zone_name || 'UTC';

  // ---- DOM helpers ------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    append(node, children);
    return node;
  }

  function setAttrs(node, attrs) {
    if (!attrs) return;
    Object.keys(attrs).forEach(function (name) {
      var v = attrs[name];
      if (v === null || v === undefined || v === false) return;
      node.setAttribute(name, String(v));
    });
  }

  function append(node, children) {
    if (children === null || children === undefined) return;
    if (!Array.isArray(children)) children = [children];
    children.forEach(function (c) {
      if (c === null || c === undefined || c === false) return;
      if (Array.isArray(c)) { append(node, c); return; }
      node.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
    });
  }

  function hex(ch) {
    var h = ch.charCodeAt(0).toString(16);
    while (h.length < 4) h = '0' + h;
    return '\\u' + h;
  }

  /** A log value for an attribute or SVG text: controls escaped. */
  function clean(value) {
    return value === null || value === undefined ? '' : String(value).replace(CONTROL, hex);
  }

  /** A log value as a span of text: controls shown escaped, long values cut (whole value in the tooltip). */
  function val(value, cls) {
    var span = el('span', cls ? { 'class': cls } : null);
    var s = value === null || value === undefined ? '' : String(value);
    var full = s;
    var cut = s.length > MAX_SHOWN;
    if (cut) {
      var end = MAX_SHOWN;
      var code = s.charCodeAt(end - 1);
      if (code >= 0xd800 && code <= 0xdbff) end -= 1;
      s = s.slice(0, end);
    }
    var last = 0;
    var m;
    CONTROL.lastIndex = 0;
    while ((m = CONTROL.exec(s)) !== null) {
      if (m.index > last) span.appendChild(document.createTextNode(s.slice(last, m.index)));
      span.appendChild(el('span', { 'class': 'esc' }, hex(m[0])));
      last = m.index + 1;
    }
    if (last < s.length) span.appendChild(document.createTextNode(s.slice(last)));
    if (cut) {
      span.appendChild(el('span', { 'class': 'cut' }, '\u2026 ' + fill(ngettext('({n} character)', '({n} characters)', full.length), { n: fmt(full.length) })));
      span.setAttribute('title', clean(full.slice(0, MAX_TITLE)));
    }
    return span;
  }

  /** An integer with thousands separators (1,234), the same in every locale. */
  function fmt(n) {
    return typeof n === 'number' ? String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',') : '';
  }

  function list(values) {
    var ul = el('ul', { 'class': 'list' });
    (values || []).forEach(function (v) { ul.appendChild(el('li', { title: clean(String(v).slice(0, MAX_TITLE)) }, val(v))); });
    return ul;
  }

  function countList(counts) {
    var ul = el('ul', { 'class': 'list' });
    (counts || []).forEach(function (c) {
      ul.appendChild(el('li', null, [val(c.name), ' ', el('span', { 'class': 'muted' }, fmt(c.calls))]));
    });
    return ul;
  }

  function window2(a, b) {
    if (!a && !b) return _('no calls');
    return (when(a) || '?') + ' \u2013 ' + (when(b) || '?');
  }

  // ---- sortable, filterable tables ----------------------------------------------------------
  var tableCount = 0;
  var detailBuilders = [];  // print shows every row's details: these build them all

  function buildAllDetails() {
    var builders = detailBuilders;
    detailBuilders = [];
    builders.forEach(function (build) { build(); });
  }

  /**
   * spec: {name, label, rows, filter (bool), sort: [columnId, 'ascending'|'descending'],
   *        columns: [{id, label, num, value(row) -> sort value, cell(row) -> node or text, search(row) -> text}],
   *        detail(row) -> node, detailSearch(row) -> text (optional: a row of details under each row,
   *        shown on demand, always in print)}
   */
  function table(spec) {
    tableCount += 1;
    var hasDetail = typeof spec.detail === 'function';
    var block = el('div', { 'class': hasDetail ? 'table-block has-detail' : 'table-block', 'data-table': spec.name });
    var count = el('span', { 'class': 'muted count', 'aria-live': 'polite' });
    var tools = el('div', { 'class': 'table-tools' });
    var input = null;
    if (spec.filter) {
      input = el('input', {
        type: 'search', placeholder: _('Filter rows (all words must match)'),
        'aria-label': fill(_('Filter {table}'), { table: spec.label }), 'data-filter': spec.name, id: 'filter-' + tableCount,
      });
      tools.appendChild(input);
    }
    var expandAll = null;
    if (hasDetail) {
      expandAll = el('button', { type: 'button', 'class': 'expand-all', 'aria-pressed': 'false' }, _('Show all details'));
      tools.appendChild(expandAll);
    }
    tools.appendChild(count);
    block.appendChild(tools);

    var headRow = el('tr');
    if (hasDetail) headRow.appendChild(el('th', { scope: 'col', 'class': 'toggle' }, el('span', { 'class': 'sr' }, _('details'))));
    var ths = spec.columns.map(function (col) {
      var th = el('th', { scope: 'col', 'data-col': col.id, 'class': col.num ? 'num' : null });
      var button = el('button', { type: 'button', title: fill(_('Sort by {column}'), { column: col.label }) }, col.label);
      button.addEventListener('click', function () { sortBy(col.id); });
      th.appendChild(button);
      headRow.appendChild(th);
      return th;
    });
    var tbody = el('tbody');
    var trs = spec.rows.map(function (row, index) {
      var tr = el('tr', { 'class': 'row' });
      var words = [];
      var t = {
        tr: tr, detail: null, detailId: 'detail-' + tableCount + '-' + index, toggle: null, open: false,
        row: row, index: index, text: '', detailText: '',
      };
      if (hasDetail) {
        t.toggle = el('button', { type: 'button', 'aria-expanded': 'false', 'aria-controls': t.detailId, title: _('Show details') }, '\u25b8');
        t.toggle.addEventListener('click', function () { t.open = !t.open; applyFilter(); });
        tr.appendChild(el('td', { 'class': 'toggle' }, t.toggle));
        t.detailText = String(spec.detailSearch ? spec.detailSearch(row) : '').toLowerCase();
      }
      spec.columns.forEach(function (col) {
        var cls = col.num ? 'num' : (col.text ? 'text' : null);
        var content = col.cell ? col.cell(row) : (col.num ? fmt(col.value(row)) : val(col.value(row)));
        tr.appendChild(el('td', { 'data-col': col.id, 'class': cls }, content));
        var s = col.search ? col.search(row) : col.value(row);
        if (s !== null && s !== undefined) words.push(String(s));
      });
      t.text = words.join('\n').toLowerCase();
      return t;
    });
    function place() {
      trs.forEach(function (t) {
        tbody.appendChild(t.tr);
        if (t.detail) tbody.appendChild(t.detail);
      });
    }
    place();

    /** The row of details under a row, built the first time it is shown (or printed). */
    function detailOf(t) {
      if (!t.detail) {
        t.detail = el('tr', { 'class': 'detail collapsed', id: t.detailId },
          el('td', { colspan: spec.columns.length + 1 }, spec.detail(t.row)));
        tbody.insertBefore(t.detail, t.tr.nextSibling);
      }
      return t.detail;
    }
    if (hasDetail) {
      detailBuilders.push(function () { trs.forEach(detailOf); applyFilter(); });
    }
    var tableEl = el('table', null, [el('thead', null, headRow), tbody]);
    block.appendChild(el('div', { 'class': 'table-wrap' }, tableEl));

    var state = { col: null, dir: null };

    function compare(a, b) {
      if (a === b) return 0;
      if (a === null || a === undefined || a === '') return 1;  // empty values last, either direction
      if (b === null || b === undefined || b === '') return -1;
      return a < b ? -1 : 1;
    }

    function sortBy(colId, dir) {
      var col = spec.columns.filter(function (c) { return c.id === colId; })[0];
      if (!col) return;
      if (!dir) {
        dir = state.col === colId
          ? (state.dir === 'ascending' ? 'descending' : 'ascending')
          : (col.num ? 'descending' : 'ascending');
      }
      state.col = colId;
      state.dir = dir;
      var sign = dir === 'ascending' ? 1 : -1;
      trs.sort(function (x, y) {
        var a = col.value(x.row);
        var b = col.value(y.row);
        var empty = function (v) { return v === null || v === undefined || v === ''; };
        var c = empty(a) || empty(b) ? compare(a, b) : sign * compare(a, b);
        return c !== 0 ? c : x.index - y.index;
      });
      place();
      ths.forEach(function (th, i) {
        if (spec.columns[i].id === colId) th.setAttribute('aria-sort', dir);
        else th.removeAttribute('aria-sort');
      });
    }

    function applyFilter() {
      var q = input ? input.value.trim().toLowerCase() : '';
      var terms = q ? q.split(/\s+/) : [];
      var shown = 0;
      trs.forEach(function (t) {
        var ok = terms.every(function (w) { return t.text.indexOf(w) !== -1 || t.detailText.indexOf(w) !== -1; });
        t.tr.hidden = !ok;
        if (ok) shown += 1;
        if (hasDetail) {
          // a row that matches by its details shows them
          var open = t.open || terms.some(function (w) { return t.text.indexOf(w) === -1; });
          if (open) detailOf(t);
          if (t.detail) {
            t.detail.hidden = !ok;
            t.detail.classList.toggle('collapsed', !open);
          }
          t.toggle.setAttribute('aria-expanded', open ? 'true' : 'false');
          t.toggle.textContent = open ? '\u25be' : '\u25b8';
          t.toggle.title = open ? _('Hide details') : _('Show details');
        }
      });
      count.textContent = terms.length
        ? fill(ngettext('{shown} of {n} row match', '{shown} of {n} rows match', trs.length), { shown: shown, n: trs.length })
        : fill(ngettext('{n} row', '{n} rows', trs.length), { n: trs.length });
    }

    if (expandAll) {
      expandAll.addEventListener('click', function () {
        var open = expandAll.getAttribute('aria-pressed') !== 'true';
        trs.forEach(function (t) { t.open = open; });
        expandAll.setAttribute('aria-pressed', open ? 'true' : 'false');
        expandAll.textContent = open ? _('Hide all details') : _('Show all details');
        applyFilter();
      });
    }
    if (input) input.addEventListener('input', applyFilter);
    if (spec.sort) sortBy(spec.sort[0], spec.sort[1]);
    applyFilter();
    return block;
  }

  function numCol(id, label, get) {
    return { id: id, label: label, num: true, value: get || function (r) { return r[id]; } };
  }

  function textCol(id, label, get) {
    return { id: id, label: label, text: true, value: get || function (r) { return r[id]; } };
  }

  /** A column of UTC times, shown in the page's zone (sorted by the UTC time). */
  function timeCol(id, label, get) {
    var col = textCol(id, label, get);
    col.cell = function (r) { return val(when(col.value(r))); };
    return col;
  }

  function listCol(id, label, get) {
    return {
      id: id, label: label, text: true,
      value: function (r) { var v = get(r) || []; return v.length ? String(v[0]) : ''; },
      cell: function (r) { return list(get(r)); },
      search: function (r) { return (get(r) || []).join('\n'); },
    };
  }

  // ---- charts -------------------------------------------------------------------------------
  function niceStep(v) {
    if (v <= 1) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      var s = steps[i] * p;
      if (s >= v && Math.round(s) === s) return s;
    }
    return 10 * p;
  }

  function bucketLabel(iso, unit, first) {
    // iso: 2026-10-01T00:00:00Z
    var date = iso.slice(0, 10);
    var hm = iso.slice(11, 16);
    if (unit === 'minute') return first ? date + ' ' + hm : hm;
    if (unit === 'hour') return first || hm === '00:00' ? date.slice(5) + ' ' + hm : hm;
    return first ? date : date.slice(5);
  }

  function legend(items) {
    var ul = el('ul', { 'class': 'legend' });
    items.forEach(function (it) {
      ul.appendChild(el('li', null, [
        el('span', { 'class': 'swatch ' + it.cls, 'aria-hidden': 'true' }),
        val(it.name), el('span', { 'class': 'muted' }, fmt(it.total)),
      ]));
    });
    return ul;
  }

  function figure(caption, name, svgNode, legendNode) {
    return el('figure', { 'class': 'chart', 'data-chart': name }, [
      el('figcaption', null, caption), svgNode, legendNode,
    ]);
  }

  /** Stacked bars: calls per time bucket, one colour per series. */
  function timelineChart(caption, name, axis, series, classOf) {
    var n = axis.buckets.length;
    var W = 600, H = 210, L = 44, R = 8, T = 10, B = 34;
    var pw = W - L - R, ph = H - T - B;
    var totals = new Array(n).fill(0);
    series.forEach(function (s) { s.points.forEach(function (p) { totals[p[0]] += p[1]; }); });
    var peak = Math.max.apply(null, [0].concat(totals));
    var step = niceStep(peak / 4);
    var ticks = Math.max(1, Math.ceil(peak / step));
    var top = step * ticks;
    var root = svg('svg', {
      viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': caption, preserveAspectRatio: 'xMidYMid meet',
    });
    for (var i = 0; i <= ticks; i++) {
      var y = T + ph - (ph * i) / ticks;
      root.appendChild(svg('line', { 'class': 'grid', x1: L, x2: W - R, y1: y, y2: y }));
      root.appendChild(svg('text', { x: L - 6, y: y + 4, 'text-anchor': 'end', 'class': 'axis-label' }, fmt(step * i)));
    }
    var bw = n ? pw / n : pw;
    var gap = bw > 4 ? Math.min(2, bw * 0.15) : 0;
    var offsets = new Array(n).fill(0);
    series.forEach(function (s, j) {
      var cls = 'bar ' + classOf(s, j);
      s.points.forEach(function (p) {
        var idx = p[0], c = p[1];
        if (idx < 0 || idx >= n) return;
        var h = (ph * c) / top;
        var y0 = T + ph - ((ph * offsets[idx]) / top) - h;
        offsets[idx] += c;
        var rect = svg('rect', {
          'class': cls, x: (L + idx * bw + gap / 2).toFixed(2), y: y0.toFixed(2),
          width: Math.max(bw - gap, 0.5).toFixed(2), height: Math.max(h, 0.5).toFixed(2),
        });
        rect.appendChild(svg('title', null, axis.buckets[idx] + ' \u2014 ' + seriesName(s) + ': ' + fmt(c)));
        root.appendChild(rect);
      });
    });
    root.appendChild(svg('line', { 'class': 'axis', x1: L, x2: W - R, y1: T + ph, y2: T + ph }));
    var every = Math.max(1, Math.ceil(n / 6));
    for (var k = 0; k < n; k += every) {
      var x = L + k * bw + bw / 2;
      root.appendChild(svg('line', { 'class': 'axis', x1: x, x2: x, y1: T + ph, y2: T + ph + 4 }));
      root.appendChild(svg('text', { x: x, y: T + ph + 17, 'text-anchor': 'middle', 'class': 'axis-label' },
        bucketLabel(axis.buckets[k], axis.unit, k === 0)));
    }
    root.appendChild(svg('text', { x: W - R, y: H - 3, 'text-anchor': 'end', 'class': 'axis-label' },
      fill(UNIT_CAPTIONS[axis.unit] || axis.unit, { zone: ZONE_NAME })));
    var items = series.map(function (s, j) { return { cls: classOf(s, j), name: seriesName(s), total: s.total }; });
    return figure(caption, name, root, legend(items));
  }

  var clipCount = 0;

  function shortLabel(s, max) {
    s = clean(s);
    return s.length > max ? '\u2026' + s.slice(s.length - max + 1) : s;
  }

  /** Horizontal stacked bars: one row per principal, split by operation. */
  function principalsChart(caption, name, rows) {
    var W = 900, rowH = 22, L = 360, R = 70, T = 6;
    var H = T + rows.length * rowH + 8;
    var pw = W - L - R;
    var peak = Math.max.apply(null, [1].concat(rows.map(function (r) { return r.total; })));
    var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': caption });
    clipCount += 1;
    var clipId = 'labels-' + clipCount;
    root.appendChild(svg('clipPath', { id: clipId }, svg('rect', { x: 0, y: 0, width: L - 6, height: H })));
    var labels = svg('g', { 'clip-path': 'url(#' + clipId + ')' });
    root.appendChild(labels);
    rows.forEach(function (r, i) {
      var y = T + i * rowH;
      var label = svg('text', { x: L - 8, y: y + 15, 'text-anchor': 'end' }, shortLabel(r.principal, 50));
      label.appendChild(svg('title', null, clean(r.principal)));
      labels.appendChild(label);
      var x = L;
      CATEGORIES.forEach(function (c) {
        var v = r[c] || 0;
        if (!v) return;
        var w = (pw * v) / peak;
        var rect = svg('rect', {
          'class': 'bar c-' + c, x: x.toFixed(2), y: y + 3, width: Math.max(w, 0.5).toFixed(2), height: rowH - 6,
        });
        rect.appendChild(svg('title', null, clean(r.principal) + ' \u2014 ' + CATEGORY_WORDS[c] + ': ' + fmt(v)));
        root.appendChild(rect);
        x += w;
      });
      root.appendChild(svg('text', { x: x + 6, y: y + 15, 'class': 'axis-label' }, fmt(r.total)));
    });
    var totals = {};
    CATEGORIES.forEach(function (c) { totals[c] = 0; });
    rows.forEach(function (r) { CATEGORIES.forEach(function (c) { totals[c] += r[c] || 0; }); });
    var items = CATEGORIES.filter(function (c) { return totals[c]; })
      .map(function (c) { return { cls: 'c-' + c, name: CATEGORY_WORDS[c], total: totals[c] }; });
    return figure(caption, name, root, legend(items));
  }

  /** A series' name as shown: an operation class in the page's language; a principal as it is. */
  function seriesName(s) {
    if (s.other) return _('other principals');
    return CATEGORIES.indexOf(s.name) >= 0 ? CATEGORY_WORDS[s.name] : clean(s.name);
  }

  var CATEGORY_WORDS = {
    encrypt: _('encrypt'), decrypt: _('decrypt'), sign: _('sign'), admin: _('admin'), denied: _('denied'),
  };
  var MANAGER_WORDS = { customer: _('customer'), aws: _('aws'), unknown: _('unknown') };  // as the data say it

  var SEVERITY_WORDS = { critical: _('critical'), high: _('high'), medium: _('medium'), low: _('low'), info: _('info') };

  /** A finding's severity as shown (the data keep high, medium...); another value as text. */
  function severityWord(sv) {
    var s = String(sv || '').toLowerCase();
    return Object.prototype.hasOwnProperty.call(SEVERITY_WORDS, s) ? SEVERITY_WORDS[s] : clean(sv);
  }

  /** A key's manager as shown: customer managed, AWS managed (the data say customer, aws). */
  function managerWord(m) {
    return Object.prototype.hasOwnProperty.call(MANAGER_WORDS, m) ? MANAGER_WORDS[m] : clean(m);
  }

  var UNIT_CAPTIONS = {
    minute: _('calls per minute ({zone})'), hour: _('calls per hour ({zone})'),
    day: _('calls per day ({zone})'), week: _('calls per week ({zone})'),
  };

  function operationClass(s) { return 'c-' + (CATEGORIES.indexOf(s.name) >= 0 ? s.name : 'other'); }
  function principalClass(s, j) { return s.other ? 'c-other' : 'c-p' + (j % 7); }

  function keyCharts(data, k, index) {
    var anchor = 'key-' + (index + 1);
    var top = k.principal_rows.slice().sort(function (a, b) {
      return b.total - a.total || (a.principal < b.principal ? -1 : a.principal > b.principal ? 1 : 0);
    }).slice(0, 10);
    return {
      operation: timelineChart(_('Calls over time by operation'), anchor + ':operation', data.axis,
        k.timeline.by_operation, operationClass),
      principal: timelineChart(_('Calls over time by principal'), anchor + ':principal', data.axis,
        k.timeline.by_principal, principalClass),
      principals: principalsChart(_('Top principals of this key'), anchor + ':principals', top),
    };
  }

  // ---- sections -----------------------------------------------------------------------------
  function card(label, value, field, small) {
    return el('div', { 'class': small ? 'card wide' : 'card', 'data-field': field }, [
      el('div', { 'class': 'label' }, label),
      el('div', { 'class': small ? 'value small' : 'value' }, value),
    ]);
  }

  function facts(pairs) {
    var dl = el('dl', { 'class': 'facts' });
    pairs.forEach(function (p) {
      if (!p) return;
      dl.appendChild(el('dt', null, p[0]));
      dl.appendChild(el('dd', p[2] ? { 'data-field': p[2] } : null, p[1]));
    });
    return dl;
  }

  function summarySection(data) {
    var s = data.summary;
    var sec = el('section', { id: 'summary' }, el('h2', null, _('Summary')));
    var cards = el('div', { 'class': 'cards' }, [
      card(fill(_('Window covered ({zone})'), { zone: ZONE_NAME }), s.window_start
        ? [el('div', null, fill(_('from {time}'), { time: when(s.window_start) })),
          el('div', null, fill(_('to {time}'), { time: when(s.window_end) }))] : _('no calls'), 'window', true),
      card(_('Calls'), fmt(s.calls), 'calls'),
      card(_('Keys'), fmt(s.keys), 'keys'),
      card(_('Principals'), fmt(s.principals), 'principals'),
      card(_('Accounts'), fmt(s.accounts.length), 'accounts'),
      card(_('Regions'), fmt(s.regions.length), 'regions'),
      card(_('Log files read'), fmt(s.files_read), 'files_read'),
      card(_('Records read'), fmt(s.records_read), 'records_read'),
      card(_('KMS records'), fmt(s.kms_records), 'kms_records'),
      card(_('Files skipped'), fmt(s.files_skipped), 'files_skipped'),
      card(_('Files unreadable'), fmt(s.files_error), 'files_error'),
    ]);
    s.record_problems.forEach(function (p) {
      cards.appendChild(card(fill(_('Records {problem}'), { problem: p.name }), fmt(p.calls), 'records_' + p.name));
    });
    sec.appendChild(cards);
    sec.appendChild(facts([
      s.verification ? [_('Evidence integrity'), val(s.verification), 'verification'] : null,
      [_('Window asked'), fill(_('{since} \u2013 {until} (until is exclusive)'), {
        since: s.since ? when(s.since) : _('the beginning'), until: s.until ? when(s.until) : _('the end') })],
      s.filters.length ? [_('Filters'), list(s.filters)] : null,
      [_('Accounts'), s.accounts.length ? list(s.accounts) : _('none'), 'account-list'],
      [_('Regions'), s.regions.length ? list(s.regions) : _('none'), 'region-list'],
      [_('Counted'), _('a call once per key and operation; a failed call once per key, as denied')],
    ]));
    if (s.skipped.length) {
      sec.appendChild(el('h3', null, _('Files skipped or unreadable')));
      sec.appendChild(table({
        name: 'skipped', label: _('skipped files'), rows: s.skipped, filter: s.skipped.length > 8,
        columns: [
          textCol('status', _('status')), textCol('reason', _('reason')), numCol('files', _('files')),
          listCol('examples', _('for example'), function (r) { return r.examples; }),
        ],
      }));
    }
    var ing = s.ingest;
    if (ing) {
      sec.appendChild(el('h3', null, _('Read for this report')));
      sec.appendChild(facts([
        [_('Files'), fill(_('{seen} seen, {read} read, {unchanged} unchanged since an earlier ingest, {skipped} skipped, {unreadable} unreadable'), {
          seen: fmt(ing.files_seen), read: fmt(ing.files_ingested), unchanged: fmt(ing.files_unchanged),
          skipped: fmt(ing.files_skipped), unreadable: fmt(ing.files_error) })],
        [_('Records'), fill(_('{records} records, {kms} KMS calls, {rows} key-use rows, {rejected} rejected, {unattributable} unattributable'), {
          records: fmt(ing.records), kms: fmt(ing.kms_records), rows: fmt(ing.rows),
          rejected: fmt(ing.records_rejected), unattributable: fmt(ing.records_unattributed) })],
        ing.skip_reasons.length ? [_('Skipped'), countList(ing.skip_reasons)] : null,
        ing.errors.length ? [_('Unreadable'), list(ing.errors), 'ingest-errors'] : null,
        ing.record_problems.length ? [_('Rejected records'), list(ing.record_problems)] : null,
      ]));
    }
    return sec;
  }

  function keyIndex(data) {
    var byKey = {};
    data.keys.forEach(function (k, i) { byKey[k.key] = 'key-' + (i + 1); });
    return byKey;
  }

  function findingsSection(data, anchors) {
    var sec = el('section', { id: 'findings' }, el('h2', null, _('Findings')));
    var findings = data.findings || [];
    if (!findings.length) {
      sec.appendChild(el('p', { 'class': 'notice' }, _('No findings.')));
      return sec;
    }
    var bySeverity = {};
    if (Array.isArray(data.finding_severities)) {
      data.finding_severities.forEach(function (c) { bySeverity[String(c.name)] = c.calls; });
    } else {
      findings.forEach(function (f) { var s = String(f.severity || 'info').toLowerCase(); bySeverity[s] = (bySeverity[s] || 0) + 1; });
    }
    var cards = el('div', { 'class': 'cards' });
    Object.keys(bySeverity).sort(function (a, b) {
      return (SEVERITY_RANK[a] === undefined ? 9 : SEVERITY_RANK[a]) - (SEVERITY_RANK[b] === undefined ? 9 : SEVERITY_RANK[b]);
    }).forEach(function (s) { cards.appendChild(card(severityWord(s), fmt(bySeverity[s]), 'severity-' + (SEVERITY_RANK[s] === undefined ? 'other' : s))); });
    sec.appendChild(cards);
    sec.appendChild(table({
      name: 'findings', label: _('findings'), rows: findings, filter: true, sort: ['severity', 'ascending'],
      columns: [
        {
          id: 'severity', label: _('severity'),
          value: function (f) { var r = SEVERITY_RANK[String(f.severity || '').toLowerCase()]; return r === undefined ? 9 : r; },
          cell: function (f) {
            var s = String(f.severity || '').toLowerCase();
            return el('span', { 'class': 'badge sev-' + (SEVERITY_RANK[s] === undefined ? 'other' : s) }, severityWord(f.severity));
          },
          search: function (f) { return f.severity; },
        },
        textCol('kind', _('kind')),
        {
          id: 'key', label: _('key'), text: true, value: function (f) { return f.key; },
          cell: function (f) {
            var anchor = Object.prototype.hasOwnProperty.call(anchors, f.key) ? anchors[f.key] : null;
            return anchor ? el('a', { href: '#' + anchor }, val(f.key)) : val(f.key);
          },
        },
        textCol('principal', _('principal')),
        {
          id: 'finding', label: _('finding'),
          value: function (f) { return findingWords(f)[0] || ''; },
          cell: function (f) {
            var words = findingWords(f);
            return el('div', { 'class': 'finding' }, [
              words.map(function (w) { return el('p', null, val(w)); }),
              f.recommendation ? el('p', { 'class': 'rec' }, [el('span', { 'class': 'muted' }, _('Recommendation: ')), val(f.recommendation)]) : null,
            ]);
          },
          search: function (f) { return findingWords(f).concat([f.recommendation || '']).join('\n'); },
        },
        {
          id: 'evidence', label: _('evidence'), num: true,
          value: function (f) { return evidenceCount(f); },
        },
      ],
      detail: function (f) {
        return el('div', { 'class': 'detail-grid' }, [
          el('div', { 'data-detail': 'Details' }, [el('h4', null, _('Details')), findingFacts(f).length ? list(findingFacts(f)) : el('span', { 'class': 'muted' }, '\u2014')]),
          el('div', { 'data-detail': 'Evidence' }, [el('h4', null, _('Evidence (the calls that show it)')), evidence(f.evidence, f.evidence_count)]),
        ]);
      },
      detailSearch: function (f) {
        return findingFacts(f).concat((Array.isArray(f.evidence) ? f.evidence : []).map(function (e) {
          return e && typeof e === 'object' ? [e.event_id, e.event_time, e.event_name].join(' ') : String(e);
        })).join('\n');
      },
    }));
    var total = typeof data.findings_total === 'number' ? data.findings_total : findings.length;
    if (total > findings.length) {
      sec.appendChild(more('findings', fill(_('The first {shown} of {n} findings (most severe first) are listed here, and the filter searches those. All of them: keytrail findings --format json (or csv), on the same sources or store.'),
        { shown: fmt(findings.length), n: fmt(total) })));
    }
    return sec;
  }

  /** A sentence under a table that lists only part of its rows: how many more, and how to get them all. */
  function more(name, children) {
    return el('p', { 'class': 'muted more', 'data-more': name }, children);
  }

  function evidenceCount(f) {
    var n = Array.isArray(f.evidence) ? f.evidence.length : 0;
    return typeof f.evidence_count === 'number' && f.evidence_count > n ? f.evidence_count : n;
  }

  /** A finding's own words: its summary (or title, detail, description, message). */
  function findingWords(f) {
    return ['summary', 'title', 'detail', 'description', 'message'].filter(function (n) {
      return typeof f[n] === 'string' && f[n];
    }).map(function (n) { return f[n]; });
  }

  /** A finding's kind-specific facts as "name: value". */
  function findingFacts(f) {
    var out = [];
    if (f.details && typeof f.details === 'object' && !Array.isArray(f.details)) {
      Object.keys(f.details).forEach(function (name) {
        var v = f.details[name];
        if (v === null || v === undefined || v === '' || (Array.isArray(v) && !v.length)) return;
        var shown = typeof v === 'string' ? v
          : Array.isArray(v) && v.every(function (x) { return typeof x !== 'object'; }) ? v.join(', ')
            : JSON.stringify(v);
        out.push(name.replace(/_/g, ' ') + ': ' + shown);
      });
    }
    return out;
  }

  function evidence(items, count) {
    items = Array.isArray(items) ? items : [];
    var ul = el('ul', { 'class': 'list' });
    items.forEach(function (e) {
      if (e && typeof e === 'object') {
        ul.appendChild(el('li', null, [
          val(e.event_id), ' ', el('span', { 'class': 'muted' }, [val(when(e.event_time)), e.event_name ? ' ' : '', e.event_name ? val(e.event_name) : '']),
        ]));
      } else {
        ul.appendChild(el('li', null, val(e)));
      }
    });
    var total = typeof count === 'number' && count > items.length ? count : items.length;
    var label = total > items.length
      ? fill(ngettext('the first {shown} of {n} call', 'the first {shown} of {n} calls', total), { shown: fmt(items.length), n: fmt(total) })
      : fill(ngettext('{n} call', '{n} calls', total), { n: fmt(total) });
    return el('div', null, [el('span', { 'class': 'muted' }, label), ul]);
  }

  function keysOverview(data) {
    var sec = el('section', { id: 'keys' }, el('h2', null, _('Keys')));
    if (data.summary.keys > data.keys.length) {
      sec.appendChild(more('keys', fill(_('The {shown} keys with the most calls, of {n}, are listed here, each with a section below. Every key: keytrail keys --format csv (or json); every principal of every key: keytrail usage --format csv, on the same sources or store.'),
        { shown: fmt(data.keys.length), n: fmt(data.summary.keys) })));
    }
    sec.insertBefore(table({
      name: 'keys', label: _('keys'), rows: data.keys.map(function (k, i) { return { k: k, i: i }; }),
      filter: data.keys.length > 5, sort: ['calls', 'descending'],
      columns: [
        {
          id: 'key', label: _('key'), text: true, value: function (r) { return r.k.key; },
          cell: function (r) { return el('a', { href: '#key-' + (r.i + 1) }, val(r.k.key)); },
          search: function (r) { return r.k.key + '\n' + r.k.aliases.join('\n'); },
        },
        listCol('aliases', _('aliases'), function (r) { return r.k.aliases; }),
        textCol('manager', _('manager'), function (r) { return managerWord(r.k.manager); }),
        textCol('state', _('state'), function (r) { return r.k.state ? r.k.state.state : ''; }),
        numCol('calls', _('calls'), function (r) { return r.k.calls; }),
        numCol('crypto_calls', _('crypto calls'), function (r) { return r.k.crypto_calls; }),
        numCol('denied', _('denied'), function (r) { return r.k.denied; }),
        numCol('principals', _('principals'), function (r) { return r.k.principals; }),
        timeCol('first_seen', _('first seen'), function (r) { return r.k.first_seen; }),
        timeCol('last_seen', _('last seen'), function (r) { return r.k.last_seen; }),
      ],
    }), sec.childNodes[1] || null);
    return sec;
  }

  function principalRowsTable(k) {
    var details = [
      ['Operations', _('Operations'), function (r) { return countList(r.operations); }, function (r) { return r.operations.map(function (o) { return o.name; }); }],
      ['Via services', _('Via services'), function (r) { return list(r.via); }, function (r) { return r.via; }],
      ['Sessions (top 5)', _('Sessions (top 5)'), function (r) { return list(r.sessions); }, function (r) { return r.sessions; }],
      ['Resources (top 5)', _('Resources (top 5)'), function (r) { return list(r.resources); }, function (r) { return r.resources; }],
      ['Source IPs (top 5)', _('Source IPs (top 5)'), function (r) { return list(r.source_ips); }, function (r) { return r.source_ips; }],
      ['User agents (top 5)', _('User agents (top 5)'), function (r) { return list(r.user_agents); }, function (r) { return r.user_agents; }],
    ];
    return table({
      name: 'principals', label: _('principals of this key'), rows: k.principal_rows, filter: true,
      sort: ['total', 'descending'],
      columns: [
        textCol('principal', _('principal')),
        textCol('principal_type', _('type')),
        numCol('encrypt', _('encrypt')), numCol('decrypt', _('decrypt')), numCol('sign', _('sign')),
        numCol('admin', _('admin')), numCol('denied', _('denied')), numCol('total', _('total')),
        timeCol('first_seen', _('first seen')), timeCol('last_seen', _('last seen')),
      ],
      detail: function (r) {
        return el('div', { 'class': 'detail-grid' }, details.map(function (d) {
          var values = d[3](r);
          return el('div', { 'data-detail': d[0] }, [
            el('h4', null, d[1]), values.length ? d[2](r) : el('span', { 'class': 'muted' }, '\u2014'),
          ]);
        }));
      },
      detailSearch: function (r) {
        return details.map(function (d) { return d[3](r).join('\n'); }).join('\n');
      },
    });
  }

  function countTable(name, label, rows, more) {
    var block = table({
      name: name, label: label, rows: rows, filter: rows.length > 10, sort: ['calls', 'descending'],
      columns: [textCol('name', label), numCol('calls', _('calls'))],
    });
    if (more) block.appendChild(el('p', { 'class': 'muted' }, more));
    return block;
  }

  /** A link to the findings, filtered to this key. */
  function findingsLink(key, n) {
    var a = el('a', { href: '#findings' }, fill(ngettext('{n} finding', '{n} findings', n), { n: fmt(n) }));
    a.addEventListener('click', function () {
      var input = document.querySelector('input[data-filter="findings"]');
      if (!input) return;
      input.value = key;
      input.dispatchEvent(new Event('input'));
    });
    return a;
  }

  /** What keytrail suggest-policy proposes for the key: the replay, the changes, the policy itself. */
  function tightenSection(t) {
    var box = el('div', { 'class': 'tighten', 'data-tighten': '1' });
    var r = t.replay || {};
    var replay = fill(_('Replay of the window against the proposed policy: {calls} call(s), {denied}, {allowed} allowed, {delegated} through the account\u2019s IAM policies'),
      { calls: fmt(r.calls), denied: '\u0000', allowed: fmt(r.allowed), delegated: fmt(r.delegated) }).split('\u0000');
    box.appendChild(el('p', null, [
      replay[0], el('strong', { 'class': r.denied ? 'bad' : null }, fill(_('{n} denied'), { n: fmt(r.denied) })), replay[1] || '',
      r.unverified ? fill(_(', {n} not verifiable'), { n: fmt(r.unverified) }) : '', _('.'),
      (t.problems || []).length ? fill(_(' AWS KMS would refuse it: {problems}'), { problems: t.problems.join('; ') }) : '',
    ]));
    if ((r.denied_calls || []).length) {
      box.appendChild(el('h4', null, _('Calls it would deny')));
      box.appendChild(list(r.denied_calls.map(function (c) {
        return fill(_('{principal} {action} \u00d7{n} (first {time}, {event}): {reason}'), {
          principal: c.principal, action: c.action, n: c.calls, time: when(c.first), event: c.event_id, reason: c.reason });
      })));
    }
    if ((t.warnings || []).length) {
      box.appendChild(el('h4', null, _('What the evidence cannot show')));
      box.appendChild(list(t.warnings.map(function (w) { return w.message; })));
    }
    [['removed', _('Removed ({n})'), _('removed permissions')], ['added', _('Added ({n})'), _('added permissions')],
      ['kept', _('Kept ({n})'), _('kept permissions')]].forEach(function (part) {
      var rows = t[part[0]] || [];
      box.appendChild(el('h4', null, fill(part[1], { n: rows.length })));
      if (!rows.length) { box.appendChild(el('p', { 'class': 'muted' }, _('Nothing.'))); return; }
      box.appendChild(table({
        name: 'tighten-' + part[0], label: part[2], rows: rows, filter: rows.length > 10,
        sort: ['principal', 'ascending'],
        columns: [
          textCol('principal', _('principal')),
          listCol('actions', _('actions'), function (c) { return c.actions; }),
          textCol('why', _('why')),
        ],
      }));
    });
    if ((t.losing_access || []).length) {
      box.appendChild(el('h4', null, _('Principals that lose every cryptographic action')));
      box.appendChild(list(t.losing_access));
    }
    if ((t.unused_grants || []).length) {
      box.appendChild(el('h4', null, _('Grants not used in the window')));
      box.appendChild(list(t.unused_grants.map(function (g) { return g.grant_id + ' (' + g.grantee + '): ' + g.revoke; })));
    }
    var pre = el('pre', { 'class': 'policy' });
    pre.textContent = JSON.stringify(t.policy, null, 2);
    box.appendChild(el('details', null, [el('summary', null, _('The proposed key policy')), pre]));
    return box;
  }

  function keySection(data, k, i, findingsByKey) {
    var anchor = 'key-' + (i + 1);
    var sec = el('section', { 'class': 'key', id: anchor, 'data-key-index': i + 1 });
    sec.appendChild(el('h2', null, [_('Key '), val(k.key, 'key-arn')]));
    var st = k.state;
    var nf = findingsByKey[k.key] || 0;
    sec.appendChild(facts([
      [_('Aliases'), k.aliases.length ? list(k.aliases) : _('none seen'), 'aliases'],
      [_('Manager'), managerWord(k.manager), 'manager'],
      st ? [_('State'), [val(st.state), st.enabled === false ? _(' (disabled)') : '',
        st.deletion_date ? fill(_(' \u2014 deletion on {time}'), { time: when(st.deletion_date) }) : ''], 'state'] : null,
      st && st.description ? [_('Description'), val(st.description)] : null,
      st ? [_('Spec / usage'), [val(st.key_spec), ' / ', val(st.key_usage), st.multi_region ? _(' (multi-Region)') : '']] : null,
      st && st.creation_date ? [_('Created'), when(st.creation_date)] : null,
      st ? [_('Inventory taken'), when(st.taken_at) || ''] : null,
      [_('Account / Region'), [val(k.account), ' / ', val(k.region)]],
      k.key_resolved ? null : [_('Resolved'), _('no: an alias the archive cannot resolve to a key'), 'unresolved'],
      [_('Calls'), fmt(k.calls) + ' (' + CATEGORIES.map(function (c) { return fmt(k[c]) + ' ' + CATEGORY_WORDS[c]; }).join(', ') + ')', 'calls'],
      [_('Principals'), fmt(k.principals), 'principals'],
      [_('First / last seen'), window2(k.first_seen, k.last_seen), 'seen'],
      [_('First / last crypto use'), window2(k.first_use, k.last_use), 'use'],
      nf ? [_('Findings'), findingsLink(k.key, nf), 'findings'] : null,
    ]));
    var charts = keyCharts(data, k, i);
    sec.appendChild(el('div', { 'class': 'charts' }, [charts.operation, charts.principal]));
    sec.appendChild(el('h3', null, _('Principals')));
    sec.appendChild(principalRowsTable(k));
    if (k.principals > k.principal_rows.length) {
      var every = fill(_('The {shown} principals with the most calls, of {n}, are listed here, and the filter searches those. Every principal of this key: keytrail usage --key {key} --format csv (or json), on the same sources or store.'),
        { shown: fmt(k.principal_rows.length), n: fmt(k.principals), key: '\u0000' }).split('\u0000');
      sec.appendChild(more('principals', [every[0], val(k.key), every[1] || '']));
    }
    sec.appendChild(el('div', { 'class': 'charts' }, [charts.principals]));
    sec.appendChild(el('h3', null, _('Operations')));
    sec.appendChild(countTable('operations', _('operation'), k.operations));
    sec.appendChild(el('h3', null, _('Resources (from the encryption context)')));
    if (k.resources.length) {
      sec.appendChild(countTable('resources', _('resource'), k.resources,
        k.resources_total > k.resources.length
          ? fill(_('The {shown} most used of {n}.'), { shown: k.resources.length, n: fmt(k.resources_total) }) : null));
    } else {
      sec.appendChild(el('p', { 'class': 'muted' }, _('No encryption context names a resource.')));
    }
    sec.appendChild(el('h3', null, _('Via services')));
    if (k.via.length) sec.appendChild(countTable('via', _('service'), k.via));
    else sec.appendChild(el('p', { 'class': 'muted' }, _('No call came through another service.')));
    var tighten = data.tighten && Object.prototype.hasOwnProperty.call(data.tighten, k.key) ? data.tighten[k.key] : null;
    if (tighten) {
      sec.appendChild(el('h3', null, _('Tighten: the least-privilege key policy (keytrail suggest-policy)')));
      sec.appendChild(tightenSection(tighten));
    }
    return sec;
  }

  function render(data) {
    var main = document.getElementById('report');
    var anchors = keyIndex(data);
    var findingsByKey = {};
    (data.findings || []).forEach(function (f) {
      if (typeof f.key === 'string') findingsByKey[f.key] = (findingsByKey[f.key] || 0) + 1;
    });
    main.appendChild(summarySection(data));
    if (data.findings !== null && data.findings !== undefined) main.appendChild(findingsSection(data, anchors));
    if (data.top_principals.length) {
      var top = el('section', { id: 'top-principals' }, el('h2', null, _('Top principals')));
      top.appendChild(principalsChart(_('Calls by principal, all keys'), 'top-principals', data.top_principals));
      main.appendChild(top);
    }
    if (!data.keys.length) {
      main.appendChild(el('p', { 'class': 'notice' }, _('No KMS calls match this report.')));
      return;
    }
    main.appendChild(keysOverview(data));
    data.keys.forEach(function (k, i) { main.appendChild(keySection(data, k, i, findingsByKey)); });
  }

  /** keytrail chart: the page shows one chart only (#chart=key-N:operation|principal|principals or #chart=top-principals). */
  function renderChart(data, spec) {
    var main = document.getElementById('report');
    document.body.classList.add('chart-only');
    var node = null;
    if (spec === 'top-principals') {
      node = principalsChart(_('Calls by principal, all keys'), 'top-principals', data.top_principals);
    } else {
      var m = /^key-([0-9]{1,7}):(operation|principal|principals)$/.exec(spec);
      var k = m ? data.keys[Number(m[1]) - 1] : null;
      if (k) {
        node = keyCharts(data, k, Number(m[1]) - 1)[m[2]];
        node.insertBefore(el('div', { 'class': 'muted chart-sub' }, [
          val(k.key, 'key-arn'), ' \u00b7 ', window2(k.first_seen, k.last_seen), ' ' + ZONE_NAME,
        ]), node.childNodes[1]);
      }
    }
    if (!node) throw new Error('no such chart');
    main.appendChild(node);
  }

  function start() {
    var main = document.getElementById('report');
    try {
      var data = JSON.parse(document.getElementById('keytrail-data').textContent);
      var hash = /^#chart=([a-z0-9:-]{1,40})$/.exec(window.location.hash || '');
      if (hash) renderChart(data, hash[1]);
      else render(data);
      var print = window.matchMedia('print');
      if (print.matches) buildAllDetails();
      if (print.addEventListener) print.addEventListener('change', function (e) { if (e.matches) buildAllDetails(); });
      window.addEventListener('beforeprint', buildAllDetails);
      document.documentElement.setAttribute('data-ready', '1');
    } catch (e) {
      main.appendChild(el('p', { 'class': 'notice error' }, _('The report could not be drawn: ') + String(e && e.message)));
      document.documentElement.setAttribute('data-ready', 'error');
      throw e;
    }
  }

  start();
})();
